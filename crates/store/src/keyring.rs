//! Root keyring bookkeeping: the one list of columns that hold sealed envelopes
//! ([`SEALED_COLUMNS`]), the queries that count and walk them by root key id for `keyhold keys
//! status` and `keyhold keys rewrap`, and the `keyring_check_values` table the start-up check
//! pins key ids with. Like every store module it moves sealed bytes only: re-wrapping and check
//! values are computed by the caller, which holds the keyring.
//!
//! Each sealed column has a generated `*_key_id` column (the id in the envelope's header, see
//! migration `20261123000004_keyring.sql`) and an index on `(key_id, id)`, so finding the records
//! of one key costs the same however many records other keys have.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Result;
use crate::connections::Sealed;

/// A column of sealed envelopes and where its records' associated data comes from: an envelope
/// in `table.sealed_column` is bound to `Aad { table, record_id: id as text, field: aad_field }`.
#[derive(Debug)]
pub struct SealedColumn {
    pub table: &'static str,
    /// A `uuid` primary key; its hyphenated text is the associated data's record id.
    pub id_column: &'static str,
    pub sealed_column: &'static str,
    /// The generated column holding the envelope header's root key id (null if unreadable).
    pub key_id_column: &'static str,
    pub aad_field: &'static str,
    sql: Statements,
}

/// This column's statements, spelled out at compile time so they stay `&'static str`.
#[derive(Debug)]
struct Statements {
    counts: &'static str,
    key_ids: &'static str,
    batch: &'static str,
    swap: &'static str,
}

// Unformatted so each statement reads as SQL rather than one fragment per line.
#[rustfmt::skip]
macro_rules! sealed_column {
    ($table:literal, $id:literal, $sealed:literal, $key_id:literal, $field:literal) => {
        SealedColumn {
            table: $table,
            id_column: $id,
            sealed_column: $sealed,
            key_id_column: $key_id,
            aad_field: $field,
            sql: Statements {
                // Rows without a value in this column (a Private Key JWT connection has no client
                // secret) are no record of it; only bytes without a readable header are damaged.
                counts: concat!(
                    "select ", $key_id, ", count(*) from ", $table, " where ", $sealed,
                    " is not null group by 1 order by 1"
                ),
                // Distinct key ids by skipping through the (key_id, id) index: one probe per
                // key id instead of reading every row, so start-up stays fast on big tables.
                key_ids: concat!(
                    "with recursive ids (key_id) as ( \
                       (select ", $key_id, " from ", $table, " where ", $key_id, " is not null \
                        order by 1 limit 1) \
                       union all \
                       select (select t.", $key_id, " from ", $table, " t \
                               where t.", $key_id, " > ids.key_id order by 1 limit 1) \
                       from ids where ids.key_id is not null) \
                     select key_id from ids where key_id is not null \
                     union all \
                     select null where exists (select 1 from ", $table, " where ", $key_id,
                    " is null and ", $sealed, " is not null)"
                ),
                batch: concat!(
                    "select ", $id, ", ", $sealed, " from ", $table, " where ", $key_id,
                    " = $1 and ", $id, " > $2 order by ", $id, " limit $3"
                ),
                // Compare-and-swap on the old bytes: a row a concurrent writer changed since
                // the batch was read is left alone (READ COMMITTED re-checks the condition on
                // the newest row version). Deliberately leaves `version` and `updated_at`: the
                // secret is unchanged, so API clients' If-Match and token caches stay valid.
                swap: concat!(
                    "update ", $table, " as t set ", $sealed, " = u.new \
                     from unnest($1::uuid[], $2::bytea[], $3::bytea[]) as u (id, old, new) \
                     where t.", $id, " = u.id and t.", $sealed, " = u.old"
                ),
            },
        }
    };
}

