//! `GET /api/v1/audit-logs`: a project's audit events for its admins, newest first, keyset-paged.
//! Without `projectId`, instance admins get the whole organisation (logins included).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use store::ProjectId;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
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
    #[serde(default)]
    resource_type: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
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
        // Well-formed, but the whole organisation's log is not this caller's to read: 403.
        None => {
            return Err(ApiError::Forbidden {
                detail: "only instance admins read the whole organisation's audit log; name a \
                         project you administer with projectId"
                    .to_owned(),
            });
        }
    };
    let since = instant("since", query.since.as_deref())?;
    let until = instant("until", query.until.as_deref())?;
    if let (Some(since), Some(until)) = (since, until)
        && since > until
    {
        return Err(ApiError::field("until", "must not be before since"));
    }
    let filter = store::audit::Filter {
        action: text_filter("action", query.action.as_deref())?,
        resource_id: text_filter("resourceId", query.resource_id.as_deref())?,
        resource_type: text_filter("resourceType", query.resource_type.as_deref())?,
        since,
        until,
    };
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let (events, next) = store::audit::list(&state.db, scope, &filter, &page).await?;
    let items: Vec<serde_json::Value> = events.iter().map(store::audit::Event::to_json).collect();
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
    if value.is_some_and(|v| v.chars().count() > 64 || v.chars().any(char::is_control)) {
        return Err(ApiError::field(
            field,
            "must be at most 64 characters without control characters",
        ));
    }
    Ok(value)
}

/// An optional RFC 3339 instant (`2026-12-06T00:00:00Z`); blank means none. The message never
/// repeats what was sent.
fn instant(field: &'static str, raw: Option<&str>) -> ApiResult<Option<OffsetDateTime>> {
    // Strict, as the document's `date-time` format: an empty or padded value is refused, not
    // taken as "no bound" (the dashboard leaves an unset bound out).
    let Some(value) = raw else {
        return Ok(None);
    };
    if value.is_empty() || value.len() > 64 {
        return Err(ApiError::field(field, "must be an RFC 3339 date-time"));
    }
    OffsetDateTime::parse(value, &Rfc3339)
        .map(Some)
        .map_err(|_| {
            ApiError::field(
                field,
                "must be an RFC 3339 date-time with a zone, e.g. 2026-12-06T00:00:00Z",
            )
        })
}
