//! Keyring parsing edge cases, check values and root key generation.

use crypto::{ExposeSecret, KeyError, RootKeyring, generate_root_key, random_key_id};

use crate::{KEY_A, KEY_B, keyring};

#[test]
fn parse_table() {
    let a = KEY_A;
    let a_unpadded = KEY_A.trim_end_matches('=');
    let short = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="; // 31 bytes
    let long = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"; // 33 bytes
    let cases: Vec<(String, Result<Vec<&str>, KeyError>)> = vec![
        (format!("k1:{a}"), Ok(vec!["k1"])),
        (format!("k1:{a_unpadded}"), Ok(vec!["k1"])),
        (format!("  k1:{a} ,\tk2:{KEY_B}\n"), Ok(vec!["k1", "k2"])),
        (format!("k2:{KEY_B},k1:{a}"), Ok(vec!["k2", "k1"])),
        (
            format!("{}:{a}", "x".repeat(32)),
            Ok(vec!["x".repeat(32).leak()]),
        ),
        (format!("A_b-9:{a}"), Ok(vec!["A_b-9"])),
        (String::new(), Err(KeyError::Empty)),
        (" , \n".to_owned(), Err(KeyError::Empty)),
        (a.to_owned(), Err(KeyError::Malformed { entry_index: 0 })),
        (
            format!("k1:{a},{KEY_B}"),
            Err(KeyError::Malformed { entry_index: 1 }),
        ),
        (format!(":{a}"), Err(KeyError::BadId { entry_index: 0 })),
        (
            format!("{}:{a}", "x".repeat(33)),
            Err(KeyError::BadId { entry_index: 0 }),
        ),
        (format!("k.1:{a}"), Err(KeyError::BadId { entry_index: 0 })),
        (
            format!("k1:{a},ké:{KEY_B}"),
            Err(KeyError::BadId { entry_index: 1 }),
        ),
        (
            "k1:".to_owned(),
            Err(KeyError::BadKeyLength {
                id: "k1".into(),
                len: 0,
            }),
        ),
        (
            "k1:not*base64".to_owned(),
            Err(KeyError::BadBase64 { id: "k1".into() }),
        ),
        (
            "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8-".to_owned(),
            Err(KeyError::BadBase64 { id: "k1".into() }),
        ),
        (
            format!("k1:{short}"),
            Err(KeyError::BadKeyLength {
                id: "k1".into(),
                len: 31,
            }),
        ),
        (
            format!("k1:{long}"),
            Err(KeyError::BadKeyLength {
                id: "k1".into(),
                len: 33,
            }),
        ),
        (
            // 64 hex characters: a common mistake, decodes to 48 bytes.
            format!("k1:{}", "ab".repeat(32)),
            Err(KeyError::BadKeyLength {
                id: "k1".into(),
                len: 48,
            }),
        ),
        (
            format!("k1:{a},k1:{KEY_B}"),
            Err(KeyError::Duplicate { id: "k1".into() }),
        ),
    ];
    for (spec, expected) in cases {
        let got = RootKeyring::parse(&spec).map(|ring| ring.key_ids());
        let expected = expected.map(|ids| ids.into_iter().map(String::from).collect::<Vec<_>>());
        assert_eq!(got, expected, "spec {spec:?}");
    }
}

#[test]
fn file_contents_allow_comments_and_newlines() {
    let contents = format!(
        "# keyhold root keys; the first is active\n\n  new:{KEY_B}\n# retired soon\nold:{KEY_A},\n"
    );
    let ring = RootKeyring::from_file_contents(&contents).expect("parses");
    assert_eq!(ring.key_ids(), vec!["new", "old"]);
    assert_eq!(ring.active_key_id(), "new");

    assert_eq!(
        RootKeyring::from_file_contents("# only a comment\n\n").map(|_| ()),
        Err(KeyError::Empty)
    );
    assert_eq!(
        RootKeyring::from_file_contents(&format!("k1:{KEY_A}\nk1:{KEY_B}\n")).map(|_| ()),
        Err(KeyError::Duplicate { id: "k1".into() })
    );
}

#[test]
fn check_value_is_hmac_of_fixed_message() {
    // HMAC-SHA256(bytes 0x00..=0x1f, "keyhold keyring check v1"), first 16 bytes, computed
    // independently with Python's hmac module.
    let ring = keyring(&format!("a:{KEY_A},b:{KEY_B}"));
    assert_eq!(
        ring.check_value("a").as_deref(),
        Some("57c0832bb861c8f43e5d92ee80d18c1b")
    );
    let b = ring.check_value("b").expect("known id");
    assert_eq!(b.len(), 32);
    assert_ne!(Some(b), ring.check_value("a"));
    assert_eq!(ring.check_value("missing"), None);
    // Depends on the key bytes, not the id.
    assert_eq!(
        keyring(&format!("other:{KEY_A}")).check_value("other"),
        ring.check_value("a")
    );
}

#[test]
fn generated_keys_parse_and_differ() {
    let one = generate_root_key("k1").expect("generate");
    let two = generate_root_key("k2").expect("generate");
    assert!(one.expose_secret().starts_with("k1:"));
    let spec = format!("{},{}", one.expose_secret(), two.expose_secret());
    let ring = RootKeyring::parse(&spec).expect("generated keys parse");
    assert_eq!(ring.key_ids(), vec!["k1", "k2"]);
    assert_ne!(ring.check_value("k1"), ring.check_value("k2"));

    let fresh_id = random_key_id();
    let generated = generate_root_key(&fresh_id).expect("random ids are valid");
    assert_eq!(
        RootKeyring::parse(generated.expose_secret())
            .expect("parses")
            .active_key_id(),
        fresh_id
    );
}

#[test]
fn generate_refuses_bad_ids() {
    for id in ["", "has space", "k:1", &"x".repeat(33)] {
        assert_eq!(
            generate_root_key(id).map(|_| ()),
            Err(KeyError::InvalidId),
            "{id:?}"
        );
    }
}

#[test]
fn keyring_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RootKeyring>();
}
