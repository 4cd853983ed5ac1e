//! `Idempotency-Key` for creates: the first request reserves the key before doing any work; a repeat
//! with the same body gets the first answer back (`Idempotent-Replayed: true`) and does nothing.

use std::future::Future;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use store::idempotency::{self, Reservation};

use crate::AppState;
use crate::problem::{ApiError, ApiResult};

pub const HEADER: &str = "idempotency-key";

/// The header's value, if sent: 1-255 visible ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(HEADER) else {
            return Ok(IdempotencyKey(None));
        };
        match value.to_str() {
            Ok(key)
                if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(IdempotencyKey(Some(key.to_owned())))
            }
            _ => Err(ApiError::BadRequest {
                detail: "Idempotency-Key must be 1 to 255 visible ASCII characters".to_owned(),
                field: None,
            }),
        }
    }
}

/// Runs `work` at most once per key within `scope` (the route, and later the caller's identity).
/// `render` turns the stored answer into the response, the same way for the first answer and replays.
pub async fn once<F, Fut>(
    state: &AppState,
    key: IdempotencyKey,
    scope: &str,
    request_hash: &[u8; 32],
    render: fn(StatusCode, serde_json::Value) -> Response,
    work: F,
) -> ApiResult<Response>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<(StatusCode, serde_json::Value)>>,
{
    let Some(key) = key.0 else {
        let (status, body) = work().await?;
        return Ok(render(status, body));
    };
    match idempotency::reserve(&state.db, scope, &key, request_hash).await? {
        Reservation::Reserved => {}
        Reservation::Replay { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = render(status, body);
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(response);
        }
        Reservation::InProgress => {
            return Err(ApiError::Conflict {
                detail: "a request with this Idempotency-Key is still in progress; retry shortly"
                    .to_owned(),
                field: None,
            });
        }
        Reservation::Mismatch => {
            return Err(ApiError::BadRequest {
                detail: "this Idempotency-Key was already used for a different request".to_owned(),
                field: None,
            });
        }
    }
    match work().await {
        Ok((status, body)) => {
            idempotency::complete(&state.db, scope, &key, status.as_u16(), &body).await?;
            Ok(render(status, body))
        }
        Err(err) => {
            // Failures are not replayed: the client may fix the request and retry with the same key.
            if let Err(release_err) = idempotency::release(&state.db, scope, &key).await {
                tracing::warn!(%release_err, "could not release an idempotency key after a failure");
            }
            Err(err)
        }
    }
}
