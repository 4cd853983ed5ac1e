//! A tenant limited like Auth0's free plan (2 Management API requests/s, burst 2) rotating 50
//! clients through two worker processes: the shared budget keeps both within the one limit.

use std::time::{Duration, Instant};

use auth0_emulator::RateLimitSeed;
use sqlx::PgPool;

use crate::crash::spawn_worker;
use crate::support::*;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn two_processes_share_a_small_tenant_budget(pool: PgPool) {
    const N: usize = 50;
    let fx = Fixture::with_tenant(pool, N, |t| {
        t.rate_limit = Some(RateLimitSeed::free_plan_management());
    })
    .await;
    for i in 0..N {
        fx.rotation(&format!("rot-{i}"), &target(i)).await;
    }
    let started = Instant::now();
    let settings = [
        ("KEYHOLD_WORKER_TENANT_RPS", "2"),
        ("KEYHOLD_WORKER_TENANT_BURST", "2"),
        ("KEYHOLD_WORKER_CONCURRENCY", "8"),
        ("KEYHOLD_WORKER_LEASE_MS", "30000"),
        ("KEYHOLD_WORKER_HEARTBEAT_MS", "5000"),
    ];
    let a = spawn_worker(
        &fx,
        &[&settings[..], &[("KEYHOLD_WORKER_ID", "a")]].concat(),
    )
    .await;
    let b = spawn_worker(
        &fx,
        &[&settings[..], &[("KEYHOLD_WORKER_ID", "b")]].concat(),
    )
    .await;
    eventually(Duration::from_secs(50), "all 50 rotated", || async {
        let done: i64 =
            sqlx::query_scalar("select count(*) from secret_rotations where status = 'success'")
                .fetch_one(&fx.pool)
                .await
                .expect("count");
        done == N as i64
    })
    .await;
    let elapsed = started.elapsed();
    crate::crash::sigkill(a).await;
    crate::crash::sigkill(b).await;
    crate::crash::children_gone(&fx).await;

    let failed: i64 = sqlx::query_scalar(
        "select count(*) from rotation_attempts where outcome <> 'succeeded' or failures > 0",
    )
    .fetch_one(&fx.pool)
    .await
    .expect("count");
    assert_eq!(failed, 0, "zero failed rotations");
    let workers: Vec<String> =
        sqlx::query_scalar("select distinct worker from rotation_attempts order by 1")
            .fetch_all(&fx.pool)
            .await
            .expect("workers");
    assert_eq!(workers, ["a", "b"], "both processes rotated");

    let counters = fx.counters();
    let management: u64 = counters
        .requests_by_endpoint
        .iter()
        .filter(|(name, _)| name.contains(" /api/v2/"))
        .map(|(_, n)| n)
        .sum();
    assert!(
        counters.rate_limited <= 3,
        "a handful of 429s at most: {counters:?}"
    );
    // Every request the emulator let through fits the limit: burst + 2/s over the run.
    let allowed = management - counters.rate_limited;
    assert!(
        (allowed as f64) <= 2.0 + 2.0 * elapsed.as_secs_f64(),
        "{allowed} requests in {elapsed:?}"
    );
    assert_eq!(counters.rotations, N as u64, "one secret change per client");
    for i in [0, N / 2, N - 1] {
        let row = store::rotations::get_by_name(&fx.pool, fx.project_id, &format!("rot-{i}"))
            .await
            .expect("row");
        assert_eq!(
            fx.current_secret(row.id).await.as_deref(),
            Some(fx.auth0_secret(&target(i)).as_str())
        );
    }
}
