//! `secret_rotations`, `rotation_attempts` and `rotation_credentials`: rotation definitions as the
//! API manages them, their attempt history and their generations of generated secrets (sealed
//! envelopes only). The worker's side — claiming due work under a lease, fenced step writes and the
//! shared Auth0 request budget — lives in the [`lease`] and [`budget`] submodules; [`schedule`] is
//! the pure arithmetic of when a rotation falls due, [`control`] queues "rotate now", and
//! [`mapping`] names the project secrets a rotation writes its new credentials into, and
//! [`key_pairs`] holds the key pairs of `auth0-private-key-jwt` rotations.

pub mod budget;
pub mod control;
pub mod detailed;
pub mod key_pairs;
pub mod lease;
pub mod mapping;
pub mod schedule;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;

use crate::connections::Sealed;
use crate::page::{Counted, Cursor, PageRequest, fetch_counted, like_pattern, push_capped_count};
use crate::{AttemptId, ConnectionId, CredentialId, Error, OrgId, ProjectId, Result, RotationId};

/// Infisical's rotation type: replace the client's one secret.
pub const TYPE_AUTH0_CLIENT_SECRET: &str = "auth0-client-secret";
/// Keyhold's own type (issue 18): add a public-key credential beside the current one, publish the
/// new private key, remove the old credential after an overlap.
pub const TYPE_AUTH0_PRIVATE_KEY_JWT: &str = "auth0-private-key-jwt";

/// The overlap of a key rotation when none is asked for: a day.
pub const DEFAULT_OVERLAP_SECONDS: i32 = 86_400;
/// The shortest overlap (`secret_rotations_overlap_check`): an app must have time to refetch.
pub const MIN_OVERLAP_SECONDS: i32 = 60;
/// The longest overlap (`secret_rotations_overlap_check`): 30 days.
pub const MAX_OVERLAP_SECONDS: i32 = 2_592_000;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Rotation {
    pub id: RotationId,
    pub org_id: OrgId,
    pub project_id: ProjectId,
    pub connection_id: ConnectionId,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub name: String,
    pub description: Option<String>,
    pub client_id: String,
    pub rotation_interval_days: i32,
    pub rotate_at_hours: i16,
    pub rotate_at_minutes: i16,
    pub is_auto_rotation_enabled: bool,
    pub next_rotation_at: Option<OffsetDateTime>,
    /// `pending` (never finished an attempt), `success` or `failed`.
    pub status: String,
    pub last_rotation_message: Option<String>,
    pub last_rotated_at: Option<OffsetDateTime>,
    pub last_rotation_attempted_at: Option<OffsetDateTime>,
    pub is_last_rotation_manual: bool,
    pub active_index: i16,
    /// How long old and new credentials are both enabled; `Some` exactly for
    /// [`TYPE_AUTH0_PRIVATE_KEY_JWT`].
    pub overlap_seconds: Option<i32>,
    pub due_at: Option<OffsetDateTime>,
    pub rotate_requested_at: Option<OffsetDateTime>,
    pub current_attempt_id: Option<AttemptId>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<OffsetDateTime>,
    pub lease_epoch: i64,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Rotation {
    /// Whether this rotation adds key credentials (`auth0-private-key-jwt`) rather than replacing
    /// a client secret.
    pub fn rotates_keys(&self) -> bool {
        self.kind == TYPE_AUTH0_PRIVATE_KEY_JWT
    }

    /// Whether a rotation is under way or queued: an open attempt, an unstarted "rotate now", or
    /// a live lease. A second "rotate now" must be refused (409) while this holds, and deleting
    /// the definition could lose a pending secret.
    pub fn is_in_progress(&self, now: OffsetDateTime) -> bool {
        self.current_attempt_id.is_some()
            || self.rotate_requested_at.is_some()
            || self.lease_expires_at.is_some_and(|until| until > now)
    }
}

/// The column list every query returns, as a macro so statements stay `&'static str`.
macro_rules! columns {
    () => {
        "id, org_id, project_id, connection_id, type, name, description, client_id, \
         rotation_interval_days, rotate_at_hours, rotate_at_minutes, is_auto_rotation_enabled, \
         next_rotation_at, status, last_rotation_message, last_rotated_at, \
         last_rotation_attempted_at, is_last_rotation_manual, active_index, overlap_seconds, due_at, \
         rotate_requested_at, current_attempt_id, lease_owner, lease_expires_at, lease_epoch, \
         version, created_at, updated_at"
    };
}
pub(crate) use columns;

/// Everything a new rotation needs. `next_rotation_at` comes from the worker's planner.
#[derive(Debug)]
pub struct NewRotation<'a> {
    pub id: RotationId,
    pub org_id: OrgId,
    pub project_id: ProjectId,
    pub connection_id: ConnectionId,
    /// [`TYPE_AUTH0_CLIENT_SECRET`] or [`TYPE_AUTH0_PRIVATE_KEY_JWT`]; fixed for the row's life.
    pub kind: &'a str,
    /// Required for (and only for) [`TYPE_AUTH0_PRIVATE_KEY_JWT`] (`secret_rotations_overlap_check`).
    pub overlap_seconds: Option<i32>,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub client_id: &'a str,
    pub rotation_interval_days: i32,
    pub rotate_at_hours: i16,
    pub rotate_at_minutes: i16,
    pub is_auto_rotation_enabled: bool,
    pub next_rotation_at: Option<OffsetDateTime>,
    /// Issue the first generated secret at once (Infisical does this on create), rather than
    /// waiting for `next_rotation_at`. Not counted as a manual rotation.
    pub rotate_immediately: bool,
}

