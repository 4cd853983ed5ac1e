//! `/api/v1/app-connections/auth0` (and the all-apps list and options): create, list, get, get by
//! name, update and delete Auth0 connections. Credentials are checked with Auth0 before they are
//! stored; the secret is sealed before it reaches the store and never leaves it again. What is
//! done *through* a stored connection (clients, users, Token Vault set-up, validate) lives in
//! `routes::connection_calls`.

mod credentials;
pub mod dto;
mod private_key;

use auth0::ClientCredentials;
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use broker::Destination;
use serde_json::json;
use store::connections::{self as db, Sealed};
use store::{ConnectionId, ProjectId};

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::{IfMatch, PathId, ValidJson, ValidQuery, etag};
use crate::idempotency::{self, IdempotencyKey};
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::routes::connection_calls::capabilities;
use crate::routes::table::Routes;
use crate::routes::unique::Unique;
use crate::routes::{auth0_problems, fields, page_request};
use dto::{ByNameQuery, ConnectionIn, ConnectionOut, ConnectionPatch, ListQuery};

pub fn routes() -> Routes {
    Routes::default()
        .get("/api/v1/app-connections/options", options)
        .get("/api/v1/app-connections", list)
        .get("/api/v1/app-connections/auth0", list)
        .post("/api/v1/app-connections/auth0", create)
        .get("/api/v1/app-connections/auth0/{connectionId}", fetch)
        .patch("/api/v1/app-connections/auth0/{connectionId}", update)
        .delete("/api/v1/app-connections/auth0/{connectionId}", remove)
        .get(
            "/api/v1/app-connections/auth0/connection-name/{connectionName}",
            fetch_by_name,
        )
}

fn project_not_found() -> ApiError {
    ApiError::NotFound {
        what: "project",
        field: Some("projectId"),
    }
}

/// Loads a connection the caller may act on with `min`: 404 when its project is not theirs.
pub(in crate::routes) async fn load(
    state: &AppState,
    caller: &Caller,
    id: ConnectionId,
    min: Role,
) -> ApiResult<db::Connection> {
    // Reads arriving together share one statement (`grouped`): the most frequent read of the API.
    let connection = state
        .connection_reads
        .read((caller.org_id, id))
        .await
        .map_err(store_error)?
        .ok_or_else(connection_not_found)?;
    caller.require(connection.project_id, min, connection_not_found())?;
    Ok(connection)
}

fn connection_not_found() -> ApiError {
    ApiError::NotFound {
        what: "app connection",
        field: None,
    }
}

/// One connection with its `ETag`, serialised straight from the typed DTO (building a
/// `serde_json::Value` first cost more than the query on the hot GET path).
fn one(status: StatusCode, connection: db::Connection) -> Response {
    let tag = etag(connection.version);
    let body = dto::OneOut {
        app_connection: ConnectionOut::from(connection),
    };
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::ETAG, tag);
    response
}

/// A single-connection answer with its `ETag`; also renders idempotent replays of a create.
fn render(status: StatusCode, body: serde_json::Value) -> Response {
    let version = body["appConnection"]["version"].as_i64();
    let mut response = (status, Json(body)).into_response();
    if let Some(version) = version {
        response.headers_mut().insert(header::ETAG, etag(version));
    }
    response
}

async fn options(_caller: Caller) -> Json<serde_json::Value> {
    Json(json!({
        "appConnectionOptions": [
            {
                "name": "Auth0",
                "app": dto::APP,
                "methods": [dto::METHOD_CLIENT_CREDENTIALS, dto::METHOD_PRIVATE_KEY_JWT],
                // What to grant the application for what, from the one capability table.
                "capabilities": capabilities::catalogue(),
            }
        ]
    }))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: ValidJson<ConnectionIn>,
) -> ApiResult<Response> {
    let project = body.value.project_id.clone();
    let answer = create_checked(&state, &caller, key, body).await;
    if let Err(err) = &answer {
        crate::routes::refused::record(
            &state,
            &caller,
            "app_connection.create",
            "app_connection",
            &project,
            err,
        )
        .await;
    }
    answer
}

