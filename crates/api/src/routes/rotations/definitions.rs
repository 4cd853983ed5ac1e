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
    self, ByNameQuery, ClientSecretIn, ClientSecretPatch, DeleteQuery, KeyRotationIn,
    KeyRotationPatch, ListQuery, MappingNames, RotationIn, RotationOut, RotationPatch,
    TypeParameters,
};
use super::{
    KIND_CS, KIND_PK, RouteKind, answer, in_progress, load, not_found, one, render, secrets_mapping,
};
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
            "template": {
                "secretsMapping": {
                    "clientId": "AUTH0_CLIENT_ID",
                    "clientSecret": "AUTH0_CLIENT_SECRET",
                },
            },
        }, {
            "name": "Auth0 Private Key JWT",
            "type": store::rotations::TYPE_AUTH0_PRIVATE_KEY_JWT,
            "connection": "auth0",
            "template": {
                "secretsMapping": {
                    "clientId": "AUTH0_CLIENT_ID",
                    "privateKey": "AUTH0_PRIVATE_KEY",
                    "keyId": "AUTH0_KEY_ID",
                },
            },
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
    taken: "a secret rotation with this name already exists in this project",
};

/// What a store failure means for a rotation write (`name` is the one being written).
fn store_error(err: store::Error) -> ApiError {
    NAME_TAKEN.or(err, |other| match other {
        store::Error::NotFound => not_found(),
        other => other.into(),
    })
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: ValidJson<ClientSecretIn>,
) -> ApiResult<Response> {
    create_as(state, caller, db::TYPE_AUTH0_CLIENT_SECRET, body.value).await
}

pub(super) async fn create_keys(
    State(state): State<AppState>,
    caller: Caller,
    body: ValidJson<KeyRotationIn>,
) -> ApiResult<Response> {
    create_as(state, caller, db::TYPE_AUTH0_PRIVATE_KEY_JWT, body.value).await
}

/// `parameters.overlapSeconds` of a key rotation: in range and shorter than the interval, so the
/// old key is gone before the next rotation falls due.
fn overlap(raw: Option<i64>, interval_days: i32, errors: &mut Vec<FieldError>) -> Option<i32> {
    let seconds = raw.unwrap_or(i64::from(db::DEFAULT_OVERLAP_SECONDS));
    let range = i64::from(db::MIN_OVERLAP_SECONDS)..=i64::from(db::MAX_OVERLAP_SECONDS);
    if !range.contains(&seconds) {
        errors.push(FieldError::new(
            OVERLAP_FIELD,
            format!(
                "must be a whole number of seconds from {} to {} (30 days)",
                db::MIN_OVERLAP_SECONDS,
                db::MAX_OVERLAP_SECONDS
            ),
        ));
        return None;
    }
    if seconds >= i64::from(interval_days) * 86_400 {
        errors.push(FieldError::new(
            OVERLAP_FIELD,
            "must be shorter than rotationInterval: the old key is removed before the next rotation",
        ));
        return None;
    }
    i32::try_from(seconds).ok()
}

const OVERLAP_FIELD: &str = "parameters.overlapSeconds";

/// Creates a rotation; a refusal (422, 409) is recorded in the audit log (`routes::refused`).
async fn create_as<P: TypeParameters, M: MappingNames>(
    state: AppState,
    caller: Caller,
    kind: &'static str,
    input: RotationIn<P, M>,
) -> ApiResult<Response> {
    let project = input.project_id.clone();
    let answer = create_checked(&state, &caller, kind, input).await;
    if let Err(err) = &answer {
        crate::routes::refused::record(
            &state,
            &caller,
            "secret_rotation.create",
            "secret_rotation",
            &project,
            err,
        )
        .await;
    }
    answer
}

