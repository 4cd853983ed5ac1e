//! `keyhold dev`: everything a newcomer needs on one machine with only PostgreSQL running — a dev
//! database (created if missing), a generated root key file, an embedded Auth0 emulator with a demo
//! tenant, and the API — plus copy-paste commands to try it. The only mode with conveniences.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use crypto::ExposeSecret;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::config::DbArgs;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/keyhold_dev";
const DEMO_DOMAIN: &str = "demo.auth0.test";
const DEMO_CLIENT_ID: &str = "keyhold-demo-m2m";
const DEMO_TARGET_ID: &str = "demo-orders-service";
/// A second application, for a key rotation (Private Key JWT) beside the secret rotation of the first.
const DEMO_KEYS_TARGET_ID: &str = "demo-billing-service";
const DEMO_SCOPES: &[&str] = &[
    "read:clients",
    "read:client_keys",
    "update:clients",
    "update:client_keys",
    "create:clients",
    "create:resource_servers",
    "read:users",
    "create:users",
    "update:users",
    "update:users_app_metadata",
    // Private Key JWT: register, enable and remove an application's keys (key rotations).
    "read:client_credentials",
    "create:client_credentials",
    "update:client_credentials",
    "delete:client_credentials",
];

#[derive(Args, Clone)]
pub struct DevArgs {
    /// Dev database; created if missing.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
    /// Address the API listens on.
    #[arg(long, env = "KEYHOLD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where dev state lives (root key file, demo tenant credentials).
    #[arg(long, env = "KEYHOLD_DEV_DIR", default_value = ".keyhold-dev")]
    pub dev_dir: PathBuf,
    #[command(flatten)]
    pub http: crate::config::HttpArgs,
    #[command(flatten)]
    pub webhooks: crate::webhook_args::WebhookArgs,
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    create_database_if_missing(&args.database_url).await?;
    let listener = crate::serve::bind(args.listen).await?;
    let db = DbArgs {
        database_url: args.database_url.clone(),
        db_max_connections: 8,
        db_acquire_timeout_ms: 3000,
    };
    let pool = crate::db::connect_and_migrate(&db).await?;

    std::fs::create_dir_all(&args.dev_dir)
        .with_context(|| format!("cannot create {}", args.dev_dir.display()))?;
    let keyring = dev_keyring(&args.dev_dir.join("root.key"))?;
    crate::keys::check_keyring(&pool, &keyring).await?;
    broker::reseal::legacy_secrets(&pool, &keyring).await?;
    let demo_secret = demo_secret(&args.dev_dir.join("demo-client-secret"))?;

    let mut tenant = auth0_emulator::TenantSeed::with_m2m(
        DEMO_DOMAIN,
        DEMO_CLIENT_ID,
        &demo_secret,
        DEMO_SCOPES,
    );
    // Applications for the demo rotations to rotate (their secrets live only in the emulator's
    // memory).
    for target in [DEMO_TARGET_ID, DEMO_KEYS_TARGET_ID] {
        tenant.clients.push(auth0_emulator::ClientSeed::m2m(
            target,
            crypto::random_secret(64).expose_secret(),
        ));
    }
    let seed = auth0_emulator::Seed {
        tenants: vec![tenant],
    };
    let emulator = auth0_emulator::Emulator::start(seed)
        .await
        .context("starting the Auth0 emulator")?;
    let override_url = url::Url::parse(&emulator.base_url()).context("emulator URL")?;
    // For scripts that play an app of the demo tenant (its token endpoint is on this port,
    // with the tenant's domain as `Host`), as the welcome text prints it.
    let url_file = args.dev_dir.join("emulator-url");
    std::fs::write(&url_file, emulator.base_url())
        .with_context(|| format!("cannot write {}", url_file.display()))?;
    tracing::warn!(endpoint = %override_url, "dev mode: all Auth0 traffic goes to the embedded emulator");
    let client = |max_retries| {
        auth0::Auth0Client::new(auth0::HttpConfig {
            endpoint_override: Some(override_url.clone()),
            max_retries,
            ..auth0::HttpConfig::default()
        })
        .map_err(|err| anyhow::anyhow!("Auth0 client: {}", err.reason()))
    };
    let auth0 = client(auth0::HttpConfig::default().max_retries)?;

