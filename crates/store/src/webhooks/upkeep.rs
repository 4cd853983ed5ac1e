//! Webhook upkeep, run now and then by the workers' dispatchers: endpoints whose deliveries have
//! failed without a break for too long are disabled (audited, and reported to the project's
//! other endpoints as `webhook.disabled`), old events are deleted, and so are alert rows no
//! longer needed for deduplication. Each step takes a transaction-scoped advisory lock and skips
//! when another worker holds it, so N workers do the work once.

use std::time::Duration;

use serde_json::json;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::NewEvent;
use crate::{OrgId, ProjectId, Result};

/// Sent to the project's other (enabled, subscribed) endpoints when one is disabled.
pub const DISABLED: &str = "webhook.disabled";

/// `pg_try_advisory_xact_lock` keys, one per step, so two steps never wait on each other.
const DISABLE_LOCK: i64 = 0x6b68_7768_0001;
const RETENTION_LOCK: i64 = 0x6b68_7768_0002;

async fn try_lock(conn: &mut PgConnection, key: i64) -> Result<bool> {
    Ok(sqlx::query_scalar("select pg_try_advisory_xact_lock($1)")
        .bind(key)
        .fetch_one(conn)
        .await?)
}

/// An endpoint [`disable_failing`] disabled.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Disabled {
    pub id: Uuid,
    pub org_id: OrgId,
    pub project_id: ProjectId,
    pub description: Option<String>,
    pub failing_since: OffsetDateTime,
    pub disabled_reason: String,
}

/// Disables every enabled endpoint whose failing run started at least `after` ago, each with an
/// audit row and a `webhook.disabled` event for the project's other endpoints (it is disabled
/// first, so the event does not go to it), all in one transaction.
pub async fn disable_failing(pool: &PgPool, after: Duration) -> Result<Vec<Disabled>> {
    let mut tx = pool.begin().await?;
    if !try_lock(&mut tx, DISABLE_LOCK).await? {
        return Ok(Vec::new());
    }
    let hours = after.as_secs() / 3600;
    let reason = format!(
        "disabled by Keyhold: no delivery succeeded for {hours} hours; fix the receiver, then \
         enable the webhook again (PATCH with \"enabled\": true) and redeliver what it missed"
    );
    let disabled: Vec<Disabled> = sqlx::query_as(
        "update webhook_endpoints set enabled = false, disabled_at = now(), \
           disabled_reason = $2, version = version + 1, updated_at = now() \
         where enabled and failing_since <= now() - make_interval(secs => $1) \
         returning id, org_id, project_id, description, failing_since, disabled_reason",
    )
    .bind(after.as_secs_f64())
    .bind(&reason)
    .fetch_all(&mut *tx)
    .await?;
    for endpoint in &disabled {
        let failing_since = endpoint
            .failing_since
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let data = json!({
            "webhookId": endpoint.id,
            "projectId": endpoint.project_id,
            "description": endpoint.description,
            "failingSince": failing_since,
            "reason": endpoint.disabled_reason,
        });
        let audit = crate::audit::NewEvent {
            org_id: Some(endpoint.org_id),
            project_id: Some(endpoint.project_id),
            actor_id: None,
            actor_kind: "system".into(),
            action: "webhook.disable".into(),
            resource_type: "webhook".into(),
            resource_id: Some(endpoint.id.to_string()),
            outcome: "success".into(),
            request_id: None,
            source_ip: None,
            metadata: json!({ "failingSince": failing_since, "disabledAfterHours": hours }),
        };
        let event = NewEvent {
            project_id: endpoint.project_id,
            event_type: DISABLED,
            data,
        };
        super::enqueue_with_audit(&mut tx, &event, &audit).await?;
    }
    tx.commit().await?;
    Ok(disabled)
}

/// Deletes up to `limit` of the oldest events created more than `older_than` ago that have no
/// delivery still pending (with their deliveries and delivery log); returns how many. An event
/// some endpoint has yet to receive is never deleted, however old.
pub async fn delete_old_events(pool: &PgPool, older_than: Duration, limit: i64) -> Result<u64> {
    let mut tx = pool.begin().await?;
    if !try_lock(&mut tx, RETENTION_LOCK).await? {
        return Ok(0);
    }
    let done = sqlx::query(
        "delete from webhook_events where id in ( \
           select ev.id from webhook_events ev \
           where ev.created_at < now() - make_interval(secs => $1) \
             and not exists (select 1 from webhook_deliveries d \
                             where d.event_id = ev.id and d.status = 'pending') \
           order by ev.created_at limit $2)",
    )
    .bind(older_than.as_secs_f64())
    .bind(limit)
    .execute(&mut *tx)
    .await?;
    // Alert rows only matter within their deduplication window.
    sqlx::query(
        "delete from app_connection_alerts \
         where last_sent_at < now() - make_interval(secs => $1)",
    )
    .bind(super::alerts::ALERT_INTERVAL.as_secs_f64() * 2.0)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// How long the oldest pending delivery has waited since it was queued (written with its
/// event, or queued again by a redelivery); `None`: none pending. What
/// `keyhold_webhook_oldest_undelivered_seconds` reports. Both queue it with `give_up_at` 24 h
/// ahead, so that column tells when, and a redelivered old event does not look days late.
pub async fn oldest_undelivered(pool: &PgPool) -> Result<Option<Duration>> {
    let age: Option<f64> = sqlx::query_scalar(
        "select extract(epoch from now() - (min(give_up_at) - interval '24 hours'))::float8 \
         from webhook_deliveries where status = 'pending'",
    )
    .fetch_one(pool)
    .await?;
    Ok(age.map(|secs| Duration::from_secs_f64(secs.max(0.0))))
}