async fn create_checked<P: TypeParameters, M: MappingNames>(
    state: &AppState,
    caller: &Caller,
    kind: &'static str,
    input: RotationIn<P, M>,
) -> ApiResult<Response> {
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
        input.parameters.client_id().unwrap_or_default(),
        &mut errors,
    );
    // A refused overlap is in `errors`, which the `let else` below checks.
    let overlap_seconds = (kind == db::TYPE_AUTH0_PRIVATE_KEY_JWT)
        .then(|| {
            overlap(
                input.parameters.overlap_seconds(),
                input.rotation_interval,
                &mut errors,
            )
        })
        .flatten();
    let requested = secrets_mapping::requested(
        input.environment.as_deref(),
        input.secret_path.as_deref(),
        input.secrets_mapping.as_ref().map(MappingNames::names),
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
    own_application(
        kind == db::TYPE_AUTH0_PRIVATE_KEY_JWT,
        &connection,
        &target,
        requested.is_some(),
    )?;
    let resolved = match requested {
        Some(requested) => Some(secrets_mapping::resolve(state, project_id, requested).await?),
        None => None,
    };
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
        kind,
        overlap_seconds,
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
    let rotation = db::insert(&mut tx, &new).await.map_err(store_error)?;
    if resolved.is_some() {
        secrets_mapping::save(&mut tx, id, resolved.as_ref()).await?;
    }
    let mut metadata = json!({ "name": name, "type": kind, "clientId": target, "connectionId": connection_id, "rotationInterval": input.rotation_interval });
    if let Some(overlap) = overlap_seconds {
        metadata["overlapSeconds"] = overlap.into();
    }
    if let Some(resolved) = &resolved {
        metadata["mapping"] = resolved.summary();
    }
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
    one(state, StatusCode::CREATED, rotation).await
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    kind: RouteKind,
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
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(s @ ("pending" | "success" | "failed")) => Some(s.to_owned()),
        Some(_) => {
            errors.push(FieldError::new(
                "status",
                "must be one of pending, success, failed",
            ));
            None
        }
    };
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
        // Listing every project's rotations is an instance admin's view: 403, not a bad request.
        None => {
            return Err(ApiError::Forbidden {
                detail: "only instance admins list the rotations of every project; name a \
                         project with projectId"
                    .to_owned(),
            });
        }
    }
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let filter = db::ListFilter {
        org_id: caller.org_id,
        project_id,
        connection_id,
        search: search.map(str::to_owned),
        kind: kind.0,
        status,
    };
    let store::page::Counted { page, total } =
        db::list(&state.db, &filter, &page, crate::routes::COUNT_CAP).await?;
    let now = OffsetDateTime::now_utc();
    let mut conn = state.db.acquire().await?;
    let items: Vec<RotationOut> = db::detailed::of(&mut conn, page.items)
        .await?
        .into_iter()
        .map(|detailed| RotationOut::new(detailed, now))
        .collect();
    Ok(Json(
        json!({ "secretRotations": items, "nextCursor": page.next.map(|c| c.encode()), "totalCount": total }),
    ))
}

pub(super) async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    kind: RouteKind,
    PathId(id): PathId,
) -> ApiResult<Response> {
    // Reads arriving together share their statements (`grouped`), details included.
    let detailed = state
        .rotation_reads
        .read((caller.org_id, RotationId(id)))
        .await?
        .ok_or_else(not_found)?;
    caller.require(detailed.rotation.project_id, Role::Viewer, not_found())?;
    if !kind.serves(&detailed.rotation) {
        return Err(not_found());
    }
    Ok(render(StatusCode::OK, detailed))
}

pub(super) async fn fetch_by_name(
    State(state): State<AppState>,
    caller: Caller,
    kind: RouteKind,
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
        .map_err(store_error)?;
    if !kind.serves(&rotation) {
        return Err(not_found());
    }
    let mapping = secrets_mapping::load(&state, rotation.id).await?;
    // Infisical finds a rotation by name within an environment and folder: one that writes its
    // secrets elsewhere (or nowhere) is not the one asked for.
    let path = query
        .secret_path
        .as_deref()
        .map(|p| crate::routes::secrets::validate::path("secretPath", Some(p), &mut Vec::new()));
    let elsewhere = match (&mapping, query.environment.as_deref(), &path) {
        (_, None, None) => false,
        (None, _, _) => true,
        (Some(m), env, path) => {
            env.is_some_and(|e| e != m.environment_slug)
                || path
                    .as_ref()
                    .is_some_and(|p| p.as_deref() != Some(m.folder_path.as_str()))
        }
    };
    if elsewhere {
        return Err(not_found());
    }
    answer(&state, StatusCode::OK, rotation, mapping).await
}

pub(super) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    IfMatch(expected): IfMatch,
    body: ValidJson<ClientSecretPatch>,
) -> ApiResult<Response> {
    let id = RotationId(id);
    let current = load(&state, &caller, id, Role::Member, KIND_CS).await?;
    update_as(state, caller, current, expected, body.value).await
}

pub(super) async fn update_keys(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    IfMatch(expected): IfMatch,
    body: ValidJson<KeyRotationPatch>,
) -> ApiResult<Response> {
    let id = RotationId(id);
    let current = load(&state, &caller, id, Role::Member, KIND_PK).await?;
    update_as(state, caller, current, expected, body.value).await
}

