//! Path ids: a malformed UUID is a validation error naming the parameter.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use uuid::Uuid;

use crate::problem::ApiError;

/// The single `{id}`-style UUID segment of a route.
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NoRoute)?;
        Uuid::parse_str(&raw)
            .map(PathId)
            .map_err(|_| ApiError::field("id", "must be a UUID"))
    }
}
