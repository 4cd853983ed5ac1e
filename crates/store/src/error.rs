//! The store's one error type. Constraint names surface here so the API can map them to 409/422
//! without "check then insert" races.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; `constraint` is its name from the migration.
    #[error("unique constraint {constraint} violated")]
    Duplicate { constraint: String },
    /// A referenced row does not exist (foreign key).
    #[error("referenced row missing ({constraint})")]
    MissingReference { constraint: String },
    /// Optimistic concurrency: the row's version is not the one the caller expected.
    #[error("version mismatch: current version is {current}")]
    VersionMismatch { current: i64 },
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => Error::NotFound,
            sqlx::Error::Database(db) => {
                let constraint = db.constraint().unwrap_or_default().to_owned();
                match db.kind() {
                    sqlx::error::ErrorKind::UniqueViolation => Error::Duplicate { constraint },
                    sqlx::error::ErrorKind::ForeignKeyViolation => {
                        Error::MissingReference { constraint }
                    }
                    _ if db.code().is_some_and(|code| server_unavailable(&code)) => {
                        Error::Unavailable(err)
                    }
                    _ => Error::Database(err),
                }
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => Error::Unavailable(err),
            _ => Error::Database(err),
        }
    }
}

/// SQLSTATEs the server sends when it, not the statement, is the problem: it is shutting down or
/// restarting (a pooled connection then reads `57P01 terminating connection due to administrator
/// command` on its next query), not accepting connections yet, out of connection slots, or the
/// connection broke (class 08, but for `08P01`, a protocol violation, which is a bug). Like a pool
/// timeout these are answered 503, and a retry after the restart succeeds.
fn server_unavailable(code: &str) -> bool {
    matches!(code, "57P01" | "57P02" | "57P03" | "53300")
        || (code.starts_with("08") && code != "08P01")
}

/// Explains why a version-fenced write touched no row: gone (`NotFound`) or moved on
/// (`VersionMismatch`). `sql` selects the row's `version` by `id = $1 and org_id = $2`.
pub(crate) async fn version_miss(
    conn: &mut sqlx::PgConnection,
    sql: &'static str,
    org_id: crate::OrgId,
    id: uuid::Uuid,
) -> Error {
    let current: Result<Option<i64>, sqlx::Error> = sqlx::query_scalar(sql)
        .bind(id)
        .bind(org_id)
        .fetch_optional(conn)
        .await;
    match current {
        Ok(Some(current)) => Error::VersionMismatch { current },
        Ok(None) => Error::NotFound,
        Err(err) => err.into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shutdown_and_connection_sqlstates_mean_unavailable() {
        for code in [
            "57P01", "57P02", "57P03", "53300", "08000", "08003", "08006",
        ] {
            assert!(super::server_unavailable(code), "{code}");
        }
        // Faults of the statement or the client stay database errors (500).
        for code in ["08P01", "57014", "40001", "42P01", "23514", "XX000"] {
            assert!(!super::server_unavailable(code), "{code}");
        }
    }
}
