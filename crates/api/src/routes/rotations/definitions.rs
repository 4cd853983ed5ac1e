//! Rotation definitions: which application a connection rotates, on what schedule. Each is checked
//! against Auth0 through its connection (the connection must see the application) before it is
//! stored; creating one queues its first rotation, as Infisical does.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use store::rotations as db;
use store::rotations::schedule::{self, LastRotation, Schedule};
use store::{ConnectionId, ProjectId, RotationId};
use time::OffsetDateTime;

use super::dto::{
    self, ByNameQuery, DeleteQuery, ListQuery, RotationIn, RotationOut, RotationPatch,
};
use super::{in_progress, load, not_found, one};
use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::{IfMatch, PathId, ValidJson, ValidQuery};
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::routes::unique::Unique;
use crate::routes::{auth0_problems, fields, page_request};

fn project_not_found() -> ApiError {
    ApiError::NotFound {
        what: "project",
        field: Some("projectId"),
    }
}

pub(super) async fn options(_caller: Caller) -> Json<serde_json::Value> {
    Json(json!({
        "secretRotationOptions": [{
            "name": "Auth0 Client Secret",
            "type": store::rotations::TYPE_AUTH0_CLIENT_SECRET,
            "connection": "auth0",
        }]
    }))
}

fn schedule(
    interval: i32,
    hours: i16,
    minutes: i16,
    errors: &mut Vec<FieldError>,
) -> Option<Schedule> {
    match Schedule::new(interval, hours, minutes) {
        Ok(schedule) => Some(schedule),
        Err(schedule::ScheduleError::Interval) => {
            errors.push(FieldError::new(
                "rotationInterval",
                "must be a whole number of days from 1 to 3650",
            ));
            None
        }
        Err(schedule::ScheduleError::TimeOfDay) => {
            errors.push(FieldError::new(
                "rotateAtUtc",
                "hours must be 0-23 and minutes 0-59",
            ));
            None
        }
    }
}

const NAME_TAKEN: Unique = Unique {
    constraint: "secret_rotations_project_name_key",
    field: "name",
    taken: |name| format!("a secret rotation named \"{name}\" already exists in this project"),
};

