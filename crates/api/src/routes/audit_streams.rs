//! `/api/v1/audit-log-streams`: where the audit log is also delivered, as signed JSON batches
//! (a SIEM's HTTP intake, or any receiver). A project's admins stream their project's events;
//! instance admins stream the whole organisation's (`projectId` absent or null). The signing
//! secret is shown once at creation; extra request headers (an intake's API key) are write-only:
//! responses name them, never their values. URLs pass the SSRF rules of webhooks when stored and
//! at every delivery. Every change is audited, naming the URL's host only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use broker::audit_streams::StreamPlace;
use crypto::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::ProjectId;
use store::audit_streams::{self as db, Stream};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::{PathId, ValidJson, ValidQuery};
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::routes::fields as validate;
use crate::routes::table::Routes;
use crate::routes::webhooks::{check_url, host_of};

/// Most streams one project (or the organisation) may have.
pub const MAX_STREAMS: i64 = 10;
const MAX_HEADERS: usize = 10;
const MAX_HEADER_VALUE: usize = 4096;
/// Headers Keyhold sets itself (or HTTP does): a stream cannot replace them.
const RESERVED_HEADERS: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "host",
    "connection",
    "transfer-encoding",
    "te",
    "upgrade",
    "expect",
];

pub fn routes() -> Routes {
    Routes::default()
        .get("/api/v1/audit-log-streams", list)
        .post("/api/v1/audit-log-streams", create)
        .get("/api/v1/audit-log-streams/{streamId}", fetch)
        .patch("/api/v1/audit-log-streams/{streamId}", update)
        .delete("/api/v1/audit-log-streams/{streamId}", remove)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HeaderIn {
    key: String,
    value: SecretString,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StreamIn {
    #[serde(default)]
    project_id: Option<String>,
    url: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    headers: Option<Vec<HeaderIn>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StreamPatch {
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    url: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::nullable")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    enabled: Option<bool>,
    /// Replaces every extra header (`[]` removes them).
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    headers: Option<Vec<HeaderIn>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    project_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamOut {
    id: Uuid,
    project_id: Option<ProjectId>,
    url: String,
    description: Option<String>,
    enabled: bool,
    header_names: Vec<String>,
    delivered_events: i64,
    /// Events recorded and not yet delivered.
    backlog: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    last_delivered_at: Option<OffsetDateTime>,
    /// Failed attempts in a row at the batch waiting to go.
    failures: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    failing_since: Option<OffsetDateTime>,
    last_status: Option<i32>,
    last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    next_attempt_at: OffsetDateTime,
    version: i64,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl From<Stream> for StreamOut {
    fn from(s: Stream) -> Self {
        StreamOut {
            id: s.id,
            project_id: s.project_id,
            url: s.url,
            description: s.description,
            enabled: s.enabled,
            header_names: s.header_names,
            delivered_events: s.delivered_events,
            backlog: s.backlog,
            last_delivered_at: s.last_delivered_at,
            failures: s.failures,
            failing_since: s.failing_since,
            last_status: s.last_status,
            last_error: s.last_error,
            next_attempt_at: s.next_attempt_at,
            version: s.version,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound {
        what: "audit log stream",
        field: None,
    }
}

fn project_not_found() -> ApiError {
    ApiError::NotFound {
        what: "project",
        field: Some("projectId"),
    }
}

/// The scope a request names: a project the caller administers, or (no `projectId`) the
/// organisation, for instance admins only.
async fn scope(
    state: &AppState,
    caller: &Caller,
    raw: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> ApiResult<Option<Option<ProjectId>>> {
    match raw {
        Some(raw) => {
            let Some(id) = validate::uuid("projectId", raw, errors) else {
                return Ok(None);
            };
            let project = ProjectId(id);
            caller
                .require_project(&state.db, project, Role::Admin, project_not_found())
                .await?;
            Ok(Some(Some(project)))
        }
        None if caller.is_instance_admin => Ok(Some(None)),
        // The organisation's stream is an instance admin's: for anyone else a 403, not a bad field.
        None => Err(ApiError::Forbidden {
            detail: "only instance admins stream the whole organisation's audit log; name a \
                     project you administer with projectId"
                .to_owned(),
        }),
    }
}

/// Loads a stream the caller administers: 404 for anything else.
async fn load(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Stream> {
    let stream = match db::get(&state.db, caller.org_id, id).await {
        Ok(stream) => stream,
        Err(store::Error::NotFound) => return Err(not_found()),
        Err(other) => return Err(other.into()),
    };
    match stream.project_id {
        Some(project) => {
            caller.require(project, Role::Admin, not_found())?;
        }
        None if caller.is_instance_admin => {}
        None => return Err(not_found()),
    }
    Ok(stream)
}

/// Checks extra headers: names are HTTP tokens Keyhold does not set itself, each once; values
/// are printable and bounded. Messages name the header's position, never its value.
fn check_headers(raw: &[HeaderIn], errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
    if raw.len() > MAX_HEADERS {
        errors.push(FieldError::new(
            "headers",
            format!("must list at most {MAX_HEADERS} headers"),
        ));
        return None;
    }
    let before = errors.len();
    let mut names: Vec<String> = Vec::with_capacity(raw.len());
    for (i, header) in raw.iter().enumerate() {
        let name = header.key.trim().to_ascii_lowercase();
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || name.len() > 64 || !name.chars().all(token) {
            errors.push(FieldError::new(
                format!("headers.{i}.key"),
                "must be an HTTP header name: 1 to 64 letters, digits or !#$%&'*+-.^_`|~",
            ));
        } else if RESERVED_HEADERS.contains(&name.as_str()) {
            errors.push(FieldError::new(
                format!("headers.{i}.key"),
                format!(
                    "is set by Keyhold or HTTP itself; choose another header (reserved: {})",
                    RESERVED_HEADERS.join(", ")
                ),
            ));
        } else if names.contains(&name) {
            errors.push(FieldError::new(
                format!("headers.{i}.key"),
                "is listed twice (names are case-insensitive)",
            ));
        } else {
            names.push(name);
        }
        let value = header.value.expose_secret();
        if value.is_empty()
            || value.len() > MAX_HEADER_VALUE
            || !value
                .chars()
                .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic())
        {
            errors.push(FieldError::new(
                format!("headers.{i}.value"),
                format!(
                    "must be 1 to {MAX_HEADER_VALUE} printable ASCII characters (no line breaks)"
                ),
            ));
        }
    }
    (errors.len() == before).then_some(names)
}

fn opened_headers(raw: Vec<HeaderIn>) -> Vec<(String, SecretString)> {
    raw.into_iter()
        .map(|h| (h.key.trim().to_ascii_lowercase(), h.value))
        .collect()
}

fn summary(s: &Stream) -> serde_json::Value {
    json!({
        "host": host_of(&s.url),
        "enabled": s.enabled,
        "headerNames": s.header_names,
        "version": s.version,
    })
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: ValidJson<StreamIn>,
) -> ApiResult<Response> {
    let input = body.value;
    let mut errors = Vec::new();
    let url = check_url(&input.url, &state, &mut errors);
    let description = validate::description(input.description.as_deref(), &mut errors);
    let headers = input.headers.unwrap_or_default();
    let names = check_headers(&headers, &mut errors);
    let scope = scope(&state, &caller, input.project_id.as_deref(), &mut errors).await?;
    let (Some(project_id), Some(url), Some(names), true) = (scope, url, names, errors.is_empty())
    else {
        return Err(ApiError::Validation(errors));
    };
    let place = StreamPlace {
        id: Uuid::now_v7(),
        org_id: caller.org_id,
        project_id,
    };
    let secret = broker::webhooks::generate_signing_secret().map_err(ApiError::internal)?;
    let secret_sealed = state
        .broker
        .seal_audit_stream_secret(place, &secret)
        .map_err(ApiError::internal)?;
    let headers_sealed = state
        .broker
        .seal_audit_stream_headers(place, &opened_headers(headers))
        .map_err(ApiError::internal)?;
    let mut tx = state.db.begin().await?;
    if db::count(&mut tx, caller.org_id, project_id).await? >= MAX_STREAMS {
        return Err(ApiError::Conflict {
            detail: format!(
                "a project (or the organisation) can have at most {MAX_STREAMS} audit log streams"
            ),
            field: None,
        });
    }
    let new = db::NewStream {
        id: place.id,
        org_id: caller.org_id,
        project_id,
        url: &url,
        description: description.as_deref(),
        enabled: input.enabled.unwrap_or(true),
        header_names: &names,
        secret_sealed: &secret_sealed,
        headers_sealed: &headers_sealed,
    };
    let stream = db::insert(&mut tx, &new).await.map_err(|err| match err {
        store::Error::MissingReference { .. } => project_not_found(),
        other => other.into(),
    })?;
    store::audit::record(
        &mut tx,
        &caller.event(
            "audit_log_stream.create",
            "audit_log_stream",
            place.id,
            project_id,
            summary(&stream),
        ),
    )
    .await?;
    tx.commit().await?;
    let body = json!({
        "auditLogStream": StreamOut::from(stream),
        "signingSecret": secret.expose_secret(),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let mut errors = Vec::new();
    let Some(project_id) = scope(&state, &caller, query.project_id.as_deref(), &mut errors).await?
    else {
        return Err(ApiError::Validation(errors));
    };
    let found = db::list(&state.db, caller.org_id, project_id).await?;
    let streams: Vec<StreamOut> = found.into_iter().map(StreamOut::from).collect();
    Ok(Json(json!({ "auditLogStreams": streams })))
}

async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<serde_json::Value>> {
    let stream = load(&state, &caller, id).await?;
    Ok(Json(json!({ "auditLogStream": StreamOut::from(stream) })))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    body: ValidJson<StreamPatch>,
) -> ApiResult<Json<serde_json::Value>> {
    let patch = body.value;
    let mut errors = Vec::new();
    let url = patch
        .url
        .as_deref()
        .map(|raw| check_url(raw, &state, &mut errors));
    let description = patch
        .description
        .as_ref()
        .map(|d| validate::description(d.as_deref(), &mut errors));
    let names = patch
        .headers
        .as_deref()
        .map(|h| check_headers(h, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let stream = load(&state, &caller, id).await?;
    let place = StreamPlace {
        id,
        org_id: caller.org_id,
        project_id: stream.project_id,
    };
    let sealed_headers = match patch.headers {
        Some(headers) => Some(
            state
                .broker
                .seal_audit_stream_headers(place, &opened_headers(headers))
                .map_err(ApiError::internal)?,
        ),
        None => None,
    };
    let names = names.flatten();
    let changes = db::Changes {
        url: url.as_ref().and_then(|u| u.as_deref()),
        description: description.as_ref().map(|d| d.as_deref()),
        enabled: patch.enabled,
        headers: names.as_deref().zip(sealed_headers.as_ref()),
    };
    let mut tx = state.db.begin().await?;
    let updated = match db::update(&mut tx, caller.org_id, id, None, &changes).await {
        Ok(updated) => updated,
        Err(store::Error::NotFound) => return Err(not_found()),
        Err(other) => return Err(other.into()),
    };
    store::audit::record(
        &mut tx,
        &caller.event(
            "audit_log_stream.update",
            "audit_log_stream",
            id,
            stream.project_id,
            summary(&updated),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "auditLogStream": StreamOut::from(updated) })))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<serde_json::Value>> {
    let stream = load(&state, &caller, id).await?;
    let mut tx = state.db.begin().await?;
    match db::delete(&mut tx, caller.org_id, id).await {
        Ok(()) => {}
        Err(store::Error::NotFound) => return Err(not_found()),
        Err(other) => return Err(other.into()),
    }
    store::audit::record(
        &mut tx,
        &caller.event(
            "audit_log_stream.delete",
            "audit_log_stream",
            id,
            stream.project_id,
            summary(&stream),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "auditLogStream": StreamOut::from(stream) })))
}
