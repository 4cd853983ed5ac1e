//! The root keyring: parsing `KEYHOLD_ROOT_KEYS` / `KEYHOLD_ROOT_KEY_FILE` contents, holding
//! the keys zeroized-on-drop, and choosing which key seals, opens or re-wraps an envelope.
//! Reading the environment or the file is the binary's job; this module only sees the text.
//!
//! Errors and `Debug` output name key ids and positions, never key material: these messages go
//! to logs and to the operator's terminal.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::aad::Aad;
use crate::envelope::{self, KEY_LEN};
use crate::error::{CryptoError, KeyError};
use crate::random::fill_random;

pub(crate) const MAX_KEY_ID_LEN: usize = 32;

/// Message for [`RootKeyring::check_value`]; changing it invalidates stored check values.
const CHECK_MESSAGE: &[u8] = b"keyhold keyring check v1";

/// Ids appear in envelopes, logs and SQL filters, so they are kept short and plain.
pub(crate) fn is_valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

struct RootKey {
    id: String,
    key: Zeroizing<[u8; KEY_LEN]>,
}

/// The configured root keys; the first is active (seals and re-wraps), all of them open.
///
/// Deliberately not `Clone` (share it behind an `Arc`) and with a hand-written `Debug` that
/// lists key ids only.
pub struct RootKeyring {
    /// Never empty: every constructor refuses an empty list.
    keys: Vec<RootKey>,
}

impl fmt::Debug for RootKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootKeyring")
            .field("active", &self.active_key_id())
            .field("key_ids", &self.key_ids())
            .finish_non_exhaustive()
    }
}

impl RootKeyring {
    /// "id:base64key,id2:base64key2" — first is active. 32-byte keys (standard base64, padding
    /// optional). ids: 1-32 chars `[A-Za-z0-9_-]`; duplicates refused. Whitespace around
    /// entries is ignored. Errors never contain key material.
    pub fn parse(spec: &str) -> Result<RootKeyring, KeyError> {
        Self::from_entries(spec.split(',').flat_map(str::split_ascii_whitespace))
    }

    /// File content in the same format: entries separated by commas and/or whitespace
    /// (typically one per line); lines starting with `#` are comments.
    pub fn from_file_contents(contents: &str) -> Result<RootKeyring, KeyError> {
        Self::from_entries(
            contents
                .lines()
                .filter(|line| !line.trim_start().starts_with('#'))
                .flat_map(|line| line.split(','))
                .flat_map(str::split_ascii_whitespace),
        )
    }

