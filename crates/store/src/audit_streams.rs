//! Audit log streams: HTTP endpoints that receive every audit event of a project (or, for
//! instance admins, of the whole organisation), batched and signed. The audit table is the
//! outbox: a stream holds a cursor `(xact, id)` into it and workers read the next batch past the
//! cursor, below the horizon of transactions still running (see migration
//! `20261218000001_audit_streams.sql` for why), under a lease. The cursor only moves when a batch
//! was delivered, so a receiver that is down catches up from where it stopped.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::Event;
use crate::connections::Sealed;
use crate::{OrgId, ProjectId, Result};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Stream {
    pub id: Uuid,
    pub org_id: OrgId,
    /// `None`: every event of the organisation.
    pub project_id: Option<ProjectId>,
    pub url: String,
    pub description: Option<String>,
    pub enabled: bool,
    /// Names of the extra request headers (their values are sealed and never read back).
    pub header_names: Vec<String>,
    pub delivered_events: i64,
    pub last_delivered_at: Option<OffsetDateTime>,
    pub failures: i32,
    pub next_attempt_at: OffsetDateTime,
    pub last_error: Option<String>,
    pub last_status: Option<i32>,
    pub failing_since: Option<OffsetDateTime>,
    /// Events recorded (below the horizon) and not yet delivered.
    pub backlog: i64,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// The rows past a stream's cursor and below the horizon: what its next batches hold. `s` is the
/// stream row; events of a project stream are that project's, of an organisation stream every
/// event of the organisation and the instance-wide ones (logins without an organisation).
macro_rules! pending_events {
    () => {
        "from audit_events a \
         where (a.xact, a.id) > (s.cursor_xact, s.cursor_id) \
           and a.xact < pg_snapshot_xmin(pg_current_snapshot()) \
           and (case when s.project_id is null then a.org_id = s.org_id or a.org_id is null \
                else a.project_id = s.project_id end)"
    };
}

macro_rules! stream_columns {
    () => {
        concat!(
            "s.id, s.org_id, s.project_id, s.url, s.description, s.enabled, s.header_names, \
             s.delivered_events, s.last_delivered_at, s.failures, s.next_attempt_at, \
             s.last_error, s.last_status, s.failing_since, s.version, s.created_at, \
             s.updated_at, (select count(*) ",
            pending_events!(),
            ") as backlog"
        )
    };
}

/// A stream to create.
#[derive(Debug)]
pub struct NewStream<'a> {
    pub id: Uuid,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub url: &'a str,
    pub description: Option<&'a str>,
    pub enabled: bool,
    pub header_names: &'a [String],
    pub secret_sealed: &'a Sealed,
    pub headers_sealed: &'a Sealed,
}

/// Inserts a stream whose cursor starts at this transaction: it receives the events of this
/// transaction (its own creation's) and of every later one, not the history before it.
pub async fn insert(conn: &mut PgConnection, new: &NewStream<'_>) -> Result<Stream> {
    sqlx::query(
        "with stream as ( \
           insert into audit_streams (id, org_id, project_id, url, description, enabled, \
             header_names, secret_sealed, cursor_xact) \
           values ($1, $2, $3, $4, $5, $6, $7, $8, pg_current_xact_id()) returning id) \
         insert into audit_stream_headers (stream_id, headers_sealed) select id, $9 from stream",
    )
    .bind(new.id)
    .bind(new.org_id)
    .bind(new.project_id)
    .bind(new.url)
    .bind(new.description)
    .bind(new.enabled)
    .bind(new.header_names)
    .bind(new.secret_sealed)
    .bind(new.headers_sealed)
    .execute(&mut *conn)
    .await?;
    get_in(conn, new.org_id, new.id).await
}

/// How many streams point at one scope (the API caps them).
pub async fn count(
    conn: &mut PgConnection,
    org_id: OrgId,
    project_id: Option<ProjectId>,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "select count(*) from audit_streams where org_id = $1 \
           and project_id is not distinct from $2",
    )
    .bind(org_id)
    .bind(project_id)
    .fetch_one(conn)
    .await?)
}

pub async fn get(pool: &PgPool, org_id: OrgId, id: Uuid) -> Result<Stream> {
    let mut conn = pool.acquire().await?;
    get_in(&mut conn, org_id, id).await
}