async fn create_checked(
    state: &AppState,
    caller: &Caller,
    key: IdempotencyKey,
    body: ValidJson<ConnectionIn>,
) -> ApiResult<Response> {
    let hash = body.body_hash;
    let input = body.value;
    let mut errors = Vec::new();
    let name = fields::slug_name(&input.name, &mut errors);
    let description = fields::description(input.description.as_deref(), &mut errors);
    let with_key = input.method == dto::METHOD_PRIVATE_KEY_JWT;
    method(&input.method, &mut errors);
    let register_with = match (&input.register_with, with_key) {
        (None, _) => None,
        (Some(raw), true) => fields::uuid("registerWith", raw, &mut errors).map(ConnectionId),
        (Some(_), false) => {
            errors.push(FieldError::new(
                "registerWith",
                "only a private-key-jwt connection is registered through another connection; omit it",
            ));
            None
        }
    };
    let project_id = fields::uuid("projectId", &input.project_id, &mut errors).map(ProjectId);
    if input.is_platform_managed_credentials == Some(true) {
        errors.push(FieldError::new(
            "isPlatformManagedCredentials",
            "Auth0 connections cannot use platform-managed credentials",
        ));
    }
    if input.gateway_id.is_some() {
        errors.push(FieldError::new(
            "gatewayId",
            "gateways are not supported; omit it or send null",
        ));
    }
    if with_key {
        let target = credentials::check_key(input.credentials, &mut errors);
        let (Some(name), Some(project_id), Some(target), true) =
            (name, project_id, target, errors.is_empty())
        else {
            return Err(ApiError::Validation(errors));
        };
        let request = private_key::KeyRequest {
            project_id,
            name: &name,
            description: description.as_deref(),
            target,
            register_with,
        };
        return create_with_key(state, caller, key, &hash, request).await;
    }
    let credentials = credentials::check(input.credentials, &mut errors);
    let (Some(name), Some(project_id), Some(credentials), true) =
        (name, project_id, credentials, errors.is_empty())
    else {
        return Err(ApiError::Validation(errors));
    };
    caller
        .require_project(&state.db, project_id, Role::Member, project_not_found())
        .await?;

    // Keys are per identity, so a replay never shows one caller another's answer.
    let scope = format!("{}:POST /api/v1/app-connections/auth0", caller.identity_id);
    idempotency::once(state, key, &scope, &hash, render, || async {
        // Cheap check before calling Auth0; the unique constraint still decides under races.
        match db::get_by_name(&state.db, project_id, &name).await {
            Ok(_) => return Err(NAME_TAKEN.conflict()),
            Err(store::Error::NotFound) => {}
            Err(other) => return Err(other.into()),
        }
        let token = state.auth0.client_credentials_token(&credentials).await.map_err(auth0_problems::credentials)?;

        let id = ConnectionId::new();
        let sealed = seal(state, id, project_id, &credentials)?;
        let new = db::NewConnection {
            id,
            org_id: caller.org_id,
            project_id,
            method: dto::METHOD_CLIENT_CREDENTIALS,
            name: &name,
            description: description.as_deref(),
            credentials: stored_credentials(&credentials, &sealed),
        };
        let mut tx = state.db.begin().await?;
        let mut connection = db::insert(&mut tx, &new).await.map_err(store_error)?;
        let diagnostics = capabilities::diagnose(&token.scopes, None);
        keep_scope_check(&mut tx, &mut connection, &diagnostics).await?;
        store::audit::record(&mut tx, &caller.event("app_connection.create", "app_connection", id, Some(project_id), summary(&connection))).await?;
        tx.commit().await?;
        tracing::info!(connection.id = %connection.id, project.id = %connection.project_id, "app connection created");
        Ok((StatusCode::CREATED, json!({ "appConnection": ConnectionOut::from(connection), "diagnostics": diagnostics })))
    })
    .await
}

