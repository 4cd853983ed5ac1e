//! Path ids: a malformed UUID is a validation error naming the parameter.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use uuid::Uuid;

use crate::problem::ApiError;

/// The single UUID segment of a route like `/things/{thingId}`.
pub struct PathId(pub Uuid);

/// Every UUID segment of a route, in order (`/projects/{projectId}/memberships/{identityId}`).
pub struct PathIds(pub Vec<Uuid>);

async fn uuids<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Vec<Uuid>, ApiError> {
    let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::NoRoute)?;
    params
        .iter()
        .map(|(name, raw)| {
            Uuid::parse_str(raw).map_err(|_| ApiError::field(name, "must be a UUID"))
        })
        .collect()
}

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ids = uuids(parts, state).await?;
        match ids.as_slice() {
            [id] => Ok(PathId(*id)),
            _ => Err(ApiError::internal(
                "PathId used on a route without exactly one parameter",
            )),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        uuids(parts, state).await.map(PathIds)
    }
}
