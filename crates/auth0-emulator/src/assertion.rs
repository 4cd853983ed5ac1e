//! Private Key JWT client authentication at `/oauth/token` (RFC 7523 §2.2 and §3, as Auth0
//! documents it in "Authenticate with Private Key JWT").
//!
//! An assertion is accepted when it is signed by one of the client's *enabled*, unexpired
//! credentials with that credential's `alg` (and `kid`, if the header names one); `iss` and
//! `sub` are the client ID; `aud` is the tenant (`https://{domain}/`, or the token endpoint
//! `https://{domain}/oauth/token`); `exp` is in the future and at most five minutes after `iat`
//! (or after now without `iat`), with 10 s of clock skew for `iat` and `nbf`; and its `jti` was
//! not seen before for this client. Refusals are 401 `invalid_client` with a description that
//! says which rule failed (Auth0 logs the same texts as `client_authentication_error`).
//!
//! Signatures are verified with `ring`, independently of how Keyhold signs (the `rsa` crate),
//! so a mistake in one cannot be mirrored by the other. No lock is held here beyond the replay
//! set's short mutex.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, UnparsedPublicKey};
use serde_json::Value;
use time::OffsetDateTime;

use crate::credentials::{ALGORITHMS, Credential};
use crate::errors::OAuthError;
use crate::model::Client;

pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Auth0's maximum assertion lifetime: `exp` at most five minutes after `iat`.
const MAX_LIFETIME_SECS: i64 = 300;
/// Auth0 allows this much clock skew for `iat` and `nbf`.
const SKEW_SECS: i64 = 10;
/// Auth0's length limits for assertion fields.
const MAX_CLAIM_LEN: usize = 64;
const MAX_ALG_LEN: usize = 16;
/// Replay entries kept per tenant before expired ones are swept.
const SWEEP_AT: usize = 10_000;

fn refuse(description: impl Into<String>) -> OAuthError {
    OAuthError::invalid_client(description)
}

/// A decoded, not yet verified assertion.
pub(crate) struct Assertion<'a> {
    alg: String,
    kid: Option<String>,
    claims: serde_json::Map<String, Value>,
    signed: &'a [u8],
    signature: Vec<u8>,
}

impl<'a> Assertion<'a> {
    pub(crate) fn decode(token: &'a str) -> Result<Assertion<'a>, OAuthError> {
        let malformed = || refuse("The client_assertion is not a valid signed JWT");
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        let header: serde_json::Map<String, Value> =
            decode_segment(header).ok_or_else(malformed)?;
        let claims: serde_json::Map<String, Value> =
            decode_segment(payload).ok_or_else(malformed)?;
        let signature = URL_SAFE_NO_PAD.decode(sig).map_err(|_| malformed())?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(malformed)?
            .to_owned();
        if alg.len() > MAX_ALG_LEN || !ALGORITHMS.contains(&alg.as_str()) {
            return Err(refuse(
                "The client assertion's alg is not supported (RS256, RS384 or PS256)",
            ));
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(malformed()),
        };
        let signed_len = token.len() - sig.len() - 1;
        Ok(Assertion {
            alg,
            kid,
            claims,
            signed: &token.as_bytes()[..signed_len],
            signature,
        })
    }

    fn string_claim(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        match self.claims.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.len() <= MAX_CLAIM_LEN => Ok(Some(s)),
            Some(Value::String(_)) => Err(refuse(format!(
                "'{name}' claim must be at most {MAX_CLAIM_LEN} characters"
            ))),
            Some(_) => Err(refuse(format!("'{name}' claim must be a string"))),
        }
    }

