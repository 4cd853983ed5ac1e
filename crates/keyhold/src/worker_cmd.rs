//! `keyhold worker`: migrate, then rotate Auth0 client secrets until SIGINT/SIGTERM, letting
//! in-flight rotations finish (or handing their leases back) before exiting. Run as many of
//! these as you like: they share work and each tenant's request budget through Postgres.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use broker::{Broker, TenantRate};
use clap::Args;
use store::PgPool;
use worker::{CancellationToken, Worker, WorkerConfig};

use crate::config::{Auth0Args, DbArgs, KeyArgs};

#[derive(Args, Clone)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub auth0: Auth0Args,
    #[command(flatten)]
    pub worker: WorkerSettings,
    /// Serve `/metrics` and `/healthz` for this worker process on this address (off by default).
    #[arg(long, env = "KEYHOLD_WORKER_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// The rotation worker's settings (also usable by `serve`/`dev` when they run a worker inside).
#[derive(Args, Clone)]
pub struct WorkerSettings {
    /// Name this process uses on its leases; defaults to host, pid and a random suffix.
    #[arg(long, env = "KEYHOLD_WORKER_ID")]
    pub worker_id: Option<String>,
    /// Rotations worked on at once by this process.
    #[arg(long, env = "KEYHOLD_WORKER_CONCURRENCY", default_value_t = 16)]
    pub worker_concurrency: usize,
    /// Most rotations claimed at once.
    #[arg(long, env = "KEYHOLD_WORKER_BATCH_SIZE", default_value_t = 16)]
    pub worker_batch_size: usize,
    /// Lease on a claimed rotation, in seconds: a crashed worker's rotation is resumed by
    /// another this long after its last heartbeat.
    #[arg(long, env = "KEYHOLD_WORKER_LEASE_SECS", default_value_t = 60)]
    pub worker_lease_secs: u64,
    /// How often a running rotation renews its lease, in seconds.
    #[arg(long, env = "KEYHOLD_WORKER_HEARTBEAT_SECS", default_value_t = 15)]
    pub worker_heartbeat_secs: u64,
    /// Fallback poll for due rotations, in milliseconds ("rotate now" wakes workers at once).
    #[arg(long, env = "KEYHOLD_WORKER_POLL_MS", default_value_t = 5_000)]
    pub worker_poll_ms: u64,
    /// On shutdown, how long in-flight rotations may take before their leases are handed back.
    #[arg(long, env = "KEYHOLD_WORKER_DRAIN_TIMEOUT_SECS", default_value_t = 20)]
    pub worker_drain_timeout_secs: u64,
    /// Failed tries (rate limiting not counted) after which a rotation attempt is reported failed.
    #[arg(long, env = "KEYHOLD_WORKER_MAX_FAILURES", default_value_t = 8)]
    pub worker_max_failures: u32,
    /// First retry delay in milliseconds; doubles per failure, with jitter.
    #[arg(long, env = "KEYHOLD_WORKER_RETRY_BASE_MS", default_value_t = 2_000)]
    pub worker_retry_base_ms: u64,
    /// Longest retry delay, in seconds.
    #[arg(long, env = "KEYHOLD_WORKER_RETRY_MAX_SECS", default_value_t = 300)]
    pub worker_retry_max_secs: u64,
    /// How long to wait for Auth0 to accept a new secret (it documents up to ~30 s), in seconds.
    #[arg(
        long,
        env = "KEYHOLD_WORKER_PROPAGATION_TIMEOUT_SECS",
        default_value_t = 40
    )]
    pub worker_propagation_timeout_secs: u64,
    /// Each tenant's Management API limit in requests per second, shared by all workers
    /// (Auth0 free plan: 2). 0 turns pacing off.
    #[arg(long, env = "KEYHOLD_WORKER_TENANT_RPS", default_value_t = 2.0)]
    pub worker_tenant_rps: f64,
    /// Each tenant's Management API burst (Auth0 free plan: 2).
    #[arg(long, env = "KEYHOLD_WORKER_TENANT_BURST", default_value_t = 2)]
    pub worker_tenant_burst: u32,
    #[command(flatten)]
    pub webhooks: crate::webhook_args::WebhookArgs,
}

