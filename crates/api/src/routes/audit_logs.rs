//! `GET /api/v1/audit-logs`: a project's audit events for its admins, newest first, keyset-paged.
//! Without `projectId`, instance admins get the whole organisation (logins included).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::ProjectId;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::ValidQuery;
use crate::problem::{ApiError, ApiResult};
use crate::routes::page_request;
use crate::routes::table::Routes;

pub fn routes() -> Routes {
    Routes::default().get("/api/v1/audit-logs", list)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AuditQuery {
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    resource_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventOut {
    id: Uuid,
    project_id: Option<Uuid>,
    actor: serde_json::Value,
    action: String,
    resource: serde_json::Value,
    outcome: String,
    request_id: Option<String>,
    source_ip: Option<String>,
    metadata: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl From<store::audit::Event> for EventOut {
    fn from(e: store::audit::Event) -> Self {
        EventOut {
            id: e.id,
            project_id: e.project_id,
            actor: json!({ "id": e.actor_id, "type": e.actor_kind }),
            action: e.action,
            resource: json!({ "type": e.resource_type, "id": e.resource_id }),
            outcome: e.outcome,
            request_id: e.request_id,
            source_ip: e.source_ip,
            metadata: e.metadata,
            created_at: e.created_at,
        }
    }
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ValidQuery(query): ValidQuery<AuditQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let scope = match query.project_id.as_deref() {
        Some(raw) => {
            let project = Uuid::parse_str(raw.trim())
                .map(ProjectId)
                .map_err(|_| ApiError::field("projectId", "must be a UUID"))?;
            caller
                .require_project(
                    &state.db,
                    project,
                    Role::Admin,
                    ApiError::NotFound {
                        what: "project",
                        field: Some("projectId"),
                    },
                )
                .await?;
            store::audit::Scope::Project(project)
        }
        None if caller.is_instance_admin => store::audit::Scope::Org(caller.org_id),
        None => {
            return Err(ApiError::field(
                "projectId",
                "is required unless you are an instance admin",
            ));
        }
    };
    let filter = store::audit::Filter {
        action: text_filter("action", query.action.as_deref())?,
        resource_id: text_filter("resourceId", query.resource_id.as_deref())?,
    };
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let (events, next) = store::audit::list(&state.db, scope, &filter, &page).await?;
    let items: Vec<EventOut> = events.into_iter().map(EventOut::from).collect();
    let next = next.map(|id| {
        store::page::Cursor {
            name: String::new(),
            id,
        }
        .encode()
    });
    Ok(Json(json!({ "auditLogs": items, "nextCursor": next })))
}

/// An optional exact-match filter: blank means none; Postgres errors on NUL instead of matching
/// nothing, so control characters are refused.
fn text_filter<'a>(field: &'static str, raw: Option<&'a str>) -> ApiResult<Option<&'a str>> {
    let value = raw.map(str::trim).filter(|v| !v.is_empty());
    if value.is_some_and(|v| v.len() > 64 || v.chars().any(char::is_control)) {
        return Err(ApiError::field(
            field,
            "must be at most 64 characters without control characters",
        ));
    }
    Ok(value)
}
