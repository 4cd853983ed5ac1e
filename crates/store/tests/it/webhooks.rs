//! The webhook outbox: who an event fans out to, that nothing is written without a subscriber,
//! and that claims are exclusive and outcomes fenced by the lease.

use std::time::Duration;

use sqlx::PgPool;
use store::connections::Sealed;
use store::webhooks::{self as db, Attempted, NewEndpoint, NewEvent, Next};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::Fixture;

pub(crate) async fn endpoint(fx: &Fixture, types: &[&str], enabled: bool) -> Uuid {
    let id = Uuid::now_v7();
    let types: Vec<String> = types.iter().map(|t| (*t).to_owned()).collect();
    let mut conn = fx.pool.acquire().await.expect("conn");
    db::insert(
        &mut conn,
        &NewEndpoint {
            id,
            org_id: fx.org_id,
            project_id: fx.project_id,
            url: "https://hooks.example.com/",
            description: None,
            event_types: &types,
            enabled,
            secret_id: Uuid::now_v7(),
            secret_sealed: &Sealed(vec![1, 2, b'k', b'1', 0]),
        },
    )
    .await
    .expect("endpoint");
    id
}

pub(crate) async fn enqueue(fx: &Fixture, event_type: &str) -> db::Enqueued {
    let mut tx = fx.pool.begin().await.expect("tx");
    let done = db::enqueue(
        &mut tx,
        &NewEvent {
            project_id: fx.project_id,
            event_type,
            data: serde_json::json!({ "n": 1 }),
        },
    )
    .await
    .expect("enqueue");
    tx.commit().await.expect("commit");
    done
}

