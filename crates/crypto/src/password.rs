//! argon2id for low-entropy secrets (user passwords) and for machine identities' client secrets.
//!
//! Parameters: OWASP's first recommended argon2id setting (m = 19 MiB, t = 2, p = 1). It costs about
//! 20-40 ms on one core here, so a login is cheap for a person and a guess is expensive for an attacker
//! with the hash. These functions are CPU-bound: callers run them off the async workers.
//!
//! The 19 MiB of working memory lives in a [`Workspace`] that a long-lived thread keeps and reuses.
//! Allocating it per hash left glibc holding freed blocks in per-thread arenas: a burst of logins
//! grew the server's resident memory by 19 MiB per thread that had ever hashed, and kept it.

use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;

fn params() -> Result<Params, PasswordError> {
    Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, Some(OUTPUT_LEN))
        .map_err(|_| PasswordError::Hash)
}

/// argon2's working memory for this module's parameters, allocated once and reused by every hash
/// and verification run through it.
pub struct Workspace {
    blocks: Vec<Block>,
}

// The blocks hold intermediate hash state; their number is all a log needs.
impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

impl Default for Workspace {
    fn default() -> Self {
        Workspace::new()
    }
}

impl Workspace {
    pub fn new() -> Self {
        Workspace {
            blocks: vec![Block::new(); MEMORY_KIB as usize],
        }
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) with a fresh random salt.
    pub fn hash(&mut self, secret: &SecretString) -> Result<String, PasswordError> {
        let mut salt = [0u8; SALT_LEN];
        crate::random::fill_random(&mut salt).map_err(|_| PasswordError::Hash)?;
        let params = params()?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut out = [0u8; OUTPUT_LEN];
        argon2
            .hash_password_into_with_memory(
                secret.expose_secret().as_bytes(),
                &salt,
                &mut out,
                &mut self.blocks,
            )
            .map_err(|_| PasswordError::Hash)?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: (&params).try_into().map_err(|_| PasswordError::Hash)?,
            salt: Some(Salt::new(&salt).map_err(|_| PasswordError::Hash)?),
            hash: Some(Output::new(&out).map_err(|_| PasswordError::Hash)?),
        };
        Ok(phc.to_string())
    }

    /// Constant-time check of `secret` against a stored PHC string, with the parameters the string
    /// names. `false` for a wrong secret.
    pub fn verify(&mut self, secret: &SecretString, phc: &str) -> Result<bool, PasswordError> {
        let parsed = PasswordHash::new(phc).map_err(|_| PasswordError::BadHash)?;
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return Err(PasswordError::BadHash);
        };
        let algorithm =
            Algorithm::try_from(parsed.algorithm.as_str()).map_err(|_| PasswordError::BadHash)?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|_| PasswordError::BadHash)?
            .unwrap_or_default();
        let params = Params::try_from(&parsed).map_err(|_| PasswordError::BadHash)?;
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let mut out = vec![0u8; expected.len()];
        let pwd = secret.expose_secret().as_bytes();
        // A hash made with other (older, larger) parameters gets memory of its own for this once.
        let result = if params.block_count() <= self.blocks.len() {
            argon2.hash_password_into_with_memory(pwd, salt, &mut out, &mut self.blocks)
        } else {
            argon2.hash_password_into(pwd, salt, &mut out)
        };
        result.map_err(|_| PasswordError::BadHash)?;
        let computed = Output::new(&out).map_err(|_| PasswordError::BadHash)?;
        // `Output`'s equality is constant-time.
        Ok(&computed == expected)
    }
}

/// [`Workspace::hash`] with a workspace of its own: for one-off hashes (the CLI, tests).
pub fn hash_secret(secret: &SecretString) -> Result<String, PasswordError> {
    Workspace::new().hash(secret)
}

/// [`Workspace::verify`] with a workspace of its own.
pub fn verify_secret(secret: &SecretString, phc: &str) -> Result<bool, PasswordError> {
    Workspace::new().verify(secret, phc)
}

#[cfg(test)]
mod tests {
    use argon2::PasswordHasher;

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
    fn one_workspace_serves_many_secrets() {
        let mut workspace = Workspace::new();
        let first = SecretString::from("first");
        let second = SecretString::from("second");
        let first_phc = workspace.hash(&first).expect("hash");
        let second_phc = workspace.hash(&second).expect("hash");
        assert_eq!(workspace.verify(&first, &first_phc), Ok(true));
        assert_eq!(workspace.verify(&second, &second_phc), Ok(true));
        assert_eq!(workspace.verify(&first, &second_phc), Ok(false));
    }

    #[test]
    fn agrees_with_the_argon2_crate_both_ways() {
        let secret = SecretString::from("interop");
        // Made by the crate's own hasher, with other parameters: verified here.
        let small = Params::new(8 * 1024, 3, 1, None).expect("params");
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, small)
            .hash_password(b"interop")
            .expect("hash")
            .to_string();
        let mut workspace = Workspace::new();
        assert_eq!(workspace.verify(&secret, &theirs), Ok(true));
        // Made here: verified by the crate.
        let ours = workspace.hash(&secret).expect("hash");
        let parsed = PasswordHash::new(&ours).expect("parse");
        use argon2::PasswordVerifier;
        assert!(
            Argon2::default()
                .verify_password(b"interop", &parsed)
                .is_ok()
        );
        // Larger than the workspace: still verified, with memory of its own.
        let large = Params::new(32 * 1024, 1, 1, None).expect("params");
        let bigger = Argon2::new(Algorithm::Argon2id, Version::V0x13, large)
            .hash_password(b"interop")
            .expect("hash")
            .to_string();
        assert_eq!(workspace.verify(&secret, &bigger), Ok(true));
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
