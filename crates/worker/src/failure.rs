//! When a step stops: whether that is worth retrying (the planner's classification of its
//! [`Cause`]), and the fenced write that follows — a retry that keeps the attempt and its pending
//! secret for later, or a final failure recorded with a message that says what to fix, audited
//! and counted. Never a silent failure, and never a second secret for one attempt.

use std::sync::atomic::Ordering;
use std::time::Duration;

use auth0::Auth0Error;
use broker::Broker;
use store::rotations::Rotation;
use store::rotations::lease::{self, Failure as StoreFailure, Lease, Retry};
use store::rotations::schedule::{self, Schedule};
use time::OffsetDateTime;

use crate::attempt::{AttemptCtx, Cause, Stop, audit_event};
use crate::planner::{self, Disposition};
use crate::{JobOutcome, Stats, WorkerConfig};

/// Handles stopped steps with the engine's settings, database and counters.
pub(crate) struct Handler<'a> {
    pub(crate) config: &'a WorkerConfig,
    pub(crate) broker: &'a Broker,
    pub(crate) stats: &'a Stats,
}

/// Retry later (the same attempt, the same secret) or fail for good.
fn disposition(cause: &Cause) -> Disposition {
    match cause {
        Cause::Auth0 { err, .. } | Cause::ConnectionAuth(err) => planner::classify(err),
        // The secret Auth0 holds is stored (pending); finishing again once the write can go
        // through loses nothing. After the retry budget the attempt fails keeping it (abandoned).
        Cause::NotAccepted(_) | Cause::SecretsNotWritten(_) => Disposition::Retry {
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

/// The stored failure message, worded for what the rotation's type handles (a secret or a key).
fn failure_message(rotation: &Rotation, step: planner::Step, reason: &str) -> String {
    if rotation.rotates_keys() {
        planner::key_failure_message(step, reason)
    } else {
        planner::failure_message(step, reason)
    }
}

/// A 429 from the Management API: the whole tenant should slow down.
fn mgmt_rate_limited(cause: &Cause) -> bool {
    matches!(
        cause,
        Cause::Auth0 {
            err: Auth0Error::RateLimited { .. },
            mgmt: true
        }
    )
}

/// A number in `[0, 1)` for jitter; spread, not secrecy, is what matters.
fn jitter() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

impl Handler<'_> {
    /// Decides what follows a stopped step and writes it, fenced by the lease.
    pub(crate) async fn handle(
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
        match disposition(&stop.cause) {
            Disposition::Retry {
                counts_as_failure,
                hint,
            } => {
                let failures =
                    u32::try_from(ctx.attempt.failures).unwrap_or(0) + u32::from(counts_as_failure);
                if counts_as_failure && failures >= self.config.max_failures {
                    let message = failure_message(
                        rotation,
                        stop.step,
                        &format!("gave up after {failures} failed tries; the last: {reason}"),
                    );
                    return self
                        .final_failure(lease, rotation, ctx, &stop, message)
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
                if mgmt_rate_limited(&stop.cause)
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
                let message = failure_message(rotation, stop.step, &reason);
                self.final_failure(lease, rotation, ctx, &stop, message)
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
            step: stop.resume_from(),
            message: reason,
            counts_as_failure,
            retry_in,
        };
        let written: store::Result<bool> = async {
            let mut tx = self.broker.pool.begin().await?;
            if !lease::record_retry(&mut tx, lease, &retry).await? {
                return Ok(false);
            }
            let data = serde_json::json!({
                "step": stop.resume_from().as_str(),
                "reason": reason,
                "retryInMs": u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
            });
            crate::webhooks::enqueue_rotation_event(
                &mut tx,
                store::webhooks::RETRYING,
                rotation,
                &ctx.attempt,
                data,
                None,
            )
            .await?;
            tx.commit().await?;
            Ok(true)
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
        stop: &Stop,
        message: String,
    ) -> JobOutcome {
        let now = OffsetDateTime::now_utc();
        let next_rotation_at = Schedule::of(rotation)
            .ok()
            .filter(|_| rotation.is_auto_rotation_enabled)
            .map(|schedule| schedule::after_failure(&schedule, now));
        let failure = StoreFailure {
            attempt_id: ctx.attempt.id,
            step: stop.resume_from(),
            message: &message,
            next_rotation_at,
            keep_pending: ctx.maybe_applied,
        };
        let event = audit_event(
            &self.config.worker_id,
            rotation,
            &ctx.attempt,
            "failure",
            serde_json::json!({
                "attemptNo": ctx.attempt.attempt_no,
                "isManual": ctx.attempt.is_manual,
                "step": stop.resume_from().as_str(),
                "message": message,
            }),
        );
        let written: store::Result<bool> = async {
            let mut tx = self.broker.pool.begin().await?;
            if !lease::finish_failure(&mut tx, lease, &failure).await? {
                return Ok(false);
            }
            let data = serde_json::json!({
                "step": stop.resume_from().as_str(),
                "reason": message,
            });
            crate::webhooks::enqueue_rotation_event(
                &mut tx,
                "secret-rotation.failed",
                rotation,
                &ctx.attempt,
                data,
                Some(&event),
            )
            .await?;
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
}
