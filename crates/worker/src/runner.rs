//! [`crate::Worker::run`]'s loop: claim due rotations in batches up to the concurrency limit,
//! run each as its own task, sleep until a `NOTIFY`, the poll interval or a free slot, and on
//! shutdown drain in-flight work up to a deadline, then hand the remaining leases back so other
//! workers resume those attempts at once instead of after the lease expiry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::postgres::PgListener;
use store::connections::Connection;
use store::rotations::lease::{self, Claim, Lease};
use store::{ConnectionId, RotationId};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::JobOutcome;
use crate::engine::Engine;
use crate::error::Result;
use store::rotations::control::CHANNEL;

/// Leases of jobs in flight, so a drain that times out can hand them back.
type InFlight = Arc<Mutex<HashMap<RotationId, Lease>>>;

/// `webhooks` is woken by `NOTIFY keyhold_webhooks`: one LISTEN connection serves both loops.
pub(crate) async fn run(
    engine: Arc<Engine>,
    shutdown: CancellationToken,
    webhooks: Arc<Notify>,
) -> Result<()> {
    let config = &engine.config;
    tracing::info!(
        worker = %config.worker_id,
        concurrency = config.concurrency,
        "rotation worker started"
    );
    let wake = Arc::new(Notify::new());
    let listener = tokio::spawn(listen(
        engine.broker.pool.clone(),
        Arc::clone(&wake),
        webhooks,
        shutdown.child_token(),
    ));
    let in_flight: InFlight = Arc::default();
    let mut jobs = JoinSet::new();
    let mut claim_errors: u32 = 0;
    let refill = (config.concurrency / 4).max(1);
    loop {
        while let Some(done) = jobs.try_join_next() {
            log_join(done);
        }
        if shutdown.is_cancelled() {
            break;
        }
        let free = config.concurrency.saturating_sub(jobs.len());
        let mut more_due = false;
        if free > 0 {
            let want = free.min(config.batch_size);
            match lease::claim_due(
                &engine.broker.pool,
                &config.worker_id,
                config.lease,
                i64::try_from(want).unwrap_or(1),
            )
            .await
            {
                Ok(claims) => {
                    claim_errors = 0;
                    more_due = claims.len() == want;
                    let connections = connections_of(&engine, &claims).await;
                    for claim in claims {
                        let connection = connections.get(&claim.rotation.connection_id).cloned();
                        let lease = claim.lease();
                        lock(&in_flight).insert(lease.rotation_id, lease);
                        let engine = Arc::clone(&engine);
                        let in_flight = Arc::clone(&in_flight);
                        jobs.spawn(async move {
                            let report = engine.run_claim(claim, connection).await;
                            lock(&in_flight).remove(&report.rotation_id);
                            report
                        });
                    }
                }
                Err(err) => {
                    claim_errors = claim_errors.saturating_add(1);
                    let pause = backoff(claim_errors);
                    tracing::warn!(error = %err, pause_ms = pause.as_millis() as u64, "claiming due rotations failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(pause) => {}
                    }
                    continue;
                }
            }
        }
        if more_due && jobs.len() < config.concurrency {
            continue;
        }
        let poll = tokio::time::sleep(config.poll_interval);
        tokio::pin!(poll);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => break,
                () = &mut poll => break,
                Some(done) = jobs.join_next(), if !jobs.is_empty() => {
                    log_join(done);
                    // With more due than slots, refill a quarter of the slots per claim rather
                    // than one per finished job: the claim is a locking update, and one per
                    // rotation was an eighth of the database's work in bench/rotations.
                    if !more_due || config.concurrency - jobs.len() >= refill {
                        break;
                    }
                }
            }
        }
    }
    drain(&engine, jobs, &in_flight).await;
    if let Err(err) = listener.await {
        tracing::warn!(error = %err, "listener task ended abnormally");
    }
    tracing::info!(worker = %config.worker_id, "rotation worker stopped");
    Ok(())
}

