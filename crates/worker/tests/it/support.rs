//! Fixtures: an emulator tenant, an org/project/connection with a sealed secret, rotations of
//! target clients, workers with test-sized intervals, and "poll until" helpers.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth0::{Auth0Client, HttpConfig, TokenCache};
use auth0_emulator::{ClientSeed, Emulator, Seed, TenantSeed};
use broker::{Broker, Destination, Pacer, aad};
use crypto::{ExposeSecret, RootKeyring, SecretString};
use sqlx::PgPool;
use store::connections::{self, Connection, Credentials, NewConnection, Sealed};
use store::rotations::{self, NewRotation, Rotation};
use store::{ConnectionId, OrgId, ProjectId, RotationId};
use worker::{JobOutcome, Worker, WorkerConfig};

pub const DOMAIN: &str = "acme.auth0.test";
pub const CONN_CLIENT: &str = "keyholdConnectionClient0001";
pub const CONN_SECRET: &str = "connection-secret-canary-0123456789abcdefghijklmnop";
pub const SCOPES: &[&str] = &["read:clients", "update:client_keys"];

pub struct Fixture {
    pub pool: PgPool,
    pub emulator: Emulator,
    pub key_spec: String,
    pub keyring: Arc<RootKeyring>,
    pub org_id: OrgId,
    pub project_id: ProjectId,
    pub connection: Connection,
    pub auth0: Auth0Client,
    pub tokens: Arc<TokenCache>,
}

pub fn target(i: usize) -> String {
    format!("targetClient{i:04}")
}

pub fn initial_secret(client_id: &str) -> String {
    format!("initial-secret-for-{client_id}-0123456789abcdef")
}

impl Fixture {
    /// A tenant with the connection's M2M client (`SCOPES`) and `targets` other M2M clients.
    pub async fn new(pool: PgPool, targets: usize) -> Fixture {
        Self::with_tenant(pool, targets, |_| {}).await
    }

    pub async fn with_tenant(
        pool: PgPool,
        targets: usize,
        tweak: impl FnOnce(&mut TenantSeed),
    ) -> Fixture {
        let mut tenant = TenantSeed::with_m2m(DOMAIN, CONN_CLIENT, CONN_SECRET, SCOPES);
        for i in 0..targets {
            let id = target(i);
            tenant
                .clients
                .push(ClientSeed::m2m(&id, &initial_secret(&id)));
        }
        tweak(&mut tenant);
        let emulator = Emulator::start(Seed {
            tenants: vec![tenant],
        })
        .await
        .expect("emulator starts");
        let auth0 = Auth0Client::new(HttpConfig {
            endpoint_override: Some(emulator.base_url().parse().expect("url")),
            request_timeout: Duration::from_secs(5),
            max_retries: 0,
            ..HttpConfig::default()
        })
        .expect("auth0 client");
        let key_spec = crypto::generate_root_key("test").expect("root key");
        let key_spec = key_spec.expose_secret().to_owned();
        let keyring = Arc::new(RootKeyring::parse(&key_spec).expect("keyring"));
        let org_id = OrgId::new();
        let mut conn = pool.acquire().await.expect("conn");
        sqlx::query("insert into orgs (id, name) values ($1, 'test')")
            .bind(org_id)
            .execute(&mut *conn)
            .await
            .expect("org");
        let project = store::projects::create(
            &mut conn,
            &store::projects::NewProject {
                org_id,
                name: "team-a",
                description: None,
            },
        )
        .await
        .expect("project");
        let id = ConnectionId::new();
        let to = Destination {
            domain: DOMAIN,
            client_id: CONN_CLIENT,
        };
        let binding = aad::connection_secret(id, project.id, to);
        let sealed = Sealed(
            keyring
                .seal_str(&SecretString::from(CONN_SECRET), &binding.aad())
                .expect("seal"),
        );
        let audience = format!("https://{DOMAIN}/api/v2/");
        let connection = connections::insert(
            &mut conn,
            &NewConnection {
                id,
                org_id,
                project_id: project.id,
                method: "client-credentials",
                name: "acme",
                description: None,
                credentials: Credentials {
                    domain: DOMAIN,
                    client_id: CONN_CLIENT,
                    audience: &audience,
                    client_secret_sealed: &sealed,
                },
            },
        )
        .await
        .expect("connection");
        Fixture {
            pool,
            emulator,
            key_spec,
            keyring,
            org_id,
            project_id: project.id,
            connection,
            auth0,
            tokens: Arc::new(TokenCache::new()),
        }
    }

    /// A rotation of `client_id`, due at once (its first secret is issued on creation).
    pub async fn rotation(&self, name: &str, client_id: &str) -> Rotation {
        self.rotation_with(name, client_id, |_| {}).await
    }

