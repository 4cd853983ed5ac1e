//! `/api/v2/secret-rotations`: Auth0 client-secret rotations with Infisical's shapes, in three
//! parts: `definitions` (what to rotate and when: create, list, get, update, delete), `runs`
//! (rotate now, and the attempts the worker made) and `reveal` (the generated secrets). Rotating
//! itself is the worker's job; the API only queues it.

mod definitions;
pub mod dto;
mod reveal;
mod runs;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use store::rotations::{self as db, Rotation};
use store::{ConnectionId, RotationId};
use time::OffsetDateTime;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::etag;
use crate::problem::{ApiError, ApiResult};
use crate::routes::table::Routes;
use dto::RotationOut;

pub fn routes() -> Routes {
    Routes::default()
        .get("/api/v2/secret-rotations/options", definitions::options)
        .get("/api/v2/secret-rotations", definitions::list)
        .get(
            "/api/v2/secret-rotations/auth0-client-secret",
            definitions::list,
        )
        .post(
            "/api/v2/secret-rotations/auth0-client-secret",
            definitions::create,
        )
        .get(
            "/api/v2/secret-rotations/auth0-client-secret/{rotationId}",
            definitions::fetch,
        )
        .patch(
            "/api/v2/secret-rotations/auth0-client-secret/{rotationId}",
            definitions::update,
        )
        .delete(
            "/api/v2/secret-rotations/auth0-client-secret/{rotationId}",
            definitions::remove,
        )
        .get(
            "/api/v2/secret-rotations/auth0-client-secret/rotation-name/{rotationName}",
            definitions::fetch_by_name,
        )
        .post(
            "/api/v2/secret-rotations/auth0-client-secret/{rotationId}/rotate-secrets",
            runs::rotate_now,
        )
        .get(
            "/api/v2/secret-rotations/auth0-client-secret/{rotationId}/generated-credentials",
            reveal::reveal,
        )
        .get(
            "/api/v2/secret-rotations/auth0-client-secret/{rotationId}/attempts",
            runs::attempts,
        )
}

pub(super) fn not_found() -> ApiError {
    ApiError::NotFound {
        what: "secret rotation",
        field: None,
    }
}

/// A rotation the caller may act on with `min`; 404 when its project is not theirs.
pub(super) async fn load(
    state: &AppState,
    caller: &Caller,
    id: RotationId,
    min: Role,
) -> ApiResult<Rotation> {
    let rotation = db::get(&state.db, caller.org_id, id)
        .await
        .map_err(|err| match err {
            store::Error::NotFound => not_found(),
            other => other.into(),
        })?;
    caller.require(rotation.project_id, min, not_found())?;
    Ok(rotation)
}

async fn connection_name(state: &AppState, id: ConnectionId) -> ApiResult<String> {
    Ok(store::connections::names(&state.db, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default())
}

/// One rotation as every route answers it, with its `ETag`.
pub(super) async fn one(
    state: &AppState,
    status: StatusCode,
    rotation: Rotation,
) -> ApiResult<Response> {
    let name = connection_name(state, rotation.connection_id).await?;
    let version = rotation.version;
    let body =
        json!({ "secretRotation": RotationOut::new(rotation, name, OffsetDateTime::now_utc()) });
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::ETAG, etag(version));
    Ok(response)
}

/// The answer while an attempt runs: deleting or queueing another would race it.
pub(super) fn in_progress() -> ApiError {
    ApiError::Conflict {
        detail: "A rotation is already in progress. Please try again shortly.".to_owned(),
        field: None,
    }
}
