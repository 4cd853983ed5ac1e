//! Envelope encryption for Keyhold: the root keyring read from configuration, per-record
//! AES-256-GCM envelopes bound to their place by associated data, and secret generation.
//!
//! This crate is types and pure functions only: no IO, no async runtime, no logging. Input is
//! keys, plaintext secret types and associated data; output is sealed bytes or a typed error.
//! Secrets never appear in `Debug` output or error messages.
//!
//! ```
//! use crypto::{Aad, ExposeSecret, RootKeyring, SecretString};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let spec = crypto::generate_root_key("k1")?;
//! let keyring = RootKeyring::parse(spec.expose_secret())?;
//! let aad = Aad::new("app_connections", "0190b6a2-7c1e-7000-8000-000000000001", "client_secret");
//!
//! let sealed = keyring.seal_str(&SecretString::from("s3cr3t"), &aad)?;
//! assert_eq!(RootKeyring::envelope_key_id(&sealed)?, "k1");
//! assert_eq!(keyring.open_str(&sealed, &aad)?.expose_secret(), "s3cr3t");
//! # Ok(())
//! # }
//! ```

mod aad;
mod envelope;
mod error;
mod keyring;
pub mod password;
mod random;

pub use secrecy::{ExposeSecret, SecretString};
pub use zeroize::Zeroizing;

pub use aad::Aad;
pub use error::{CryptoError, KeyError};
pub use keyring::{RootKeyring, generate_root_key};
pub use random::{Alphabet, generate_secret, random_key_id, random_secret};

/// Format version written as the first byte of every envelope this build seals.
pub const ENVELOPE_VERSION: u8 = envelope::VERSION;
