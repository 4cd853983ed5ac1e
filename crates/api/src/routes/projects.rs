//! `/api/v1/projects`: the projects connections belong to.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::extract::{PathId, ValidJson, ValidQuery};
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::routes::{PageQuery, page_request};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/projects", get(list).post(create))
        .route("/api/v1/projects/{projectId}", get(fetch))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectIn {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectOut {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<store::projects::Project> for ProjectOut {
    fn from(p: store::projects::Project) -> Self {
        ProjectOut {
            id: p.id.0,
            org_id: p.org_id.0,
            name: p.name,
            description: p.description,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

async fn create(
    State(state): State<AppState>,
    body: ValidJson<ProjectIn>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let input = body.value;
    let name = input.name.trim();
    let mut errors = Vec::new();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "must be 1 to 64 characters without control characters",
        ));
    }
    let description = input.description.as_deref().map(str::trim);
    if description.is_some_and(|d| d.chars().count() > 256) {
        errors.push(FieldError::new(
            "description",
            "must be at most 256 characters",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let new = store::projects::NewProject {
        org_id: state.org_id,
        name,
        description,
    };
    let project = store::projects::create(&state.db, &new)
        .await
        .map_err(|err| match err {
            store::Error::Duplicate { .. } => ApiError::Conflict {
                detail: format!("a project named \"{name}\" already exists"),
                field: Some("name"),
            },
            other => other.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "project": ProjectOut::from(project) })),
    ))
}

async fn fetch(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> ApiResult<Json<serde_json::Value>> {
    let project = store::projects::get(&state.db, state.org_id, store::ProjectId(id))
        .await
        .map_err(|err| match err {
            store::Error::NotFound => ApiError::NotFound {
                what: "project",
                field: None,
            },
            other => other.into(),
        })?;
    Ok(Json(
        serde_json::json!({ "project": ProjectOut::from(project) }),
    ))
}

async fn list(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let page = store::projects::list(&state.db, state.org_id, &page).await?;
    let projects: Vec<ProjectOut> = page.items.into_iter().map(ProjectOut::from).collect();
    Ok(Json(serde_json::json!({
        "projects": projects,
        "nextCursor": page.next.map(|c| c.encode()),
    })))
}
