//! argon2id for low-entropy secrets (user passwords) and for machine identities' client secrets.
//!
//! Parameters: OWASP's first recommended argon2id setting (m = 19 MiB, t = 2, p = 1). It costs about
//! 20-40 ms on one core here, so a login is cheap for a person and a guess is expensive for an attacker
//! with the hash, and 19 MiB per concurrent login keeps memory bounded. These functions are CPU-bound:
//! callers run them on a blocking thread.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("could not hash the secret")]
    Hash,
    #[error("the stored hash is not a valid PHC string")]
    BadHash,
}

pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

fn argon2() -> Result<Argon2<'static>, PasswordError> {
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).map_err(|_| PasswordError::Hash)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) with a fresh random salt.
pub fn hash_secret(secret: &SecretString) -> Result<String, PasswordError> {
    argon2()?
        .hash_password(secret.expose_secret().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|_| PasswordError::Hash)
}

/// Constant-time check of `secret` against a stored PHC string. `false` for a wrong secret.
pub fn verify_secret(secret: &SecretString, phc: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(phc).map_err(|_| PasswordError::BadHash)?;
    Ok(argon2()?
        .verify_password(secret.expose_secret().as_bytes(), &parsed)
        .is_ok())
}

/// A hash of a random value with the same parameters, to verify against when the identity does not
/// exist, so a wrong id costs the same time as a wrong secret.
pub fn decoy_hash() -> Result<String, PasswordError> {
    hash_secret(&crate::random_secret(32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_the_right_secret_only() {
        let secret = SecretString::from("correct horse battery staple");
        let phc = hash_secret(&secret).expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert_eq!(verify_secret(&secret, &phc), Ok(true));
        assert_eq!(verify_secret(&SecretString::from("wrong"), &phc), Ok(false));
        assert_eq!(
            verify_secret(&secret, "not a hash"),
            Err(PasswordError::BadHash)
        );
    }

    #[test]
    fn salts_differ() {
        let secret = SecretString::from("same");
        assert_ne!(
            hash_secret(&secret).expect("a"),
            hash_secret(&secret).expect("b")
        );
    }
}
