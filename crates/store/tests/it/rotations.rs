//! `store::rotations` as the API and the worker use it: constraints, versions, paging, the
//! claim query's plan, and lease fencing.

use std::time::Duration;

use sqlx::PgPool;
use store::page::PageRequest;
use store::rotations::lease::{self, NewAttempt, Retry};
use store::rotations::{self, Change, ListFilter};
use store::{AttemptId, CredentialId, connections::Sealed};

use crate::support::*;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn definitions_follow_the_api_rules(pool: PgPool) {
    let fx = Fixture::new(pool).await;
    let a = fx.rotation("alpha", &target(0)).await;
    let mut conn = fx.pool.acquire().await.expect("conn");

    // Names are unique per project, by a named constraint the API maps to 409.
    let dup = rotations::insert(
        &mut conn,
        &rotations::NewRotation {
            id: store::RotationId::new(),
            kind: store::rotations::TYPE_AUTH0_CLIENT_SECRET,
            overlap_seconds: None,
            org_id: fx.org_id,
            project_id: fx.project_id,
            connection_id: fx.connection.id,
            name: "alpha",
            description: None,
            client_id: &target(1),
            rotation_interval_days: 1,
            rotate_at_hours: 0,
            rotate_at_minutes: 0,
            is_auto_rotation_enabled: true,
            next_rotation_at: None,
            rotate_immediately: false,
        },
    )
    .await;
    assert!(
        matches!(&dup, Err(store::Error::Duplicate { constraint }) if constraint == "secret_rotations_project_name_key"),
        "{dup:?}"
    );
    // A connection that rotations use cannot be deleted.
    let refused = store::connections::delete(&mut conn, fx.org_id, fx.connection.id, None).await;
    assert!(
        matches!(&refused, Err(store::Error::MissingReference { constraint }) if constraint == "secret_rotations_connection_id_fkey"),
        "{refused:?}"
    );
    assert_eq!(
        rotations::count_for_connection(&fx.pool, fx.connection.id)
            .await
            .expect("count"),
        1
    );

    // Optimistic concurrency on version; an idle rotation's queue position follows its schedule.
    // Postgres keeps microseconds.
    let later = (time::OffsetDateTime::now_utc() + time::Duration::days(3))
        .replace_nanosecond(0)
        .expect("whole second");
    let changed = rotations::update(
        &mut conn,
        fx.org_id,
        a.id,
        a.version,
        &Change {
            description: Some(Some("nightly")),
            rotation_interval_days: Some(3),
            rotate_at: Some((4, 5)),
            next_rotation_at: Some(Some(later)),
            ..Change::default()
        },
    )
    .await
    .expect("update");
    assert_eq!(changed.version, a.version + 1);
    assert_eq!(
        (
            changed.rotation_interval_days,
            changed.rotate_at_hours,
            changed.rotate_at_minutes
        ),
        (3, 4, 5)
    );
    assert_eq!(changed.description.as_deref(), Some("nightly"));
    assert_eq!(changed.due_at, Some(later), "idle: due at the new schedule");
    let stale = rotations::update(&mut conn, fx.org_id, a.id, a.version, &Change::default()).await;
    assert!(
        matches!(stale, Err(store::Error::VersionMismatch { current }) if current == a.version + 1)
    );
    let off = rotations::update(
        &mut conn,
        fx.org_id,
        a.id,
        changed.version,
        &Change {
            is_auto_rotation_enabled: Some(false),
            ..Change::default()
        },
    )
    .await
    .expect("disable");
    assert_eq!(off.due_at, None, "auto rotation off: never due");

    // Lookups and keyset paging.
    fx.rotation("beta", &target(1)).await;
    fx.rotation("gamma", &target(1)).await;
    let by_name = rotations::get_by_name(&fx.pool, fx.project_id, "beta")
        .await
        .expect("by name");
    assert_eq!(by_name.client_id, target(1));
    let filter = ListFilter {
        org_id: fx.org_id,
        project_id: Some(fx.project_id),
        connection_id: None,
        search: None,
        kind: None,
        status: None,
    };
    let first = rotations::list(
        &fx.pool,
        &filter,
        &PageRequest {
            limit: 2,
            after: None,
        },
        10,
    )
    .await
    .expect("page");
    assert_eq!(first.total, Some(3), "the whole list, not the page");
    assert_eq!(
        first
            .page
            .items
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["alpha", "beta"]
    );
    let second = rotations::list(
        &fx.pool,
        &ListFilter {
            project_id: None,
            search: Some("a".into()),
            kind: None,
            ..filter.clone()
        },
        &PageRequest {
            limit: 2,
            after: first.page.next.clone(),
        },
        2,
    )
    .await
    .expect("page");
    assert_eq!(second.total, None, "three match, counted up to 2");
    assert_eq!(
        second
            .page
            .items
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["gamma"]
    );
    assert!(second.page.next.is_none());
    let other_org = rotations::get(&fx.pool, store::OrgId::new(), a.id).await;
    assert!(matches!(other_org, Err(store::Error::NotFound)));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_lost_lease_cannot_write(pool: PgPool) {
    let fx = Fixture::new(pool).await;
    let rotation = fx.rotation("rot", &target(0)).await;
    let short = Duration::from_millis(200);
    let a = lease::claim_due(&fx.pool, "worker-a", short, 10)
        .await
        .expect("claim");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].previous_owner, None);
    let lease_a = a[0].lease();
    assert!(
        lease::claim_due(&fx.pool, "worker-b", short, 10)
            .await
            .expect("claim")
            .is_empty(),
        "a live lease is not claimable"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = lease::claim_due(&fx.pool, "worker-b", Duration::from_secs(30), 10)
        .await
        .expect("claim");
    assert_eq!(b.len(), 1, "an expired lease is claimable");
    assert_eq!(b[0].previous_owner.as_deref(), Some("worker-a"));
    let lease_b = b[0].lease();
    assert_eq!(lease_b.epoch, lease_a.epoch + 1);

    let sealed = Sealed(vec![1, 2, 3]);
    let mut tx = fx.pool.begin().await.expect("tx");
    let new = NewAttempt {
        attempt_id: AttemptId::new(),
        credential_id: CredentialId::new(),
        sealed: &sealed,
        domain: "acme.auth0.test",
        client_id: "someClient",
        is_manual: false,
    };
    assert!(
        lease::begin_attempt(&mut tx, &lease_a, &new)
            .await
            .expect("query")
            .is_none(),
        "the old owner is fenced out"
    );
    let attempt = lease::begin_attempt(&mut tx, &lease_b, &new)
        .await
        .expect("query")
        .expect("new owner writes");
    tx.commit().await.expect("commit");
    assert_eq!(attempt.attempt_no, 1);

    let mut conn = fx.pool.acquire().await.expect("conn");
    let retry = Retry {
        attempt_id: attempt.id,
        step: rotations::AttemptStep::Created,
        message: "x",
        counts_as_failure: true,
        retry_in: Duration::ZERO,
    };
    assert!(
        !lease::record_retry(&mut conn, &lease_a, &retry)
            .await
            .expect("query")
    );
    assert!(
        !lease::release(&fx.pool, &lease_a, Duration::ZERO)
            .await
            .expect("query")
    );
    assert_eq!(
        lease::heartbeat(&fx.pool, "worker-a", short, &[(rotation.id, lease_a.epoch)])
            .await
            .expect("beat"),
        vec![]
    );
    assert_eq!(
        lease::heartbeat(&fx.pool, "worker-b", short, &[(rotation.id, lease_b.epoch)])
            .await
            .expect("beat"),
        vec![rotation.id]
    );
    assert!(
        lease::record_retry(&mut conn, &lease_b, &retry)
            .await
            .expect("query")
    );
    let row = fx.get(rotation.id).await;
    assert_eq!(row.current_attempt_id, Some(attempt.id));
    assert!(row.lease_owner.is_none());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_shared_budget_spaces_requests_across_callers(pool: PgPool) {
    use store::rotations::budget::{self, Rate};
    let rate = Rate {
        period: Duration::from_millis(100),
        burst: 2,
    };
    // Each reservation's slot, measured from the first call: time spent getting to the database
    // (large on a loaded machine) shortens the wait by as much, so it cancels out here.
    let first = std::time::Instant::now();
    let mut slots = Vec::new();
    for _ in 0..5 {
        let asked = first.elapsed();
        let wait = budget::reserve(&pool, "t.test/api/v2", 1, rate)
            .await
            .expect("reserve");
        slots.push(asked + wait);
    }
    // Two at once (the burst), then one per period.
    let tolerance = Duration::from_millis(60);
    assert!(slots[0] < tolerance && slots[1] < tolerance, "{slots:?}");
    for (i, slot) in slots.iter().enumerate().skip(2) {
        let expected = Duration::from_millis(100 * (i as u64 - 1));
        assert!(
            slot.abs_diff(expected) < tolerance,
            "slot {i}: {slot:?} vs {expected:?}"
        );
    }
    // A chunk of slots moves the next caller by the whole chunk; a 429 pause holds everyone.
    let chunk_start = budget::reserve(&pool, "u.test/api/v2", 10, rate)
        .await
        .expect("reserve");
    let after_chunk = budget::reserve(&pool, "u.test/api/v2", 1, rate)
        .await
        .expect("reserve");
    assert!(chunk_start < Duration::from_millis(20));
    assert!(after_chunk > Duration::from_millis(800), "{after_chunk:?}");
    budget::block(&pool, "v.test/api/v2", Duration::from_secs(2))
        .await
        .expect("block");
    budget::block(&pool, "v.test/api/v2", Duration::from_millis(10))
        .await
        .expect("block");
    let blocked = budget::reserve(&pool, "v.test/api/v2", 1, rate)
        .await
        .expect("reserve");
    assert!(blocked > Duration::from_millis(1800), "{blocked:?}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn finding_due_work_is_an_index_scan(pool: PgPool) {
    let fx = Fixture::new(pool).await;
    // Mostly idle rows scheduled over the next year, a few due: the claim must not read them all.
    sqlx::query(
        "insert into secret_rotations (id, org_id, project_id, connection_id, name, client_id, \
           rotation_interval_days, next_rotation_at, due_at) \
         select gen_random_uuid(), $1, $2, $3, 'r' || i, 'c' || i, 30, t, t \
         from generate_series(1, 50000) as i, \
              lateral (select now() + (i % 365 - 3) * interval '1 day' as t) as s",
    )
    .bind(fx.org_id)
    .bind(fx.project_id)
    .bind(fx.connection.id)
    .execute(&fx.pool)
    .await
    .expect("rows");
    sqlx::query("analyze secret_rotations")
        .execute(&fx.pool)
        .await
        .expect("analyze");
    let plan: Vec<String> = sqlx::query_scalar(
        "explain select id from secret_rotations where due_at <= now() \
         order by due_at limit 16 for update skip locked",
    )
    .fetch_all(&fx.pool)
    .await
    .expect("explain");
    let plan = plan.join("\n");
    assert!(
        plan.contains("Index Scan using secret_rotations_due_idx"),
        "{plan}"
    );
    assert!(!plan.contains("Seq Scan"), "{plan}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn attempt_steps_are_stored_by_name(pool: PgPool) {
    use store::rotations::AttemptStep;
    let all = [
        AttemptStep::Created,
        AttemptStep::Set,
        AttemptStep::Tested,
        AttemptStep::Finished,
    ];
    for step in all {
        let text: String = sqlx::query_scalar("select $1")
            .bind(step)
            .fetch_one(&pool)
            .await
            .expect("encode");
        assert_eq!(text, step.as_str());
        let back: AttemptStep = sqlx::query_scalar("select $1::text")
            .bind(step.as_str())
            .fetch_one(&pool)
            .await
            .expect("decode");
        assert_eq!(back, step);
    }
    // A name a newer version wrote reads as the safe restart point, never as an error.
    let unknown: AttemptStep = sqlx::query_scalar("select 'from-the-future'::text")
        .fetch_one(&pool)
        .await
        .expect("decode");
    assert_eq!(unknown, AttemptStep::Created);

    // Through the column: a new attempt is `created`, a retry records the step it resumes from.
    let fx = Fixture::new(pool).await;
    let rotation = fx.rotation("rot", &target(0)).await;
    let claim = lease::claim_due(&fx.pool, "worker-a", Duration::from_secs(30), 1)
        .await
        .expect("claim");
    let held = claim[0].lease();
    let mut conn = fx.pool.acquire().await.expect("conn");
    let attempt = lease::begin_attempt(
        &mut conn,
        &held,
        &NewAttempt {
            attempt_id: AttemptId::new(),
            credential_id: CredentialId::new(),
            sealed: &Sealed(vec![1, 2, 3]),
            domain: DOMAIN,
            client_id: &rotation.client_id,
            is_manual: false,
        },
    )
    .await
    .expect("query")
    .expect("begun");
    assert_eq!(attempt.step, AttemptStep::Created);
    let retry = Retry {
        attempt_id: attempt.id,
        step: AttemptStep::Set,
        message: "x",
        counts_as_failure: false,
        retry_in: Duration::ZERO,
    };
    assert!(
        lease::record_retry(&mut conn, &held, &retry)
            .await
            .expect("query")
    );
    let stored = rotations::get_attempt(&mut conn, attempt.id)
        .await
        .expect("attempt");
    assert_eq!(stored.step, AttemptStep::Set);
}
