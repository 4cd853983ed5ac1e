//! `ValidJson<T>`: a JSON body with errors that name the field at fault and never echo the value
//! that was sent (it may be a secret in the wrong place).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use std::fmt;
use std::marker::PhantomData;

use axum::http::{StatusCode, header};
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

use crate::problem::{ApiError, FieldError};

/// The parsed body and a SHA-256 of its bytes (what `Idempotency-Key` replays compare).
pub struct ValidJson<T> {
    pub value: T,
    pub body_hash: [u8; 32],
}

impl<T, S> FromRequest<S> for ValidJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| body_rejection(&rejection))?;
        let value = parse(&bytes)?;
        Ok(ValidJson {
            value,
            body_hash: Sha256::digest(&bytes).into(),
        })
    }
}

pub fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(Ok(value)) = content_type.map(|v| v.to_str()) else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Deserialises with the path of the failing field, turning serde's message into one that cannot
/// contain the offending value. The body must be a JSON object (see [`Object`]).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<Object<T>, _> = serde_path_to_error::deserialize(&mut de);
    let value = match result {
        Ok(Object(value)) => value,
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            return Err(match inner.classify() {
                serde_json::error::Category::Data => {
                    let message = inner.to_string();
                    ApiError::Validation(vec![FieldError::new(
                        field_path(&path, &message),
                        redact_serde(&message),
                    )])
                }
                serde_json::error::Category::Eof => ApiError::BadRequest {
                    detail: "the JSON body ends too early".to_owned(),
                    field: None,
                },
                _ => ApiError::BadRequest {
                    detail: format!(
                        "the body is not valid JSON (line {}, column {})",
                        inner.line(),
                        inner.column()
                    ),
                    field: None,
                },
            });
        }
    };
    de.end().map_err(|_| ApiError::BadRequest {
        detail: "unexpected data after the JSON body".to_owned(),
        field: None,
    })?;
    Ok(value)
}

/// A `T` read from a JSON object only. serde's derived `Deserialize` for a struct also accepts an
/// array of the field values in declaration order (`["machine", "x"]` as `{"type": "machine",
/// "name": "x"}`); every request body and nested object in openapi.yaml is an object, so arrays
/// answer `422` like any other wrong type. Bodies get this in [`parse`]; nested struct fields with
/// `#[serde(deserialize_with = "crate::extract::object")]` (or `optional_object`).
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(ObjectOnly(PhantomData)).map(Object)
    }
}

/// `deserialize_with` for a nested struct field: a JSON object only (see [`Object`]).
pub fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Object::deserialize(d).map(|Object(value)| value)
}

/// `deserialize_with` for an optional nested struct field (with `#[serde(default)]`): `null` or a
/// JSON object (see [`Object`]).
pub fn optional_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<Object<T>>::deserialize(d).map(|value| value.map(|Object(value)| value))
}

/// For `Option<Option<String>>` fields with `#[serde(default, deserialize_with = ...)]`: an explicit
/// `null` becomes `Some(None)` (clear it), an absent field stays `None` (leave it as it is).
pub fn nullable<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    <Option<String> as serde::Deserialize>::deserialize(d).map(Some)
}

/// For optional fields that may be left out but not sent as `null` (with `#[serde(default)]`):
/// a `null` is refused like any other wrong type, naming the field.
pub fn not_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// `deserialize_with` for an integer field: JSON Schema counts `7.0` as an integer, so a client (or
/// a generator) following openapi.yaml may send one; serde's integer types refuse it. Accepts any
/// JSON number with no fractional part that fits `T`; the error names `T` as serde's would.
pub fn integer<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    struct Integral<T>(PhantomData<T>);
    impl<T: TryFrom<i64> + TryFrom<u64>> Visitor<'_> for Integral<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            let name = std::any::type_name::<T>();
            f.write_str(name.rsplit("::").next().unwrap_or(name))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<T, E> {
            // Past 2^53 a float no longer names one integer: refuse rather than round.
            const EXACT: f64 = 9_007_199_254_740_992.0;
            if v.fract() == 0.0 && v.abs() <= EXACT {
                #[allow(clippy::cast_possible_truncation)]
                self.visit_i64(v as i64)
            } else {
                Err(E::invalid_type(serde::de::Unexpected::Float(v), &self))
            }
        }
    }
    d.deserialize_any(Integral(PhantomData))
}

