//! Keyhold's Auth0 client: the client-credentials token request (with a client secret or a
//! Private Key JWT assertion), the Management API calls Keyhold makes, and the transport
//! they share.
//!
//! Everything that leaves Keyhold for Auth0 goes through [`Auth0Client`]: HTTPS only, to a
//! validated tenant hostname ([`Domain`]), through a resolver that refuses internal
//! addresses at connect time, with no redirects, bounded timeouts and retries of 429/5xx
//! that honour Auth0's rate-limit headers. Failures come back as [`Auth0Error`], whose
//! `Display` tells a user what to fix and whose [`Auth0Error::is_retryable`] tells a worker
//! whether to try again. The crate knows nothing about Keyhold's database or IDs, and never
//! logs or formats a secret.
//!
//! ```no_run
//! # async fn demo() -> Result<(), auth0::Auth0Error> {
//! use auth0::{Auth0Client, ClientCredentials, Domain, HttpConfig, SecretString};
//!
//! let client = Auth0Client::new(HttpConfig::default())?;
//! let domain = Domain::parse("tenant.us.auth0.com").map_err(|e| auth0::Auth0Error::Config {
//!     reason: e.to_string(),
//! })?;
//! let creds = ClientCredentials {
//!     audience: domain.management_audience(),
//!     domain,
//!     client_id: "client-id".into(),
//!     client_secret: SecretString::from("client-secret"),
//! };
//! match client.client_credentials_token(&creds).await {
//!     Ok(token) => println!("granted: {:?}", token.scopes),
//!     Err(err) if err.is_retryable() => println!("try again later: {err}"),
//!     Err(err) => println!("fix the connection: {}", err.reason()),
//! }
//! # Ok(()) }
//! ```

mod assertion;
mod assertion_token;
mod connection_calls;
mod credential_calls;
mod dns;
mod domain;
mod error;
mod http;
pub mod outbound;
mod retry;
mod rotation_calls;
mod ssrf;
mod token;
mod token_cache;

pub use reqwest::header::HeaderMap;
pub use reqwest::{Method, StatusCode};
pub use secrecy::{ExposeSecret, SecretString};

pub use crate::assertion::{
    CLIENT_ASSERTION_TYPE, ClientAssertion, GENERATED_KEY_BITS, GeneratedKey, SigningAlg,
    generate_key, jwk_thumbprint, public_jwk,
};
pub use crate::assertion_token::AssertionCredentials;
pub use crate::connection_calls::{
    ClientPage, ClientQuery, ClientRecord, Created, ManagementAnswer, ResourceServerRecord,
    TOKEN_VAULT_GRANT, path_segment,
};
pub use crate::credential_calls::{CredentialInfo, NewCredential};
pub use crate::dns::NameResolver;
pub use crate::domain::{Domain, DomainError};
pub use crate::error::Auth0Error;
pub use crate::http::{Auth0Client, Auth0Response, HttpConfig, RequestBody};
pub use crate::rotation_calls::ClientInfo;
pub use crate::ssrf::is_forbidden_ip;
pub use crate::token::{AccessToken, ClientCredentials};
pub use crate::token_cache::TokenCache;

/// Result alias for this crate.
pub type Result<T, E = Auth0Error> = std::result::Result<T, E>;
