//! 1,000 rotations while worker processes are SIGKILLed over and over: whatever step each kill
//! interrupts, every rotation finishes in its first attempt and every stored secret equals the one
//! Auth0 (the emulator) holds at the end.

use std::time::{Duration, Instant};

use auth0_emulator::Fault;
use sqlx::PgPool;

use crate::crash::{children_gone, sigkill, spawn_worker};
use crate::support::*;

const ROTATIONS: usize = 1_000;

async fn rotated(fx: &Fixture) -> i64 {
    sqlx::query_scalar("select count(*) from secret_rotations where last_rotated_at is not null")
        .fetch_one(&fx.pool)
        .await
        .expect("count")
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_thousand_rotations_survive_repeated_sigkills(pool: PgPool) {
    let fx = Fixture::new(pool, ROTATIONS).await;
    let mut rotations = Vec::with_capacity(ROTATIONS);
    for i in 0..ROTATIONS {
        let client = target(i);
        rotations.push((fx.rotation(&format!("rot-{i:04}"), &client).await, client));
    }
    // Every Auth0 call takes a little while, so kills land inside calls as well as between them.
    for endpoint in [PATCH, TOKEN] {
        fx.emulator.admin().inject_fault(
            DOMAIN,
            Fault::Latency {
                endpoint: Some(endpoint.into()),
                millis: 15,
                count: None,
            },
        );
    }

    // Two workers at a time; one of them is killed every 150-450 ms and replaced, until all are done.
    let started = Instant::now();
    let mut workers = vec![
        spawn_worker(&fx, &[("KEYHOLD_WORKER_ID", "chaos-0")]).await,
        spawn_worker(&fx, &[("KEYHOLD_WORKER_ID", "chaos-1")]).await,
    ];
    let mut kills = 0;
    let mut kills_with_work_left = 0;
    loop {
        let done = rotated(&fx).await;
        if done == ROTATIONS as i64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {done} of {ROTATIONS} rotated after {kills} kills"
        );
        let pause = 150 + (kills * 97) % 300;
        tokio::time::sleep(Duration::from_millis(pause as u64)).await;
        let victim = workers.remove(kills % 2);
        sigkill(victim).await;
        kills += 1;
        if rotated(&fx).await < ROTATIONS as i64 {
            kills_with_work_left += 1;
        }
        let name = format!("chaos-{}", kills + 1);
        workers.insert(
            kills % 2,
            spawn_worker(&fx, &[("KEYHOLD_WORKER_ID", &name)]).await,
        );
    }
    for worker in workers {
        sigkill(worker).await;
    }
    children_gone(&fx).await;
    assert!(
        kills_with_work_left >= 5,
        "the workers were killed only {kills_with_work_left} times while rotations were left"
    );

    for (rotation, client) in &rotations {
        let now = fx.get(rotation.id).await;
        assert_eq!(
            now.status, "success",
            "{client}: {:?}",
            now.last_rotation_message
        );
        assert!(
            now.current_attempt_id.is_none(),
            "{client}: an attempt is still open"
        );
        let stored = fx
            .current_secret(rotation.id)
            .await
            .expect("a current secret");
        assert_eq!(
            stored,
            fx.auth0_secret(client),
            "{client}: stored differs from Auth0's"
        );
        assert_ne!(stored, initial_secret(client), "{client}: never rotated");
        let attempts = count(
            &fx.pool,
            "select count(*) from rotation_attempts where rotation_id = $1",
            rotation.id,
        )
        .await;
        assert_eq!(
            attempts, 1,
            "{client}: an interrupted attempt was restarted, not resumed"
        );
    }
    eprintln!(
        "{ROTATIONS} rotations in {:.1} s with {kills} SIGKILLs ({kills_with_work_left} with work left)",
        started.elapsed().as_secs_f64()
    );
}
