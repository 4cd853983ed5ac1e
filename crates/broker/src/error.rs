//! The broker's error type. Auth0's own refusals stay typed (`Auth0`) so callers can map them
//! to problems or retries; nothing here ever carries a secret.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Auth0(#[from] auth0::Auth0Error),
    #[error("cannot open or seal a stored secret: {0}")]
    Crypto(#[from] crypto::CryptoError),
    /// The connection's stored domain does not parse (it was validated when stored).
    #[error("the connection's Auth0 domain is invalid: {0}")]
    Domain(#[from] auth0::DomainError),
    /// A stored secret was asked to go to a tenant or client other than the one it was issued
    /// for; it was not opened.
    #[error(
        "the stored secret was issued for another Auth0 tenant or client than the one it would be sent to; it was not used"
    )]
    IssuedElsewhere,
    /// The connection authenticates with a private key (Private Key JWT): it has no client secret.
    #[error(
        "the connection authenticates with a private key (Private Key JWT) and holds no client secret"
    )]
    NoClientSecret,
    /// Revoking the secret of the connection's own application would lock Keyhold out of it.
    #[error(
        "the rotated application is the connection's own: revoking its secret would break the connection; delete the connection instead, or delete the rotation without revoking"
    )]
    RevokeOwnClient,
    /// A sealed value opened but does not hold what its column should (never its content).
    #[error("a stored value opened but is not in the expected format")]
    Unreadable,
}
