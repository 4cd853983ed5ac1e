//! `/api/v1/workspace/{workspaceId}/environments[/{envId}]`: Infisical's environment routes.
//! Viewers list and read; project admins create, rename, reorder and delete (deleting an
//! environment deletes its folders and secrets).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::environments::{self as db, Environment};
use store::{EnvironmentId, ProjectId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::{PathIds, ValidJson};
use crate::problem::{ApiError, ApiResult};

use super::{project, validate};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentOut {
    id: Uuid,
    name: String,
    slug: String,
    position: i32,
    project_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl From<Environment> for EnvironmentOut {
    fn from(e: Environment) -> Self {
        EnvironmentOut {
            id: e.id.0,
            name: e.name,
            slug: e.slug,
            position: e.position,
            project_id: e.project_id.0,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentIn {
    name: String,
    slug: String,
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    position: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentPatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    slug: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    position: Option<i32>,
}

fn not_found() -> ApiError {
    ApiError::NotFound {
        what: "environment",
        field: None,
    }
}

fn store_error(err: store::Error) -> ApiError {
    match err {
        store::Error::NotFound => not_found(),
        store::Error::Duplicate { .. } => ApiError::Conflict {
            detail: "an environment with this slug already exists in the project".to_owned(),
            field: Some("slug"),
        },
        other => other.into(),
    }
}

/// `{workspaceId}` and, when present, `{envId}`.
fn ids(PathIds(ids): PathIds) -> ApiResult<(ProjectId, Option<EnvironmentId>)> {
    match ids.as_slice() {
        [project] => Ok((ProjectId(*project), None)),
        [project, env] => Ok((ProjectId(*project), Some(EnvironmentId(*env)))),
        _ => Err(ApiError::internal(
            "unexpected environment route parameters",
        )),
    }
}

fn position(position: Option<i32>, errors: &mut Vec<crate::problem::FieldError>) {
    if position.is_some_and(|p| p < 1) {
        errors.push(crate::problem::FieldError::new(
            "position",
            "must be at least 1",
        ));
    }
}

/// Managing environments needs a project admin with the whole project: a narrowed membership
/// (never an admin) reaches only its own secrets.
async fn manager(state: &AppState, caller: &Caller, project_id: ProjectId) -> ApiResult<()> {
    caller
        .require_project(
            &state.db,
            project_id,
            Role::Admin,
            super::project_not_found("workspaceId"),
        )
        .await?;
    Ok(())
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    path: PathIds,
) -> ApiResult<Json<serde_json::Value>> {
    let (project_id, _) = ids(path)?;
    let access = project(&state, &caller, project_id, Role::Viewer, "workspaceId").await?;
    // A narrowed membership sees only the environments it reaches.
    let environments: Vec<EnvironmentOut> = db::list(&state.db, project_id)
        .await?
        .into_iter()
        .filter(|e| access.environment(&e.slug))
        .map(EnvironmentOut::from)
        .collect();
    Ok(Json(json!({ "environments": environments })))
}

pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    path: PathIds,
) -> ApiResult<Json<serde_json::Value>> {
    let (project_id, Some(id)) = ids(path)? else {
        return Err(not_found());
    };
    let access = project(&state, &caller, project_id, Role::Viewer, "workspaceId").await?;
    let environment = db::get(&state.db, project_id, id)
        .await
        .map_err(store_error)?;
    // One outside a narrowed membership is as unknown as one that does not exist.
    if !access.environment(&environment.slug) {
        return Err(not_found());
    }
    Ok(Json(
        json!({ "environment": EnvironmentOut::from(environment) }),
    ))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    path: PathIds,
    body: ValidJson<EnvironmentIn>,
) -> ApiResult<Json<serde_json::Value>> {
    let (project_id, _) = ids(path)?;
    let input = body.value;
    let mut errors = Vec::new();
    validate::display_name("name", &input.name, &mut errors);
    validate::slug("slug", &input.slug, &mut errors);
    position(input.position, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    manager(&state, &caller, project_id).await?;
    let mut tx = state.db.begin().await?;
    let environment = db::create(
        &mut tx,
        project_id,
        &input.slug,
        input.name.trim(),
        input.position,
    )
    .await
    .map_err(store_error)?;
    store::audit::record(
        &mut tx,
        &caller.event(
            "environment.create",
            "environment",
            environment.id,
            Some(project_id),
            json!({ "slug": environment.slug, "name": environment.name }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(answer("Successfully created environment", environment))
}

fn answer(message: &str, environment: Environment) -> Json<serde_json::Value> {
    Json(json!({
        "message": message,
        "workspace": environment.project_id.0,
        "environment": EnvironmentOut::from(environment),
    }))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    path: PathIds,
    body: ValidJson<EnvironmentPatch>,
) -> ApiResult<Json<serde_json::Value>> {
    let (project_id, Some(id)) = ids(path)? else {
        return Err(not_found());
    };
    let patch = body.value;
    let mut errors = Vec::new();
    if let Some(name) = &patch.name {
        validate::display_name("name", name, &mut errors);
    }
    if let Some(slug) = &patch.slug {
        validate::slug("slug", slug, &mut errors);
    }
    position(patch.position, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    manager(&state, &caller, project_id).await?;
    let change = db::Change {
        slug: patch.slug.as_deref(),
        name: patch.name.as_deref().map(str::trim),
        position: patch.position,
    };
    let mut tx = state.db.begin().await?;
    let environment = db::update(&mut tx, project_id, id, &change)
        .await
        .map_err(store_error)?;
    store::audit::record(
        &mut tx,
        &caller.event(
            "environment.update",
            "environment",
            id,
            Some(project_id),
            json!({ "slug": environment.slug, "name": environment.name, "position": environment.position }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(answer("Successfully updated environment", environment))
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    path: PathIds,
) -> ApiResult<Json<serde_json::Value>> {
    let (project_id, Some(id)) = ids(path)? else {
        return Err(not_found());
    };
    manager(&state, &caller, project_id).await?;
    // Of this project (404 otherwise) before anything about what it holds is said.
    db::get(&state.db, project_id, id)
        .await
        .map_err(store_error)?;
    let mut tx = state.db.begin().await?;
    if let Some(rotation) = store::rotations::mapping::owner_within(&mut tx, id, None).await? {
        return Err(super::managed_by(
            &rotation,
            "this environment holds secrets",
            None,
        ));
    }
    let by = store::secrets::Writer::Member(caller.identity_id.0);
    let (environment, secrets) = db::delete(&mut tx, project_id, id, &by)
        .await
        .map_err(store_error)?;
    store::audit::record(
        &mut tx,
        &caller.event(
            "environment.delete",
            "environment",
            id,
            Some(project_id),
            json!({ "slug": environment.slug, "secretsDeleted": secrets }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(answer("Successfully deleted environment", environment))
}
