//! Idempotency keys: the first request with a key reserves it before doing any work, and later
//! requests with the same key get the stored answer back instead of doing the work again.

use sqlx::PgPool;

use crate::Result;

/// What reserving a key found.
#[derive(Debug, PartialEq)]
pub enum Reservation {
    /// The key is ours: do the work, then `complete` or `release`.
    Reserved,
    /// The same request finished before: answer with this.
    Replay {
        status: u16,
        body: serde_json::Value,
    },
    /// The same request is still being worked on by someone else.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

pub async fn reserve(
    pool: &PgPool,
    scope: &str,
    key: &str,
    request_hash: &[u8],
) -> Result<Reservation> {
    let inserted = sqlx::query(
        r#"insert into idempotency_keys (scope, key, request_hash) values ($1, $2, $3)
           on conflict on constraint idempotency_keys_pkey do nothing"#,
    )
    .bind(scope)
    .bind(key)
    .bind(request_hash)
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Reservation::Reserved);
    }
    let row: Option<(Vec<u8>, Option<i16>, Option<serde_json::Value>)> = sqlx::query_as(
        "select request_hash, status_code, response_body from idempotency_keys where scope = $1 and key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        // Released between our insert and select: the caller may simply retry.
        None => Reservation::InProgress,
        Some((hash, _, _)) if hash != request_hash => Reservation::Mismatch,
        Some((_, Some(status), Some(body))) => Reservation::Replay {
            status: u16::try_from(status).unwrap_or(500),
            body,
        },
        Some(_) => Reservation::InProgress,
    })
}

/// Stores the answer to replay.
pub async fn complete(
    pool: &PgPool,
    scope: &str,
    key: &str,
    status: u16,
    body: &serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "update idempotency_keys set status_code = $3, response_body = $4 where scope = $1 and key = $2",
    )
    .bind(scope)
    .bind(key)
    .bind(i16::try_from(status).unwrap_or(i16::MAX))
    .bind(body)
    .execute(pool)
    .await?;
    Ok(())
}

/// Frees the key after a failure that should not be replayed (the client may fix and retry).
pub async fn release(pool: &PgPool, scope: &str, key: &str) -> Result<()> {
    sqlx::query(
        "delete from idempotency_keys where scope = $1 and key = $2 and status_code is null",
    )
    .bind(scope)
    .bind(key)
    .execute(pool)
    .await?;
    Ok(())
}

/// Drops keys older than `max_age_secs`; run periodically.
pub async fn purge_older_than(pool: &PgPool, max_age_secs: i64) -> Result<u64> {
    let done = sqlx::query(
        "delete from idempotency_keys where created_at < now() - make_interval(secs => $1)",
    )
    .bind(max_age_secs as f64)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
