//! Outbound webhooks: endpoints and their sealed signing secrets, the event outbox, and the
//! deliveries workers claim under a lease. Like every store module it moves sealed bytes only.
//!
//! - An event is enqueued with [`enqueue`] on the caller's connection, inside the transaction of
//!   the change it reports, so it exists exactly when the change does. It fans out to one delivery
//!   per enabled endpoint of the project that subscribes to its type (`*` is every type but
//!   [`RETRYING`], which an endpoint must name), and `NOTIFY keyhold_webhooks` wakes the
//!   dispatchers at commit.
//! - Workers [`claim_due`] deliveries with `for update skip locked` and a lease (owner, epoch),
//!   one endpoint's in event order and by one worker at a time, and [`record_attempt`] the
//!   outcome fenced by that lease: a worker whose lease expired and was taken over writes nothing.

pub mod alerts;
pub mod upkeep;

use std::sync::LazyLock;
use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::connections::Sealed;
use crate::{OrgId, ProjectId, Result};

/// The `LISTEN`/`NOTIFY` channel dispatchers wake on.
pub const CHANNEL: &str = "keyhold_webhooks";
/// Sent only to endpoints that list it by name: a rotation may retry many times, and `*`
/// subscribers asked for outcomes, not for every hiccup.
pub const RETRYING: &str = "secret-rotation.retrying";
/// Sent only to the endpoint it was requested for, by "send test event".
pub const TEST: &str = "webhook.test";
/// Every event type this release emits (what an endpoint may subscribe to, besides `*`).
pub const EVENT_TYPES: &[&str] = &[
    "secret-rotation.succeeded",
    "secret-rotation.failed",
    RETRYING,
    crate::secrets::events::CREATED,
    crate::secrets::events::UPDATED,
    crate::secrets::events::DELETED,
    alerts::CREDENTIALS_REJECTED,
    alerts::SCOPES_MISSING,
    upkeep::DISABLED,
    TEST,
];
/// How long a rotated-out signing secret keeps signing deliveries.
pub const SECRET_OVERLAP: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Endpoint {
    pub id: Uuid,
    pub org_id: OrgId,
    pub project_id: ProjectId,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// When the previous signing secret stops signing (set for 24 h after a rotation).
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    /// The first failed attempt since the last delivered one (`None` while deliveries succeed).
    pub failing_since: Option<OffsetDateTime>,
    /// When it was disabled (by an admin or by [`upkeep::disable_failing`]).
    pub disabled_at: Option<OffsetDateTime>,
    /// Why Keyhold disabled it; `None` when an admin did, or while it is enabled.
    pub disabled_reason: Option<String>,
}

macro_rules! endpoint_columns {
    () => {
        "e.id, e.org_id, e.project_id, e.url, e.description, e.event_types, e.enabled, \
         e.version, e.created_at, e.updated_at, e.failing_since, e.disabled_at, \
         e.disabled_reason, \
         (select max(s.expires_at) from webhook_signing_secrets s \
          where s.endpoint_id = e.id and s.expires_at > now()) as previous_secret_expires_at"
    };
}

/// A signing secret row: the current one has no `expires_at`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SigningSecret {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub project_id: ProjectId,
    pub secret_sealed: Sealed,
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Debug)]
pub struct NewEndpoint<'a> {
    pub id: Uuid,
    pub org_id: OrgId,
    pub project_id: ProjectId,
    pub url: &'a str,
    pub description: Option<&'a str>,
    pub event_types: &'a [String],
    pub enabled: bool,
    /// The first signing secret: its row id and envelope (sealed for that id, project, endpoint).
    pub secret_id: Uuid,
    pub secret_sealed: &'a Sealed,
}

