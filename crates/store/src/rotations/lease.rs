//! The worker's SQL: claiming due rotations under a lease, heartbeats, and the fenced writes that
//! move an attempt through its steps. Every write after the claim names the lease (owner and
//! epoch) and reports "lease lost" (`None`/`false`) instead of touching a row another worker has
//! since claimed. The loop that drives these lives in the worker crate.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::{Attempt, AttemptStep, Rotation, attempt_columns, columns};
use crate::connections::Sealed;
use crate::{AttemptId, ConnectionId, CredentialId, Result, RotationId};

/// What a worker holds after a claim; every fenced write names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub rotation_id: RotationId,
    pub owner: String,
    pub epoch: i64,
}

/// A claimed rotation and whose lease (if any) expired for it to be claimable.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Claim {
    #[sqlx(flatten)]
    pub rotation: Rotation,
    /// The previous holder whose lease expired, when this claim is a takeover.
    pub previous_owner: Option<String>,
}

impl Claim {
    pub fn lease(&self) -> Lease {
        Lease {
            rotation_id: self.rotation.id,
            owner: self.rotation.lease_owner.clone().unwrap_or_default(),
            epoch: self.rotation.lease_epoch,
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Claims up to `limit` due rotations for `owner` in one statement: rows whose `due_at` has come
/// (scheduled, requested, retry time reached, or lease expired — all the same column) are locked
/// with `skip locked`, so concurrent workers never claim the same row, and leased in the same
/// statement. The "is it due" test is repeated in the update itself.
pub async fn claim_due(
    pool: &PgPool,
    owner: &str,
    lease: Duration,
    limit: i64,
) -> Result<Vec<Claim>> {
    let sql = concat!(
        "with due as ( \
           select id as due_id, lease_owner as previous_owner from secret_rotations \
           where due_at <= now() order by due_at limit $3 for update skip locked) \
         update secret_rotations set \
           lease_owner = $1, \
           lease_expires_at = now() + make_interval(secs => $2), \
           due_at = now() + make_interval(secs => $2), \
           lease_epoch = lease_epoch + 1 \
         from due where id = due.due_id and due_at <= now() \
         returning due.previous_owner, ",
        columns!()
    );
    Ok(sqlx::query_as(sql)
        .bind(owner)
        .bind(secs(lease))
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

/// Extends the leases `owner` still holds among `held` (id, epoch) and returns the ids it still
/// holds; a missing id means that lease was lost. Runs on its own connection, outside any step's
/// transaction, so other workers see the new expiry at once.
pub async fn heartbeat(
    pool: &PgPool,
    owner: &str,
    lease: Duration,
    held: &[(RotationId, i64)],
) -> Result<Vec<RotationId>> {
    let ids: Vec<uuid::Uuid> = held.iter().map(|(id, _)| id.0).collect();
    let epochs: Vec<i64> = held.iter().map(|(_, epoch)| *epoch).collect();
    Ok(sqlx::query_scalar(
        "update secret_rotations r set \
           lease_expires_at = now() + make_interval(secs => $2), \
           due_at = now() + make_interval(secs => $2) \
         from unnest($3::uuid[], $4::bigint[]) as h(id, epoch) \
         where r.id = h.id and r.lease_epoch = h.epoch and r.lease_owner = $1 \
         returning r.id",
    )
    .bind(owner)
    .bind(secs(lease))
    .bind(ids)
    .bind(epochs)
    .fetch_all(pool)
    .await?)
}

/// Row-locks the leased rotation for a step's transaction and returns it as it is now; `None`
/// when the lease is no longer ours.
pub async fn lock_leased(conn: &mut PgConnection, lease: &Lease) -> Result<Option<Rotation>> {
    let sql = concat!(
        "select ",
        columns!(),
        " from secret_rotations where id = $1 and lease_owner = $2 and lease_epoch = $3 \
          for update"
    );
    Ok(sqlx::query_as(sql)
        .bind(lease.rotation_id)
        .bind(&lease.owner)
        .bind(lease.epoch)
        .fetch_optional(conn)
        .await?)
}

/// The first step's write: a new attempt and its pending secret, made the rotation's open
/// attempt — one statement, so it is atomic on its own; it must be committed before Auth0
/// hears of the secret.
#[derive(Debug)]
pub struct NewAttempt<'a> {
    pub attempt_id: AttemptId,
    pub credential_id: CredentialId,
    /// Sealed (by the broker) for the tenant and client below.
    pub sealed: &'a Sealed,
    /// Where the new secret is issued: the connection's tenant and the rotated client.
    pub domain: &'a str,
    pub client_id: &'a str,
    pub is_manual: bool,
}

/// `None`: the lease was lost, or an attempt is already open (nothing written).
pub async fn begin_attempt(
    conn: &mut PgConnection,
    lease: &Lease,
    new: &NewAttempt<'_>,
) -> Result<Option<Attempt>> {
    // The row lock the first update takes serialises attempt numbering per rotation; the
    // foreign keys between the three rows are checked at the end of the statement.
    let sql = concat!(
        "with r as ( \
           update secret_rotations set current_attempt_id = $4, \
             last_rotation_attempted_at = now(), rotate_requested_at = null \
           where id = $1 and lease_owner = $2 and lease_epoch = $3 \
             and current_attempt_id is null \
           returning id), \
         a as ( \
           insert into rotation_attempts (id, rotation_id, attempt_no, is_manual, tries, worker, \
             step) \
           select $4, r.id, (select coalesce(max(attempt_no), 0) + 1 from rotation_attempts \
                             where rotation_id = $1), $5, 1, $2, $10 from r \
           returning ",
        attempt_columns!(),
        "), \
         c as ( \
           insert into rotation_credentials (id, rotation_id, attempt_id, state, \
             client_secret_sealed, domain, client_id, secret_bound) \
           select $6, r.id, $4, 'pending', $7, $8, $9, true from r) \
         select * from a"
    );
    Ok(sqlx::query_as(sql)
        .bind(lease.rotation_id)
        .bind(&lease.owner)
        .bind(lease.epoch)
        .bind(new.attempt_id)
        .bind(new.is_manual)
        .bind(new.credential_id)
        .bind(new.sealed)
        .bind(new.domain)
        .bind(new.client_id)
        .bind(AttemptStep::Created)
        .fetch_optional(conn)
        .await?)
}

/// Marks the open attempt as being worked on again by this lease's owner (a retry or a takeover
/// after an expired lease), with an optional note. `None`: lease lost.
pub async fn resume_attempt(
    conn: &mut PgConnection,
    lease: &Lease,
    attempt_id: AttemptId,
    note: Option<&str>,
) -> Result<Option<Attempt>> {
    let sql = concat!(
        "update rotation_attempts a set tries = tries + 1, outcome = 'running', worker = $4, \
           message = coalesce($5, message), updated_at = now() \
         where a.id = $3 and exists (select 1 from secret_rotations r where r.id = $1 \
           and r.lease_owner = $4 and r.lease_epoch = $2 and r.current_attempt_id = $3) \
         returning ",
        attempt_columns!()
    );
    Ok(sqlx::query_as(sql)
        .bind(lease.rotation_id)
        .bind(lease.epoch)
        .bind(attempt_id)
        .bind(&lease.owner)
        .bind(note)
        .fetch_optional(conn)
        .await?)
}

/// The effect of a successful attempt, written by [`finish_success`].
#[derive(Debug)]
pub struct Success<'a> {
    pub attempt_id: AttemptId,
    pub is_manual: bool,
    /// Computed from the schedule of the rotation at `schedule_version`.
    pub next_rotation_at: Option<OffsetDateTime>,
    pub schedule_version: i64,
    /// Set when the rotated client is the connection's own: its secret, re-sealed for
    /// `(app_connections, connection id, client_secret)`, replaces the connection's.
    pub own_connection: Option<OwnConnection<'a>>,
}

#[derive(Debug)]
pub struct OwnConnection<'a> {
    pub connection_id: ConnectionId,
    /// The tenant and client the secret was issued for: the connection must still name both.
    pub domain: &'a str,
    pub client_id: &'a str,
    pub sealed: &'a Sealed,
}

/// What [`finish_success`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Finish {
    Done {
        active_index: i16,
        /// The connection's new version, when its own secret changed.
        connection_version: Option<i64>,
        /// Whether the rotation has a secrets mapping to write in the same transaction. Asked
        /// here because the mapping cannot change while the attempt is open (the API refuses
        /// to edit it then), so rotations without one spend no round trip on it.
        has_mapping: bool,
    },
    /// Nothing written: the connection or the rotation no longer points where the pending secret
    /// was issued, or the definition changed since `schedule_version` (recompute the next
    /// rotation from [`lock_leased`]'s row and call again), or the lease was lost (then
    /// `lock_leased` says so).
    Stale,
}

/// [`finish_success`]'s statement; `$own` is the `own` part: the connection's update or nothing.
macro_rules! finish_sql {
    ($own:literal) => {
        concat!(
            "with r as ( \
           update secret_rotations set status = 'success', last_rotation_message = null, \
             last_rotated_at = now(), is_last_rotation_manual = $5, next_rotation_at = $6, \
             due_at = case when is_auto_rotation_enabled then $6 end, \
             active_index = coalesce((select 1 - slot from rotation_credentials \
                                      where rotation_id = $1 and state = 'current'), 0), \
             current_attempt_id = null, lease_owner = null, lease_expires_at = null, \
             updated_at = now() \
           where id = $1 and lease_owner = $2 and lease_epoch = $3 \
             and current_attempt_id = $4 and version = $7 \
             and exists (select 1 from rotation_credentials pc \
                         join app_connections ac on ac.id = secret_rotations.connection_id \
                         where pc.attempt_id = $4 and pc.state = 'pending' \
                           and pc.domain = ac.domain \
                           and pc.client_id = secret_rotations.client_id) \
           returning active_index), \
         gone as ( \
           delete from rotation_credentials \
           where rotation_id = $1 and state = 'previous' and exists (select 1 from r)), \
         moved as ( \
           update rotation_credentials c set \
             state = case when c.state = 'current' then 'previous' else 'current' end, \
             slot = case when c.state = 'current' then c.slot \
                         else (select active_index from r) end, \
             activated_at = case when c.state = 'pending' then now() else c.activated_at end \
           where c.rotation_id = $1 \
             and (c.state = 'current' or (c.state = 'pending' and c.attempt_id = $4)) \
             and exists (select 1 from r) \
           returning c.state), \
         a as ( \
           update rotation_attempts set step = $12, outcome = 'succeeded', \
             finished_at = now(), updated_at = now() \
           where id = $4 and exists (select 1 from r)), ",
            $own,
            "         select (select active_index from r), \
                (select count(*) from moved where state = 'current'), \
                (select version from own), \
                exists (select 1 from rotation_secrets where rotation_id = $1)"
        )
    };
}
/// A self-rotation: the connection's own secret is replaced too.
const FINISH_OWN: &str = finish_sql!(
    "own as ( \
           update app_connections set client_secret_sealed = $9, secret_bound = true, \
             version = version + 1, updated_at = now() \
           where id = $8 and client_id = $10 and domain = $11 and exists (select 1 from r) \
           returning version) "
);
/// Nothing of the connection changes: `own` is empty, with the same column.
const FINISH: &str = finish_sql!("own as (select null::bigint as version where false) ");

/// Step 4, in one statement: promotes pending to current (current becomes previous, the older
/// previous is deleted), finishes the attempt, reschedules and releases the lease; for a
/// self-rotation also replaces the connection's secret and bumps its version. Call inside the
/// transaction that also records the audit event.
pub async fn finish_success(
    conn: &mut PgConnection,
    lease: &Lease,
    done: &Success<'_>,
) -> Result<Finish> {
    let own = done.own_connection.as_ref();
    // PostgreSQL prepares every table a statement could write, whether or not a row is written:
    // for `app_connections` that is opening its indexes and parsing its generated column's
    // expression (5.6 KB of catalog text) on each run. Only a self-rotation writes the
    // connection, so the other rotations (nearly all) run the statement without that part.
    let sql = if own.is_some() { FINISH_OWN } else { FINISH };
    let row: (Option<i16>, i64, Option<i64>, bool) = sqlx::query_as(sql)
        .bind(lease.rotation_id)
        .bind(&lease.owner)
        .bind(lease.epoch)
        .bind(done.attempt_id)
        .bind(done.is_manual)
        .bind(done.next_rotation_at)
        .bind(done.schedule_version)
        // Fenced on the tenant and client: if someone pointed the connection elsewhere meanwhile,
        // this secret is not its secret any more.
        .bind(own.map(|o| o.connection_id))
        .bind(own.map(|o| o.sealed))
        .bind(own.map(|o| o.client_id))
        .bind(own.map(|o| o.domain))
        .bind(AttemptStep::Finished)
        .fetch_one(conn)
        .await?;
    match row {
        (Some(active_index), 1, connection_version, has_mapping) => Ok(Finish::Done {
            active_index,
            connection_version,
            has_mapping,
        }),
        (Some(_), promoted, _, _) => Err(crate::Error::Database(sqlx::Error::Protocol(format!(
            "finishing attempt {} promoted {promoted} pending secrets instead of one",
            done.attempt_id
        )))),
        (None, _, _, _) => Ok(Finish::Stale),
    }
}

/// Whether the open attempt's pending secret still belongs where the rotation now points: the
/// connection's tenant and the rotation's client are those it was issued for. Read without locks
/// (a lock here would queue behind any writer of the connection row); [`finish_success`] repeats
/// the condition inside its own statement.
pub async fn destination_unchanged(conn: &mut PgConnection, attempt_id: AttemptId) -> Result<bool> {
    let row: Option<(bool,)> = sqlx::query_as(
        "select ac.domain = c.domain and r.client_id = c.client_id \
         from rotation_credentials c \
         join secret_rotations r on r.id = c.rotation_id \
         join app_connections ac on ac.id = r.connection_id \
         where c.attempt_id = $1 and c.state = 'pending'",
    )
    .bind(attempt_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some_and(|(same,)| same))
}

/// A retryable failure: the attempt stays open with its pending secret and is resumed at
/// `retry_in` from now by whichever worker claims it then. `false`: lease lost.
#[derive(Debug)]
pub struct Retry<'a> {
    pub attempt_id: AttemptId,
    /// The last step done: where the next try resumes.
    pub step: AttemptStep,
    pub message: &'a str,
    /// Rate limiting is Auth0 asking us to slow down, not a failure: it does not use up the
    /// attempt's retry budget.
    pub counts_as_failure: bool,
    pub retry_in: Duration,
}