async fn get_in(conn: &mut PgConnection, org_id: OrgId, id: Uuid) -> Result<Stream> {
    let sql = concat!(
        "select ",
        stream_columns!(),
        " from audit_streams s where s.id = $1 and s.org_id = $2"
    );
    Ok(sqlx::query_as(sql)
        .bind(id)
        .bind(org_id)
        .fetch_one(conn)
        .await?)
}

/// The streams of one scope (a project, or with `None` the organisation's own), oldest first.
pub async fn list(
    pool: &PgPool,
    org_id: OrgId,
    project_id: Option<ProjectId>,
) -> Result<Vec<Stream>> {
    let sql = concat!(
        "select ",
        stream_columns!(),
        " from audit_streams s where s.org_id = $1 and s.project_id is not distinct from $2 \
          order by s.id"
    );
    Ok(sqlx::query_as(sql)
        .bind(org_id)
        .bind(project_id)
        .fetch_all(pool)
        .await?)
}

/// Fields to change; `None` keeps the stored value (`description: Some(None)` clears it). New
/// headers come sealed with their names. Enabling forgets the failing run and makes the stream
/// due at once.
#[derive(Debug, Default)]
pub struct Changes<'a> {
    pub url: Option<&'a str>,
    pub description: Option<Option<&'a str>>,
    pub enabled: Option<bool>,
    pub headers: Option<(&'a [String], &'a Sealed)>,
}

/// Applies `changes` if the stream is still at `expected` version.
pub async fn update(
    conn: &mut PgConnection,
    org_id: OrgId,
    id: Uuid,
    expected: Option<i64>,
    changes: &Changes<'_>,
) -> Result<Stream> {
    let (names, sealed) = changes.headers.unzip();
    let done = sqlx::query(
        "update audit_streams set \
           url = coalesce($4, url), \
           description = case when $5 then $6 else description end, \
           enabled = coalesce($7, enabled), \
           header_names = coalesce($8, header_names), \
           failures = case when $7 and not enabled then 0 else failures end, \
           failing_since = case when $7 and not enabled then null else failing_since end, \
           next_attempt_at = case when $7 and not enabled then now() else next_attempt_at end, \
           version = version + 1, updated_at = now() \
         where id = $1 and org_id = $2 and ($3::bigint is null or version = $3)",
    )
    .bind(id)
    .bind(org_id)
    .bind(expected)
    .bind(changes.url)
    .bind(changes.description.is_some())
    .bind(changes.description.flatten())
    .bind(changes.enabled)
    .bind(names)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1
        && let Some(sealed) = sealed
    {
        sqlx::query("update audit_stream_headers set headers_sealed = $2 where stream_id = $1")
            .bind(id)
            .bind(sealed)
            .execute(&mut *conn)
            .await?;
    }
    if done.rows_affected() != 1 {
        return Err(crate::error::version_miss(
            conn,
            "select version from audit_streams where id = $1 and org_id = $2",
            org_id,
            id,
        )
        .await);
    }
    get_in(conn, org_id, id).await
}

pub async fn delete(conn: &mut PgConnection, org_id: OrgId, id: Uuid) -> Result<()> {
    let done = sqlx::query("delete from audit_streams where id = $1 and org_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(conn)
        .await?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(crate::Error::NotFound)
    }
}

/// A stream leased to one worker, with what it needs to send the next batch.
#[derive(Debug, sqlx::FromRow)]
pub struct Claim {
    pub id: Uuid,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
    pub url: String,
    pub failures: i32,
    pub secret_sealed: Sealed,
    pub headers_sealed: Sealed,
    pub lease_owner: String,
    pub lease_epoch: i64,
}

