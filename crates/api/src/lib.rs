//! Keyhold's HTTP API: axum routers per resource, shared extractors, and the one error-to-problem
//! mapping. `app(state)` is the whole service; the binary and the tests both use it as-is.

pub mod auth;
mod body_deadline;
pub mod extract;
mod grouped;
mod idempotency;
pub mod metrics;
pub mod problem;
pub mod routes;
mod state;
pub mod text;
pub mod ui;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request, header};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use body_deadline::DEFAULT_BODY_READ_TIMEOUT;
pub use state::{AppState, DEFAULT_PACING_MAX_WAIT};

/// JSON bodies are small (a connection is well under 4 KiB); anything larger is refused with 413
/// before it is buffered.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longer than the Auth0 client's own timeouts and retries, so those answer first with a clear error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Headers every API response carries: nothing is cached, framed, sniffed or given a referrer, and no
/// content may load. No CORS headers are sent, so browsers keep other origins out.
async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ] {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}

/// The longest client `x-request-id` that is kept as the request's id.
pub const MAX_CLIENT_REQUEST_ID: usize = 128;

/// A client's `x-request-id` is repeated in the response, problem bodies, log lines and audit rows,
/// so only one short visible-ASCII value is kept; anything else (1 KiB, spaces, tabs, bytes that are
/// not UTF-8, a repeated header) is dropped here and `SetRequestIdLayer` generates a UUID instead.
async fn sanitize_request_id(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut values = request.headers().get_all(REQUEST_ID_HEADER).iter();
    let keep = match (values.next(), values.next()) {
        (None, _) => true,
        (Some(value), None) => {
            let bytes = value.as_bytes();
            (1..=MAX_CLIENT_REQUEST_ID).contains(&bytes.len())
                && bytes.iter().all(u8::is_ascii_graphic)
        }
        (Some(_), Some(_)) => false,
    };
    if !keep {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    next.run(request).await
}

/// (method, path template) of every route `app` serves.
pub fn route_table() -> Vec<(axum::http::Method, &'static str)> {
    routes::all().into_parts().1
}

pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let (router, _) = routes::all().into_parts();
    let body_read_timeout = state.body_read_timeout;
    // The dashboard is not part of the API's route table (nor of openapi.yaml): static files, public.
    router
        .merge(ui::routes())
        .fallback(|| async { problem::ApiError::NoRoute })
        // After the fallback, so unmatched requests are counted too (as route `unmatched`).
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            body_read_timeout,
            body_deadline::body_deadline,
        ))
        // Inside `finish`, so a timed-out request still gets a problem body.
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::from_fn(problem::finish))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req
                .headers()
                .get(REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("http", method = %req.method(), path = %loggable_path(req.uri().path()), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        // Outermost, so every layer above only ever sees an id that is safe to repeat.
        .layer(axum::middleware::from_fn(sanitize_request_id))
}

/// The literal segments of our routes. Anything else in a logged path is an id or a name.
const ROUTE_WORDS: &[&str] = &[
    "",
    "api",
    "v1",
    "v2",
    "app-connections",
    "auth0",
    "connection-name",
    "options",
    "projects",
    "healthz",
    "readyz",
    "metrics",
    "auth",
    "universal-auth",
    "login",
    "token",
    "revoke",
    "identities",
    "client-secret",
    "memberships",
    "audit-logs",
    "clients",
    "users",
    "validate",
    "token-vault",
    "refresh-token-exchange",
    "access-token-exchange",
    "ui",
    "webhooks",
    "rotate-secret",
    "test",
    "deliveries",
    "redeliver",
];

/// The request path as logs may show it: route words and UUIDs are kept, any other segment is
/// replaced, because a client that pastes a secret into a URL must not get it written to our logs.
/// The query string is never logged.
pub fn loggable_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if ROUTE_WORDS.contains(&segment) || uuid::Uuid::parse_str(segment).is_ok() {
                segment
            } else {
                "{redacted}"
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    #[test]
    fn loggable_paths_keep_ids_and_words_only() {
        let id = "0192f6a0-0000-7000-8000-000000000000";
        assert_eq!(
            super::loggable_path(&format!("/api/v1/app-connections/auth0/{id}")),
            format!("/api/v1/app-connections/auth0/{id}")
        );
        assert_eq!(
            super::loggable_path("/api/v1/app-connections/auth0/S3cr3tValue"),
            "/api/v1/app-connections/auth0/{redacted}"
        );
        assert_eq!(
            super::loggable_path("/api/v1/app-connections/auth0/connection-name/billing"),
            "/api/v1/app-connections/auth0/connection-name/{redacted}"
        );
        // A user id names a person: only the route words around it are logged.
        assert_eq!(
            super::loggable_path(&format!(
                "/api/v1/app-connections/auth0/{id}/users/auth0|abc"
            )),
            format!("/api/v1/app-connections/auth0/{id}/users/{{redacted}}")
        );
    }
}
