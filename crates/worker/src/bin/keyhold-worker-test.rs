//! A bare worker process for crash tests and benchmarks: `Worker::run` configured from the same
//! environment variables as `keyhold worker` (`DATABASE_URL`, `KEYHOLD_ROOT_KEYS`,
//! `KEYHOLD_AUTH0_ENDPOINT_OVERRIDE`, `KEYHOLD_WORKER_*`), stopping on SIGTERM or SIGINT. It
//! does not run migrations: the test or benchmark that starts it owns the database.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use broker::{Broker, TenantRate};
use worker::{CancellationToken, Worker, WorkerConfig};

fn var<T: FromStr>(name: &str) -> anyhow::Result<Option<T>> {
    match std::env::var(name) {
        Ok(text) if !text.is_empty() => text
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name} is not a valid value")),
        _ => Ok(None),
    }
}

fn millis(name: &str, default: Duration) -> anyhow::Result<Duration> {
    Ok(var::<u64>(name)?.map_or(default, Duration::from_millis))
}

fn config() -> anyhow::Result<WorkerConfig> {
    let d = WorkerConfig::default();
    let rps: f64 = var("KEYHOLD_WORKER_TENANT_RPS")?.unwrap_or(2.0);
    let burst: u32 = var("KEYHOLD_WORKER_TENANT_BURST")?.unwrap_or(2);
    Ok(WorkerConfig {
        worker_id: var("KEYHOLD_WORKER_ID")?.unwrap_or(d.worker_id),
        lease: millis("KEYHOLD_WORKER_LEASE_MS", d.lease)?,
        heartbeat: millis("KEYHOLD_WORKER_HEARTBEAT_MS", d.heartbeat)?,
        concurrency: var("KEYHOLD_WORKER_CONCURRENCY")?.unwrap_or(d.concurrency),
        batch_size: var("KEYHOLD_WORKER_BATCH_SIZE")?.unwrap_or(d.batch_size),
        poll_interval: millis("KEYHOLD_WORKER_POLL_MS", d.poll_interval)?,
        drain_timeout: millis("KEYHOLD_WORKER_DRAIN_TIMEOUT_MS", d.drain_timeout)?,
        max_failures: var("KEYHOLD_WORKER_MAX_FAILURES")?.unwrap_or(d.max_failures),
        retry_base: millis("KEYHOLD_WORKER_RETRY_BASE_MS", d.retry_base)?,
        retry_max: millis("KEYHOLD_WORKER_RETRY_MAX_MS", d.retry_max)?,
        propagation_timeout: millis(
            "KEYHOLD_WORKER_PROPAGATION_TIMEOUT_MS",
            d.propagation_timeout,
        )?,
        propagation_poll: millis("KEYHOLD_WORKER_PROPAGATION_POLL_MS", d.propagation_poll)?,
        tenant_rate: (rps > 0.0).then_some(TenantRate {
            per_second: rps,
            burst,
        }),
        secret_length: d.secret_length,
        webhooks: d.webhooks,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL is required")?;
    let keys = std::env::var("KEYHOLD_ROOT_KEYS").context("KEYHOLD_ROOT_KEYS is required")?;
    let keyring = crypto::RootKeyring::parse(&keys).map_err(|e| anyhow::anyhow!("{e}"))?;
    let connections: u32 = var("KEYHOLD_DB_MAX_CONNECTIONS")?.unwrap_or(16);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(connections)
        .connect(&url)
        .await
        .context("connecting to PostgreSQL")?;
    let http = auth0::HttpConfig {
        endpoint_override: var::<String>("KEYHOLD_AUTH0_ENDPOINT_OVERRIDE")?
            .map(|u| u.parse())
            .transpose()
            .context("KEYHOLD_AUTH0_ENDPOINT_OVERRIDE")?,
        request_timeout: millis("KEYHOLD_AUTH0_TIMEOUT_MS", Duration::from_secs(10))?,
        // The worker retries itself, paced and durable; see `Worker::new`.
        max_retries: 0,
        ..auth0::HttpConfig::default()
    };
    let auth0 = auth0::Auth0Client::new(http).map_err(|e| anyhow::anyhow!("{e}"))?;
    let config = config()?;
    let broker = Broker::new(pool, Arc::new(keyring), auth0, config.tenant_rate);
    let worker = Worker::new(config, broker)?;
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(err) => {
                    eprintln!("cannot listen for SIGTERM: {err}");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        stop.cancel();
    });
    worker.run(shutdown).await?;
    Ok(())
}
