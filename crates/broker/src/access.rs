//! Using a connection's credentials against Auth0: sealing and opening its secrets and private
//! keys (always through [`crate::aad`]), the cached Management API token (including the recovery
//! path after a self-rotation crashed between Auth0 accepting the new secret and our commit), and
//! the calls the API makes outside the worker (checking a client is visible, revoking a stored
//! secret on delete).

use std::sync::Arc;

use auth0::{
    AccessToken, AssertionCredentials, Auth0Client, Auth0Error, ClientAssertion, ClientCredentials,
    ClientInfo, Domain, SigningAlg, TokenCache,
};
use crypto::{RootKeyring, SecretString};
use store::connections::{Connection, Sealed};
use store::rotations::{Credential, Rotation};
use store::{ConnectionId, CredentialId, PgPool, PrivateKeyId, ProjectId};

use crate::aad::{self, Destination};
use crate::error::{Error, Result};
use crate::pacer::{Pacer, TenantRate};

/// Everything needed to act on Auth0 as a stored connection. Build one per process and clone it
/// (cheap: handles only); clones share the token cache and the pacer.
#[derive(Clone)]
pub struct Broker {
    pub pool: PgPool,
    pub keyring: Arc<RootKeyring>,
    pub auth0: Auth0Client,
    pub tokens: Arc<TokenCache>,
    /// Per-tenant pacing of Management API calls, with the budget shared through Postgres.
    pub pacer: Arc<Pacer>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
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

impl Broker {
    /// `rate`: the tenants' Management API limit shared by the API and every worker (`None`
    /// paces nothing).
    pub fn new(
        pool: PgPool,
        keyring: Arc<RootKeyring>,
        auth0: Auth0Client,
        rate: Option<TenantRate>,
    ) -> Broker {
        Broker {
            pacer: Arc::new(Pacer::new(pool.clone(), rate)),
            tokens: Arc::new(TokenCache::new()),
            pool,
            keyring,
            auth0,
        }
    }

    /// The same broker (token cache and pacer included) calling Auth0 through `auth0`: the
    /// worker's client does not retry by itself, the API's does.
    #[must_use]
    pub fn with_client(&self, auth0: Auth0Client) -> Broker {
        Broker {
            auth0,
            ..self.clone()
        }
    }

    pub fn domain(connection: &Connection) -> Result<Domain> {
        Ok(Domain::parse(&connection.domain)?)
    }

    /// Seals a connection's secret for the tenant and client it is sent to.
    pub fn seal_connection_secret(
        &self,
        id: ConnectionId,
        project_id: ProjectId,
        to: Destination<'_>,
        secret: &SecretString,
    ) -> Result<Sealed> {
        let binding = aad::connection_secret(id, project_id, to);
        Ok(Sealed(self.keyring.seal_str(secret, &binding.aad())?))
    }

    /// Opens a connection's secret, to be sent to the connection's own tenant and client.
    /// [`Error::NoClientSecret`] for a `private-key-jwt` connection.
    pub fn open_connection_secret(&self, connection: &Connection) -> Result<SecretString> {
        let sealed = connection
            .client_secret_sealed
            .as_ref()
            .ok_or(Error::NoClientSecret)?;
        let binding = aad::connection(connection);
        Ok(self.keyring.open_str(&sealed.0, &binding.aad())?)
    }

    /// Seals a `private-key-jwt` connection's private key (PEM) for the `connection_private_keys`
    /// row `id`, to sign assertions for the tenant and client `to` only.
    pub fn seal_connection_private_key(
        &self,
        id: PrivateKeyId,
        connection_id: ConnectionId,
        project_id: ProjectId,
        to: Destination<'_>,
        private_key_pem: &SecretString,
    ) -> Result<Sealed> {
        let binding = aad::connection_private_key(id, connection_id, project_id, to);
        Ok(Sealed(
            self.keyring.seal_str(private_key_pem, &binding.aad())?,
        ))
    }

