//! Project secrets behind Infisical's API (issue 16, first slice): environments
//! (`/api/v1/workspace/{workspaceId}/environments`), folders (`/api/v2/folders`) and secrets
//! (`/api/v3/secrets/raw`), with Infisical's field names and answers so its SDKs work unchanged.
//! Values are sealed per version through `broker::aad::secret_value` and never logged, audited or
//! echoed in an error.
//!
//! Who may do what: viewers list and read (values included), members write folders and secrets,
//! admins manage environments. Non-members get 404 for everything of a project.

mod environments;
mod folders;
mod raw;
mod validate;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use store::ProjectId;
use store::environments::Environment;
use store::folders::Folder;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::problem::{ApiError, ApiResult};
use crate::routes::table::Routes;

/// Secret writes carry values up to [`validate::VALUE_MAX`] bytes, which JSON may escape to six
/// bytes each; every other body stays under the API's default limit.
const SECRET_BODY_LIMIT: usize = 8 * validate::VALUE_MAX;

pub fn routes() -> Routes {
    let big = || DefaultBodyLimit::max(SECRET_BODY_LIMIT);
    Routes::default()
        .get(
            "/api/v1/workspace/{workspaceId}/environments",
            environments::list,
        )
        .post(
            "/api/v1/workspace/{workspaceId}/environments",
            environments::create,
        )
        .get(
            "/api/v1/workspace/{workspaceId}/environments/{envId}",
            environments::fetch,
        )
        .patch(
            "/api/v1/workspace/{workspaceId}/environments/{envId}",
            environments::update,
        )
        .delete(
            "/api/v1/workspace/{workspaceId}/environments/{envId}",
            environments::remove,
        )
        .get("/api/v2/folders", folders::list)
        .post("/api/v2/folders", folders::create)
        .get("/api/v2/folders/{folderId}", folders::fetch)
        .patch("/api/v2/folders/{folderId}", folders::update)
        .delete("/api/v2/folders/{folderId}", folders::remove)
        .get("/api/v3/secrets/raw", raw::list)
        .get("/api/v3/secrets/raw/{secretName}", raw::fetch)
        .post("/api/v3/secrets/raw/{secretName}", raw::create.layer(big()))
        .patch("/api/v3/secrets/raw/{secretName}", raw::update.layer(big()))
        .delete("/api/v3/secrets/raw/{secretName}", raw::remove)
}

fn project_not_found(field: &'static str) -> ApiError {
    ApiError::NotFound {
        what: "project",
        field: Some(field),
    }
}

/// The project a request names, once the caller is known to hold `min` in it.
async fn project(
    state: &AppState,
    caller: &Caller,
    id: ProjectId,
    min: Role,
    field: &'static str,
) -> ApiResult<Role> {
    caller
        .require_project(&state.db, id, min, project_not_found(field))
        .await
}

/// The environment `slug` of a project: 404 naming the `environment` field otherwise.
async fn environment(
    state: &AppState,
    project_id: ProjectId,
    slug: &str,
) -> ApiResult<Environment> {
    store::environments::by_slug(&state.db, project_id, slug)
        .await
        .map_err(|err| match err {
            store::Error::NotFound => ApiError::NotFound {
                what: "environment",
                field: Some("environment"),
            },
            other => other.into(),
        })
}

/// The folder at `path` of an environment: 404 naming `field` otherwise.
async fn folder(
    state: &AppState,
    environment: &Environment,
    path: &str,
    field: &'static str,
) -> ApiResult<Folder> {
    let mut conn = state.db.acquire().await?;
    store::folders::by_path(&mut conn, environment.id, path)
        .await
        .map_err(|err| match err {
            store::Error::NotFound => ApiError::NotFound {
                what: "folder",
                field: Some(field),
            },
            other => other.into(),
        })
}