/// `method` must name one Keyhold supports.
fn method(raw: &str, errors: &mut Vec<FieldError>) {
    if raw != dto::METHOD_CLIENT_CREDENTIALS && raw != dto::METHOD_PRIVATE_KEY_JWT {
        errors.push(FieldError::new(
            "method",
            format!(
                "must be \"{}\" or \"{}\"",
                dto::METHOD_CLIENT_CREDENTIALS,
                dto::METHOD_PRIVATE_KEY_JWT
            ),
        ));
    }
}

/// `create` for `method: "private-key-jwt"` (see `private_key`).
async fn create_with_key(
    state: &AppState,
    caller: &Caller,
    key: IdempotencyKey,
    hash: &[u8; 32],
    request: private_key::KeyRequest<'_>,
) -> ApiResult<Response> {
    let project_id = request.project_id;
    caller
        .require_project(&state.db, project_id, Role::Member, project_not_found())
        .await?;
    let scope = format!("{}:POST /api/v1/app-connections/auth0", caller.identity_id);
    idempotency::once(state, key, &scope, hash, render, || async {
        match db::get_by_name(&state.db, project_id, request.name).await {
            Ok(_) => return Err(NAME_TAKEN.conflict()),
            Err(store::Error::NotFound) => {}
            Err(other) => return Err(other.into()),
        }
        // Checked before anything is generated or stored: a bad registerWith changes nothing.
        let registrar = match request.register_with {
            Some(id) => {
                Some(private_key::registrar(state, caller, id, project_id, &request.target).await?)
            }
            None => None,
        };
        private_key::create(state, caller, request, registrar).await
    })
    .await
}

/// Stores what a scope check found on the connection (and on `connection`, for the response),
/// and reports capabilities usable at the previous check that no longer are
/// (`app-connection.scopes-missing`, at most hourly per connection version). Call inside a
/// transaction: the check and its report commit together.
pub(in crate::routes) async fn keep_scope_check(
    conn: &mut sqlx::PgConnection,
    connection: &mut db::Connection,
    diagnostics: &capabilities::Diagnostics,
) -> ApiResult<()> {
    let lost = capabilities::lost_since(connection.scope_check.as_ref(), diagnostics);
    if !lost.is_empty() {
        let details = json!({
            "capabilities": lost
                .iter()
                .map(|c| json!({ "capability": c.capability, "missingScopes": c.missing_scopes }))
                .collect::<Vec<_>>(),
            "whatToFix": "in the Auth0 Dashboard, go to Applications > APIs > Auth0 Management API > Machine To Machine Applications and grant the missing scopes to the connection's application",
        });
        store::webhooks::alerts::alert_connection(
            conn,
            connection,
            store::webhooks::alerts::SCOPES_MISSING,
            details,
        )
        .await?;
    }
    let found = diagnostics.missing_by_capability();
    let at = db::record_scope_check(conn, connection.org_id, connection.id, &found).await?;
    let mut merged = connection
        .scope_check
        .take()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    if let Some(found) = found.as_object() {
        merged.extend(found.clone());
    }
    connection.scope_check = Some(merged.into());
    connection.scope_checked_at = at;
    Ok(())
}

/// What an audit row says about a connection: names and ids, never the secret.
fn summary(c: &db::Connection) -> serde_json::Value {
    json!({ "name": c.name, "domain": c.domain, "clientId": c.client_id, "version": c.version })
}

fn seal(
    state: &AppState,
    id: ConnectionId,
    project_id: ProjectId,
    credentials: &ClientCredentials,
) -> ApiResult<Sealed> {
    let to = Destination {
        domain: credentials.domain.as_str(),
        client_id: &credentials.client_id,
    };
    state
        .broker
        .seal_connection_secret(id, project_id, to, &credentials.client_secret)
        .map_err(ApiError::internal)
}

fn stored_credentials<'a>(
    credentials: &'a ClientCredentials,
    sealed: &'a Sealed,
) -> db::Credentials<'a> {
    db::Credentials {
        domain: credentials.domain.as_str(),
        client_id: &credentials.client_id,
        audience: &credentials.audience,
        client_secret_sealed: sealed,
    }
}

const NAME_TAKEN: Unique = Unique {
    constraint: "app_connections_project_name_key",
    field: "name",
    taken: "an app connection with this name already exists in this project",
};

