//! Opening the pool with bounds that make an outage fail fast instead of hanging requests.

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use store::PgPool;

use crate::config::DbArgs;

pub async fn connect(args: &DbArgs) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(args.db_max_connections)
        // sqlx pings a connection on every checkout by default: a round trip that cost more CPU
        // per GET than the query itself (bench/connections). A dead connection still fails its
        // query, which the pool then replaces.
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_millis(args.db_acquire_timeout_ms))
        .connect(&args.database_url)
        .await
        .context("cannot connect to PostgreSQL (is it running, and is DATABASE_URL right?)")
}

pub async fn connect_and_migrate(args: &DbArgs) -> anyhow::Result<PgPool> {
    let pool = connect(args).await?;
    store::migrate(&pool).await.context("running migrations")?;
    Ok(pool)
}
