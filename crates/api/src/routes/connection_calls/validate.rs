//! `POST /api/v1/app-connections/auth0/{connectionId}/validate`: checks a stored connection with a
//! fresh token and reports what its scopes allow (see `capabilities`).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use store::ConnectionId;
use store::connections as db;

use super::capabilities::{self, Diagnostics};
use super::clients::APPLICATIONS;
use super::session::Session;
use crate::AppState;
use crate::auth::Caller;
use crate::extract::{PathId, ValidQuery};
use crate::problem::{ApiError, ApiResult};
use crate::routes::connections;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ValidateQuery {
    /// Comma-separated capability keys to judge the scopes against (default: all).
    #[serde(default)]
    capabilities: Option<String>,
}

/// `POST /api/v1/app-connections/auth0/{connectionId}/validate`: a *fresh* token (a cached one
/// keeps the scopes it was issued with), and what its scopes allow.
/// How old the grants a validation reports may be: a token fetched this recently is reused, so
/// a script calling validate in a loop costs Auth0 one token request per window, not one each.
const FRESH_ENOUGH: Duration = Duration::from_secs(30);

pub(super) async fn validate(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ValidQuery(query): ValidQuery<ValidateQuery>,
) -> ApiResult<Json<Value>> {
    let enabled = match query.capabilities.as_deref() {
        None => None,
        Some(raw) => Some(
            capabilities::parse_list(raw).map_err(|why| ApiError::field("capabilities", why))?,
        ),
    };
    let session = Session::open_for_validation(&state, &caller, ConnectionId(id)).await?;
    let outcome = session.recent_token(FRESH_ENOUGH).await.map(|token| {
        let diagnostics: Diagnostics = capabilities::diagnose(&token.scopes, enabled.as_deref());
        (diagnostics, token.expires_in)
    });
    let metadata = match &outcome {
        Ok((d, _)) => json!({ "grantedScopes": d.granted_scopes }),
        Err(_) => json!({}),
    };
    let (diagnostics, expires_in) = session
        .finish("app_connection.validate", metadata, outcome, APPLICATIONS)
        .await?;
    let mut connection = session.connection.clone();
    let mut tx = state.db.begin().await?;
    if connection.awaits_registration() {
        // Auth0 accepted an assertion signed with the key: it is registered and enabled.
        connection.key.key_registered_at =
            db::mark_key_registered(&mut tx, connection.org_id, connection.id).await?;
        tracing::info!(connection.id = %connection.id, "private-key-jwt connection registered");
    }
    connections::keep_scope_check(&mut tx, &mut connection, &diagnostics).await?;
    tx.commit().await?;
    let mut body = json!({
        "diagnostics": diagnostics,
        "tokenExpiresIn": expires_in,
    });
    if connection.uses_private_key() {
        body["status"] = json!(connections::dto::STATUS_ACTIVE);
    }
    Ok(Json(body))
}