/// The connections of a batch of claims, read in one statement (a batch usually shares a few
/// connections). Empty when the read fails: each job then reads its own and reports the error.
async fn connections_of(
    engine: &Engine,
    claims: &[Claim],
) -> HashMap<ConnectionId, Arc<Connection>> {
    let mut ids: Vec<ConnectionId> = claims.iter().map(|c| c.rotation.connection_id).collect();
    ids.sort_unstable_by_key(|id| id.0);
    ids.dedup();
    match store::connections::get_many(&engine.broker.pool, &ids).await {
        Ok(found) => found.into_iter().map(|c| (c.id, Arc::new(c))).collect(),
        Err(err) => {
            tracing::warn!(error = %err, "reading the claimed rotations' connections failed");
            HashMap::new()
        }
    }
}

async fn drain(engine: &Engine, mut jobs: JoinSet<crate::JobReport>, in_flight: &InFlight) {
    if jobs.is_empty() {
        return;
    }
    tracing::info!(in_flight = jobs.len(), "draining in-flight rotations");
    let deadline = tokio::time::sleep(engine.config.drain_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = jobs.join_next() => match next {
                Some(done) => log_join(done),
                None => return,
            },
            () = &mut deadline => break,
        }
    }
    // Stopping a job between steps is what a crash does, and is as safe: the attempt and its
    // pending secret are durable. Handing the lease back just saves the others the wait.
    jobs.abort_all();
    while jobs.join_next().await.is_some() {}
    let leases: Vec<Lease> = lock(in_flight).drain().map(|(_, lease)| lease).collect();
    for lease in leases {
        match lease::release(&engine.broker.pool, &lease, Duration::ZERO).await {
            Ok(_) => {
                tracing::info!(rotation.id = %lease.rotation_id, "lease handed back at shutdown")
            }
            Err(err) => tracing::warn!(error = %err, "could not hand a lease back; it will expire"),
        }
    }
}

fn log_join(done: std::result::Result<crate::JobReport, tokio::task::JoinError>) {
    match done {
        Ok(report) => {
            if let JobOutcome::Failed { message } = &report.outcome {
                tracing::debug!(rotation.id = %report.rotation_id, %message, "job ended in failure");
            }
        }
        Err(err) if err.is_cancelled() => {}
        Err(err) => tracing::error!(error = %err, "rotation job panicked"),
    }
}

fn lock(map: &InFlight) -> std::sync::MutexGuard<'_, HashMap<RotationId, Lease>> {
    map.lock().unwrap_or_else(PoisonError::into_inner)
}

/// 100 ms doubling to 30 s: for reconnecting and for a database that refuses claims.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100)
        .saturating_mul(1u32 << failures.min(9))
        .min(Duration::from_secs(30))
}

/// Forwards `NOTIFY keyhold_rotations` to `wake` (and `keyhold_webhooks` to `webhooks`),
/// reconnecting with backoff. After every (re)connect it wakes both loops once, since
/// notifications sent while disconnected are lost.
async fn listen(
    pool: store::PgPool,
    wake: Arc<Notify>,
    webhooks: Arc<Notify>,
    cancel: CancellationToken,
) {
    let mut failures: u32 = 0;
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener
                .listen_all([CHANNEL, store::webhooks::CHANNEL])
                .await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let outcome = tokio::select! {
            () = cancel.cancelled() => return,
            connected = connected => connected,
        };
        match outcome {
            Ok(mut listener) => {
                failures = 0;
                wake.notify_one();
                webhooks.notify_one();
                loop {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        message = listener.try_recv() => match message {
                            Ok(Some(message)) if message.channel() == store::webhooks::CHANNEL => {
                                webhooks.notify_one()
                            }
                            Ok(Some(_)) => wake.notify_one(),
                            // The connection dropped; sqlx reconnects on the next call.
                            Ok(None) => {
                                wake.notify_one();
                                webhooks.notify_one();
                            }
                            Err(err) => {
                                tracing::warn!(error = %err, "LISTEN connection failed; reconnecting");
                                break;
                            }
                        }
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot LISTEN for rotate-now requests; polling meanwhile")
            }
        }
        failures = failures.saturating_add(1);
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(backoff(failures)) => {}
        }
    }
}
