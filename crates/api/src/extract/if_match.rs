//! `If-Match` on a resource's `version`: `"3"`, `3` or `*`. A malformed header is a 400, not ignored,
//! because ignoring it would silently drop the client's concurrency guard.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::problem::ApiError;

pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let bad = || ApiError::BadRequest {
            detail: "If-Match must be the resource's version as an ETag, e.g. \"3\"".to_owned(),
            field: None,
        };
        let text = value.to_str().map_err(|_| bad())?.trim();
        if text == "*" {
            return Ok(IfMatch(None));
        }
        let unquoted = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(text);
        let version = unquoted.parse::<i64>().map_err(|_| bad())?;
        if version < 1 {
            return Err(bad());
        }
        Ok(IfMatch(Some(version)))
    }
}

/// The ETag for a version, as `If-Match` expects it back.
pub fn etag(version: i64) -> header::HeaderValue {
    header::HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or(header::HeaderValue::from_static("\"0\""))
}
