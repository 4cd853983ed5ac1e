//! The sealed envelope: its byte layout and the AES-256-GCM operations on it. Owns nothing
//! about where keys come from (that is `keyring`) or what the associated data means (`aad`).
//!
//! Layout, version 1 (all lengths in bytes):
//!
//! ```text
//! version(1) | key_id_len(1) | key_id(1..=32) | wrap_nonce(12) | wrapped_data_key(32+16)
//!            | nonce(12) | ciphertext(n) + tag(16)
//! ```
//!
//! A fresh random data key encrypts the payload; the root key encrypts (wraps) the data key.
//! Re-wrapping replaces only the key id, wrap nonce and wrapped key, so the secret's
//! ciphertext is never decrypted during root key rotation.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use zeroize::Zeroizing;

use crate::aad::{Aad, payload_aad, wrap_aad};
use crate::error::CryptoError;
use crate::keyring::{MAX_KEY_ID_LEN, is_valid_key_id};
use crate::random::fill_random;

/// The only format this build writes and reads.
pub(crate) const VERSION: u8 = 1;

pub(crate) const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const WRAPPED_KEY_LEN: usize = KEY_LEN + TAG_LEN;

/// A parsed, not yet authenticated, envelope borrowing from the sealed bytes.
pub(crate) struct Envelope<'a> {
    pub(crate) key_id: &'a str,
    wrap_nonce: [u8; NONCE_LEN],
    wrapped_key: &'a [u8],
    nonce: [u8; NONCE_LEN],
    ciphertext: &'a [u8],
}

/// Splits sealed bytes into their parts without any cryptography. Every length is checked
/// before use, so arbitrary input yields an error, never a panic.
pub(crate) fn parse(sealed: &[u8]) -> Result<Envelope<'_>, CryptoError> {
    let (&version, rest) = sealed.split_first().ok_or(CryptoError::Truncated)?;
    if version != VERSION {
        return Err(CryptoError::UnsupportedVersion(version));
    }
    let (&id_len, rest) = rest.split_first().ok_or(CryptoError::Truncated)?;
    let id_len = usize::from(id_len);
    if id_len == 0 || id_len > MAX_KEY_ID_LEN {
        return Err(CryptoError::Malformed);
    }
    let (id_bytes, rest) = rest
        .split_at_checked(id_len)
        .ok_or(CryptoError::Truncated)?;
    let key_id = std::str::from_utf8(id_bytes).map_err(|_| CryptoError::Malformed)?;
    if !is_valid_key_id(key_id) {
        return Err(CryptoError::Malformed);
    }
    let (wrap_nonce, rest) = split_array::<NONCE_LEN>(rest)?;
    let (wrapped_key, rest) = rest
        .split_at_checked(WRAPPED_KEY_LEN)
        .ok_or(CryptoError::Truncated)?;
    let (nonce, ciphertext) = split_array::<NONCE_LEN>(rest)?;
    if ciphertext.len() < TAG_LEN {
        return Err(CryptoError::Truncated);
    }
    Ok(Envelope {
        key_id,
        wrap_nonce,
        wrapped_key,
        nonce,
        ciphertext,
    })
}

/// Seals `plaintext` under a fresh data key wrapped by the given root key.
pub(crate) fn seal(
    key_id: &str,
    root_key: &[u8; KEY_LEN],
    plaintext: &[u8],
    aad: &Aad<'_>,
) -> Result<Vec<u8>, CryptoError> {
    let mut data_key = Zeroizing::new([0u8; KEY_LEN]);
    fill_random(data_key.as_mut_slice()).map_err(|_| CryptoError::Rng)?;
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce).map_err(|_| CryptoError::Rng)?;

    let ciphertext = cipher(data_key.as_slice())?
        .encrypt(
            &Nonce::<Aes256Gcm>::from(nonce),
            Payload {
                msg: plaintext,
                aad: &payload_aad(VERSION, aad)?,
            },
        )
        .map_err(|_| CryptoError::TooLarge)?;
    let (wrap_nonce, wrapped_key) = wrap_data_key(key_id, root_key, &data_key, aad)?;
    write(key_id, &wrap_nonce, &wrapped_key, &nonce, &ciphertext)
}

/// Authenticates and decrypts a parsed envelope with the root key its header names.
pub(crate) fn open(
    envelope: &Envelope<'_>,
    root_key: &[u8; KEY_LEN],
    aad: &Aad<'_>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let data_key = unwrap_data_key(envelope, root_key, aad)?;
    let plaintext = cipher(data_key.as_slice())?
        .decrypt(
            &Nonce::<Aes256Gcm>::from(envelope.nonce),
            Payload {
                msg: envelope.ciphertext,
                aad: &payload_aad(VERSION, aad)?,
            },
        )
        .map_err(|_| CryptoError::Decrypt)?;
    Ok(Zeroizing::new(plaintext))
}

/// Moves the data key from the envelope's root key to `new_key_id`, keeping the payload nonce
/// and ciphertext byte for byte. Unwrapping authenticates the key id and the place, so a
/// wrong `aad` fails here; the payload itself is not decrypted.
pub(crate) fn rewrap(
    envelope: &Envelope<'_>,
    old_root_key: &[u8; KEY_LEN],
    new_key_id: &str,
    new_root_key: &[u8; KEY_LEN],
    aad: &Aad<'_>,
) -> Result<Vec<u8>, CryptoError> {
    let data_key = unwrap_data_key(envelope, old_root_key, aad)?;
    let (wrap_nonce, wrapped_key) = wrap_data_key(new_key_id, new_root_key, &data_key, aad)?;
    write(
        new_key_id,
        &wrap_nonce,
        &wrapped_key,
        &envelope.nonce,
        envelope.ciphertext,
    )
}

