//! Whether this database can serve: reachable, and migrated to what this binary embeds.

use sqlx::PgPool;

use crate::{MIGRATOR, Result};

#[derive(Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Applied migrations lag behind the binary: `keyhold migrate` has not run yet.
    MigrationsBehind {
        applied: i64,
        expected: i64,
    },
}

pub async fn check(pool: &PgPool) -> Result<Readiness> {
    let expected = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> =
        sqlx::query_scalar("select max(version) from _sqlx_migrations where success")
            .fetch_one(pool)
            .await
            .or_else(|err| match &err {
                // No migrations table yet: nothing applied.
                sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(None),
                _ => Err(err),
            })?;
    let applied = applied.unwrap_or(0);
    Ok(if applied >= expected {
        Readiness::Ready
    } else {
        Readiness::MigrationsBehind { applied, expected }
    })
}
