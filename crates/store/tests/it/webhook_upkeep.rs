//! Webhook upkeep: an endpoint's failing run is tracked by the attempts recorded, an endpoint
//! failing for too long is disabled once (audited, reported to the project's other endpoints),
//! and old events are deleted unless a delivery of theirs is still pending.

use std::time::Duration;

use sqlx::PgPool;
use store::webhooks::{self as db, Attempted, Next, upkeep};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::Fixture;
use crate::webhooks::{endpoint, enqueue};

const HOURS_72: Duration = Duration::from_secs(72 * 3600);

async fn attempt(fx: &Fixture, next: Next) {
    let claims = db::claim_due(&fx.pool, "w1", Duration::from_secs(30), 10)
        .await
        .expect("claim");
    assert_eq!(claims.len(), 1);
    let recorded = db::record_attempt(
        &fx.pool,
        &claims[0],
        &Attempted {
            started_at: OffsetDateTime::now_utc(),
            status_code: Some(if next == Next::Delivered { 200 } else { 500 }),
            latency_ms: 3,
            error: None,
            next,
        },
    )
    .await
    .expect("record");
    assert!(recorded);
}

async fn failing_since(fx: &Fixture, id: Uuid) -> Option<OffsetDateTime> {
    sqlx::query_scalar("select failing_since from webhook_endpoints where id = $1")
        .bind(id)
        .fetch_one(&fx.pool)
        .await
        .expect("endpoint")
}

async fn age_failing_run(fx: &Fixture, id: Uuid, hours: i32) {
    sqlx::query(
        "update webhook_endpoints set failing_since = now() - make_interval(hours => $2) \
         where id = $1",
    )
    .bind(id)
    .bind(hours)
    .execute(&fx.pool)
    .await
    .expect("age");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_failed_attempt_starts_the_failing_run_and_a_delivered_one_ends_it(pool: PgPool) {
    let fx = Fixture::new(pool).await;
    let id = endpoint(&fx, &["*"], true).await;
    enqueue(&fx, "secret-rotation.succeeded").await;
    attempt(&fx, Next::RetryIn(Duration::ZERO)).await;
    let first = failing_since(&fx, id).await.expect("failing");
    attempt(&fx, Next::RetryIn(Duration::ZERO)).await;
    assert_eq!(
        failing_since(&fx, id).await,
        Some(first),
        "the run started at the first failure"
    );
    attempt(&fx, Next::Delivered).await;
    assert_eq!(failing_since(&fx, id).await, None);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_endpoint_failing_for_too_long_is_disabled_once_and_reported(pool: PgPool) {
    let fx = Fixture::new(pool).await;
    let broken = endpoint(&fx, &["*"], true).await;
    let recent = endpoint(&fx, &["*"], true).await;
    let healthy = endpoint(&fx, &["webhook.disabled"], true).await;
    let _unsubscribed = endpoint(&fx, &["secret.created"], true).await;
    age_failing_run(&fx, broken, 73).await;
    age_failing_run(&fx, recent, 10).await;

    let disabled = upkeep::disable_failing(&fx.pool, HOURS_72)
        .await
        .expect("upkeep");
    assert_eq!(disabled.iter().map(|d| d.id).collect::<Vec<_>>(), [broken]);
    let again = upkeep::disable_failing(&fx.pool, HOURS_72)
        .await
        .expect("upkeep");
    assert!(again.is_empty(), "disabled once");

    let mut conn = fx.pool.acquire().await.expect("conn");
    let shown = db::list(&fx.pool, fx.project_id).await.expect("list");
    let broken_now = shown.iter().find(|e| e.id == broken).expect("broken");
    assert!(!broken_now.enabled);
    assert!(
        broken_now
            .disabled_reason
            .as_deref()
            .is_some_and(|r| r.contains("72 hours")),
        "{broken_now:?}"
    );
    assert!(
        shown
            .iter()
            .find(|e| e.id == recent)
            .expect("recent")
            .enabled
    );

    // The other subscribed, enabled endpoints hear of it; the disabled one does not.
    let targets: Vec<Uuid> = sqlx::query_scalar(
        "select d.endpoint_id from webhook_deliveries d join webhook_events ev on ev.id = d.event_id \
         where ev.type = 'webhook.disabled' order by d.endpoint_id",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("deliveries");
    let mut want = vec![recent, healthy];
    want.sort();
    assert_eq!(targets, want);
    let payload: serde_json::Value =
        sqlx::query_scalar("select payload from webhook_events where type = 'webhook.disabled'")
            .fetch_one(&mut *conn)
            .await
            .expect("event");
    assert_eq!(payload["data"]["webhookId"], broken.to_string());
    assert!(payload["data"]["failingSince"].is_string());
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action = 'webhook.disable' and resource_id = $1",
    )
    .bind(broken.to_string())
    .fetch_one(&mut *conn)
    .await
    .expect("audit");
    assert_eq!(audited, 1);

    // Enabled again by an admin: the reason and the failing run are forgotten.
    let back = db::update(
        &mut conn,
        fx.org_id,
        broken,
        &db::Changes {
            enabled: Some(true),
            ..db::Changes::default()
        },
    )
    .await
    .expect("enable");
    assert!(back.enabled);
    assert_eq!(back.disabled_reason, None);
    assert_eq!(back.failing_since, None);
    assert_eq!(back.disabled_at, None);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn old_events_are_deleted_unless_a_delivery_is_pending(pool: PgPool) {
    let fx = Fixture::new(pool).await;
    endpoint(&fx, &["*"], true).await;
    let old_done = enqueue(&fx, "secret-rotation.succeeded").await;
    let old_pending = enqueue(&fx, "secret-rotation.failed").await;
    let new_done = enqueue(&fx, "secret-rotation.succeeded").await;
    sqlx::query("update webhook_deliveries set status = 'delivered' where event_id = any($1)")
        .bind(vec![old_done.event_id, new_done.event_id])
        .execute(&fx.pool)
        .await
        .expect("delivered");
    sqlx::query(
        "update webhook_events set created_at = now() - interval '31 days' where id = any($1)",
    )
    .bind(vec![old_done.event_id, old_pending.event_id])
    .execute(&fx.pool)
    .await
    .expect("age");
    let pending_age = upkeep::oldest_undelivered(&fx.pool)
        .await
        .expect("age")
        .expect("one pending");
    assert!(pending_age < Duration::from_secs(60), "{pending_age:?}");

    let retention = Duration::from_secs(30 * 24 * 3600);
    let deleted = upkeep::delete_old_events(&fx.pool, retention, 100)
        .await
        .expect("retention");
    assert_eq!(deleted, 1);
    let left: Vec<Uuid> = sqlx::query_scalar("select id from webhook_events order by id")
        .fetch_all(&fx.pool)
        .await
        .expect("left");
    let mut want: Vec<Uuid> = [old_pending.event_id, new_done.event_id]
        .into_iter()
        .flatten()
        .collect();
    want.sort();
    assert_eq!(left, want);
    let orphans: i64 =
        sqlx::query_scalar("select count(*) from webhook_deliveries where event_id = $1")
            .bind(old_done.event_id)
            .fetch_one(&fx.pool)
            .await
            .expect("count");
    assert_eq!(orphans, 0, "deliveries go with their event");
    sqlx::query("update webhook_deliveries set status = 'delivered'")
        .execute(&fx.pool)
        .await
        .expect("delivered");
    assert_eq!(
        upkeep::oldest_undelivered(&fx.pool).await.expect("age"),
        None
    );
}