/// Inserts a definition. Errors: `Duplicate { constraint: "secret_rotations_project_name_key" }`,
/// `MissingReference` for an unknown connection or project.
pub async fn insert(conn: &mut PgConnection, new: &NewRotation<'_>) -> Result<Rotation> {
    let sql = concat!(
        "insert into secret_rotations (id, org_id, project_id, connection_id, name, description, \
         client_id, rotation_interval_days, rotate_at_hours, rotate_at_minutes, \
         is_auto_rotation_enabled, next_rotation_at, due_at, type, overlap_seconds) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
           case when $13 then now() when $11 then $12 else null end, $14, $15) \
         returning ",
        columns!()
    );
    let row = sqlx::query_as(sql)
        .bind(new.id)
        .bind(new.org_id)
        .bind(new.project_id)
        .bind(new.connection_id)
        .bind(new.name)
        .bind(new.description)
        .bind(new.client_id)
        .bind(new.rotation_interval_days)
        .bind(new.rotate_at_hours)
        .bind(new.rotate_at_minutes)
        .bind(new.is_auto_rotation_enabled)
        .bind(new.next_rotation_at)
        .bind(new.rotate_immediately)
        .bind(new.kind)
        .bind(new.overlap_seconds)
        .fetch_one(conn)
        .await?;
    Ok(row)
}

pub async fn get(pool: &PgPool, org_id: OrgId, id: RotationId) -> Result<Rotation> {
    let sql = concat!(
        "select ",
        columns!(),
        " from secret_rotations where id = $1 and org_id = $2"
    );
    Ok(sqlx::query_as(sql)
        .bind(id)
        .bind(org_id)
        .fetch_one(pool)
        .await?)
}

/// The rotations with these ids, in any order; missing ids are left out. Callers check `org_id`.
pub async fn get_many(conn: &mut PgConnection, ids: &[RotationId]) -> Result<Vec<Rotation>> {
    let sql = concat!(
        "select ",
        columns!(),
        " from secret_rotations where id = any($1)"
    );
    let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
    Ok(sqlx::query_as(sql).bind(ids).fetch_all(conn).await?)
}

