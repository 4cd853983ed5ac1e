//! Secret material: generating Auth0-like secrets and ids, and comparing secrets in constant time.
//!
//! Auth0's generated client secrets are 64 opaque URL-safe characters (not base64 of anything);
//! client ids are 32 alphanumerics. Nothing here logs or formats a secret.

use subtle::ConstantTimeEq as _;

const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A new client secret: 64 characters from `[A-Za-z0-9_-]`, like Auth0's.
pub(crate) fn new_client_secret() -> String {
    let mut bytes = [0u8; 64];
    rand::fill(&mut bytes);
    // 64 symbols: masking six bits keeps every symbol equally likely.
    bytes
        .iter()
        .map(|b| char::from(URL_SAFE[usize::from(b & 63)]))
        .collect()
}

/// A new client id: 32 alphanumerics, like Auth0's.
pub(crate) fn new_client_id() -> String {
    (0..32)
        .map(|_| char::from(ALNUM[rand::random_range(0..ALNUM.len())]))
        .collect()
}

/// 24 lowercase hex digits, the shape of Auth0 database user ids and resource-server ids.
pub(crate) fn new_hex_id() -> String {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time equality, so response timing does not reveal how much of a guess was right.
pub(crate) fn secrets_equal(presented: &str, stored: &str) -> bool {
    presented.as_bytes().ct_eq(stored.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_have_auth0_shape_and_differ() {
        let a = new_client_secret();
        let b = new_client_secret();
        assert_eq!(a.len(), 64);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
        let id = new_client_id();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(new_hex_id().len(), 24);
    }

    #[test]
    fn comparison_is_exact() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
        assert!(!secrets_equal("", "a"));
    }
}
