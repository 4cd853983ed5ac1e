//! Private Key JWT: the RSA key an application signs its client assertions with, the assertion
//! itself (RFC 7523 §2.2 / §3 as Auth0 documents it), and generating a fresh key pair whose
//! public half is registered in Auth0 as a client credential.
//!
//! The private key lives only in a [`SecretString`] (zeroized on drop) and in the `rsa` crate's
//! key type while signing (also zeroized on drop); no type here prints it. Signing uses the
//! `rsa` crate directly: RS256/RS384/PS256 are all Auth0 accepts, `ring` (already built for
//! TLS) cannot generate RSA keys, and the emulator verifies with `ring`, so client and fake
//! never share an implementation.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
    LineEnding,
};
use rsa::rand_core::{OsRng, RngCore as _};
use rsa::sha2::{Digest as _, Sha256, Sha384};
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _, Signer as _};
use rsa::traits::PublicKeyParts as _;
use rsa::{RsaPrivateKey, RsaPublicKey};
use secrecy::{ExposeSecret, SecretString};

use crate::domain::Domain;
use crate::error::Auth0Error;

/// `client_assertion_type` for a JWT client assertion (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is good for. Auth0 accepts at most five minutes and recommends the
/// shortest possible; one minute leaves room for clock skew and a slow network.
const ASSERTION_LIFETIME_SECS: u64 = 60;
/// Key size of generated keys: Auth0's minimum, and quick enough to generate.
pub const GENERATED_KEY_BITS: usize = 2048;

