//! `/healthz` (the process is up) and `/readyz` (the database answers and is fully migrated).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::AppState;

pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
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
