//! `/api/v1/projects`: the projects connections belong to. Any identity may create one and becomes
//! its admin; lists and reads show only projects the caller is a member of.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::{PathId, ValidJson, ValidQuery};
use crate::problem::{ApiError, ApiResult};
use crate::routes::fields;
use crate::routes::table::Routes;
use crate::routes::unique::Unique;
use crate::routes::{PageQuery, page_request};

pub fn routes() -> Routes {
    Routes::default()
        .get("/api/v1/projects", list)
        .post("/api/v1/projects", create)
        .get("/api/v1/projects/{projectId}", fetch)
        .patch("/api/v1/projects/{projectId}", update)
        .delete("/api/v1/projects/{projectId}", remove)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectIn {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// A rename: what is present changes; `description: null` clears it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectPatch {
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::nullable")]
    pub description: Option<Option<String>>,
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
    /// The caller's role here, so a client (the dashboard) can offer only what it may do.
    pub role: &'static str,
}

impl ProjectOut {
    fn new(p: store::projects::Project, role: Role) -> Self {
        ProjectOut {
            id: p.id.0,
            org_id: p.org_id.0,
            name: p.name,
            description: p.description,
            created_at: p.created_at,
            updated_at: p.updated_at,
            role: role.as_str(),
        }
    }
}

const NAME_MAX: usize = 64;

const NAME_TAKEN: Unique = Unique {
    constraint: "projects_org_name_key",
    field: "name",
    taken: "a project with this name already exists",
};

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: ValidJson<ProjectIn>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let input = body.value;
    let mut errors = Vec::new();
    let name = fields::display_name(&input.name, NAME_MAX, &mut errors);
    let description = fields::description(input.description.as_deref(), &mut errors);
    let (Some(name), true) = (name, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let new = store::projects::NewProject {
        org_id: caller.org_id,
        name: &name,
        description: description.as_deref(),
    };
    let mut tx = state.db.begin().await?;
    let project = store::projects::create(&mut tx, &new)
        .await
        .map_err(|err| NAME_TAKEN.or(err, ApiError::from))?;
    // The creator administers what they created.
    store::memberships::insert(
        &mut tx,
        project.id,
        caller.identity_id,
        Role::Admin.as_str(),
    )
    .await?;
    let event = caller.event(
        "project.create",
        "project",
        project.id,
        Some(project.id),
        json!({ "name": name }),
    );
    store::audit::record(&mut tx, &event).await?;
    tx.commit().await?;
    // The creator's cached memberships lack the new project.
    state.tokens.forget_all();
    Ok((
        StatusCode::CREATED,
        Json(json!({ "project": ProjectOut::new(project, Role::Admin) })),
    ))
}

async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<serde_json::Value>> {
    let id = store::ProjectId(id);
    let not_found = || ApiError::NotFound {
        what: "project",
        field: None,
    };
    let role = caller
        .require_project(&state.db, id, Role::Viewer, not_found())
        .await?;
    let project = store::projects::get(&state.db, caller.org_id, id)
        .await
        .map_err(|err| match err {
            store::Error::NotFound => not_found(),
            other => other.into(),
        })?;
    Ok(Json(json!({ "project": ProjectOut::new(project, role) })))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let visible = caller.visible_projects();
    let page = store::projects::list(&state.db, caller.org_id, visible.as_deref(), &page).await?;
    let projects: Vec<ProjectOut> = page
        .items
        .into_iter()
        .map(|p| {
            // Listed projects are the caller's (or all, for an instance admin).
            let role = caller.role_in(p.id).unwrap_or(Role::Viewer);
            ProjectOut::new(p, role)
        })
        .collect();
    Ok(Json(
        json!({ "projects": projects, "nextCursor": page.next.map(|c| c.encode()) }),
    ))
}

fn not_found() -> ApiError {
    ApiError::NotFound {
        what: "project",
        field: None,
    }
}

fn store_error(err: store::Error) -> ApiError {
    match err {
        store::Error::NotFound => not_found(),
        other => other.into(),
    }
}

/// Renames a project or changes its description (project admins).
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    body: ValidJson<ProjectPatch>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = store::ProjectId(id);
    let role = caller
        .require_project(&state.db, id, Role::Admin, not_found())
        .await?;
    let patch = body.value;
    let mut errors = Vec::new();
    let name = patch
        .name
        .as_deref()
        .and_then(|n| fields::display_name(n, NAME_MAX, &mut errors));
    let description = patch
        .description
        .as_ref()
        .map(|d| fields::description(d.as_deref(), &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let change = store::projects::Change {
        name: name.as_deref(),
        // A blank description is no description.
        description: description
            .as_ref()
            .map(|d| d.as_deref().filter(|d| !d.is_empty())),
    };
    let mut tx = state.db.begin().await?;
    let project = store::projects::update(&mut tx, caller.org_id, id, &change)
        .await
        .map_err(|err| NAME_TAKEN.or(err, store_error))?;
    let event = caller.event(
        "project.update",
        "project",
        project.id,
        Some(project.id),
        json!({ "name": project.name, "renamed": name.is_some(), "describedAgain": description.is_some() }),
    );
    store::audit::record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(Json(json!({ "project": ProjectOut::new(project, role) })))
}

/// Deletes an empty project (project admins): one that still holds connections (and so
/// rotations) or secrets answers 409, so nothing a workload reads disappears with it.
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<serde_json::Value>> {
    let id = store::ProjectId(id);
    let role = caller
        .require_project(&state.db, id, Role::Admin, not_found())
        .await?;
    let mut tx = state.db.begin().await?;
    let (connections, secrets) = store::projects::contents(&mut tx, id).await?;
    if connections > 0 || secrets > 0 {
        return Err(ApiError::Conflict {
            detail: format!(
                "the project still holds {connections} connection(s) and {secrets} secret(s); delete them first"
            ),
            field: None,
        });
    }
    let project = store::projects::delete(&mut tx, caller.org_id, id)
        .await
        .map_err(|err| match err {
            // A connection created meanwhile.
            store::Error::MissingReference { .. } => ApiError::Conflict {
                detail: "the project still holds connections; delete them first".to_owned(),
                field: None,
            },
            other => store_error(other),
        })?;
    let event = caller.event(
        "project.delete",
        "project",
        project.id,
        Some(project.id),
        json!({ "name": project.name }),
    );
    store::audit::record(&mut tx, &event).await?;
    tx.commit().await?;
    // Memberships of the project went with it.
    state.tokens.forget_all();
    Ok(Json(json!({ "project": ProjectOut::new(project, role) })))
}
