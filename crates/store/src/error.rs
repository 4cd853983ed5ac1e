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
