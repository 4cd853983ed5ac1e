//! `If-Match` on a resource's `version`: `"3"`, `3` or `*`. A malformed header is a 400, not ignored,
//! because ignoring it would silently drop the client's concurrency guard. Of what RFC 9110 allows,
//! two forms are refused with their own reason: a weak tag (`W/"3"`), which If-Match's strong
//! comparison never matches, and a list of tags, since a change is made against the one version
//! the client read.

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
        if text.starts_with("W/") {
            return Err(ApiError::BadRequest {
                detail: "If-Match with a weak entity tag (W/...) never matches: If-Match compares \
                         strongly (RFC 9110); send the ETag as it was returned, e.g. \"3\""
                    .to_owned(),
                field: None,
            });
        }
        if text.contains(',') {
            return Err(ApiError::BadRequest {
                detail: "If-Match lists several entity tags; send the one ETag of the version \
                         you read, e.g. \"3\", or * for any"
                    .to_owned(),
                field: None,
            });
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