pub async fn record_retry(
    conn: &mut PgConnection,
    lease: &Lease,
    retry: &Retry<'_>,
) -> Result<bool> {
    let released = sqlx::query(
        "update secret_rotations set due_at = now() + make_interval(secs => $5), \
           lease_owner = null, lease_expires_at = null \
         where id = $1 and lease_owner = $2 and lease_epoch = $3 and current_attempt_id = $4",
    )
    .bind(lease.rotation_id)
    .bind(&lease.owner)
    .bind(lease.epoch)
    .bind(retry.attempt_id)
    .bind(secs(retry.retry_in))
    .execute(&mut *conn)
    .await?;
    if released.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "update rotation_attempts set outcome = 'retrying', step = $2, message = $3, \
           failures = failures + case when $4 then 1 else 0 end, updated_at = now() \
         where id = $1",
    )
    .bind(retry.attempt_id)
    .bind(retry.step)
    .bind(retry.message)
    .bind(retry.counts_as_failure)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// The final failure of an attempt.
#[derive(Debug)]
pub struct Failure<'a> {
    pub attempt_id: AttemptId,
    /// The last step done before the attempt stopped.
    pub step: AttemptStep,
    /// What went wrong and what to fix; becomes `last_rotation_message`.
    pub message: &'a str,
    pub next_rotation_at: Option<OffsetDateTime>,
    /// Auth0 may hold the pending secret (its `PATCH` may have been applied): keep it as
    /// `abandoned` so it can be recovered, rather than deleting it.
    pub keep_pending: bool,
}

