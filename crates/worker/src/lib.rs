//! Keyhold's rotation worker: scheduled and on-demand Auth0 client-secret rotation that never
//! loses a secret.
//!
//! A rotation runs as create → set → test → finish (AWS Secrets Manager's steps, Vault's
//! write-ahead log): the new secret is generated here and stored sealed as a *pending*
//! generation before Auth0 hears of it, so a crash at any point leaves a durable secret that the
//! next worker resumes with. Work is claimed from Postgres with `for update skip locked` under a
//! lease, every write is fenced by that lease, and Management API requests are paced per tenant
//! with a budget all worker processes share.
//!
//! - [`planner`]: pure decisions (schedule arithmetic, next step, backoff, failure classes).
//! - `engine`: performs the steps of one claimed rotation (`engine::steps`: create, set, test,
//!   finish); `failure`: what happens when one stops (retry later with the same secret, or fail
//!   for good with a message, audited); `attempt`: what both share (the attempt being worked on,
//!   why a step stopped). Dependencies run one way: engine → failure → attempt, engine → attempt.
//! - `runner`: [`Worker::run`]'s loop (LISTEN/NOTIFY, polling, concurrency, graceful drain).
//!
//! Acting on Auth0 as a stored connection (sealed secrets, tokens, pacing) is the `broker`
//! crate's, shared with the API; "rotate now" is `store::rotations::control`.
//!
//! Tests drive one job at a time with [`Worker::process_one`].

mod attempt;
pub mod audit_streams;
pub mod config;
mod engine;
mod error;
mod failure;
pub mod planner;
mod runner;
pub mod webhooks;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use broker::Broker;
use store::RotationId;

pub use crate::config::WorkerConfig;
use crate::engine::Engine;
pub use crate::error::{Error, Result};
pub use tokio_util::sync::CancellationToken;

/// A rotation worker. Build one per process; [`Worker::run`] until shutdown, or drive it one
/// job at a time with [`Worker::process_one`].
pub struct Worker {
    engine: Arc<Engine>,
    webhooks: Arc<webhooks::Dispatcher>,
}

/// Counters since start (plain atomics; a metrics exporter can read them).
#[derive(Debug, Default)]
pub struct Stats {
    pub rotated: AtomicU64,
    pub retried: AtomicU64,
    pub failed: AtomicU64,
    pub lease_lost: AtomicU64,
}

/// A copy of [`Stats`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub rotated: u64,
    pub retried: u64,
    pub failed: u64,
    pub lease_lost: u64,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            rotated: self.rotated.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            lease_lost: self.lease_lost.load(Ordering::Relaxed),
        }
    }
}

/// What happened to one claimed rotation.
#[derive(Debug)]
pub struct JobReport {
    pub rotation_id: RotationId,
    pub outcome: JobOutcome,
}

#[derive(Debug, PartialEq, Eq)]
pub enum JobOutcome {
    /// Auth0 holds the new secret and it is stored as current.
    Rotated { attempt_no: i32, active_index: i16 },
    /// A key rotation published its new key beside the old one; the attempt rests, with no lease
    /// held, and the old credential is removed once claimed again at `until`.
    Overlapping {
        attempt_no: i32,
        until: time::OffsetDateTime,
    },
    /// Stopped for now; the same attempt resumes after `retry_in`.
    Retrying { message: String, retry_in: Duration },
    /// The attempt failed for good; `message` says what to fix (also stored and audited).
    Failed { message: String },
    /// Another worker holds the rotation now; nothing was written.
    LeaseLost,
}

impl Worker {
    /// Checks the configuration (logging its warnings) and builds a worker acting through
    /// `broker` (share the process's one broker, so API and worker use one token cache).
    ///
    /// Give it a broker whose Auth0 client has `max_retries: 0` ([`Broker::with_client`]): the
    /// worker retries failed requests itself, with the attempt durable and every Management API
    /// request paced through the tenant's shared budget; the client's own immediate retries
    /// would bypass that budget.
    pub fn new(config: WorkerConfig, broker: Broker) -> Result<Worker> {
        for warning in config.validate().map_err(Error::Config)? {
            tracing::warn!("worker configuration: {warning}");
        }
        let webhooks = Arc::new(webhooks::Dispatcher::new(
            broker.clone(),
            config.worker_id.clone(),
            config.webhooks.clone(),
        )?);
        Ok(Worker {
            webhooks,
            engine: Arc::new(Engine {
                broker,
                stats: Stats::default(),
                config,
            }),
        })
    }

    pub fn config(&self) -> &WorkerConfig {
        &self.engine.config
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.engine.stats.snapshot()
    }

    /// The broker this worker acts through (shared token cache included).
    pub fn broker(&self) -> &Broker {
        &self.engine.broker
    }

    /// Claims one due rotation, if any, and drives it to its next resting point (rotated,
    /// waiting to retry, failed, or lost to another worker). For tests and tools: ordering is
    /// deterministic because only one job runs.
    pub async fn process_one(&self) -> Result<Option<JobReport>> {
        let claims = store::rotations::lease::claim_due(
            &self.engine.broker.pool,
            &self.engine.config.worker_id,
            self.engine.config.lease,
            1,
        )
        .await?;
        match claims.into_iter().next() {
            Some(claim) => Ok(Some(self.engine.run_claim(claim, None).await)),
            None => Ok(None),
        }
    }

    /// Runs until `shutdown` is cancelled: wakes on `NOTIFY keyhold_rotations` (rotate now),
    /// polls for due work as a fallback, works on up to `concurrency` rotations at once, and on
    /// shutdown lets in-flight rotations finish for up to `drain_timeout` before handing their
    /// leases back.
    ///
    /// The webhook dispatcher and the audit log streams run beside it until the same shutdown.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let webhooks_stop = shutdown.child_token();
        let webhooks_wake = Arc::new(tokio::sync::Notify::new());
        let webhooks = tokio::spawn(
            Arc::clone(&self.webhooks).run(webhooks_stop.clone(), Arc::clone(&webhooks_wake)),
        );
        let streams = tokio::spawn(Arc::clone(&self.webhooks).run_streams(webhooks_stop.clone()));
        let result = runner::run(self.engine, shutdown, webhooks_wake).await;
        webhooks_stop.cancel();
        if let Err(err) = webhooks.await {
            tracing::warn!(error = %err, "webhook dispatcher ended abnormally");
        }
        if let Err(err) = streams.await {
            tracing::warn!(error = %err, "audit stream dispatcher ended abnormally");
        }
        result
    }

    /// The webhook dispatcher (tests drive it with [`webhooks::Dispatcher::deliver_due`]).
    pub fn webhooks(&self) -> &Arc<webhooks::Dispatcher> {
        &self.webhooks
    }
}
