//! `rotation_key_pairs`: the key pairs of `auth0-private-key-jwt` rotations, one per attempt, and
//! the fenced writes that carry such an attempt from "key stored" to "old credential removed".
//! Sealed private keys only (the broker seals and opens them, bound to row, tenant, client,
//! project and rotation); the public half, the `kid` and Auth0's credential ids are not secret.
//!
//! Every write after the claim names the lease, as in [`super::lease`], and reports "lease lost"
//! (`None`/`false`) rather than touching a row another worker has since claimed.

use std::collections::HashMap;

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::lease::Lease;
use super::{Attempt, AttemptStep, attempt_columns};
use crate::connections::Sealed;
use crate::{AttemptId, PrivateKeyId, Result, RotationId};

/// One generated key pair. Open `private_key_sealed` only through the broker's associated data,
/// which binds it to this row and to the tenant and client it was issued for.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct KeyPair {
    pub id: PrivateKeyId,
    pub rotation_id: RotationId,
    pub attempt_id: AttemptId,
    /// `pending`, `current` or `abandoned`.
    pub state: String,
    pub domain: String,
    pub client_id: String,
    pub private_key_sealed: Sealed,
    pub kid: String,
    pub alg: String,
    pub public_key_pem: String,
    /// Auth0's credential id, once Auth0 answered the create.
    pub auth0_credential_id: Option<String>,
    /// The credential enabled before this key, removed when the overlap ends.
    pub replaces_credential_id: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    /// When the old credential goes; set when the new key was published.
    pub overlap_until: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub activated_at: Option<OffsetDateTime>,
}

macro_rules! key_columns {
    () => {
        "id, rotation_id, attempt_id, state, domain, client_id, private_key_sealed, kid, alg, \
         public_key_pem, auth0_credential_id, replaces_credential_id, expires_at, overlap_until, \
         created_at, activated_at"
    };
}

/// The first write of a key rotation's attempt: the attempt row and its pending key pair, made
/// the rotation's open attempt in one statement. Commit it before Auth0 hears of the key.
#[derive(Debug)]
pub struct NewKeyAttempt<'a> {
    pub attempt_id: AttemptId,
    pub key_pair_id: PrivateKeyId,
    /// Sealed by the broker for this row, the tenant and the client below.
    pub private_key_sealed: &'a Sealed,
    pub kid: &'a str,
    pub alg: &'a str,
    pub public_key_pem: &'a str,
    pub domain: &'a str,
    pub client_id: &'a str,
    pub is_manual: bool,
}

/// `None`: the lease was lost, or an attempt is already open (nothing written).
pub async fn begin_attempt(
    conn: &mut PgConnection,
    lease: &Lease,
    new: &NewKeyAttempt<'_>,
) -> Result<Option<Attempt>> {
    // As `lease::begin_attempt`: the first update's row lock serialises attempt numbering, and
    // the type check keeps a client-secret rotation from growing a key pair.
    let sql = concat!(
        "with r as ( \
           update secret_rotations set current_attempt_id = $4, \
             last_rotation_attempted_at = now(), rotate_requested_at = null \
           where id = $1 and lease_owner = $2 and lease_epoch = $3 \
             and current_attempt_id is null and type = 'auth0-private-key-jwt' \
           returning id), \
         a as ( \
           insert into rotation_attempts (id, rotation_id, attempt_no, is_manual, tries, worker, \
             step) \
           select $4, r.id, (select coalesce(max(attempt_no), 0) + 1 from rotation_attempts \
                             where rotation_id = $1), $5, 1, $2, $13 from r \
           returning ",
        attempt_columns!(),
        "), \
         k as ( \
           insert into rotation_key_pairs (id, rotation_id, attempt_id, state, domain, client_id, \
             private_key_sealed, kid, alg, public_key_pem) \
           select $6, r.id, $4, 'pending', $7, $8, $9, $10, $11, $12 from r) \
         select * from a"
    );
    Ok(sqlx::query_as(sql)
        .bind(lease.rotation_id)
        .bind(&lease.owner)
        .bind(lease.epoch)
        .bind(new.attempt_id)
        .bind(new.is_manual)
        .bind(new.key_pair_id)
        .bind(new.domain)
        .bind(new.client_id)
        .bind(new.private_key_sealed)
        .bind(new.kid)
        .bind(new.alg)
        .bind(new.public_key_pem)
        .bind(AttemptStep::Created)
        .fetch_optional(conn)
        .await?)
}

/// The pending key pair of an attempt, if it has one.
pub async fn pending(conn: &mut PgConnection, attempt_id: AttemptId) -> Result<Option<KeyPair>> {
    let sql = concat!(
        "select ",
        key_columns!(),
        " from rotation_key_pairs where attempt_id = $1 and state = 'pending'"
    );
    Ok(sqlx::query_as(sql)
        .bind(attempt_id)
        .fetch_optional(conn)
        .await?)
}

