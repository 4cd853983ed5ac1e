//! Revealing a rotation's generated secrets: project admins only, and never without an audit row.

use axum::Json;
use axum::extract::State;
use crypto::ExposeSecret;
use serde_json::json;
use store::RotationId;
use store::rotations as db;

use super::load;
use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::PathId;
use crate::problem::{ApiError, ApiResult};

/// The generated secrets: admins only, and the reveal is audited in the same transaction that
/// reads them, so there is no reveal without its record.
pub(super) async fn reveal(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<serde_json::Value>> {
    let id = RotationId(id);
    let rotation = load(&state, &caller, id, Role::Admin).await?;
    let mut tx = state.db.begin().await?;
    store::audit::record(
        &mut tx,
        &caller.event(
            "secret_rotation.reveal",
            "secret_rotation",
            id,
            Some(rotation.project_id),
            json!({ "clientId": rotation.client_id }),
        ),
    )
    .await?;
    let credentials = db::generated_credentials(&state.db, id).await?;
    let mut generated = Vec::with_capacity(credentials.len());
    for credential in credentials {
        let secret = state
            .broker
            .reveal_generated_secret(&credential, &rotation)
            .map_err(ApiError::internal)?;
        // The client the secret was issued for, even if the rotation names another one now.
        generated.push(
            json!({ "clientId": credential.client_id, "clientSecret": secret.expose_secret() }),
        );
    }
    tx.commit().await?;
    Ok(Json(json!({
        "generatedCredentials": generated,
        "activeIndex": rotation.active_index,
        "rotationId": rotation.id,
        "type": rotation.kind,
    })))
}