    fn time_claim(&self, name: &str) -> Result<Option<i64>, OAuthError> {
        match self.claims.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                // NumericDate may carry a fraction (RFC 7519 §2); whole seconds are enough here.
                .or_else(|| n.as_f64().map(|f| f.floor() as i64))
                .map(Some)
                .ok_or_else(|| refuse(format!("'{name}' claim must be a NumericDate"))),
            Some(_) => Err(refuse(format!("'{name}' claim must be a NumericDate"))),
        }
    }

    /// The client the assertion speaks for (`sub`), for requests without `client_id`.
    pub(crate) fn subject(&self) -> Result<String, OAuthError> {
        self.string_claim("sub")?
            .map(str::to_owned)
            .ok_or_else(|| refuse("'sub' claim is required and must be the client ID"))
    }

    /// Every check but replay; returns the `jti` and `exp` to record.
    pub(crate) fn verify(
        &self,
        client: &Client,
        issuer: &str,
        now: OffsetDateTime,
    ) -> Result<(String, i64), OAuthError> {
        let iss = self.string_claim("iss")?;
        let sub = self.string_claim("sub")?;
        if iss != Some(client.client_id.as_str()) || sub != Some(client.client_id.as_str()) {
            return Err(refuse("'iss' and 'sub' claims must both be the client ID"));
        }
        if !client.uses_private_key_jwt() {
            return Err(refuse(
                "The client is not configured for private_key_jwt authentication",
            ));
        }
        self.check_signature(client, now)?;
        self.check_audience(issuer)?;
        let exp = self.check_times(now.unix_timestamp())?;
        let jti = self
            .string_claim("jti")?
            .filter(|j| !j.is_empty())
            .ok_or_else(|| refuse("'jti' claim is required"))?;
        Ok((jti.to_owned(), exp))
    }

    fn check_signature(&self, client: &Client, now: OffsetDateTime) -> Result<(), OAuthError> {
        let candidates: Vec<&Credential> = match &self.kid {
            Some(kid) => client
                .enabled_credentials()
                .filter(|c| c.kid == *kid)
                .collect(),
            None => client
                .enabled_credentials()
                .filter(|c| c.alg == self.alg)
                .collect(),
        };
        if candidates.is_empty() {
            return Err(refuse(match self.kid {
                Some(_) => "No enabled credential of the client has the client assertion's kid",
                None => "No enabled credential of the client uses the client assertion's alg",
            }));
        }
        if candidates.iter().all(|c| c.alg != self.alg) {
            return Err(refuse(
                "The client assertion's alg does not match the credential's alg",
            ));
        }
        let live: Vec<&&Credential> = candidates
            .iter()
            .filter(|c| c.alg == self.alg && !c.is_expired(now))
            .collect();
        if live.is_empty() {
            return Err(refuse(
                "The credential for the client assertion has expired",
            ));
        }
        let algorithm: &dyn signature::VerificationAlgorithm = match self.alg.as_str() {
            "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
            "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
            _ => &signature::RSA_PKCS1_2048_8192_SHA256,
        };
        let verified = live.iter().any(|c| {
            UnparsedPublicKey::new(algorithm, &c.public_der)
                .verify(self.signed, &self.signature)
                .is_ok()
        });
        if verified {
            Ok(())
        } else {
            Err(refuse("Invalid signature for the client assertion"))
        }
    }

    fn check_audience(&self, issuer: &str) -> Result<(), OAuthError> {
        let token_endpoint = format!("{issuer}oauth/token");
        let accepted = |aud: &str| aud == issuer || aud == token_endpoint;
        let ok = match self.claims.get("aud") {
            Some(Value::String(aud)) => accepted(aud),
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(accepted),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(refuse(format!(
                "'aud' claim must be the tenant's URL ({issuer}) or its token endpoint"
            )))
        }
    }

    fn check_times(&self, now: i64) -> Result<i64, OAuthError> {
        let exp = self
            .time_claim("exp")?
            .ok_or_else(|| refuse("'exp' claim is required"))?;
        if exp <= now {
            return Err(refuse(
                "The client assertion has expired ('exp' is in the past)",
            ));
        }
        let iat = self.time_claim("iat")?;
        if iat.is_some_and(|iat| iat > now + SKEW_SECS) {
            return Err(refuse("'iat' claim is in the future"));
        }
        if self
            .time_claim("nbf")?
            .is_some_and(|nbf| nbf > now + SKEW_SECS)
        {
            return Err(refuse("The client assertion is not valid yet ('nbf')"));
        }
        match iat {
            Some(iat) if exp - iat > MAX_LIFETIME_SECS => Err(refuse(
                "'exp' claim must specify a time that is no more than 5 minutes after 'iat'",
            )),
            None if exp - now > MAX_LIFETIME_SECS => Err(refuse(
                "'exp' claim must specify a time that is no more than 5 minutes in the future",
            )),
            _ => Ok(exp),
        }
    }
}

