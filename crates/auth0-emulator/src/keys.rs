//! RS256 signing keys and JWTs: the process-wide key pool, JWKS entries, signing and verifying.
//!
//! Keys are generated with the `rsa` crate (keygen only) but used through `ring`, whose RSA
//! signing is fast enough for thousands of tokens per second. Keygen costs up to a second, so a
//! process-wide pool hands the N-th tenant of every emulator the N-th key: a test suite that
//! starts many emulators pays for a few keys once. This module knows nothing about HTTP.

use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair, RsaPublicKeyComponents, UnparsedPublicKey};
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use serde::{Deserialize, Serialize};

const KEY_BITS: usize = 2048;

/// Why a presented JWT was not accepted; all map to Auth0's 401 on the Management API.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JwtError {
    Malformed,
    BadSignature,
}

/// A tenant's signing key with its precomputed JWT header and JWK.
pub(crate) struct SigningKey {
    pair: RsaKeyPair,
    public_der: Vec<u8>,
    /// base64url of `{"alg":"RS256","typ":"JWT","kid":...}`, identical for every token.
    header_b64: String,
    jwk: serde_json::Value,
    rng: SystemRandom,
}

impl SigningKey {
    fn from_pkcs8_der(der: &[u8]) -> anyhow::Result<SigningKey> {
        let pair = RsaKeyPair::from_pkcs8(der)
            .map_err(|e| anyhow::anyhow!("ring rejected the RSA key: {e}"))?;
        let public_der = pair.public().as_ref().to_vec();
        let digest = ring::digest::digest(&ring::digest::SHA256, &public_der);
        // A stable fingerprint of the public key, so a kid names one key across restarts.
        let kid = URL_SAFE_NO_PAD.encode(&digest.as_ref()[..18]);
        let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": kid });
        let header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());
        let components: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
        let jwk = serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(strip_leading_zeros(&components.n)),
            "e": URL_SAFE_NO_PAD.encode(strip_leading_zeros(&components.e)),
        });
        Ok(SigningKey {
            pair,
            public_der,
            header_b64,
            jwk,
            rng: SystemRandom::new(),
        })
    }

    /// Accepts PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM.
    pub(crate) fn from_pem(pem: &str) -> anyhow::Result<SigningKey> {
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|e| anyhow::anyhow!("signing_key_pem is not an RSA private key: {e}"))?;
        let der = key
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("encoding the RSA key: {e}"))?;
        SigningKey::from_pkcs8_der(der.as_bytes())
    }

    fn generate() -> anyhow::Result<SigningKey> {
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, KEY_BITS)
            .map_err(|e| anyhow::anyhow!("generating an RSA key: {e}"))?;
        let der = key
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("encoding the RSA key: {e}"))?;
        SigningKey::from_pkcs8_der(der.as_bytes())
    }

    /// The key as one entry of `/.well-known/jwks.json`.
    pub(crate) fn jwk(&self) -> &serde_json::Value {
        &self.jwk
    }

    /// A compact JWS (`header.payload.signature`) over `claims`.
    pub(crate) fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let payload = serde_json::to_vec(claims)?;
        let mut token = String::with_capacity(self.header_b64.len() + payload.len() * 2 + 400);
        token.push_str(&self.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let mut sig = vec![0u8; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &self.rng,
                token.as_bytes(),
                &mut sig,
            )
            .map_err(|_| anyhow::anyhow!("RSA signing failed"))?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&sig, &mut token);
        Ok(token)
    }

    /// Checks structure, `alg`, `kid` and signature; returns the claims unvalidated otherwise
    /// (issuer, audience and expiry are the caller's policy).
    pub(crate) fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header: JwtHeader = decode_json(header)?;
        if header.alg != "RS256" {
            return Err(JwtError::BadSignature);
        }
        if header.kid.as_deref() != self.jwk["kid"].as_str() {
            return Err(JwtError::BadSignature);
        }
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| JwtError::Malformed)?;
        let signed_len = token.len() - sig_b64_len(token);
        let signed = &token.as_bytes()[..signed_len];
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.public_der)
            .verify(signed, &sig)
            .map_err(|_| JwtError::BadSignature)?;
        decode_json(payload)
    }
}

/// Length of the signature segment plus its leading dot.
fn sig_b64_len(token: &str) -> usize {
    token.rfind('.').map_or(0, |dot| token.len() - dot)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn decode_json<T: serde::de::DeserializeOwned>(segment: &str) -> Result<T, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

#[derive(Deserialize)]
struct JwtHeader {
    alg: String,
    kid: Option<String>,
}

/// The claims of an Auth0 client-credentials access token, in Auth0's order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub iat: u64,
    pub exp: u64,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub gty: String,
    #[serde(default)]
    pub azp: String,
}

/// `aud` is a string in client-credentials tokens but may be an array in other Auth0 tokens.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub(crate) fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(a) => a == audience,
            Audience::Many(list) => list.iter().any(|a| a == audience),
        }
    }
}

/// The process-wide pool: index N is shared by the N-th tenant of every emulator.
fn pool() -> &'static Mutex<Vec<Arc<SigningKey>>> {
    static POOL: OnceLock<Mutex<Vec<Arc<SigningKey>>>> = OnceLock::new();
    POOL.get_or_init(|| Mutex::new(Vec::new()))
}

/// The pool's key number `index`, generating keys up to it on first use.
pub(crate) fn pooled_key(index: usize) -> anyhow::Result<Arc<SigningKey>> {
    let mut keys = pool()
        .lock()
        .map_err(|_| anyhow::anyhow!("key pool lock poisoned"))?;
    // Generating under the lock is deliberate: concurrent callers want the same keys, and
    // generating them twice would only waste the seconds the pool exists to save.
    while keys.len() <= index {
        keys.push(Arc::new(SigningKey::generate()?));
    }
    keys.get(index)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("key pool index {index} missing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            iss: "https://a.test/".into(),
            sub: "cid@clients".into(),
            aud: Audience::One("https://a.test/api/v2/".into()),
            iat: 1,
            exp: 2,
            scope: "read:clients".into(),
            gty: "client-credentials".into(),
            azp: "cid".into(),
        }
    }

    #[test]
    fn sign_then_verify_round_trips_and_tampering_fails() {
        let key = pooled_key(0).unwrap();
        let token = key.sign(&claims()).unwrap();
        assert_eq!(key.verify(&token).unwrap(), claims());

        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut forged = claims();
        forged.scope = "update:client_keys".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(key.verify(&parts.join(".")), Err(JwtError::BadSignature));
        assert_eq!(key.verify("a.b"), Err(JwtError::Malformed));
        assert_eq!(key.verify("!!.??.**"), Err(JwtError::Malformed));
    }

    #[test]
    fn another_key_does_not_verify() {
        let a = pooled_key(0).unwrap();
        let b = pooled_key(1).unwrap();
        assert_ne!(a.jwk()["kid"], b.jwk()["kid"]);
        let token = a.sign(&claims()).unwrap();
        assert_eq!(b.verify(&token), Err(JwtError::BadSignature));
    }

    #[test]
    fn jwk_carries_modulus_and_exponent() {
        let key = pooled_key(0).unwrap();
        let jwk = key.jwk();
        assert_eq!(jwk["e"], "AQAB");
        assert!(jwk["kid"].as_str().is_some_and(|kid| kid.len() == 24));
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256);
    }

    #[test]
    fn pem_keys_load() {
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let signing = SigningKey::from_pem(&pem).unwrap();
        let token = signing.sign(&claims()).unwrap();
        assert!(signing.verify(&token).is_ok());
        assert!(SigningKey::from_pem("not a key").is_err());
    }
}
