//! Fuzzes the sealed-envelope decoder: `RootKeyring::open`, `open_str`, `rewrap` and
//! `RootKeyring::envelope_key_id` on arbitrary bytes, against a fixed two-key test keyring.
//!
//! Arbitrary bytes must yield an error, never a panic. The seed corpus holds real envelopes
//! sealed under this keyring (see `seedgen/`), so mutations reach the AES-GCM paths and not
//! just the header checks; for those the harness also checks what success must imply.

#![no_main]

use std::sync::LazyLock;

use crypto::{Aad, ExposeSecret, RootKeyring};
use libfuzzer_sys::fuzz_target;

/// Must match `seedgen/src/main.rs`, or the seed envelopes stop opening.
const TEST_KEYS: &str = "fuzz-k1:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=,\
                         fuzz-k2:ZWZnaGlqa2xtbm9wcXJzdHV2d3h5ent8fX5/gIGCg4Q=";
const AAD: Aad<'static> = Aad::new(
    "app_connections",
    "0190b6a2-7c1e-7000-8000-000000000001",
    "client_secret",
);
/// Same row, another column: an envelope that opens at `AAD` must not open here.
const OTHER_AAD: Aad<'static> = Aad::new(
    "app_connections",
    "0190b6a2-7c1e-7000-8000-000000000001",
    "previous_client_secret",
);

static KEYRING: LazyLock<RootKeyring> =
    LazyLock::new(|| RootKeyring::parse(TEST_KEYS).expect("the fixed test keyring parses"));

fuzz_target!(|data: &[u8]| {
    let keyring = &*KEYRING;
    let key_id = RootKeyring::envelope_key_id(data);
    if let Ok(id) = &key_id {
        // The header layout is version | id_len | id: the id returned is exactly those bytes.
        assert_eq!(data.first(), Some(&crypto::ENVELOPE_VERSION));
        assert_eq!(usize::from(data[1]), id.len());
        assert_eq!(&data[2..2 + id.len()], id.as_bytes());
        assert!((1..=32).contains(&id.len()));
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        );
    }

    let opened = keyring.open(data, &AAD);
    let opened_str = keyring.open_str(data, &AAD);
    let rewrapped = keyring.rewrap(data, &AAD);
    if key_id.is_err() {
        // Anything the structural parser refuses must be refused by every operation.
        assert!(opened.is_err() && opened_str.is_err() && rewrapped.is_err());
        return;
    }

    match &opened {
        Ok(plaintext) => {
            let id = key_id.as_deref().unwrap_or_default();
            assert!(keyring.key_ids().iter().any(|k| k == id));
            assert!(
                keyring.open(data, &OTHER_AAD).is_err(),
                "opened at the wrong place"
            );
            assert_eq!(opened_str.is_ok(), std::str::from_utf8(plaintext).is_ok());
            if let Ok(text) = &opened_str {
                assert_eq!(text.expose_secret().as_bytes(), plaintext.as_slice());
            }
            // Re-wrapping moves the envelope to the active key and keeps the secret.
            let moved = rewrapped.as_ref().expect("an envelope that opens re-wraps");
            assert_eq!(
                RootKeyring::envelope_key_id(moved).as_deref(),
                Ok(keyring.active_key_id())
            );
            let reopened = keyring
                .open(moved, &AAD)
                .expect("a re-wrapped envelope opens");
            assert_eq!(reopened.as_slice(), plaintext.as_slice());
        }
        Err(_) => assert!(opened_str.is_err()),
    }
    if let Ok(moved) = &rewrapped {
        // Re-wrapping authenticated the data key, so the result opens iff the original did.
        assert_eq!(keyring.open(moved, &AAD).is_ok(), opened.is_ok());
    }
});
