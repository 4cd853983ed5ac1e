//! The worker crate's error type for its public entry points. Failures of a rotation itself are
//! not errors here: they are recorded on the attempt and reported in a [`crate::JobReport`].

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Auth0(#[from] auth0::Auth0Error),
    #[error("cannot open or seal a stored secret: {0}")]
    Crypto(#[from] crypto::CryptoError),
    #[error("invalid worker configuration: {0}")]
    Config(String),
    /// The connection's stored domain does not parse (it was validated when stored).
    #[error("the connection's Auth0 domain is invalid: {0}")]
    Domain(#[from] auth0::DomainError),
    /// Revoking the secret of the connection's own application would lock Keyhold out of it.
    #[error(
        "the rotated application is the connection's own: revoking its secret would break the connection; delete the connection instead, or delete the rotation without revoking"
    )]
    RevokeOwnClient,
}
