//! What every handler shares. Cheap to clone: everything inside is a handle.

use std::sync::Arc;

use auth0::Auth0Client;
use crypto::RootKeyring;
use store::PgPool;

use crate::auth::argon::ArgonQueue;
use crate::auth::client_ip::TrustedProxies;
use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::TokenService;

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub keyring: Arc<RootKeyring>,
    pub auth0: Auth0Client,
    pub tokens: TokenService,
    pub throttle: LoginThrottle,
    /// Places for argon2 work; a login finding none is refused at once.
    pub argon: ArgonQueue,
    /// Peers whose `X-Forwarded-For`/`Forwarded` name the client; none unless configured.
    pub trusted_proxies: TrustedProxies,
    /// Acting on Auth0 as a stored connection, with the Management API token cache.
    pub access: worker::Auth0Access,
    /// Per-tenant pacing of calls made through a connection, with the budget the rotation worker
    /// shares through Postgres. Unpaced unless set with [`AppState::with_tenant_rate`].
    pub pacer: Arc<worker::Pacer>,
    /// How long a call through a connection may queue for its tenant's next slot before it is
    /// answered 429 with `Retry-After`.
    pub pacing_max_wait: std::time::Duration,
    /// The same database, through connections whose commits do not wait for the WAL flush: only
    /// for the audit rows of reads made through a connection (see `routes::connections::usage`).
    /// Opened lazily, a few at most.
    pub audit_reads: PgPool,
}

/// Enough for thousands of single-row inserts a second; reads queue briefly past that.
const AUDIT_READS_CONNECTIONS: u32 = 8;

/// Default for [`AppState::pacing_max_wait`]: long enough to absorb a burst on a small tenant
/// (2 requests/s), short enough that an interactive caller is told to come back instead.
pub const DEFAULT_PACING_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

impl AppState {
    /// `token_ttl`: how long an access token issued at login stays valid.
    pub fn new(
        db: PgPool,
        keyring: Arc<RootKeyring>,
        auth0: Auth0Client,
        token_ttl: std::time::Duration,
    ) -> Self {
        crate::metrics::install();
        let access = worker::Auth0Access {
            pool: db.clone(),
            keyring: keyring.clone(),
            auth0: auth0.clone(),
            tokens: Arc::new(auth0::TokenCache::new()),
        };
        // A startup parameter, so every commit on these connections (and only these) is relaxed.
        let relaxed = (*db.connect_options())
            .clone()
            .options([("synchronous_commit", "off")]);
        let audit_reads = sqlx::postgres::PgPoolOptions::new()
            .max_connections(AUDIT_READS_CONNECTIONS)
            .acquire_timeout(db.options().get_acquire_timeout())
            .connect_lazy_with(relaxed);
        AppState {
            audit_reads,
            access,
            pacer: Arc::new(worker::Pacer::new(db.clone(), None)),
            pacing_max_wait: DEFAULT_PACING_MAX_WAIT,
            db,
            keyring,
            auth0,
            tokens: TokenService::new(token_ttl),
            throttle: LoginThrottle::default(),
            argon: ArgonQueue::default(),
            trusted_proxies: TrustedProxies::default(),
        }
    }

    /// Paces calls through connections at each tenant's Management API limit (`None`: unpaced,
    /// only Auth0's own 429s slow callers down), queueing a call at most `max_wait`. Use the
    /// rate the rotation workers are given, so API and workers share one budget per tenant.
    pub fn with_tenant_rate(
        mut self,
        rate: Option<worker::TenantRate>,
        max_wait: std::time::Duration,
    ) -> Self {
        self.pacer = Arc::new(worker::Pacer::new(self.db.clone(), rate));
        self.pacing_max_wait = max_wait;
        self
    }
}

impl AppState {
    /// Believes `X-Forwarded-For`/`Forwarded` from these peers (reverse proxies in front of us).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }
}

// Hand-written so no future field can print key material by accident.
impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}
