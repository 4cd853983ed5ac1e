//! Postgres access for Keyhold: one module per table group, sealed envelopes in and out, never
//! plaintext secrets and never HTTP types. Queries are checked at run time (`sqlx::query_as`) rather
//! than with `query!`, so building the workspace needs neither a live database nor a `.sqlx/` cache.

pub mod audit;
pub mod audit_streams;
pub mod connection_keys;
pub mod connections;
pub mod environments;
mod error;
pub mod folders;
pub mod idempotency;
pub mod identities;
mod ids;
pub mod keyring;
pub mod memberships;
pub mod orgs;
pub mod page;
pub mod projects;
pub mod readiness;
mod reads;
pub mod rotations;
pub mod secrets;
pub mod tokens;
pub mod unbound;
pub mod webhooks;

pub use error::{Error, Result};
pub use ids::{
    AttemptId, ConnectionId, CredentialId, EnvironmentId, FolderId, IdentityId, OrgId,
    PrivateKeyId, ProjectId, RotationId, SecretId, SecretVersionId,
};
pub use sqlx::PgPool;

/// Every migration under `migrations/`, embedded so the binary and tests need no sqlx-cli.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Runs pending migrations; safe to call from several processes at once (sqlx takes an advisory lock).
pub async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await.map_err(Error::Migrate)
}