/// Reads and row-locks a definition for the rest of the caller's transaction (delete, update).
/// Workers skip locked rows, so no new claim starts while the lock is held.
pub async fn lock(conn: &mut PgConnection, org_id: OrgId, id: RotationId) -> Result<Rotation> {
    let sql = concat!(
        "select ",
        columns!(),
        " from secret_rotations where id = $1 and org_id = $2 for update"
    );
    Ok(sqlx::query_as(sql)
        .bind(id)
        .bind(org_id)
        .fetch_one(conn)
        .await?)
}

pub async fn get_by_name(pool: &PgPool, project_id: ProjectId, name: &str) -> Result<Rotation> {
    let sql = concat!(
        "select ",
        columns!(),
        " from secret_rotations where project_id = $1 and name = $2"
    );
    Ok(sqlx::query_as(sql)
        .bind(project_id)
        .bind(name)
        .fetch_one(pool)
        .await?)
}

/// Which rotations a list shows.
#[derive(Clone, Debug)]
pub struct ListFilter {
    pub org_id: OrgId,
    /// `None`: every project of the organisation.
    pub project_id: Option<ProjectId>,
    pub connection_id: Option<ConnectionId>,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// Only rotations of this type (`None`: every type).
    pub kind: Option<&'static str>,
    /// Only rotations in this status (`pending`, `success`, `failed`).
    pub status: Option<String>,
}

/// One page ordered by `(name, id)` with the list's total up to `cap` (`None` past it), as
/// connections are paged: one statement (see `page::fetch_counted`).
pub async fn list(
    pool: &PgPool,
    filter: &ListFilter,
    page: &PageRequest,
    cap: u32,
) -> Result<Counted<Rotation>> {
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(concat!("select ", columns!(), ", "));
    push_total(&mut q, filter, cap);
    q.push(" from secret_rotations where ");
    push_filter(&mut q, filter, page.after.as_ref());
    q.push(" order by name, id");
    page.push_limit(&mut q);
    let key = |r: &Rotation| Cursor {
        name: r.name.clone(),
        id: r.id.0,
    };
    fetch_counted(pool, &mut q, page.limit, key, |q| {
        push_total(q, filter, cap)
    })
    .await
}

/// How many rotations `filter` matches as a scalar subquery, counted up to `cap` and `null` past it.
fn push_total(q: &mut QueryBuilder<Postgres>, filter: &ListFilter, cap: u32) {
    push_capped_count(q, "secret_rotations", cap, |q| push_filter(q, filter, None));
}

/// The `where` clause of a list (and of its count), after `after` when given.
fn push_filter(q: &mut QueryBuilder<Postgres>, filter: &ListFilter, after: Option<&Cursor>) {
    match filter.project_id {
        Some(project_id) => {
            q.push("project_id = ").push_bind(project_id);
            q.push(" and org_id = ").push_bind(filter.org_id);
            if let Some(after) = after {
                q.push(" and name > ").push_bind(after.name.clone());
            }
        }
        None => {
            q.push("org_id = ").push_bind(filter.org_id);
            if let Some(after) = after {
                q.push(" and (name, id) > (")
                    .push_bind(after.name.clone())
                    .push(", ")
                    .push_bind(after.id)
                    .push(")");
            }
        }
    }
    if let Some(connection_id) = filter.connection_id {
        q.push(" and connection_id = ").push_bind(connection_id);
    }
    if let Some(search) = &filter.search {
        q.push(" and name ilike ").push_bind(like_pattern(search));
    }
    if let Some(kind) = filter.kind {
        q.push(" and type = ").push_bind(kind);
    }
    if let Some(status) = &filter.status {
        q.push(" and status = ").push_bind(status.clone());
    }
}