/// Inserts an endpoint with its first signing secret. Call inside the transaction that records
/// the audit event.
pub async fn insert(conn: &mut PgConnection, new: &NewEndpoint<'_>) -> Result<Endpoint> {
    sqlx::query(
        "insert into webhook_endpoints (id, org_id, project_id, url, description, event_types, \
         enabled) values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new.id)
    .bind(new.org_id)
    .bind(new.project_id)
    .bind(new.url)
    .bind(new.description)
    .bind(new.event_types)
    .bind(new.enabled)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "insert into webhook_signing_secrets (id, endpoint_id, project_id, secret_sealed) \
         values ($1, $2, $3, $4)",
    )
    .bind(new.secret_id)
    .bind(new.id)
    .bind(new.project_id)
    .bind(new.secret_sealed)
    .execute(&mut *conn)
    .await?;
    get_in(conn, new.org_id, new.id).await
}

/// How many endpoints a project has (the API caps them).
pub async fn count(conn: &mut PgConnection, project_id: ProjectId) -> Result<i64> {
    Ok(
        sqlx::query_scalar("select count(*) from webhook_endpoints where project_id = $1")
            .bind(project_id)
            .fetch_one(conn)
            .await?,
    )
}

pub async fn get(pool: &PgPool, org_id: OrgId, id: Uuid) -> Result<Endpoint> {
    let mut conn = pool.acquire().await?;
    get_in(&mut conn, org_id, id).await
}

async fn get_in(conn: &mut PgConnection, org_id: OrgId, id: Uuid) -> Result<Endpoint> {
    let sql = concat!(
        "select ",
        endpoint_columns!(),
        " from webhook_endpoints e where e.id = $1 and e.org_id = $2"
    );
    Ok(sqlx::query_as(sql)
        .bind(id)
        .bind(org_id)
        .fetch_one(conn)
        .await?)
}

/// A project's endpoints, oldest first.
pub async fn list(pool: &PgPool, project_id: ProjectId) -> Result<Vec<Endpoint>> {
    let sql = concat!(
        "select ",
        endpoint_columns!(),
        " from webhook_endpoints e where e.project_id = $1 order by e.id"
    );
    Ok(sqlx::query_as(sql).bind(project_id).fetch_all(pool).await?)
}

/// Fields to change; `None` keeps the stored value (`description: Some(None)` clears it).
/// Enabling clears the reason of an automatic disable and forgets the endpoint's failing run, so
/// it gets the full grace period again.
#[derive(Debug, Default)]
pub struct Changes<'a> {
    pub url: Option<&'a str>,
    pub description: Option<Option<&'a str>>,
    pub event_types: Option<&'a [String]>,
    pub enabled: Option<bool>,
}

pub async fn update(
    conn: &mut PgConnection,
    org_id: OrgId,
    id: Uuid,
    changes: &Changes<'_>,
) -> Result<Endpoint> {
    let done = sqlx::query(
        "update webhook_endpoints set url = coalesce($3, url), \
           description = case when $4 then $5 else description end, \
           event_types = coalesce($6, event_types), enabled = coalesce($7, enabled), \
           disabled_reason = case when $7 then null else disabled_reason end, \
           disabled_at = case when $7 is null then disabled_at \
                              when not $7 then coalesce(disabled_at, now()) end, \
           failing_since = case when $7 then null else failing_since end, \
           version = version + 1, updated_at = now() \
         where id = $1 and org_id = $2",
    )
    .bind(id)
    .bind(org_id)
    .bind(changes.url)
    .bind(changes.description.is_some())
    .bind(changes.description.flatten())
    .bind(changes.event_types)
    .bind(changes.enabled)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(crate::Error::NotFound);
    }
    get_in(conn, org_id, id).await
}