/// What a store failure means for a connection write (`name` is the one being written).
fn store_error(err: store::Error) -> ApiError {
    NAME_TAKEN.or(err, |other| match other {
        store::Error::MissingReference { constraint }
            if constraint == "secret_rotations_connection_id_fkey" =>
        {
            ApiError::Conflict {
                detail: "secret rotations use this connection; delete them first".to_owned(),
                field: None,
            }
        }
        store::Error::MissingReference { .. } => project_not_found(),
        store::Error::NotFound => connection_not_found(),
        other => other.into(),
    })
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> ApiResult<Json<dto::ListOut>> {
    let mut errors = Vec::new();
    let project_id = query
        .project_id
        .as_deref()
        .and_then(|raw| fields::uuid("projectId", raw, &mut errors))
        .map(ProjectId);
    let search = fields::search(query.search.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let page = page_request(query.limit, query.cursor.as_deref())?;
    if let Some(project_id) = project_id {
        caller
            .require_project(&state.db, project_id, Role::Viewer, project_not_found())
            .await?;
    }
    let filter = db::ListFilter {
        org_id: caller.org_id,
        project_id,
        visible: caller.visible_projects(),
        search: search.map(str::to_owned),
        missing_scope: query.missing_scope.unwrap_or(false),
    };
    let listed = db::list(&state.db, &filter, &page, crate::routes::COUNT_CAP).await?;
    Ok(Json(dto::ListOut {
        app_connections: listed.page.items.into_iter().map(Into::into).collect(),
        next_cursor: listed.page.next.map(|c| c.encode()),
        total_count: listed.total,
    }))
}

async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let connection = load(&state, &caller, ConnectionId(id), Role::Viewer).await?;
    Ok(one(StatusCode::OK, connection))
}

async fn fetch_by_name(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    ValidQuery(query): ValidQuery<ByNameQuery>,
) -> ApiResult<Response> {
    let mut errors = Vec::new();
    let project_id = fields::uuid("projectId", &query.project_id, &mut errors).map(ProjectId);
    let Some(project_id) = project_id else {
        return Err(ApiError::Validation(errors));
    };
    // A project the caller cannot see answers exactly like an unknown one.
    caller
        .require_project(&state.db, project_id, Role::Viewer, project_not_found())
        .await?;
    // A name no create could have accepted (NUL, slashes, 8 KiB) cannot exist: answer without
    // handing it to Postgres, which refuses NUL in text with an error, not an empty result.
    // Bytes that are not UTF-8 are no name either (axum's own rejection is plain text).
    let Ok(Path(name)) = path else {
        return Err(connection_not_found());
    };
    if fields::slug_name(&name, &mut Vec::new()).as_deref() != Some(name.as_str()) {
        return Err(connection_not_found());
    }
    let connection = db::get_by_name(&state.db, project_id, &name)
        .await
        .map_err(store_error)?;
    Ok(one(StatusCode::OK, connection))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    IfMatch(expected): IfMatch,
    body: ValidJson<ConnectionPatch>,
) -> ApiResult<Response> {
    let patch = body.value;
    let mut errors = Vec::new();
    let name = patch
        .name
        .as_deref()
        .and_then(|n| fields::slug_name(n, &mut errors));
    let description = patch
        .description
        .as_ref()
        .map(|d| fields::description(d.as_deref(), &mut errors));
    if let Some(raw) = &patch.method {
        method(raw, &mut errors);
    }
    if patch
        .credentials
        .as_ref()
        .is_some_and(|c| c.client_secret.is_none())
    {
        // Said before the generic "clientSecret is required": the likely intent is a
        // private-key-jwt connection, whose credentials cannot change.
        errors.push(FieldError::new(
            "credentials.clientSecret",
            "credentials replace a client-credentials connection's secret and need clientSecret; a private-key-jwt connection's credentials cannot change (its key is bound to its tenant and client): create a new connection",
        ));
        return Err(ApiError::Validation(errors));
    }
    let credentials = patch
        .credentials
        .and_then(|c| credentials::check(c, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let id = ConnectionId(id);
    let current = load(&state, &caller, id, Role::Member).await?;
    // Both are refused for what the connection is, not for how the request is written: 409.
    if patch.method.as_deref().is_some_and(|m| m != current.method) {
        return Err(ApiError::Conflict {
            detail: "a connection's method cannot change; create a new connection".to_owned(),
            field: Some("method"),
        });
    }
    if current.uses_private_key() && credentials.is_some() {
        return Err(ApiError::Conflict {
            detail: "a private-key-jwt connection's credentials cannot change (its key is bound \
                     to its tenant and client): create a new connection"
                .to_owned(),
            field: Some("credentials"),
        });
    }
    if let Some(expected) = expected
        && expected != current.version
    {
        return Err(ApiError::PreconditionFailed {
            current: current.version,
        });
    }
    let (sealed, diagnostics) = match &credentials {
        Some(credentials) => {
            let token = state
                .auth0
                .client_credentials_token(credentials)
                .await
                .map_err(auth0_problems::credentials)?;
            (
                Some(seal(&state, id, current.project_id, credentials)?),
                Some(capabilities::diagnose(&token.scopes, None)),
            )
        }
        None => (None, None),
    };
    let change = db::Change {
        name: name.as_deref(),
        description: description.as_ref().map(|d| d.as_deref()),
        credentials: credentials
            .as_ref()
            .zip(sealed.as_ref())
            .map(|(c, s)| stored_credentials(c, s)),
    };
    // Fenced on the version read above, so a concurrent change (or Auth0 call) cannot be overwritten.
    let mut tx = state.db.begin().await?;
    let moves = credentials
        .as_ref()
        .is_some_and(|c| c.domain.as_str() != current.domain || c.client_id != current.client_id);
    if moves
        && let Some((rotation_id, rotation_name)) =
            store::rotations::open_attempt_on_connection(&mut tx, id).await?
    {
        // The attempt's new secret is bound to this tenant and client; re-pointing the
        // connection now would strand it (and, before bindings, could have sent it elsewhere).
        return Err(ApiError::Conflict {
            detail: format!(
                "rotation \"{rotation_name}\" ({rotation_id}) has an attempt in progress on this connection; change the domain or client ID after it finishes"
            ),
            field: Some("credentials.domain"),
        });
    }
    let mut updated = db::update(&mut tx, caller.org_id, id, current.version, &change)
        .await
        .map_err(|err| ApiError::fenced(err, expected, "connection", store_error))?;
    if let Some(diagnostics) = &diagnostics {
        keep_scope_check(&mut tx, &mut updated, diagnostics).await?;
    }
    let mut metadata = summary(&updated);
    metadata["credentialsReplaced"] = json!(credentials.is_some());
    store::audit::record(
        &mut tx,
        &caller.event(
            "app_connection.update",
            "app_connection",
            id,
            Some(updated.project_id),
            metadata,
        ),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(connection.id = %updated.id, version = updated.version, "app connection updated");
    // Replaced credentials: the old token must not be used again (the new version would also
    // miss it, but this frees the entry at once).
    if credentials.is_some() {
        state.broker.forget_connection(&current);
    }
    let mut body = json!({ "appConnection": ConnectionOut::from(updated) });
    if let Some(diagnostics) = diagnostics {
        body["diagnostics"] = json!(diagnostics);
    }
    Ok(render(StatusCode::OK, body))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    IfMatch(expected): IfMatch,
) -> ApiResult<Response> {
    let id = ConnectionId(id);
    let current = load(&state, &caller, id, Role::Member).await?;
    let mut tx = state.db.begin().await?;
    let removed = db::delete(&mut tx, caller.org_id, id, expected)
        .await
        .map_err(store_error)?;
    store::audit::record(
        &mut tx,
        &caller.event(
            "app_connection.delete",
            "app_connection",
            id,
            Some(current.project_id),
            summary(&removed),
        ),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(connection.id = %removed.id, "app connection deleted");
    state.broker.forget_connection(&removed);
    Ok(one(StatusCode::OK, removed))
}
