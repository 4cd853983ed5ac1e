//! Revealing a rotation's generated secrets: project admins only, and never without an audit row.
//! The caller may say why (`?reason=`, at most 200 characters of plain text), which the audit row
//! keeps; a reason holding one of the generated secrets is refused, so none lands in the log.
//! `?activeOnly=true` reveals only the secret Auth0 holds now, not the previous one.

use axum::Json;
use axum::extract::State;
use crypto::ExposeSecret;
use serde_json::json;
use store::RotationId;
use store::rotations as db;

use super::dto::{REVEAL_REASON_MAX, RevealQuery};
use super::{KIND_CS, load};
use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::{PathId, ValidQuery};
use crate::problem::{ApiError, ApiResult};

/// The reason as kept: trimmed, `None` when empty; refused when too long or not plain text.
fn reason(raw: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().count() > REVEAL_REASON_MAX {
        return Err(ApiError::field(
            "reason",
            format!("must be at most {REVEAL_REASON_MAX} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(ApiError::field(
            "reason",
            "must be plain text without control characters",
        ));
    }
    Ok(Some(text.to_owned()))
}

/// The generated secrets: admins only, and the reveal is audited in the same transaction that
/// reads them, so there is no reveal without its record.
pub(super) async fn reveal(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ValidQuery(query): ValidQuery<RevealQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = RotationId(id);
    let reason = reason(query.reason)?;
    let rotation = load(&state, &caller, id, Role::Admin, KIND_CS).await?;
    let mut tx = state.db.begin().await?;
    let credentials = db::generated_credentials(&state.db, id).await?;
    let mut generated = Vec::with_capacity(credentials.len());
    for credential in credentials {
        let secret = state
            .broker
            .reveal_generated_secret(&credential, &rotation)
            .map_err(ApiError::internal)?;
        // Checked against every generated secret, shown or not.
        if reason.as_deref().is_some_and(|r| {
            !secret.expose_secret().is_empty() && r.contains(secret.expose_secret())
        }) {
            return Err(ApiError::field(
                "reason",
                "must not contain a secret: say why, not what",
            ));
        }
        // The client the secret was issued for, even if the rotation names another one now.
        generated.push(
            json!({ "clientId": credential.client_id, "clientSecret": secret.expose_secret() }),
        );
    }
    let mut active_index = rotation.active_index;
    if query.active_only.unwrap_or(false) {
        // Only the secret Auth0 holds now leaves the server; the previous one stays put.
        let active = usize::try_from(rotation.active_index)
            .ok()
            .filter(|i| *i < generated.len());
        generated = active
            .map(|i| generated.swap_remove(i))
            .into_iter()
            .collect();
        active_index = 0;
    }
    let mut metadata = json!({
        "clientId": rotation.client_id,
        "revealed": if query.active_only.unwrap_or(false) { "active" } else { "all" },
    });
    if let Some(reason) = reason {
        metadata["reason"] = json!(reason);
    }
    store::audit::record(
        &mut tx,
        &caller.event(
            "secret_rotation.reveal",
            "secret_rotation",
            id,
            Some(rotation.project_id),
            metadata,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({
        "generatedCredentials": generated,
        "activeIndex": active_index,
        "rotationId": rotation.id,
        "type": rotation.kind,
    })))
}
