//! When a step stops: why ([`Cause`]), whether that is worth retrying (the planner's
//! classification), and the fenced write that follows — a retry that keeps the attempt and its
//! pending secret for later, or a final failure recorded with a message that says what to fix,
//! audited and counted. Never a silent failure, and never a second secret for one attempt.

use std::sync::atomic::Ordering;
use std::time::Duration;

use auth0::Auth0Error;
use store::rotations::lease::{self, Failure as StoreFailure, Lease, Retry};
use store::rotations::{Attempt, AttemptStep, Rotation};
use time::OffsetDateTime;

use crate::executor::AttemptCtx;
use crate::planner::{self, Disposition, Step};
use crate::{Engine, JobOutcome};
use store::rotations::schedule::{self, Schedule};

/// Why a step stopped.
pub(crate) enum Cause {
    /// From a Management API call (`mgmt`) or the token endpoint.
    Auth0 {
        err: Auth0Error,
        mgmt: bool,
    },
    /// Getting the connection's own token failed.
    ConnectionAuth(Auth0Error),
    /// Auth0 kept refusing the new secret for the whole propagation window.
    NotAccepted(Duration),
    Store(store::Error),
    /// A stored secret cannot be opened (root key missing or changed) or sealed.
    Crypto(crypto::CryptoError),
    Invalid(String),
    LeaseLost,
}

impl From<store::Error> for Cause {
    fn from(err: store::Error) -> Self {
        Cause::Store(err)
    }
}

impl From<crypto::CryptoError> for Cause {
    fn from(err: crypto::CryptoError) -> Self {
        Cause::Crypto(err)
    }
}

impl From<sqlx::Error> for Cause {
    fn from(err: sqlx::Error) -> Self {
        Cause::Store(err.into())
    }
}

/// Errors from the broker while obtaining the connection's token or opening a secret.
impl From<broker::Error> for Cause {
    fn from(err: broker::Error) -> Self {
        match err {
            broker::Error::Auth0(err) => Cause::ConnectionAuth(err),
            broker::Error::Store(err) => Cause::Store(err),
            broker::Error::Crypto(err) => Cause::Crypto(err),
            other => Cause::Invalid(other.to_string()),
        }
    }
}

impl Cause {
    fn disposition(&self) -> Disposition {
        match self {
            Cause::Auth0 { err, .. } | Cause::ConnectionAuth(err) => planner::classify(err),
            Cause::NotAccepted(_) => Disposition::Retry {
                counts_as_failure: true,
                hint: None,
            },
            Cause::Store(store::Error::Unavailable(_) | store::Error::Database(_)) => {
                Disposition::Retry {
                    counts_as_failure: true,
                    hint: None,
                }
            }
            _ => Disposition::Permanent,
        }
    }

    /// What happened and what to fix, for `last_rotation_message`. Never a secret.
    fn reason(&self) -> String {
        match self {
            Cause::Auth0 { err, .. } => err.reason(),
            Cause::ConnectionAuth(Auth0Error::WrongCredentials) => {
                "Auth0 rejected the connection's client credentials: update the connection's client secret (or client ID)".to_owned()
            }
            Cause::ConnectionAuth(err) => {
                format!("the connection could not get a Management API token: {}", err.reason())
            }
            Cause::NotAccepted(waited) => format!(
                "Auth0 accepted the new secret but kept refusing it for {} s (propagation, or someone replaced it since); it will be tested again",
                waited.as_secs()
            ),
            Cause::Store(err) => format!("database error: {err}"),
            Cause::Crypto(err) => format!(
                "a stored secret cannot be opened ({err}): check that KEYHOLD_ROOT_KEYS still holds the key it was sealed with"
            ),
            Cause::Invalid(why) => why.clone(),
            Cause::LeaseLost => "the lease was lost to another worker".to_owned(),
        }
    }