/// Deletes an endpoint with its secrets, deliveries and their log.
pub async fn delete(conn: &mut PgConnection, org_id: OrgId, id: Uuid) -> Result<()> {
    let done = sqlx::query("delete from webhook_endpoints where id = $1 and org_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(conn)
        .await?;
    if done.rows_affected() != 1 {
        return Err(crate::Error::NotFound);
    }
    Ok(())
}

/// Makes `new_sealed` the endpoint's current secret; the old current one keeps signing until
/// `SECRET_OVERLAP` from now, and secrets whose overlap has ended are deleted. Takes the
/// endpoint's row lock, so two rotations at once queue rather than leave two current secrets.
pub async fn rotate_secret(
    conn: &mut PgConnection,
    org_id: OrgId,
    endpoint_id: Uuid,
    new_id: Uuid,
    new_sealed: &Sealed,
) -> Result<Endpoint> {
    let locked: Option<(ProjectId,)> = sqlx::query_as(
        "select project_id from webhook_endpoints where id = $1 and org_id = $2 for update",
    )
    .bind(endpoint_id)
    .bind(org_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((project_id,)) = locked else {
        return Err(crate::Error::NotFound);
    };
    sqlx::query(
        "delete from webhook_signing_secrets where endpoint_id = $1 and expires_at <= now()",
    )
    .bind(endpoint_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update webhook_signing_secrets set expires_at = now() + make_interval(secs => $2) \
         where endpoint_id = $1 and expires_at is null",
    )
    .bind(endpoint_id)
    .bind(SECRET_OVERLAP.as_secs_f64())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "insert into webhook_signing_secrets (id, endpoint_id, project_id, secret_sealed) \
         values ($1, $2, $3, $4)",
    )
    .bind(new_id)
    .bind(endpoint_id)
    .bind(project_id)
    .bind(new_sealed)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update webhook_endpoints set version = version + 1, updated_at = now() where id = $1",
    )
    .bind(endpoint_id)
    .execute(&mut *conn)
    .await?;
    get_in(conn, org_id, endpoint_id).await
}

/// The secrets that sign a delivery now: the current one first, then any still in its overlap.
pub async fn signing_secrets(pool: &PgPool, endpoint_id: Uuid) -> Result<Vec<SigningSecret>> {
    Ok(sqlx::query_as(
        "select id, endpoint_id, project_id, secret_sealed, expires_at \
         from webhook_signing_secrets \
         where endpoint_id = $1 and (expires_at is null or expires_at > now()) \
         order by expires_at desc nulls first, id",
    )
    .bind(endpoint_id)
    .fetch_all(pool)
    .await?)
}

/// An event to report: `data` must hold names, ids, versions and reasons only, never a secret.
#[derive(Debug)]
pub struct NewEvent<'a> {
    pub project_id: ProjectId,
    pub event_type: &'a str,
    pub data: serde_json::Value,
}

/// What [`enqueue`] wrote: the event (`None` when no endpoint subscribes) and its deliveries.
#[derive(Debug, PartialEq, Eq)]
pub struct Enqueued {
    pub event_id: Option<Uuid>,
    pub deliveries: Vec<Uuid>,
}

/// The Standard Webhooks envelope of an event.
pub fn envelope(
    event_type: &str,
    at: OffsetDateTime,
    data: serde_json::Value,
) -> serde_json::Value {
    let timestamp = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    serde_json::json!({ "type": event_type, "timestamp": timestamp, "data": data })
}

/// Writes `event` to the outbox with one delivery per subscribed, enabled endpoint of its
/// project, on the caller's connection (so inside the caller's transaction), and wakes the
/// dispatchers at commit. Writes nothing when nobody subscribes.
pub async fn enqueue(conn: &mut PgConnection, event: &NewEvent<'_>) -> Result<Enqueued> {
    fan_out(conn, event, Target::Subscribers, None).await
}

/// [`enqueue`] and the audit row of the same change in one statement: a change that is both
/// audited and reported costs one round trip inside its transaction, not two (a rotation's
/// finishing transaction holds the rotation's row lock while it waits on each).
pub async fn enqueue_with_audit(
    conn: &mut PgConnection,
    event: &NewEvent<'_>,
    audit: &crate::audit::NewEvent,
) -> Result<Enqueued> {
    fan_out(conn, event, Target::Subscribers, Some(audit)).await
}

