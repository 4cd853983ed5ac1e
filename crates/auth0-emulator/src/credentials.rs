//! Client credentials for Private Key JWT (`/api/v2/clients/{id}/credentials`): the record, its
//! wire shape, and turning a submitted PEM into a public key we can verify assertions with.
//!
//! Auth0 accepts an RSA public key as SPKI (`BEGIN PUBLIC KEY`) or PKCS#1 (`BEGIN RSA PUBLIC
//! KEY`), or an X.509 certificate; `alg` is one of RS256, RS384, PS256; a `kid` the caller does
//! not choose is derived from the key. Refusal texts never quote the submitted PEM. This module
//! does no locking and no HTTP.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::{DecodeRsaPublicKey as _, EncodeRsaPublicKey as _};
use rsa::pkcs8::DecodePublicKey as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::secrets;

/// The signing algorithms Auth0 accepts for a public-key credential.
pub(crate) const ALGORITHMS: &[&str] = &["RS256", "RS384", "PS256"];

/// Auth0 enables at most two credentials per authentication method (the overlap that makes
/// zero-downtime rotation possible).
pub(crate) const MAX_ENABLED: usize = 2;

/// Auth0 refuses RSA keys shorter than this.
const MIN_KEY_BITS: usize = 2048;
const MAX_KEY_BITS: usize = 8192;

/// A registered public key. `public_der` is the PKCS#1 `RSAPublicKey`, the form `ring` verifies
/// with; the PEM itself is not kept (Auth0 never returns it).
#[derive(Clone)]
pub(crate) struct Credential {
    pub id: String,
    pub name: String,
    pub kid: String,
    pub alg: String,
    pub public_der: Vec<u8>,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: Option<OffsetDateTime>,
}

impl Credential {
    pub(crate) fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.id));
        out.insert("name".into(), json!(self.name));
        out.insert("kid".into(), json!(self.kid));
        out.insert("alg".into(), json!(self.alg));
        out.insert("credential_type".into(), json!("public_key"));
        out.insert("created_at".into(), json!(self.created_at));
        out.insert("updated_at".into(), json!(self.updated_at));
        if let Some(expires_at) = self.expires_at {
            out.insert("expires_at".into(), json!(format_timestamp(expires_at)));
        }
        Value::Object(out)
    }

    pub(crate) fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// Auth0's credential ids: `cred_` and 22 alphanumerics.
pub(crate) fn new_credential_id() -> String {
    format!("cred_{}", &secrets::new_client_id()[..22])
}

/// A parsed public key: its PKCS#1 DER and the RFC 7638 thumbprint used as default `kid`.
pub(crate) struct PublicKey {
    pub der: Vec<u8>,
    pub thumbprint: String,
}

/// Why a PEM was refused; the texts name the rule, never the value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PemError {
    PrivateKey,
    Malformed,
    NotRsa,
    KeySize(usize),
}

impl PemError {
    pub(crate) fn message(&self) -> String {
        match self {
            PemError::PrivateKey => "The pem property must be a public key or an X.509 \
                certificate; a private key was sent. Keep the private key with the application."
                .to_owned(),
            PemError::Malformed => "The pem property is not a valid PEM-formatted public key \
                (SPKI or PKCS#1) or X.509 certificate."
                .to_owned(),
            PemError::NotRsa => {
                "The pem property must hold an RSA public key (RS256, RS384, PS256).".to_owned()
            }
            PemError::KeySize(bits) => format!(
                "The public key is {bits} bits; RSA keys must be {MIN_KEY_BITS} to {MAX_KEY_BITS} bits."
            ),
        }
    }
}

/// Parses a submitted `pem`: SPKI, PKCS#1 or an X.509 certificate's public key.
pub(crate) fn parse_public_pem(pem: &str) -> Result<PublicKey, PemError> {
    let pem = pem.trim();
    if pem.contains("PRIVATE KEY-----") {
        return Err(PemError::PrivateKey);
    }
    let key = if pem.starts_with("-----BEGIN CERTIFICATE-----") {
        let der = pem_body(pem, "CERTIFICATE").ok_or(PemError::Malformed)?;
        let spki = certificate_spki(&der).ok_or(PemError::Malformed)?;
        rsa::RsaPublicKey::from_public_key_der(spki).map_err(|_| PemError::NotRsa)?
    } else if pem.starts_with("-----BEGIN PUBLIC KEY-----") {
        // A well-formed SPKI that is not RSA (an EC key, say) is a different refusal.
        let der = pem_body(pem, "PUBLIC KEY").ok_or(PemError::Malformed)?;
        rsa::RsaPublicKey::from_public_key_der(&der).map_err(|_| PemError::NotRsa)?
    } else if pem.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
        rsa::RsaPublicKey::from_pkcs1_pem(pem).map_err(|_| PemError::Malformed)?
    } else {
        return Err(PemError::Malformed);
    };
    let bits = key.size() * 8;
    if !(MIN_KEY_BITS..=MAX_KEY_BITS).contains(&bits) {
        return Err(PemError::KeySize(bits));
    }
    let der = key
        .to_pkcs1_der()
        .map_err(|_| PemError::Malformed)?
        .as_bytes()
        .to_vec();
    Ok(PublicKey {
        der,
        thumbprint: jwk_thumbprint(&key),
    })
}