/// Leases one enabled, due stream that has events past its cursor (`skip locked`: workers never
/// share one, so a stream's batches go out one at a time, in order). An expired lease makes the
/// stream due again.
pub async fn claim_due(pool: &PgPool, owner: &str, lease: Duration) -> Result<Option<Claim>> {
    let sql = concat!(
        "with due as ( \
           select s.id from audit_streams s \
           where s.enabled and s.next_attempt_at <= now() \
             and exists (select 1 ",
        pending_events!(),
        ") order by s.next_attempt_at limit 1 for update skip locked) \
         update audit_streams s set lease_owner = $1, \
           lease_until = now() + make_interval(secs => $2), \
           next_attempt_at = now() + make_interval(secs => $2), \
           lease_epoch = s.lease_epoch + 1 \
         from due, audit_stream_headers h where s.id = due.id and h.stream_id = s.id \
         returning s.id, s.org_id, s.project_id, s.url, s.failures, s.secret_sealed, \
           h.headers_sealed, s.lease_owner, s.lease_epoch"
    );
    Ok(sqlx::query_as(sql)
        .bind(owner)
        .bind(lease.as_secs_f64())
        .fetch_optional(pool)
        .await?)
}

/// The next batch of a claimed stream: up to `limit` events past its cursor, in cursor order,
/// with the cursor each one moves it to.
pub async fn next_batch(pool: &PgPool, claim: &Claim, limit: i64) -> Result<Vec<(Event, String)>> {
    let sql = concat!(
        "select a.id, a.org_id, a.project_id, a.actor_id, a.actor_kind, a.action, \
           a.resource_type, a.resource_id, a.outcome, a.request_id, a.source_ip, a.metadata, \
           a.created_at, a.xact::text as xact \
         from audit_streams s cross join lateral (select a.* ",
        pending_events!(),
        " order by a.xact, a.id limit $2) a where s.id = $1 order by a.xact, a.id"
    );
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        event: Event,
        xact: String,
    }
    let rows: Vec<Row> = sqlx::query_as(sql)
        .bind(claim.id)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(|r| (r.event, r.xact)).collect())
}

/// Where a delivered batch leaves the cursor: its last event.
#[derive(Debug)]
pub struct Delivered<'a> {
    pub last_xact: &'a str,
    pub last_id: Uuid,
    pub events: i64,
    pub status: i32,
}

/// Moves the cursor past a delivered batch and ends the failing run, fenced by the lease;
/// `false`: the lease was lost, nothing written (the batch goes again: at least once).
pub async fn record_delivered(
    pool: &PgPool,
    claim: &Claim,
    delivered: &Delivered<'_>,
) -> Result<bool> {
    let done = sqlx::query(
        "update audit_streams set cursor_xact = $4::text::xid8, cursor_id = $5, \
           delivered_events = delivered_events + $6, last_delivered_at = now(), \
           last_status = $7, last_error = null, failures = 0, failing_since = null, \
           next_attempt_at = now(), lease_owner = null, lease_until = null \
         where id = $1 and lease_owner = $2 and lease_epoch = $3",
    )
    .bind(claim.id)
    .bind(&claim.lease_owner)
    .bind(claim.lease_epoch)
    .bind(delivered.last_xact)
    .bind(delivered.last_id)
    .bind(delivered.events)
    .bind(delivered.status)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed attempt (the cursor stays) and when to try again, fenced by the lease.
pub async fn record_failed(
    pool: &PgPool,
    claim: &Claim,
    status: Option<i32>,
    error: &str,
    retry_in: Duration,
) -> Result<bool> {
    let done = sqlx::query(
        "update audit_streams set failures = failures + 1, \
           failing_since = coalesce(failing_since, now()), last_status = $4, last_error = $5, \
           next_attempt_at = now() + make_interval(secs => $6), \
           lease_owner = null, lease_until = null \
         where id = $1 and lease_owner = $2 and lease_epoch = $3",
    )
    .bind(claim.id)
    .bind(&claim.lease_owner)
    .bind(claim.lease_epoch)
    .bind(status)
    .bind(error)
    .bind(retry_in.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The age of the oldest event some enabled stream has yet to deliver (`None`: none waiting).
pub async fn oldest_undelivered(pool: &PgPool) -> Result<Option<Duration>> {
    let sql = concat!(
        "select max(extract(epoch from now() - oldest)::float8) from ( \
           select (select min(a.created_at) ",
        pending_events!(),
        ") as oldest from audit_streams s where s.enabled) w"
    );
    let age: Option<f64> = sqlx::query_scalar(sql).fetch_one(pool).await?;
    Ok(age.map(|secs| Duration::from_secs_f64(secs.max(0.0))))
}