/// Every column that holds sealed envelopes. A new sealed column must be added here (and given
/// a generated key id column and index in a migration), or rotation would leave it behind.
pub static SEALED_COLUMNS: &[SealedColumn] = &[
    sealed_column!(
        "app_connections",
        "id",
        "client_secret_sealed",
        "client_secret_key_id",
        "client_secret"
    ),
    sealed_column!(
        "rotation_credentials",
        "id",
        "client_secret_sealed",
        "client_secret_key_id",
        "client_secret"
    ),
    sealed_column!(
        "secret_versions",
        "id",
        "value_sealed",
        "value_key_id",
        "value"
    ),
    sealed_column!(
        "webhook_signing_secrets",
        "id",
        "secret_sealed",
        "secret_key_id",
        "signing_secret"
    ),
    sealed_column!(
        "connection_private_keys",
        "id",
        "private_key_sealed",
        "private_key_key_id",
        "private_key"
    ),
    sealed_column!(
        "audit_streams",
        "id",
        "secret_sealed",
        "secret_key_id",
        "audit_stream_signing_secret"
    ),
    sealed_column!(
        "audit_stream_headers",
        "stream_id",
        "headers_sealed",
        "headers_key_id",
        "audit_stream_headers"
    ),
    sealed_column!(
        "rotation_key_pairs",
        "id",
        "private_key_sealed",
        "private_key_key_id",
        "private_key"
    ),
];

/// How many records of one sealed column name one root key id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyCount {
    pub table: &'static str,
    /// `None`: the value has no readable version-1 header (damaged, or a newer format).
    pub key_id: Option<String>,
    pub records: i64,
}

/// Records per root key id in every sealed column (one index-only pass per column).
pub async fn counts(pool: &PgPool) -> Result<Vec<KeyCount>> {
    let mut out = Vec::new();
    for column in SEALED_COLUMNS {
        let rows: Vec<(Option<String>, i64)> =
            sqlx::query_as(column.sql.counts).fetch_all(pool).await?;
        out.extend(rows.into_iter().map(|(key_id, records)| KeyCount {
            table: column.table,
            key_id,
            records,
        }));
    }
    Ok(out)
}

/// A root key id some records of `table` use (`None`: some records have no readable header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUse {
    pub table: &'static str,
    pub key_id: Option<String>,
}

/// The distinct key ids in use per sealed column, without counting: a few index probes per key
/// id, so it suits every process start.
pub async fn key_ids_in_use(pool: &PgPool) -> Result<Vec<KeyUse>> {
    let mut out = Vec::new();
    for column in SEALED_COLUMNS {
        let ids: Vec<Option<String>> = sqlx::query_scalar(column.sql.key_ids)
            .fetch_all(pool)
            .await?;
        out.extend(ids.into_iter().map(|key_id| KeyUse {
            table: column.table,
            key_id,
        }));
    }
    Ok(out)
}

/// One sealed value and the id of the row holding it.
#[derive(Clone, Debug)]
pub struct SealedRecord {
    pub id: Uuid,
    pub sealed: Sealed,
}

/// The next `limit` records of `column` sealed under `key_id` after `after`, in id order:
/// rewrap's keyset walk (also used to sample records a key should open).
pub async fn batch(
    pool: &PgPool,
    column: &SealedColumn,
    key_id: &str,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<SealedRecord>> {
    // The nil UUID sorts before every other and is no record's id, so it starts the walk while
    // the condition stays a plain range on the (key_id, id) index.
    let rows: Vec<(Uuid, Sealed)> = sqlx::query_as(column.sql.batch)
        .bind(key_id)
        .bind(after.unwrap_or(Uuid::nil()))
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, sealed)| SealedRecord { id, sealed })
        .collect())
}

/// A record's envelope before and after re-wrapping.
#[derive(Clone, Debug)]
pub struct Swap {
    pub id: Uuid,
    pub old: Sealed,
    pub new: Sealed,
}

/// Writes each `new` where the row still holds `old`, in one statement; returns how many rows
/// changed. The others were rewritten meanwhile by someone else and keep that write.
pub async fn swap(pool: &PgPool, column: &SealedColumn, swaps: &[Swap]) -> Result<u64> {
    if swaps.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = swaps.iter().map(|s| s.id).collect();
    let old: Vec<&[u8]> = swaps.iter().map(|s| s.old.0.as_slice()).collect();
    let new: Vec<&[u8]> = swaps.iter().map(|s| s.new.0.as_slice()).collect();
    let done = sqlx::query(column.sql.swap)
        .bind(ids)
        .bind(old)
        .bind(new)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// The check value recorded for a root key id.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct CheckValue {
    pub key_id: String,
    pub check_value: String,
    pub recorded_at: OffsetDateTime,
}

