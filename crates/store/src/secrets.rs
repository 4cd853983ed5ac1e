//! `secrets` and `secret_versions`: a project secret (key, comment, current version) in a folder of
//! an environment, and one row per version holding its sealed value. Sealed bytes in and out only:
//! the API seals each version's value for its row (see `broker::aad::secret_value`) before it gets
//! here. Writes keep the last [`HISTORY_KEPT`] versions of each secret and drop older ones.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use crate::connections::Sealed;
use crate::{EnvironmentId, FolderId, ProjectId, Result, SecretId, SecretVersionId};

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

const SELECT: &str = "select s.id, s.project_id, s.environment_id, e.slug as environment_slug, \
     s.folder_id, f.path as folder_path, s.key, v.version, s.version as latest_version, \
     v.comment, v.id as version_id, v.value_sealed, s.created_at, v.created_at as updated_at \
     from secrets s \
     join secret_folders f on f.id = s.folder_id \
     join environments e on e.id = s.environment_id \
     join secret_versions v on v.secret_id = s.id";

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
}

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
    get(conn, new.folder_id, new.key, None).await
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
}

pub async fn add_version(conn: &mut PgConnection, next: &NextVersion<'_>) -> Result<Secret> {
    let version = next.expected + 1;
    let folder: Option<FolderId> = sqlx::query_scalar(
        "update secrets set version = $3, key = $4, comment = $5, updated_at = now() \
         where id = $1 and version = $2 returning folder_id",
    )
    .bind(next.secret_id)
    .bind(next.expected)
    .bind(version)
    .bind(next.key)
    .bind(next.comment)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(folder) = folder else {
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
    get(conn, folder, next.key, None).await
}

/// Deletes a secret with its history.
pub async fn delete(conn: &mut PgConnection, id: SecretId) -> Result<()> {
    let done = sqlx::query("delete from secrets where id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(crate::Error::NotFound);
    }
    Ok(())
}
