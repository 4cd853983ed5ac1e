//! Wire shapes of `/api/v1/app-connections/auth0`, following Infisical's. Request DTOs take strings
//! and are checked in `credentials` and `routes::fields` so every problem names its field; response
//! DTOs have no secret field.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crypto::SecretString;

pub const APP: &str = "auth0";
pub const METHOD_CLIENT_CREDENTIALS: &str = "client-credentials";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialsIn {
    pub domain: String,
    pub client_id: String,
    /// `SecretString`'s Debug prints a placeholder, so deriving Debug here is safe (tested).
    pub client_secret: SecretString,
    #[serde(default)]
    pub audience: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionIn {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub method: String,
    pub project_id: String,
    #[serde(deserialize_with = "crate::extract::object")]
    pub credentials: CredentialsIn,
    /// Accepted for Infisical compatibility; Auth0 connections are never platform-managed.
    #[serde(default)]
    pub is_platform_managed_credentials: Option<bool>,
    /// Accepted for Infisical compatibility; Keyhold has no gateways, so it must be null.
    #[serde(default)]
    pub gateway_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionPatch {
    #[serde(default)]
    pub name: Option<String>,
    /// Absent: unchanged; `null`: cleared.
    #[serde(default, deserialize_with = "crate::extract::nullable")]
    pub description: Option<Option<String>>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    pub credentials: Option<CredentialsIn>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsOut {
    pub domain: String,
    pub client_id: String,
    pub audience: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionOut {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub project_id: Uuid,
    pub org_id: Uuid,
    pub app: String,
    pub method: String,
    pub credentials: CredentialsOut,
    pub version: i64,
    pub is_platform_managed_credentials: bool,
    pub gateway_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// `null` until Keyhold has checked the connection's scopes.
    pub scope_check: Option<ScopeCheckOut>,
}

/// The last scope check: for each capability checked, the Management API scopes it lacks (empty:
/// usable). Kept on the connection so a list can show it without asking Auth0 per row.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeCheckOut {
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    pub capabilities: serde_json::Value,
}

impl From<store::connections::Connection> for ConnectionOut {
    fn from(c: store::connections::Connection) -> Self {
        ConnectionOut {
            id: c.id.0,
            name: c.name,
            description: c.description,
            project_id: c.project_id.0,
            org_id: c.org_id.0,
            app: c.app,
            method: c.method,
            credentials: CredentialsOut {
                domain: c.domain,
                client_id: c.client_id,
                audience: c.audience,
            },
            version: c.version,
            is_platform_managed_credentials: false,
            gateway_id: None,
            created_at: c.created_at,
            updated_at: c.updated_at,
            scope_check: c
                .scope_check
                .zip(c.scope_checked_at)
                .map(|(capabilities, checked_at)| ScopeCheckOut {
                    checked_at,
                    capabilities,
                }),
        }
    }
}

/// `{ "appConnection": ... }`
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OneOut {
    pub app_connection: ConnectionOut,
}

/// `{ "appConnections": [...], "nextCursor": ... }`
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListOut {
    pub app_connections: Vec<ConnectionOut>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub search: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ByNameQuery {
    pub project_id: String,
}
