//! Using a connection without revealing it: the per-call machinery every "through a connection"
//! route shares, and the client-list and validate routes.
//!
//! A [`Session`] loads the connection for a member of its project, then runs each Management API
//! request through the shared broker (`AppState.access`: one cached token per connection version,
//! single-flight) and the tenant's pacing (`AppState.pacer`, the budget the worker shares through
//! Postgres): a burst queues up to the configured wait, past which the caller gets 429 with
//! `Retry-After`. A 401 drops the cached token and retries once with a fresh one. Every call is
//! audited, successful or not, with ids and field names only — never a body value.

use std::future::Future;
use std::time::Duration;

use auth0::{AccessToken, Auth0Error, ClientQuery, Domain, SecretString};
use axum::Json;
use axum::extract::State;
use broker::Admission;
use serde::Deserialize;
use serde_json::{Value, json};
use store::ConnectionId;
use store::connections as db;

use super::capabilities::{self, Diagnostics};
use crate::AppState;
use crate::auth::{Caller, Role};
use crate::extract::{PathId, ValidQuery};
use crate::problem::{ApiError, ApiResult};
use crate::routes::auth0_problems::whole_seconds;
pub(super) use crate::routes::auth0_problems::{CallError, Subject};

/// A connection loaded for use by a project member.
pub(super) struct Session<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    pub connection: db::Connection,
    pub domain: Domain,
}

impl<'a> Session<'a> {
    /// Loads the connection; 404 outside the caller's projects, 403 below member.
    pub(super) async fn open(
        state: &'a AppState,
        caller: &'a Caller,
        id: ConnectionId,
    ) -> ApiResult<Session<'a>> {
        let connection = super::load(state, caller, id, Role::Member).await?;
        let domain = Domain::parse(&connection.domain).map_err(ApiError::internal)?;
        Ok(Session {
            state,
            caller,
            connection,
            domain,
        })
    }

    /// The connection's Management API token from the shared cache.
    async fn token(&self) -> Result<AccessToken, CallError> {
        self.state
            .broker
            .management_token(&self.connection)
            .await
            .map_err(CallError::from)
    }

    /// One Management API request made with the connection's token, paced for the tenant; after
    /// a 401 the token is dropped and the request sent once more with a fresh one.
    pub(super) async fn call<T, F, Fut>(&self, request: F) -> Result<T, CallError>
    where
        F: Fn(SecretString) -> Fut,
        Fut: Future<Output = Result<T, Auth0Error>>,
    {
        let mut refreshed = false;
        loop {
            let token = self.token().await?;
            self.pace().await?;
            match request(token.token.clone()).await {
                Err(Auth0Error::TokenRejected) if !refreshed => {
                    self.state.broker.drop_token(&self.connection, &token).await;
                    refreshed = true;
                }
                Err(Auth0Error::RateLimited { retry_after }) => {
                    // Auth0 says the tenant's bucket is empty: every Keyhold process holds off
                    // (at least a second: Auth0's reset header has whole-second resolution).
                    let pause = retry_after.unwrap_or_default().max(Duration::from_secs(1));
                    best_effort(
                        "pause the tenant's budget after a 429",
                        self.state
                            .broker
                            .pacer
                            .back_off(self.domain.as_str(), pause)
                            .await,
                    );
                    return Err(CallError::Auth0(Auth0Error::RateLimited { retry_after }));
                }
                other => return other.map_err(CallError::Auth0),
            }
        }
    }

    /// Waits for the tenant's next request slot, up to the configured bound.
    async fn pace(&self) -> Result<(), CallError> {
        let admission = self
            .state
            .broker
            .pacer
            .acquire_within(self.domain.as_str(), self.state.pacing_max_wait)
            .await
            .map_err(|err| CallError::Api(err.into()))?;
        match admission {
            Admission::Go => Ok(()),
            Admission::Refused { retry_after } => {
                metrics::counter!("keyhold_auth0_pacing_refusals_total").increment(1);
                Err(CallError::Api(ApiError::TooManyRequests {
                    detail: format!(
                        "too many calls to this Auth0 tenant: Keyhold paces them to stay within the tenant's rate limit and the queue is longer than {} ms; retry after the indicated time",
                        self.state.pacing_max_wait.as_millis()
                    ),
                    retry_after_secs: whole_seconds(retry_after),
                }))
            }
        }
    }

    /// Records a call that changed (or checked) something in Auth0, durably before answering, and
    /// turns a failure into its problem.
    pub(super) async fn finish<T>(
        &self,
        action: &str,
        metadata: Value,
        outcome: Result<T, CallError>,
        subject: Subject,
    ) -> ApiResult<T> {
        self.record(action, metadata, outcome, subject, false).await
    }

    /// `finish` for a read (a user, the client list): the hot path of teams that use Keyhold as
    /// their Auth0 gateway. Its audit row is committed without waiting for the WAL flush, which
    /// would otherwise be most of the call's cost; a database crash may lose the last fraction of a
    /// second of read records (never a change's, and never half a row).
    pub(super) async fn finish_read<T>(
        &self,
        action: &str,
        metadata: Value,
        outcome: Result<T, CallError>,
        subject: Subject,
    ) -> ApiResult<T> {
        self.record(action, metadata, outcome, subject, true).await
    }

    async fn record<T>(
        &self,
        action: &str,
        mut metadata: Value,
        outcome: Result<T, CallError>,
        subject: Subject,
        relaxed: bool,
    ) -> ApiResult<T> {
        let outcome = outcome.map_err(|err| err.problem(subject));
        let mut event = self.caller.event(
            action,
            "app_connection",
            self.connection.id,
            Some(self.connection.project_id),
            Value::Null,
        );
        if let Err(problem) = &outcome {
            event.outcome = "failure".to_owned();
            metadata["error"] = json!(audit_slug(problem));
        }
        metadata["connectionVersion"] = json!(self.connection.version);
        event.metadata = metadata;
        // One statement, outside a transaction: this is every call's hot path.
        let pool = if relaxed {
            &self.state.audit_reads
        } else {
            &self.state.db
        };
        let mut conn = pool.acquire().await?;
        store::audit::record(&mut conn, &event).await?;
        outcome
    }
}