async fn targets(fx: &Fixture, enqueued: &db::Enqueued) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = sqlx::query_scalar(
        "select endpoint_id from webhook_deliveries where id = any($1) order by endpoint_id",
    )
    .bind(&enqueued.deliveries)
    .fetch_all(&fx.pool)
    .await
    .expect("targets");
    ids.sort();
    ids
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn events_fan_out_to_enabled_subscribers_and_retrying_only_by_name(pool: PgPool) {
    let fx = Fixture::new(pool).await;
    let nothing = enqueue(&fx, "secret-rotation.succeeded").await;
    assert_eq!(nothing.event_id, None, "no subscriber, no outbox row");
    let events: i64 = sqlx::query_scalar("select count(*) from webhook_events")
        .fetch_one(&fx.pool)
        .await
        .expect("count");
    assert_eq!(events, 0);

    let star = endpoint(&fx, &["*"], true).await;
    let failed_only = endpoint(&fx, &["secret-rotation.failed"], true).await;
    let retrying = endpoint(&fx, &["secret-rotation.retrying"], true).await;
    let _disabled = endpoint(&fx, &["*"], false).await;

    let succeeded = enqueue(&fx, "secret-rotation.succeeded").await;
    assert_eq!(targets(&fx, &succeeded).await, vec![star]);
    let mut want = vec![star, failed_only];
    want.sort();
    assert_eq!(
        targets(&fx, &enqueue(&fx, "secret-rotation.failed").await).await,
        want
    );
    assert_eq!(
        targets(&fx, &enqueue(&fx, db::RETRYING).await).await,
        vec![retrying],
        "`*` does not include retries"
    );

    // The envelope is stored whole, as it is sent.
    let payload: serde_json::Value =
        sqlx::query_scalar("select payload from webhook_events where id = $1")
            .bind(succeeded.event_id)
            .fetch_one(&fx.pool)
            .await
            .expect("payload");
    assert_eq!(payload["type"], "secret-rotation.succeeded");
    assert_eq!(payload["data"], serde_json::json!({ "n": 1 }));
    assert!(payload["timestamp"].is_string());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_event_rolled_back_with_its_change_is_never_delivered(pool: PgPool) {
    let fx = Fixture::new(pool).await;
    endpoint(&fx, &["*"], true).await;
    let mut tx = fx.pool.begin().await.expect("tx");
    db::enqueue(
        &mut tx,
        &NewEvent {
            project_id: fx.project_id,
            event_type: "secret-rotation.succeeded",
            data: serde_json::json!({}),
        },
    )
    .await
    .expect("enqueue");
    tx.rollback().await.expect("rollback");
    let due = db::claim_due(&fx.pool, "w1", Duration::from_secs(30), 10)
        .await
        .expect("claim");
    assert!(due.is_empty());
}

/// A delivery locked by another statement (as a concurrent claim's probe of the head locks the
/// row after it) is not skipped: the claim stops before it, so no newer event goes first.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_claim_never_skips_a_delivery_another_statement_holds(pool: PgPool) {
    let fx = Fixture::new(pool).await;
    endpoint(&fx, &["*"], true).await;
    for _ in 0..4 {
        enqueue(&fx, "secret-rotation.succeeded").await;
    }
    let queue: Vec<Uuid> =
        sqlx::query_scalar("select id from webhook_deliveries order by event_id")
            .fetch_all(&fx.pool)
            .await
            .expect("deliveries");
    let mut other = fx.pool.begin().await.expect("tx");
    sqlx::query("select 1 from webhook_deliveries where id = $1 for update")
        .bind(queue[1])
        .execute(&mut *other)
        .await
        .expect("lock");
    let lease = Duration::from_secs(30);
    let first = db::claim_due(&fx.pool, "w1", lease, 10)
        .await
        .expect("claim");
    let claimed: Vec<Uuid> = first.iter().map(|c| c.id).collect();
    assert_eq!(claimed, queue[..1], "only the run before the held delivery");
    other.rollback().await.expect("rollback");
    // Once the head is out of the way (delivered), the rest go in order.
    sqlx::query("update webhook_deliveries set status = 'delivered' where id = $1")
        .bind(queue[0])
        .execute(&fx.pool)
        .await
        .expect("deliver");
    let rest = db::claim_due(&fx.pool, "w2", lease, 10)
        .await
        .expect("claim");
    let claimed: Vec<Uuid> = rest.iter().map(|c| c.id).collect();
    assert_eq!(claimed, queue[1..]);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn claims_are_exclusive_and_outcomes_fenced_by_the_lease(pool: PgPool) {
    let fx = Fixture::new(pool).await;
    endpoint(&fx, &["*"], true).await;
    enqueue(&fx, "secret-rotation.succeeded").await;

    let lease = Duration::from_millis(300);
    let first = db::claim_due(&fx.pool, "w1", lease, 10)
        .await
        .expect("claim");
    assert_eq!(first.len(), 1);
    let none = db::claim_due(&fx.pool, "w2", lease, 10)
        .await
        .expect("claim");
    assert!(none.is_empty(), "a leased delivery is not claimed twice");

    // w1 stalls past its lease; w2 takes over with the same event id.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = db::claim_due(&fx.pool, "w2", lease, 10)
        .await
        .expect("claim");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].event_id, first[0].event_id);
    assert!(second[0].lease_epoch > first[0].lease_epoch);

    let outcome = |next| Attempted {
        started_at: OffsetDateTime::now_utc(),
        status_code: Some(200),
        latency_ms: 5,
        error: None,
        next,
    };
    let stale = db::record_attempt(&fx.pool, &first[0], &outcome(Next::Delivered))
        .await
        .expect("record");
    assert!(!stale, "the expired lease writes nothing");
    let fresh = db::record_attempt(&fx.pool, &second[0], &outcome(Next::Delivered))
        .await
        .expect("record");
    assert!(fresh);
    let (status, attempts): (String, i32) =
        sqlx::query_as("select status, attempts from webhook_deliveries")
            .fetch_one(&fx.pool)
            .await
            .expect("row");
    assert_eq!((status.as_str(), attempts), ("delivered", 1));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_audited_event_writes_its_audit_row_in_the_same_statement_with_or_without_subscribers(
    pool: PgPool,
) {
    let fx = Fixture::new(pool).await;
    let audit = |action: &str| store::audit::NewEvent {
        org_id: Some(fx.org_id),
        project_id: Some(fx.project_id),
        actor_id: None,
        actor_kind: "system".into(),
        action: action.into(),
        resource_type: "secret_rotation".into(),
        resource_id: Some("r1".into()),
        outcome: "success".into(),
        request_id: None,
        source_ip: None,
        metadata: serde_json::json!({ "attemptNo": 1 }),
    };
    let event = NewEvent {
        project_id: fx.project_id,
        event_type: "secret-rotation.succeeded",
        data: serde_json::json!({ "n": 1 }),
    };
    let mut tx = fx.pool.begin().await.expect("tx");
    let alone = db::enqueue_with_audit(&mut tx, &event, &audit("first"))
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");
    assert_eq!(alone.event_id, None, "no subscriber, no outbox row");

    let star = endpoint(&fx, &["*"], true).await;
    let mut tx = fx.pool.begin().await.expect("tx");
    let fanned = db::enqueue_with_audit(&mut tx, &event, &audit("second"))
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");
    assert_eq!(targets(&fx, &fanned).await, vec![star]);

    // Rolled back: neither the audit row nor the event.
    let mut tx = fx.pool.begin().await.expect("tx");
    db::enqueue_with_audit(&mut tx, &event, &audit("third"))
        .await
        .expect("enqueue");
    tx.rollback().await.expect("rollback");

    let actions: Vec<String> =
        sqlx::query_scalar("select action from audit_events where resource_id = 'r1' order by id")
            .fetch_all(&fx.pool)
            .await
            .expect("audit");
    assert_eq!(actions, ["first", "second"]);
    let events: i64 = sqlx::query_scalar("select count(*) from webhook_events")
        .fetch_one(&fx.pool)
        .await
        .expect("count");
    assert_eq!(events, 1);
}