/// The key Auth0 has enabled since the rotation's last success (public half and `kid` only are
/// ever shown).
pub async fn current(pool: &PgPool, rotation_id: RotationId) -> Result<Option<KeyPair>> {
    let sql = concat!(
        "select ",
        key_columns!(),
        " from rotation_key_pairs where rotation_id = $1 and state = 'current'"
    );
    Ok(sqlx::query_as(sql)
        .bind(rotation_id)
        .fetch_optional(pool)
        .await?)
}

/// The newest key of a failed attempt of this rotation that was published (its overlap waited
/// out) and still names the credential it was to replace: an attempt that stopped while removing
/// the old credential, which the next attempt completes before adding a key.
pub async fn unfinished_removal(
    conn: &mut PgConnection,
    rotation_id: RotationId,
) -> Result<Option<KeyPair>> {
    let sql = concat!(
        "select ",
        key_columns!(),
        " from rotation_key_pairs where rotation_id = $1 and state = 'abandoned' \
          and overlap_until is not null and replaces_credential_id is not null \
          and auth0_credential_id is not null \
          order by created_at desc limit 1"
    );
    Ok(sqlx::query_as(sql)
        .bind(rotation_id)
        .fetch_optional(conn)
        .await?)
}

/// Credentials that failed attempts of this rotation registered in Auth0 but never published:
/// `(key pair, credential id)`. Their private keys never left Keyhold, so no app signs with
/// them; left enabled they would take the room the next key needs.
pub async fn unpublished_credentials(
    conn: &mut PgConnection,
    rotation_id: RotationId,
) -> Result<Vec<(PrivateKeyId, String)>> {
    Ok(sqlx::query_as(
        "select id, auth0_credential_id from rotation_key_pairs \
         where rotation_id = $1 and state = 'abandoned' and overlap_until is null \
           and auth0_credential_id is not null \
         order by created_at",
    )
    .bind(rotation_id)
    .fetch_all(conn)
    .await?)
}

/// An [`unpublished_credentials`] credential was deleted from Auth0: the key pair no longer names
/// it. `false`: lease lost.
pub async fn unpublished_credential_removed(
    conn: &mut PgConnection,
    lease: &Lease,
    key_pair_id: PrivateKeyId,
) -> Result<bool> {
    update_abandoned(
        conn,
        lease,
        key_pair_id,
        "update rotation_key_pairs set auth0_credential_id = null \
         where id = $4 and rotation_id = $1 and state = 'abandoned' and overlap_until is null \
           and exists (select 1 from secret_rotations r where r.id = $1 \
             and r.lease_owner = $2 and r.lease_epoch = $3)",
    )
    .await
}

/// The old credential of [`unfinished_removal`]'s key is gone: forget it, so no later attempt
/// looks for it again. `false`: lease lost.
pub async fn removal_completed(
    conn: &mut PgConnection,
    lease: &Lease,
    key_pair_id: PrivateKeyId,
) -> Result<bool> {
    update_abandoned(
        conn,
        lease,
        key_pair_id,
        "update rotation_key_pairs set replaces_credential_id = null \
         where id = $4 and rotation_id = $1 and state = 'abandoned' \
           and exists (select 1 from secret_rotations r where r.id = $1 \
             and r.lease_owner = $2 and r.lease_epoch = $3)",
    )
    .await
}

