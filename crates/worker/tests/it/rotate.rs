//! One worker, one job at a time: the happy path and its generations, schedules, retries that
//! resume the same attempt and secret, permanent failures, and the connection's own secret.

use std::sync::Arc;
use std::time::Duration;

use auth0_emulator::Fault;
use sqlx::PgPool;
use store::rotations::schedule::{self, LastRotation, Schedule};
use store::rotations::{self, AttemptStep, RotateNow};
use worker::{JobOutcome, WorkerConfig};

use crate::support::*;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn rotates_and_keeps_the_previous_generation(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let client = target(0);
    let rotation = fx.rotation("rot", &client).await;
    let worker = fx.worker();

    let report = worker.process_one().await.expect("ok").expect("claimed");
    assert_eq!(report.rotation_id, rotation.id);
    assert_eq!(
        report.outcome,
        JobOutcome::Rotated {
            attempt_no: 1,
            active_index: 0
        }
    );
    let first = fx.current_secret(rotation.id).await.expect("current");
    assert_eq!(first, fx.auth0_secret(&client));
    assert_ne!(first, initial_secret(&client));
    assert!(first.len() >= 48 && first.chars().all(|c| c.is_ascii_alphanumeric()));
    let row = fx.get(rotation.id).await;
    assert_eq!(row.status, "success");
    assert!(
        !row.is_last_rotation_manual,
        "issuing on create is not manual"
    );
    assert!(row.current_attempt_id.is_none() && row.lease_owner.is_none());
    assert_eq!(row.due_at, row.next_rotation_at);
    assert!(
        worker.process_one().await.expect("ok").is_none(),
        "nothing else is due"
    );

    // Rotate now twice more: slots alternate and only current + previous are kept.
    let mut previous = first;
    for (round, slot) in [(2, 1), (3, 0)] {
        let mut tx = fx.pool.begin().await.expect("tx");
        let queued = store::rotations::control::rotate_now(&mut tx, fx.org_id, rotation.id)
            .await
            .expect("request");
        assert!(matches!(queued, RotateNow::Queued(_)));
        tx.commit().await.expect("commit");
        let report = worker.process_one().await.expect("ok").expect("claimed");
        assert_eq!(
            report.outcome,
            JobOutcome::Rotated {
                attempt_no: round,
                active_index: slot
            }
        );
        let creds = rotations::generated_credentials(&fx.pool, rotation.id)
            .await
            .expect("creds");
        assert_eq!(creds.len(), 2);
        let current = creds
            .iter()
            .find(|c| c.state == "current")
            .expect("current");
        let prev = creds
            .iter()
            .find(|c| c.state == "previous")
            .expect("previous");
        assert_eq!(current.slot, Some(slot));
        assert_eq!(prev.slot, Some(1 - slot));
        assert_eq!(fx.open_credential(current), fx.auth0_secret(&client));
        assert_eq!(fx.open_credential(prev), previous);
        previous = fx.open_credential(current);
        assert!(fx.get(rotation.id).await.is_last_rotation_manual);
    }
    let total = count(
        &fx.pool,
        "select count(*) from rotation_credentials where rotation_id = $1",
        rotation.id,
    )
    .await;
    assert_eq!(total, 2, "the oldest generation is deleted");
    let (attempts, next) = rotations::list_attempts(&fx.pool, rotation.id, 2, None)
        .await
        .expect("attempts");
    assert_eq!(
        attempts.iter().map(|a| a.attempt_no).collect::<Vec<_>>(),
        [3, 2]
    );
    assert!(
        attempts
            .iter()
            .all(|a| a.outcome == "succeeded" && a.step == AttemptStep::Finished)
    );
    let (older, _) = rotations::list_attempts(&fx.pool, rotation.id, 2, next)
        .await
        .expect("page 2");
    assert_eq!(older.len(), 1);
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action = 'secret_rotation.rotate' \
         and outcome = 'success' and resource_id = $1",
    )
    .bind(rotation.id.to_string())
    .fetch_one(&fx.pool)
    .await
    .expect("audit");
    assert_eq!(audited, 3);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn rotate_now_is_refused_while_one_is_queued_or_running(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let rotation = fx
        .rotation_with("rot", &target(0), |r| r.rotate_immediately = false)
        .await;
    let mut conn = fx.pool.acquire().await.expect("conn");
    let first = store::rotations::control::rotate_now(&mut conn, fx.org_id, rotation.id)
        .await
        .expect("request");
    assert!(matches!(first, RotateNow::Queued(r) if r.rotate_requested_at.is_some()));
    let second = store::rotations::control::rotate_now(&mut conn, fx.org_id, rotation.id)
        .await
        .expect("request");
    assert!(
        matches!(&second, RotateNow::InProgress(r) if r.is_in_progress(time::OffsetDateTime::now_utc()))
    );
    let unknown =
        store::rotations::control::rotate_now(&mut conn, fx.org_id, store::RotationId::new()).await;
    assert!(matches!(unknown, Err(store::Error::NotFound)));
    drop(conn);
    let outcome = until_rotated(&fx.worker(), Duration::from_secs(10)).await;
    assert!(matches!(outcome, JobOutcome::Rotated { .. }));
    assert_eq!(fx.counters().rotations, 1, "one request, one rotation");
    assert!(fx.get(rotation.id).await.is_last_rotation_manual);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_manual_rotation_moves_the_schedule(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let rotation = fx
        .rotation_with("rot", &target(0), |r| {
            r.rotate_immediately = false;
            r.rotation_interval_days = 7;
            r.rotate_at_hours = 3;
            r.rotate_at_minutes = 30;
        })
        .await;
    let mut conn = fx.pool.acquire().await.expect("conn");
    store::rotations::control::rotate_now(&mut conn, fx.org_id, rotation.id)
        .await
        .expect("request");
    drop(conn);
    until_rotated(&fx.worker(), Duration::from_secs(10)).await;
    let row = fx.get(rotation.id).await;
    let last = row.last_rotated_at.expect("rotated");
    let expected = schedule::next_rotation_at(
        &Schedule::new(7, 3, 30).expect("schedule"),
        Some(LastRotation {
            at: last,
            manual: true,
        }),
        last,
    );
    let next = row.next_rotation_at.expect("next");
    // The database's clock stamped last_rotated_at, the worker's computed `next`: allow for
    // the moment between them crossing 03:30.
    assert!(
        (next - expected).whole_days().abs() <= 1 && next.time() == expected.time(),
        "{next} vs {expected}"
    );
    assert!(next - last >= time::Duration::days(7), "a full interval");
    assert_eq!(row.due_at, Some(next));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn downtime_that_missed_several_windows_rotates_once(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let overdue = time::OffsetDateTime::now_utc() - time::Duration::days(95);
    let rotation = fx
        .rotation_with("rot", &target(0), |r| {
            r.rotate_immediately = false;
            r.next_rotation_at = Some(overdue);
        })
        .await;
    let worker = fx.worker();
    let outcome = until_rotated(&worker, Duration::from_secs(10)).await;
    assert!(matches!(outcome, JobOutcome::Rotated { attempt_no: 1, .. }));
    assert!(worker.process_one().await.expect("ok").is_none());
    assert_eq!(fx.counters().rotations, 1);
    let next = fx.get(rotation.id).await.next_rotation_at.expect("next");
    assert!(next > time::OffsetDateTime::now_utc() + time::Duration::days(29));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn disabled_auto_rotation_is_never_due(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let rotation = fx
        .rotation_with("rot", &target(0), |r| {
            r.rotate_immediately = false;
            r.is_auto_rotation_enabled = false;
            r.next_rotation_at = Some(time::OffsetDateTime::now_utc() - time::Duration::days(1));
        })
        .await;
    assert_eq!(rotation.due_at, None);
    assert!(fx.worker().process_one().await.expect("ok").is_none());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn retryable_errors_resume_the_same_attempt_and_secret(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let client = target(0);
    let rotation = fx.rotation("rot", &client).await;
    fx.emulator
        .admin()
        .inject_fault(DOMAIN, Fault::fail(Some(PATCH), 503, 3));
    let worker = fx.worker();
    let first = worker.process_one().await.expect("ok").expect("claimed");
    assert!(
        matches!(first.outcome, JobOutcome::Retrying { .. }),
        "{first:?}"
    );
    let pending = pending_of(&fx, rotation.id).await;
    let outcome = until_rotated(&worker, Duration::from_secs(10)).await;
    assert_eq!(
        outcome,
        JobOutcome::Rotated {
            attempt_no: 1,
            active_index: 0
        }
    );
    assert_eq!(fx.current_secret(rotation.id).await, Some(pending.clone()));
    assert_eq!(fx.auth0_secret(&client), pending);
    let attempts = count(
        &fx.pool,
        "select count(*) from rotation_attempts where rotation_id = $1",
        rotation.id,
    )
    .await;
    assert_eq!(
        attempts, 1,
        "retries resume the attempt, never start another"
    );
    let (history, _) = rotations::list_attempts(&fx.pool, rotation.id, 10, None)
        .await
        .expect("history");
    assert_eq!((history[0].tries, history[0].failures), (4, 3));
    assert_eq!(worker.stats().retried, 3);
}

/// The pending secret of the rotation's open attempt.
async fn pending_of(fx: &Fixture, id: store::RotationId) -> String {
    let row = fx.get(id).await;
    let attempt = row.current_attempt_id.expect("open attempt");
    let mut conn = fx.pool.acquire().await.expect("conn");
    let pending = rotations::pending_credential(&mut conn, attempt)
        .await
        .expect("query")
        .expect("pending");
    fx.open_credential(&pending)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_dropped_connection_after_the_patch_was_applied_loses_nothing(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let client = target(0);
    let rotation = fx.rotation("rot", &client).await;
    fx.emulator
        .admin()
        .inject_fault(DOMAIN, Fault::drop_after_apply(Some(PATCH), 1));
    let worker = fx.worker();
    let first = worker.process_one().await.expect("ok").expect("claimed");
    assert!(
        matches!(first.outcome, JobOutcome::Retrying { .. }),
        "{first:?}"
    );
    // Auth0 holds the new secret although we never saw its answer; it is durable here.
    let pending = pending_of(&fx, rotation.id).await;
    assert_eq!(fx.auth0_secret(&client), pending);
    let outcome = until_rotated(&worker, Duration::from_secs(10)).await;
    assert!(matches!(outcome, JobOutcome::Rotated { attempt_no: 1, .. }));
    assert_eq!(fx.current_secret(rotation.id).await, Some(pending));
    assert_eq!(fx.requests(PATCH), 2, "the same secret was set twice");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn rate_limiting_never_uses_up_the_retry_budget(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let rotation = fx.rotation("rot", &target(0)).await;
    fx.emulator
        .admin()
        .inject_fault(DOMAIN, Fault::fail(Some(PATCH), 429, 3));
    let worker = fx.worker_with(
        WorkerConfig {
            max_failures: 1,
            ..fx.config()
        },
        Arc::clone(&fx.tokens),
    );
    let outcome = until_rotated(&worker, Duration::from_secs(20)).await;
    assert!(matches!(outcome, JobOutcome::Rotated { .. }), "{outcome:?}");
    let (history, _) = rotations::list_attempts(&fx.pool, rotation.id, 10, None)
        .await
        .expect("history");
    assert_eq!((history[0].tries, history[0].failures), (4, 0));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_missing_scope_stops_with_what_to_fix(pool: PgPool) {
    let fx = Fixture::with_tenant(pool, 1, |t| {
        t.grants[0].scopes = vec!["read:clients".into()]
    })
    .await;
    let rotation = fx.rotation("rot", &target(0)).await;
    let worker = fx.worker();
    let report = worker.process_one().await.expect("ok").expect("claimed");
    let JobOutcome::Failed { message } = report.outcome else {
        panic!("expected a failure, got {:?}", report.outcome);
    };
    assert!(message.contains("update:client_keys"), "{message}");
    assert!(
        message.contains("Machine To Machine Applications"),
        "{message}"
    );
    let row = fx.get(rotation.id).await;
    assert_eq!(row.status, "failed");
    assert_eq!(row.last_rotation_message.as_deref(), Some(message.as_str()));
    assert!(row.current_attempt_id.is_none() && row.lease_owner.is_none());
    let schedule = Schedule::of(&row).expect("schedule");
    let tomorrow = schedule::after_failure(&schedule, time::OffsetDateTime::now_utc());
    assert_eq!(row.next_rotation_at, Some(tomorrow));
    assert_eq!(row.due_at, Some(tomorrow));
    // Auth0 refused the PATCH outright, so the pending secret is not kept.
    let kept = count(
        &fx.pool,
        "select count(*) from rotation_credentials where rotation_id = $1",
        rotation.id,
    )
    .await;
    assert_eq!(kept, 0);
    let audited: (String, serde_json::Value) = sqlx::query_as(
        "select outcome, metadata from audit_events where action = 'secret_rotation.rotate' \
         and resource_id = $1",
    )
    .bind(rotation.id.to_string())
    .fetch_one(&fx.pool)
    .await
    .expect("audit");
    assert_eq!(audited.0, "failure");
    assert_eq!(audited.1["message"], message.as_str());
    assert_eq!(worker.stats().failed, 1);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_unknown_client_or_a_wrong_connection_secret_say_so(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let missing = fx.rotation("missing", "noSuchClient").await;
    let worker = fx.worker();
    let report = worker.process_one().await.expect("ok").expect("claimed");
    assert_eq!(report.rotation_id, missing.id);
    assert!(
        matches!(&report.outcome, JobOutcome::Failed { message } if message.contains("\"noSuchClient\" does not exist")),
        "{report:?}"
    );
    assert_eq!(worker.stats().failed, 1);

    // Someone rotated the connection's own secret behind Keyhold's back.
    let changed = rotate_connection_secret_elsewhere(&fx).await;
    assert_ne!(changed, CONN_SECRET);
    fx.rotation("broken", &target(0)).await;
    let report = fx
        .worker_with(fx.config(), Arc::new(auth0::TokenCache::new()))
        .process_one()
        .await
        .expect("ok")
        .expect("claimed");
    assert!(
        matches!(&report.outcome, JobOutcome::Failed { message } if message.contains("update the connection's client secret")),
        "{report:?}"
    );
}

/// Changes the connection client's secret in the emulator (as a dashboard user would).
async fn rotate_connection_secret_elsewhere(fx: &Fixture) -> String {
    let domain = auth0::Domain::parse(DOMAIN).expect("domain");
    let token = fx
        .auth0
        .client_credentials_token(&auth0::ClientCredentials {
            audience: domain.management_audience(),
            domain: domain.clone(),
            client_id: CONN_CLIENT.into(),
            client_secret: crypto::SecretString::from(CONN_SECRET),
        })
        .await
        .expect("token");
    fx.auth0
        .rotate_secret(&domain, &token.token, CONN_CLIENT)
        .await
        .expect("rotate");
    fx.auth0_secret(CONN_CLIENT)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn self_rotation_leaves_the_connection_usable(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let rotation = fx.rotation("self", CONN_CLIENT).await;
    let worker = fx.worker();
    let outcome = until_rotated(&worker, Duration::from_secs(10)).await;
    assert!(matches!(outcome, JobOutcome::Rotated { .. }));
    let new = fx.auth0_secret(CONN_CLIENT);
    assert_ne!(new, CONN_SECRET);
    assert_eq!(fx.current_secret(rotation.id).await, Some(new.clone()));
    assert_eq!(fx.connection_secret().await, new, "same transaction");
    let connection = fx.reload_connection().await;
    assert_eq!(connection.version, fx.connection.version + 1);
    assert!(fx.tokens.is_empty(), "the cached token was dropped");

    // The connection works with its new secret: it can read a client and rotate again.
    let misses = fx.tokens.misses();
    let info = worker
        .broker()
        .get_client(&connection, &target(0))
        .await
        .expect("usable");
    assert_eq!(info.client_id, target(0));
    assert_eq!(fx.tokens.misses(), misses + 1);
    let mut conn = fx.pool.acquire().await.expect("conn");
    store::rotations::control::rotate_now(&mut conn, fx.org_id, rotation.id)
        .await
        .expect("request");
    drop(conn);
    until_rotated(&worker, Duration::from_secs(10)).await;
    assert_eq!(fx.connection_secret().await, fx.auth0_secret(CONN_CLIENT));
    assert_eq!(
        fx.reload_connection().await.version,
        fx.connection.version + 2
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_interrupted_self_rotation_recovers_with_its_pending_secret(pool: PgPool) {
    let fx = Fixture::new(pool, 0).await;
    let rotation = fx.rotation("self", CONN_CLIENT).await;
    fx.emulator
        .admin()
        .inject_fault(DOMAIN, Fault::drop_after_apply(Some(PATCH), 1));
    let first = fx
        .worker()
        .process_one()
        .await
        .expect("ok")
        .expect("claimed");
    assert!(matches!(first.outcome, JobOutcome::Retrying { .. }));
    // Auth0 has the new secret, the connection still the old one.
    let pending = pending_of(&fx, rotation.id).await;
    assert_eq!(fx.auth0_secret(CONN_CLIENT), pending);
    assert_eq!(fx.connection_secret().await, CONN_SECRET);
    // A fresh process (empty token cache) must still get in, with the pending secret.
    let fresh = fx.worker_with(fx.config(), Arc::new(auth0::TokenCache::new()));
    let outcome = until_rotated(&fresh, Duration::from_secs(10)).await;
    assert!(matches!(outcome, JobOutcome::Rotated { attempt_no: 1, .. }));
    assert_eq!(fx.connection_secret().await, pending);
    assert_eq!(fx.current_secret(rotation.id).await, Some(pending));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn revoke_on_delete_kills_the_stored_secret(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let client = target(0);
    let rotation = fx.rotation("rot", &client).await;
    let worker = fx.worker();
    until_rotated(&worker, Duration::from_secs(10)).await;
    let stored = fx.current_secret(rotation.id).await.expect("current");
    assert_eq!(fx.auth0_secret(&client), stored);

    let mut tx = fx.pool.begin().await.expect("tx");
    let locked = rotations::lock(&mut tx, fx.org_id, rotation.id)
        .await
        .expect("lock");
    assert!(!locked.is_in_progress(time::OffsetDateTime::now_utc()));
    worker
        .broker()
        .revoke_generated_credentials(&fx.connection, &locked)
        .await
        .expect("revoked");
    rotations::delete(&mut tx, fx.org_id, rotation.id, Some(locked.version))
        .await
        .expect("deleted");
    tx.commit().await.expect("commit");
    assert_ne!(
        fx.auth0_secret(&client),
        stored,
        "the stored secret is dead"
    );
    assert_eq!(fx.counters().rotations, 2);
    let left = count(
        &fx.pool,
        "select count(*) from rotation_credentials where rotation_id = $1",
        rotation.id,
    )
    .await;
    assert_eq!(left, 0);

    // Revoking the connection's own secret would lock it out: refused.
    let own = fx.rotation("self", CONN_CLIENT).await;
    let refused = worker
        .broker()
        .revoke_generated_credentials(&fx.connection, &own)
        .await;
    assert!(matches!(refused, Err(broker::Error::RevokeOwnClient)));
    assert_eq!(fx.auth0_secret(CONN_CLIENT), CONN_SECRET);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_edit_during_the_attempt_reschedules_from_the_new_schedule(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let rotation = fx.rotation("rot", &target(0)).await;
    fx.emulator.admin().inject_fault(
        DOMAIN,
        Fault::latency(Some(PATCH), Duration::from_millis(500)),
    );
    let worker = fx.worker();
    let job = tokio::spawn(async move { worker.process_one().await });
    eventually(Duration::from_secs(5), "PATCH in flight", || async {
        fx.requests(PATCH) == 1
    })
    .await;
    let leased = fx.get(rotation.id).await;
    assert!(leased.lease_owner.is_some());
    let mut conn = fx.pool.acquire().await.expect("conn");
    let edited = rotations::update(
        &mut conn,
        fx.org_id,
        rotation.id,
        rotation.version,
        &rotations::Change {
            rotation_interval_days: Some(2),
            rotate_at: Some((12, 0)),
            ..rotations::Change::default()
        },
    )
    .await
    .expect("edit");
    assert_eq!(
        edited.due_at, leased.due_at,
        "busy: the lease keeps the queue position"
    );
    drop(conn);
    let report = job.await.expect("join").expect("ok").expect("claimed");
    assert!(
        matches!(report.outcome, JobOutcome::Rotated { .. }),
        "{report:?}"
    );
    let row = fx.get(rotation.id).await;
    let last = row.last_rotated_at.expect("rotated");
    let next = row.next_rotation_at.expect("next");
    assert_eq!(
        next.time(),
        time::macros::time!(12:00),
        "the edited rotate-at time"
    );
    assert!(
        next - last <= time::Duration::days(3),
        "the edited interval: {last} -> {next}"
    );
    assert_eq!(row.version, edited.version);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn slow_propagation_is_waited_out_without_setting_the_secret_again(pool: PgPool) {
    let fx = Fixture::with_tenant(pool, 1, |t| t.secret_propagation_delay_ms = 1200).await;
    let rotation = fx.rotation("rot", &target(0)).await;
    let worker = fx.worker_with(
        WorkerConfig {
            propagation_timeout: Duration::from_millis(300),
            ..fx.config()
        },
        Arc::clone(&fx.tokens),
    );
    let first = worker.process_one().await.expect("ok").expect("claimed");
    assert!(
        matches!(&first.outcome, JobOutcome::Retrying { message, .. } if message.contains("tested again")),
        "{first:?}"
    );
    let outcome = until_rotated(&worker, Duration::from_secs(10)).await;
    assert!(matches!(outcome, JobOutcome::Rotated { attempt_no: 1, .. }));
    assert_eq!(
        fx.current_secret(rotation.id).await,
        Some(fx.auth0_secret(&target(0)))
    );
    assert_eq!(fx.requests(PATCH), 1, "tested again, not set again");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_client_without_client_credentials_is_checked_by_reading_it_back(pool: PgPool) {
    let fx = Fixture::with_tenant(pool, 0, |t| {
        t.grants[0].scopes.push("read:client_keys".into());
        t.clients.push(auth0_emulator::ClientSeed {
            client_id: "webApp".into(),
            client_secret: initial_secret("webApp"),
            app_type: "regular_web".into(),
            grant_types: vec!["authorization_code".into()],
            ..auth0_emulator::ClientSeed::default()
        });
    })
    .await;
    let rotation = fx.rotation("web", "webApp").await;
    let outcome = until_rotated(&fx.worker(), Duration::from_secs(10)).await;
    assert!(matches!(outcome, JobOutcome::Rotated { .. }));
    assert_eq!(
        fx.current_secret(rotation.id).await,
        Some(fx.auth0_secret("webApp"))
    );
    assert_eq!(fx.requests("GET /api/v2/clients/{id}"), 1, "read back once");
}
