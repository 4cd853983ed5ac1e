//! Project secrets behind Infisical's API (issue 16, first slice): environments
//! (`/api/v1/workspace/{workspaceId}/environments`), folders (`/api/v2/folders`, with list and
//! create also at `/api/v1/folders`, where Infisical's Node SDK calls them) and secrets
//! (`/api/v3/secrets/raw`), with Infisical's field names and answers so its SDKs work unchanged.
//! Values are sealed per version through `broker::aad::secret_value` and never logged, audited or
//! echoed in an error.
//!
//! Who may do what: viewers list and read (values included), members write folders and secrets,
//! admins manage environments. Non-members get 404 for everything of a project. A membership
//! narrowed to environments and a folder (`auth::scope`) reaches only the secrets and folders
//! there: anything else named is 403 before it is looked up, and lists show only what it reaches.

mod environments;
mod folders;
mod raw;
mod references;
pub(crate) mod validate;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use store::ProjectId;
use store::environments::Environment;
use store::folders::Folder;

use crate::AppState;
use crate::auth::{Caller, ProjectAccess, Role};
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
        // Infisical's Node SDK lists and creates folders at v1, with the same fields.
        .get("/api/v1/folders", folders::list)
        .post("/api/v1/folders", folders::create)
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

/// The caller's access to the project a request names, once it is known to hold `min` there.
/// A narrowed membership passes here; each route then checks its scope against the environment
/// and folder it acts on, before looking either up.
async fn project(
    state: &AppState,
    caller: &Caller,
    id: ProjectId,
    min: Role,
    field: &'static str,
) -> ApiResult<ProjectAccess> {
    caller
        .require_project_secrets(&state.db, id, min, project_not_found(field))
        .await
}

/// The environment `slug` of a project: 404 naming the `environment` field otherwise.
async fn environment(
    state: &AppState,
    project_id: ProjectId,
    slug: &str,
) -> ApiResult<Environment> {
    let not_found = || ApiError::NotFound {
        what: "environment",
        field: Some("environment"),
    };
    // No environment has a slug that is no slug: answered without asking PostgreSQL, which
    // refuses a NUL in text with an error rather than finding nothing (found by the contract
    // fuzzing: `"environment": "n\u0000v"` in a secret's body was a 500).
    if !validate::slug("environment", slug, &mut Vec::new()) {
        return Err(not_found());
    }
    store::environments::by_slug(&state.db, project_id, slug)
        .await
        .map_err(|err| match err {
            store::Error::NotFound => not_found(),
            other => other.into(),
        })
}

/// The folder at `path` of the environment `slug`: one statement when both are there (every read
/// and write of secrets starts here); otherwise the two lookups, so the 404 names `environment`
/// or `field`, whichever is missing.
pub(crate) async fn folder_at(
    state: &AppState,
    project_id: ProjectId,
    slug: &str,
    path: &str,
    field: &'static str,
) -> ApiResult<Folder> {
    // A slug no environment can have (a NUL, say) is answered by `environment`.
    if validate::slug("environment", slug, &mut Vec::new()) {
        match store::folders::at_slug(&state.db, project_id, slug, path).await {
            Ok(folder) => return Ok(folder),
            Err(store::Error::NotFound) => {}
            Err(other) => return Err(other.into()),
        }
    }
    let environment = environment(state, project_id, slug).await?;
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

/// The answer to a hand write of a secret a rotation manages (or to deleting what holds one):
/// the rotation writes it, so a hand edit would be overwritten or leave the rotation nowhere to
/// write. Names the rotation, never the submitted name.
fn managed_by(rotation: &str, what: &str, field: Option<&'static str>) -> ApiError {
    ApiError::Conflict {
        detail: format!(
            "{what} managed by secret rotation \"{rotation}\", which writes a new version each time it finishes: rotate through the rotation, or change its secretsMapping (or delete it) first"
        ),
        field,
    }
}