/// What a store failure means for a rotation write (`name` is the one being written).
fn store_error(err: store::Error, name: &str) -> ApiError {
    NAME_TAKEN.or(err, name, |other| match other {
        store::Error::NotFound => not_found(),
        other => other.into(),
    })
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: ValidJson<RotationIn>,
) -> ApiResult<Response> {
    let input = body.value;
    let mut errors = Vec::new();
    let name = fields::slug_name(&input.name, &mut errors);
    let description = fields::description(input.description.as_deref(), &mut errors);
    let project_id = fields::uuid("projectId", &input.project_id, &mut errors).map(ProjectId);
    let connection_id =
        fields::uuid("connectionId", &input.connection_id, &mut errors).map(ConnectionId);
    let at = input.rotate_at_utc.unwrap_or(dto::RotateAt {
        hours: 0,
        minutes: 0,
    });
    let schedule = schedule(input.rotation_interval, at.hours, at.minutes, &mut errors);
    let target = fields::client_id(
        "parameters.clientId",
        &input.parameters.client_id,
        &mut errors,
    );
    let (Some(name), Some(project_id), Some(connection_id), Some(schedule), Some(target), true) = (
        name,
        project_id,
        connection_id,
        schedule,
        target,
        errors.is_empty(),
    ) else {
        return Err(ApiError::Validation(errors));
    };
    caller
        .require_project(&state.db, project_id, Role::Member, project_not_found())
        .await?;
    let connection_missing = || ApiError::NotFound {
        what: "app connection",
        field: Some("connectionId"),
    };
    let connection = store::connections::get(&state.db, caller.org_id, connection_id)
        .await
        .map_err(|err| match err {
            store::Error::NotFound => connection_missing(),
            other => other.into(),
        })?;
    if connection.project_id != project_id {
        return Err(connection_missing());
    }
    // The connection must be able to see the application it will rotate.
    state
        .broker
        .get_client(&connection, &target)
        .await
        .map_err(auth0_problems::client_lookup)?;

    let auto = input.is_auto_rotation_enabled.unwrap_or(true);
    let now = OffsetDateTime::now_utc();
    let id = RotationId::new();
    let new = db::NewRotation {
        id,
        org_id: caller.org_id,
        project_id,
        connection_id,
        name: &name,
        description: description.as_deref(),
        client_id: &target,
        rotation_interval_days: input.rotation_interval,
        rotate_at_hours: at.hours,
        rotate_at_minutes: at.minutes,
        is_auto_rotation_enabled: auto,
        next_rotation_at: auto.then(|| schedule::next_rotation_at(&schedule, None, now)),
        // As Infisical does: the first generated secret is issued at once, so there is a known
        // current secret to reveal from the start.
        rotate_immediately: true,
    };
    let mut tx = state.db.begin().await?;
    let rotation = db::insert(&mut tx, &new)
        .await
        .map_err(|err| store_error(err, &name))?;
    let metadata = json!({ "name": name, "clientId": target, "connectionId": connection_id, "rotationInterval": input.rotation_interval });
    store::audit::record(
        &mut tx,
        &caller.event(
            "secret_rotation.create",
            "secret_rotation",
            id,
            Some(project_id),
            metadata,
        ),
    )
    .await?;
    store::rotations::control::notify(&mut tx, id).await?;
    tx.commit().await?;
    one(&state, StatusCode::CREATED, rotation).await
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let mut errors = Vec::new();
    let project_id = query
        .project_id
        .as_deref()
        .and_then(|raw| fields::uuid("projectId", raw, &mut errors))
        .map(ProjectId);
    let connection_id = query
        .connection_id
        .as_deref()
        .and_then(|raw| fields::uuid("connectionId", raw, &mut errors))
        .map(ConnectionId);
    let search = fields::search(query.search.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    match project_id {
        Some(project) => {
            caller
                .require_project(&state.db, project, Role::Viewer, project_not_found())
                .await?;
        }
        None if caller.is_instance_admin => {}
        None => return Err(ApiError::field("projectId", "is required")),
    }
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let filter = db::ListFilter {
        org_id: caller.org_id,
        project_id,
        connection_id,
        search: search.map(str::to_owned),
    };
    let page = db::list(&state.db, &filter, &page).await?;
    let ids: Vec<ConnectionId> = page.items.iter().map(|r| r.connection_id).collect();
    let names = store::connections::names(&state.db, &ids).await?;
    let now = OffsetDateTime::now_utc();
    let items: Vec<RotationOut> = page
        .items
        .into_iter()
        .map(|r| {
            let name = names.get(&r.connection_id).cloned().unwrap_or_default();
            RotationOut::new(r, name, now)
        })
        .collect();
    Ok(Json(
        json!({ "secretRotations": items, "nextCursor": page.next.map(|c| c.encode()) }),
    ))
}

pub(super) async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let rotation = load(&state, &caller, RotationId(id), Role::Viewer).await?;
    one(&state, StatusCode::OK, rotation).await
}