async fn update_as<P: TypeParameters, M: MappingNames>(
    state: AppState,
    caller: Caller,
    current: db::Rotation,
    expected: Option<i64>,
    patch: RotationPatch<P, M>,
) -> ApiResult<Response> {
    let id = current.id;
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
        .and_then(|p| p.client_id())
        .and_then(|c| fields::client_id("parameters.clientId", c, &mut errors));
    // A key rotation's overlap is checked whenever it or the interval it must fit in changes.
    let new_overlap = patch.parameters.as_ref().and_then(|p| p.overlap_seconds());
    let overlap_seconds = match current.overlap_seconds {
        Some(stored) if new_overlap.is_some() || patch.rotation_interval.is_some() => overlap(
            Some(new_overlap.unwrap_or(i64::from(stored))),
            interval,
            &mut errors,
        )
        .filter(|_| new_overlap.is_some()),
        _ => None,
    };
    let mapping_change = patch.environment.is_some()
        || patch.secret_path.is_some()
        || patch.secrets_mapping.is_some();
    let requested = if mapping_change {
        let stored = secrets_mapping::load(&state, id).await?;
        // Well-formed, but not for this rotation as it stands: a conflict with its state, not a
        // bad field (a client cannot know it from the document).
        if stored.is_none() && patch.secrets_mapping.is_none() {
            return Err(ApiError::Conflict {
                detail: "this rotation has no secrets mapping yet: send secretsMapping with the \
                         environment and path"
                    .to_owned(),
                field: Some("secretsMapping"),
            });
        }
        if stored.is_none()
            && patch.environment.is_none()
            && matches!(patch.secrets_mapping, Some(Some(_)))
        {
            return Err(ApiError::Conflict {
                detail: "this rotation has no secrets mapping yet, so no environment to keep: \
                         send environment with secretsMapping"
                    .to_owned(),
                field: Some("environment"),
            });
        }
        mapping_after_patch(&patch, stored.as_ref(), &mut errors)
    } else {
        None
    };
    let Some(schedule) = schedule.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let resolved = match requested {
        Some(requested) => {
            Some(secrets_mapping::resolve(&state, current.project_id, requested).await?)
        }
        None => None,
    };
    // A new target, or a mapping given to a key rotation: checked against the connection's own
    // application as at creation.
    let new_target = target.as_deref().filter(|t| *t != current.client_id);
    if new_target.is_some() || (current.rotates_keys() && resolved.is_some()) {
        let connection =
            store::connections::get(&state.db, caller.org_id, current.connection_id).await?;
        let maps = if mapping_change {
            resolved.is_some()
        } else {
            secrets_mapping::load(&state, id).await?.is_some()
        };
        let to = new_target.unwrap_or(&current.client_id);
        own_application(current.rotates_keys(), &connection, to, maps)?;
        if let Some(target) = new_target {
            state
                .broker
                .get_client(&connection, target)
                .await
                .map_err(auth0_problems::client_lookup)?;
        }
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
        overlap_seconds,
        next_rotation_at: next,
    };
    let mut tx = state.db.begin().await?;
    if change.client_id.is_some() || mapping_change {
        // The open attempt's pending secret belongs to the client it was issued for, and its
        // finish writes the mapping the worker read: neither may move under it. The row lock
        // keeps an attempt from starting meanwhile.
        let locked = db::lock(&mut tx, caller.org_id, id).await?;
        if locked.current_attempt_id.is_some() {
            let field = if change.client_id.is_some() {
                "parameters.clientId"
            } else {
                "secretsMapping"
            };
            return Err(ApiError::Conflict {
                detail: format!(
                    "an attempt of this rotation is in progress; change {field} after it finishes"
                ),
                field: Some(field),
            });
        }
    }
    let updated = db::update(&mut tx, caller.org_id, id, current.version, &change)
        .await
        .map_err(|err| ApiError::fenced(err, expected, "rotation", store_error))?;
    if mapping_change {
        secrets_mapping::save(&mut tx, id, resolved.as_ref()).await?;
    }
    let mut metadata = json!({ "version": updated.version, "clientId": updated.client_id, "isAutoRotationEnabled": updated.is_auto_rotation_enabled });
    if let Some(overlap) = updated.overlap_seconds {
        metadata["overlapSeconds"] = overlap.into();
    }
    if mapping_change {
        metadata["mapping"] = resolved
            .as_ref()
            .map_or(serde_json::Value::Null, |r| r.summary());
    }
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
    kind: RouteKind,
    PathId(id): PathId,
    IfMatch(expected): IfMatch,
    ValidQuery(query): ValidQuery<DeleteQuery>,
) -> ApiResult<Response> {
    let id = RotationId(id);
    let current = load(&state, &caller, id, Role::Member, kind).await?;
    if current.is_in_progress(OffsetDateTime::now_utc()) {
        return Err(in_progress());
    }
    let revoke = query.revoke_generated_credentials.unwrap_or(false);
    if revoke && current.rotates_keys() {
        // Its "generated credential" is a key credential in Auth0, which revoking a client
        // secret would not touch; remove it in Auth0 (or let its `expires_at` pass).
        return Err(ApiError::field(
            "revokeGeneratedCredentials",
            "is not offered for auth0-private-key-jwt rotations: their keys expire on their own (expires_at)",
        ));
    }
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
        .map_err(store_error)?;
    if locked.is_in_progress(OffsetDateTime::now_utc()) {
        return Err(in_progress());
    }
    // Read under the lock: what the answer shows and what `deleteSecrets` removes.
    let mapping = db::mapping::get(&mut tx, id).await?;
    let delete_secrets = query.delete_secrets.unwrap_or(false);
    let deleted = if delete_secrets {
        let mapped = db::mapping::mapped_secrets(&mut tx, id).await?;
        let by = store::secrets::Writer::Member(caller.identity_id.0);
        for secret in &mapped {
            store::secrets::delete(&mut tx, secret.id, &by).await?;
        }
        mapped
    } else {
        Vec::new()
    };
    let removed = db::delete(&mut tx, caller.org_id, id, expected)
        .await
        .map_err(store_error)?;
    for secret in &deleted {
        let summary = json!({
            "key": secret.key,
            "version": secret.version,
            "environment": mapping.as_ref().map(|m| &m.environment_slug),
            "secretPath": mapping.as_ref().map(|m| &m.folder_path),
            "deletedWithRotation": id,
        });
        store::audit::record(
            &mut tx,
            &caller.event(
                "secret.delete",
                "secret",
                secret.id,
                Some(removed.project_id),
                summary,
            ),
        )
        .await?;
    }
    let deleted_keys: Vec<&str> = deleted.iter().map(|s| s.key.as_str()).collect();
    let metadata = json!({ "name": removed.name, "clientId": removed.client_id, "revokedGeneratedCredentials": revoke, "deleteSecrets": delete_secrets, "secretsDeleted": deleted_keys });
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
    answer(&state, StatusCode::OK, removed, mapping).await
}

