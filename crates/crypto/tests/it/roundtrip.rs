//! Sealing then opening returns the original bytes for any plaintext and any place.

use crypto::{Aad, CryptoError, ExposeSecret, RootKeyring, SecretString};
use proptest::prelude::*;

use crate::{AAD, KEY_A, KEY_B, keyring};

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_any_plaintext_and_aad(
        plaintext in proptest::collection::vec(any::<u8>(), 0..512),
        table in ".{0,24}",
        record_id in ".{0,40}",
        field in ".{0,24}",
    ) {
        let ring = keyring(&format!("k1:{KEY_A}"));
        let aad = Aad::new(&table, &record_id, &field);
        let sealed = ring.seal(&plaintext, &aad).expect("seal");
        prop_assert_eq!(RootKeyring::envelope_key_id(&sealed).expect("key id"), "k1");
        let opened = ring.open(&sealed, &aad).expect("open");
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
    }

    #[test]
    fn round_trip_strings(secret in "\\PC{0,100}") {
        let ring = keyring(&format!("k1:{KEY_A}"));
        let sealed = ring.seal_str(&SecretString::from(secret.as_str()), &AAD).expect("seal");
        let opened = ring.open_str(&sealed, &AAD).expect("open");
        prop_assert_eq!(opened.expose_secret(), secret.as_str());
    }
}

#[test]
fn every_seal_is_fresh() {
    let ring = keyring(&format!("k1:{KEY_A}"));
    let a = ring.seal(b"same secret", &AAD).expect("seal");
    let b = ring.seal(b"same secret", &AAD).expect("seal");
    assert_ne!(a, b, "fresh data key and nonces per seal");
    assert_eq!(a.len(), b.len());
}

#[test]
fn plaintext_does_not_appear_in_envelope() {
    let ring = keyring(&format!("k1:{KEY_A}"));
    let secret = b"PLAINTEXT-CANARY-0123456789";
    let sealed = ring.seal(secret, &AAD).expect("seal");
    assert!(!sealed.windows(8).any(|w| secret.windows(8).any(|s| s == w)));
}

#[test]
fn active_key_seals_and_older_keys_still_open() {
    let old = keyring(&format!("old:{KEY_A}"));
    let sealed_old = old.seal(b"before rotation", &AAD).expect("seal");

    let rotated = keyring(&format!("new:{KEY_B},old:{KEY_A}"));
    assert_eq!(rotated.active_key_id(), "new");
    let sealed_new = rotated.seal(b"after rotation", &AAD).expect("seal");
    assert_eq!(
        RootKeyring::envelope_key_id(&sealed_new).expect("id"),
        "new"
    );

    assert_eq!(
        rotated
            .open(&sealed_old, &AAD)
            .expect("old key opens")
            .as_slice(),
        b"before rotation"
    );
    assert_eq!(
        old.open(&sealed_new, &AAD),
        Err(CryptoError::UnknownKeyId("new".to_owned()))
    );
}

#[test]
fn open_str_rejects_non_utf8() {
    let ring = keyring(&format!("k1:{KEY_A}"));
    let sealed = ring.seal(&[0xff, 0xfe, 0x00], &AAD).expect("seal");
    assert_eq!(
        ring.open_str(&sealed, &AAD).map(|_| ()),
        Err(CryptoError::InvalidUtf8)
    );
    assert_eq!(
        ring.open(&sealed, &AAD).expect("bytes open").as_slice(),
        &[0xff, 0xfe, 0x00]
    );
}

#[test]
fn large_secret_round_trips() {
    let ring = keyring(&format!("k1:{KEY_A}"));
    let big = vec![0x5a_u8; 1 << 20];
    let sealed = ring.seal(&big, &AAD).expect("seal");
    assert_eq!(
        ring.open(&sealed, &AAD).expect("open").as_slice(),
        big.as_slice()
    );
}
