//! Token Vault set-up through a connection: the Management API changes Auth0's Token Vault guides
//! have teams make by hand (https://auth0.com/docs/secure/tokens/token-vault).
//!
//! - Refresh token exchange: the application must be first-party, confidential and
//!   OIDC-conformant; then `authorization_code`, `refresh_token` and the Token Vault grant are
//!   added to its `grant_types`, keeping the ones it had.
//! - Access token exchange: the backend API (a resource server with its scopes) and its Custom
//!   API Client (`app_type: resource_server`, same identifier, Token Vault grant). Both are
//!   looked for first, so repeating the call reuses them instead of making duplicates.
//!
//! Both report exactly what they changed and are audited. The Custom API Client's secret, which
//! Auth0 returns on creation, is dropped unread: Keyhold does not hold credentials it was not
//! given, and the team reads it from the Auth0 Dashboard.

use auth0::{ClientQuery, ClientRecord, Created, TOKEN_VAULT_GRANT};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use store::ConnectionId;

use super::session::Session;
use crate::AppState;
use crate::auth::Caller;
use crate::extract::{PathId, ValidJson};
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::routes::auth0_problems::{CallError, Subject};
use crate::routes::fields;

const REFRESH_EXCHANGE_GRANTS: [&str; 3] =
    ["authorization_code", "refresh_token", TOKEN_VAULT_GRANT];
