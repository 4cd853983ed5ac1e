//! `secrets` and `secret_versions`: a project secret (key, comment, current version) in a folder of
//! an environment, and one row per version holding its sealed value. Sealed bytes in and out only:
//! the API seals each version's value for its row (see `broker::aad::secret_value`) before it gets
//! here. Writes keep the last [`HISTORY_KEPT`] versions of each secret and drop older ones.
//!
//! Every write names its [`Writer`] and enqueues its `secret.created`, `secret.updated` or
//! `secret.deleted` webhook event on the same connection ([`events`]): call them inside the
//! transaction of the change, and a rolled-back write reports nothing.

pub mod events;

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use crate::connections::Sealed;
use crate::{EnvironmentId, FolderId, ProjectId, Result, SecretId, SecretVersionId};
pub use events::Writer;
use events::Written;

/// Versions of each secret kept (at least); older ones are deleted by the write that adds one.
pub const HISTORY_KEPT: i64 = 10;

/// A secret at one version, with that version's sealed value.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Secret {
    pub id: SecretId,
    pub project_id: ProjectId,
    pub environment_id: EnvironmentId,
    pub environment_slug: String,
    pub folder_id: FolderId,
    pub folder_path: String,
    pub key: String,
    /// The version this row shows (the current one unless a past version was asked for).
    pub version: i64,
    /// The secret's current version.
    pub latest_version: i64,
    pub comment: String,
    pub version_id: SecretVersionId,
    pub value_sealed: Sealed,
    pub created_at: OffsetDateTime,
    /// When this version was written.
    pub updated_at: OffsetDateTime,
}

/// The columns of a [`Secret`] over `secrets s`, `secret_folders f`, `environments e` and
/// `secret_versions v` (a macro so `concat!` can build statements from it).
macro_rules! columns {
    () => {
        "s.id, s.project_id, s.environment_id, e.slug as environment_slug, \
         s.folder_id, f.path as folder_path, s.key, v.version, s.version as latest_version, \
         v.comment, v.id as version_id, v.value_sealed, s.created_at, v.created_at as updated_at"
    };
}

const SELECT: &str = concat!(
    "select ",
    columns!(),
    " from secrets s \
     join secret_folders f on f.id = s.folder_id \
     join environments e on e.id = s.environment_id \
     join secret_versions v on v.secret_id = s.id"
);

/// The current version of every secret in these folders, by folder path then key.
pub async fn list(pool: &PgPool, folders: &[FolderId]) -> Result<Vec<Secret>> {
    let ids: Vec<uuid::Uuid> = folders.iter().map(|f| f.0).collect();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where s.folder_id = any($1) and v.version = s.version order by f.path, s.key"
    )))
    .bind(ids)
    .fetch_all(pool)
    .await?)
}

/// Where a secret lives, by the names a reference uses: environment slug, folder path, key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretAddress {
    pub environment: String,
    pub path: String,
    pub key: String,
}

/// The current version of the secrets at these addresses of a project, in one query (reference
/// expansion asks for every secret one level of references names at once). Addresses with no
/// secret (unknown environment, folder or key) are simply absent from the answer.
pub async fn at_places(
    pool: &PgPool,
    project_id: ProjectId,
    places: &[SecretAddress],
) -> Result<Vec<Secret>> {
    if places.is_empty() {
        return Ok(Vec::new());
    }
    let environments: Vec<&str> = places.iter().map(|p| p.environment.as_str()).collect();
    let paths: Vec<&str> = places.iter().map(|p| p.path.as_str()).collect();
    let keys: Vec<&str> = places.iter().map(|p| p.key.as_str()).collect();
    Ok(sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from unnest($2::text[], $3::text[], $4::text[]) as p(environment, path, key) \
         join environments e on e.project_id = $1 and e.slug = p.environment \
         join secret_folders f on f.environment_id = e.id and f.path = p.path \
         join secrets s on s.folder_id = f.id and s.key = p.key \
         join secret_versions v on v.secret_id = s.id and v.version = s.version"
    ))
    .bind(project_id)
    .bind(environments)
    .bind(paths)
    .bind(keys)
    .fetch_all(pool)
    .await?)
}

/// The secret at `address` in a project at `version` (`None`: the current one), in one statement.
/// `NotFound` when the environment, folder, key or version is not there.
pub async fn at_address(
    pool: &PgPool,
    project_id: ProjectId,
    address: &SecretAddress,
    version: Option<i64>,
) -> Result<Secret> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where e.project_id = $1 and e.slug = $2 and f.path = $3 and s.key = $4 \
         and v.version = coalesce($5, s.version)"
    )))
    .bind(project_id)
    .bind(&address.environment)
    .bind(&address.path)
    .bind(&address.key)
    .bind(version)
    .fetch_one(pool)
    .await?)
}