/// A `webhook.test` event for one endpoint, whatever it subscribes to.
pub async fn enqueue_test(
    conn: &mut PgConnection,
    project_id: ProjectId,
    endpoint_id: Uuid,
    data: serde_json::Value,
) -> Result<Enqueued> {
    let event = NewEvent {
        project_id,
        event_type: TEST,
        data,
    };
    fan_out(conn, &event, Target::Only(endpoint_id), None).await
}

/// Whether any enabled endpoint of the project would receive `event_type` (the rule of
/// [`enqueue`]), for writers that would otherwise enqueue many events for nobody.
pub async fn has_subscribers(
    conn: &mut PgConnection,
    project_id: ProjectId,
    event_type: &str,
) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "select exists (select 1 from webhook_endpoints e where e.project_id = $1 and e.enabled \
           and ($2 = any(e.event_types) or ('*' = any(e.event_types) and $2 <> $3)))",
    )
    .bind(project_id)
    .bind(event_type)
    .bind(RETRYING)
    .fetch_one(conn)
    .await?)
}

#[derive(Clone, Copy)]
enum Target {
    Subscribers,
    Only(Uuid),
}

/// Parameters `$1`–`$6`; `with` clauses may be put in front of it.
const FAN_OUT: &str = "targets as ( \
       select e.id from webhook_endpoints e \
       where e.project_id = $2 and \
         case when $5::uuid is not null then e.id = $5 \
              else e.enabled and ($3 = any(e.event_types) \
                   or ('*' = any(e.event_types) and $3 <> $6)) end), \
     ev as ( \
       insert into webhook_events (id, project_id, type, payload) \
       select $1, $2, $3, $4 where exists (select 1 from targets) \
       returning id) \
     insert into webhook_deliveries (id, event_id, endpoint_id, project_id) \
     select gen_random_uuid(), ev.id, t.id, $2 from ev cross join targets t \
     returning id";

static FAN_OUT_ONLY: LazyLock<String> = LazyLock::new(|| format!("with {FAN_OUT}"));
static FAN_OUT_AUDITED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "with audited as ({}), {FAN_OUT}",
        crate::audit::insert_statement(7)
    )
});

async fn fan_out(
    conn: &mut PgConnection,
    event: &NewEvent<'_>,
    target: Target,
    audit: Option<&crate::audit::NewEvent>,
) -> Result<Enqueued> {
    let event_id = Uuid::now_v7();
    let payload = envelope(
        event.event_type,
        OffsetDateTime::now_utc(),
        event.data.clone(),
    );
    let only = match target {
        Target::Only(id) => Some(id),
        Target::Subscribers => None,
    };
    // Built once from constants: no caller input reaches the text.
    let statement = if audit.is_some() {
        FAN_OUT_AUDITED.as_str()
    } else {
        FAN_OUT_ONLY.as_str()
    };
    let query = sqlx::query_as::<_, (Uuid,)>(sqlx::AssertSqlSafe(statement))
        .bind(event_id)
        .bind(event.project_id)
        .bind(event.event_type)
        .bind(&payload)
        .bind(only)
        .bind(RETRYING);
    // A data-modifying `with` clause runs whether or not the rest reads it: the audit row is
    // written even when nobody subscribes.
    let query = match audit {
        Some(audit) => crate::audit::bind_event!(query, audit),
        None => query,
    };
    let rows = query.fetch_all(&mut *conn).await?;
    if rows.is_empty() {
        return Ok(Enqueued {
            event_id: None,
            deliveries: Vec::new(),
        });
    }
    notify(conn).await?;
    Ok(Enqueued {
        event_id: Some(event_id),
        deliveries: rows.into_iter().map(|(id,)| id).collect(),
    })
}

