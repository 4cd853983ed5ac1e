//! `/api/v1/projects/{projectId}/memberships`: who may do what in a project. Viewers may read the
//! list; only project admins (and instance admins) change it. The last admin cannot be removed.
//! A viewer or member membership may be narrowed to `environments` and a `secretPath` folder
//! (`auth::scope`), so an app's machine identity reaches only its own secrets; admins manage the
//! whole project, so an admin membership cannot be narrowed.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::memberships::Narrowing;
use store::{IdentityId, ProjectId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::{PathId, PathIds, ValidJson};
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::routes::secrets::validate;
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
    /// The environments (slugs) the membership reaches; null: every one.
    environments: Option<Vec<String>>,
    /// The folder the membership reaches, with everything below it; null: the whole environment.
    secret_path: Option<String>,
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
            environments: m.environments,
            secret_path: m.secret_path,
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
    #[serde(default)]
    environments: Option<Vec<String>>,
    #[serde(default)]
    secret_path: Option<String>,
}

/// Changes what is present; `environments` or `secretPath` sent as null widen the membership again.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MembershipPatch {
    #[serde(default)]
    role: Option<String>,
    #[serde(default, deserialize_with = "nullable_list")]
    environments: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "crate::extract::nullable")]
    secret_path: Option<Option<String>>,
}

/// Absent: `None`; `null`: `Some(None)` (widen to every environment).
fn nullable_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Vec<String>>>, D::Error> {
    <Option<Vec<String>> as Deserialize>::deserialize(d).map(Some)
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
    let narrowing = narrowing(
        input.environments.as_deref(),
        input.secret_path.as_deref(),
        &mut errors,
    );
    let (Some(identity), Some(role), true) = (identity, role, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    check_narrowing(&state, project, role, &narrowing).await?;
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
    if narrowing != Narrowing::default() {
        store::memberships::set_role_and_narrowing(
            &mut tx,
            project,
            identity,
            role.as_str(),
            &narrowing,
        )
        .await?;
    }
    let event = caller.event(
        "membership.create",
        "membership",
        identity,
        Some(project),
        json!({
            "role": role.as_str(),
            "environments": narrowing.environments,
            "secretPath": narrowing.secret_path,
        }),
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
    body: ValidJson<MembershipPatch>,
) -> ApiResult<Json<serde_json::Value>> {
    let (project, identity) = two(&ids)?;
    caller
        .require_project(&state.db, project, Role::Admin, project_not_found())
        .await?;
    let patch = body.value;
    let role = patch.role.as_deref().map(parse_role).transpose()?;
    let mut errors = Vec::new();
    let environments = patch
        .environments
        .as_ref()
        .map(|e| environments(e.as_deref(), &mut errors));
    let secret_path = patch
        .secret_path
        .as_ref()
        .map(|p| secret_path(p.as_deref(), &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let current = find(&state, project, identity).await?;
    let asked_admin = role == Some(Role::Admin);
    let asked_narrowing = environments.as_ref().is_some_and(Option::is_some)
        || secret_path.as_ref().is_some_and(Option::is_some);
    let role = role.unwrap_or(Role::parse(&current.role).unwrap_or(Role::Viewer));
    let narrowing = Narrowing {
        environments: environments.unwrap_or(current.environments.clone()),
        secret_path: secret_path.unwrap_or(current.secret_path.clone()),
    };
    let narrowed = narrowing.environments.is_some() || narrowing.secret_path.is_some();
    // Asking for both at once is a malformed request (422, below); getting there only with what
    // is stored (promoting a narrowed member, narrowing an admin) conflicts with the membership.
    if narrowed && role == Role::Admin && !(asked_admin && asked_narrowing) {
        return Err(ApiError::Conflict {
            detail: "an admin manages the whole project and cannot be narrowed: this membership \
                     is narrowed (or an admin); send environments and secretPath as null with \
                     role admin, or narrow a member or viewer"
                .to_owned(),
            field: Some("role"),
        });
    }
    check_narrowing(&state, project, role, &narrowing).await?;
    let mut tx = begin_admin_change(&state, project).await?;
    store::memberships::set_role_and_narrowing(
        &mut tx,
        project,
        identity,
        role.as_str(),
        &narrowing,
    )
    .await
    .map_err(membership_error)?;
    ensure_an_admin_remains(&mut tx, project).await?;
    let event = caller.event(
        "membership.update",
        "membership",
        identity,
        Some(project),
        json!({
            "role": role.as_str(),
            "environments": narrowing.environments,
            "secretPath": narrowing.secret_path,
        }),
    );
    store::audit::record(&mut tx, &event).await?;
    tx.commit().await?;
    state.tokens.forget_all();
    Ok(Json(
        json!({ "membership": find(&state, project, identity).await? }),
    ))
}

/// `environments`: null (every one) or 1 to 64 distinct slugs. Problems name the position, never
/// the submitted text.
fn environments(raw: Option<&[String]>, errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
    let list = raw?;
    if list.is_empty() || list.len() > 64 {
        errors.push(FieldError::new(
            "environments",
            "must list 1 to 64 environment slugs, or be null for every environment",
        ));
        return None;
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, slug) in list.iter().enumerate() {
        let field = format!("environments[{i}]");
        if validate::slug(&field, slug, errors) && !seen.insert(slug.as_str()) {
            errors.push(FieldError::new(field, "is listed twice"));
        }
    }
    Some(list.to_vec())
}

/// `secretPath`: null or `/` (the whole environment), else a normalised folder path.
fn secret_path(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let path = validate::path("secretPath", Some(raw?), errors)?;
    (path != "/").then_some(path)
}

fn narrowing(
    environments_in: Option<&[String]>,
    secret_path_in: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Narrowing {
    Narrowing {
        environments: environments(environments_in, errors),
        secret_path: secret_path(secret_path_in, errors),
    }
}

/// An admin cannot be narrowed (it manages memberships, so it could widen itself); a narrowed
/// membership names environments the project has (a slug renamed later simply stops matching).
async fn check_narrowing(
    state: &AppState,
    project: ProjectId,
    role: Role,
    narrowing: &Narrowing,
) -> ApiResult<()> {
    let narrowed = narrowing.environments.is_some() || narrowing.secret_path.is_some();
    if narrowed && role == Role::Admin {
        return Err(ApiError::field(
            "role",
            "an admin manages the whole project and cannot be narrowed; narrow a member or viewer, or send environments and secretPath as null",
        ));
    }
    if let Some(list) = &narrowing.environments {
        let known: Vec<String> = store::environments::list(&state.db, project)
            .await?
            .into_iter()
            .map(|e| e.slug)
            .collect();
        let errors: Vec<FieldError> = list
            .iter()
            .enumerate()
            .filter(|(_, slug)| !known.contains(slug))
            .map(|(i, _)| {
                FieldError::new(
                    format!("environments[{i}]"),
                    "is not an environment of this project",
                )
            })
            .collect();
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
    }
    Ok(())
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