    let admin = dev_admin(&pool, &args.dev_dir.join("admin.json")).await?;
    let project = demo_project(&pool, admin.org_id).await?;
    let ttl = std::time::Duration::from_secs(12 * 3600);
    let keyring = Arc::new(keyring);
    // The emulator has no rate limits; the worker retries (and paces) itself, so its client does not.
    let worker_config = worker::WorkerConfig {
        tenant_rate: None,
        webhooks: args.webhooks.config(),
        ..worker::WorkerConfig::default()
    };
    let broker = broker::Broker::new(pool, keyring, auth0, worker_config.tenant_rate);
    let worker = worker::Worker::new(worker_config, broker.with_client(client(0)?))?;
    let state = api::AppState::new(broker, ttl)
        .with_body_read_timeout(args.http.body_read_timeout())
        .with_trusted_proxies(args.http.trusted_proxies())
        .with_webhook_allow_private_networks(args.webhooks.webhook_allow_private_networks);

    let addr = listener.local_addr()?;
    print_welcome(addr, &emulator.base_url(), &project, &demo_secret, &admin)?;
    let served = crate::serve::run_until_shutdown(
        listener,
        state,
        args.http.limits(),
        Some(worker),
        // Nothing balances in front of a dev server: Ctrl-C stops it at once.
        std::time::Duration::ZERO,
    )
    .await;
    emulator.shutdown().await;
    served
}

async fn create_database_if_missing(url: &str) -> anyhow::Result<()> {
    let options: PgConnectOptions = url
        .parse()
        .context("DATABASE_URL is not a PostgreSQL URL")?;
    let name = options.get_database().unwrap_or("keyhold_dev").to_owned();
    let mut admin = options.clone().database("postgres").connect().await.map_err(|_| {
        anyhow::anyhow!(
            "cannot reach PostgreSQL at {}:{} — start it (e.g. `pg_ctlcluster 15 main start` or `docker compose up -d postgres`) or set DATABASE_URL",
            options.get_host(),
            options.get_port()
        )
    })?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        // Identifiers cannot be bound; quote it the way Postgres does.
        let sql = format!("create database \"{}\"", name.replace('"', "\"\""));
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await?;
        tracing::info!(database = %name, "created the dev database");
    }
    admin.close().await?;
    Ok(())
}

/// The dev root key: read it, or create it once with mode 0600.
fn dev_keyring(path: &Path) -> anyhow::Result<crypto::RootKeyring> {
    if !path.exists() {
        let key = crypto::generate_root_key("dev").map_err(|err| anyhow::anyhow!("{err}"))?;
        write_private(path, key.expose_secret())?;
        tracing::info!(path = %path.display(), "generated a dev root key");
    }
    let contents =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    crypto::RootKeyring::from_file_contents(&contents)
        .map_err(|err| anyhow::anyhow!("{} is invalid: {err}", path.display()))
}

/// The demo M2M client's secret, kept across restarts so connections made earlier still validate.
fn demo_secret(path: &Path) -> anyhow::Result<String> {
    if let Ok(secret) = std::fs::read_to_string(path) {
        let secret = secret.trim().to_owned();
        if !secret.is_empty() {
            return Ok(secret);
        }
    }
    let secret = crypto::random_secret(64);
    write_private(path, secret.expose_secret())?;
    Ok(secret.expose_secret().to_owned())
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    Ok(())
}

/// The dev instance admin: bootstrapped on first run, its credentials kept (mode 0600) so every
/// start can print them. Dev only — a real instance shows the secret once.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DevAdmin {
    org_id: store::OrgId,
    client_id: String,
    client_secret: String,
}