/// The mapping a PATCH asks for, from its fields and the stored mapping: `None` (with no error)
/// when `secretsMapping: null` removes it. Fields left out keep their stored value; `secretPath`
/// defaults to `/`.
fn mapping_after_patch<P, M: MappingNames>(
    patch: &RotationPatch<P, M>,
    stored: Option<&db::mapping::Mapping>,
    errors: &mut Vec<FieldError>,
) -> Option<secrets_mapping::Requested> {
    let names = match &patch.secrets_mapping {
        Some(None) => {
            for (field, present) in [
                ("environment", patch.environment.is_some()),
                ("secretPath", patch.secret_path.is_some()),
            ] {
                if present {
                    errors.push(FieldError::new(
                        field,
                        "is not accepted with secretsMapping: null (which removes the mapping)",
                    ));
                }
            }
            return None;
        }
        Some(Some(names)) => names.names(),
        None => match stored.and_then(M::from_stored) {
            Some(m) => m.names(),
            None => {
                errors.push(FieldError::new(
                    "secretsMapping",
                    "is required: this rotation has no mapping yet",
                ));
                return None;
            }
        },
    };
    let environment = patch
        .environment
        .as_deref()
        .or(stored.map(|m| m.environment_slug.as_str()));
    let path = patch
        .secret_path
        .as_deref()
        .or(stored.map(|m| m.folder_path.as_str()));
    secrets_mapping::requested(environment, path, Some(names), errors)
}

/// What a rotation may do to the connection's own application (`target` is the connection's
/// client), at creation and when a change points a rotation there or maps its secrets:
/// - a client secret: only a `client-credentials` connection's (Auth0 refuses secrets once
///   Private Key JWT is on, and a `private-key-jwt` connection has no secret to rotate);
/// - keys: only a `private-key-jwt` connection's, which then rotates its own key (rotating a
///   secret-holding connection's application to keys would lock the connection out), and with no
///   secrets mapping, because that private key never leaves Keyhold.
fn own_application(
    rotates_keys: bool,
    connection: &store::connections::Connection,
    target: &str,
    maps_secrets: bool,
) -> Result<(), ApiError> {
    if target != connection.client_id {
        return Ok(());
    }
    match (rotates_keys, connection.uses_private_key()) {
        (false, true) => Err(ApiError::field(
            "parameters.clientId",
            "this is the application of a private-key-jwt connection: it authenticates with a key, not a client secret",
        )),
        (true, false) => Err(ApiError::field(
            "parameters.clientId",
            "this is the application of a client-credentials connection: rotating it to keys would lock the connection out; rotate the keys of another application, or a private-key-jwt connection's own",
        )),
        (true, true) if maps_secrets => Err(ApiError::field(
            "secretsMapping",
            "a private-key-jwt connection's own key never leaves Keyhold: the rotation of it writes no secrets",
        )),
        _ => Ok(()),
    }
}