/// One read by name and the audit row that records it, for [`read_many`].
#[derive(Debug)]
pub struct AuditedRead {
    pub project_id: ProjectId,
    pub address: SecretAddress,
    pub version: Option<i64>,
    /// Its `resource_id` is the secret's id unless it names one, and its metadata gets `secrets`:
    /// the secret's id, key and version.
    pub event: crate::audit::NewEvent,
}

#[derive(sqlx::FromRow)]
struct Numbered {
    n: i64,
    #[sqlx(flatten)]
    secret: Secret,
}

/// Reads by name of any callers and projects, each with its audit row naming the secret it found,
/// in one statement: one round trip and one commit for all. The answer has one entry per read, in order: `None` where
/// nothing was found (and nothing recorded).
pub async fn read_many(
    conn: &mut PgConnection,
    reads: &[AuditedRead],
) -> Result<Vec<Option<Secret>>> {
    let ids: Vec<uuid::Uuid> = reads.iter().map(|_| uuid::Uuid::now_v7()).collect();
    let text = |f: fn(&AuditedRead) -> Option<&str>| reads.iter().map(f).collect::<Vec<_>>();
    let rows: Vec<Numbered> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "with r as (select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], \
           $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
           $12::jsonb[], $13::uuid[], $14::text[], $15::text[], $16::text[], $17::int8[]) \
           with ordinality as r(audit_id, org_id, event_project_id, actor_id, actor_kind, action, \
             resource_type, resource_id, outcome, request_id, source_ip, metadata, project_id, \
             environment, path, key, version, n)), \
         found as (select r.n, {columns} from r \
           join environments e on e.project_id = r.project_id and e.slug = r.environment \
           join secret_folders f on f.environment_id = e.id and f.path = r.path \
           join secrets s on s.folder_id = f.id and s.key = r.key \
           join secret_versions v on v.secret_id = s.id and v.version = coalesce(r.version, s.version)), \
         audited as (insert into audit_events (id, org_id, project_id, actor_id, actor_kind, \
           action, resource_type, resource_id, outcome, request_id, source_ip, metadata) \
           select r.audit_id, r.org_id, r.event_project_id, r.actor_id, r.actor_kind, r.action, \
             r.resource_type, coalesce(r.resource_id, found.id::text), r.outcome, r.request_id, \
             r.source_ip, r.metadata || jsonb_build_object('secrets', jsonb_build_array(\
               jsonb_build_object('id', found.id, 'key', found.key, 'version', found.version))) \
           from found join r on r.n = found.n) \
         select * from found",
        columns = columns!(),
    )))
    .bind(ids)
    .bind(reads.iter().map(|r| r.event.org_id.map(|o| o.0)).collect::<Vec<_>>())
    .bind(reads.iter().map(|r| r.event.project_id.map(|p| p.0)).collect::<Vec<_>>())
    .bind(reads.iter().map(|r| r.event.actor_id).collect::<Vec<_>>())
    .bind(text(|r| Some(&r.event.actor_kind)))
    .bind(text(|r| Some(&r.event.action)))
    .bind(text(|r| Some(&r.event.resource_type)))
    .bind(text(|r| r.event.resource_id.as_deref()))
    .bind(text(|r| Some(&r.event.outcome)))
    .bind(text(|r| r.event.request_id.as_deref()))
    .bind(text(|r| r.event.source_ip.as_deref()))
    .bind(reads.iter().map(|r| &r.event.metadata).collect::<Vec<_>>())
    .bind(reads.iter().map(|r| r.project_id.0).collect::<Vec<_>>())
    .bind(text(|r| Some(&r.address.environment)))
    .bind(text(|r| Some(&r.address.path)))
    .bind(text(|r| Some(&r.address.key)))
    .bind(reads.iter().map(|r| r.version).collect::<Vec<_>>())
    .fetch_all(conn)
    .await?;
    let mut answers: Vec<Option<Secret>> = reads.iter().map(|_| None).collect();
    for row in rows {
        if let Some(slot) = usize::try_from(row.n - 1)
            .ok()
            .and_then(|i| answers.get_mut(i))
        {
            *slot = Some(row.secret);
        }
    }
    Ok(answers)
}

/// The secret `key` of a folder at `version` (`None`: the current one). `NotFound` for an
/// unknown key or a version not (or no longer) kept.
pub async fn get(
    conn: &mut PgConnection,
    folder_id: FolderId,
    key: &str,
    version: Option<i64>,
) -> Result<Secret> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where s.folder_id = $1 and s.key = $2 and v.version = coalesce($3, s.version)"
    )))
    .bind(folder_id)
    .bind(key)
    .bind(version)
    .fetch_one(conn)
    .await?)
}

/// Whether a secret `key` exists in the folder (at any version).
pub async fn exists(conn: &mut PgConnection, folder_id: FolderId, key: &str) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "select exists (select 1 from secrets where folder_id = $1 and key = $2)",
    )
    .bind(folder_id)
    .bind(key)
    .fetch_one(conn)
    .await?)
}