/// The secret-free word an audit row of a failed call records: the problem's own slug for the
/// failures a caller or Auth0 caused, and "error" for failures on our side (database, a bug), which
/// the audit log has always lumped together — the log is for who did what, the request log for why.
fn audit_slug(problem: &ApiError) -> &'static str {
    match problem {
        ApiError::Auth0MissingScope { .. }
        | ApiError::NotFound { .. }
        | ApiError::Conflict { .. }
        | ApiError::Auth0Refused { .. }
        | ApiError::Auth0Rejected { .. }
        | ApiError::Validation(_)
        | ApiError::TooManyRequests { .. }
        | ApiError::Upstream { .. } => problem.slug(),
        _ => "error",
    }
}

/// The one place a best-effort side effect may fail without failing the request.
fn best_effort<E: std::fmt::Display>(what: &str, result: Result<(), E>) {
    if let Err(err) = result {
        tracing::warn!(%err, "could not {what}; continuing");
    }
}

const APPLICATIONS: Subject = Subject {
    what: "Auth0 application",
    field: None,
};

/// `GET /api/v1/app-connections/auth0/{connectionId}/clients`: every application of the tenant
/// (all of Auth0's pages), for pickers such as the rotation form.
pub(super) async fn clients(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    let session = Session::open(&state, &caller, ConnectionId(id)).await?;
    let outcome = list_all(&session).await;
    let count = outcome.as_ref().map_or(0, Vec::len);
    let clients = session
        .finish_read(
            "app_connection.clients.list",
            json!({ "count": count }),
            outcome,
            APPLICATIONS,
        )
        .await?;
    Ok(Json(json!({ "clients": clients })))
}

async fn list_all(session: &Session<'_>) -> Result<Vec<Value>, CallError> {
    let auth0 = &session.state.auth0;
    let domain = &session.domain;
    let mut clients = Vec::new();
    let mut page = Some(0);
    while let Some(number) = page {
        let got = session
            .call(|token| async move {
                auth0
                    .list_clients_page(domain, &token, number, ClientQuery::SUMMARY)
                    .await
            })
            .await?;
        clients.extend(got.clients.into_iter().map(|c| {
            json!({
                "clientId": c.client_id,
                "name": c.name.unwrap_or_default(),
                "appType": c.app_type,
            })
        }));
        page = got.next_page;
    }
    Ok(clients)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ValidateQuery {
    /// Comma-separated capability keys to judge the scopes against (default: all).
    #[serde(default)]
    capabilities: Option<String>,
}

/// `POST /api/v1/app-connections/auth0/{connectionId}/validate`: a *fresh* token (a cached one
/// keeps the scopes it was issued with), and what its scopes allow.
pub(super) async fn validate_connection(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    ValidQuery(query): ValidQuery<ValidateQuery>,
) -> ApiResult<Json<Value>> {
    let enabled = match query.capabilities.as_deref() {
        None => None,
        Some(raw) => Some(
            capabilities::parse_list(raw).map_err(|why| ApiError::field("capabilities", why))?,
        ),
    };
    let session = Session::open(&state, &caller, ConnectionId(id)).await?;
    // Dropping the entry first makes the broker fetch a new token, which also refreshes the
    // cache for the calls that follow.
    state.broker.forget_connection(&session.connection);
    let outcome = session.token().await.map(|token| {
        let diagnostics: Diagnostics = capabilities::diagnose(&token.scopes, enabled.as_deref());
        (diagnostics, token.expires_in)
    });
    let metadata = match &outcome {
        Ok((d, _)) => json!({ "grantedScopes": d.granted_scopes }),
        Err(_) => json!({}),
    };
    let (diagnostics, expires_in) = session
        .finish("app_connection.validate", metadata, outcome, APPLICATIONS)
        .await?;
    let mut connection = session.connection.clone();
    let mut conn = state.db.acquire().await?;
    super::keep_scope_check(&mut conn, &mut connection, &diagnostics).await?;
    Ok(Json(json!({
        "diagnostics": diagnostics,
        "tokenExpiresIn": expires_in,
    })))
}