/// A partial update of the definition. `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct Change<'a> {
    pub name: Option<&'a str>,
    pub description: Option<Option<&'a str>>,
    pub client_id: Option<&'a str>,
    pub is_auto_rotation_enabled: Option<bool>,
    pub rotation_interval_days: Option<i32>,
    pub rotate_at: Option<(i16, i16)>,
    /// A key rotation's overlap (refused by `secret_rotations_overlap_check` on other types).
    pub overlap_seconds: Option<i32>,
    /// Recomputed by the caller with the planner whenever the schedule changes.
    pub next_rotation_at: Option<Option<OffsetDateTime>>,
}

/// Applies `change` if the row is still at `expected_version`, bumping the version. While the
/// rotation is idle its queue position follows the new schedule; while one is under way the
/// worker reschedules it when the attempt ends (from the row as it is then).
pub async fn update(
    conn: &mut PgConnection,
    org_id: OrgId,
    id: RotationId,
    expected_version: i64,
    change: &Change<'_>,
) -> Result<Rotation> {
    let sql = concat!(
        "update secret_rotations set \
           name = coalesce($4, name), \
           description = case when $5 then $6 else description end, \
           client_id = coalesce($7, client_id), \
           is_auto_rotation_enabled = coalesce($8, is_auto_rotation_enabled), \
           rotation_interval_days = coalesce($9, rotation_interval_days), \
           rotate_at_hours = coalesce($10, rotate_at_hours), \
           rotate_at_minutes = coalesce($11, rotate_at_minutes), \
           next_rotation_at = case when $12 then $13 else next_rotation_at end, \
           overlap_seconds = coalesce($14, overlap_seconds), \
           due_at = case \
             when current_attempt_id is null and rotate_requested_at is null \
                  and (lease_expires_at is null or lease_expires_at < now()) \
             then case when coalesce($8, is_auto_rotation_enabled) \
                       then (case when $12 then $13 else next_rotation_at end) end \
             else due_at end, \
           version = version + 1, \
           updated_at = now() \
         where id = $1 and org_id = $2 and version = $3 \
         returning ",
        columns!()
    );
    let row: Option<Rotation> = sqlx::query_as(sql)
        .bind(id)
        .bind(org_id)
        .bind(expected_version)
        .bind(change.name)
        .bind(change.description.is_some())
        .bind(change.description.flatten())
        .bind(change.client_id)
        .bind(change.is_auto_rotation_enabled)
        .bind(change.rotation_interval_days)
        .bind(change.rotate_at.map(|(h, _)| h))
        .bind(change.rotate_at.map(|(_, m)| m))
        .bind(change.next_rotation_at.is_some())
        .bind(change.next_rotation_at.flatten())
        .bind(change.overlap_seconds)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(row),
        None => Err(version_miss(conn, org_id, id).await),
    }
}

/// Deletes the definition (its attempts and credentials go with it) if it is still at
/// `expected_version` (when given). Callers should `lock` first and refuse while
/// [`Rotation::is_in_progress`]: a pending secret Auth0 may already hold would be lost.
pub async fn delete(
    conn: &mut PgConnection,
    org_id: OrgId,
    id: RotationId,
    expected_version: Option<i64>,
) -> Result<Rotation> {
    let sql = concat!(
        "delete from secret_rotations where id = $1 and org_id = $2 \
         and ($3::bigint is null or version = $3) returning ",
        columns!()
    );
    let row: Option<Rotation> = sqlx::query_as(sql)
        .bind(id)
        .bind(org_id)
        .bind(expected_version)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(row),
        None => Err(version_miss(conn, org_id, id).await),
    }
}

/// How many rotations use a connection (for the "cannot delete" message).
pub async fn count_for_connection(pool: &PgPool, connection_id: ConnectionId) -> Result<i64> {
    Ok(
        sqlx::query_scalar("select count(*) from secret_rotations where connection_id = $1")
            .bind(connection_id)
            .fetch_one(pool)
            .await?,
    )
}