async fn notify(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("select pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}

/// One delivery as the delivery log shows it, with its attempts.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Delivery {
    pub id: Uuid,
    pub event_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<i32>,
    pub last_attempt_at: Option<OffsetDateTime>,
    pub delivered_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

macro_rules! delivery_columns {
    () => {
        "d.id, d.event_id, d.endpoint_id, ev.type as event_type, d.status, d.attempts, \
         case when d.status = 'pending' then d.next_attempt_at end as next_attempt_at, \
         d.last_status_code, d.last_error, d.last_latency_ms, d.last_attempt_at, \
         d.delivered_at, d.created_at"
    };
}

/// One HTTP attempt of a delivery.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AttemptLog {
    pub delivery_id: Uuid,
    pub attempt_no: i32,
    pub started_at: OffsetDateTime,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
}

/// An endpoint's deliveries, newest first, with every attempt of each.
pub async fn deliveries(
    pool: &PgPool,
    endpoint_id: Uuid,
    limit: i64,
) -> Result<Vec<(Delivery, Vec<AttemptLog>)>> {
    let sql = concat!(
        "select ",
        delivery_columns!(),
        " from webhook_deliveries d join webhook_events ev on ev.id = d.event_id \
          where d.endpoint_id = $1 order by d.created_at desc, d.id desc limit $2"
    );
    let found: Vec<Delivery> = sqlx::query_as(sql)
        .bind(endpoint_id)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    let ids: Vec<Uuid> = found.iter().map(|d| d.id).collect();
    let logs: Vec<AttemptLog> = sqlx::query_as(
        "select delivery_id, attempt_no, started_at, status_code, latency_ms, error \
         from webhook_delivery_attempts where delivery_id = any($1) \
         order by delivery_id, attempt_no",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    Ok(found
        .into_iter()
        .map(|d| {
            let mine = logs
                .iter()
                .filter(|l| l.delivery_id == d.id)
                .cloned()
                .collect();
            (d, mine)
        })
        .collect())
}

pub async fn delivery(pool: &PgPool, endpoint_id: Uuid, id: Uuid) -> Result<Delivery> {
    let sql = concat!(
        "select ",
        delivery_columns!(),
        " from webhook_deliveries d join webhook_events ev on ev.id = d.event_id \
          where d.endpoint_id = $1 and d.id = $2"
    );
    Ok(sqlx::query_as(sql)
        .bind(endpoint_id)
        .bind(id)
        .fetch_one(pool)
        .await?)
}

/// What [`redeliver`] did.
#[derive(Debug)]
pub enum Redeliver {
    /// Queued again now, with a fresh 24 h of retries; the same event and `webhook-id`.
    Queued(Box<Delivery>),
    /// It is still pending (waiting for a retry or being delivered); nothing changed.
    AlreadyPending,
}

/// Queues a delivered or failed delivery again and wakes the dispatchers (at commit).
pub async fn redeliver(conn: &mut PgConnection, endpoint_id: Uuid, id: Uuid) -> Result<Redeliver> {
    let done = sqlx::query(
        "update webhook_deliveries set status = 'pending', next_attempt_at = now(), \
           give_up_at = now() + interval '24 hours', delivered_at = null \
         where endpoint_id = $1 and id = $2 and status <> 'pending'",
    )
    .bind(endpoint_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    let sql = concat!(
        "select ",
        delivery_columns!(),
        " from webhook_deliveries d join webhook_events ev on ev.id = d.event_id \
          where d.endpoint_id = $1 and d.id = $2"
    );
    let now: Delivery = sqlx::query_as(sql)
        .bind(endpoint_id)
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    if done.rows_affected() == 1 {
        notify(conn).await?;
        Ok(Redeliver::Queued(Box::new(now)))
    } else {
        Ok(Redeliver::AlreadyPending)
    }
}

/// A claimed delivery: what to send and where, under the lease every later write names.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Claim {
    pub id: Uuid,
    pub event_id: Uuid,
    pub endpoint_id: Uuid,
    pub project_id: ProjectId,
    pub lease_owner: String,
    pub lease_epoch: i64,
    /// Attempts made before this one.
    pub attempts: i32,
    pub give_up_at: OffsetDateTime,
    pub payload: serde_json::Value,
    pub url: String,
    pub enabled: bool,
}

/// Claims due deliveries for `owner`, in order per endpoint: an endpoint is served only when its
/// oldest pending delivery (by event id, which is time-ordered) is due, and then up to `limit`
/// of its pending deliveries are claimed, oldest first, for one worker to send one after another.
/// Up to `limit` endpoints per call. While a delivery waits for its retry, or is leased, the
/// newer deliveries of its endpoint wait behind it: a receiver that comes back sees the events
/// in the order they happened (a crash can repeat some, with the same `webhook-id`).
///
/// Claims are leased in the same statement; a lease that expires makes the delivery due again
/// (its `next_attempt_at` is the expiry), so a crashed worker's deliveries are retried elsewhere.
/// Two workers never hold one endpoint: the head row is locked `skip locked`, and an endpoint
/// whose locked row is not its true head (the head is being claimed by another statement) is
/// left out. That probe of another statement leaves a lock on the row after the head while it
/// runs, so the claimed run stops before the first pending delivery this statement could not lock
/// or that is not due: skipping it would send a newer event first (a CI run caught two workers
/// delivering one event after the four that followed it).
pub async fn claim_due(
    pool: &PgPool,
    owner: &str,
    lease: Duration,
    limit: i64,
) -> Result<Vec<Claim>> {
    Ok(sqlx::query_as(
        "with heads as ( \
           select e.id as endpoint_id, h.next_attempt_at from webhook_endpoints e \
           cross join lateral ( \
             select d.id, d.next_attempt_at from webhook_deliveries d \
             where d.endpoint_id = e.id and d.status = 'pending' \
             order by d.event_id limit 1 for update skip locked) h \
           where h.next_attempt_at <= now() \
             and h.id = (select d.id from webhook_deliveries d \
                         where d.endpoint_id = e.id and d.status = 'pending' \
                         order by d.event_id limit 1) \
           order by h.next_attempt_at limit $3), \
         locked as ( \
           select q.id, q.endpoint_id, q.event_id from heads cross join lateral ( \
             select d.id, d.endpoint_id, d.event_id from webhook_deliveries d \
             where d.endpoint_id = heads.endpoint_id and d.status = 'pending' \
               and d.next_attempt_at <= now() \
             order by d.event_id limit $3 for update skip locked) q), \
         stops as ( \
           select heads.endpoint_id, (select x.event_id from webhook_deliveries x \
             where x.endpoint_id = heads.endpoint_id and x.status = 'pending' \
               and x.id not in (select id from locked) \
             order by x.event_id limit 1) as stop \
           from heads), \
         due as ( \
           select locked.id from locked join stops using (endpoint_id) \
           where stops.stop is null or locked.event_id < stops.stop) \
         update webhook_deliveries d set lease_owner = $1, \
           lease_expires_at = now() + make_interval(secs => $2), \
           next_attempt_at = now() + make_interval(secs => $2), \
           lease_epoch = d.lease_epoch + 1 \
         from due, webhook_events ev, webhook_endpoints e \
         where d.id = due.id and ev.id = d.event_id and e.id = d.endpoint_id \
         returning d.id, d.event_id, d.endpoint_id, d.project_id, d.lease_owner, d.lease_epoch, \
           d.attempts, d.give_up_at, ev.payload, e.url, e.enabled",
    )
    .bind(owner)
    .bind(lease.as_secs_f64())
    .bind(limit)
    .fetch_all(pool)
    .await
    .map(|mut claims: Vec<Claim>| {
        // `returning` keeps no order: by endpoint, then oldest event first.
        claims.sort_unstable_by_key(|c| (c.endpoint_id, c.event_id));
        claims
    })?)
}

/// The outcome of one HTTP attempt.
#[derive(Debug)]
pub struct Attempted<'a> {
    pub started_at: OffsetDateTime,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    /// What went wrong, in words fit for the delivery log (never a response body).
    pub error: Option<&'a str>,
    pub next: Next,
}

/// What follows an attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Next {
    Delivered,
    RetryIn(Duration),
    Failed,
}

