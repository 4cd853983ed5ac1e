//! Root key rotation: re-wrapping moves the data key to the active root key and leaves the
//! secret's ciphertext untouched.

use crypto::{Aad, CryptoError, RootKeyring};
use proptest::prelude::*;

use crate::{AAD, KEY_A, KEY_B, keyring};

/// Bytes after the wrapped key: payload nonce and ciphertext (for a 3-character key id).
fn payload_part(sealed: &[u8]) -> &[u8] {
    sealed.get(2 + 3 + 12 + 48..).expect("complete envelope")
}

#[test]
fn rewrap_moves_to_active_key_and_keeps_payload() {
    let old = keyring(&format!("old:{KEY_A}"));
    let sealed = old.seal(b"the secret", &AAD).expect("seal");

    let rotated = keyring(&format!("new:{KEY_B},old:{KEY_A}"));
    let rewrapped = rotated.rewrap(&sealed, &AAD).expect("rewrap");

    assert_eq!(RootKeyring::envelope_key_id(&rewrapped).expect("id"), "new");
    assert_eq!(payload_part(&rewrapped), payload_part(&sealed));
    assert_eq!(rewrapped.len(), sealed.len());
    assert_eq!(
        rotated.open(&rewrapped, &AAD).expect("open").as_slice(),
        b"the secret"
    );

    // Once every row is re-wrapped the old key can be retired.
    let retired = keyring(&format!("new:{KEY_B}"));
    assert_eq!(
        retired.open(&rewrapped, &AAD).expect("open").as_slice(),
        b"the secret"
    );
    assert_eq!(
        retired.open(&sealed, &AAD).map(|_| ()),
        Err(CryptoError::UnknownKeyId("old".to_owned()))
    );
}

#[test]
fn rewrap_under_the_same_key_refreshes_the_wrap() {
    let ring = keyring(&format!("k1:{KEY_A}"));
    let sealed = ring.seal(b"s", &AAD).expect("seal");
    let again = ring.rewrap(&sealed, &AAD).expect("rewrap");
    assert_ne!(again, sealed, "fresh wrap nonce");
    assert_eq!(ring.open(&again, &AAD).expect("open").as_slice(), b"s");
}

#[test]
fn rewrapped_envelope_stays_bound_to_its_place() {
    let old = keyring(&format!("old:{KEY_A}"));
    let sealed = old.seal(b"s", &AAD).expect("seal");
    let rotated = keyring(&format!("new:{KEY_B},old:{KEY_A}"));
    let rewrapped = rotated.rewrap(&sealed, &AAD).expect("rewrap");
    let elsewhere = Aad {
        record_id: "another-row",
        ..AAD
    };
    assert_eq!(
        rotated.open(&rewrapped, &elsewhere).map(|_| ()),
        Err(CryptoError::Decrypt)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn rewrap_round_trip(
        plaintext in proptest::collection::vec(any::<u8>(), 0..256),
        record_id in "[a-z0-9-]{0,36}",
    ) {
        let aad = Aad { record_id: &record_id, ..AAD };
        let sealed = keyring(&format!("old:{KEY_A}")).seal(&plaintext, &aad).expect("seal");
        let rotated = keyring(&format!("new:{KEY_B},old:{KEY_A}"));
        let rewrapped = rotated.rewrap(&sealed, &aad).expect("rewrap");
        prop_assert_eq!(payload_part(&rewrapped), payload_part(&sealed));
        let opened = keyring(&format!("new:{KEY_B}")).open(&rewrapped, &aad).expect("open");
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
    }
}
