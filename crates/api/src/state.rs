//! What every handler shares. Cheap to clone: everything inside is a handle.

use std::sync::Arc;

use auth0::Auth0Client;
use crypto::RootKeyring;
use store::PgPool;

use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::TokenService;

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub keyring: Arc<RootKeyring>,
    pub auth0: Auth0Client,
    pub tokens: TokenService,
    pub throttle: LoginThrottle,
    /// Acting on Auth0 as a stored connection, with the Management API token cache.
    pub access: worker::Auth0Access,
}

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
        AppState {
            access,
            db,
            keyring,
            auth0,
            tokens: TokenService::new(token_ttl),
            throttle: LoginThrottle::default(),
        }
    }
}

// Hand-written so no future field can print key material by accident.
impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}
