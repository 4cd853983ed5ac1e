//! A rotation's runs: "rotate now" (one store update that queues an attempt and wakes the workers
//! with `NOTIFY`) and the attempts the worker made, newest first.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::RotationId;
use store::rotations::{self as db, RotateNow};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{RouteKind, in_progress, load, one};
use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::{PathId, ValidQuery};
use crate::problem::{ApiError, ApiResult};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptOut {
    pub id: Uuid,
    pub attempt_number: i32,
    pub is_manual: bool,
    /// The last step known done: created, set, tested, (key rotations) published, finished.
    pub step: &'static str,
    /// running, retrying, succeeded, failed.
    pub outcome: String,
    pub tries: i32,
    pub failures: i32,
    pub message: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub duration_ms: Option<i64>,
}

impl From<store::rotations::Attempt> for AttemptOut {
    fn from(a: store::rotations::Attempt) -> Self {
        AttemptOut {
            id: a.id.0,
            attempt_number: a.attempt_no,
            is_manual: a.is_manual,
            step: a.step.as_str(),
            outcome: a.outcome,
            tries: a.tries,
            failures: a.failures,
            message: a.message,
            started_at: a.started_at,
            finished_at: a.finished_at,
            duration_ms: a
                .finished_at
                .map(|f| (f - a.started_at).whole_milliseconds() as i64),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttemptsQuery {
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

pub(super) async fn rotate_now(
    State(state): State<AppState>,
    caller: Caller,
    kind: RouteKind,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let id = RotationId(id);
    let current = load(&state, &caller, id, Role::Member, kind).await?;
    let mut tx = state.db.begin().await?;
    let queued = match store::rotations::control::rotate_now(&mut tx, caller.org_id, id).await? {
        RotateNow::Queued(rotation) => rotation,
        RotateNow::InProgress(_) => return Err(in_progress()),
    };
    store::audit::record(
        &mut tx,
        &caller.event(
            "secret_rotation.rotate",
            "secret_rotation",
            id,
            Some(current.project_id),
            json!({ "manual": true }),
        ),
    )
    .await?;
    tx.commit().await?;
    one(&state, StatusCode::OK, queued).await
}

pub(super) async fn attempts(
    State(state): State<AppState>,
    caller: Caller,
    kind: RouteKind,
    PathId(id): PathId,
    ValidQuery(query): ValidQuery<AttemptsQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = RotationId(id);
    load(&state, &caller, id, Role::Viewer, kind).await?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 500"));
    }
    let before = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            raw.parse::<i32>()
                .map_err(|_| ApiError::field("cursor", "is not a cursor this server issued"))?,
        ),
    };
    let (rows, next) = db::list_attempts(&state.db, id, limit, before).await?;
    let items: Vec<AttemptOut> = rows.into_iter().map(AttemptOut::from).collect();
    Ok(Json(
        json!({ "attempts": items, "nextCursor": next.map(|n| n.to_string()) }),
    ))
}
