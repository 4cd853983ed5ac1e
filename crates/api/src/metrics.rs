//! Prometheus metrics: request counts and latency by route template and status (never the raw path,
//! which may hold ids or a pasted secret), plus gauges and the Auth0 token cache's counters sampled
//! when `/metrics` is scraped. The recorder is process-wide; `install` is idempotent so tests and the
//! binary can both call it.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::AppState;

/// The process-wide recorder's handle, installed on first use.
pub fn install() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => {
                keep_up(handle.clone());
                Some(handle)
            }
            Err(err) => {
                tracing::warn!(%err, "metrics recorder not installed");
                None
            }
        })
        .clone()
}

/// How often recorded latencies are folded into their summaries when nobody scrapes `/metrics`.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// A recorder installed with `install_recorder` keeps every latency sample until its summaries are
/// next rendered or kept up: without a scraper that is 8 bytes per request for the life of the
/// process (at 20,000 requests/s, 10 MB a minute). A thread of its own, not a task: the recorder
/// outlives any one runtime (tests start many).
fn keep_up(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(%err, "metrics upkeep not started: latency samples grow until scraped");
    }
}

/// Middleware (inside routing, so the matched route template is known). Every label comes from a
/// closed set: anyone may send any method or path, and each distinct label set is a series kept in
/// memory for the life of the process.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |m| m.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status),
    ];
    metrics::counter!("keyhold_http_requests_total", &labels).increment(1);
    metrics::histogram!("keyhold_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The `route` label of requests no route matched (the raw path is never a label).
pub const UNMATCHED: &str = "unmatched";

/// The `method` label: the methods of RFC 9110 and PATCH by name, any other (extension methods,
/// made-up tokens of any length) as `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render(State(state): State<AppState>) -> Response {
    let Some(handle) = install() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are not enabled in this process",
        )
            .into_response();
    };
    let pool = &state.db;
    metrics::gauge!("keyhold_db_pool_connections").set(f64::from(pool.size()));
    metrics::gauge!("keyhold_db_pool_idle_connections").set(pool.num_idle() as f64);
    metrics::gauge!("keyhold_db_pool_max_connections")
        .set(f64::from(pool.options().get_max_connections()));
    // Auth0 limits and bills M2M tokens, so how often the broker reuses one is worth watching.
    let tokens = &state.broker.tokens;
    metrics::counter!("keyhold_auth0_token_cache_hits_total").absolute(tokens.hits());
    metrics::counter!("keyhold_auth0_token_cache_misses_total").absolute(tokens.misses());
    metrics::gauge!("keyhold_auth0_token_cache_entries").set(tokens.len() as f64);
    sample_rotation_lag(pool).await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// Rotation lag: how long the oldest due rotation has been waiting (0 when none is overdue).
/// Sampled at scrape time by the API and by `keyhold worker`'s metrics listener.
pub async fn sample_rotation_lag(pool: &store::PgPool) {
    match store::rotations::oldest_overdue_secs(pool).await {
        Ok(lag) => metrics::gauge!("keyhold_rotation_lag_seconds").set(lag),
        Err(err) => tracing::warn!(%err, "rotation lag not measured"),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    #[test]
    fn method_labels_are_a_closed_set() {
        assert_eq!(super::method_label(&Method::PATCH), "PATCH");
        for raw in ["get", "FOO", "X".repeat(2048).as_str(), "PROPFIND"] {
            let method = Method::from_bytes(raw.as_bytes()).expect("token");
            assert_eq!(super::method_label(&method), "other", "{raw:.20}");
        }
    }
}
