//! Runs one claimed rotation: create → set → test → finish, each step idempotent and the new
//! secret durable (sealed, as the attempt's pending generation) before Auth0 hears of it.
//!
//! The planner decides; the engine acts. Every write is fenced by the lease (owner and epoch), a
//! heartbeat extends the lease while the job runs, and a job whose lease is lost stops without
//! writing. The steps themselves are in [`steps`]; a step that stops hands a [`Stop`] to the
//! [`failure`](crate::failure) module, which decides between a retry of the same attempt and a
//! final failure.

mod keys;
mod steps;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use broker::Broker;
use store::connections::Connection;
use store::rotations::Rotation;
use store::rotations::lease::{self, Claim, Lease};

use crate::attempt::{AttemptCtx, Cause, Stop, StopAt};
use crate::failure;
use crate::planner::{self, Step};
use crate::{JobOutcome, JobReport, Stats, WorkerConfig};

/// What every job shares.
pub(crate) struct Engine {
    pub(crate) config: WorkerConfig,
    pub(crate) broker: Broker,
    pub(crate) stats: Stats,
}

impl Engine {
    /// Runs one claimed rotation to its next resting point, heartbeating its lease meanwhile.
    /// `connection`: the rotation's connection when the caller read it with its batch of claims.
    pub(crate) async fn run_claim(
        &self,
        claim: Claim,
        connection: Option<Arc<Connection>>,
    ) -> JobReport {
        let lease = claim.lease();
        let rotation_id = claim.rotation.id;
        let outcome = tokio::select! {
            outcome = self.execute(claim, connection) => outcome,
            () = self.heartbeat(&lease) => JobOutcome::LeaseLost,
        };
        let label = match &outcome {
            JobOutcome::Rotated { .. } => "rotated",
            JobOutcome::Overlapping { .. } => "overlapping",
            JobOutcome::Retrying { .. } => "retrying",
            JobOutcome::Failed { .. } => "failed",
            JobOutcome::LeaseLost => "lease_lost",
        };
        metrics::counter!("keyhold_rotations_total", "outcome" => label).increment(1);
        if matches!(outcome, JobOutcome::LeaseLost) {
            self.stats.lease_lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(rotation.id = %rotation_id, "lease lost; another worker continues this rotation");
        }
        JobReport {
            rotation_id,
            outcome,
        }
    }

    /// Extends the lease until it is lost (never returns while it is held).
    async fn heartbeat(&self, lease: &Lease) {
        let held = [(lease.rotation_id, lease.epoch)];
        loop {
            tokio::time::sleep(self.config.heartbeat).await;
            match lease::heartbeat(&self.broker.pool, &lease.owner, self.config.lease, &held).await
            {
                Ok(ids) if ids.contains(&lease.rotation_id) => {}
                Ok(_) => return,
                // The database may be back before the lease runs out; fenced writes catch the
                // case where it is not.
                Err(err) => tracing::warn!(error = %err, "lease heartbeat failed"),
            }
        }
    }

    async fn execute(&self, claim: Claim, connection: Option<Arc<Connection>>) -> JobOutcome {
        let lease = claim.lease();
        let rotation = claim.rotation;
        let mut ctx = None;
        let driven = async {
            let connection = match connection {
                Some(connection) if connection.org_id == rotation.org_id => connection,
                _ => Arc::new(
                    store::connections::get(
                        &self.broker.pool,
                        rotation.org_id,
                        rotation.connection_id,
                    )
                    .await
                    .stop_at(Step::Create)?,
                ),
            };
            let previous_owner = claim.previous_owner.as_deref();
            if rotation.rotates_keys() {
                self.drive_keys(&lease, &rotation, &connection, previous_owner, &mut ctx)
                    .await
            } else {
                self.drive(&lease, &rotation, &connection, previous_owner, &mut ctx)
                    .await
            }
        }
        .await;
        match driven {
            Ok(outcome) => outcome,
            Err(stop) => {
                self.on_stop()
                    .handle(&lease, &rotation, ctx.as_ref(), stop)
                    .await
            }
        }
    }

    fn on_stop(&self) -> failure::Handler<'_> {
        failure::Handler {
            config: &self.config,
            broker: &self.broker,
            stats: &self.stats,
        }
    }

    async fn drive(
        &self,
        lease: &Lease,
        rotation: &Rotation,
        connection: &Connection,
        previous_owner: Option<&str>,
        ctx: &mut Option<AttemptCtx>,
    ) -> Result<JobOutcome, Stop> {
        let domain = Broker::domain(connection).stop_at(Step::Create)?;
        let current = match rotation.current_attempt_id {
            None => self
                .create(lease, rotation, connection)
                .await
                .stop_at(Step::Create)?,
            // Resuming leads into setting the pending secret (again).
            Some(id) => self
                .resume(lease, id, previous_owner, rotation, connection)
                .await
                .stop_at(Step::Set)?,
        };
        let ctx = ctx.insert(current);
        if ctx.secret.is_none() {
            return Err(Stop::at(Step::Set, Cause::Invalid(steps::MOVED.into())));
        }
        let mut next = planner::next_step(Some(&ctx.attempt));
        while let Some(step) = next {
            next = match step {
                Step::Create | Step::Set => {
                    self.set(ctx, rotation, connection, &domain)
                        .await
                        .stop_at(Step::Set)?;
                    Some(Step::Test)
                }
                Step::Test => {
                    self.test(ctx, rotation, connection, &domain)
                        .await
                        .stop_at(Step::Test)?;
                    Some(Step::Finish)
                }
                // A client-secret attempt never reaches a key rotation's last step.
                Step::Finish | Step::RemoveOld => {
                    return self
                        .finish(lease, rotation, connection, ctx)
                        .await
                        .stop_at(Step::Finish);
                }
            };
        }
        Err(Stop::at(
            Step::Finish,
            Cause::Invalid("the open attempt is already finished".into()),
        ))
    }
}
