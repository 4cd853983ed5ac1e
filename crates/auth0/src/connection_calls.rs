//! Management API calls for *using* a connection: a generic JSON call, users (get, create,
//! update), the tenant's applications (every page of Auth0's paging), a client's settings and
//! grant types, and the resource server + Custom API Client pair Token Vault's access token
//! exchange needs.
//!
//! Error answers are mapped by `rotation_calls::map_error` (401 → `TokenRejected`, 403
//! `insufficient_scope` → `MissingScope`, other 4xx → `Upstream` with Auth0's status and words),
//! so callers decide what a 404 or 409 means for them. Every request asks only for the fields
//! Keyhold uses where Auth0 allows it (`fields=`), and answers that may still carry a client
//! secret are decoded into types without one, so a secret never outlives the response buffer.
//! Pacing and token refresh are the caller's business: each function here sends exactly one
//! request (`send` still retries 429/5xx as configured).

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::domain::Domain;
use crate::error::Auth0Error;
use crate::http::{Auth0Client, Auth0Response, RequestBody};
use crate::rotation_calls::map_error;

/// The grant type Token Vault's exchanges use (Auth0 calls it "Token Vault" in the Dashboard).
pub const TOKEN_VAULT_GRANT: &str =
    "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token";

/// Auth0's largest `per_page` for `GET /api/v2/clients`.
const CLIENTS_PER_PAGE: u32 = 100;
/// Pages followed at most (100,000 applications): a server that keeps reporting a larger total
/// must not keep us paging forever.
const MAX_CLIENT_PAGES: u32 = 1000;

/// The fields of a client Keyhold reads, all optional because `fields=` and the token's scopes
/// decide which ones Auth0 sends. There is deliberately no `client_secret` here.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ClientRecord {
    pub client_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub app_type: Option<String>,
    #[serde(default)]
    pub is_first_party: Option<bool>,
    #[serde(default)]
    pub oidc_conformant: Option<bool>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    #[serde(default)]
    pub resource_server_identifier: Option<String>,
}

/// Which applications a page lists, and which of their fields to return.
#[derive(Clone, Copy, Debug)]
pub struct ClientQuery<'a> {
    /// `app_type` filter (e.g. `resource_server`); `None` = every type.
    pub app_type: Option<&'a str>,
    pub fields: &'a [&'a str],
}

impl ClientQuery<'static> {
    /// What a picker shows: id, name and type of every application but the global one.
    pub const SUMMARY: ClientQuery<'static> = ClientQuery {
        app_type: None,
        fields: &["client_id", "name", "app_type"],
    };
}

/// One page of `GET /api/v2/clients` and where the next one starts.
#[derive(Clone, Debug)]
pub struct ClientPage {
    pub clients: Vec<ClientRecord>,
    /// `None` on the last page.
    pub next_page: Option<u32>,
}

#[derive(Deserialize)]
struct RawClientPage {
    #[serde(default)]
    total: Option<u64>,
    clients: Vec<ClientRecord>,
}

/// A resource server (API) as far as Keyhold needs it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ResourceServerRecord {
    #[serde(default)]
    pub id: Option<String>,
    pub identifier: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// Whether a create made something new or found it already there (Auth0's 409).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Created<T> {
    New(T),
    Existing,
}

/// A Management API answer decoded as JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagementAnswer {
    pub status: u16,
    /// `Value::Null` for an empty body (e.g. 204).
    pub body: Value,
}