/// Every recorded check value, by key id.
pub async fn check_values(pool: &PgPool) -> Result<Vec<CheckValue>> {
    Ok(sqlx::query_as(
        "select key_id, check_value, recorded_at from keyring_check_values order by key_id",
    )
    .fetch_all(pool)
    .await?)
}

/// Records `check_value` for `key_id` unless one is recorded already, and returns what is
/// recorded afterwards: the caller compares, so two processes starting at once with different
/// keys under one id cannot both win.
pub async fn record_check_value(
    pool: &PgPool,
    key_id: &str,
    check_value: &str,
) -> Result<CheckValue> {
    sqlx::query(
        "insert into keyring_check_values (key_id, check_value) values ($1, $2) \
         on conflict (key_id) do nothing",
    )
    .bind(key_id)
    .bind(check_value)
    .execute(pool)
    .await?;
    // A separate statement: one that inserted concurrently is visible only to a new snapshot.
    Ok(sqlx::query_as(
        "select key_id, check_value, recorded_at from keyring_check_values where key_id = $1",
    )
    .bind(key_id)
    .fetch_one(pool)
    .await?)
}

/// A session-level advisory lock that keeps two rewraps from walking the same rows. It lives on
/// its own connection, detached from the pool, so it ends with that connection: on
/// [`RewrapLock::release`], on drop, or when the process dies.
pub struct RewrapLock {
    conn: PgConnection,
}

impl std::fmt::Debug for RewrapLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RewrapLock")
    }
}

/// `None` when another rewrap holds the lock.
pub async fn try_lock_rewrap(pool: &PgPool) -> Result<Option<RewrapLock>> {
    let mut conn = pool.acquire().await?.detach();
    let locked: bool =
        sqlx::query_scalar("select pg_try_advisory_lock(hashtext('keyhold.keys.rewrap'))")
            .fetch_one(&mut conn)
            .await?;
    Ok(locked.then_some(RewrapLock { conn }))
}

impl RewrapLock {
    pub async fn release(self) -> Result<()> {
        use sqlx::Connection as _;
        // Closing the session is what releases a session-level advisory lock.
        self.conn.close().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in envelope: the store reads only the header, never the cryptography.
    fn envelope(key_id: &str, tail: u8) -> Sealed {
        let mut bytes = vec![1, u8::try_from(key_id.len()).expect("short id")];
        bytes.extend_from_slice(key_id.as_bytes());
        bytes.extend_from_slice(&[tail; 100]);
        Sealed(bytes)
    }

    async fn project(pool: &PgPool) -> (Uuid, Uuid) {
        let org = Uuid::now_v7();
        let project = Uuid::now_v7();
        sqlx::query("insert into orgs (id, name) values ($1, 'o')")
            .bind(org)
            .execute(pool)
            .await
            .expect("org");
        sqlx::query("insert into projects (id, org_id, name) values ($1, $2, 'p')")
            .bind(project)
            .bind(org)
            .execute(pool)
            .await
            .expect("project");
        (org, project)
    }

    async fn connection(pool: &PgPool, at: (Uuid, Uuid), n: usize, sealed: &Sealed) -> Uuid {
        let id = Uuid::now_v7();
        sqlx::query(
            "insert into app_connections (id, org_id, project_id, method, name, domain, client_id, \
             audience, client_secret_sealed) values ($1, $2, $3, 'client-credentials', $4, \
             'x.auth0.com', 'c', 'https://x.auth0.com/api/v2/', $5)",
        )
        .bind(id)
        .bind(at.0)
        .bind(at.1)
        .bind(format!("c-{n}"))
        .bind(sealed)
        .execute(pool)
        .await
        .expect("connection");
        id
    }

    fn app_connections() -> &'static SealedColumn {
        SEALED_COLUMNS
            .iter()
            .find(|c| c.table == "app_connections")
            .expect("listed")
    }