/// The base64 body of a PEM block with this label, decoded.
fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = pem.strip_prefix(&begin)?;
    let (body, _) = body.split_once(&end)?;
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// RFC 7638 thumbprint of an RSA key (base64url SHA-256 of `{"e","kty","n"}`): 43 characters
/// of `[A-Za-z0-9_-]`, which fits Auth0's `kid` rule, and stable for one key.
fn jwk_thumbprint(key: &rsa::RsaPublicKey) -> String {
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        URL_SAFE_NO_PAD.encode(key.n().to_bytes_be())
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// One DER element: (tag, header length, content length).
fn der_element(input: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    if first < 0x80 {
        return Some((tag, 2, usize::from(first)));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 4 {
        return None;
    }
    let mut len = 0usize;
    for byte in input.get(2..2 + count)? {
        len = (len << 8) | usize::from(*byte);
    }
    Some((tag, 2 + count, len))
}

/// One DER element split off the front of its input.
struct Der<'a> {
    tag: u8,
    whole: &'a [u8],
    content: &'a [u8],
    rest: &'a [u8],
}

fn der_take(input: &[u8]) -> Option<Der<'_>> {
    let (tag, header, len) = der_element(input)?;
    let end = header.checked_add(len)?;
    let whole = input.get(..end)?;
    Some(Der {
        tag,
        whole,
        content: whole.get(header..)?,
        rest: input.get(end..)?,
    })
}

/// The `subjectPublicKeyInfo` of an X.509 certificate (RFC 5280 §4.1): the seventh field of
/// `tbsCertificate`, or the sixth when the optional `[0] version` is absent.
fn certificate_spki(cert: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    let certificate = der_take(cert).filter(|d| d.tag == SEQUENCE)?;
    let tbs = der_take(certificate.content).filter(|d| d.tag == SEQUENCE)?;
    let mut fields = tbs.content;
    if fields.first() == Some(&0xa0) {
        fields = der_take(fields)?.rest;
    }
    // serialNumber, signature, issuer, validity, subject.
    for _ in 0..5 {
        fields = der_take(fields)?.rest;
    }
    der_take(fields)
        .filter(|d| d.tag == SEQUENCE)
        .map(|d| d.whole)
}

/// Auth0's `kid` rule: `[0-9a-zA-Z-_]{10,64}`.
pub(crate) fn valid_kid(kid: &str) -> bool {
    (10..=64).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(crate) fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// ISO 8601 in UTC with milliseconds, as Auth0 writes dates.
pub(crate) fn format_timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use rsa::pkcs1::EncodeRsaPublicKey as _;
    use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};

    use super::*;

    fn key() -> rsa::RsaPrivateKey {
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap()
    }

    #[test]
    fn spki_and_pkcs1_give_the_same_key_and_kid() {
        let private = key();
        let public = private.to_public_key();
        let spki = public.to_public_key_pem(LineEnding::LF).unwrap();
        let pkcs1 = public.to_pkcs1_pem(LineEnding::LF).unwrap();
        let a = parse_public_pem(&spki).unwrap();
        let b = parse_public_pem(&pkcs1).unwrap();
        assert_eq!(a.der, b.der);
        assert_eq!(a.thumbprint, b.thumbprint);
        assert_eq!(a.thumbprint.len(), 43);
        assert!(valid_kid(&a.thumbprint));
    }

    #[test]
    fn private_keys_and_garbage_are_refused_without_echo() {
        let private = key().to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_eq!(parse_public_pem(&private).err(), Some(PemError::PrivateKey));
        assert_eq!(
            parse_public_pem("-----BEGIN PUBLIC KEY-----\nnot-base64!\n-----END PUBLIC KEY-----")
                .err(),
            Some(PemError::Malformed)
        );
        assert_eq!(parse_public_pem("canary").err(), Some(PemError::Malformed));
        assert!(!PemError::Malformed.message().contains("canary"));
    }

    #[test]
    fn small_keys_are_refused() {
        let small = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
        let pem = small
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        assert_eq!(parse_public_pem(&pem).err(), Some(PemError::KeySize(1024)));
    }

    #[test]
    fn kid_rule() {
        assert!(valid_kid("abcdefghij"));
        assert!(!valid_kid("short"));
        assert!(!valid_kid("has space in it"));
        assert!(!valid_kid(&"a".repeat(65)));
    }

    /// A self-signed v3 certificate made with `openssl req -x509 -newkey rsa:2048` (its private
    /// key was discarded), and its public key as `openssl x509 -pubkey` prints it.
    const CERT: &str = include_str!("../tests/fixtures/self-signed-cert.pem");
    const CERT_PUBLIC_KEY: &str = include_str!("../tests/fixtures/self-signed-cert-public-key.pem");

    #[test]
    fn certificates_give_their_public_key() {
        let from_cert = parse_public_pem(CERT).unwrap();
        let from_key = parse_public_pem(CERT_PUBLIC_KEY).unwrap();
        assert_eq!(from_cert.der, from_key.der);
        assert_eq!(from_cert.thumbprint, from_key.thumbprint);
        let broken = CERT.replacen("MII", "AII", 1);
        assert!(parse_public_pem(&broken).is_err());
    }

    #[test]
    fn der_walk_refuses_truncated_input() {
        assert!(certificate_spki(&[0x30, 0x82, 0x01]).is_none());
        assert!(certificate_spki(&[]).is_none());
        assert!(certificate_spki(&[0x30, 0x00]).is_none());
    }
}
