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

/// The key a connection switches to when it has rotated its own key.
#[derive(Debug)]
pub struct Switch<'a> {
    pub connection_id: ConnectionId,
    /// The `kid` the connection signs with now: the switch happens only from that key, so a
    /// connection whose key changed meanwhile is left alone.
    pub from_kid: &'a str,
    pub key: &'a PrivateKey,
    pub public_key: crate::connections::PublicKey<'a>,
}

/// Switches the connection to a new key pair: its private key row (given the new row id the
/// sealed bytes are bound to) and its public columns, as registered (a token was obtained with
/// it), with a new version so cached tokens signed for the old one are not reused. `false` when
/// the connection no longer signs with `from_kid` (nothing changed). Call it in the transaction
/// that records the rotation's progress.
pub async fn switch(conn: &mut PgConnection, switch: &Switch<'_>) -> Result<bool> {
    let switched = sqlx::query(
        "with connection as ( \
             update app_connections set key_kid = $3, key_alg = $4, public_key_pem = $5, \
                 public_key_jwk = $6, key_registered_at = now(), version = version + 1, \
                 updated_at = now() \
             where id = $1 and method = 'private-key-jwt' and key_kid = $2 \
             returning id) \
         update connection_private_keys set id = $7, private_key_sealed = $8, created_at = now() \
         where connection_id in (select id from connection)",
    )
    .bind(switch.connection_id)
    .bind(switch.from_kid)
    .bind(switch.public_key.kid)
    .bind(switch.public_key.alg)
    .bind(switch.public_key.pem)
    .bind(switch.public_key.jwk)
    .bind(switch.key.id)
    .bind(&switch.key.private_key_sealed)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(switched == 1)
}
