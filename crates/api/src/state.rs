//! What every handler shares. Cloned by every extractor of every request, so it is one `Arc`:
//! a clone is one atomic increment rather than one per handle inside (a profile of the GET path
//! found the field-by-field clone and drop at ~1.5% of the server's CPU).

use std::sync::Arc;

use auth0::Auth0Client;
use broker::{Broker, Pacer, TenantRate};
use crypto::RootKeyring;
use store::PgPool;

use crate::auth::argon::ArgonQueue;
use crate::auth::client_ip::TrustedProxies;
use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::TokenService;
use crate::grouped::{ConnectionById, Grouped, RotationById, SecretByName};

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The contents of [`AppState`]; set up with its `with_*` builders before serving.
#[derive(Clone)]
pub struct Shared {
    pub db: PgPool,
    pub keyring: Arc<RootKeyring>,
    pub auth0: Auth0Client,
    pub tokens: TokenService,
    pub throttle: LoginThrottle,
    /// Places for argon2 work; a login finding none is refused at once.
    pub argon: ArgonQueue,
    /// Peers whose `X-Forwarded-For`/`Forwarded` name the client; none unless configured.
    pub trusted_proxies: TrustedProxies,
    /// Acting on Auth0 as a stored connection: sealed secrets, the Management API token cache
    /// and per-tenant pacing, shared with the rotation worker of the same process.
    pub broker: Broker,
    /// How long a call through a connection may queue for its tenant's next slot before it is
    /// answered 429 with `Retry-After`.
    pub pacing_max_wait: std::time::Duration,
    /// The same database, through connections whose commits do not wait for the WAL flush: only
    /// for the audit rows of reads (of secret values, and made through a connection; see
    /// `routes::connection_calls::session`). Opened lazily, a few at most.
    pub audit_reads: PgPool,
    /// Reads of one secret by name, sent to the database together (on `audit_reads`).
    pub secret_reads: Grouped<SecretByName>,
    /// Reads of one connection by id, sent to the database together.
    pub connection_reads: Grouped<ConnectionById>,
    /// Reads of one rotation by id (with its answer's details), sent to the database together.
    pub rotation_reads: Grouped<RotationById>,
    /// How long a request's whole body may take to arrive (408 after that); see `body_deadline`.
    pub body_read_timeout: std::time::Duration,
    /// Webhook URLs may use `http`, IP literals and internal names (`KEYHOLD_WEBHOOK_ALLOW_PRIVATE_NETWORKS`).
    pub webhook_allow_private_networks: bool,
    /// Set when the process is shutting down: `/readyz` answers 503 so balancers stop sending.
    pub draining: crate::routes::health::Draining,
}

/// Enough for thousands of single-row inserts a second; reads queue briefly past that.
const AUDIT_READS_CONNECTIONS: u32 = 8;

/// Default for [`AppState::pacing_max_wait`]: long enough to absorb a burst on a small tenant
/// (2 requests/s), short enough that an interactive caller is told to come back instead.
pub const DEFAULT_PACING_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

impl AppState {
    /// Everything the API needs comes from the process's `broker` (its pool, keyring and Auth0
    /// client); `token_ttl`: how long an access token issued at login stays valid.
    pub fn new(broker: Broker, token_ttl: std::time::Duration) -> Self {
        crate::metrics::install();
        let db = broker.pool.clone();
        // A startup parameter, so every commit on these connections (and only these) is relaxed.
        let relaxed = (*db.connect_options())
            .clone()
            .options([("synchronous_commit", "off")]);
        let audit_reads = sqlx::postgres::PgPoolOptions::new()
            .max_connections(AUDIT_READS_CONNECTIONS)
            // As on the main pool (see keyhold's `db::connect`): the ping sqlx sends on every
            // checkout was a fifth of the server's CPU under a load of secret reads.
            .test_before_acquire(false)
            .acquire_timeout(db.options().get_acquire_timeout())
            .connect_lazy_with(relaxed);
        AppState(Arc::new(Shared {
            throttle: LoginThrottle::new(db.clone()),
            secret_reads: Grouped::new(audit_reads.clone()),
            connection_reads: Grouped::new(db.clone()),
            rotation_reads: Grouped::new(db.clone()),
            audit_reads,
            pacing_max_wait: DEFAULT_PACING_MAX_WAIT,
            db,
            keyring: broker.keyring.clone(),
            auth0: broker.auth0.clone(),
            broker,
            tokens: TokenService::new(token_ttl),
            body_read_timeout: crate::DEFAULT_BODY_READ_TIMEOUT,
            argon: ArgonQueue::default(),
            trusted_proxies: TrustedProxies::default(),
            webhook_allow_private_networks: false,
            draining: crate::routes::health::Draining::default(),
        }))
    }

    /// The contents, to change while setting up (copied if another handle shares them).
    fn shared_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.0)
    }

    /// Replaces the argon2 queue (tests of a small one).
    pub fn with_argon_queue(mut self, argon: ArgonQueue) -> Self {
        self.shared_mut().argon = argon;
        self
    }

    /// Sets [`AppState::webhook_allow_private_networks`].
    pub fn with_webhook_allow_private_networks(mut self, allow: bool) -> Self {
        self.shared_mut().webhook_allow_private_networks = allow;
        self
    }

    /// How long a call through a connection may queue for its tenant's next slot.
    pub fn with_pacing_max_wait(mut self, max_wait: std::time::Duration) -> Self {
        self.shared_mut().pacing_max_wait = max_wait;
        self
    }

    /// Sets [`AppState::body_read_timeout`].
    pub fn with_body_read_timeout(mut self, limit: std::time::Duration) -> Self {
        self.shared_mut().body_read_timeout = limit;
        self
    }

    /// Paces this state's calls at `rate` with a pacer of its own (tests of pacing; a process
    /// gives the rate to [`Broker::new`] so API and worker share one pacer).
    pub fn with_tenant_rate(
        mut self,
        rate: Option<TenantRate>,
        max_wait: std::time::Duration,
    ) -> Self {
        let shared = self.shared_mut();
        shared.broker.pacer = Arc::new(Pacer::new(shared.db.clone(), rate));
        shared.pacing_max_wait = max_wait;
        self
    }
}

impl AppState {
    /// Believes `X-Forwarded-For`/`Forwarded` from these peers (reverse proxies in front of us).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.shared_mut().trusted_proxies = proxies;
        self
    }
}

// Hand-written so no future field can print key material by accident.
impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}