/// Runs `sql`, an update of one abandoned key pair fenced by the lease: `$1` rotation, `$2`
/// lease owner, `$3` lease epoch, `$4` key pair. `false`: lease lost.
async fn update_abandoned(
    conn: &mut PgConnection,
    lease: &Lease,
    key_pair_id: PrivateKeyId,
    sql: &'static str,
) -> Result<bool> {
    let done = sqlx::query(sql)
        .bind(lease.rotation_id)
        .bind(&lease.owner)
        .bind(lease.epoch)
        .bind(key_pair_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// When the overlap of each of these rotations ends, for those whose new key is published and
/// whose old credential is not removed yet (what a countdown shows). One query for a list page.
pub async fn overlaps(
    conn: &mut PgConnection,
    ids: &[RotationId],
) -> Result<HashMap<RotationId, OffsetDateTime>> {
    let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
    let rows: Vec<(RotationId, OffsetDateTime)> = sqlx::query_as(
        "select rotation_id, overlap_until from rotation_key_pairs \
         where rotation_id = any($1) and state = 'pending' and overlap_until is not null",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// What Auth0 answered for the pending key: its credential id, the credential it is enabled
/// beside (to be removed after the overlap) and the `expires_at` it was created with.
#[derive(Debug)]
pub struct Registered<'a> {
    pub attempt_id: AttemptId,
    pub auth0_credential_id: &'a str,
    pub replaces_credential_id: Option<&'a str>,
    pub expires_at: Option<OffsetDateTime>,
}

/// Records the pending key's credential and moves the attempt to `set`. Idempotent: a resumed
/// attempt that finds its credential (by `kid`) records the same ids again. `false`: lease lost
/// or no pending key for the attempt.
pub async fn record_registered(
    conn: &mut PgConnection,
    lease: &Lease,
    done: &Registered<'_>,
) -> Result<bool> {
    let updated = sqlx::query(
        "with k as ( \
           update rotation_key_pairs set auth0_credential_id = $5, \
             replaces_credential_id = $6, expires_at = $7 \
           where attempt_id = $4 and state = 'pending' \
             and exists (select 1 from secret_rotations r where r.id = $1 \
               and r.lease_owner = $2 and r.lease_epoch = $3 and r.current_attempt_id = $4) \
           returning attempt_id) \
         update rotation_attempts set step = $8, updated_at = now() \
         where id in (select attempt_id from k)",
    )
    .bind(lease.rotation_id)
    .bind(&lease.owner)
    .bind(lease.epoch)
    .bind(done.attempt_id)
    .bind(done.auth0_credential_id)
    .bind(done.replaces_credential_id)
    .bind(done.expires_at)
    .bind(AttemptStep::Set)
    .execute(conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// The new key is enabled beside the old one and published: records the end of the overlap on
/// the key, moves the attempt to `published`, and releases the lease with the rotation due at
/// `overlap_until` — no lease is held through the wait; whichever worker claims the row then
/// removes the old credential. Call inside the transaction that writes the mapped secrets and
/// queues the event. `false`: lease lost.
pub async fn start_overlap(
    conn: &mut PgConnection,
    lease: &Lease,
    attempt_id: AttemptId,
    overlap_until: OffsetDateTime,
) -> Result<bool> {
    let released = sqlx::query(
        "with r as ( \
           update secret_rotations set due_at = $5, lease_owner = null, lease_expires_at = null \
           where id = $1 and lease_owner = $2 and lease_epoch = $3 and current_attempt_id = $4 \
           returning id), \
         k as ( \
           update rotation_key_pairs set overlap_until = $5 \
           where attempt_id = $4 and state = 'pending' and exists (select 1 from r) \
           returning attempt_id) \
         update rotation_attempts set step = $6, outcome = 'running', updated_at = now() \
         where id in (select attempt_id from k)",
    )
    .bind(lease.rotation_id)
    .bind(&lease.owner)
    .bind(lease.epoch)
    .bind(attempt_id)
    .bind(overlap_until)
    .bind(AttemptStep::Published)
    .execute(conn)
    .await?;
    Ok(released.rows_affected() == 1)
}

/// The effect of a key rotation's successful attempt, written by [`finish_success`].
#[derive(Debug)]
pub struct KeySuccess {
    pub attempt_id: AttemptId,
    pub is_manual: bool,
    pub next_rotation_at: Option<OffsetDateTime>,
}

/// The old credential is gone from Auth0: the pending key becomes current (the previous current
/// row is deleted; its private key is no use to anyone now), the attempt succeeds, the rotation is
/// rescheduled and its lease released, in one statement. `false`: lease lost, or no pending key.
pub async fn finish_success(
    conn: &mut PgConnection,
    lease: &Lease,
    done: &KeySuccess,
) -> Result<bool> {
    let finished: Option<i64> = sqlx::query_scalar(
        "with r as ( \
           update secret_rotations set status = 'success', last_rotation_message = null, \
             last_rotated_at = now(), is_last_rotation_manual = $5, next_rotation_at = $6, \
             due_at = case when is_auto_rotation_enabled then $6 end, \
             current_attempt_id = null, lease_owner = null, lease_expires_at = null, \
             updated_at = now() \
           where id = $1 and lease_owner = $2 and lease_epoch = $3 and current_attempt_id = $4 \
             and exists (select 1 from rotation_key_pairs \
                         where attempt_id = $4 and state = 'pending') \
           returning id), \
         gone as ( \
           delete from rotation_key_pairs \
           where rotation_id = $1 and state = 'current' and exists (select 1 from r)), \
         promoted as ( \
           update rotation_key_pairs set state = 'current', activated_at = now() \
           where attempt_id = $4 and state = 'pending' and exists (select 1 from r) \
           returning id), \
         a as ( \
           update rotation_attempts set step = $7, outcome = 'succeeded', \
             finished_at = now(), updated_at = now() \
           where id = $4 and exists (select 1 from r)) \
         select count(*) from promoted",
    )
    .bind(lease.rotation_id)
    .bind(&lease.owner)
    .bind(lease.epoch)
    .bind(done.attempt_id)
    .bind(done.is_manual)
    .bind(done.next_rotation_at)
    .bind(AttemptStep::Finished)
    .fetch_optional(conn)
    .await?;
    Ok(finished == Some(1))
}