/// [`integer`] for an optional field (with `#[serde(default)]`): `null` or an integer.
pub fn optional_integer<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    #[derive(Deserialize)]
    struct Wrapped<T: TryFrom<i64> + TryFrom<u64>>(#[serde(deserialize_with = "integer")] T);
    Option::<Wrapped<T>>::deserialize(d).map(|value| value.map(|Wrapped(v)| v))
}

/// What a body that could not be read answers: `413` past the route's limit, else `400`.
pub fn body_rejection(rejection: &axum::extract::rejection::BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadRequest {
            detail: "could not read the request body".to_owned(),
            field: None,
        }
    }
}

/// The dotted path of the field at fault. For a missing field serde reports the parent's path, so
/// the field's own name is taken from the message.
pub fn field_path(path: &str, message: &str) -> String {
    let safe = safe_path(path);
    let parent = if safe == "." { "" } else { safe.as_str() };
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match missing {
        Some(name) if parent.is_empty() => name.to_owned(),
        Some(name) => format!("{parent}.{name}"),
        None => parent.to_owned(),
    }
}

/// Field names come from the client; one that does not look like an identifier (e.g. a secret pasted
/// as a key) is replaced so it is never echoed or logged.
fn safe_path(path: &str) -> String {
    if path == "." {
        return path.to_owned();
    }
    path.split('.')
        .map(|segment| {
            // Everything after the name must be `[index]`s: a key like `x[s3cr3t…` is one name.
            let (name, indexes) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
            if (looks_like_a_name(name) || (name.is_empty() && !indexes.is_empty()))
                && is_indexes(indexes)
            {
                segment.to_owned()
            } else {
                "(unnamed)".to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Zero or more `[digits]`, as serde_path_to_error writes sequence positions.
fn is_indexes(s: &str) -> bool {
    s.split_inclusive(']').all(|index| {
        index
            .strip_prefix('[')
            .and_then(|i| i.strip_suffix(']'))
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Letters and underscores only, short: every field we define, and unlikely to be a pasted secret
/// (generated secrets and tokens contain digits).
fn looks_like_a_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
}

/// serde's messages quote the value they choked on (`invalid type: string "s3cr3t", expected ...`).
/// Keep the expectation, drop the value; keep unknown field names only when they look like names.
pub fn redact_serde(message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message);
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if message.starts_with(prefix) {
            return match message.rsplit_once(", expected ") {
                Some((_, expected)) => format!("{}expected {expected}", prefix.replace(": ", ", ")),
                None => prefix.trim_end_matches([' ', ':']).to_owned(),
            };
        }
    }
    for (prefix, noun) in [
        ("unknown field `", "unknown field"),
        ("unknown variant `", "unknown value"),
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let name = rest.split('`').next().unwrap_or_default();
            let expected = rest
                .rsplit_once(", expected ")
                .map(|(_, e)| format!(", expected {e}"))
                .unwrap_or_default();
            return if looks_like_a_name(name) {
                format!("{noun} `{name}`{expected}")
            } else {
                format!("{noun}{expected}")
            };
        }
    }
    if message.starts_with("missing field `") || message.starts_with("duplicate field `") {
        return message.to_owned();
    }
    "invalid value".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_lose_the_value_but_keep_the_expectation() {
        let cases = [
            (
                r#"invalid type: string "CANARY", expected u32 at line 1 column 9"#,
                "invalid type, expected u32",
            ),
            (
                r#"invalid value: string "CANARY", expected a UUID"#,
                "invalid value, expected a UUID",
            ),
            (
                "unknown field `CANARY-x`, expected `name`",
                "unknown field, expected `name`",
            ),
            (
                "unknown field `CANARY0123`, expected `name`",
                "unknown field, expected `name`",
            ),
            (
                "unknown field `foo`, expected `name`",
                "unknown field `foo`, expected `name`",
            ),
            ("missing field `name`", "missing field `name`"),
            ("something else CANARY", "invalid value"),
            // The value or key may contain the separator; only serde's own last one counts.
            (
                r#"invalid type: string "x, expected CANARY", expected a boolean"#,
                "invalid type, expected a boolean",
            ),
            (
                "unknown field `x, expected CANARY`, expected `name`",
                "unknown field, expected `name`",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact_serde(input), want);
        }
    }

    #[test]
    fn paths_never_echo_names_that_could_be_secrets() {
        assert_eq!(
            field_path("credentials.extra", "unknown field"),
            "credentials.extra"
        );
        assert_eq!(
            field_path("credentials.s3cr3tValue", "unknown field"),
            "credentials.(unnamed)"
        );
        assert_eq!(
            field_path("credentials.x[CANARY", "unknown field"),
            "credentials.(unnamed)"
        );
        assert_eq!(field_path("scopes[0][12]", ""), "scopes[0][12]");
        assert_eq!(field_path("[3].name", ""), "[3].name");
        assert_eq!(field_path("a[]", ""), "(unnamed)");
        assert_eq!(field_path(".", "missing field `name`"), "name");
        assert_eq!(
            field_path("credentials", "missing field `clientId`"),
            "credentials.clientId"
        );
    }

    #[test]
    fn bodies_and_nested_objects_must_be_objects() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Inner {
            a: u8,
        }
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            name: Option<String>,
            #[serde(deserialize_with = "object")]
            required: Inner,
            #[serde(default, deserialize_with = "optional_object")]
            optional: Option<Inner>,
        }
        let ok: Body =
            parse(br#"{"name":"x","required":{"a":1},"optional":{"a":2}}"#).expect("objects");
        assert_eq!(ok.name.as_deref(), Some("x"));
        assert_eq!(ok.required.a, 1);
        assert_eq!(ok.optional.map(|i| i.a), Some(2));
        let ok: Body = parse(br#"{"required":{"a":1},"optional":null}"#).expect("null");
        assert!(ok.optional.is_none());
        let ok: Body = parse(br#"{"required":{"a":1}}"#).expect("absent");
        assert!(ok.optional.is_none());

        // serde's derived structs would take these as their field values in order.
        for (body, field) in [
            (&br#"[null, [1]]"#[..], ""),
            (br#"["x", {"a": 1}]"#, ""),
            (br#"[]"#, ""),
            (br#"{"required":[1]}"#, "required"),
            (br#"{"required":{"a":1},"optional":[2]}"#, "optional"),
        ] {
            match parse::<Body>(body) {
                Err(ApiError::Validation(errors)) => {
                    assert_eq!(errors.len(), 1, "{errors:?}");
                    assert_eq!(errors[0].field, field);
                    assert_eq!(errors[0].detail, "invalid type, expected a JSON object");
                }
                Err(other) => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
                Ok(value) => panic!("{} was accepted: {value:?}", String::from_utf8_lossy(body)),
            }
        }
    }

    #[test]
    fn integers_may_be_written_as_integral_numbers() {
        #[derive(Debug, Deserialize)]
        struct Body {
            #[serde(deserialize_with = "integer")]
            n: i32,
            #[serde(default, deserialize_with = "optional_integer")]
            m: Option<i16>,
        }
        let ok: Body = parse(br#"{"n": 21609455.0, "m": 7.0}"#).expect("integral floats");
        assert_eq!((ok.n, ok.m), (21_609_455, Some(7)));
        let ok: Body = parse(br#"{"n": -3, "m": null}"#).expect("integers");
        assert_eq!((ok.n, ok.m), (-3, None));
        let ok: Body = parse(br#"{"n": 1}"#).expect("absent");
        assert_eq!(ok.m, None);
        for (body, detail) in [
            (&br#"{"n": 1.5}"#[..], "invalid type, expected i32"),
            (br#"{"n": 3000000000}"#, "invalid value, expected i32"),
            (br#"{"n": 1e300}"#, "invalid type, expected i32"),
            (br#"{"n": "7"}"#, "invalid type, expected i32"),
            (br#"{"n": 1, "m": 70000.0}"#, "invalid value, expected i16"),
        ] {
            match parse::<Body>(body) {
                Err(ApiError::Validation(errors)) => assert_eq!(errors[0].detail, detail),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
    }

    #[test]
    fn content_types() {
        let ok = [
            "application/json",
            "application/json; charset=utf-8",
            "application/merge-patch+json",
        ];
        for ct in ok {
            assert!(is_json(Some(&header::HeaderValue::from_static(ct))), "{ct}");
        }
        for ct in ["text/plain", "application/x-www-form-urlencoded", ""] {
            assert!(
                !is_json(Some(&header::HeaderValue::from_static(ct))),
                "{ct}"
            );
        }
        assert!(!is_json(None));
    }
}
