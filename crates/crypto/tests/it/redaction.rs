//! Canary tests: formatting keyrings, generated keys and errors never reveals key material.

use crypto::{KeyError, RootKeyring, generate_root_key};

/// 32 bytes of "CANARY-..." and their standard base64.
const CANARY_B64: &str = "Q0FOQVJZLUNBTkFSWS1DQU5BUlktQ0FOQVJZLUNBTkE=";

fn assert_clean(text: &str) {
    let unpadded = CANARY_B64.trim_end_matches('=');
    assert!(!text.contains(unpadded), "base64 key leaked: {text}");
    assert!(
        !text.contains(&unpadded[..12]),
        "base64 key fragment leaked: {text}"
    );
    assert!(!text.contains("CANARY"), "key bytes as text leaked: {text}");
    assert!(
        !text.contains("67, 65, 78"),
        "key bytes as array leaked: {text}"
    );
    assert!(
        !text.contains("434e4152"),
        "key bytes as hex leaked: {text}"
    );
}

#[test]
fn keyring_debug_lists_ids_only() {
    let ring =
        RootKeyring::parse(&format!("canary:{CANARY_B64},k2:{}", crate::KEY_B)).expect("parses");
    let debug = format!("{ring:?} {ring:#?}");
    assert_clean(&debug);
    assert!(!debug.contains(crate::KEY_B.trim_end_matches('=')));
    assert!(debug.contains("canary") && debug.contains("k2"), "{debug}");
}

#[test]
fn parse_errors_never_echo_key_material() {
    let specs = [
        CANARY_B64.to_owned(),                      // bare key, no id
        format!("{CANARY_B64}:k1"),                 // swapped key and id
        format!("k1:{CANARY_B64}x"),                // corrupted base64
        format!("k1:{CANARY_B64}{CANARY_B64}"),     // two keys run together
        format!("k1:{}", &CANARY_B64[..40]),        // short key
        format!("k1:{CANARY_B64},k1:{CANARY_B64}"), // duplicate
        format!("k1:{CANARY_B64},,{CANARY_B64}"),   // second entry without id
    ];
    for spec in specs {
        let err: KeyError = RootKeyring::parse(&spec).expect_err("spec is invalid");
        assert_clean(&format!("{err:?}"));
        assert_clean(&err.to_string());
        let err = RootKeyring::from_file_contents(&spec).expect_err("spec is invalid");
        assert_clean(&format!("{err:?} {err}"));
    }
}

#[test]
fn generated_key_is_a_redacted_secret() {
    let key = generate_root_key("k1").expect("generate");
    let debug = format!("{key:?}");
    let spec = crypto::ExposeSecret::expose_secret(&key);
    let encoded = spec.trim_start_matches("k1:");
    assert_eq!(encoded.len(), 44);
    assert!(!debug.contains(encoded), "{debug}");
}

#[test]
fn crypto_errors_carry_no_material() {
    let ring = RootKeyring::parse(&format!("canary:{CANARY_B64}")).expect("parses");
    let sealed = ring.seal(b"CANARY plaintext", &crate::AAD).expect("seal");
    let mut damaged = sealed.clone();
    if let Some(last) = damaged.last_mut() {
        *last ^= 1;
    }
    let err = ring.open(&damaged, &crate::AAD).expect_err("tampered");
    assert_clean(&format!("{err:?} {err}"));
}
