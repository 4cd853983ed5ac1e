//! Command-line flags and their `KEYHOLD_*` environment variables (clap with `env`). No `Debug`
//! derives: these structs can hold the root keys.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use crypto::RootKeyring;

#[derive(Parser)]
#[command(
    name = "keyhold",
    version,
    about = "A self-hosted vault for Auth0 app connections"
)]
pub struct Cli {
    /// Log format: `pretty` for people, `json` for log pipelines.
    #[arg(
        long,
        env = "KEYHOLD_LOG_FORMAT",
        value_enum,
        default_value = "pretty",
        global = true
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the HTTP API (runs pending migrations first).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Root key management.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Try Keyhold locally: a dev database, a generated root key, an embedded Auth0 emulator.
    Dev(crate::dev::DevArgs),
    /// Rotate Auth0 client secrets on schedule and on demand (run as many as you like).
    Worker(crate::worker_cmd::WorkerArgs),
    /// Create the organisation and its first instance admin; prints the admin's credentials once.
    Bootstrap {
        #[command(flatten)]
        db: DbArgs,
        /// Print `{"orgId","clientId","clientSecret"}` as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Print a new random 256-bit root key as `id:base64` for KEYHOLD_ROOT_KEYS or a key file.
    Generate {
        /// Key id (1-32 of A-Z a-z 0-9 _ -); defaults to `k` + today's date.
        #[arg(long)]
        id: Option<String>,
    },
    /// Start a root key rotation: print a new key (stdout) and the steps for this keyring
    /// (stderr): add it, make it active, `keys rewrap`, retire the old key.
    Rotate {
        #[command(flatten)]
        keys: KeyArgs,
        /// Id for the new key; defaults to `k` + today's date, made unique in this keyring.
        #[arg(long)]
        id: Option<String>,
    },
    /// Re-wrap every record's data key under the active (first) root key, in batches. Safe to
    /// interrupt and run again: it continues with the records still under other keys.
    Rewrap {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        keys: KeyArgs,
        /// Records read and written per statement.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch_size: u32,
        /// Stop after re-wrapping this many records (spread a rewrap over several runs).
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Count sealed records per root key id and show each key's state.
    Status {
        #[command(flatten)]
        db: DbArgs,
        /// Optional here: without a keyring only the counts are shown.
        #[command(flatten)]
        keys: KeyArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check the keyring against the database as every start does: each key must be the one
    /// first used under its id, and every key id records use must be configured.
    Check {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        keys: KeyArgs,
    },
}

#[derive(Args, Clone)]
pub struct DbArgs {
    /// PostgreSQL URL, e.g. postgres://keyhold@db:5432/keyhold
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Upper bound of the connection pool.
    #[arg(long, env = "KEYHOLD_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// How long a request waits for a pooled connection before answering 503.
    #[arg(long, env = "KEYHOLD_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 3000)]
    pub db_acquire_timeout_ms: u64,
}

#[derive(Args, Clone)]
pub struct KeyArgs {
    /// Root keys as `id:base64key,...`, the first one active. Generate one with `keyhold keys generate`.
    #[arg(
        long,
        env = "KEYHOLD_ROOT_KEYS",
        hide_env_values = true,
        conflicts_with = "root_key_file"
    )]
    pub root_keys: Option<String>,
    /// File holding the root keys in the same format (one per line allowed).
    #[arg(long, env = "KEYHOLD_ROOT_KEY_FILE")]
    pub root_key_file: Option<PathBuf>,
}

#[derive(Args, Clone)]
pub struct Auth0Args {
    /// Dev/test only: send every Auth0 request to this URL (e.g. the emulator), keeping the tenant
    /// domain as the Host header. Off unless set.
    #[arg(long, env = "KEYHOLD_AUTH0_ENDPOINT_OVERRIDE")]
    pub auth0_endpoint_override: Option<url::Url>,
    /// Allow Auth0-compatible endpoints that resolve to private or loopback addresses.
    #[arg(
        long,
        env = "KEYHOLD_AUTH0_ALLOW_PRIVATE_NETWORKS",
        default_value_t = false
    )]
    pub auth0_allow_private_networks: bool,
    /// Timeout for each Auth0 request, in milliseconds.
    #[arg(long, env = "KEYHOLD_AUTH0_TIMEOUT_MS", default_value_t = 10_000)]
    pub auth0_timeout_ms: u64,
}

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// Address the API listens on.
    #[arg(long, env = "KEYHOLD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub auth0: Auth0Args,
    #[command(flatten)]
    pub http: HttpArgs,
    /// Also run a rotation worker inside this process (`false` when workers run separately).
    #[arg(long, env = "KEYHOLD_EMBEDDED_WORKER", default_value_t = true, action = clap::ArgAction::Set)]
    pub embedded_worker: bool,
    #[command(flatten)]
    pub worker: crate::worker_cmd::WorkerSettings,
    /// Lifetime of access tokens issued at login, in seconds.
    #[arg(long, env = "KEYHOLD_ACCESS_TOKEN_TTL_SECS", default_value_t = 3600)]
    pub access_token_ttl_secs: u64,
    /// Seconds between SIGTERM and closing the listener, during which `/readyz` answers 503 and
    /// requests are still served, so a load balancer stops sending first (0: close at once).
    #[arg(long, env = "KEYHOLD_SHUTDOWN_DRAIN_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub shutdown_drain_secs: u64,
}

