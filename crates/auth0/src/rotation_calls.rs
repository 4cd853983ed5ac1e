//! Management API calls for secret rotation: read a client, set its secret (`PATCH` with our
//! own generated value, so we know it before Auth0 does), and have Auth0 replace it
//! (`rotate-secret`, used only to revoke a secret Keyhold stored).
//!
//! This module owns the mapping of Management API error answers (reference section 2: 401
//! invalid token, 403 `insufficient_scope`, 404 `inexistent_client`) to [`Auth0Error`]
//! variants that say what to fix. Transport, retries of 429/5xx and the SSRF guard are
//! `http`'s business; tokens come from the caller (see [`crate::TokenCache`]).

use std::fmt;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::Domain;
use crate::error::{Auth0Error, UpstreamBody};
use crate::http::{Auth0Client, Auth0Response, RequestBody};

/// An Auth0 application as the Management API shows it, reduced to what Keyhold uses.
/// `client_secret` is present only when the token holds `read:client_keys` (or the answer to
/// an update made with `update:client_keys`).
#[derive(Clone, Deserialize)]
pub struct ClientInfo {
    pub client_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub app_type: Option<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub client_secret: Option<SecretString>,
}

impl fmt::Debug for ClientInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientInfo")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("app_type", &self.app_type)
            .field("grant_types", &self.grant_types)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

impl Auth0Client {
    /// `GET /api/v2/clients/{id}` (any of `read:clients`, `read:client_keys`, ...).
    #[tracing::instrument(name = "auth0.get_client", skip_all, fields(domain = %domain))]
    pub async fn get_client(
        &self,
        domain: &Domain,
        token: &SecretString,
        client_id: &str,
    ) -> Result<ClientInfo, Auth0Error> {
        let path = client_path(client_id, "")?;
        let response = self
            .send(domain, Method::GET, &path, Some(token), None)
            .await?;
        let response = check(response, client_id)?;
        // The body may carry the client's secret; serde's message must not quote it.
        serde_json::from_slice(&response.body).map_err(|err| Auth0Error::InvalidResponse {
            reason: format!(
                "the client answer is not the expected JSON ({:?} error at line {}, column {})",
                err.classify(),
                err.line(),
                err.column()
            ),
        })
    }

    /// `PATCH /api/v2/clients/{id}` with `{"client_secret": secret}` (needs
    /// `update:client_keys`). Auth0 replaces the one secret at once; repeating the call with the
    /// same value changes nothing, so a caller that lost the answer may simply send it again.
    #[tracing::instrument(name = "auth0.patch_client_secret", skip_all, fields(domain = %domain))]
    pub async fn patch_client_secret(
        &self,
        domain: &Domain,
        token: &SecretString,
        client_id: &str,
        secret: &SecretString,
    ) -> Result<(), Auth0Error> {
        let path = client_path(client_id, "")?;
        let body = serde_json::json!({ "client_secret": secret.expose_secret() });
        let outcome = self
            .send(
                domain,
                Method::PATCH,
                &path,
                Some(token),
                Some(RequestBody::Json(&body)),
            )
            .await
            .and_then(|response| check(response, client_id).map(drop));
        outcome.map_err(|err| err.scrub(secret.expose_secret()))
    }

    /// `POST /api/v2/clients/{id}/rotate-secret` (needs `update:client_keys`): Auth0 generates a
    /// new secret and the old one dies. Keyhold uses it only to revoke a secret it stored, so the
    /// new value is dropped unread.
    #[tracing::instrument(name = "auth0.rotate_secret", skip_all, fields(domain = %domain))]
    pub async fn rotate_secret(
        &self,
        domain: &Domain,
        token: &SecretString,
        client_id: &str,
    ) -> Result<(), Auth0Error> {
        let path = client_path(client_id, "/rotate-secret")?;
        let response = self
            .send(domain, Method::POST, &path, Some(token), None)
            .await?;
        check(response, client_id).map(drop)
    }
}

/// `/api/v2/clients/{id}{suffix}` with the id percent-encoded, so an id can never add a path
/// segment or a query.
fn client_path(client_id: &str, suffix: &str) -> Result<String, Auth0Error> {
    // "." and ".." would be resolved away as path segments (also when percent-encoded).
    if client_id.is_empty() || client_id.len() > 256 || client_id.bytes().all(|b| b == b'.') {
        return Err(Auth0Error::Config {
            reason: "the client ID must be 1-256 characters and not only dots".into(),
        });
    }
    let mut encoded = String::with_capacity(client_id.len());
    for byte in client_id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(format!("/api/v2/clients/{encoded}{suffix}"))
}

