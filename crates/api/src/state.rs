//! What every handler shares. Cheap to clone: everything inside is a handle.

use std::sync::Arc;

use auth0::Auth0Client;
use crypto::RootKeyring;
use store::{OrgId, PgPool};

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub keyring: Arc<RootKeyring>,
    pub auth0: Auth0Client,
    /// The instance's organisation (`orgId` in responses).
    pub org_id: OrgId,
}

// Hand-written so no future field can print key material by accident.
impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("org_id", &self.org_id)
            .finish_non_exhaustive()
    }
}