/// Records an attempt and its consequence, fenced by the lease; `false`: the lease was lost
/// (another worker claimed the delivery since), nothing written.
pub async fn record_attempt(pool: &PgPool, claim: &Claim, attempt: &Attempted<'_>) -> Result<bool> {
    Ok(record_attempts(pool, &[(claim, attempt)]).await? == 1)
}

/// Records the attempts of one endpoint's run in one statement, each fenced by its lease, and
/// returns how many were written (the others' leases were lost). The endpoint's failing run
/// starts with a failed attempt and ends with a delivered one; it is judged by the run's last
/// attempt, and the endpoint row is touched only at those transitions, so attempts to a healthy
/// (or steadily failing) endpoint do not queue on its row lock.
pub async fn record_attempts(pool: &PgPool, attempts: &[(&Claim, &Attempted<'_>)]) -> Result<u64> {
    let Some((last_claim, last)) = attempts.last() else {
        return Ok(0);
    };
    let n = attempts.len();
    let (mut ids, mut owners, mut epochs) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut statuses, mut waits, mut codes) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut errors, mut latencies, mut started) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (claim, attempt) in attempts {
        let (status, retry_in) = match attempt.next {
            Next::Delivered => ("delivered", 0.0),
            Next::RetryIn(wait) => ("pending", wait.as_secs_f64()),
            Next::Failed => ("failed", 0.0),
        };
        ids.push(claim.id);
        owners.push(claim.lease_owner.as_str());
        epochs.push(claim.lease_epoch);
        statuses.push(status);
        waits.push(retry_in);
        codes.push(attempt.status_code);
        errors.push(attempt.error);
        latencies.push(attempt.latency_ms);
        started.push(attempt.started_at);
    }
    let written: i64 = sqlx::query_scalar(
        "with u as ( \
           select * from unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], \
             $5::float8[], $6::int[], $7::text[], $8::int[], $9::timestamptz[]) \
             as u(id, owner, epoch, status, wait, code, error, latency, started)), \
         done as ( \
           update webhook_deliveries d set status = u.status, attempts = d.attempts + 1, \
             next_attempt_at = now() + make_interval(secs => u.wait), \
             lease_owner = null, lease_expires_at = null, \
             last_status_code = u.code, last_error = u.error, last_latency_ms = u.latency, \
             last_attempt_at = u.started, \
             delivered_at = case when u.status = 'delivered' then now() end \
           from u where d.id = u.id and d.lease_owner = u.owner and d.lease_epoch = u.epoch \
           returning d.id, d.attempts), \
         logged as ( \
           insert into webhook_delivery_attempts (delivery_id, attempt_no, started_at, \
             status_code, latency_ms, error) \
           select done.id, done.attempts, u.started, u.code, u.latency, u.error \
           from done join u on u.id = done.id), \
         health as ( \
           update webhook_endpoints set failing_since = case when $10 then null else $11 end \
           where id = $12 and (failing_since is null) = not $10 \
             and exists (select 1 from done)) \
         select count(*) from done",
    )
    .bind(ids)
    .bind(owners)
    .bind(epochs)
    .bind(statuses)
    .bind(waits)
    .bind(codes)
    .bind(errors)
    .bind(latencies)
    .bind(started)
    .bind(last.next == Next::Delivered)
    .bind(last.started_at)
    .bind(last_claim.endpoint_id)
    .fetch_one(pool)
    .await?;
    Ok(written.unsigned_abs())
}

/// Hands a lease back unchanged so the delivery is due `after` from now (shutdown: zero).
pub async fn release(pool: &PgPool, claim: &Claim, after: Duration) -> Result<bool> {
    let done = sqlx::query(
        "update webhook_deliveries set next_attempt_at = now() + make_interval(secs => $4), \
           lease_owner = null, lease_expires_at = null \
         where id = $1 and lease_owner = $2 and lease_epoch = $3",
    )
    .bind(claim.id)
    .bind(&claim.lease_owner)
    .bind(claim.lease_epoch)
    .bind(after.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