/// The answer to "rotate now".
#[derive(Debug)]
pub enum RotateNow {
    /// Queued: a worker picks it up at once (send the `NOTIFY` in the same transaction).
    Queued(Rotation),
    /// A rotation is already under way or queued; the API answers 409.
    InProgress(Rotation),
}

/// Queues a manual rotation unless one is under way. One statement, so two concurrent requests
/// cannot both queue: the loser sees `rotate_requested_at` set and gets `InProgress`.
pub async fn request_rotation(
    conn: &mut PgConnection,
    org_id: OrgId,
    id: RotationId,
) -> Result<RotateNow> {
    let sql = concat!(
        "update secret_rotations set rotate_requested_at = now(), due_at = now() \
         where id = $1 and org_id = $2 and current_attempt_id is null \
           and rotate_requested_at is null \
           and (lease_expires_at is null or lease_expires_at < now()) \
         returning ",
        columns!()
    );
    let queued: Option<Rotation> = sqlx::query_as(sql)
        .bind(id)
        .bind(org_id)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = queued {
        return Ok(RotateNow::Queued(row));
    }
    let sql = concat!(
        "select ",
        columns!(),
        " from secret_rotations where id = $1 and org_id = $2"
    );
    let current: Rotation = sqlx::query_as(sql)
        .bind(id)
        .bind(org_id)
        .fetch_one(conn)
        .await?;
    Ok(RotateNow::InProgress(current))
}

/// Why a version-fenced write on this table touched no row.
async fn version_miss(conn: &mut PgConnection, org_id: OrgId, id: RotationId) -> Error {
    crate::error::version_miss(
        conn,
        "select version from secret_rotations where id = $1 and org_id = $2",
        org_id,
        id.0,
    )
    .await
}

/// The last step of an attempt known to be done, as stored in `rotation_attempts.step` (text,
/// limited to these names by `rotation_attempts_step_check`). The worker resumes an open
/// attempt from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AttemptStep {
    /// The new secret is stored sealed as the attempt's pending generation.
    Created,
    /// Auth0 accepted the new secret (`PATCH` answered 200).
    Set,
    /// Auth0 issues tokens with the new secret (or key).
    Tested,
    /// Key rotations only: the new key is enabled beside the old one and written to the mapped
    /// secrets; the attempt rests until the overlap ends, then removes the old credential.
    Published,
    /// Pending was promoted to current.
    Finished,
}

impl AttemptStep {
    /// The stored (and API) name.
    pub const fn as_str(self) -> &'static str {
        match self {
            AttemptStep::Created => "created",
            AttemptStep::Set => "set",
            AttemptStep::Tested => "tested",
            AttemptStep::Published => "published",
            AttemptStep::Finished => "finished",
        }
    }

    /// Reads a stored name. A name this version does not know (a newer version wrote it) reads
    /// as [`AttemptStep::Created`]: every attempt row has at least its pending secret stored, and
    /// resuming from there repeats the `PATCH` with the same secret, which is harmless. Reading a
    /// row never fails on it.
    pub fn from_stored(name: &str) -> AttemptStep {
        match name {
            "created" => AttemptStep::Created,
            "set" => AttemptStep::Set,
            "tested" => AttemptStep::Tested,
            "published" => AttemptStep::Published,
            "finished" => AttemptStep::Finished,
            other => {
                tracing::warn!(step = other, "unknown attempt step; resuming as if created");
                AttemptStep::Created
            }
        }
    }
}

impl std::fmt::Display for AttemptStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stored as `text` (no Postgres enum type, so no migration).
impl sqlx::Type<Postgres> for AttemptStep {
    fn type_info() -> PgTypeInfo {
        <&str as sqlx::Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <&str as sqlx::Type<Postgres>>::compatible(ty)
    }
}

impl sqlx::Encode<'_, Postgres> for AttemptStep {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <&str as sqlx::Encode<Postgres>>::encode(self.as_str(), buf)
    }
}

