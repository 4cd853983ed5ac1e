//! Fuzzes the API's JSON body parser, `api::extract::parse_json`, the one place a request body
//! becomes a DTO or a problem response.
//!
//! The security property is that a problem never echoes what was sent: a secret pasted into
//! the wrong field (or used as a key) must not come back in `errors[].field`, `detail` or a log.
//! For every input and every DTO shape, no run of more than 40 bytes of the input may appear in
//! the error, unless that text is one the schema itself produces (field lists, fixed
//! messages), and every field path must be made of name-like segments. The route modules' own
//! request DTOs are fuzzed, so the target cannot drift from what the API parses.

#![no_main]

use std::collections::HashSet;
use std::sync::LazyLock;

use api::extract::parse_json;
use api::problem::ApiError;
use api::routes::connections::dto::{ConnectionIn, ConnectionPatch};
use api::routes::connection_calls::users::UserIn;
use api::routes::identities::IdentityIn;
use api::routes::projects::ProjectIn;
use api::routes::rotations::dto::{ClientSecretIn, KeyRotationIn};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Longest run of input bytes an error may repeat: the longest field name we accept is 40.
const MAX_ECHO: usize = 40;

/// Bodies whose errors contain only text the schema provides (the `zzzz` placeholder aside):
/// their messages are what an error may legitimately repeat even if the input spells it out.
const PROBES: &[&str] = &[
    "0",
    "[]",
    "{",
    "x",
    "{} x",
    r#"{"zzzz":0}"#,
    r#"{"credentials":0}"#,
    r#"{"credentials":{"zzzz":0}}"#,
    r#"{"credentials":[]}"#,
    r#"{"parameters":0}"#,
    r#"{"parameters":{"zzzz":0}}"#,
    r#"{"rotateAtUtc":0}"#,
    r#"{"rotateAtUtc":{"zzzz":0}}"#,
    r#"{"app_metadata":0}"#,
    // Keys that are not name-like: the message drops them ("unknown field, expected ...").
    r#"{"z1":0}"#,
    r#"{"credentials":{"z1":0}}"#,
    r#"{"parameters":{"z1":0}}"#,
    r#"{"rotateAtUtc":{"z1":0}}"#,
];

/// Positions and counts in messages (`line 1, column 22`) and the names serde quotes in
/// backticks vary with the input (names are allowed through, up to `MAX_ECHO` letters). Each run
/// of digits becomes `0` and each backtick-delimited all-letter piece `n`, so a message
/// differing only there still counts as the schema's.
fn without_digits(text: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(text.len());
    for (i, piece) in text.split(|&b| b == b'`').enumerate() {
        if i > 0 {
            out.push(b'`');
        }
        if !piece.is_empty() && piece.iter().all(|b| b.is_ascii_alphabetic() || *b == b'_') {
            out.push(b'n');
            continue;
        }
        for &b in piece {
            if !b.is_ascii_digit() {
                out.push(b);
            } else if out.last() != Some(&b'0') {
                out.push(b'0');
            }
        }
    }
    out
}

/// Every run of up to `MAX_ECHO + 1` bytes of the probes' messages, digits collapsed.
static SCHEMA_RUNS: LazyLock<HashSet<Vec<u8>>> = LazyLock::new(|| {
    let mut texts = Vec::new();
    for probe in PROBES {
        let bytes = probe.as_bytes();
        texts.extend(error_texts(parse_json::<Value>(bytes).err()));
        texts.extend(error_texts(parse_json::<ProjectIn>(bytes).err()));
        texts.extend(error_texts(parse_json::<ConnectionIn>(bytes).err()));
        texts.extend(error_texts(parse_json::<ConnectionPatch>(bytes).err()));
        texts.extend(error_texts(parse_json::<ClientSecretIn>(bytes).err()));
        texts.extend(error_texts(parse_json::<KeyRotationIn>(bytes).err()));
        texts.extend(error_texts(parse_json::<IdentityIn>(bytes).err()));
        texts.extend(error_texts(parse_json::<UserIn>(bytes).err()));
    }
    // A run's digits collapse too, so it can be shorter than `MAX_ECHO + 1`: keep every length.
    let mut runs = HashSet::new();
    for text in &texts {
        let text = without_digits(text.as_bytes());
        for len in 1..=MAX_ECHO + 1 {
            runs.extend(text.windows(len).map(<[u8]>::to_vec));
        }
    }
    runs
});

/// Every client-visible string of a parse error. Only two variants may come out of a parser.
fn error_texts(err: Option<ApiError>) -> Vec<String> {
    match err {
        None => Vec::new(),
        Some(ApiError::Validation(fields)) => {
            assert!(!fields.is_empty(), "a validation error names a field");
            fields
                .into_iter()
                .flat_map(|f| {
                    // Paths are checked by shape (name-like segments may be echoed, by
                    // design); `pointer` is derived from the path, so only the detail is free text.
                    check_field_path(&f.field);
                    [f.detail]
                })
                .collect()
        }
        Some(ApiError::BadRequest { detail, field }) => {
            assert!(field.is_none(), "a syntax error names no field");
            vec![detail]
        }
        Some(other) => panic!("parse returned an unexpected error: {other:?}"),
    }
}

/// A path is dotted segments, each a short name, `(unnamed)`, or either with `[index]`s.
fn check_field_path(path: &str) {
    for segment in path.split('.') {
        let (name, indexes) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
        let name_ok = name == "(unnamed)"
            || (name.len() <= MAX_ECHO
                && name.chars().all(|c| c.is_ascii_alphabetic() || c == '_'));
        let indexes_ok = indexes.is_empty()
            || indexes
                .split_inclusive(']')
                .all(|i| i.starts_with('[') && i.ends_with(']') && i.len() > 2);
        assert!(name_ok && indexes_ok, "field path {path:?}");
    }
}

/// Panics with the leaked run if `text` repeats more than `MAX_ECHO` bytes of `input` that the
/// schema's own messages do not contain. Schema runs are skipped first: scanning the input is
/// the expensive part and most error text comes from the schema.
fn assert_no_echo(input: &[u8], text: &str) {
    for run in text.as_bytes().windows(MAX_ECHO + 1) {
        if SCHEMA_RUNS.contains(&without_digits(run)) {
            continue;
        }
        assert!(
            !input.windows(run.len()).any(|w| w == run),
            "error {text:?} echoes input {:?}",
            String::from_utf8_lossy(run)
        );
    }
}

fn check<T: DeserializeOwned>(input: &[u8]) -> bool {
    let result = parse_json::<T>(input);
    let ok = result.is_ok();
    for text in error_texts(result.err()) {
        assert_no_echo(input, &text);
    }
    ok
}

fuzz_target!(|data: &[u8]| {
    // The wrapper must accept exactly what serde_json accepts.
    let generic = check::<Value>(data);
    assert_eq!(generic, serde_json::from_slice::<Value>(data).is_ok());
    check::<ProjectIn>(data);
    check::<ConnectionIn>(data);
    check::<ConnectionPatch>(data);
    check::<ClientSecretIn>(data);
    check::<KeyRotationIn>(data);
    check::<IdentityIn>(data);
    check::<UserIn>(data);
});