const IDENTIFIER_MAX: usize = 600;
const NAME_MAX: usize = 200;
const SCOPES_MAX: usize = 100;
const SCOPE_MAX: usize = 280;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RefreshExchangeIn {
    client_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct AccessExchangeIn {
    api_identifier: String,
    api_name: String,
    #[serde(default)]
    scopes: Vec<String>,
}

fn application(field: Option<&'static str>) -> Subject {
    Subject {
        what: "Auth0 application",
        field,
    }
}

/// Auth0's preconditions for the refresh token exchange that `client` fails, each in words
/// naming the Auth0 setting. `Err` when the answer hides the settings (the token can only read
/// client summaries), so nothing can be judged.
fn refresh_exchange_blockers(client: &ClientRecord) -> Result<Vec<String>, CallError> {
    let (Some(first_party), Some(oidc)) = (client.is_first_party, client.oidc_conformant) else {
        return Err(CallError::Auth0(auth0::Auth0Error::MissingScope {
            needed: vec!["read:clients".to_owned()],
        }));
    };
    let mut blockers = Vec::new();
    if !first_party {
        blockers.push(
            "it is a third-party application (is_first_party is false); Token Vault serves first-party applications only"
                .to_owned(),
        );
    }
    if client.token_endpoint_auth_method.as_deref() == Some("none") {
        blockers.push(
            "it is a public client (token_endpoint_auth_method is none); the exchange needs a confidential client that authenticates with a secret or key"
                .to_owned(),
        );
    }
    if !oidc {
        blockers.push(
            "it is not OIDC-conformant (oidc_conformant is false); turn on OIDC Conformant under Advanced Settings > OAuth"
                .to_owned(),
        );
    }
    Ok(blockers)
}

/// `POST /api/v1/app-connections/auth0/{connectionId}/token-vault/refresh-token-exchange`
pub(super) async fn refresh_token_exchange(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    body: ValidJson<RefreshExchangeIn>,
) -> ApiResult<Json<Value>> {
    let mut errors = Vec::new();
    let Some(client_id) = fields::client_id("clientId", &body.value.client_id, &mut errors) else {
        return Err(ApiError::Validation(errors));
    };
    let session = Session::open(&state, &caller, ConnectionId(id)).await?;
    let outcome = configure_refresh_exchange(&state, &session, &client_id).await;
    let metadata = match &outcome {
        Ok(report) => {
            json!({ "clientId": client_id, "addedGrantTypes": report["addedGrantTypes"] })
        }
        Err(_) => json!({ "clientId": client_id }),
    };
    let report = session
        .finish(
            "app_connection.token_vault.refresh_token_exchange",
            metadata,
            outcome,
            application(Some("clientId")),
        )
        .await?;
    Ok(Json(json!({ "tokenVault": report })))
}

async fn configure_refresh_exchange(
    state: &AppState,
    session: &Session<'_>,
    client_id: &str,
) -> Result<Value, CallError> {
    let (auth0, domain) = (&state.auth0, &session.domain);
    let client = session
        .call(|token| async move { auth0.client_settings(domain, &token, client_id).await })
        .await?;
    let blockers = refresh_exchange_blockers(&client)?;
    if !blockers.is_empty() {
        let detail = format!(
            "the Auth0 application cannot use Token Vault's refresh token exchange: {}",
            blockers.join("; ")
        );
        return Err(CallError::Api(ApiError::Validation(vec![FieldError::new(
            "clientId", detail,
        )])));
    }
    let mut grant_types = client.grant_types.unwrap_or_default();
    let added: Vec<String> = REFRESH_EXCHANGE_GRANTS
        .iter()
        .filter(|g| !grant_types.iter().any(|have| have == *g))
        .map(|g| (*g).to_owned())
        .collect();
    if !added.is_empty() {
        grant_types.extend(added.iter().cloned());
        let wanted = &grant_types;
        let updated = session
            .call(|token| async move {
                auth0
                    .set_client_grant_types(domain, &token, client_id, wanted)
                    .await
            })
            .await?;
        if let Some(now) = updated.grant_types {
            grant_types = now;
        }
    }
    Ok(json!({
        "exchange": "refresh-token-exchange",
        "clientId": client_id,
        "changed": !added.is_empty(),
        "addedGrantTypes": added,
        "grantTypes": grant_types,
    }))
}

impl AccessExchangeIn {
    fn check(&self) -> ApiResult<()> {
        let mut errors = Vec::new();
        let identifier = self.api_identifier.trim();
        if identifier.is_empty()
            || identifier.len() > IDENTIFIER_MAX
            || identifier
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            errors.push(FieldError::new(
                "apiIdentifier",
                format!("must be 1 to {IDENTIFIER_MAX} characters without spaces, e.g. https://api.example.com/"),
            ));
        }
        let name = self.api_name.trim();
        if name.is_empty() || name.chars().count() > NAME_MAX || !crate::text::is_one_line(name) {
            errors.push(FieldError::new(
                "apiName",
                format!(
                    "must be 1 to {NAME_MAX} characters; {}",
                    crate::text::ONE_LINE_RULE
                ),
            ));
        }
        if self.scopes.len() > SCOPES_MAX {
            errors.push(FieldError::new(
                "scopes",
                format!("at most {SCOPES_MAX} scopes"),
            ));
        }
        for (i, scope) in self.scopes.iter().enumerate() {
            if scope.is_empty()
                || scope.len() > SCOPE_MAX
                || scope.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                errors.push(FieldError::new(
                    format!("scopes.{i}"),
                    format!(
                        "must be 1 to {SCOPE_MAX} characters without spaces, e.g. read:calendar"
                    ),
                ));
            } else if self.scopes[..i].contains(scope) {
                errors.push(FieldError::new(format!("scopes.{i}"), "is repeated"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// `POST /api/v1/app-connections/auth0/{connectionId}/token-vault/access-token-exchange`
pub(super) async fn access_token_exchange(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    body: ValidJson<AccessExchangeIn>,
) -> ApiResult<Json<Value>> {
    let input = body.value;
    input.check()?;
    let session = Session::open(&state, &caller, ConnectionId(id)).await?;
    let outcome = configure_access_exchange(&state, &session, &input).await;
    let metadata = match &outcome {
        Ok(report) => json!({
            "apiIdentifier": input.api_identifier.trim(),
            "apiCreated": report["api"]["created"],
            "customApiClientId": report["customApiClient"]["clientId"],
            "customApiClientCreated": report["customApiClient"]["created"],
        }),
        Err(_) => json!({ "apiIdentifier": input.api_identifier.trim() }),
    };
    let report = session
        .finish(
            "app_connection.token_vault.access_token_exchange",
            metadata,
            outcome,
            application(None),
        )
        .await?;
    Ok(Json(json!({ "tokenVault": report })))
}

async fn configure_access_exchange(
    state: &AppState,
    session: &Session<'_>,
    input: &AccessExchangeIn,
) -> Result<Value, CallError> {
    let (auth0, domain) = (&state.auth0, &session.domain);
    let identifier = input.api_identifier.trim();
    let name = input.api_name.trim();
    let scopes = &input.scopes;
    let api = session
        .call(|token| async move {
            auth0
                .create_resource_server(domain, &token, identifier, name, scopes)
                .await
        })
        .await?;
    let api_created = matches!(api, Created::New(_));

    let existing = find_custom_api_client(state, session, identifier).await?;
    let (client_id, client_created, added) = match existing {
        Some(client) => {
            let mut grants = client.grant_types.unwrap_or_default();
            if grants.iter().any(|g| g == TOKEN_VAULT_GRANT) {
                (client.client_id, false, Vec::new())
            } else {
                grants.push(TOKEN_VAULT_GRANT.to_owned());
                let (id, wanted) = (client.client_id.as_str(), &grants);
                session
                    .call(|token| async move {
                        auth0
                            .set_client_grant_types(domain, &token, id, wanted)
                            .await
                    })
                    .await?;
                (client.client_id, false, vec![TOKEN_VAULT_GRANT.to_owned()])
            }
        }
        None => {
            let created = session
                .call(|token| async move {
                    auth0
                        .create_custom_api_client(domain, &token, identifier, name)
                        .await
                })
                .await?;
            (created.client_id, true, vec![TOKEN_VAULT_GRANT.to_owned()])
        }
    };
    Ok(json!({
        "exchange": "access-token-exchange",
        "changed": api_created || client_created || !added.is_empty(),
        "api": {
            "identifier": identifier,
            "created": api_created,
            // An API that existed keeps its scopes: changing them needs update:resource_servers.
            "scopes": if api_created { json!(scopes) } else { Value::Null },
        },
        "customApiClient": {
            "clientId": client_id,
            "created": client_created,
            "addedGrantTypes": added,
        },
    }))
}

/// The Custom API Client linked to `identifier`, if the tenant has one (every page is read:
/// Auth0 cannot filter by `resource_server_identifier`).
async fn find_custom_api_client(
    state: &AppState,
    session: &Session<'_>,
    identifier: &str,
) -> Result<Option<ClientRecord>, CallError> {
    const FIELDS: &[&str] = &[
        "client_id",
        "name",
        "app_type",
        "resource_server_identifier",
        "grant_types",
    ];
    let query = ClientQuery {
        app_type: Some("resource_server"),
        fields: FIELDS,
    };
    let (auth0, domain) = (&state.auth0, &session.domain);
    let mut page = Some(0);
    while let Some(number) = page {
        let got = session
            .call(
                |token| async move { auth0.list_clients_page(domain, &token, number, query).await },
            )
            .await?;
        if let Some(found) = got
            .clients
            .into_iter()
            .find(|c| c.resource_server_identifier.as_deref() == Some(identifier))
        {
            return Ok(Some(found));
        }
        page = got.next_page;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(first_party: Option<bool>, method: &str, oidc: Option<bool>) -> ClientRecord {
        ClientRecord {
            client_id: "c".into(),
            is_first_party: first_party,
            oidc_conformant: oidc,
            token_endpoint_auth_method: Some(method.into()),
            ..ClientRecord::default()
        }
    }

    #[test]
    fn each_failed_precondition_is_named() {
        let ok = refresh_exchange_blockers(&record(Some(true), "client_secret_post", Some(true)));
        assert!(matches!(ok, Ok(list) if list.is_empty()));
        let all = refresh_exchange_blockers(&record(Some(false), "none", Some(false)));
        let Ok(all) = all else { panic!("judged") };
        assert_eq!(all.len(), 3);
        assert!(all[0].contains("is_first_party"));
        assert!(all[1].contains("token_endpoint_auth_method"));
        assert!(all[2].contains("oidc_conformant"));
        let hidden = refresh_exchange_blockers(&record(None, "", None));
        assert!(matches!(
            hidden,
            Err(CallError::Auth0(auth0::Auth0Error::MissingScope { .. }))
        ));
    }

    #[test]
    fn access_exchange_input_is_checked() {
        let good = AccessExchangeIn {
            api_identifier: "https://calendar.acme.test/".into(),
            api_name: "Calendar".into(),
            scopes: vec!["read:calendar".into()],
        };
        assert!(good.check().is_ok());
        let bad = AccessExchangeIn {
            api_identifier: "has space".into(),
            api_name: " ".into(),
            scopes: vec!["a b".into(), "x".into(), "x".into()],
        };
        let Err(ApiError::Validation(errors)) = bad.check() else {
            panic!("invalid input passed")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["apiIdentifier", "apiName", "scopes.0", "scopes.2"]
        );
    }
}
