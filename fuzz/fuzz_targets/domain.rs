//! Fuzzes `auth0::Domain::parse`, the first SSRF layer, on arbitrary UTF-8.
//!
//! It must never panic, and anything it accepts must be a plain public hostname: lowercase
//! ASCII labels, no IP literal by any parser we or an HTTP stack might use (std, and the
//! WHATWG host parser that `url`/`reqwest` apply), stable when parsed again, and the same host
//! once embedded in the management API URL (no URL confusion).

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use auth0::Domain;
use libfuzzer_sys::{Corpus, fuzz_target};

const INTERNAL_SUFFIXES: &[&str] = &["localhost", "local", "internal", "arpa", "invalid"];

fuzz_target!(|data: &[u8]| -> Corpus {
    let Ok(input) = std::str::from_utf8(data) else {
        return Corpus::Reject;
    };
    let domain = match Domain::parse(input) {
        Ok(domain) => domain,
        Err(err) => {
            // The message is shown to users; building it must not panic either.
            let _ = err.to_string();
            return Corpus::Keep;
        }
    };
    let name = domain.as_str();

    // Shape: what `parse` documents.
    assert!(!name.is_empty() && name.len() <= 253, "{name:?}");
    assert!(
        name.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'),
        "{name:?}"
    );
    assert!(name.contains('.'), "single label {name:?}");
    for label in name.split('.') {
        assert!((1..=63).contains(&label.len()), "{name:?}");
        assert!(!label.starts_with('-') && !label.ends_with('-'), "{name:?}");
    }
    let expected = input.trim().to_ascii_lowercase();
    assert_eq!(name, expected.strip_suffix('.').unwrap_or(&expected));
    for suffix in INTERNAL_SUFFIXES {
        assert!(
            name != *suffix && !name.ends_with(&format!(".{suffix}")),
            "{name:?}"
        );
    }

    // No IP literal, in any notation a resolver or URL parser accepts.
    assert!(name.parse::<IpAddr>().is_err(), "{name:?}");
    assert!(name.parse::<Ipv4Addr>().is_err(), "{name:?}");
    assert!(name.parse::<Ipv6Addr>().is_err(), "{name:?}");
    match url::Host::parse(name) {
        Ok(url::Host::Domain(host)) => assert_eq!(host, name),
        Ok(other) => panic!("{name:?} is an IP literal to the WHATWG parser: {other:?}"),
        Err(err) => panic!("{name:?} is not a valid URL host: {err}"),
    }

    // Stable: parsing the output again gives the same value, through every entry point.
    assert_eq!(Domain::parse(name).as_ref(), Ok(&domain));
    assert_eq!(domain.to_string().parse::<Domain>().as_ref(), Ok(&domain));

    // The audience URL names exactly this host, so no input can smuggle another one in.
    let audience = domain.management_audience();
    let url = url::Url::parse(&audience).expect("the management audience is a URL");
    assert_eq!(url.scheme(), "https");
    assert_eq!(url.host_str(), Some(name));
    assert_eq!(url.port(), None);
    assert_eq!(url.path(), "/api/v2/");
    assert_eq!(url.username(), "");
    Corpus::Keep
});