    fn from_entries<'s>(entries: impl Iterator<Item = &'s str>) -> Result<RootKeyring, KeyError> {
        let mut keys: Vec<RootKey> = Vec::new();
        for (entry_index, entry) in entries.enumerate() {
            let key = parse_entry(entry_index, entry)?;
            if keys.iter().any(|k| k.id == key.id) {
                return Err(KeyError::Duplicate { id: key.id });
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(RootKeyring { keys })
    }

    /// The id of the key that seals new envelopes and is the target of [`Self::rewrap`].
    pub fn active_key_id(&self) -> &str {
        self.active().map_or("", |k| k.id.as_str())
    }

    /// All configured ids, active first.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    /// A keyed check value for `key_id`: the first 16 bytes of
    /// HMAC-SHA256(key, "keyhold keyring check v1") as lowercase hex. Stored at first start, it
    /// lets start-up tell which configured key differs from the one that sealed existing data,
    /// without storing anything that helps recover the key. `None` for an unknown id.
    pub fn check_value(&self, key_id: &str) -> Option<String> {
        let key = self.find(key_id)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key.key.as_slice()).ok()?;
        mac.update(CHECK_MESSAGE);
        let digest = mac.finalize().into_bytes();
        Some(hex(digest.get(..16)?))
    }

    /// Seals `plaintext` under a fresh data key wrapped by the active root key, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &Aad<'_>) -> Result<Vec<u8>, CryptoError> {
        let active = self.active().ok_or(CryptoError::Malformed)?;
        envelope::seal(&active.id, &active.key, plaintext, aad)
    }

    /// [`Self::seal`] for a secret string.
    pub fn seal_str(&self, secret: &SecretString, aad: &Aad<'_>) -> Result<Vec<u8>, CryptoError> {
        self.seal(secret.expose_secret().as_bytes(), aad)
    }

    /// Opens an envelope with whichever configured key sealed it, checking it belongs at `aad`.
    pub fn open(&self, sealed: &[u8], aad: &Aad<'_>) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let parsed = envelope::parse(sealed)?;
        let key = self.key_for(parsed.key_id)?;
        envelope::open(&parsed, &key.key, aad)
    }

    /// [`Self::open`] for a secret string; `InvalidUtf8` if the plaintext is not UTF-8.
    pub fn open_str(&self, sealed: &[u8], aad: &Aad<'_>) -> Result<SecretString, CryptoError> {
        let plaintext = self.open(sealed, aad)?;
        let text = std::str::from_utf8(&plaintext).map_err(|_| CryptoError::InvalidUtf8)?;
        // `Box<str>::from` allocates exactly once at the right size, so the only other copy is
        // `plaintext`, which zeroizes when dropped.
        Ok(SecretString::from(Box::<str>::from(text)))
    }

    /// Re-wraps the data key under the ACTIVE root key; the secret's nonce and ciphertext are
    /// kept byte for byte and never decrypted. The same `aad` as at sealing is required (the
    /// wrapped key is bound to it). Always produces a fresh wrap, even when the envelope
    /// already uses the active key; filter with [`Self::envelope_key_id`] to skip those.
    pub fn rewrap(&self, sealed: &[u8], aad: &Aad<'_>) -> Result<Vec<u8>, CryptoError> {
        let parsed = envelope::parse(sealed)?;
        let old = self.key_for(parsed.key_id)?;
        let active = self.active().ok_or(CryptoError::Malformed)?;
        envelope::rewrap(&parsed, &old.key, &active.id, &active.key, aad)
    }

    /// Root key id recorded in a sealed envelope (for "which rows still use key X" queries),
    /// without decrypting. Validates the envelope's structure, not its authenticity.
    pub fn envelope_key_id(sealed: &[u8]) -> Result<String, CryptoError> {
        envelope::parse(sealed).map(|parsed| parsed.key_id.to_owned())
    }

    fn active(&self) -> Option<&RootKey> {
        self.keys.first()
    }

    fn find(&self, key_id: &str) -> Option<&RootKey> {
        self.keys.iter().find(|k| k.id == key_id)
    }

    fn key_for(&self, key_id: &str) -> Result<&RootKey, CryptoError> {
        self.find(key_id)
            .ok_or_else(|| CryptoError::UnknownKeyId(key_id.to_owned()))
    }
}

fn parse_entry(entry_index: usize, entry: &str) -> Result<RootKey, KeyError> {
    let (id, encoded) = entry
        .split_once(':')
        .ok_or(KeyError::Malformed { entry_index })?;
    if !is_valid_key_id(id) {
        return Err(KeyError::BadId { entry_index });
    }
    let decoded = Zeroizing::new(
        STANDARD_PAD_INDIFFERENT
            .decode(encoded)
            .map_err(|_| KeyError::BadBase64 { id: id.to_owned() })?,
    );
    if decoded.len() != KEY_LEN {
        return Err(KeyError::BadKeyLength {
            id: id.to_owned(),
            len: decoded.len(),
        });
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(&decoded);
    Ok(RootKey {
        id: id.to_owned(),
        key,
    })
}

/// A new random 256-bit root key formatted `id:base64` (standard base64, padded), ready for
/// `KEYHOLD_ROOT_KEYS` or a key file. Use [`crate::random_key_id`] for a fresh id.
pub fn generate_root_key(id: &str) -> Result<SecretString, KeyError> {
    if !is_valid_key_id(id) {
        return Err(KeyError::InvalidId);
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    fill_random(key.as_mut_slice()).map_err(|_| KeyError::Rng)?;
    // Exact capacity: 32 bytes are 44 base64 characters with padding, so neither the encoding
    // nor the conversion to `Box<str>` reallocates and strands a copy of the key.
    let mut out = String::with_capacity(id.len() + 1 + 44);
    out.push_str(id);
    out.push(':');
    STANDARD.encode_string(key.as_slice(), &mut out);
    Ok(SecretString::from(out))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            if let Some(&d) = DIGITS.get(usize::from(nibble)) {
                out.push(char::from(d));
            }
        }
    }
    out
}