impl Auth0Client {
    /// Any Management API call: `method` `path` (which must start with `/api/v2/` and carry its
    /// own percent-encoding; see [`path_segment`]) with an optional JSON body. A 2xx answer comes
    /// back as JSON; an error answer as `rotation_calls::map_error` classifies it.
    #[tracing::instrument(name = "auth0.management", skip_all, fields(domain = %domain, method = %method))]
    pub async fn management_json(
        &self,
        domain: &Domain,
        token: &SecretString,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<ManagementAnswer, Auth0Error> {
        let response = self.call(domain, token, method, path, body, "").await?;
        let body = if response.body.is_empty() {
            Value::Null
        } else {
            decode(&response, "answer")?
        };
        Ok(ManagementAnswer {
            status: response.status.as_u16(),
            body,
        })
    }

    /// `GET /api/v2/clients?page=N` (any of `read:clients`, `read:client_keys`,
    /// `read:client_credentials`, `read:client_summary`), without the global "All Applications"
    /// client, 100 per page. Follow `next_page` until it is `None` to read them all.
    #[tracing::instrument(name = "auth0.list_clients", skip_all, fields(domain = %domain, page))]
    pub async fn list_clients_page(
        &self,
        domain: &Domain,
        token: &SecretString,
        page: u32,
        query: ClientQuery<'_>,
    ) -> Result<ClientPage, Auth0Error> {
        let mut path = format!(
            "/api/v2/clients?page={page}&per_page={CLIENTS_PER_PAGE}&include_totals=true&is_global=false&include_fields=true"
        );
        if !query.fields.is_empty() {
            path.push_str("&fields=");
            path.push_str(&query_value(&query.fields.join(","))?);
        }
        if let Some(app_type) = query.app_type {
            path.push_str("&app_type=");
            path.push_str(&query_value(app_type)?);
        }
        let response = self
            .call(domain, token, Method::GET, &path, None, "")
            .await?;
        let raw: RawClientPage = decode(&response, "client list")?;
        Ok(ClientPage {
            next_page: next_page(page, raw.clients.len(), raw.total),
            clients: raw.clients,
        })
    }

    /// `GET /api/v2/clients/{id}` with only the fields Token Vault's checks read (needs
    /// `read:clients` or `read:client_keys` to see settings).
    #[tracing::instrument(name = "auth0.client_settings", skip_all, fields(domain = %domain))]
    pub async fn client_settings(
        &self,
        domain: &Domain,
        token: &SecretString,
        client_id: &str,
    ) -> Result<ClientRecord, Auth0Error> {
        let path = format!(
            "/api/v2/clients/{}?include_fields=true&fields={}",
            path_segment(client_id)?,
            query_value(
                "client_id,name,app_type,is_first_party,oidc_conformant,token_endpoint_auth_method,grant_types,resource_server_identifier"
            )?
        );
        let response = self
            .call(domain, token, Method::GET, &path, None, client_id)
            .await?;
        decode(&response, "client")
    }

    /// `PATCH /api/v2/clients/{id}` with `{"grant_types": ...}` (any of `update:clients`,
    /// `update:client_keys`). Auth0 replaces the list, so pass every grant type to keep.
    #[tracing::instrument(name = "auth0.set_grant_types", skip_all, fields(domain = %domain))]
    pub async fn set_client_grant_types(
        &self,
        domain: &Domain,
        token: &SecretString,
        client_id: &str,
        grant_types: &[String],
    ) -> Result<ClientRecord, Auth0Error> {
        let path = format!("/api/v2/clients/{}", path_segment(client_id)?);
        let body = json!({ "grant_types": grant_types });
        let response = self
            .call(domain, token, Method::PATCH, &path, Some(&body), client_id)
            .await?;
        decode(&response, "client")
    }

    /// `POST /api/v2/clients` (`create:clients`) for a Custom API Client: `app_type:
    /// resource_server` linked to the API `identifier`, with the Token Vault grant. Auth0 answers
    /// with the new client's secret, which is dropped unread: Keyhold does not hold it.
    #[tracing::instrument(name = "auth0.create_custom_api_client", skip_all, fields(domain = %domain))]
    pub async fn create_custom_api_client(
        &self,
        domain: &Domain,
        token: &SecretString,
        identifier: &str,
        name: &str,
    ) -> Result<ClientRecord, Auth0Error> {
        let body = json!({
            "name": name,
            "app_type": "resource_server",
            "resource_server_identifier": identifier,
            "grant_types": [TOKEN_VAULT_GRANT],
        });
        let response = self
            .call(
                domain,
                token,
                Method::POST,
                "/api/v2/clients",
                Some(&body),
                "",
            )
            .await?;
        decode(&response, "client")
    }

    /// `POST /api/v2/resource-servers` (`create:resource_servers`) with `scopes` as
    /// `[{value, description: ""}]`. Auth0's 409 (an API with that identifier exists) is
    /// [`Created::Existing`], so the call is safe to repeat.
    #[tracing::instrument(name = "auth0.create_resource_server", skip_all, fields(domain = %domain))]
    pub async fn create_resource_server(
        &self,
        domain: &Domain,
        token: &SecretString,
        identifier: &str,
        name: &str,
        scopes: &[String],
    ) -> Result<Created<ResourceServerRecord>, Auth0Error> {
        let scopes: Vec<Value> = scopes
            .iter()
            .map(|s| json!({ "value": s, "description": "" }))
            .collect();
        let body = json!({ "identifier": identifier, "name": name, "scopes": scopes });
        match self
            .call(
                domain,
                token,
                Method::POST,
                "/api/v2/resource-servers",
                Some(&body),
                "",
            )
            .await
        {
            Ok(response) => Ok(Created::New(decode(&response, "resource server")?)),
            Err(Auth0Error::Upstream { status: 409, .. }) => Ok(Created::Existing),
            Err(other) => Err(other),
        }
    }

    /// `GET /api/v2/users/{id}` (any of `read:users`, `read:current_user`,
    /// `read:user_idp_tokens`). Auth0's user object as it came; callers choose what to show.
    #[tracing::instrument(name = "auth0.get_user", skip_all, fields(domain = %domain))]
    pub async fn get_user(
        &self,
        domain: &Domain,
        token: &SecretString,
        user_id: &str,
    ) -> Result<Map<String, Value>, Auth0Error> {
        let path = format!("/api/v2/users/{}", path_segment(user_id)?);
        let response = self
            .call(domain, token, Method::GET, &path, None, "")
            .await?;
        decode(&response, "user")
    }

    /// `POST /api/v2/users` (`create:users`) with `fields` plus, when given, the password (kept
    /// a secret until the body is serialised, and scrubbed from any error Auth0 sends back).
    #[tracing::instrument(name = "auth0.create_user", skip_all, fields(domain = %domain))]
    pub async fn create_user(
        &self,
        domain: &Domain,
        token: &SecretString,
        fields: &Map<String, Value>,
        password: Option<&SecretString>,
    ) -> Result<Map<String, Value>, Auth0Error> {
        self.user_write(
            domain,
            token,
            Method::POST,
            "/api/v2/users",
            fields,
            password,
        )
        .await
    }

    /// `PATCH /api/v2/users/{id}` (any of `update:users`, `update:users_app_metadata`,
    /// `update:current_user_metadata`, depending on the fields), password handled as in
    /// [`Auth0Client::create_user`].
    #[tracing::instrument(name = "auth0.update_user", skip_all, fields(domain = %domain))]
    pub async fn update_user(
        &self,
        domain: &Domain,
        token: &SecretString,
        user_id: &str,
        fields: &Map<String, Value>,
        password: Option<&SecretString>,
    ) -> Result<Map<String, Value>, Auth0Error> {
        let path = format!("/api/v2/users/{}", path_segment(user_id)?);
        self.user_write(domain, token, Method::PATCH, &path, fields, password)
            .await
    }

    async fn user_write(
        &self,
        domain: &Domain,
        token: &SecretString,
        method: Method,
        path: &str,
        fields: &Map<String, Value>,
        password: Option<&SecretString>,
    ) -> Result<Map<String, Value>, Auth0Error> {
        let mut body = fields.clone();
        if let Some(password) = password {
            body.insert(
                "password".to_owned(),
                Value::String(password.expose_secret().to_owned()),
            );
        }
        let body = Value::Object(body);
        let outcome = match self
            .call(domain, token, method, path, Some(&body), "")
            .await
        {
            Ok(response) => decode(&response, "user"),
            Err(err) => Err(err),
        };
        drop(body);
        match password {
            Some(password) => outcome.map_err(|err| err.scrub(password.expose_secret())),
            None => outcome,
        }
    }

    /// One request; a non-2xx answer becomes the mapped error.
    async fn call(
        &self,
        domain: &Domain,
        token: &SecretString,
        method: Method,
        path: &str,
        body: Option<&Value>,
        client_id: &str,
    ) -> Result<Auth0Response, Auth0Error> {
        if !path.starts_with("/api/v2/") {
            return Err(Auth0Error::Config {
                reason: "Management API paths start with /api/v2/".into(),
            });
        }
        let response = self
            .send(
                domain,
                method,
                path,
                Some(token),
                body.map(RequestBody::Json),
            )
            .await?;
        if response.status.is_success() {
            Ok(response)
        } else {
            Err(map_error(response.status, &response.body, client_id))
        }
    }
}

/// The page after `page`, if Auth0's total (or a full page, when no total came) says there is one.
fn next_page(page: u32, got: usize, total: Option<u64>) -> Option<u32> {
    if got == 0 || page + 1 >= MAX_CLIENT_PAGES {
        return None;
    }
    let seen = (u64::from(page) * u64::from(CLIENTS_PER_PAGE)).saturating_add(got as u64);
    let more = match total {
        Some(total) => seen < total,
        None => got >= CLIENTS_PER_PAGE as usize,
    };
    more.then_some(page + 1)
}

/// Decodes a 2xx body. serde's own message can quote values (a client secret, a user's
/// details), so only the error's position is reported.
fn decode<T: DeserializeOwned>(response: &Auth0Response, what: &str) -> Result<T, Auth0Error> {
    serde_json::from_slice(&response.body).map_err(|err| Auth0Error::InvalidResponse {
        reason: format!(
            "the {what} Auth0 sent is not the expected JSON ({:?} error at line {}, column {})",
            err.classify(),
            err.line(),
            err.column()
        ),
    })
}

/// Percent-encodes an id (a client id, `auth0|abc` user id) as one path segment, so it can never
/// add a segment, a query or a fragment.
pub fn path_segment(id: &str) -> Result<String, Auth0Error> {
    // "." and ".." would be resolved away as path segments (also when percent-encoded).
    if id.is_empty() || id.len() > 512 || id.bytes().all(|b| b == b'.') {
        return Err(Auth0Error::Config {
            reason: "an id in a Management API path must be 1-512 characters and not only dots"
                .into(),
        });
    }
    Ok(encode(id))
}

fn query_value(value: &str) -> Result<String, Auth0Error> {
    if value.len() > 1024 {
        return Err(Auth0Error::Config {
            reason: "query value too long".into(),
        });
    }
    Ok(encode(value))
}

fn encode(raw: &str) -> String {
    let mut encoded = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_stops_at_the_total_or_a_short_page() {
        assert_eq!(next_page(0, 100, Some(250)), Some(1));
        assert_eq!(next_page(1, 100, Some(250)), Some(2));
        assert_eq!(next_page(2, 50, Some(250)), None);
        assert_eq!(next_page(0, 100, Some(100)), None);
        assert_eq!(next_page(0, 0, Some(500)), None);
        // Without a total, a full page means there may be more.
        assert_eq!(next_page(0, 100, None), Some(1));
        assert_eq!(next_page(3, 99, None), None);
        // A server that claims an endless total is not followed forever.
        assert_eq!(next_page(MAX_CLIENT_PAGES - 1, 100, Some(u64::MAX)), None);
    }

    #[test]
    fn ids_stay_one_path_segment() {
        assert_eq!(
            path_segment("auth0|abc123").ok().as_deref(),
            Some("auth0%7Cabc123")
        );
        assert_eq!(
            path_segment("../clients?x=1#f").ok().as_deref(),
            Some("..%2Fclients%3Fx%3D1%23f")
        );
        assert_eq!(
            path_segment("a b/é").ok().as_deref(),
            Some("a%20b%2F%C3%A9")
        );
        for bad in ["", ".", "..", "..."] {
            assert!(path_segment(bad).is_err(), "{bad:?}");
        }
        assert!(path_segment(&"x".repeat(513)).is_err());
    }

    #[test]
    fn decode_errors_never_quote_the_body() {
        let response = Auth0Response {
            status: reqwest::StatusCode::OK,
            headers: reqwest::header::HeaderMap::new(),
            body: br#"{"clients":"canary-value-123"}"#.to_vec(),
        };
        let err = match decode::<RawClientPage>(&response, "client list") {
            Err(err) => err,
            Ok(_) => panic!("a string is not a list of clients"),
        };
        let text = format!("{err} {err:?}");
        assert!(!text.contains("canary-value-123"), "{text}");
        assert!(text.contains("client list"), "{text}");
    }

    #[test]
    fn client_records_have_no_secret_field() {
        let record: ClientRecord = serde_json::from_str(
            r#"{"client_id":"c","name":"n","client_secret":"canary-secret-9","grant_types":["client_credentials"]}"#,
        )
        .expect("json");
        assert!(!format!("{record:?}").contains("canary-secret-9"));
        assert_eq!(
            record.grant_types.as_deref(),
            Some(&["client_credentials".to_owned()][..])
        );
    }
}
