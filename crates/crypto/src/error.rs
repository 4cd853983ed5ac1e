//! The crate's two error enums: [`KeyError`] for loading or generating root keys (a start-up
//! problem an operator fixes in configuration) and [`CryptoError`] for sealing and opening
//! envelopes (a data problem). Neither ever carries key material or plaintext: ids, positions
//! and lengths only, because these messages end up in logs and start-up output.

/// Why a root keyring could not be loaded or a root key generated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// No entries at all.
    #[error(
        "no root key configured: set KEYHOLD_ROOT_KEYS=\"id:base64key\" or KEYHOLD_ROOT_KEY_FILE \
         (generate a key with `keyhold keys generate`)"
    )]
    Empty,
    /// An entry is not `id:base64key`. Only the position is reported: the entry itself may be
    /// a bare key.
    #[error(
        "root key entry {} is not of the form id:base64key \
         (generate a key with `keyhold keys generate`)", .entry_index + 1
    )]
    Malformed {
        /// Zero-based position of the entry.
        entry_index: usize,
    },
    /// An entry's id is not 1-32 characters of `[A-Za-z0-9_-]`. The id is not echoed: a
    /// swapped `key:id` entry would otherwise print the key.
    #[error(
        "root key entry {} has an invalid id: ids are 1-32 characters of A-Z, a-z, 0-9, '_' or '-'",
        .entry_index + 1
    )]
    BadId {
        /// Zero-based position of the entry.
        entry_index: usize,
    },
    /// An id given to [`crate::generate_root_key`] is invalid.
    #[error("invalid root key id: ids are 1-32 characters of A-Z, a-z, 0-9, '_' or '-'")]
    InvalidId,
    /// The key part is not standard base64.
    #[error(
        "root key `{id}` is not valid standard base64 (generate a key with `keyhold keys generate`)"
    )]
    BadBase64 {
        /// The (validated) key id.
        id: String,
    },
    /// The key decodes to the wrong number of bytes.
    #[error(
        "root key `{id}` decodes to {len} bytes; root keys are 32 bytes (256 bits) in standard \
         base64 (generate a key with `keyhold keys generate`)"
    )]
    BadKeyLength {
        /// The (validated) key id.
        id: String,
        /// Decoded length in bytes.
        len: usize,
    },
    /// Two entries share an id, so envelopes naming it would be ambiguous.
    #[error("root key id `{id}` appears more than once")]
    Duplicate {
        /// The repeated id.
        id: String,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Rng,
}

/// Why an envelope could not be sealed, opened or re-wrapped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The bytes end before the envelope's fixed structure does.
    #[error("sealed data is truncated")]
    Truncated,
    /// The first byte names a format this build does not read.
    #[error("sealed data has unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// The envelope names a root key id that is not in the keyring.
    #[error("sealed data uses root key `{0}`, which is not configured")]
    UnknownKeyId(String),
    /// The header is structurally invalid (bad key id length or characters).
    #[error("sealed data is malformed")]
    Malformed,
    /// Authentication failed: wrong root key, wrong associated data (table, record id or
    /// field), or tampered bytes. AES-GCM cannot tell these apart, by design.
    #[error("sealed data could not be decrypted: wrong key, wrong record binding, or tampered")]
    Decrypt,
    /// Decrypted fine, but the plaintext is not UTF-8 where a string was expected.
    #[error("decrypted secret is not valid UTF-8")]
    InvalidUtf8,
    /// The plaintext or associated data exceeds AES-GCM's limits.
    #[error("secret or associated data is too large to encrypt")]
    TooLarge,
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Rng,
}
