//! Randomness: OS-backed bytes for keys and nonces, and uniformly distributed secrets over an
//! alphabet (for generated Auth0 client secrets and key ids).
//!
//! Keys and nonces read the OS generator directly so a failure surfaces as an error. Secrets
//! use rand's thread-local CSPRNG (seeded from the OS) through rejection sampling: bytes that
//! would make `byte % n` favour the first characters are thrown away, so every character is
//! equally likely.

use std::borrow::Cow;

use rand::{Rng, TryRng};
use secrecy::SecretString;
use zeroize::Zeroizing;

/// The operating system's random number generator failed.
#[derive(Debug)]
pub(crate) struct RngFailure;

/// Fills `buf` from the OS random number generator.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), RngFailure> {
    rand::rngs::SysRng
        .try_fill_bytes(buf)
        .map_err(|_| RngFailure)
}

/// A set of distinct printable ASCII characters that secrets are drawn from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alphabet {
    chars: Cow<'static, [u8]>,
}

impl Alphabet {
    /// `A-Z a-z 0-9`: 62 characters, about 5.95 bits each; safe in URLs, JSON and shells.
    pub const ALPHANUMERIC: Alphabet = Alphabet {
        chars: Cow::Borrowed(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
    };

    /// `a-z 0-9`, for identifiers that may be compared case-insensitively.
    pub const LOWER_ALPHANUMERIC: Alphabet = Alphabet {
        chars: Cow::Borrowed(b"abcdefghijklmnopqrstuvwxyz0123456789"),
    };

    /// An alphabet of the given characters. `None` if empty, if any character is not printable
    /// ASCII (space and control characters are refused), or if one repeats (a repeat would
    /// make that character twice as likely).
    pub fn new(chars: &str) -> Option<Alphabet> {
        let bytes = chars.as_bytes();
        if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_graphic) {
            return None;
        }
        let mut seen = [false; 128];
        for &b in bytes {
            let slot = seen.get_mut(usize::from(b))?;
            if *slot {
                return None;
            }
            *slot = true;
        }
        Some(Alphabet {
            chars: Cow::Owned(bytes.to_vec()),
        })
    }

    /// Number of characters (1..=94).
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Always false: construction refuses empty alphabets.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }
}

/// A cryptographically random secret of `len` characters drawn uniformly from `alphabet`.
///
/// Panics only if the operating system cannot seed rand's thread-local generator at all, in
/// which case no secret could be generated safely anyway.
pub fn generate_secret(len: usize, alphabet: &Alphabet) -> SecretString {
    let mut out = String::with_capacity(len);
    sample_into(&mut out, len, alphabet);
    // Capacity equals length (ASCII only), so the conversion to `Box<str>` does not reallocate
    // and leave an unzeroized copy behind.
    SecretString::from(out)
}

/// A random secret of `len` characters from [`Alphabet::ALPHANUMERIC`], e.g. a new Auth0
/// client secret (Auth0's own are 64 characters).
pub fn random_secret(len: usize) -> SecretString {
    generate_secret(len, &Alphabet::ALPHANUMERIC)
}

/// A fresh root key id such as `k3m9x0q2v7c1a`: `k` and 12 random lowercase alphanumerics
/// (about 62 bits, so ids from separate `keyhold keys generate` runs do not collide).
pub fn random_key_id() -> String {
    let mut id = String::with_capacity(13);
    id.push('k');
    sample_into(&mut id, 12, &Alphabet::LOWER_ALPHANUMERIC);
    id
}

fn sample_into(out: &mut String, len: usize, alphabet: &Alphabet) {
    let n = alphabet.chars.len();
    if n == 0 {
        return;
    }
    // Largest multiple of n that fits in a byte's range; bytes at or above it are rejected.
    let limit = 256 - (256 % n);
    let mut rng = rand::rng();
    let mut buf = Zeroizing::new([0u8; 64]);
    let mut produced = 0;
    while produced < len {
        rng.fill_bytes(buf.as_mut_slice());
        for &b in buf.iter() {
            if produced == len {
                break;
            }
            let b = usize::from(b);
            if b >= limit {
                continue;
            }
            if let Some(&c) = alphabet.chars.get(b % n) {
                out.push(char::from(c));
                produced += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn secrets_have_requested_length_and_alphabet() {
        for len in [0, 1, 32, 64, 200] {
            let s = random_secret(len);
            assert_eq!(s.expose_secret().len(), len);
            assert!(s.expose_secret().bytes().all(|b| b.is_ascii_alphanumeric()));
        }
        let hex = Alphabet::new("0123456789abcdef").expect("valid alphabet");
        let s = generate_secret(40, &hex);
        assert!(s.expose_secret().bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn secrets_differ() {
        let a = random_secret(64);
        let b = random_secret(64);
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn alphabet_validation() {
        assert_eq!(Alphabet::new(""), None);
        assert_eq!(Alphabet::new("aba"), None, "repeats would bias");
        assert_eq!(Alphabet::new("ab c"), None, "space refused");
        assert_eq!(Alphabet::new("ab\n"), None, "control refused");
        assert_eq!(Alphabet::new("abé"), None, "non-ASCII refused");
        assert_eq!(Alphabet::new("x").map(|a| a.len()), Some(1));
        assert_eq!(Alphabet::ALPHANUMERIC.len(), 62);
        let single = Alphabet::new("x").expect("valid");
        assert_eq!(generate_secret(5, &single).expose_secret(), "xxxxx");
    }

    #[test]
    fn distribution_is_roughly_uniform() {
        // 62 does not divide 256, so plain `byte % 62` would make the first 8 characters ~25%
        // more likely. With rejection sampling each count stays near the mean.
        let s = random_secret(62 * 2000);
        let mut counts = [0u32; 128];
        for b in s.expose_secret().bytes() {
            if let Some(c) = counts.get_mut(usize::from(b)) {
                *c += 1;
            }
        }
        let used: Vec<u32> = counts.iter().copied().filter(|&c| c > 0).collect();
        assert_eq!(used.len(), 62);
        // Mean 2000, sd ~44; a 25% bias would put the favoured characters near 2500.
        assert!(used.iter().all(|&c| (1750..=2250).contains(&c)), "{used:?}");
    }

    #[test]
    fn key_ids_are_valid_and_distinct() {
        let a = random_key_id();
        let b = random_key_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 13);
        assert!(a.starts_with('k'));
        assert!(crate::keyring::is_valid_key_id(&a));
    }
}
