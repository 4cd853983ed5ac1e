//! `/api/v2/folders`: Infisical's folder routes. Viewers list and read; members create, rename
//! and delete (a folder holding folders or secrets only with `forceDelete: true`). A narrowed
//! membership sees the folders inside its scope and those leading to it, and writes only inside.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::State;
use axum::extract::rejection::PathRejection;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::FolderId;
use store::folders::{self as db, Folder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, ProjectAccess, Role};
use crate::extract::{PathId, ValidJson, ValidQuery, is_json, parse_json};
use crate::problem::{ApiError, ApiResult, FieldError};

use super::{folder_at, project, validate};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderOut {
    id: Uuid,
    name: String,
    env_id: Uuid,
    environment: String,
    project_id: Uuid,
    /// The folder's own path (`/orders/api`).
    path: String,
    version: i64,
    parent_id: Option<Uuid>,
    is_reserved: bool,
    description: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl From<Folder> for FolderOut {
    fn from(f: Folder) -> Self {
        FolderOut {
            id: f.id.0,
            name: f.name,
            env_id: f.environment_id.0,
            environment: f.environment_slug,
            project_id: f.project_id.0,
            path: f.path,
            version: f.version,
            parent_id: f.parent_id.map(|p| p.0),
            is_reserved: false,
            description: f.description,
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    workspace_id: Option<String>,
    #[serde(default)]
    project_slug: Option<String>,
    #[serde(default)]
    workspace_slug: Option<String>,
    environment: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    directory: Option<String>,
    #[serde(default)]
    recursive: Option<String>,
    #[serde(default)]
    last_secret_modified: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FolderIn {
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    workspace_id: Option<String>,
    #[serde(default)]
    project_slug: Option<String>,
    #[serde(default)]
    workspace_slug: Option<String>,
    environment: String,
    name: String,
    /// The parent folder's path.
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    directory: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FolderPatch {
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    workspace_id: Option<String>,
    #[serde(default)]
    project_slug: Option<String>,
    #[serde(default)]
    workspace_slug: Option<String>,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    directory: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::nullable")]
    description: Option<Option<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FolderDelete {
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    workspace_id: Option<String>,
    #[serde(default)]
    project_slug: Option<String>,
    #[serde(default)]
    workspace_slug: Option<String>,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    directory: Option<String>,
    #[serde(default)]
    force_delete: Option<bool>,
}

fn not_found() -> ApiError {
    ApiError::NotFound {
        what: "folder",
        field: None,
    }
}

/// `projectId` or `workspaceId` (Infisical's older name); slugs are refused.
fn project_field(
    project_id: Option<&str>,
    workspace_id: Option<&str>,
    project_slug: Option<&str>,
    workspace_slug: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<store::ProjectId> {
    let (field, id) = match (project_id, workspace_id) {
        (Some(id), _) => ("projectId", Some(id)),
        (None, Some(id)) => ("workspaceId", Some(id)),
        (None, None) => ("projectId", None),
    };
    validate::project_id(
        field,
        id,
        &[
            ("projectSlug", project_slug),
            ("workspaceSlug", workspace_slug),
        ],
        errors,
    )
}

fn store_error(err: store::Error) -> ApiError {
    match err {
        store::Error::NotFound => not_found(),
        store::Error::Duplicate { .. } => ApiError::Conflict {
            detail: "a folder with this name already exists here".to_owned(),
            field: Some("name"),
        },
        other => other.into(),
    }
}

/// A folder by id the caller may see with `min` (404 otherwise, as for an unknown id): a narrowed
/// membership sees the folders inside its scope and those leading to it. Writes check `covers`.
async fn load(
    state: &AppState,
    caller: &Caller,
    id: FolderId,
    min: Role,
) -> ApiResult<(Folder, ProjectAccess)> {
    let folder = db::get(&state.db, id).await.map_err(store_error)?;
    let access = caller.require_secrets(folder.project_id, min, not_found())?;
    if !access.may_list(&folder.environment_slug, &folder.path) {
        return Err(not_found());
    }
    Ok((folder, access))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let mut errors = Vec::new();
    let project_id = project_field(
        query.project_id.as_deref(),
        query.workspace_id.as_deref(),
        query.project_slug.as_deref(),
        query.workspace_slug.as_deref(),
        &mut errors,
    );
    let path = validate::path(
        "path",
        query.path.as_deref().or(query.directory.as_deref()),
        &mut errors,
    );
    let recursive = validate::flag("recursive", query.recursive.as_deref(), false, &mut errors);
    validate::flag(
        "lastSecretModified",
        query.last_secret_modified.as_deref(),
        false,
        &mut errors,
    );
    let (Some(project_id), Some(path), true) = (project_id, path, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let access = project(&state, &caller, project_id, Role::Viewer, "projectId").await?;
    access.require_may_list(&query.environment, &path)?;
    let parent = folder_at(&state, project_id, &query.environment, &path, "path").await?;
    let mut conn = state.db.acquire().await?;
    // A narrowed membership sees the folders inside its scope and those leading to it.
    let folders: Vec<FolderOut> = db::list(&mut conn, &parent, recursive)
        .await?
        .into_iter()
        .filter(|f| access.may_list(&f.environment_slug, &f.path))
        .map(FolderOut::from)
        .collect();
    Ok(Json(json!({ "folders": folders })))
}

pub async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<serde_json::Value>> {
    let (folder, _) = load(&state, &caller, FolderId(id), Role::Viewer).await?;
    Ok(Json(json!({ "folder": FolderOut::from(folder) })))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: ValidJson<FolderIn>,
) -> ApiResult<Json<serde_json::Value>> {
    let input = body.value;
    let mut errors = Vec::new();
    let project_id = project_field(
        input.project_id.as_deref(),
        input.workspace_id.as_deref(),
        input.project_slug.as_deref(),
        input.workspace_slug.as_deref(),
        &mut errors,
    );
    validate::folder_name("name", &input.name, &mut errors);
    let path = validate::path(
        "path",
        input.path.as_deref().or(input.directory.as_deref()),
        &mut errors,
    );
    if let Some(d) = &input.description {
        validate::description("description", d, &mut errors);
    }
    if path
        .as_deref()
        .is_some_and(|p| p != "/" && p.matches('/').count() >= validate::PATH_DEPTH_MAX)
    {
        errors.push(FieldError::new(
            "path",
            "a folder here would be deeper than 16 levels",
        ));
    }
    let (Some(project_id), Some(path), true) = (project_id, path, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let access = project(&state, &caller, project_id, Role::Member, "projectId").await?;
    access.require_covers(&input.environment, &db::child_path(&path, &input.name))?;
    let parent = folder_at(&state, project_id, &input.environment, &path, "path").await?;
    let mut tx = state.db.begin().await?;
    let made = db::create(&mut tx, &parent, &input.name, input.description.as_deref())
        .await
        .map_err(store_error)?;
    store::audit::record(
        &mut tx,
        &caller.event(
            "folder.create",
            "folder",
            made.id,
            Some(project_id),
            json!({ "environment": made.environment_slug, "path": made.path }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "folder": FolderOut::from(made) })))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    body: ValidJson<FolderPatch>,
) -> ApiResult<Json<serde_json::Value>> {
    let patch = body.value;
    let mut errors = Vec::new();
    let named_project = match (
        &patch.project_id,
        &patch.workspace_id,
        &patch.project_slug,
        &patch.workspace_slug,
    ) {
        (None, None, None, None) => None,
        _ => project_field(
            patch.project_id.as_deref(),
            patch.workspace_id.as_deref(),
            patch.project_slug.as_deref(),
            patch.workspace_slug.as_deref(),
            &mut errors,
        ),
    };
    if let Some(name) = &patch.name {
        validate::folder_name("name", name, &mut errors);
    }
    let parent_path = match patch.path.as_deref().or(patch.directory.as_deref()) {
        Some(raw) => validate::path("path", Some(raw), &mut errors),
        None => None,
    };
    if let Some(Some(d)) = &patch.description {
        validate::description("description", d, &mut errors);
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (current, access) = load(&state, &caller, FolderId(id), Role::Member).await?;
    access.require_covers(&current.environment_slug, &current.path)?;
    // What the body says about where the folder is must match where it is.
    let elsewhere = named_project.is_some_and(|p| p != current.project_id)
        || patch
            .environment
            .as_deref()
            .is_some_and(|e| e != current.environment_slug);
    if elsewhere {
        return Err(not_found());
    }
    if current.parent_id.is_none() {
        return Err(ApiError::Conflict {
            detail: "the root folder cannot be changed".to_owned(),
            field: None,
        });
    }
    if let Some(parent_path) = parent_path {
        let actual = current
            .path
            .rsplit_once('/')
            .map(|(p, _)| if p.is_empty() { "/" } else { p })
            .unwrap_or("/");
        if parent_path != actual {
            return Err(not_found());
        }
    }
    if let Some(name) = &patch.name {
        let parent = current
            .path
            .rsplit_once('/')
            .map(|(p, _)| if p.is_empty() { "/" } else { p })
            .unwrap_or("/");
        // Renaming must not move a folder out of a narrowed membership's reach.
        access.require_covers(&current.environment_slug, &db::child_path(parent, name))?;
    }
    let mut tx = state.db.begin().await?;
    let updated = db::update(
        &mut tx,
        &current,
        patch.name.as_deref(),
        patch.description.as_ref().map(|d| d.as_deref()),
    )
    .await
    .map_err(store_error)?;
    store::audit::record(
        &mut tx,
        &caller.event(
            "folder.update",
            "folder",
            updated.id,
            Some(updated.project_id),
            json!({ "environment": updated.environment_slug, "path": updated.path, "previousPath": current.path }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "folder": FolderOut::from(updated) })))
}

/// `DELETE /api/v2/folders/{folderIdOrName}`: by id (the body is optional), or by name with
/// `projectId`, `environment` and the parent `path` in the body.
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    target: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let input: FolderDelete = if bytes.is_empty() {
        FolderDelete::default()
    } else if !is_json(headers.get(axum::http::header::CONTENT_TYPE)) {
        return Err(ApiError::UnsupportedMediaType);
    } else {
        parse_json(&bytes)?
    };
    let Ok(Path(target)) = target else {
        return Err(not_found());
    };
    let mut errors = Vec::new();
    let named_project = match (
        &input.project_id,
        &input.workspace_id,
        &input.project_slug,
        &input.workspace_slug,
    ) {
        (None, None, None, None) => None,
        _ => project_field(
            input.project_id.as_deref(),
            input.workspace_id.as_deref(),
            input.project_slug.as_deref(),
            input.workspace_slug.as_deref(),
            &mut errors,
        ),
    };
    let parent_path = validate::path(
        "path",
        input.path.as_deref().or(input.directory.as_deref()),
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let victim = match Uuid::parse_str(&target) {
        Ok(id) => {
            let (found, access) = load(&state, &caller, FolderId(id), Role::Member).await?;
            access.require_covers(&found.environment_slug, &found.path)?;
            if named_project.is_some_and(|p| p != found.project_id)
                || input
                    .environment
                    .as_deref()
                    .is_some_and(|e| e != found.environment_slug)
            {
                return Err(not_found());
            }
            found
        }
        Err(_) => {
            // By name: the body says where.
            let mut errors = Vec::new();
            if !validate::folder_name("folderIdOrName", &target, &mut errors) {
                return Err(not_found());
            }
            let Some(project_id) = named_project else {
                return Err(ApiError::field(
                    "projectId",
                    "is required to delete a folder by name",
                ));
            };
            let Some(env) = input.environment.as_deref() else {
                return Err(ApiError::field(
                    "environment",
                    "is required to delete a folder by name",
                ));
            };
            let access = project(&state, &caller, project_id, Role::Member, "projectId").await?;
            let path = db::child_path(parent_path.as_deref().unwrap_or("/"), &target);
            if path.matches('/').count() > validate::PATH_DEPTH_MAX {
                return Err(not_found());
            }
            access.require_covers(env, &path)?;
            folder_at(&state, project_id, env, &path, "folderIdOrName").await?
        }
    };
    if victim.parent_id.is_none() {
        return Err(ApiError::Conflict {
            detail: "the root folder cannot be deleted".to_owned(),
            field: None,
        });
    }
    let mut tx = state.db.begin().await?;
    if let Some(rotation) =
        store::rotations::mapping::owner_within(&mut tx, victim.environment_id, Some(&victim.path))
            .await?
    {
        return Err(super::managed_by(
            &rotation,
            "this folder holds secrets",
            None,
        ));
    }
    let (folders, secrets) = db::contents(&mut tx, &victim).await?;
    if (folders > 0 || secrets > 0) && input.force_delete != Some(true) {
        return Err(ApiError::Conflict {
            detail: format!(
                "the folder holds {folders} folder(s) and {secrets} secret(s); send \"forceDelete\": true to delete them with it"
            ),
            field: Some("forceDelete"),
        });
    }
    db::delete(
        &mut tx,
        victim.id,
        &store::secrets::Writer::Member(caller.identity_id.0),
    )
    .await
    .map_err(store_error)?;
    store::audit::record(
        &mut tx,
        &caller.event(
            "folder.delete",
            "folder",
            victim.id,
            Some(victim.project_id),
            json!({
                "environment": victim.environment_slug,
                "path": victim.path,
                "foldersDeleted": folders,
                "secretsDeleted": secrets,
            }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "folder": FolderOut::from(victim) })))
}