    /// The connection's signing key, opened for its own tenant and client: read from the database
    /// only here, i.e. when a token must be fetched.
    async fn signing_credentials(&self, connection: &Connection) -> Result<AssertionCredentials> {
        let row = store::connection_keys::get(&self.pool, connection.id).await?;
        let own = Destination {
            domain: &connection.domain,
            client_id: &connection.client_id,
        };
        let binding =
            aad::connection_private_key(row.id, connection.id, connection.project_id, own);
        let pem = self
            .keyring
            .open_str(&row.private_key_sealed.0, &binding.aad())?;
        let alg = connection
            .key
            .key_alg
            .as_deref()
            .and_then(SigningAlg::parse)
            .unwrap_or_default();
        let kid = connection.key.key_kid.clone().unwrap_or_default();
        Ok(AssertionCredentials {
            domain: Self::domain(connection)?,
            client_id: connection.client_id.clone(),
            assertion: ClientAssertion::new(pem, kid, alg)?,
            audience: connection.audience.clone(),
        })
    }

    /// A Management API token for a `private-key-jwt` connection: a signed client assertion
    /// instead of a secret, through the same cache (single flight, per connection version).
    async fn assertion_token(
        &self,
        connection: &Connection,
        max_age: Option<std::time::Duration>,
    ) -> Result<AccessToken> {
        let (key, version) = cache_key(connection);
        // The cache's fetch speaks `Auth0Error`; a failure to load or open the key is kept here
        // and returned as what it is.
        let mut unusable_key = None;
        let fetched = self
            .tokens
            .get_or_fetch_within(&key, version, max_age, || async {
                match self.signing_credentials(connection).await {
                    Ok(creds) => self.auth0.client_assertion_token(&creds).await,
                    Err(err) => {
                        unusable_key = Some(err);
                        Err(Auth0Error::Config {
                            reason: "the connection's private key could not be used".into(),
                        })
                    }
                }
            })
            .await;
        match (fetched, unusable_key) {
            (Ok(token), _) => Ok(token),
            (Err(_), Some(err)) => Err(err),
            (Err(err), None) => {
                // Before registration a refusal is expected (the key is not in Auth0 yet); after
                // it, Auth0 no longer accepts the key the connection holds.
                if matches!(err, Auth0Error::AssertionRejected { .. })
                    && !connection.awaits_registration()
                {
                    self.report_credentials_rejected(connection).await;
                }
                Err(err.into())
            }
        }
    }

    /// Seals the private key (PEM) a key rotation generated, for its `rotation_key_pairs` row `id`
    /// and the tenant and client `to` its public half is registered with.
    pub fn seal_rotation_private_key(
        &self,
        id: PrivateKeyId,
        rotation: &Rotation,
        to: Destination<'_>,
        private_key_pem: &SecretString,
    ) -> Result<Sealed> {
        let binding = aad::rotation_private_key(id, rotation.id, rotation.project_id, to);
        Ok(Sealed(
            self.keyring.seal_str(private_key_pem, &binding.aad())?,
        ))
    }

    /// Opens a key rotation's private key in order to use it for (or publish it beside) `to`.
    /// Refused before decryption if the key was issued for another tenant or client; a row whose
    /// recorded destination, rotation or project was altered fails to open.
    pub fn open_rotation_private_key_for(
        &self,
        key: &store::rotations::key_pairs::KeyPair,
        project_id: ProjectId,
        to: Destination<'_>,
    ) -> Result<SecretString> {
        if key.domain != to.domain || key.client_id != to.client_id {
            return Err(Error::IssuedElsewhere);
        }
        let binding = aad::rotation_private_key(key.id, key.rotation_id, project_id, to);
        Ok(self
            .keyring
            .open_str(&key.private_key_sealed.0, &binding.aad())?)
    }

    /// Seals the value of one version of a project secret for the `secret_versions` row `id`.
    pub fn seal_secret_value(
        &self,
        id: store::SecretVersionId,
        place: aad::SecretPlace,
        value: &SecretString,
    ) -> Result<Sealed> {
        let binding = aad::secret_value(id, place);
        Ok(Sealed(self.keyring.seal_str(value, &binding.aad())?))
    }

    /// Opens the value of one version of a project secret; fails if the row's sealed bytes
    /// belong to another row, secret, version, environment or project.
    pub fn open_secret_value(
        &self,
        id: store::SecretVersionId,
        place: aad::SecretPlace,
        sealed: &Sealed,
    ) -> Result<SecretString> {
        let binding = aad::secret_value(id, place);
        Ok(self.keyring.open_str(&sealed.0, &binding.aad())?)
    }

