//! `/healthz` (the process is up) and `/readyz` (the process takes new work: it is not draining,
//! the database answers and is fully migrated).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::AppState;

pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Whether the process is shutting down. Once set, `/readyz` answers 503 `draining` while
/// every other route keeps serving: a load balancer stops sending new requests during the drain
/// period, before the listener closes (see `keyhold serve`'s `KEYHOLD_SHUTDOWN_DRAIN_SECS`).
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.draining.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "draining",
                "detail": "this process is shutting down and takes no new work",
            })),
        );
    }
    match store::readiness::check(&state.db).await {
        Ok(store::readiness::Readiness::Ready) => {
            (StatusCode::OK, Json(json!({ "status": "ready" })))
        }
        Ok(store::readiness::Readiness::MigrationsBehind { applied, expected }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "migrations-behind",
                "detail": format!("database is at migration {applied}, this build needs {expected}: run `keyhold migrate`"),
            })),
        ),
        Err(err) => {
            tracing::warn!(%err, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "database-unreachable" })),
            )
        }
    }
}
