//! Wire shapes of `/api/v1/app-connections/auth0`, following Infisical's. Request DTOs take strings
//! and are checked in `credentials` and `routes::fields` so every problem names its field; response
//! DTOs have no secret field.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crypto::SecretString;

pub const APP: &str = "auth0";
pub const METHOD_CLIENT_CREDENTIALS: &str = store::connections::METHOD_CLIENT_CREDENTIALS;
pub const METHOD_PRIVATE_KEY_JWT: &str = store::connections::METHOD_PRIVATE_KEY_JWT;
/// `status` of a connection Keyhold can use.
pub const STATUS_ACTIVE: &str = "active";
/// `status` of a `private-key-jwt` connection whose public key Keyhold has not yet used
/// successfully: register it in Auth0, then validate.
pub const STATUS_PENDING_REGISTRATION: &str = "pending-registration";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialsIn {
    pub domain: String,
    pub client_id: String,
    /// `client-credentials` only (and required there). `SecretString`'s Debug prints a
    /// placeholder, so deriving Debug here is safe (tested).
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    #[serde(default)]
    pub audience: Option<String>,
    /// `private-key-jwt` only: the signing algorithm of the generated key (default RS256).
    #[serde(default)]
    pub alg: Option<String>,
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
    /// `private-key-jwt` only: a connection of the same project and tenant through which Keyhold
    /// registers the generated public key and enables Private Key JWT on the client.
    #[serde(default)]
    pub register_with: Option<String>,
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
    /// `active`, or `pending-registration` for a `private-key-jwt` connection whose key Keyhold
    /// has not yet obtained a token with.
    pub status: &'static str,
    pub credentials: CredentialsOut,
    /// `private-key-jwt` only: the public key to register in Auth0. The private key is never shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyOut>,
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

/// The public half of a `private-key-jwt` connection's key pair.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyOut {
    pub pem: String,
    pub jwk: serde_json::Value,
    pub kid: String,
    pub alg: String,
    /// When Keyhold first obtained a token with it; `null` while pending registration.
    #[serde(with = "time::serde::rfc3339::option")]
    pub registered_at: Option<OffsetDateTime>,
}

impl PublicKeyOut {
    fn of(key: store::connections::PublicKeyColumns) -> Option<PublicKeyOut> {
        Some(PublicKeyOut {
            pem: key.public_key_pem?,
            jwk: key.public_key_jwk?,
            kid: key.key_kid?,
            alg: key.key_alg?,
            registered_at: key.key_registered_at,
        })
    }
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

/// What a connection's `status` says, for its GET and its list row alike.
fn status(awaits_registration: bool) -> &'static str {
    if awaits_registration {
        STATUS_PENDING_REGISTRATION
    } else {
        STATUS_ACTIVE
    }
}

impl From<store::connections::Connection> for ConnectionOut {
    fn from(c: store::connections::Connection) -> Self {
        let status = status(c.awaits_registration());
        ConnectionOut {
            status,
            public_key: PublicKeyOut::of(c.key),
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

/// A list row: what a dashboard shows per connection. The scope check is reduced to capability
/// names (the missing scopes themselves are on the connection's own GET), and a key connection's
/// public key to its id, algorithm and registration; a page stays compact and cheap to write.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionSummaryOut {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub project_id: Uuid,
    pub org_id: Uuid,
    pub app: String,
    pub method: String,
    pub status: &'static str,
    pub credentials: CredentialsOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyRefOut>,
    pub version: i64,
    pub is_platform_managed_credentials: bool,
    pub gateway_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// `null` until Keyhold has checked the connection's scopes.
    pub scope_summary: Option<ScopeSummaryOut>,
}

/// Which public key a `private-key-jwt` connection signs with, without the key itself.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyRefOut {
    pub kid: String,
    pub alg: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub registered_at: Option<OffsetDateTime>,
}

/// The last scope check by capability name: usable ones, and ones lacking a scope.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeSummaryOut {
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    pub usable: Vec<String>,
    pub lacking: Vec<String>,
}

impl From<store::connections::Listed> for ConnectionSummaryOut {
    fn from(c: store::connections::Listed) -> Self {
        let status = status(c.awaits_registration());
        let public_key = c.key_kid.zip(c.key_alg).map(|(kid, alg)| PublicKeyRefOut {
            kid,
            alg,
            registered_at: c.key_registered_at,
        });
        let scope_summary = c
            .scope_check
            .zip(c.scope_checked_at)
            .map(|(summary, checked_at)| ScopeSummaryOut {
                checked_at,
                usable: summary.0.usable,
                lacking: summary.0.lacking,
            });
        ConnectionSummaryOut {
            status,
            public_key,
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
            scope_summary,
        }
    }
}

/// `{ "appConnections": [...], "nextCursor": ..., "totalCount": ... }`
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListOut {
    pub app_connections: Vec<ConnectionSummaryOut>,
    pub next_cursor: Option<String>,
    /// Every match of the query: exact without a filter, `None` past `COUNT_CAP` with one.
    pub total_count: Option<u32>,
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
    /// Only connections whose last scope check found a capability lacking a scope.
    #[serde(default)]
    pub missing_scope: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ByNameQuery {
    pub project_id: String,
}