fn parse_trusted_proxies(raw: &str) -> Result<api::auth::client_ip::TrustedProxies, String> {
    raw.parse()
}

/// The HTTP server's limits on slow and idle clients (see `crate::http`).
#[derive(Args, Clone)]
pub struct HttpArgs {
    /// Time a client has to send a request's headers, in milliseconds; it also bounds the wait
    /// for the next request on a kept-alive connection.
    #[arg(long, env = "KEYHOLD_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,
    /// Close a connection on which nothing moved for this many seconds while no request was
    /// being handled (e.g. a client that stopped reading its response).
    #[arg(long, env = "KEYHOLD_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,
    /// Time a request's whole body has to arrive, in seconds; a later body is answered 408.
    #[arg(long, env = "KEYHOLD_BODY_READ_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_read_timeout_secs: u64,
    /// Most client connections open at once; further ones wait to be accepted.
    #[arg(long, env = "KEYHOLD_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Reverse proxies (comma-separated IPs or CIDR ranges) whose X-Forwarded-For or Forwarded
    /// header names the client; unset, those headers are never believed.
    #[arg(long, env = "KEYHOLD_TRUSTED_PROXIES", value_parser = parse_trusted_proxies)]
    pub trusted_proxies: Option<api::auth::client_ip::TrustedProxies>,
}

impl HttpArgs {
    pub fn limits(&self) -> crate::http::Limits {
        crate::http::Limits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            max_connections: self.max_connections,
        }
    }

    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.body_read_timeout_secs)
    }

    pub fn trusted_proxies(&self) -> api::auth::client_ip::TrustedProxies {
        self.trusted_proxies.clone().unwrap_or_default()
    }
}

/// Every variable a flag reads; others with our prefix are probably typos and get a warning.
pub const KNOWN_VARS: &[&str] = &[
    "KEYHOLD_LOG_FORMAT",
    "KEYHOLD_DB_MAX_CONNECTIONS",
    "KEYHOLD_DB_ACQUIRE_TIMEOUT_MS",
    "KEYHOLD_ROOT_KEYS",
    "KEYHOLD_ROOT_KEY_FILE",
    "KEYHOLD_AUTH0_ENDPOINT_OVERRIDE",
    "KEYHOLD_AUTH0_ALLOW_PRIVATE_NETWORKS",
    "KEYHOLD_AUTH0_TIMEOUT_MS",
    "KEYHOLD_LISTEN",
    "KEYHOLD_DEV_DIR",
    "KEYHOLD_ACCESS_TOKEN_TTL_SECS",
    "KEYHOLD_EMBEDDED_WORKER",
    "KEYHOLD_HEADER_READ_TIMEOUT_MS",
    "KEYHOLD_IDLE_TIMEOUT_SECS",
    "KEYHOLD_BODY_READ_TIMEOUT_SECS",
    "KEYHOLD_MAX_CONNECTIONS",
    "KEYHOLD_TRUSTED_PROXIES",
    "KEYHOLD_SHUTDOWN_DRAIN_SECS",
];

pub fn warn_unknown_vars() {
    for (name, _) in std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v))) {
        if name.starts_with("KEYHOLD_")
            && !KNOWN_VARS.contains(&name.as_str())
            && !crate::worker_cmd::WORKER_VARS.contains(&name.as_str())
        {
            tracing::warn!(variable = %name, "unknown KEYHOLD_ variable ignored (typo?)");
        }
    }
}

impl KeyArgs {
    pub fn keyring(&self) -> anyhow::Result<RootKeyring> {
        const HOW: &str = "generate one with `keyhold keys generate` and set KEYHOLD_ROOT_KEYS=<id:base64> \
                           or KEYHOLD_ROOT_KEY_FILE=<path>";
        match (&self.root_keys, &self.root_key_file) {
            (Some(_), Some(_)) => bail!("set KEYHOLD_ROOT_KEYS or KEYHOLD_ROOT_KEY_FILE, not both"),
            (Some(spec), None) => RootKeyring::parse(spec)
                .map_err(|err| anyhow::anyhow!("KEYHOLD_ROOT_KEYS is invalid: {err}; {HOW}")),
            (None, Some(path)) => {
                let contents = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read root key file {}", path.display()))?;
                RootKeyring::from_file_contents(&contents).map_err(|err| {
                    anyhow::anyhow!("root key file {} is invalid: {err}; {HOW}", path.display())
                })
            }
            (None, None) => bail!("no root key configured; {HOW}"),
        }
    }
}

impl Auth0Args {
    pub fn client(&self) -> anyhow::Result<auth0::Auth0Client> {
        let config = auth0::HttpConfig {
            endpoint_override: self.auth0_endpoint_override.clone(),
            allow_private_networks: self.auth0_allow_private_networks,
            request_timeout: Duration::from_millis(self.auth0_timeout_ms),
            ..auth0::HttpConfig::default()
        };
        auth0::Auth0Client::new(config)
            .map_err(|err| anyhow::anyhow!("Auth0 client: {}", err.reason()))
    }
}
