//! Using a connection's credentials against Auth0: opening its sealed secret, the cached
//! Management API token (including the recovery path after a self-rotation crashed between Auth0
//! accepting the new secret and our commit), and the calls the API makes outside the worker
//! (checking a client is visible, revoking a stored secret on delete).

use std::sync::Arc;

use auth0::{
    AccessToken, Auth0Client, Auth0Error, ClientCredentials, ClientInfo, Domain, TokenCache,
};
use crypto::{Aad, RootKeyring, SecretString};
use store::PgPool;
use store::connections::Connection;
use store::rotations::Rotation;

use crate::error::{Error, Result};

/// Where a connection's secret lives (as the API seals it).
pub fn connection_aad(connection_id: &str) -> Aad<'_> {
    Aad::new("app_connections", connection_id, "client_secret")
}

/// Where a generated secret lives: its own `rotation_credentials` row.
pub fn credential_aad(credential_id: &str) -> Aad<'_> {
    Aad::new("rotation_credentials", credential_id, "client_secret")
}

/// Everything needed to act on Auth0 as a stored connection. Cheap to clone.
#[derive(Clone)]
pub struct Auth0Access {
    pub pool: PgPool,
    pub keyring: Arc<RootKeyring>,
    pub auth0: Auth0Client,
    pub tokens: Arc<TokenCache>,
}

impl std::fmt::Debug for Auth0Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth0Access")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// The token cache's key for a connection: its id; its version makes credential changes
/// invalidate the entry.
fn cache_key(connection: &Connection) -> (String, u64) {
    (
        connection.id.to_string(),
        u64::try_from(connection.version).unwrap_or(0),
    )
}

impl Auth0Access {
    pub fn domain(connection: &Connection) -> Result<Domain> {
        Ok(Domain::parse(&connection.domain)?)
    }

    fn credentials(
        &self,
        connection: &Connection,
        secret: SecretString,
    ) -> Result<ClientCredentials> {
        Ok(ClientCredentials {
            domain: Self::domain(connection)?,
            client_id: connection.client_id.clone(),
            client_secret: secret,
            audience: connection.audience.clone(),
        })
    }

    /// A Management API token for the connection, reused from the cache when possible.
    ///
    /// If Auth0 refuses the stored secret, a self-rotation may have been cut short after Auth0
    /// accepted its new secret and before the commit: the pending (or abandoned) secrets of
    /// rotations of the connection's own client are tried before giving up, so the connection
    /// keeps working and the interrupted rotation can finish.
    pub async fn management_token(&self, connection: &Connection) -> Result<AccessToken> {
        let (key, version) = cache_key(connection);
        let id = connection.id.to_string();
        let secret = self
            .keyring
            .open_str(&connection.client_secret_sealed.0, &connection_aad(&id))?;
        let creds = self.credentials(connection, secret)?;
        match self.tokens.token(&self.auth0, &key, version, &creds).await {
            Err(Auth0Error::WrongCredentials) => {}
            other => return Ok(other?),
        }
        let candidates = store::rotations::unconfirmed_own_secrets(
            &self.pool,
            connection.id,
            &connection.client_id,
        )
        .await?;
        for candidate in candidates {
            let cred_id = candidate.id.to_string();
            let secret = self
                .keyring
                .open_str(&candidate.client_secret_sealed.0, &credential_aad(&cred_id))?;
            let creds = self.credentials(connection, secret)?;
            match self.tokens.token(&self.auth0, &key, version, &creds).await {
                Ok(token) => {
                    tracing::warn!(
                        connection.id = %connection.id,
                        "the connection's stored secret was refused but a pending self-rotation secret works; the interrupted rotation will finish and store it"
                    );
                    return Ok(token);
                }
                Err(Auth0Error::WrongCredentials) => {}
                Err(other) => return Err(other.into()),
            }
        }
        Err(Auth0Error::WrongCredentials.into())
    }

    /// Forgets a token Auth0 refused (401), unless a newer one replaced it already.
    pub async fn drop_token(&self, connection: &Connection, token: &AccessToken) {
        let (key, _) = cache_key(connection);
        self.tokens.invalidate_token(&key, token).await;
    }

    /// Forgets the connection's token, e.g. after its secret changed.
    pub fn forget_connection(&self, connection: &Connection) {
        let (key, _) = cache_key(connection);
        self.tokens.invalidate(&key);
    }

    /// Reads an Auth0 application through the connection: the check the API makes before it
    /// creates a rotation (a missing `read:clients` comes back as `MissingScope`, an unknown
    /// client as `ClientNotFound`). Retries once with a fresh token after a 401.
    pub async fn get_client(&self, connection: &Connection, client_id: &str) -> Result<ClientInfo> {
        let domain = Self::domain(connection)?;
        let token = self.management_token(connection).await?;
        match self
            .auth0
            .get_client(&domain, &token.token, client_id)
            .await
        {
            Err(Auth0Error::TokenRejected) => {
                self.drop_token(connection, &token).await;
                let token = self.management_token(connection).await?;
                Ok(self
                    .auth0
                    .get_client(&domain, &token.token, client_id)
                    .await?)
            }
            other => Ok(other?),
        }
    }

    /// Kills the secret Keyhold stored for a rotation by having Auth0 generate one nobody keeps
    /// (`rotate-secret`), for `DELETE ...?revokeGeneratedCredentials=true`. Refused for the
    /// connection's own application, which would lock the connection out.
    pub async fn revoke_generated_credentials(
        &self,
        connection: &Connection,
        rotation: &Rotation,
    ) -> Result<()> {
        if rotation.client_id == connection.client_id {
            return Err(Error::RevokeOwnClient);
        }
        let domain = Self::domain(connection)?;
        let token = self.management_token(connection).await?;
        match self
            .auth0
            .rotate_secret(&domain, &token.token, &rotation.client_id)
            .await
        {
            Err(Auth0Error::TokenRejected) => {
                self.drop_token(connection, &token).await;
                let token = self.management_token(connection).await?;
                Ok(self
                    .auth0
                    .rotate_secret(&domain, &token.token, &rotation.client_id)
                    .await?)
            }
            other => Ok(other?),
        }
    }
}