/// Lenient: see [`AttemptStep::from_stored`].
impl<'r> sqlx::Decode<'r, Postgres> for AttemptStep {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(AttemptStep::from_stored(<&str as sqlx::Decode<
            Postgres,
        >>::decode(value)?))
    }
}

/// One attempt, for the history route and the worker.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Attempt {
    pub id: AttemptId,
    pub rotation_id: RotationId,
    pub attempt_no: i32,
    pub is_manual: bool,
    /// The last step known to be done.
    pub step: AttemptStep,
    /// `running`, `retrying`, `succeeded` or `failed`.
    pub outcome: String,
    pub tries: i32,
    pub failures: i32,
    pub message: Option<String>,
    pub worker: Option<String>,
    pub started_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
}

macro_rules! attempt_columns {
    () => {
        "id, rotation_id, attempt_no, is_manual, step, outcome, tries, failures, message, worker, \
         started_at, updated_at, finished_at"
    };
}
pub(crate) use attempt_columns;

/// Newest first: at most `limit` attempts numbered below `before` (the previous page's last).
/// Returns the page and the `before` of the next page.
pub async fn list_attempts(
    pool: &PgPool,
    rotation_id: RotationId,
    limit: u32,
    before: Option<i32>,
) -> Result<(Vec<Attempt>, Option<i32>)> {
    let sql = concat!(
        "select ",
        attempt_columns!(),
        " from rotation_attempts where rotation_id = $1 \
          and ($2::integer is null or attempt_no < $2) \
          order by attempt_no desc limit $3"
    );
    let mut rows: Vec<Attempt> = sqlx::query_as(sql)
        .bind(rotation_id)
        .bind(before)
        .bind(i64::from(limit) + 1)
        .fetch_all(pool)
        .await?;
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|a| a.attempt_no)
    } else {
        None
    };
    Ok((rows, next))
}

pub async fn get_attempt(conn: &mut PgConnection, id: AttemptId) -> Result<Attempt> {
    let sql = concat!(
        "select ",
        attempt_columns!(),
        " from rotation_attempts where id = $1"
    );
    Ok(sqlx::query_as(sql).bind(id).fetch_one(conn).await?)
}

/// One generation of a generated secret, issued for `client_id` on the tenant `domain`. Open
/// `client_secret_sealed` only through the broker's associated data, which binds it to both.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Credential {
    pub id: CredentialId,
    pub rotation_id: RotationId,
    pub attempt_id: AttemptId,
    /// `pending`, `current`, `previous` or `abandoned`.
    pub state: String,
    /// 0 or 1 for `current`/`previous`; the rotation's `active_index` names the current slot.
    pub slot: Option<i16>,
    pub client_secret_sealed: Sealed,
    pub domain: String,
    pub client_id: String,
    pub created_at: OffsetDateTime,
    pub activated_at: Option<OffsetDateTime>,
}

macro_rules! credential_columns {
    () => {
        "id, rotation_id, attempt_id, state, slot, client_secret_sealed, domain, client_id, \
         created_at, activated_at"
    };
}

/// The current and previous generations, by slot: what `generated-credentials` reveals.
pub async fn generated_credentials(
    pool: &PgPool,
    rotation_id: RotationId,
) -> Result<Vec<Credential>> {
    let sql = concat!(
        "select ",
        credential_columns!(),
        " from rotation_credentials where rotation_id = $1 \
          and state in ('current', 'previous') order by slot"
    );
    Ok(sqlx::query_as(sql)
        .bind(rotation_id)
        .fetch_all(pool)
        .await?)
}

/// The pending generation of an attempt, if it has one.
pub async fn pending_credential(
    conn: &mut PgConnection,
    attempt_id: AttemptId,
) -> Result<Option<Credential>> {
    let sql = concat!(
        "select ",
        credential_columns!(),
        " from rotation_credentials where attempt_id = $1 and state = 'pending'"
    );
    Ok(sqlx::query_as(sql)
        .bind(attempt_id)
        .fetch_optional(conn)
        .await?)
}

