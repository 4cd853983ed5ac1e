//! The client-credentials grant authenticated with a Private Key JWT assertion instead of a
//! client secret (`client_assertion_type` + `client_assertion`, RFC 7523 §2.2).
//!
//! A refused assertion (401) is [`Auth0Error::AssertionRejected`], distinct from a refused
//! secret ([`Auth0Error::WrongCredentials`]), and carries Auth0's reason (wrong `kid`, expired
//! credential, replayed `jti`, ...), which never contains the assertion itself.

use std::fmt;

use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;

use crate::assertion::{CLIENT_ASSERTION_TYPE, ClientAssertion};
use crate::domain::Domain;
use crate::error::{Auth0Error, UpstreamBody};
use crate::http::{Auth0Client, RequestBody};
use crate::token::{AccessToken, map_common_error, parse_token};

/// A Machine-to-Machine application that authenticates with a signing key.
pub struct AssertionCredentials {
    pub domain: Domain,
    pub client_id: String,
    pub assertion: ClientAssertion,
    /// API identifier, e.g. `https://{domain}/api/v2/` for the Management API.
    pub audience: String,
}

// `ClientAssertion`'s own Debug already redacts the key.
impl fmt::Debug for AssertionCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionCredentials")
            .field("domain", &self.domain)
            .field("client_id", &self.client_id)
            .field("assertion", &self.assertion)
            .field("audience", &self.audience)
            .finish()
    }
}

impl Auth0Client {
    /// Requests a token with the client-credentials grant and a freshly signed assertion:
    /// `POST https://{domain}/oauth/token`, form-encoded `grant_type=client_credentials`,
    /// `client_id`, `client_assertion_type`, `client_assertion`, `audience`.
    ///
    /// Retries of 429/5xx resend the same assertion: Auth0 answers those before it consumes
    /// the assertion's `jti`, and the assertion lives one minute.
    #[tracing::instrument(name = "auth0.client_assertion_token", skip_all, fields(domain = %creds.domain))]
    pub async fn client_assertion_token(
        &self,
        creds: &AssertionCredentials,
    ) -> Result<AccessToken, Auth0Error> {
        let assertion = creds.assertion.sign(&creds.client_id, &creds.domain)?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", creds.client_id.as_str()),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", assertion.expose_secret()),
            ("audience", creds.audience.as_str()),
        ];
        let outcome = self
            .send(
                &creds.domain,
                Method::POST,
                "/oauth/token",
                None,
                Some(RequestBody::Form(&form)),
            )
            .await
            .and_then(|response| {
                if response.status.is_success() {
                    parse_token(&response)
                } else {
                    Err(map_assertion_error(
                        response.status,
                        &response.body,
                        &creds.domain,
                        &creds.audience,
                    ))
                }
            });
        outcome.map_err(|err| err.scrub(assertion.expose_secret()))
    }
}

fn map_assertion_error(
    status: StatusCode,
    body: &[u8],
    domain: &Domain,
    audience: &str,
) -> Auth0Error {
    if status == StatusCode::UNAUTHORIZED {
        let parsed = UpstreamBody::parse(body);
        let reason = if parsed.description.is_empty() || parsed.description == "Unauthorized" {
            "the client ID does not exist in this tenant or its key is not registered".to_owned()
        } else {
            parsed.description
        };
        return Auth0Error::AssertionRejected { reason };
    }
    map_common_error(status, body, domain, audience)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_signing_key() {
        use secrecy::ExposeSecret as _;
        let key = crate::assertion::generate_key(crate::SigningAlg::RS256).expect("key");
        let body_line = key
            .private_key_pem
            .expose_secret()
            .lines()
            .nth(1)
            .expect("a PEM body line")
            .to_owned();
        let domain = Domain::parse("acme.auth0.com").expect("domain");
        let creds = AssertionCredentials {
            audience: domain.management_audience(),
            domain,
            client_id: "cid".into(),
            assertion: ClientAssertion::new(key.private_key_pem, key.kid, crate::SigningAlg::RS256)
                .expect("signing key"),
        };
        let text = format!("{creds:?}");
        assert!(!text.contains(&body_line), "{text}");
        assert!(text.contains("[redacted]") && text.contains("cid"));
    }

    #[test]
    fn refused_assertions_are_not_refused_secrets() {
        let domain = Domain::parse("acme.auth0.com").expect("test value");
        let err = map_assertion_error(
            StatusCode::UNAUTHORIZED,
            br#"{"error":"invalid_client","error_description":"'jti' claim has already been used"}"#,
            &domain,
            "https://acme.auth0.com/api/v2/",
        );
        match &err {
            Auth0Error::AssertionRejected { reason } => assert!(reason.contains("jti")),
            other => panic!("unexpected {other:?}"),
        }
        assert!(!err.is_retryable());
        let err = map_assertion_error(
            StatusCode::UNAUTHORIZED,
            br#"{"error":"access_denied","error_description":"Unauthorized"}"#,
            &domain,
            "a",
        );
        assert!(matches!(err, Auth0Error::AssertionRejected { .. }));
        let err = map_assertion_error(
            StatusCode::FORBIDDEN,
            br#"{"error":"unauthorized_client","error_description":"x"}"#,
            &domain,
            "a",
        );
        assert!(matches!(err, Auth0Error::GrantTypeNotAllowed));
    }
}
