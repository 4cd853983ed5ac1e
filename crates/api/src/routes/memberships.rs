//! `/api/v1/projects/{projectId}/memberships`: who may do what in a project. Viewers may read the
//! list; only project admins (and instance admins) change it. The last admin cannot be removed.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::{IdentityId, ProjectId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::{PathId, PathIds, ValidJson};
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::routes::table::Routes;

pub fn routes() -> Routes {
    Routes::default()
        .get("/api/v1/projects/{projectId}/memberships", list)
        .post("/api/v1/projects/{projectId}/memberships", add)
        .patch(
            "/api/v1/projects/{projectId}/memberships/{identityId}",
            change_role,
        )
        .delete(
            "/api/v1/projects/{projectId}/memberships/{identityId}",
            remove,
        )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MembershipOut {
    project_id: Uuid,
    identity_id: Uuid,
    role: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl From<store::memberships::Membership> for MembershipOut {
    fn from(m: store::memberships::Membership) -> Self {
        MembershipOut {
            project_id: m.project_id.0,
            identity_id: m.identity_id.0,
            role: m.role,
            name: m.name,
            kind: m.kind,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MembershipIn {
    identity_id: String,
    role: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RolePatch {
    role: String,
}

fn project_not_found() -> ApiError {
    ApiError::NotFound {
        what: "project",
        field: None,
    }
}

fn parse_role(raw: &str) -> ApiResult<Role> {
    Role::parse(raw)
        .ok_or_else(|| ApiError::field("role", "must be \"admin\", \"member\" or \"viewer\""))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathId(project): PathId,
) -> ApiResult<Json<serde_json::Value>> {
    let project = ProjectId(project);
    caller
        .require_project(&state.db, project, Role::Viewer, project_not_found())
        .await?;
    let items: Vec<MembershipOut> = store::memberships::list(&state.db, project)
        .await?
        .into_iter()
        .map(MembershipOut::from)
        .collect();
    Ok(Json(json!({ "memberships": items })))
}

async fn add(
    State(state): State<AppState>,
    caller: Caller,
    PathId(project): PathId,
    body: ValidJson<MembershipIn>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let project = ProjectId(project);
    caller
        .require_project(&state.db, project, Role::Admin, project_not_found())
        .await?;
    let input = body.value;
    let mut errors = Vec::new();
    let identity = Uuid::parse_str(input.identity_id.trim())
        .ok()
        .map(IdentityId);
    if identity.is_none() {
        errors.push(FieldError::new("identityId", "must be a UUID"));
    }
    let role = Role::parse(&input.role);
    if role.is_none() {
        errors.push(FieldError::new(
            "role",
            "must be \"admin\", \"member\" or \"viewer\"",
        ));
    }
    let (Some(identity), Some(role)) = (identity, role) else {
        return Err(ApiError::Validation(errors));
    };
    // Only identities of the caller's own organisation can be added.
    store::identities::get(&state.db, caller.org_id, identity)
        .await
        .map_err(|e| match e {
            store::Error::NotFound => ApiError::NotFound {
                what: "identity",
                field: Some("identityId"),
            },
            other => other.into(),
        })?;
    let mut tx = state.db.begin().await?;
    store::memberships::insert(&mut tx, project, identity, role.as_str())
        .await
        .map_err(|e| match e {
            store::Error::Duplicate { .. } => ApiError::Conflict {
                detail: "this identity is already a member of the project; change its role instead"
                    .to_owned(),
                field: Some("identityId"),
            },
            other => other.into(),
        })?;
    let event = caller.event(
        "membership.create",
        "membership",
        identity,
        Some(project),
        json!({ "role": role.as_str() }),
    );
    store::audit::record(&mut tx, &event).await?;
    tx.commit().await?;
    state.tokens.forget_all();
    let membership = find(&state, project, identity).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "membership": membership })),
    ))
}

async fn change_role(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(ids): PathIds,
    body: ValidJson<RolePatch>,
) -> ApiResult<Json<serde_json::Value>> {
    let (project, identity) = two(&ids)?;
    caller
        .require_project(&state.db, project, Role::Admin, project_not_found())
        .await?;
    let role = parse_role(&body.value.role)?;
    let mut tx = begin_admin_change(&state, project).await?;
    store::memberships::set_role(&mut tx, project, identity, role.as_str())
        .await
        .map_err(membership_error)?;
    ensure_an_admin_remains(&mut tx, project).await?;
    let event = caller.event(
        "membership.update",
        "membership",
        identity,
        Some(project),
        json!({ "role": role.as_str() }),
    );
    store::audit::record(&mut tx, &event).await?;
    tx.commit().await?;
    state.tokens.forget_all();
    Ok(Json(
        json!({ "membership": find(&state, project, identity).await? }),
    ))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(ids): PathIds,
) -> ApiResult<Json<serde_json::Value>> {
    let (project, identity) = two(&ids)?;
    caller
        .require_project(&state.db, project, Role::Admin, project_not_found())
        .await?;
    let removed = find(&state, project, identity).await?;
    let mut tx = begin_admin_change(&state, project).await?;
    store::memberships::delete(&mut tx, project, identity)
        .await
        .map_err(membership_error)?;
    ensure_an_admin_remains(&mut tx, project).await?;
    store::audit::record(
        &mut tx,
        &caller.event(
            "membership.delete",
            "membership",
            identity,
            Some(project),
            json!({}),
        ),
    )
    .await?;
    tx.commit().await?;
    state.tokens.forget_all();
    Ok(Json(json!({ "membership": removed })))
}

fn two(ids: &[Uuid]) -> ApiResult<(ProjectId, IdentityId)> {
    match ids {
        [project, identity] => Ok((ProjectId(*project), IdentityId(*identity))),
        _ => Err(ApiError::internal("membership route without two ids")),
    }
}

fn membership_error(err: store::Error) -> ApiError {
    match err {
        store::Error::NotFound => ApiError::NotFound {
            what: "membership",
            field: None,
        },
        other => other.into(),
    }
}

async fn find(
    state: &AppState,
    project: ProjectId,
    identity: IdentityId,
) -> ApiResult<MembershipOut> {
    store::memberships::list(&state.db, project)
        .await?
        .into_iter()
        .find(|m| m.identity_id == identity)
        .map(MembershipOut::from)
        .ok_or(ApiError::NotFound {
            what: "membership",
            field: None,
        })
}

/// A transaction for a change that may remove an admin, holding the project's admin lock so that
/// `ensure_an_admin_remains` counts with every concurrent change to the project's admins committed.
async fn begin_admin_change(
    state: &AppState,
    project: ProjectId,
) -> ApiResult<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = state.db.begin().await?;
    store::memberships::lock_admins(&mut tx, project)
        .await
        .map_err(|e| match e {
            store::Error::NotFound => project_not_found(),
            other => other.into(),
        })?;
    Ok(tx)
}

/// Only after `begin_admin_change` in the same transaction.
async fn ensure_an_admin_remains(tx: &mut sqlx::PgConnection, project: ProjectId) -> ApiResult<()> {
    if store::memberships::count_admins(tx, project).await? == 0 {
        return Err(ApiError::Conflict {
            detail: "a project needs at least one admin; make someone else admin first".to_owned(),
            field: Some("role"),
        });
    }
    Ok(())
}
