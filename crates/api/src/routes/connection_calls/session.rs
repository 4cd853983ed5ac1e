//! The per-call machinery every route through a connection shares.
//!
//! A [`Session`] loads the connection for a member of its project, then runs each Management API
//! request through the shared broker (`AppState.broker`: one cached token per connection version,
//! single-flight) and the tenant's pacing (`broker.pacer`, the budget the worker shares through
//! Postgres): a burst queues up to the configured wait, past which the caller gets 429 with
//! `Retry-After`. A 401 drops the cached token and retries once with a fresh one. Every call is
//! audited, successful or not, with ids and field names only — never a body value.

use std::future::Future;
use std::time::Duration;

use auth0::{AccessToken, Auth0Error, Domain, SecretString};
use broker::Admission;
use serde_json::{Value, json};
use store::ConnectionId;
use store::connections as db;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::problem::{ApiError, ApiResult};
use crate::routes::auth0_problems::{CallError, Subject, whole_seconds};
use crate::routes::connections;

/// A connection loaded for use by a project member.
pub(super) struct Session<'a> {
    pub state: &'a AppState,
    caller: &'a Caller,
    pub connection: db::Connection,
    pub domain: Domain,
}

impl<'a> Session<'a> {
    /// Loads the connection; 404 outside the caller's projects, 403 below member, 409 for a
    /// `private-key-jwt` connection whose key is not registered yet (only validate may use it).
    pub(super) async fn open(
        state: &'a AppState,
        caller: &'a Caller,
        id: ConnectionId,
    ) -> ApiResult<Session<'a>> {
        let session = Self::open_for_validation(state, caller, id).await?;
        if session.connection.awaits_registration() {
            return Err(ApiError::Conflict {
                detail: format!(
                    "the connection is pending registration: register its publicKey (kid {}) as a credential of client {} in Auth0 and enable Private Key JWT, then call POST /api/v1/app-connections/auth0/{}/validate",
                    session
                        .connection
                        .key
                        .key_kid
                        .as_deref()
                        .unwrap_or_default(),
                    session.connection.client_id,
                    session.connection.id
                ),
                field: None,
            });
        }
        Ok(session)
    }

    /// `open` without the registration check: validate is how a pending connection is confirmed.
    pub(super) async fn open_for_validation(
        state: &'a AppState,
        caller: &'a Caller,
        id: ConnectionId,
    ) -> ApiResult<Session<'a>> {
        let connection = connections::load(state, caller, id, Role::Member).await?;
        let domain = Domain::parse(&connection.domain).map_err(ApiError::internal)?;
        Ok(Session {
            state,
            caller,
            connection,
            domain,
        })
    }

    /// The connection's Management API token from the shared cache.
    pub(super) async fn token(&self) -> Result<AccessToken, CallError> {
        self.state
            .broker
            .management_token(&self.connection)
            .await
            .map_err(CallError::from)
    }

    /// A token whose scopes are Auth0's grants as of at most `max_age` ago: the cached one if it
    /// is that recent, else a new one, fetched in a paced slot of the tenant's budget like any
    /// other call (a burst of checks must not spend the tenant's token quota).
    pub(super) async fn recent_token(&self, max_age: Duration) -> Result<AccessToken, CallError> {
        if let Some(token) = self.state.broker.recent_token(&self.connection, max_age) {
            return Ok(token);
        }
        self.pace().await?;
        self.state
            .broker
            .management_token_within(&self.connection, Some(max_age))
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
    pub(super) async fn pace(&self) -> Result<(), CallError> {
        pace(self.state, &self.domain).await.map_err(CallError::Api)
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

/// Waits for the tenant's next Management API request slot, shared with the workers and every
/// other process, up to the configured bound; past it, 429 with the time to retry.
pub(crate) async fn pace(state: &AppState, domain: &Domain) -> Result<(), ApiError> {
    let admission = state
        .broker
        .pacer
        .acquire_within(domain.as_str(), state.pacing_max_wait)
        .await?;
    match admission {
        Admission::Go => Ok(()),
        Admission::Refused { retry_after } => {
            metrics::counter!("keyhold_auth0_pacing_refusals_total").increment(1);
            Err(ApiError::TooManyRequests {
                detail: format!(
                    "too many calls to this Auth0 tenant: Keyhold paces them to stay within the tenant's rate limit and the queue is longer than {} ms; retry after the indicated time",
                    state.pacing_max_wait.as_millis()
                ),
                retry_after_secs: whole_seconds(retry_after),
            })
        }
    }
}