    /// Seals a newly generated secret of `rotation` for the tenant and client it is issued to.
    pub fn seal_generated_secret(
        &self,
        id: CredentialId,
        rotation: &Rotation,
        to: Destination<'_>,
        secret: &SecretString,
    ) -> Result<Sealed> {
        let binding = aad::generated_secret(id, rotation.id, rotation.project_id, to);
        Ok(Sealed(self.keyring.seal_str(secret, &binding.aad())?))
    }

    /// Opens a generated secret of a rotation in `project_id` in order to send it to `to`.
    /// Refused, before it is decrypted, if the credential was issued for another tenant or
    /// client; a row whose recorded destination, rotation or project was altered fails to open.
    pub fn open_generated_secret_for(
        &self,
        credential: &Credential,
        project_id: ProjectId,
        to: Destination<'_>,
    ) -> Result<SecretString> {
        if credential.domain != to.domain || credential.client_id != to.client_id {
            return Err(Error::IssuedElsewhere);
        }
        let binding = aad::generated_secret(credential.id, credential.rotation_id, project_id, to);
        Ok(self
            .keyring
            .open_str(&credential.client_secret_sealed.0, &binding.aad())?)
    }

    /// Opens a generated secret for the audited reveal, which shows it beside the client id it
    /// was issued for.
    pub fn reveal_generated_secret(
        &self,
        credential: &Credential,
        rotation: &Rotation,
    ) -> Result<SecretString> {
        let binding = aad::generated_as_issued(credential, rotation);
        Ok(self
            .keyring
            .open_str(&credential.client_secret_sealed.0, &binding.aad())?)
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

    /// A Management API token for the connection, reused from the cache when possible. A
    /// `private-key-jwt` connection gets it with a signed client assertion (its private key is
    /// read and opened only on a cache miss); a refusal is `Auth0Error::AssertionRejected`.
    ///
    /// If Auth0 refuses the stored secret, a self-rotation may have been cut short after Auth0
    /// accepted its new secret and before the commit: the pending (or abandoned) secrets of
    /// rotations of the connection's own client are tried before giving up, so the connection
    /// keeps working and the interrupted rotation can finish. When every one is refused, the
    /// project's webhooks hear of it (`app-connection.credentials-rejected`, at most hourly).
    pub async fn management_token(&self, connection: &Connection) -> Result<AccessToken> {
        self.management_token_within(connection, None).await
    }

    /// As [`Broker::management_token`], with a cached token reused only if it was fetched less
    /// than `max_age` ago (when given); concurrent callers share one fresh fetch.
    pub async fn management_token_within(
        &self,
        connection: &Connection,
        max_age: Option<std::time::Duration>,
    ) -> Result<AccessToken> {
        if connection.uses_private_key() {
            return self.assertion_token(connection, max_age).await;
        }
        let (key, version) = cache_key(connection);
        let secret = self.open_connection_secret(connection)?;
        let creds = self.credentials(connection, secret)?;
        match self
            .tokens
            .token(&self.auth0, &key, version, max_age, &creds)
            .await
        {
            Err(Auth0Error::WrongCredentials) => {}
            other => return Ok(other?),
        }
        let candidates = store::rotations::unconfirmed_own_secrets(
            &self.pool,
            connection.id,
            connection.project_id,
            &connection.client_id,
        )
        .await?;
        let own = Destination {
            domain: &connection.domain,
            client_id: &connection.client_id,
        };
        for candidate in candidates {
            // Only a secret issued for this very tenant and client may be tried here.
            let secret = match self.open_generated_secret_for(
                &candidate,
                connection.project_id,
                own,
            ) {
                Ok(secret) => secret,
                Err(err) => {
                    tracing::warn!(connection.id = %connection.id, credential.id = %candidate.id, error = %err, "skipping a pending self-rotation secret that does not belong to the connection's tenant and client");
                    continue;
                }
            };
            let creds = self.credentials(connection, secret)?;
            match self
                .tokens
                .token(&self.auth0, &key, version, max_age, &creds)
                .await
            {
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
        self.report_credentials_rejected(connection).await;
        Err(Auth0Error::WrongCredentials.into())
    }

    /// The connection's cached token if it was fetched less than `max_age` ago (its scopes are
    /// then Auth0's grants as of that moment); `None` means the caller should fetch afresh.
    pub fn recent_token(
        &self,
        connection: &Connection,
        max_age: std::time::Duration,
    ) -> Option<AccessToken> {
        let (key, version) = cache_key(connection);
        self.tokens.fresh(&key, version, max_age)
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
