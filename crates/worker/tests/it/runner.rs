//! `Worker::run`: several workers sharing the queue, waking on `NOTIFY`, draining on shutdown.

use std::time::Duration;

use auth0_emulator::Fault;
use sqlx::PgPool;
use worker::{CancellationToken, WorkerConfig};

use crate::support::*;

async fn all_rotated(pool: &PgPool, n: i64) -> bool {
    let done: i64 =
        sqlx::query_scalar("select count(*) from secret_rotations where status = 'success'")
            .fetch_one(pool)
            .await
            .expect("count");
    assert!(done <= n);
    done == n
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn several_workers_never_rotate_one_client_twice(pool: PgPool) {
    const N: usize = 30;
    let fx = Fixture::new(pool, N).await;
    for i in 0..N {
        fx.rotation(&format!("rot-{i}"), &target(i)).await;
    }
    let shutdown = CancellationToken::new();
    let mut running = Vec::new();
    for w in 0..4 {
        let worker = fx.worker_with(
            WorkerConfig {
                worker_id: format!("w{w}"),
                concurrency: 4,
                batch_size: 3,
                ..fx.config()
            },
            std::sync::Arc::new(auth0::TokenCache::new()),
        );
        running.push(tokio::spawn(worker.run(shutdown.clone())));
    }
    eventually(Duration::from_secs(30), "every rotation done", || {
        all_rotated(&fx.pool, N as i64)
    })
    .await;
    shutdown.cancel();
    for task in running {
        task.await.expect("join").expect("run");
    }
    // One PATCH per client: no rotation ran twice for its one due time.
    assert_eq!(fx.requests(PATCH), N as u64);
    assert_eq!(fx.counters().rotations, N as u64);
    let attempts: Vec<i64> =
        sqlx::query_scalar("select count(*) from rotation_attempts group by rotation_id")
            .fetch_all(&fx.pool)
            .await
            .expect("attempts");
    assert_eq!(attempts, vec![1; N]);
    let workers: i64 = sqlx::query_scalar("select count(distinct worker) from rotation_attempts")
        .fetch_one(&fx.pool)
        .await
        .expect("workers");
    assert!(workers >= 2, "the work was shared ({workers} workers)");
    for i in 0..N {
        let row = store::rotations::get_by_name(&fx.pool, fx.project_id, &format!("rot-{i}"))
            .await
            .expect("row");
        assert_eq!(
            fx.current_secret(row.id).await.as_deref(),
            Some(fx.auth0_secret(&target(i)).as_str())
        );
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn rotate_now_wakes_a_sleeping_worker(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let rotation = fx
        .rotation_with("rot", &target(0), |r| r.rotate_immediately = false)
        .await;
    let worker = fx.worker_with(
        WorkerConfig {
            // Without LISTEN this worker would not look again for a minute.
            poll_interval: Duration::from_secs(60),
            ..fx.config()
        },
        std::sync::Arc::clone(&fx.tokens),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(worker.run(shutdown.clone()));
    // Let it take its first look and start listening.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut tx = fx.pool.begin().await.expect("tx");
    store::rotations::control::rotate_now(&mut tx, fx.org_id, rotation.id)
        .await
        .expect("request");
    tx.commit().await.expect("commit");
    eventually(Duration::from_secs(5), "rotated after NOTIFY", || async {
        fx.get(rotation.id).await.status == "success"
    })
    .await;
    shutdown.cancel();
    task.await.expect("join").expect("run");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn shutdown_lets_in_flight_rotations_finish(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let rotation = fx.rotation("rot", &target(0)).await;
    fx.emulator.admin().inject_fault(
        DOMAIN,
        Fault::latency(Some(PATCH), Duration::from_millis(700)),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(fx.worker().run(shutdown.clone()));
    eventually(Duration::from_secs(5), "PATCH in flight", || async {
        fx.requests(PATCH) == 1
    })
    .await;
    shutdown.cancel();
    task.await.expect("join").expect("run");
    let row = fx.get(rotation.id).await;
    assert_eq!(row.status, "success", "drained, not abandoned");
    assert_eq!(
        fx.current_secret(rotation.id).await,
        Some(fx.auth0_secret(&target(0)))
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_drain_that_times_out_hands_the_lease_back(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let rotation = fx.rotation("rot", &target(0)).await;
    fx.emulator
        .admin()
        .inject_fault(DOMAIN, Fault::latency(Some(PATCH), Duration::from_secs(3)));
    let shutdown = CancellationToken::new();
    let worker = fx.worker_with(
        WorkerConfig {
            drain_timeout: Duration::from_millis(100),
            ..fx.config()
        },
        std::sync::Arc::clone(&fx.tokens),
    );
    let task = tokio::spawn(worker.run(shutdown.clone()));
    eventually(Duration::from_secs(5), "PATCH in flight", || async {
        fx.requests(PATCH) == 1
    })
    .await;
    shutdown.cancel();
    task.await.expect("join").expect("run");
    let row = fx.get(rotation.id).await;
    assert!(row.lease_owner.is_none(), "lease handed back");
    assert!(row.current_attempt_id.is_some(), "the attempt stays open");
    fx.emulator.admin().clear_faults(DOMAIN);
    // Another worker continues at once with the same pending secret.
    let outcome = until_rotated(&fx.worker(), Duration::from_secs(10)).await;
    assert!(matches!(
        outcome,
        worker::JobOutcome::Rotated { attempt_no: 1, .. }
    ));
    assert_eq!(
        fx.current_secret(rotation.id).await,
        Some(fx.auth0_secret(&target(0)))
    );
}