    pub async fn rotation_with(
        &self,
        name: &str,
        client_id: &str,
        tweak: impl FnOnce(&mut NewRotation<'_>),
    ) -> Rotation {
        let mut new = NewRotation {
            id: RotationId::new(),
            kind: store::rotations::TYPE_AUTH0_CLIENT_SECRET,
            overlap_seconds: None,
            org_id: self.org_id,
            project_id: self.project_id,
            connection_id: self.connection.id,
            name,
            description: None,
            client_id,
            rotation_interval_days: 30,
            rotate_at_hours: 0,
            rotate_at_minutes: 0,
            is_auto_rotation_enabled: true,
            next_rotation_at: Some(time::OffsetDateTime::now_utc() + time::Duration::days(30)),
            rotate_immediately: true,
        };
        tweak(&mut new);
        let mut conn = self.pool.acquire().await.expect("conn");
        rotations::insert(&mut conn, &new).await.expect("rotation")
    }

    /// Test-sized settings: short retries and propagation polls, no tenant pacing.
    pub fn config(&self) -> WorkerConfig {
        WorkerConfig {
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
            poll_interval: Duration::from_millis(200),
            drain_timeout: Duration::from_secs(5),
            retry_base: Duration::from_millis(20),
            retry_max: Duration::from_millis(200),
            propagation_timeout: Duration::from_secs(3),
            propagation_poll: Duration::from_millis(50),
            tenant_rate: None,
            ..WorkerConfig::default()
        }
    }

    pub fn worker(&self) -> Worker {
        self.worker_with(self.config(), Arc::clone(&self.tokens))
    }

    pub fn worker_with(&self, config: WorkerConfig, tokens: Arc<TokenCache>) -> Worker {
        Worker::new(config.clone(), self.broker_with(&config, tokens)).expect("worker")
    }

    /// A broker like a process's, with its own pacer at `config`'s rate and the given cache.
    pub fn broker_with(&self, config: &WorkerConfig, tokens: Arc<TokenCache>) -> Broker {
        Broker {
            pool: self.pool.clone(),
            keyring: Arc::clone(&self.keyring),
            auth0: self.auth0.clone(),
            tokens,
            pacer: Arc::new(Pacer::new(self.pool.clone(), config.tenant_rate)),
        }
    }

    pub async fn get(&self, id: RotationId) -> Rotation {
        rotations::get(&self.pool, self.org_id, id)
            .await
            .expect("rotation")
    }

    pub async fn reload_connection(&self) -> Connection {
        connections::get(&self.pool, self.org_id, self.connection.id)
            .await
            .expect("connection")
    }

    /// The stored current generated secret, opened.
    pub async fn current_secret(&self, id: RotationId) -> Option<String> {
        let creds = rotations::generated_credentials(&self.pool, id)
            .await
            .expect("credentials");
        let rotation = self.get(id).await;
        creds
            .into_iter()
            .find(|c| c.state == "current")
            .inspect(|c| assert_eq!(c.slot, Some(rotation.active_index)))
            .map(|c| self.open_credential(&c))
    }

    pub fn open_credential(&self, c: &rotations::Credential) -> String {
        let to = Destination {
            domain: &c.domain,
            client_id: &c.client_id,
        };
        let binding = aad::generated_secret(c.id, c.rotation_id, self.project_id, to);
        self.keyring
            .open_str(&c.client_secret_sealed.0, &binding.aad())
            .expect("open")
            .expose_secret()
            .to_owned()
    }

    /// The connection's stored secret, opened.
    pub async fn connection_secret(&self) -> String {
        let connection = self.reload_connection().await;
        self.keyring
            .open_str(
                &connection
                    .client_secret_sealed
                    .as_ref()
                    .expect("a client secret")
                    .0,
                &aad::connection(&connection).aad(),
            )
            .expect("open")
            .expose_secret()
            .to_owned()
    }

    pub fn auth0_secret(&self, client_id: &str) -> String {
        self.emulator
            .admin()
            .client_secret(DOMAIN, client_id)
            .expect("client exists")
    }

    pub fn counters(&self) -> auth0_emulator::Counters {
        self.emulator.admin().counters(DOMAIN).expect("tenant")
    }

    pub fn requests(&self, endpoint: &str) -> u64 {
        self.counters()
            .requests_by_endpoint
            .get(endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// `DATABASE_URL` pointed at this test's own database, for child processes.
    pub async fn database_url(&self) -> String {
        let name: String = sqlx::query_scalar("select current_database()")
            .fetch_one(&self.pool)
            .await
            .expect("db name");
        let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
        let base = base.split('?').next().unwrap_or(&base);
        let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
        format!("{prefix}/{name}")
    }
}

pub const PATCH: &str = "PATCH /api/v2/clients/{id}";
pub const TOKEN: &str = "POST /oauth/token";

/// Runs `process_one` until the rotation is rotated, failing the test on a final failure or
/// after `limit`.
pub async fn until_rotated(worker: &Worker, limit: Duration) -> JobOutcome {
    let started = Instant::now();
    loop {
        match worker.process_one().await.expect("process_one") {
            Some(report) => match report.outcome {
                JobOutcome::Retrying { .. } | JobOutcome::LeaseLost => {}
                other => return other,
            },
            None => tokio::time::sleep(Duration::from_millis(10)).await,
        }
        assert!(started.elapsed() < limit, "not rotated within {limit:?}");
    }
}

/// Polls `check` until it returns true or `limit` passes (then fails the test with `what`).
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Rows of a table for one rotation (attempts, credentials) — a quick count.
pub async fn count(pool: &PgPool, sql: &'static str, id: RotationId) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(pool)
        .await
        .expect("count")
}