/// The signing algorithms Auth0 accepts for a public-key credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SigningAlg {
    #[default]
    RS256,
    RS384,
    PS256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::RS384 => "RS384",
            SigningAlg::PS256 => "PS256",
        }
    }

    pub fn parse(alg: &str) -> Option<SigningAlg> {
        match alg {
            "RS256" => Some(SigningAlg::RS256),
            "RS384" => Some(SigningAlg::RS384),
            "PS256" => Some(SigningAlg::PS256),
            _ => None,
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An application's Private Key JWT signing key: the private key (PEM, kept secret), the `kid`
/// Auth0 knows its public half by, and the algorithm registered with it.
pub struct ClientAssertion {
    private_key_pem: SecretString,
    kid: String,
    alg: SigningAlg,
}

impl fmt::Debug for ClientAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAssertion")
            .field("private_key_pem", &"[redacted]")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

fn bad_key() -> Auth0Error {
    // Never the parser's message: it may quote part of the key.
    Auth0Error::Config {
        reason: "the private key is not an RSA private key in PEM form (PKCS#8 or PKCS#1)".into(),
    }
}

fn parse_private_key(pem: &str) -> Result<RsaPrivateKey, Auth0Error> {
    RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|_| bad_key())
}

impl ClientAssertion {
    /// Checks that `private_key_pem` is an RSA private key of at least 2048 bits (Auth0's
    /// minimum) before accepting it, so a bad key fails here and not at the first token request.
    pub fn new(
        private_key_pem: SecretString,
        kid: impl Into<String>,
        alg: SigningAlg,
    ) -> Result<ClientAssertion, Auth0Error> {
        let key = parse_private_key(private_key_pem.expose_secret())?;
        if key.size() * 8 < GENERATED_KEY_BITS {
            return Err(Auth0Error::Config {
                reason: format!(
                    "the private key has {} bits; Auth0 needs at least {GENERATED_KEY_BITS}",
                    key.size() * 8
                ),
            });
        }
        let kid = kid.into();
        if kid.is_empty() || kid.len() > 64 {
            return Err(Auth0Error::Config {
                reason: "the key ID (kid) must be 1-64 characters".into(),
            });
        }
        Ok(ClientAssertion {
            private_key_pem,
            kid,
            alg,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// A fresh assertion for `client_id` at `domain`'s token endpoint: `iss` = `sub` = client
    /// ID, `aud` = `https://{domain}/`, `iat` now, `exp` one minute later, a random `jti`.
    /// Each token request needs its own (Auth0 refuses a replayed `jti`).
    pub fn sign(&self, client_id: &str, domain: &Domain) -> Result<SecretString, Auth0Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut jti = [0u8; 16];
        OsRng.fill_bytes(&mut jti);
        let header = serde_json::json!({ "alg": self.alg.as_str(), "typ": "JWT", "kid": self.kid });
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": format!("https://{}/", domain.as_str()),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
            "jti": URL_SAFE_NO_PAD.encode(jti),
        });
        let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let key = parse_private_key(self.private_key_pem.expose_secret())?;
        let signature = sign_with(key, self.alg, token.as_bytes())?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(SecretString::from(token))
    }
}

fn sign_with(key: RsaPrivateKey, alg: SigningAlg, message: &[u8]) -> Result<Vec<u8>, Auth0Error> {
    let failed = |_| Auth0Error::Config {
        reason: "signing the client assertion failed".into(),
    };
    Ok(match alg {
        SigningAlg::RS256 => rsa::pkcs1v15::SigningKey::<Sha256>::new(key)
            .try_sign(message)
            .map_err(failed)?
            .to_vec(),
        SigningAlg::RS384 => rsa::pkcs1v15::SigningKey::<Sha384>::new(key)
            .try_sign(message)
            .map_err(failed)?
            .to_vec(),
        SigningAlg::PS256 => rsa::pss::BlindedSigningKey::<Sha256>::new(key)
            .try_sign_with_rng(&mut OsRng, message)
            .map_err(failed)?
            .to_vec(),
    })
}

/// A freshly generated key pair: the private PEM for the application (secret), and the public
/// PEM and JWK to register in Auth0, both carrying `kid`.
pub struct GeneratedKey {
    pub private_key_pem: SecretString,
    pub public_key_pem: String,
    pub jwk: serde_json::Value,
    /// RFC 7638 thumbprint of the public key: stable for the key and within Auth0's `kid` rule
    /// (`[0-9a-zA-Z-_]{10,64}`).
    pub kid: String,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("private_key_pem", &"[redacted]")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Generates an RSA 2048 key pair for `alg`. CPU-bound (up to about a second): call it from a
/// blocking thread in async code.
pub fn generate_key(alg: SigningAlg) -> Result<GeneratedKey, Auth0Error> {
    let failed = |what: &str| Auth0Error::Config {
        reason: format!("generating the RSA key pair failed ({what})"),
    };
    let private =
        RsaPrivateKey::new(&mut OsRng, GENERATED_KEY_BITS).map_err(|_| failed("keygen"))?;
    let private_pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|_| failed("encoding the private key"))?;
    let public = private.to_public_key();
    let public_key_pem = public
        .to_public_key_pem(LineEnding::LF)
        .map_err(|_| failed("encoding the public key"))?;
    let kid = jwk_thumbprint(&public);
    let jwk = jwk_of(&public, alg, &kid);
    Ok(GeneratedKey {
        // `private_pem` is `Zeroizing`: this copy is the only one left once it drops.
        private_key_pem: SecretString::from(private_pem.as_str()),
        public_key_pem,
        jwk,
        kid,
    })
}

/// The public JWK of a key, as a connection shows it for registration.
fn jwk_of(public: &RsaPublicKey, alg: SigningAlg, kid: &str) -> serde_json::Value {
    serde_json::json!({
        "kty": "RSA",
        "use": "sig",
        "alg": alg.as_str(),
        "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    })
}

/// The JWK of a public key given as SPKI PEM (one Keyhold generated, so a refusal means a stored
/// value was damaged), with `kid` its RFC 7638 thumbprint.
pub fn public_jwk(public_key_pem: &str, alg: SigningAlg) -> Result<serde_json::Value, Auth0Error> {
    let public =
        RsaPublicKey::from_public_key_pem(public_key_pem).map_err(|_| Auth0Error::Config {
            reason: "the stored public key is not an RSA SPKI PEM".into(),
        })?;
    Ok(jwk_of(&public, alg, &jwk_thumbprint(&public)))
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url): the members `e`, `kty`, `n` in that order.
pub fn jwk_thumbprint(key: &RsaPublicKey) -> String {
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        URL_SAFE_NO_PAD.encode(key.n().to_bytes_be())
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::signature::Verifier as _;

    use super::*;

    fn decode(segment: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("test value"))
            .expect("test value")
    }

    #[test]
    fn assertions_carry_auth0_claims_and_verify() {
        let key = generate_key(SigningAlg::RS256).expect("test value");
        assert_eq!(key.kid.len(), 43);
        assert_eq!(key.jwk["kid"], key.kid.as_str());
        let domain = Domain::parse("acme.auth0.com").expect("test value");
        for alg in [SigningAlg::RS256, SigningAlg::RS384, SigningAlg::PS256] {
            let signer = ClientAssertion::new(key.private_key_pem.clone(), key.kid.clone(), alg)
                .expect("test value");
            let token = signer.sign("cid", &domain).expect("test value");
            let parts: Vec<&str> = token.expose_secret().split('.').collect();
            let header = decode(parts[0]);
            assert_eq!(header["alg"], alg.as_str());
            assert_eq!(header["kid"], key.kid.as_str());
            let claims = decode(parts[1]);
            assert_eq!(claims["iss"], "cid");
            assert_eq!(claims["sub"], "cid");
            assert_eq!(claims["aud"], "https://acme.auth0.com/");
            let lifetime = claims["exp"].as_u64().expect("test value")
                - claims["iat"].as_u64().expect("test value");
            assert!(lifetime <= 300);
            let public =
                RsaPublicKey::from_public_key_pem(&key.public_key_pem).expect("test value");
            let signed = format!("{}.{}", parts[0], parts[1]);
            let sig = URL_SAFE_NO_PAD.decode(parts[2]).expect("test value");
            let ok = match alg {
                SigningAlg::RS256 => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public)
                    .verify(
                        signed.as_bytes(),
                        &rsa::pkcs1v15::Signature::try_from(sig.as_slice()).expect("test value"),
                    )
                    .is_ok(),
                SigningAlg::RS384 => rsa::pkcs1v15::VerifyingKey::<Sha384>::new(public)
                    .verify(
                        signed.as_bytes(),
                        &rsa::pkcs1v15::Signature::try_from(sig.as_slice()).expect("test value"),
                    )
                    .is_ok(),
                SigningAlg::PS256 => rsa::pss::VerifyingKey::<Sha256>::new(public)
                    .verify(
                        signed.as_bytes(),
                        &rsa::pss::Signature::try_from(sig.as_slice()).expect("test value"),
                    )
                    .is_ok(),
            };
            assert!(ok, "{alg} signature verifies");
        }
        // Two assertions never share a jti.
        let signer = ClientAssertion::new(
            key.private_key_pem.clone(),
            key.kid.clone(),
            SigningAlg::RS256,
        )
        .expect("test value");
        let a = signer.sign("cid", &domain).expect("test value");
        let b = signer.sign("cid", &domain).expect("test value");
        let jti = |t: &SecretString| {
            decode(t.expose_secret().split('.').nth(1).expect("test value"))["jti"].clone()
        };
        assert_ne!(jti(&a), jti(&b));
    }

    #[test]
    fn debug_hides_the_private_key_and_bad_keys_are_refused() {
        let key = generate_key(SigningAlg::PS256).expect("test value");
        let pem = key.private_key_pem.expose_secret().to_owned();
        let body_line = pem.lines().nth(1).expect("test value").to_owned();
        let signer =
            ClientAssertion::new(key.private_key_pem.clone(), "kid-123456", SigningAlg::PS256)
                .expect("test value");
        for text in [format!("{signer:?}"), format!("{key:?}")] {
            assert!(!text.contains(&body_line), "{text}");
            assert!(text.contains("[redacted]"));
        }
        let err = ClientAssertion::new(SecretString::from("not a key"), "k", SigningAlg::RS256)
            .expect_err("refused");
        assert!(!err.to_string().contains("not a key"));
        let public_only = SecretString::from(key.public_key_pem.as_str());
        assert!(ClientAssertion::new(public_only, "k", SigningAlg::RS256).is_err());
    }

    #[test]
    fn the_jwk_of_a_stored_public_key_is_the_one_generated_with_it() {
        let key = generate_key(SigningAlg::RS384).expect("test value");
        let jwk = public_jwk(&key.public_key_pem, SigningAlg::RS384).expect("test value");
        assert_eq!(jwk, key.jwk);
        assert_eq!(jwk["kid"], key.kid);
        assert!(
            public_jwk(
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                SigningAlg::RS256
            )
            .is_err()
        );
    }
}
