//! `/api/v1/webhooks`: a project's webhook endpoints, for its admins. Create (the signing secret
//! is shown once), list, get, update, delete, rotate the signing secret (shown once; the old one
//! keeps signing for 24 h), send a test event, read the delivery log and redeliver. URLs pass the
//! same SSRF rules as outbound calls (`auth0::outbound::check_url`) when stored, and again at
//! every delivery. Every change is audited; audit rows name the URL's host only (a URL may carry
//! a token in its path or query).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crypto::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::ProjectId;
use store::webhooks::{self as db, Endpoint};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::{PathId, PathIds, ValidJson, ValidQuery};
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::routes::fields as validate;
use crate::routes::table::Routes;

/// Most endpoints one project may have.
pub const MAX_ENDPOINTS: i64 = 50;
const MAX_EVENT_TYPES: usize = 16;

pub fn routes() -> Routes {
    Routes::default()
        .get("/api/v1/webhooks", list)
        .post("/api/v1/webhooks", create)
        .get("/api/v1/webhooks/{webhookId}", fetch)
        .patch("/api/v1/webhooks/{webhookId}", update)
        .delete("/api/v1/webhooks/{webhookId}", remove)
        .post("/api/v1/webhooks/{webhookId}/rotate-secret", rotate_secret)
        .post("/api/v1/webhooks/{webhookId}/test", send_test)
        .get("/api/v1/webhooks/{webhookId}/deliveries", deliveries)
        .post(
            "/api/v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver",
            redeliver,
        )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WebhookIn {
    project_id: String,
    url: String,
    #[serde(default)]
    description: Option<String>,
    event_types: Vec<String>,
    #[serde(default)]
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WebhookPatch {
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    url: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::nullable")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    event_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::extract::not_null")]
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListQuery {
    project_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeliveriesQuery {
    #[serde(default)]
    limit: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookOut {
    id: Uuid,
    project_id: ProjectId,
    url: String,
    description: Option<String>,
    event_types: Vec<String>,
    enabled: bool,
    version: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    signature_overlap_until: Option<OffsetDateTime>,
    /// The first failed attempt since the last delivered one (null while deliveries succeed).
    #[serde(with = "time::serde::rfc3339::option")]
    failing_since: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    disabled_at: Option<OffsetDateTime>,
    /// Why Keyhold disabled it (null when an admin did, or while enabled).
    disabled_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl From<Endpoint> for WebhookOut {
    fn from(e: Endpoint) -> Self {
        WebhookOut {
            id: e.id,
            project_id: e.project_id,
            url: e.url,
            description: e.description,
            event_types: e.event_types,
            enabled: e.enabled,
            version: e.version,
            signature_overlap_until: e.previous_secret_expires_at,
            failing_since: e.failing_since,
            disabled_at: e.disabled_at,
            disabled_reason: e.disabled_reason,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AttemptOut {
    attempt_number: i32,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    status_code: Option<i32>,
    latency_ms: i32,
    error: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryOut {
    id: Uuid,
    event_id: Uuid,
    event_type: String,
    status: String,
    attempts: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    next_attempt_at: Option<OffsetDateTime>,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    last_latency_ms: Option<i32>,
    #[serde(with = "time::serde::rfc3339::option")]
    delivered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<Vec<AttemptOut>>,
}

fn delivery_out(d: db::Delivery, log: Option<Vec<db::AttemptLog>>) -> DeliveryOut {
    DeliveryOut {
        id: d.id,
        event_id: d.event_id,
        event_type: d.event_type,
        status: d.status,
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at,
        last_status_code: d.last_status_code,
        last_error: d.last_error,
        last_latency_ms: d.last_latency_ms,
        delivered_at: d.delivered_at,
        created_at: d.created_at,
        log: log.map(|log| {
            log.into_iter()
                .map(|a| AttemptOut {
                    attempt_number: a.attempt_no,
                    at: a.started_at,
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    error: a.error,
                })
                .collect()
        }),
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound {
        what: "webhook",
        field: None,
    }
}

fn project_not_found() -> ApiError {
    ApiError::NotFound {
        what: "project",
        field: Some("projectId"),
    }
}

/// Loads an endpoint the caller administers: 404 outside their projects, 403 below admin.
async fn load(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Endpoint> {
    let endpoint = match db::get(&state.db, caller.org_id, id).await {
        Ok(endpoint) => endpoint,
        Err(store::Error::NotFound) => return Err(not_found()),
        Err(other) => return Err(other.into()),
    };
    caller.require(endpoint.project_id, Role::Admin, not_found())?;
    Ok(endpoint)
}

pub(crate) fn check_url(
    raw: &str,
    state: &AppState,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match auth0::outbound::check_url(raw, state.webhook_allow_private_networks) {
        Ok(url) => Some(url.to_string()),
        Err(err) => {
            errors.push(FieldError::new("url", err.to_string()));
            None
        }
    }
}

fn check_event_types(raw: &[String], errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
    if raw.is_empty() || raw.len() > MAX_EVENT_TYPES {
        errors.push(FieldError::new(
            "eventTypes",
            format!("must list 1 to {MAX_EVENT_TYPES} event types (or \"*\")"),
        ));
        return None;
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        if t != "*" && !db::EVENT_TYPES.contains(&t.as_str()) {
            errors.push(FieldError::new(
                format!("eventTypes.{i}"),
                format!(
                    "is not an event type; use \"*\" or one of {}",
                    db::EVENT_TYPES.join(", ")
                ),
            ));
            return None;
        }
        if out.contains(t) {
            errors.push(FieldError::new(
                format!("eventTypes.{i}"),
                "is listed twice",
            ));
            return None;
        }
        out.push(t.clone());
    }
    Some(out)
}

/// The host of a URL, for audit rows (never its path or query).
pub(crate) fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

fn summary(e: &Endpoint) -> serde_json::Value {
    json!({ "host": host_of(&e.url), "eventTypes": e.event_types, "enabled": e.enabled, "version": e.version })
}

fn new_secret() -> ApiResult<SecretString> {
    broker::webhooks::generate_signing_secret().map_err(ApiError::internal)
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: ValidJson<WebhookIn>,
) -> ApiResult<Response> {
    let input = body.value;
    let mut errors = Vec::new();
    let project_id = validate::uuid("projectId", &input.project_id, &mut errors).map(ProjectId);
    let url = check_url(&input.url, &state, &mut errors);
    let description = validate::description(input.description.as_deref(), &mut errors);
    let event_types = check_event_types(&input.event_types, &mut errors);
    let (Some(project_id), Some(url), Some(event_types), true) =
        (project_id, url, event_types, errors.is_empty())
    else {
        return Err(ApiError::Validation(errors));
    };
    caller
        .require_project(&state.db, project_id, Role::Admin, project_not_found())
        .await?;
    let id = Uuid::now_v7();
    let secret_id = Uuid::now_v7();
    let secret = new_secret()?;
    let sealed = state
        .broker
        .seal_webhook_secret(secret_id, project_id, id, &secret)
        .map_err(ApiError::internal)?;
    let mut tx = state.db.begin().await?;
    if db::count(&mut tx, project_id).await? >= MAX_ENDPOINTS {
        return Err(ApiError::Conflict {
            detail: format!("a project can have at most {MAX_ENDPOINTS} webhook endpoints"),
            field: None,
        });
    }
    let new = db::NewEndpoint {
        id,
        org_id: caller.org_id,
        project_id,
        url: &url,
        description: description.as_deref(),
        event_types: &event_types,
        enabled: input.enabled.unwrap_or(true),
        secret_id,
        secret_sealed: &sealed,
    };
    let endpoint = db::insert(&mut tx, &new).await.map_err(|err| match err {
        store::Error::MissingReference { .. } => project_not_found(),
        other => other.into(),
    })?;
    store::audit::record(
        &mut tx,
        &caller.event(
            "webhook.create",
            "webhook",
            id,
            Some(project_id),
            summary(&endpoint),
        ),
    )
    .await?;
    tx.commit().await?;
    let body = json!({
        "webhook": WebhookOut::from(endpoint),
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
    let Some(project_id) = validate::uuid("projectId", &query.project_id, &mut errors) else {
        return Err(ApiError::Validation(errors));
    };
    let project_id = ProjectId(project_id);
    caller
        .require_project(&state.db, project_id, Role::Admin, project_not_found())
        .await?;
    let found = db::list(&state.db, project_id).await?;
    let webhooks: Vec<WebhookOut> = found.into_iter().map(WebhookOut::from).collect();
    Ok(Json(json!({ "webhooks": webhooks })))
}

async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<serde_json::Value>> {
    let endpoint = load(&state, &caller, id).await?;
    Ok(Json(json!({ "webhook": WebhookOut::from(endpoint) })))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    body: ValidJson<WebhookPatch>,
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
    let event_types = patch
        .event_types
        .as_deref()
        .map(|t| check_event_types(t, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let endpoint = load(&state, &caller, id).await?;
    let changes = db::Changes {
        url: url.as_ref().and_then(|u| u.as_deref()),
        description: description.as_ref().map(|d| d.as_deref()),
        event_types: event_types.as_ref().and_then(|t| t.as_deref()),
        enabled: patch.enabled,
    };
    let mut tx = state.db.begin().await?;
    let updated = match db::update(&mut tx, caller.org_id, id, &changes).await {
        Ok(updated) => updated,
        Err(store::Error::NotFound) => return Err(not_found()),
        Err(other) => return Err(other.into()),
    };
    store::audit::record(
        &mut tx,
        &caller.event(
            "webhook.update",
            "webhook",
            id,
            Some(endpoint.project_id),
            summary(&updated),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "webhook": WebhookOut::from(updated) })))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<serde_json::Value>> {
    let endpoint = load(&state, &caller, id).await?;
    let mut tx = state.db.begin().await?;
    match db::delete(&mut tx, caller.org_id, id).await {
        Ok(()) => {}
        Err(store::Error::NotFound) => return Err(not_found()),
        Err(other) => return Err(other.into()),
    }
    store::audit::record(
        &mut tx,
        &caller.event(
            "webhook.delete",
            "webhook",
            id,
            Some(endpoint.project_id),
            summary(&endpoint),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "webhook": WebhookOut::from(endpoint) })))
}

async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<serde_json::Value>> {
    let endpoint = load(&state, &caller, id).await?;
    let secret_id = Uuid::now_v7();
    let secret = new_secret()?;
    let sealed = state
        .broker
        .seal_webhook_secret(secret_id, endpoint.project_id, id, &secret)
        .map_err(ApiError::internal)?;
    let mut tx = state.db.begin().await?;
    let rotated = match db::rotate_secret(&mut tx, caller.org_id, id, secret_id, &sealed).await {
        Ok(rotated) => rotated,
        Err(store::Error::NotFound) => return Err(not_found()),
        Err(other) => return Err(other.into()),
    };
    store::audit::record(
        &mut tx,
        &caller.event(
            "webhook.rotate_secret",
            "webhook",
            id,
            Some(endpoint.project_id),
            summary(&rotated),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({
        "webhook": WebhookOut::from(rotated),
        "signingSecret": secret.expose_secret(),
    })))
}

async fn send_test(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let endpoint = load(&state, &caller, id).await?;
    if !endpoint.enabled {
        return Err(ApiError::Conflict {
            detail: "the webhook is disabled; enable it before sending a test event".into(),
            field: Some("enabled"),
        });
    }
    let mut tx = state.db.begin().await?;
    let data = json!({ "webhookId": id, "projectId": endpoint.project_id, "message": "a test event sent from Keyhold" });
    let enqueued = db::enqueue_test(&mut tx, endpoint.project_id, id, data).await?;
    let (Some(event_id), Some(&delivery_id)) = (enqueued.event_id, enqueued.deliveries.first())
    else {
        return Err(not_found());
    };
    store::audit::record(
        &mut tx,
        &caller.event(
            "webhook.test",
            "webhook",
            id,
            Some(endpoint.project_id),
            json!({ "eventId": event_id, "deliveryId": delivery_id }),
        ),
    )
    .await?;
    tx.commit().await?;
    let delivery = db::delivery(&state.db, id, delivery_id).await?;
    let body = json!({ "delivery": delivery_out(delivery, None) });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ValidQuery(query): ValidQuery<DeliveriesQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 200"));
    }
    load(&state, &caller, id).await?;
    let found = db::deliveries(&state.db, id, i64::from(limit)).await?;
    let out: Vec<DeliveryOut> = found
        .into_iter()
        .map(|(d, log)| delivery_out(d, Some(log)))
        .collect();
    Ok(Json(json!({ "deliveries": out })))
}

async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    PathIds(ids): PathIds,
) -> ApiResult<Response> {
    let [id, delivery_id] = ids.as_slice() else {
        return Err(ApiError::internal("redeliver needs two path ids"));
    };
    let endpoint = load(&state, &caller, *id).await?;
    let mut tx = state.db.begin().await?;
    let delivery = match db::redeliver(&mut tx, *id, *delivery_id).await {
        Ok(db::Redeliver::Queued(delivery)) => *delivery,
        Ok(db::Redeliver::AlreadyPending) => {
            return Err(ApiError::Conflict {
                detail: "the delivery is still pending; it is retried on its own".into(),
                field: None,
            });
        }
        Err(store::Error::NotFound) => {
            return Err(ApiError::NotFound {
                what: "delivery",
                field: None,
            });
        }
        Err(other) => return Err(other.into()),
    };
    store::audit::record(
        &mut tx,
        &caller.event(
            "webhook.redeliver",
            "webhook",
            id,
            Some(endpoint.project_id),
            json!({ "deliveryId": delivery_id, "eventId": delivery.event_id }),
        ),
    )
    .await?;
    tx.commit().await?;
    let body = json!({ "delivery": delivery_out(delivery, None) });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