/// Closes the attempt as failed, records the message on the rotation, reschedules and releases
/// the lease. Call inside a transaction (with the audit event). `false`: lease lost.
pub async fn finish_failure(
    conn: &mut PgConnection,
    lease: &Lease,
    failure: &Failure<'_>,
) -> Result<bool> {
    let released = sqlx::query(
        "update secret_rotations set status = 'failed', last_rotation_message = $5, \
           next_rotation_at = $6, due_at = case when is_auto_rotation_enabled then $6 end, \
           current_attempt_id = null, lease_owner = null, lease_expires_at = null, \
           updated_at = now() \
         where id = $1 and lease_owner = $2 and lease_epoch = $3 and current_attempt_id = $4",
    )
    .bind(lease.rotation_id)
    .bind(&lease.owner)
    .bind(lease.epoch)
    .bind(failure.attempt_id)
    .bind(failure.message)
    .bind(failure.next_rotation_at)
    .execute(&mut *conn)
    .await?;
    if released.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "update rotation_attempts set outcome = 'failed', step = $2, message = $3, \
           failures = failures + 1, finished_at = now(), updated_at = now() where id = $1",
    )
    .bind(failure.attempt_id)
    .bind(failure.step)
    .bind(failure.message)
    .execute(&mut *conn)
    .await?;
    let pending = if failure.keep_pending {
        "update rotation_credentials set state = 'abandoned' \
         where attempt_id = $1 and state = 'pending'"
    } else {
        "delete from rotation_credentials where attempt_id = $1 and state = 'pending'"
    };
    sqlx::query(pending)
        .bind(failure.attempt_id)
        .execute(&mut *conn)
        .await?;
    // The same for a key rotation's pending key pair (Auth0 may hold its public half).
    let pending_key = if failure.keep_pending {
        "update rotation_key_pairs set state = 'abandoned' \
         where attempt_id = $1 and state = 'pending'"
    } else {
        "delete from rotation_key_pairs where attempt_id = $1 and state = 'pending'"
    };
    sqlx::query(pending_key)
        .bind(failure.attempt_id)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// Gives a lease back without changing anything else, so another worker can continue `after`
/// from now (zero on graceful shutdown). An open attempt is resumed, not restarted. `false`:
/// lease already lost.
pub async fn release(pool: &PgPool, lease: &Lease, after: Duration) -> Result<bool> {
    let done = sqlx::query(
        "update secret_rotations set due_at = now() + make_interval(secs => $4), \
           lease_owner = null, lease_expires_at = null \
         where id = $1 and lease_owner = $2 and lease_epoch = $3",
    )
    .bind(lease.rotation_id)
    .bind(&lease.owner)
    .bind(lease.epoch)
    .bind(secs(after))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
