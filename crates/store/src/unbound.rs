//! Secrets sealed before their binding to a tenant and client existed (`secret_bound = false`,
//! see migration `20261206000001_secret_binding.sql`): found in id order and swapped for their
//! re-sealed envelopes. The re-sealing itself is the broker's, which holds the keyring.

use sqlx::PgPool;
use uuid::Uuid;

use crate::connections::Sealed;
use crate::{ConnectionId, CredentialId, ProjectId, Result, RotationId};

/// A connection secret still under the old binding.
#[derive(Debug, sqlx::FromRow)]
pub struct UnboundConnection {
    pub id: ConnectionId,
    pub project_id: ProjectId,
    pub domain: String,
    pub client_id: String,
    pub client_secret_sealed: Sealed,
}

/// A generated secret still under the old binding, with the rotation and project it belongs to.
#[derive(Debug, sqlx::FromRow)]
pub struct UnboundCredential {
    pub id: CredentialId,
    pub rotation_id: RotationId,
    pub project_id: ProjectId,
    pub domain: String,
    pub client_id: String,
    pub client_secret_sealed: Sealed,
}

pub async fn connections(pool: &PgPool, after: Uuid, limit: i64) -> Result<Vec<UnboundConnection>> {
    Ok(sqlx::query_as(
        "select id, project_id, domain, client_id, client_secret_sealed from app_connections \
         where not secret_bound and id > $1 order by id limit $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub async fn credentials(pool: &PgPool, after: Uuid, limit: i64) -> Result<Vec<UnboundCredential>> {
    Ok(sqlx::query_as(
        "select c.id, c.rotation_id, r.project_id, c.domain, c.client_id, c.client_secret_sealed \
         from rotation_credentials c join secret_rotations r on r.id = c.rotation_id \
         where not c.secret_bound and c.id > $1 order by c.id limit $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Stores a re-sealed connection secret unless the row changed since it was read (then the
/// writer sealed it bound already, or the next pass sees it again). `false`: left alone.
pub async fn bind_connection(
    pool: &PgPool,
    id: ConnectionId,
    old: &Sealed,
    new: &Sealed,
) -> Result<bool> {
    swap(
        pool,
        "update app_connections set client_secret_sealed = $3, secret_bound = true \
         where id = $1 and client_secret_sealed = $2 and not secret_bound",
        id.0,
        old,
        new,
    )
    .await
}

/// As [`bind_connection`], for a generated secret.
pub async fn bind_credential(
    pool: &PgPool,
    id: CredentialId,
    old: &Sealed,
    new: &Sealed,
) -> Result<bool> {
    swap(
        pool,
        "update rotation_credentials set client_secret_sealed = $3, secret_bound = true \
         where id = $1 and client_secret_sealed = $2 and not secret_bound",
        id.0,
        old,
        new,
    )
    .await
}

/// One compare-and-swap of a sealed value: `true` if the row still held `old`.
async fn swap(
    pool: &PgPool,
    sql: &'static str,
    id: Uuid,
    old: &Sealed,
    new: &Sealed,
) -> Result<bool> {
    let done = sqlx::query(sql)
        .bind(id)
        .bind(old)
        .bind(new)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}
