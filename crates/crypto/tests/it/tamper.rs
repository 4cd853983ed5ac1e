//! Anything other than the exact envelope, the right key and the right place fails with a
//! typed error, and no input makes the crate panic.

use crypto::{Aad, CryptoError, RootKeyring};
use proptest::prelude::*;

use crate::{AAD, KEY_A, KEY_B, keyring};

fn sealed_with(ring: &RootKeyring, plaintext: &[u8]) -> Vec<u8> {
    ring.seal(plaintext, &AAD).expect("seal")
}

#[test]
fn every_flipped_bit_fails() {
    let ring = keyring(&format!("k1:{KEY_A}"));
    let sealed = sealed_with(&ring, b"a client secret");
    for bit in 0..sealed.len() * 8 {
        let mut damaged = sealed.clone();
        if let Some(byte) = damaged.get_mut(bit / 8) {
            *byte ^= 1 << (bit % 8);
        }
        assert!(
            ring.open(&damaged, &AAD).is_err(),
            "flipping bit {bit} was not detected"
        );
        // Rewrap authenticates the header and wrapped key. It does not decrypt the payload, so
        // damage there is carried along - and still caught when the result is opened.
        match ring.rewrap(&damaged, &AAD) {
            Err(_) => {}
            Ok(rewrapped) => {
                assert!(
                    bit / 8 >= WRAP_END,
                    "rewrap accepted damaged header bit {bit}"
                );
                assert_eq!(
                    ring.open(&rewrapped, &AAD).map(|_| ()),
                    Err(CryptoError::Decrypt)
                );
            }
        }
    }
}

#[test]
fn every_truncation_fails() {
    let ring = keyring(&format!("k1:{KEY_A}"));
    let sealed = sealed_with(&ring, b"a client secret");
    for len in 0..sealed.len() {
        let cut = sealed.get(..len).expect("prefix");
        assert!(ring.open(cut, &AAD).is_err(), "truncation to {len} opened");
    }
    // Structure-level truncations are reported as such.
    assert_eq!(
        ring.open(&[], &AAD).map(|_| ()),
        Err(CryptoError::Truncated)
    );
    assert_eq!(
        ring.open(sealed.get(..20).expect("prefix"), &AAD)
            .map(|_| ()),
        Err(CryptoError::Truncated)
    );
    assert_eq!(
        RootKeyring::envelope_key_id(sealed.get(..sealed.len() - 20).expect("prefix")),
        Err(CryptoError::Truncated)
    );
}

#[test]
fn appended_bytes_fail() {
    let ring = keyring(&format!("k1:{KEY_A}"));
    let mut sealed = sealed_with(&ring, b"a client secret");
    sealed.push(0);
    assert_eq!(
        ring.open(&sealed, &AAD).map(|_| ()),
        Err(CryptoError::Decrypt)
    );
}

#[test]
fn wrong_key_with_same_id_is_decrypt_error() {
    let sealed = sealed_with(&keyring(&format!("k1:{KEY_A}")), b"secret");
    let impostor = keyring(&format!("k1:{KEY_B}"));
    assert_eq!(
        impostor.open(&sealed, &AAD).map(|_| ()),
        Err(CryptoError::Decrypt)
    );
    assert_eq!(impostor.rewrap(&sealed, &AAD), Err(CryptoError::Decrypt));
}

#[test]
fn unknown_key_id_is_reported_by_id() {
    let sealed = sealed_with(&keyring(&format!("k1:{KEY_A}")), b"secret");
    let other = keyring(&format!("k2:{KEY_A}"));
    assert_eq!(
        other.open(&sealed, &AAD).map(|_| ()),
        Err(CryptoError::UnknownKeyId("k1".to_owned()))
    );
    assert_eq!(
        other.rewrap(&sealed, &AAD),
        Err(CryptoError::UnknownKeyId("k1".to_owned()))
    );
}

#[test]
fn wrong_place_fails() {
    let ring = keyring(&format!("k1:{KEY_A}"));
    let sealed = sealed_with(&ring, b"secret");
    let places = [
        Aad {
            table: "secret_rotations",
            ..AAD
        },
        Aad {
            record_id: "0190b6a2-7c1e-7000-8000-000000000002",
            ..AAD
        },
        Aad {
            field: "other_field",
            ..AAD
        },
        Aad {
            table: "",
            record_id: "",
            field: "",
            binding: None,
        },
    ];
    for place in places {
        assert_eq!(
            ring.open(&sealed, &place).map(|_| ()),
            Err(CryptoError::Decrypt),
            "{place:?}"
        );
        assert_eq!(
            ring.rewrap(&sealed, &place),
            Err(CryptoError::Decrypt),
            "{place:?}"
        );
    }
}

/// A binding (the tenant a secret was issued for) guards the payload; the wrapped data key stays
/// bound to the place only, so re-wrapping under a new root key needs no binding.
#[test]
fn a_binding_guards_the_payload_not_the_wrap() {
    let ring = keyring(&format!("k1:{KEY_A}"));
    let issued = AAD.bound("[\"tenant\",\"acme.auth0.com\"]");
    let sealed = ring.seal(b"secret", &issued).expect("seal");
    assert!(ring.open(&sealed, &issued).is_ok());
    for other in [AAD, AAD.bound("[\"tenant\",\"elsewhere.example.com\"]")] {
        assert_eq!(
            ring.open(&sealed, &other).map(|_| ()),
            Err(CryptoError::Decrypt),
            "{other:?}"
        );
    }
    assert!(ring.rewrap(&sealed, &AAD).is_ok());
}