/// Secrets Auth0 may hold for a connection's *own* client although the connection still has
/// the old one: pending (and abandoned) generations of rotations that target it. After a crash
/// between Auth0 accepting a self-rotation and the commit, one of these is the working secret.
/// Newest first.
pub async fn unconfirmed_own_secrets(
    pool: &PgPool,
    connection_id: ConnectionId,
    project_id: ProjectId,
    client_id: &str,
) -> Result<Vec<Credential>> {
    let sql = "select c.id, c.rotation_id, c.attempt_id, c.state, c.slot, c.client_secret_sealed, \
                      c.domain, c.client_id, c.created_at, c.activated_at \
               from rotation_credentials c join secret_rotations r on r.id = c.rotation_id \
               where r.connection_id = $1 and r.client_id = $2 and c.client_id = $2 \
                 and r.project_id = $3 and c.state in ('pending', 'abandoned') \
               order by c.created_at desc limit 4";
    Ok(sqlx::query_as(sql)
        .bind(connection_id)
        .bind(client_id)
        .bind(project_id)
        .fetch_all(pool)
        .await?)
}

/// A rotation of `connection_id` with an attempt open (its pending secret is bound to the
/// connection's tenant), if any: the connection's tenant and client must not change under it.
/// Takes the rows' locks so an attempt cannot finish in between.
pub async fn open_attempt_on_connection(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
) -> Result<Option<(RotationId, String)>> {
    Ok(sqlx::query_as(
        "select id, name from secret_rotations \
         where connection_id = $1 and current_attempt_id is not null \
         order by id limit 1 for share",
    )
    .bind(connection_id)
    .fetch_optional(conn)
    .await?)
}

/// Seconds since the oldest rotation that is due fell due (0 when none is): the worker backlog.
/// Walks the `due_at` index from its start, so it costs the same with a million rotations.
pub async fn oldest_overdue_secs(pool: &PgPool) -> Result<f64> {
    let lag: Option<f64> = sqlx::query_scalar(
        "select extract(epoch from now() - min(due_at))::float8 from secret_rotations where due_at <= now()",
    )
    .fetch_one(pool)
    .await?;
    Ok(lag.unwrap_or(0.0).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotation() -> Rotation {
        let now = OffsetDateTime::now_utc();
        Rotation {
            id: RotationId::new(),
            org_id: OrgId::new(),
            project_id: ProjectId::new(),
            connection_id: ConnectionId::new(),
            kind: TYPE_AUTH0_CLIENT_SECRET.into(),
            name: "r".into(),
            description: None,
            client_id: "c".into(),
            rotation_interval_days: 30,
            rotate_at_hours: 0,
            rotate_at_minutes: 0,
            is_auto_rotation_enabled: true,
            next_rotation_at: None,
            status: "pending".into(),
            last_rotation_message: None,
            last_rotated_at: None,
            last_rotation_attempted_at: None,
            is_last_rotation_manual: false,
            active_index: 0,
            overlap_seconds: None,
            due_at: None,
            rotate_requested_at: None,
            current_attempt_id: None,
            lease_owner: None,
            lease_expires_at: None,
            lease_epoch: 0,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn in_progress_means_attempt_request_or_live_lease() {
        let now = OffsetDateTime::now_utc();
        let idle = rotation();
        assert!(!idle.is_in_progress(now));
        let mut r = rotation();
        r.current_attempt_id = Some(AttemptId::new());
        assert!(r.is_in_progress(now));
        let mut r = rotation();
        r.rotate_requested_at = Some(now);
        assert!(r.is_in_progress(now));
        let mut r = rotation();
        r.lease_expires_at = Some(now + time::Duration::seconds(5));
        assert!(r.is_in_progress(now));
        r.lease_expires_at = Some(now - time::Duration::seconds(5));
        assert!(!r.is_in_progress(now), "an expired lease is not progress");
    }
}
