//! `connection_private_keys`: the sealed private key of a `private-key-jwt` connection. Kept apart
//! from `app_connections` so the rows every list and call loads never carry it: it is read only
//! when an assertion must be signed (a token cache miss). Sealed bytes only, like every store
//! module; `broker::aad` says what they are bound to.

use sqlx::{PgConnection, PgPool};

use crate::connections::Sealed;
use crate::{ConnectionId, PrivateKeyId, Result};

/// A connection's sealed private key and the id its associated data names.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PrivateKey {
    pub id: PrivateKeyId,
    pub connection_id: ConnectionId,
    pub private_key_sealed: Sealed,
}

/// Stores the connection's key; call in the transaction that inserts the connection.
pub async fn insert(conn: &mut PgConnection, key: &PrivateKey) -> Result<()> {
    sqlx::query(
        "insert into connection_private_keys (id, connection_id, private_key_sealed) \
         values ($1, $2, $3)",
    )
    .bind(key.id)
    .bind(key.connection_id)
    .bind(&key.private_key_sealed)
    .execute(conn)
    .await?;
    Ok(())
}

/// The connection's key; `Error::NotFound` if it has none (a `client-credentials` connection).
pub async fn get(pool: &PgPool, connection_id: ConnectionId) -> Result<PrivateKey> {
    Ok(sqlx::query_as(
        "select id, connection_id, private_key_sealed from connection_private_keys \
         where connection_id = $1",
    )
    .bind(connection_id)
    .fetch_one(pool)
    .await?)
}