fn wrap_data_key(
    key_id: &str,
    root_key: &[u8; KEY_LEN],
    data_key: &[u8; KEY_LEN],
    aad: &Aad<'_>,
) -> Result<([u8; NONCE_LEN], Vec<u8>), CryptoError> {
    let mut wrap_nonce = [0u8; NONCE_LEN];
    fill_random(&mut wrap_nonce).map_err(|_| CryptoError::Rng)?;
    let wrapped = cipher(root_key)?
        .encrypt(
            &Nonce::<Aes256Gcm>::from(wrap_nonce),
            Payload {
                msg: data_key,
                aad: &wrap_aad(VERSION, key_id, aad)?,
            },
        )
        .map_err(|_| CryptoError::TooLarge)?;
    Ok((wrap_nonce, wrapped))
}

fn unwrap_data_key(
    envelope: &Envelope<'_>,
    root_key: &[u8; KEY_LEN],
    aad: &Aad<'_>,
) -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoError> {
    let decrypted = cipher(root_key)?
        .decrypt(
            &Nonce::<Aes256Gcm>::from(envelope.wrap_nonce),
            Payload {
                msg: envelope.wrapped_key,
                aad: &wrap_aad(VERSION, envelope.key_id, aad)?,
            },
        )
        .map_err(|_| CryptoError::Decrypt)?;
    let decrypted = Zeroizing::new(decrypted);
    // Only reachable if something we sealed ourselves was wrong: the tag vouches for the bytes.
    if decrypted.len() != KEY_LEN {
        return Err(CryptoError::Malformed);
    }
    let mut data_key = Zeroizing::new([0u8; KEY_LEN]);
    data_key.copy_from_slice(&decrypted);
    Ok(data_key)
}

fn cipher(key: &[u8]) -> Result<Aes256Gcm, CryptoError> {
    Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::Malformed)
}

fn split_array<const N: usize>(bytes: &[u8]) -> Result<([u8; N], &[u8]), CryptoError> {
    let (head, rest) = bytes
        .split_first_chunk::<N>()
        .ok_or(CryptoError::Truncated)?;
    Ok((*head, rest))
}

fn write(
    key_id: &str,
    wrap_nonce: &[u8; NONCE_LEN],
    wrapped_key: &[u8],
    nonce: &[u8; NONCE_LEN],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let id = key_id.as_bytes();
    // Keyring ids are validated to at most 32 bytes; refuse rather than write a lying length.
    let id_len = u8::try_from(id.len()).map_err(|_| CryptoError::Malformed)?;
    let mut out = Vec::with_capacity(
        2 + id.len() + NONCE_LEN + wrapped_key.len() + NONCE_LEN + ciphertext.len(),
    );
    out.push(VERSION);
    out.push(id_len);
    out.extend_from_slice(id);
    out.extend_from_slice(wrap_nonce);
    out.extend_from_slice(wrapped_key);
    out.extend_from_slice(nonce);
    out.extend_from_slice(ciphertext);
    Ok(out)
}

/// Bytes of a version-1 envelope that are not payload ciphertext, for a given key id length.
#[cfg(test)]
pub(crate) const fn overhead(key_id_len: usize) -> usize {
    2 + key_id_len + NONCE_LEN + WRAPPED_KEY_LEN + NONCE_LEN + TAG_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; KEY_LEN] = [7; KEY_LEN];
    const AAD: Aad<'static> = Aad::new("t", "r", "f");

    #[test]
    fn layout_is_as_documented() {
        let sealed = seal("key-1", &KEY, b"hello", &AAD).expect("seal");
        assert_eq!(sealed.len(), overhead(5) + 5);
        assert_eq!(sealed.first(), Some(&VERSION));
        assert_eq!(sealed.get(1), Some(&5));
        assert_eq!(sealed.get(2..7), Some(&b"key-1"[..]));
        let parsed = parse(&sealed).expect("parse");
        assert_eq!(parsed.key_id, "key-1");
        assert_eq!(parsed.wrapped_key.len(), WRAPPED_KEY_LEN);
        assert_eq!(parsed.ciphertext.len(), 5 + TAG_LEN);
    }

    #[test]
    fn empty_plaintext_is_the_minimum_envelope() {
        let sealed = seal("k", &KEY, b"", &AAD).expect("seal");
        assert_eq!(sealed.len(), overhead(1));
        let parsed = parse(&sealed).expect("parse");
        assert!(open(&parsed, &KEY, &AAD).expect("open").is_empty());
        let shorter = sealed.get(..sealed.len() - 1).expect("prefix");
        assert!(matches!(parse(shorter), Err(CryptoError::Truncated)));
    }

    #[test]
    fn write_refuses_overlong_ids() {
        let id = "x".repeat(256);
        assert!(matches!(
            write(
                &id,
                &[0; NONCE_LEN],
                &[0; WRAPPED_KEY_LEN],
                &[0; NONCE_LEN],
                &[0; TAG_LEN]
            ),
            Err(CryptoError::Malformed)
        ));
    }
}