fn check(response: Auth0Response, client_id: &str) -> Result<Auth0Response, Auth0Error> {
    if response.status.is_success() {
        return Ok(response);
    }
    Err(map_error(response.status, &response.body, client_id))
}

/// Maps a Management API error answer to what the user must fix.
pub(crate) fn map_error(status: StatusCode, body: &[u8], client_id: &str) -> Auth0Error {
    let parsed = UpstreamBody::parse(body);
    match status {
        StatusCode::UNAUTHORIZED => Auth0Error::TokenRejected,
        StatusCode::FORBIDDEN if parsed.error == "insufficient_scope" => Auth0Error::MissingScope {
            needed: needed_scopes(&parsed.description),
        },
        StatusCode::NOT_FOUND if parsed.error == "inexistent_client" => {
            Auth0Error::ClientNotFound {
                client_id: crate::error::truncate(client_id.to_owned()),
            }
        }
        _ => Auth0Error::from_response(status.as_u16(), body),
    }
}

/// Scopes from Auth0's "Insufficient scope, expected any of: a,b" message.
fn needed_scopes(message: &str) -> Vec<String> {
    message
        .split_once(':')
        .map(|(_, list)| {
            list.split([',', ' '])
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.contains(':'))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_documented_management_errors() {
        let err = map_error(
            StatusCode::UNAUTHORIZED,
            br#"{"statusCode":401,"error":"Unauthorized","message":"Invalid token","attributes":{"error":"Invalid token"}}"#,
            "cid",
        );
        assert!(matches!(err, Auth0Error::TokenRejected));
        assert!(err.is_retryable());

        let err = map_error(
            StatusCode::FORBIDDEN,
            br#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: update:clients,update:client_keys","errorCode":"insufficient_scope"}"#,
            "cid",
        );
        match &err {
            Auth0Error::MissingScope { needed } => {
                assert_eq!(needed, &["update:clients", "update:client_keys"]);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(!err.is_retryable());
        assert!(err.reason().contains("\"update:client_keys\""), "{err}");
        assert!(err.reason().contains("Machine To Machine Applications"));

        let err = map_error(
            StatusCode::NOT_FOUND,
            br#"{"statusCode":404,"error":"Not Found","message":"The client does not exist","errorCode":"inexistent_client"}"#,
            "abc123",
        );
        assert!(matches!(&err, Auth0Error::ClientNotFound { client_id } if client_id == "abc123"));
        assert!(!err.is_retryable());

        let err = map_error(
            StatusCode::BAD_REQUEST,
            br#"{"errorCode":"invalid_body"}"#,
            "c",
        );
        assert!(matches!(err, Auth0Error::Upstream { status: 400, .. }));
    }

    #[test]
    fn scope_lists_parse_and_read_well() {
        assert_eq!(
            needed_scopes("Insufficient scope, expected any of: read:clients"),
            vec!["read:clients"]
        );
        assert!(needed_scopes("Forbidden").is_empty());
        let one = Auth0Error::MissingScope {
            needed: vec!["update:client_keys".into()],
        };
        assert!(
            one.reason().contains("scope \"update:client_keys\":"),
            "{one}"
        );
        let none = Auth0Error::MissingScope { needed: vec![] };
        assert!(
            none.reason()
                .contains("lacks the Management API scope it needs")
        );
    }

    #[test]
    fn client_ids_cannot_escape_their_path_segment() {
        assert_eq!(
            client_path("abc_DEF-1.2~", "").ok().as_deref(),
            Some("/api/v2/clients/abc_DEF-1.2~")
        );
        assert_eq!(
            client_path("../users?x=1#y", "/rotate-secret")
                .ok()
                .as_deref(),
            Some("/api/v2/clients/..%2Fusers%3Fx%3D1%23y/rotate-secret")
        );
        assert!(client_path("", "").is_err());
        assert!(client_path("..", "").is_err());
        assert!(client_path(&"x".repeat(300), "").is_err());
    }

    #[test]
    fn client_info_debug_redacts_the_secret() {
        let info: ClientInfo = serde_json::from_str(
            r#"{"client_id":"c","name":"n","client_secret":"canary-77aa","grant_types":["client_credentials"]}"#,
        )
        .expect("json");
        let text = format!("{info:?}");
        assert!(!text.contains("canary-77aa"), "{text}");
        assert!(text.contains("[redacted]"));
    }
}