async fn dev_admin(pool: &store::PgPool, path: &Path) -> anyhow::Result<DevAdmin> {
    if let Some(admin) = crate::bootstrap::bootstrap(pool).await? {
        let saved = DevAdmin {
            org_id: admin.org_id,
            client_id: admin.client_id,
            client_secret: admin.client_secret.expose_secret().to_owned(),
        };
        if path.exists() {
            std::fs::remove_file(path)?;
        }
        write_private(path, &serde_json::to_string_pretty(&saved)?)?;
        return Ok(saved);
    }
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "the dev database is bootstrapped but {} is missing; drop the dev database or set DATABASE_URL to a new one",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

async fn demo_project(
    pool: &store::PgPool,
    org_id: store::OrgId,
) -> anyhow::Result<store::projects::Project> {
    let new = store::projects::NewProject {
        org_id,
        name: "demo",
        description: Some("Created by keyhold dev"),
    };
    let mut conn = pool.acquire().await?;
    match store::projects::create(&mut conn, &new).await {
        Ok(project) => Ok(project),
        Err(store::Error::Duplicate { .. }) => {
            let first = store::projects::list(
                pool,
                org_id,
                None,
                &store::page::PageRequest {
                    limit: 500,
                    after: None,
                },
            )
            .await?
            .items
            .into_iter()
            .find(|p| p.name == "demo")
            .context("demo project vanished")?;
            Ok(first)
        }
        Err(err) => Err(err.into()),
    }
}

fn print_welcome(
    addr: SocketAddr,
    emulator_url: &str,
    project: &store::projects::Project,
    demo_secret: &str,
    admin: &DevAdmin,
) -> anyhow::Result<()> {
    let api = format!("http://{addr}");
    let project_id = project.id;
    let admin_id = &admin.client_id;
    let admin_secret = &admin.client_secret;
    // Dev only: these are the emulator's throwaway demo credentials, printed on purpose.
    let text = format!(
        r#"
Keyhold dev is running.
  Dashboard:      {api}/ui/  (sign in with the instance admin below)
  API:            {api}
  Auth0 emulator: {emulator_url} (tenant {DEMO_DOMAIN})
  Demo project:   {project_id}

Instance admin (machine identity; dev only, kept in .keyhold-dev/admin.json):
  client ID:     {admin_id}
  client secret: {admin_secret}

Demo Auth0 M2M application (lives only in the emulator):
  domain:        {DEMO_DOMAIN}
  client ID:     {DEMO_CLIENT_ID}
  client secret: {demo_secret}

Try it:
  # log in as the instance admin
  TOKEN=$(curl -s -X POST {api}/api/v1/auth/universal-auth/login -H 'content-type: application/json' \
    -d '{{"clientId":"{admin_id}","clientSecret":"{admin_secret}"}}' | sed -E 's/.*"accessToken":"([^"]+)".*/\1/')
  # create a connection
  CONN=$(curl -s -X POST {api}/api/v1/app-connections/auth0 -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{{"name":"demo-auth0","method":"client-credentials","projectId":"{project_id}","credentials":{{"domain":"{DEMO_DOMAIN}","clientId":"{DEMO_CLIENT_ID}","clientSecret":"{demo_secret}"}}}}' \
    | sed -E 's/.*"appConnection":\{{"id":"([^"]+)".*/\1/')
  # list connections
  curl -s -H "authorization: Bearer $TOKEN" '{api}/api/v1/app-connections/auth0?projectId={project_id}'
  # rotate the secret of the tenant's "{DEMO_TARGET_ID}" application through that connection
  ROT=$(curl -s -X POST {api}/api/v2/secret-rotations/auth0-client-secret -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{{"name":"demo-rotation","projectId":"{project_id}","connectionId":"'$CONN'","rotationInterval":30,"parameters":{{"clientId":"{DEMO_TARGET_ID}"}}}}' \
    | sed -E 's/.*"secretRotation":\{{"id":"([^"]+)".*/\1/')
  curl -s -X POST -H "authorization: Bearer $TOKEN" {api}/api/v2/secret-rotations/auth0-client-secret/$ROT/rotate-secrets
  # rotate the "{DEMO_KEYS_TARGET_ID}" application's keys instead, with no downtime (Private Key JWT:
  # the old key keeps working for overlapSeconds beside the new one)
  curl -s -X POST {api}/api/v2/secret-rotations/auth0-private-key-jwt -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{{"name":"demo-key-rotation","projectId":"{project_id}","connectionId":"'$CONN'","rotationInterval":30,"parameters":{{"clientId":"{DEMO_KEYS_TARGET_ID}","overlapSeconds":3600}}}}'

Ctrl-C stops everything.
"#
    );
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