#[test]
fn component_boundaries_are_bound() {
    let ring = keyring(&format!("k1:{KEY_A}"));
    let sealed = ring
        .seal(b"secret", &Aad::new("ab", "c", "d"))
        .expect("seal");
    assert_eq!(
        ring.open(&sealed, &Aad::new("a", "bc", "d")).map(|_| ()),
        Err(CryptoError::Decrypt)
    );
    assert_eq!(
        ring.open(&sealed, &Aad::new("ab", "", "cd")).map(|_| ()),
        Err(CryptoError::Decrypt)
    );
}

/// Header: version(1) + id_len(1) + "k1"(2); then wrap nonce(12) + wrapped key(48).
const WRAP_END: usize = 4 + 12 + 48;

#[test]
fn wrapped_key_cannot_be_moved_between_envelopes() {
    let ring = keyring(&format!("k1:{KEY_A}"));
    let here = Aad::new("app_connections", "row-1", "client_secret");
    let there = Aad::new("app_connections", "row-2", "client_secret");
    let a = ring.seal(b"secret a", &here).expect("seal");
    let b = ring.seal(b"secret b", &there).expect("seal");
    // b's payload with a's wrapped key, opened at either place: the data key is wrong for the
    // payload or the wrap is bound to the other row.
    let spliced: Vec<u8> = [a.get(..WRAP_END), b.get(WRAP_END..)]
        .into_iter()
        .flatten()
        .flatten()
        .copied()
        .collect();
    assert_eq!(
        ring.open(&spliced, &here).map(|_| ()),
        Err(CryptoError::Decrypt)
    );
    assert_eq!(
        ring.open(&spliced, &there).map(|_| ()),
        Err(CryptoError::Decrypt)
    );
}

#[test]
fn relabelling_key_id_fails() {
    // Same key bytes under two ids: only the wrap aad's key id tells them apart.
    let ring = keyring(&format!("k1:{KEY_A},k2:{KEY_A}"));
    let mut sealed = ring.seal(b"secret", &AAD).expect("seal");
    if let Some(b) = sealed.get_mut(3) {
        *b = b'2';
    }
    assert_eq!(RootKeyring::envelope_key_id(&sealed).expect("parses"), "k2");
    assert_eq!(
        ring.open(&sealed, &AAD).map(|_| ()),
        Err(CryptoError::Decrypt)
    );
}

#[test]
fn header_errors_are_typed() {
    let ring = keyring(&format!("k1:{KEY_A}"));
    let mut sealed = ring.seal(b"secret", &AAD).expect("seal");

    let mut v2 = sealed.clone();
    v2[0] = 2;
    assert_eq!(
        ring.open(&v2, &AAD).map(|_| ()),
        Err(CryptoError::UnsupportedVersion(2))
    );
    assert_eq!(
        RootKeyring::envelope_key_id(&v2),
        Err(CryptoError::UnsupportedVersion(2))
    );

    let mut zero_len = sealed.clone();
    zero_len[1] = 0;
    assert_eq!(
        ring.open(&zero_len, &AAD).map(|_| ()),
        Err(CryptoError::Malformed)
    );

    let mut long_id = sealed.clone();
    long_id[1] = 33;
    assert_eq!(
        ring.open(&long_id, &AAD).map(|_| ()),
        Err(CryptoError::Malformed)
    );

    sealed[2] = b'!';
    assert_eq!(
        ring.open(&sealed, &AAD).map(|_| ()),
        Err(CryptoError::Malformed)
    );
    sealed[2] = 0xff;
    assert_eq!(
        RootKeyring::envelope_key_id(&sealed),
        Err(CryptoError::Malformed)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_flipped_bit_fails(
        plaintext in proptest::collection::vec(any::<u8>(), 0..256),
        bit in any::<usize>(),
    ) {
        let ring = keyring(&format!("k1:{KEY_A},k2:{KEY_B}"));
        let mut sealed = ring.seal(&plaintext, &AAD).expect("seal");
        let bit = bit % (sealed.len() * 8);
        if let Some(byte) = sealed.get_mut(bit / 8) {
            *byte ^= 1 << (bit % 8);
        }
        prop_assert!(ring.open(&sealed, &AAD).is_err());
    }

    #[test]
    fn any_truncation_fails(
        plaintext in proptest::collection::vec(any::<u8>(), 0..256),
        cut in any::<usize>(),
    ) {
        let ring = keyring(&format!("k1:{KEY_A}"));
        let sealed = ring.seal(&plaintext, &AAD).expect("seal");
        let cut = cut % sealed.len();
        prop_assert!(ring.open(sealed.get(..cut).expect("prefix"), &AAD).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let ring = keyring(&format!("k1:{KEY_A}"));
        prop_assert!(ring.open(&bytes, &AAD).is_err());
        prop_assert!(ring.open_str(&bytes, &AAD).is_err());
        prop_assert!(ring.rewrap(&bytes, &AAD).is_err());
        let _ = RootKeyring::envelope_key_id(&bytes);
    }

    #[test]
    fn arbitrary_bodies_behind_a_valid_header_never_panic(
        id_len in 0u8..40,
        body in proptest::collection::vec(any::<u8>(), 0..160),
    ) {
        // Reach past the version check so the length and split logic is exercised too.
        let ring = keyring(&format!("k1:{KEY_A}"));
        let mut bytes = vec![crypto::ENVELOPE_VERSION, id_len];
        bytes.extend(std::iter::repeat_n(b'k', usize::from(id_len).min(2)));
        bytes.extend(body);
        prop_assert!(ring.open(&bytes, &AAD).is_err());
        prop_assert!(ring.rewrap(&bytes, &AAD).is_err());
        let _ = RootKeyring::envelope_key_id(&bytes);
    }
}