    #[test]
    fn statements_name_their_columns() {
        for column in SEALED_COLUMNS {
            for sql in [
                column.sql.counts,
                column.sql.key_ids,
                column.sql.batch,
                column.sql.swap,
            ] {
                assert!(sql.contains(column.table), "{sql}");
            }
            assert!(column.sql.swap.contains(column.sealed_column));
            assert!(column.sql.batch.contains(column.key_id_column));
        }
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn key_id_column_reads_the_header_and_nulls_damage(pool: PgPool) {
        let at = project(&pool).await;
        connection(&pool, at, 1, &envelope("k1", 0)).await;
        connection(&pool, at, 2, &envelope("k1", 1)).await;
        connection(&pool, at, 3, &envelope("key-2", 0)).await;
        connection(&pool, at, 4, &Sealed(vec![1, 9, b'x'])).await;
        connection(&pool, at, 5, &Sealed(vec![2, 2, b'k', b'1', 0, 0])).await;

        let mut counts: Vec<KeyCount> = counts(&pool)
            .await
            .expect("counts")
            .into_iter()
            .filter(|c| c.table == "app_connections")
            .collect();
        counts.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        let got: Vec<(Option<&str>, i64)> = counts
            .iter()
            .map(|c| (c.key_id.as_deref(), c.records))
            .collect();
        assert_eq!(got, vec![(None, 2), (Some("k1"), 2), (Some("key-2"), 1)]);

        let mut used: Vec<Option<String>> = key_ids_in_use(&pool)
            .await
            .expect("ids")
            .into_iter()
            .filter(|u| u.table == "app_connections")
            .map(|u| u.key_id)
            .collect();
        used.sort();
        assert_eq!(used, vec![None, Some("k1".into()), Some("key-2".into())]);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn batches_walk_one_key_in_id_order(pool: PgPool) {
        let at = project(&pool).await;
        let mut k1 = Vec::new();
        for n in 0..5 {
            k1.push(connection(&pool, at, n, &envelope("k1", 0)).await);
            connection(&pool, at, 100 + n, &envelope("k2", 0)).await;
        }
        let column = app_connections();
        let first = batch(&pool, column, "k1", None, 3).await.expect("batch");
        let second = batch(&pool, column, "k1", first.last().map(|r| r.id), 3)
            .await
            .expect("batch");
        let walked: Vec<Uuid> = first.iter().chain(&second).map(|r| r.id).collect();
        assert_eq!(walked, k1, "every k1 record once, in id order, no k2");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn swap_never_overwrites_a_concurrent_write(pool: PgPool) {
        let at = project(&pool).await;
        let old = envelope("k1", 0);
        let a = connection(&pool, at, 1, &old).await;
        let b = connection(&pool, at, 2, &old).await;
        // Someone (the API, the worker) writes b's secret after rewrap read the batch.
        let concurrent = envelope("k1", 7);
        sqlx::query("update app_connections set client_secret_sealed = $2 where id = $1")
            .bind(b)
            .bind(&concurrent)
            .execute(&pool)
            .await
            .expect("concurrent write");

        let new = envelope("k2", 0);
        let swaps = [a, b].map(|id| Swap {
            id,
            old: old.clone(),
            new: new.clone(),
        });
        let changed = swap(&pool, app_connections(), &swaps).await.expect("swap");
        assert_eq!(changed, 1);

        let stored: Vec<(Uuid, Sealed, Option<String>, i64)> = sqlx::query_as(
            "select id, client_secret_sealed, client_secret_key_id, version \
             from app_connections order by id",
        )
        .fetch_all(&pool)
        .await
        .expect("read back");
        assert_eq!(
            stored[0],
            (a, new, Some("k2".into()), 1),
            "swapped, version kept"
        );
        assert_eq!(
            stored[1],
            (b, concurrent, Some("k1".into()), 1),
            "left alone"
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn first_recorded_check_value_wins(pool: PgPool) {
        let first = record_check_value(&pool, "k1", &"a".repeat(32))
            .await
            .expect("record");
        assert_eq!(first.check_value, "a".repeat(32));
        let again = record_check_value(&pool, "k1", &"b".repeat(32))
            .await
            .expect("record");
        assert_eq!(again, first, "an existing value is returned, not replaced");
        assert_eq!(check_values(&pool).await.expect("list"), vec![first]);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn one_rewrap_at_a_time(pool: PgPool) {
        let held = try_lock_rewrap(&pool).await.expect("lock").expect("free");
        assert!(try_lock_rewrap(&pool).await.expect("lock").is_none());
        held.release().await.expect("release");
        let again = try_lock_rewrap(&pool).await.expect("lock");
        assert!(again.is_some(), "released with its session");
    }
}