/// The `KEYHOLD_WORKER_*` variables, for `config::KNOWN_VARS`.
pub const WORKER_VARS: &[&str] = &[
    "KEYHOLD_WORKER_ID",
    "KEYHOLD_WORKER_CONCURRENCY",
    "KEYHOLD_WORKER_BATCH_SIZE",
    "KEYHOLD_WORKER_LEASE_SECS",
    "KEYHOLD_WORKER_HEARTBEAT_SECS",
    "KEYHOLD_WORKER_POLL_MS",
    "KEYHOLD_WORKER_DRAIN_TIMEOUT_SECS",
    "KEYHOLD_WORKER_MAX_FAILURES",
    "KEYHOLD_WORKER_RETRY_BASE_MS",
    "KEYHOLD_WORKER_RETRY_MAX_SECS",
    "KEYHOLD_WORKER_PROPAGATION_TIMEOUT_SECS",
    "KEYHOLD_WORKER_TENANT_RPS",
    "KEYHOLD_WORKER_TENANT_BURST",
    "KEYHOLD_WORKER_METRICS_LISTEN",
    crate::webhook_args::ALLOW_PRIVATE_NETWORKS_VAR,
    crate::webhook_args::DISABLE_AFTER_HOURS_VAR,
    crate::webhook_args::RETENTION_DAYS_VAR,
];

impl WorkerSettings {
    pub fn config(&self) -> WorkerConfig {
        let defaults = WorkerConfig::default();
        WorkerConfig {
            worker_id: self.worker_id.clone().unwrap_or(defaults.worker_id),
            lease: Duration::from_secs(self.worker_lease_secs),
            heartbeat: Duration::from_secs(self.worker_heartbeat_secs),
            concurrency: self.worker_concurrency,
            batch_size: self.worker_batch_size,
            poll_interval: Duration::from_millis(self.worker_poll_ms),
            drain_timeout: Duration::from_secs(self.worker_drain_timeout_secs),
            max_failures: self.worker_max_failures,
            retry_base: Duration::from_millis(self.worker_retry_base_ms),
            retry_max: Duration::from_secs(self.worker_retry_max_secs),
            propagation_timeout: Duration::from_secs(self.worker_propagation_timeout_secs),
            tenant_rate: (self.worker_tenant_rps > 0.0).then_some(TenantRate {
                per_second: self.worker_tenant_rps,
                burst: self.worker_tenant_burst,
            }),
            webhooks: self.webhooks.config(),
            ..defaults
        }
    }

    /// A worker acting through the process's `broker`. Its Auth0 client makes no retries of its
    /// own: the worker retries, paced through each tenant's shared budget, with the attempt
    /// durable in between.
    pub fn build(&self, broker: &Broker, auth0: &Auth0Args) -> anyhow::Result<Worker> {
        let http = auth0::HttpConfig {
            endpoint_override: auth0.auth0_endpoint_override.clone(),
            allow_private_networks: auth0.auth0_allow_private_networks,
            request_timeout: Duration::from_millis(auth0.auth0_timeout_ms),
            max_retries: 0,
            ..auth0::HttpConfig::default()
        };
        let client = auth0::Auth0Client::new(http)
            .map_err(|err| anyhow::anyhow!("Auth0 client: {}", err.reason()))?;
        Worker::new(self.config(), broker.with_client(client)).context("rotation worker")
    }
}

pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let keyring = Arc::new(args.keys.keyring()?);
    let pool = crate::db::connect_and_migrate(&args.db).await?;
    crate::keys::check_keyring(&pool, &keyring).await?;
    broker::reseal::legacy_secrets(&pool, &keyring).await?;
    let broker = Broker::new(
        pool.clone(),
        keyring,
        args.auth0.client()?,
        args.worker.config().tenant_rate,
    );
    let worker = args.worker.build(&broker, &args.auth0)?;
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        crate::serve::shutdown_signal().await;
        trigger.cancel();
    });
    if let Some(addr) = args.metrics_listen {
        let listener = crate::serve::bind(addr).await?;
        tokio::spawn(serve_metrics(listener, pool, shutdown.clone()));
    }
    worker.run(shutdown).await.context("rotation worker failed")
}

/// `/metrics` (rotations by outcome, Auth0 requests, rotation lag) and `/healthz` for a worker
/// process, which has no API of its own to expose them.
async fn serve_metrics(
    listener: tokio::net::TcpListener,
    pool: PgPool,
    shutdown: CancellationToken,
) {
    let Some(handle) = api::metrics::install() else {
        return;
    };
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route(
            "/metrics",
            axum::routing::get(move || {
                let handle = handle.clone();
                let pool = pool.clone();
                async move {
                    api::metrics::sample_rotation_lag(&pool).await;
                    handle.render()
                }
            }),
        );
    tracing::info!(addr = ?listener.local_addr().ok(), "worker metrics listening");
    if let Err(err) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::warn!(%err, "worker metrics server stopped");
    }
}
