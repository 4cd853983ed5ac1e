//! `/api/v2/secret-rotations`: Auth0 client-secret rotations with Infisical's shapes, and Keyhold's
//! own `auth0-private-key-jwt` rotations in the same shape (each type under its own path; a
//! rotation is found only under its type's), in three parts: `definitions` (what to rotate and when: create, list, get, update, delete), `runs`
//! (rotate now, and the attempts the worker made) and `reveal` (the generated secrets). Rotating
//! itself is the worker's job; the API only queues it.

mod definitions;
pub mod dto;
mod reveal;
mod runs;
mod secrets_mapping;

use std::convert::Infallible;

use axum::Json;
use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use store::RotationId;
use store::rotations::detailed::Detailed;
use store::rotations::mapping::Mapping;
use store::rotations::{self as db, Rotation};
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
        .get(
            "/api/v2/secret-rotations/auth0-private-key-jwt",
            definitions::list,
        )
        .post(
            "/api/v2/secret-rotations/auth0-private-key-jwt",
            definitions::create_keys,
        )
        .get(
            "/api/v2/secret-rotations/auth0-private-key-jwt/{rotationId}",
            definitions::fetch,
        )
        .patch(
            "/api/v2/secret-rotations/auth0-private-key-jwt/{rotationId}",
            definitions::update_keys,
        )
        .delete(
            "/api/v2/secret-rotations/auth0-private-key-jwt/{rotationId}",
            definitions::remove,
        )
        .get(
            "/api/v2/secret-rotations/auth0-private-key-jwt/rotation-name/{rotationName}",
            definitions::fetch_by_name,
        )
        .post(
            "/api/v2/secret-rotations/auth0-private-key-jwt/{rotationId}/rotate-secrets",
            runs::rotate_now,
        )
        .get(
            "/api/v2/secret-rotations/auth0-private-key-jwt/{rotationId}/attempts",
            runs::attempts,
        )
}

/// The rotation type a route serves, named by its path (`None` on the shared list): a rotation of
/// another type is not found there, as Infisical's per-type routes answer.
#[derive(Clone, Copy, Debug)]
pub(super) struct RouteKind(pub Option<&'static str>);

pub(super) const KIND_CS: RouteKind = RouteKind(Some(db::TYPE_AUTH0_CLIENT_SECRET));
pub(super) const KIND_PK: RouteKind = RouteKind(Some(db::TYPE_AUTH0_PRIVATE_KEY_JWT));

impl RouteKind {
    fn of_path(path: &str) -> RouteKind {
        let rest = path.strip_prefix("/api/v2/secret-rotations/").unwrap_or("");
        let kind = [db::TYPE_AUTH0_CLIENT_SECRET, db::TYPE_AUTH0_PRIVATE_KEY_JWT]
            .into_iter()
            .find(|kind| {
                rest.strip_prefix(kind)
                    .is_some_and(|tail| tail.is_empty() || tail.starts_with('/'))
            });
        RouteKind(kind)
    }

    pub(super) fn serves(self, rotation: &Rotation) -> bool {
        self.0.is_none_or(|kind| rotation.kind == kind)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RouteKind {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let path = parts
            .extensions
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        Ok(RouteKind::of_path(path.unwrap_or("")))
    }
}

pub(super) fn not_found() -> ApiError {
    ApiError::NotFound {
        what: "secret rotation",
        field: None,
    }
}

/// A rotation the caller may act on with `min`; 404 when its project is not theirs or the route
/// serves another type.
pub(super) async fn load(
    state: &AppState,
    caller: &Caller,
    id: RotationId,
    min: Role,
    kind: RouteKind,
) -> ApiResult<Rotation> {
    let rotation = db::get(&state.db, caller.org_id, id)
        .await
        .map_err(|err| match err {
            store::Error::NotFound => not_found(),
            other => other.into(),
        })?;
    caller.require(rotation.project_id, min, not_found())?;
    if !kind.serves(&rotation) {
        return Err(not_found());
    }
    Ok(rotation)
}

/// One rotation as every route answers it, with its `ETag` (and its mapping, as stored now).
pub(super) async fn one(
    state: &AppState,
    status: StatusCode,
    rotation: Rotation,
) -> ApiResult<Response> {
    let mut conn = state.db.acquire().await?;
    let detailed = db::detailed::of(&mut conn, vec![rotation]).await?;
    single(status, detailed)
}

/// [`one`] with the mapping given (read already, or a deleted rotation's, gone from the database).
pub(super) async fn answer(
    state: &AppState,
    status: StatusCode,
    rotation: Rotation,
    mapping: Option<Mapping>,
) -> ApiResult<Response> {
    let mut conn = state.db.acquire().await?;
    let mappings = mapping.map(|m| (m.rotation_id, m)).into_iter().collect();
    let detailed = db::detailed::with_mappings(&mut conn, vec![rotation], mappings).await?;
    single(status, detailed)
}

fn single(status: StatusCode, mut detailed: Vec<Detailed>) -> ApiResult<Response> {
    let detailed = detailed.pop().ok_or_else(not_found)?;
    Ok(render(status, detailed))
}

pub(super) fn render(status: StatusCode, detailed: Detailed) -> Response {
    let version = detailed.rotation.version;
    let body = json!({ "secretRotation": RotationOut::new(detailed, OffsetDateTime::now_utc()) });
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::ETAG, etag(version));
    response
}

/// The answer while an attempt runs: deleting or queueing another would race it.
pub(super) fn in_progress() -> ApiError {
    ApiError::Conflict {
        detail: "A rotation is already in progress. Please try again shortly.".to_owned(),
        field: None,
    }
}