    /// A 429 from the Management API: the whole tenant should slow down.
    fn mgmt_rate_limited(&self) -> bool {
        matches!(
            self,
            Cause::Auth0 {
                err: Auth0Error::RateLimited { .. },
                mgmt: true
            }
        )
    }
}

/// A step that stopped: which, the durable step to record (where a resume restarts), and why.
pub(crate) struct Stop {
    pub(crate) step: Step,
    pub(crate) resume_from: AttemptStep,
    pub(crate) cause: Cause,
}

pub(crate) fn stop(step: Step, resume_from: AttemptStep) -> impl FnOnce(Cause) -> Stop {
    move |cause| Stop {
        step,
        resume_from,
        cause,
    }
}

/// A number in `[0, 1)` for jitter; spread, not secrecy, is what matters.
fn jitter() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

impl Engine {
    pub(crate) async fn handle_stop(
        &self,
        lease: &Lease,
        rotation: &Rotation,
        ctx: Option<&AttemptCtx>,
        stop: Stop,
    ) -> JobOutcome {
        if matches!(stop.cause, Cause::LeaseLost) {
            return JobOutcome::LeaseLost;
        }
        let reason = stop.cause.reason();
        let Some(ctx) = ctx else {
            // No attempt yet (the database failed before it was stored): nothing to resume,
            // so give the row back for a fresh start after a pause.
            let wait = self.config.retry_base;
            tracing::warn!(rotation.id = %rotation.id, %reason, "could not start the rotation");
            return match lease::release(&self.broker.pool, lease, wait).await {
                Ok(true) => JobOutcome::Retrying {
                    message: reason,
                    retry_in: wait,
                },
                Ok(false) => JobOutcome::LeaseLost,
                Err(err) => {
                    tracing::warn!(error = %err, "could not release the lease; it will expire");
                    JobOutcome::Retrying {
                        message: reason,
                        retry_in: self.config.lease,
                    }
                }
            };
        };
        match stop.cause.disposition() {
            Disposition::Retry {
                counts_as_failure,
                hint,
            } => {
                let failures =
                    u32::try_from(ctx.attempt.failures).unwrap_or(0) + u32::from(counts_as_failure);
                if counts_as_failure && failures >= self.config.max_failures {
                    let message = planner::failure_message(
                        stop.step,
                        &format!("gave up after {failures} failed tries; the last: {reason}"),
                    );
                    return self
                        .final_failure(lease, rotation, ctx, stop.step, message)
                        .await;
                }
                let retry_in = if counts_as_failure {
                    planner::retry_delay(
                        failures,
                        self.config.retry_base,
                        self.config.retry_max,
                        jitter(),
                    )
                } else {
                    planner::rate_limit_delay(hint, self.config.retry_base, jitter())
                };
                if stop.cause.mgmt_rate_limited()
                    && let Ok(connection) = store::connections::get(
                        &self.broker.pool,
                        rotation.org_id,
                        rotation.connection_id,
                    )
                    .await
                    && let Err(err) = self
                        .broker
                        .pacer
                        .back_off(&connection.domain, retry_in)
                        .await
                {
                    tracing::warn!(error = %err, "could not share the rate-limit pause");
                }
                self.retry(
                    lease,
                    rotation,
                    ctx,
                    &stop,
                    &reason,
                    counts_as_failure,
                    retry_in,
                )
                .await
            }
            Disposition::Permanent => {
                let message = planner::failure_message(stop.step, &reason);
                self.final_failure(lease, rotation, ctx, stop.step, message)
                    .await
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn retry(
        &self,
        lease: &Lease,
        rotation: &Rotation,
        ctx: &AttemptCtx,
        stop: &Stop,
        reason: &str,
        counts_as_failure: bool,
        retry_in: Duration,
    ) -> JobOutcome {
        let retry = Retry {
            attempt_id: ctx.attempt.id,
            step: stop.resume_from,
            message: reason,
            counts_as_failure,
            retry_in,
        };
        let written = async {
            let mut conn = self.broker.pool.acquire().await?;
            lease::record_retry(&mut conn, lease, &retry).await
        }
        .await;
        match written {
            Ok(true) => {
                self.stats.retried.fetch_add(1, Ordering::Relaxed);
                tracing::info!(rotation.id = %rotation.id, attempt = ctx.attempt.attempt_no, retry_in_ms = retry_in.as_millis() as u64, %reason, "rotation will be retried");
                JobOutcome::Retrying {
                    message: reason.to_owned(),
                    retry_in,
                }
            }
            Ok(false) => JobOutcome::LeaseLost,
            Err(err) => {
                // The lease expires and another worker resumes the attempt.
                tracing::warn!(error = %err, rotation.id = %rotation.id, "could not record the retry");
                JobOutcome::Retrying {
                    message: reason.to_owned(),
                    retry_in: self.config.lease,
                }
            }
        }
    }

    async fn final_failure(
        &self,
        lease: &Lease,
        rotation: &Rotation,
        ctx: &AttemptCtx,
        step: Step,
        message: String,
    ) -> JobOutcome {
        let now = OffsetDateTime::now_utc();
        let next_rotation_at = Schedule::of(rotation)
            .ok()
            .filter(|_| rotation.is_auto_rotation_enabled)
            .map(|schedule| schedule::after_failure(&schedule, now));
        let failure = StoreFailure {
            attempt_id: ctx.attempt.id,
            step: step_reached(step),
            message: &message,
            next_rotation_at,
            keep_pending: ctx.maybe_applied,
        };
        let event = self.audit_event(
            rotation,
            &ctx.attempt,
            "failure",
            serde_json::json!({
                "attemptNo": ctx.attempt.attempt_no,
                "isManual": ctx.attempt.is_manual,
                "step": step_reached(step).as_str(),
                "message": message,
            }),
        );
        let written: store::Result<bool> = async {
            let mut tx = self.broker.pool.begin().await?;
            if !lease::finish_failure(&mut tx, lease, &failure).await? {
                return Ok(false);
            }
            store::audit::record(&mut tx, &event).await?;
            tx.commit().await?;
            Ok(true)
        }
        .await;
        match written {
            Ok(true) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(rotation.id = %rotation.id, attempt = ctx.attempt.attempt_no, %message, "rotation failed");
                JobOutcome::Failed { message }
            }
            Ok(false) => JobOutcome::LeaseLost,
            Err(err) => {
                tracing::warn!(error = %err, rotation.id = %rotation.id, "could not record the failure; the attempt will be resumed");
                JobOutcome::Retrying {
                    message,
                    retry_in: self.config.lease,
                }
            }
        }
    }

    pub(crate) fn audit_event(
        &self,
        rotation: &Rotation,
        attempt: &Attempt,
        outcome: &str,
        metadata: serde_json::Value,
    ) -> store::audit::NewEvent {
        let mut metadata = metadata;
        if let Some(map) = metadata.as_object_mut() {
            map.insert("worker".into(), self.config.worker_id.clone().into());
            map.insert("attemptId".into(), attempt.id.to_string().into());
        }
        store::audit::NewEvent {
            org_id: Some(rotation.org_id),
            project_id: Some(rotation.project_id),
            actor_id: None,
            actor_kind: "system".to_owned(),
            action: "secret_rotation.rotate".to_owned(),
            resource_type: "secret_rotation".to_owned(),
            resource_id: Some(rotation.id.to_string()),
            outcome: outcome.to_owned(),
            request_id: None,
            source_ip: None,
            metadata,
        }
    }
}

/// The durable name of the last step done before `failed` stopped.
fn step_reached(failed: Step) -> AttemptStep {
    match failed {
        Step::Create | Step::Set => AttemptStep::Created,
        Step::Test => AttemptStep::Set,
        Step::Finish => AttemptStep::Tested,
    }
}