pub(super) async fn fetch_by_name(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    ValidQuery(query): ValidQuery<ByNameQuery>,
) -> ApiResult<Response> {
    let mut errors = Vec::new();
    let Some(project_id) = fields::uuid("projectId", &query.project_id, &mut errors).map(ProjectId)
    else {
        return Err(ApiError::Validation(errors));
    };
    caller
        .require_project(&state.db, project_id, Role::Viewer, project_not_found())
        .await?;
    // As for connections: a name no create could have accepted cannot exist (and NUL would make
    // Postgres fail rather than find nothing).
    // Bytes that are not UTF-8 are no name either (axum's own rejection is plain text).
    let Ok(Path(name)) = path else {
        return Err(not_found());
    };
    if fields::slug_name(&name, &mut Vec::new()).as_deref() != Some(name.as_str()) {
        return Err(not_found());
    }
    let rotation = db::get_by_name(&state.db, project_id, &name)
        .await
        .map_err(|err| store_error(err, &name))?;
    one(&state, StatusCode::OK, rotation).await
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    IfMatch(expected): IfMatch,
    body: ValidJson<RotationPatch>,
) -> ApiResult<Response> {
    let patch = body.value;
    let id = RotationId(id);
    let current = load(&state, &caller, id, Role::Member).await?;
    if let Some(expected) = expected
        && expected != current.version
    {
        return Err(ApiError::PreconditionFailed {
            current: current.version,
        });
    }
    let mut errors = Vec::new();
    let name = patch
        .name
        .as_deref()
        .and_then(|n| fields::slug_name(n, &mut errors));
    let description = patch
        .description
        .as_ref()
        .map(|d| fields::description(d.as_deref(), &mut errors));
    let at = patch.rotate_at_utc.map(|a| (a.hours, a.minutes));
    let (hours, minutes) = at.unwrap_or((current.rotate_at_hours, current.rotate_at_minutes));
    let interval = patch
        .rotation_interval
        .unwrap_or(current.rotation_interval_days);
    let schedule = schedule(interval, hours, minutes, &mut errors);
    let target = patch
        .parameters
        .as_ref()
        .and_then(|p| fields::client_id("parameters.clientId", &p.client_id, &mut errors));
    let Some(schedule) = schedule.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    if let Some(target) = target.as_deref().filter(|t| *t != current.client_id) {
        let connection =
            store::connections::get(&state.db, caller.org_id, current.connection_id).await?;
        state
            .broker
            .get_client(&connection, target)
            .await
            .map_err(auth0_problems::client_lookup)?;
    }
    let auto = patch
        .is_auto_rotation_enabled
        .unwrap_or(current.is_auto_rotation_enabled);
    let schedule_changed = patch.rotation_interval.is_some()
        || at.is_some()
        || patch.is_auto_rotation_enabled.is_some();
    let next = schedule_changed.then(|| {
        auto.then(|| {
            let last = current.last_rotated_at.map(|at| LastRotation {
                at,
                manual: current.is_last_rotation_manual,
            });
            schedule::next_rotation_at(&schedule, last, OffsetDateTime::now_utc())
        })
    });
    let change = db::Change {
        name: name.as_deref(),
        description: description.as_ref().map(|d| d.as_deref()),
        client_id: target.as_deref(),
        is_auto_rotation_enabled: patch.is_auto_rotation_enabled,
        rotation_interval_days: patch.rotation_interval,
        rotate_at: at,
        next_rotation_at: next,
    };
    let mut tx = state.db.begin().await?;
    if change.client_id.is_some() {
        // The open attempt's pending secret belongs to the client it was issued for: the target
        // cannot move under it. The row lock keeps an attempt from starting meanwhile.
        let locked = db::lock(&mut tx, caller.org_id, id).await?;
        if locked.current_attempt_id.is_some() {
            return Err(ApiError::Conflict {
                detail: "an attempt of this rotation is in progress; change parameters.clientId after it finishes".to_owned(),
                field: Some("parameters.clientId"),
            });
        }
    }
    let updated = db::update(&mut tx, caller.org_id, id, current.version, &change)
        .await
        .map_err(|err| {
            ApiError::fenced(err, expected, "rotation", |other| {
                store_error(other, name.as_deref().unwrap_or_default())
            })
        })?;
    let metadata = json!({ "version": updated.version, "clientId": updated.client_id, "isAutoRotationEnabled": updated.is_auto_rotation_enabled });
    store::audit::record(
        &mut tx,
        &caller.event(
            "secret_rotation.update",
            "secret_rotation",
            id,
            Some(updated.project_id),
            metadata,
        ),
    )
    .await?;
    tx.commit().await?;
    one(&state, StatusCode::OK, updated).await
}

pub(super) async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    IfMatch(expected): IfMatch,
    ValidQuery(query): ValidQuery<DeleteQuery>,
) -> ApiResult<Response> {
    if query.delete_secrets == Some(true) {
        return Err(ApiError::field(
            "deleteSecrets",
            "Keyhold writes rotated secrets nowhere else, so there are none to delete",
        ));
    }
    let id = RotationId(id);
    let current = load(&state, &caller, id, Role::Member).await?;
    if current.is_in_progress(OffsetDateTime::now_utc()) {
        return Err(in_progress());
    }
    let revoke = query.revoke_generated_credentials.unwrap_or(false);
    if revoke {
        let connection =
            store::connections::get(&state.db, caller.org_id, current.connection_id).await?;
        state
            .broker
            .revoke_generated_credentials(&connection, &current)
            .await
            .map_err(auth0_problems::broker)?;
    }
    let mut tx = state.db.begin().await?;
    // Locked and re-checked: a rotation queued meanwhile must not lose its pending secret.
    let locked = db::lock(&mut tx, caller.org_id, id)
        .await
        .map_err(|err| store_error(err, ""))?;
    if locked.is_in_progress(OffsetDateTime::now_utc()) {
        return Err(in_progress());
    }
    let removed = db::delete(&mut tx, caller.org_id, id, expected)
        .await
        .map_err(|err| store_error(err, ""))?;
    let metadata = json!({ "name": removed.name, "clientId": removed.client_id, "revokedGeneratedCredentials": revoke });
    store::audit::record(
        &mut tx,
        &caller.event(
            "secret_rotation.delete",
            "secret_rotation",
            id,
            Some(removed.project_id),
            metadata,
        ),
    )
    .await?;
    tx.commit().await?;
    one(&state, StatusCode::OK, removed).await
}