/// A new secret at version 1; its value was sealed for `version_id` and version 1.
#[derive(Debug)]
pub struct NewSecret<'a> {
    pub id: SecretId,
    pub project_id: ProjectId,
    pub environment_id: EnvironmentId,
    pub folder_id: FolderId,
    pub key: &'a str,
    pub comment: &'a str,
    pub version_id: SecretVersionId,
    pub value_sealed: &'a Sealed,
    /// Who writes it, for the `secret.created` event.
    pub by: Writer,
}

/// Creates a secret at version 1 and enqueues `secret.created`.
pub async fn create(conn: &mut PgConnection, new: &NewSecret<'_>) -> Result<Secret> {
    sqlx::query(
        "insert into secrets (id, project_id, environment_id, folder_id, key, version, comment) \
         values ($1, $2, $3, $4, $5, 1, $6)",
    )
    .bind(new.id)
    .bind(new.project_id)
    .bind(new.environment_id)
    .bind(new.folder_id)
    .bind(new.key)
    .bind(new.comment)
    .execute(&mut *conn)
    .await?;
    insert_version(
        conn,
        new.id,
        1,
        new.version_id,
        new.value_sealed,
        new.comment,
    )
    .await?;
    let secret = get(conn, new.folder_id, new.key, None).await?;
    events::report(conn, events::CREATED, &Written::from(&secret), new.by, None).await?;
    Ok(secret)
}

async fn insert_version(
    conn: &mut PgConnection,
    secret_id: SecretId,
    version: i64,
    id: SecretVersionId,
    sealed: &Sealed,
    comment: &str,
) -> Result<()> {
    sqlx::query(
        "insert into secret_versions (id, secret_id, version, value_sealed, comment) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(secret_id)
    .bind(version)
    .bind(sealed)
    .bind(comment)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The next version of a secret: `expected` is the version the caller read (and sealed the new
/// value for as `expected + 1`); another writer in between makes this `VersionMismatch`.
#[derive(Debug)]
pub struct NextVersion<'a> {
    pub secret_id: SecretId,
    pub expected: i64,
    pub key: &'a str,
    pub comment: &'a str,
    pub version_id: SecretVersionId,
    pub value_sealed: &'a Sealed,
    /// Who writes it, for the `secret.updated` event.
    pub by: Writer,
}

/// Adds the next version (renaming the secret when `key` differs) and enqueues `secret.updated`.
pub async fn add_version(conn: &mut PgConnection, next: &NextVersion<'_>) -> Result<Secret> {
    let version = next.expected + 1;
    // `old` is the row as it was before this statement: its key tells whether this renamed it.
    let updated: Option<(FolderId, String)> = sqlx::query_as(
        "update secrets s set version = $3, key = $4, comment = $5, updated_at = now() \
         from secrets old where s.id = $1 and s.version = $2 and old.id = s.id \
         returning s.folder_id, old.key",
    )
    .bind(next.secret_id)
    .bind(next.expected)
    .bind(version)
    .bind(next.key)
    .bind(next.comment)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((folder, previous_key)) = updated else {
        let current: Option<i64> = sqlx::query_scalar("select version from secrets where id = $1")
            .bind(next.secret_id)
            .fetch_optional(&mut *conn)
            .await?;
        return Err(match current {
            Some(current) => crate::Error::VersionMismatch { current },
            None => crate::Error::NotFound,
        });
    };
    insert_version(
        conn,
        next.secret_id,
        version,
        next.version_id,
        next.value_sealed,
        next.comment,
    )
    .await?;
    sqlx::query("delete from secret_versions where secret_id = $1 and version <= $2")
        .bind(next.secret_id)
        .bind(version - HISTORY_KEPT)
        .execute(&mut *conn)
        .await?;
    let secret = get(conn, folder, next.key, None).await?;
    let renamed = (previous_key != next.key).then_some(previous_key.as_str());
    events::report(
        conn,
        events::UPDATED,
        &Written::from(&secret),
        next.by,
        renamed,
    )
    .await?;
    Ok(secret)
}

/// Deletes a secret with its history and enqueues `secret.deleted` (naming its last version).
pub async fn delete(conn: &mut PgConnection, id: SecretId, by: &Writer) -> Result<()> {
    // The joined environment and folder are read as they were before the delete, which does not
    // touch them.
    let gone: Option<Written> = sqlx::query_as(
        "with gone as (delete from secrets where id = $1 \
           returning id, project_id, environment_id, folder_id, key, version) \
         select gone.id, gone.project_id, e.slug as environment_slug, f.path as folder_path, \
           gone.key, gone.version \
         from gone join environments e on e.id = gone.environment_id \
           join secret_folders f on f.id = gone.folder_id",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(gone) = gone else {
        return Err(crate::Error::NotFound);
    };
    events::report(conn, events::DELETED, &gone, *by, None).await
}