fn decode_segment(segment: &str) -> Option<serde_json::Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The `jti`s a tenant has accepted, kept until their assertion expires (after that the
/// assertion is refused for `exp` anyway).
#[derive(Default)]
pub(crate) struct SeenAssertions {
    seen: Mutex<HashMap<(String, String), i64>>,
}

impl SeenAssertions {
    /// Records `jti` for `client_id`; false when it was already used.
    pub(crate) fn first_use(&self, client_id: &str, jti: String, exp: i64, now: i64) -> bool {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= SWEEP_AT {
            seen.retain(|_, until| *until > now);
        }
        let key = (client_id.to_owned(), jti);
        if seen.get(&key).is_some_and(|until| *until > now) {
            return false;
        }
        seen.insert(key, exp);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims),
            URL_SAFE_NO_PAD.encode("sig")
        )
    }

    #[test]
    fn decoding_refuses_bad_shapes_and_algs() {
        assert!(Assertion::decode("a.b").is_err());
        assert!(Assertion::decode("!.!.!").is_err());
        let none = token(r#"{"alg":"none"}"#, r#"{"sub":"c"}"#);
        assert!(Assertion::decode(&none).is_err());
        let hs = token(r#"{"alg":"HS256"}"#, r#"{"sub":"c"}"#);
        assert!(Assertion::decode(&hs).is_err());
        let ok = token(r#"{"alg":"PS256","kid":"k"}"#, r#"{"sub":"c"}"#);
        let decoded = Assertion::decode(&ok).unwrap();
        assert_eq!(decoded.subject().unwrap(), "c");
        assert_eq!(decoded.kid.as_deref(), Some("k"));
    }

    #[test]
    fn lifetime_rules() {
        let now = 1_000_000;
        let check = |claims: String| {
            let t = token(r#"{"alg":"RS256"}"#, &claims);
            Assertion::decode(&t).unwrap().check_times(now)
        };
        assert!(check(format!(r#"{{"exp":{}}}"#, now + 60)).is_ok());
        assert!(check(format!(r#"{{"exp":{}}}"#, now - 1)).is_err());
        assert!(check(format!(r#"{{"exp":{}}}"#, now + 301)).is_err());
        assert!(check(format!(r#"{{"iat":{now},"exp":{}}}"#, now + 301)).is_err());
        assert!(check(format!(r#"{{"iat":{},"exp":{}}}"#, now + 60, now + 120)).is_err());
        assert!(check(format!(r#"{{"iat":{},"exp":{}}}"#, now + 5, now + 120)).is_ok());
        assert!(check(format!(r#"{{"nbf":{},"exp":{}}}"#, now + 60, now + 120)).is_err());
        assert!(check("{}".to_owned()).is_err());
    }

    #[test]
    fn replayed_jti_is_refused_until_expiry() {
        let seen = SeenAssertions::default();
        assert!(seen.first_use("c", "j".into(), 100, 50));
        assert!(!seen.first_use("c", "j".into(), 100, 60));
        assert!(seen.first_use("other", "j".into(), 100, 60));
        assert!(seen.first_use("c", "j".into(), 200, 150));
    }
}
