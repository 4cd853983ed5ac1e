//! The client-credentials grant: `POST /oauth/token` with a Machine-to-Machine
//! application's credentials, and the mapping of Auth0's answers to clear reasons.
//!
//! This module owns the credential and token types (both redact their secrets in `Debug`)
//! and the token endpoint's error vocabulary (see reference/auth0-and-peers.md, section 1).
//! Transport, retries and the SSRF guard are `http`'s business.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::Domain;
use crate::error::{Auth0Error, UpstreamBody};
use crate::http::{Auth0Client, Auth0Response, RequestBody};

const TOKEN_PATH: &str = "/oauth/token";

/// A Machine-to-Machine application's credentials for one API audience.
pub struct ClientCredentials {
    pub domain: Domain,
    pub client_id: String,
    pub client_secret: SecretString,
    /// API identifier, e.g. `https://{domain}/api/v2/` for the Management API.
    pub audience: String,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("domain", &self.domain)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("audience", &self.audience)
            .finish()
    }
}

/// An access token issued by Auth0.
#[derive(Clone)]
pub struct AccessToken {
    pub token: SecretString,
    /// Always `Bearer` (anything else is refused as an invalid response).
    pub token_type: String,
    /// Lifetime in seconds from issuance.
    pub expires_in: u64,
    /// Granted scopes: the response's `scope` if present, else the JWT's `scope` claim
    /// (read without verifying the signature; it is informational, Auth0 enforces it).
    pub scopes: Vec<String>,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scopes", &self.scopes)
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: SecretString,
    token_type: Option<String>,
    expires_in: Option<u64>,
    scope: Option<String>,
}

impl Auth0Client {
    /// Requests a token with the client-credentials grant:
    /// `POST https://{domain}/oauth/token`, form-encoded `grant_type=client_credentials`,
    /// `client_id`, `client_secret`, `audience`.
    #[tracing::instrument(name = "auth0.client_credentials_token", skip_all, fields(domain = %creds.domain))]
    pub async fn client_credentials_token(
        &self,
        creds: &ClientCredentials,
    ) -> Result<AccessToken, Auth0Error> {
        let secret = creds.client_secret.expose_secret();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", creds.client_id.as_str()),
            ("client_secret", secret),
            ("audience", creds.audience.as_str()),
        ];
        let outcome = self
            .send(
                &creds.domain,
                Method::POST,
                TOKEN_PATH,
                None,
                Some(RequestBody::Form(&form)),
            )
            .await
            .and_then(|response| interpret(&response, creds));
        outcome.map_err(|err| err.scrub(secret))
    }
}

fn interpret(
    response: &Auth0Response,
    creds: &ClientCredentials,
) -> Result<AccessToken, Auth0Error> {
    if response.status.is_success() {
        return parse_token(response);
    }
    Err(map_error(response.status, &response.body, creds))
}

/// Maps a token-endpoint error answer to what the user must fix.
pub(crate) fn map_error(status: StatusCode, body: &[u8], creds: &ClientCredentials) -> Auth0Error {
    match status {
        StatusCode::UNAUTHORIZED => Auth0Error::WrongCredentials,
        _ => map_common_error(status, body, &creds.domain, &creds.audience),
    }
}

/// The answers that mean the same whichever way the client authenticated.
pub(crate) fn map_common_error(
    status: StatusCode,
    body: &[u8],
    domain: &Domain,
    audience: &str,
) -> Auth0Error {
    let parsed = UpstreamBody::parse(body);
    match status {
        StatusCode::UNAUTHORIZED => Auth0Error::WrongCredentials,
        StatusCode::NOT_FOUND => Auth0Error::UnknownTenant,
        StatusCode::FORBIDDEN if parsed.error == "unauthorized_client" => {
            Auth0Error::GrantTypeNotAllowed
        }
        StatusCode::FORBIDDEN
            if parsed
                .description
                .starts_with("Service not enabled within domain") =>
        {
            let audience = audience.to_owned();
            if same_audience(&audience, &domain.management_audience()) {
                // Auth0 serves the Management API only on the canonical tenant domain.
                Auth0Error::CustomDomain { audience }
            } else {
                Auth0Error::UnknownAudience { audience }
            }
        }
        StatusCode::FORBIDDEN
            if parsed
                .description
                .starts_with("Client is not authorized to access") =>
        {
            Auth0Error::NoGrantForAudience {
                audience: audience.to_owned(),
            }
        }
        _ => Auth0Error::from_response(status.as_u16(), body),
    }
}

fn same_audience(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

pub(crate) fn parse_token(response: &Auth0Response) -> Result<AccessToken, Auth0Error> {
    let invalid = |reason: String| Auth0Error::InvalidResponse { reason };
    // serde's own message can quote field values; the access token must not end up in an
    // error, so only the position is reported.
    let body: TokenBody = serde_json::from_slice(&response.body).map_err(|err| {
        invalid(format!(
            "the token response is not the expected JSON ({:?} error at line {}, column {})",
            err.classify(),
            err.line(),
            err.column()
        ))
    })?;
    if body.access_token.expose_secret().is_empty() {
        return Err(invalid(
            "the token response has an empty access_token".into(),
        ));
    }
    let token_type = body.token_type.unwrap_or_default();
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(invalid(format!(
            "token_type is {:?}, expected \"Bearer\"",
            crate::error::truncate(token_type)
        )));
    }
    let expires_in = body
        .expires_in
        .ok_or_else(|| invalid("the token response has no expires_in".into()))?;
    let scopes = match body.scope {
        Some(scope) => split_scopes(&scope),
        None => jwt_scopes(body.access_token.expose_secret()),
    };
    Ok(AccessToken {
        token: body.access_token,
        token_type: "Bearer".into(),
        expires_in,
        scopes,
    })
}

fn split_scopes(scope: &str) -> Vec<String> {
    scope.split_whitespace().map(str::to_owned).collect()
}

/// Reads the `scope` claim (space-separated string, or an array) from a JWT payload without
/// verifying it. An opaque or malformed token simply yields no scopes.
fn jwt_scopes(token: &str) -> Vec<String> {
    let Some(payload) = token.split('.').nth(1) else {
        return Vec::new();
    };
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')) else {
        return Vec::new();
    };
    let Ok(claims) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Vec::new();
    };
    match claims.get("scope") {
        Some(serde_json::Value::String(scope)) => split_scopes(scope),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderMap;

    use super::*;

    const CANARY: &str = "canary-secret-9f8e7d";

    fn creds(domain: &str, audience: Option<&str>) -> ClientCredentials {
        let domain = Domain::parse(domain).expect("domain");
        let audience = audience.map_or_else(|| domain.management_audience(), str::to_owned);
        ClientCredentials {
            domain,
            client_id: "cid".into(),
            client_secret: SecretString::from(CANARY),
            audience,
        }
    }

    fn response(status: u16, body: &str) -> Auth0Response {
        Auth0Response {
            status: StatusCode::from_u16(status).expect("status"),
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn jwt(payload: &str) -> String {
        format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = creds("acme.auth0.com", None);
        let text = format!("{c:?}");
        assert!(!text.contains(CANARY), "{text}");
        assert!(text.contains("[redacted]") && text.contains("cid"));

        let token = AccessToken {
            token: SecretString::from(CANARY),
            token_type: "Bearer".into(),
            expires_in: 60,
            scopes: vec!["read:clients".into()],
        };
        let text = format!("{token:?}");
        assert!(!text.contains(CANARY), "{text}");
        assert!(text.contains("read:clients"));

        let resp = response(200, &format!(r#"{{"access_token":"{CANARY}"}}"#));
        assert!(!format!("{resp:?}").contains(CANARY));
    }

    #[test]
    fn maps_documented_error_answers() {
        let mgmt = creds("acme.us.auth0.com", None);
        type Check = fn(&Auth0Error) -> bool;
        let cases: Vec<(u16, &str, Check)> = vec![
            (
                401,
                r#"{"error":"access_denied","error_description":"Unauthorized"}"#,
                |e| matches!(e, Auth0Error::WrongCredentials),
            ),
            (
                401,
                r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
                |e| matches!(e, Auth0Error::WrongCredentials),
            ),
            (
                403,
                r#"{"error":"access_denied","error_description":"Client is not authorized to access \"https://acme.us.auth0.com/api/v2/\". You need to create a \"client-grant\" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants"}"#,
                |e| matches!(e, Auth0Error::NoGrantForAudience { audience } if audience == "https://acme.us.auth0.com/api/v2/"),
            ),
            (
                403,
                r#"{"error":"unauthorized_client","error_description":"Grant type 'client_credentials' not allowed for the client.","error_uri":"https://auth0.com/docs/clients/client-grant-types"}"#,
                |e| matches!(e, Auth0Error::GrantTypeNotAllowed),
            ),
            (404, "Not Found", |e| matches!(e, Auth0Error::UnknownTenant)),
            (
                400,
                r#"{"error":"invalid_request","error_description":"Missing required parameter: audience"}"#,
                |e| matches!(e, Auth0Error::Upstream { status: 400, error, description } if error == "invalid_request" && description.contains("audience")),
            ),
            (
                403,
                r#"{"error":"access_denied","error_description":"Something else"}"#,
                |e| matches!(e, Auth0Error::Upstream { status: 403, .. }),
            ),
        ];
        for (status, body, check) in cases {
            let err = map_error(
                StatusCode::from_u16(status).expect("status"),
                body.as_bytes(),
                &mgmt,
            );
            assert!(check(&err), "{status} {body} -> {err:?}");
        }
    }

    #[test]
    fn service_not_enabled_means_custom_domain_for_management_audience() {
        let body = r#"{"error":"access_denied","error_description":"Service not enabled within domain: https://login.acme.com/api/v2/"}"#;
        let custom = creds("login.acme.com", None);
        let err = map_error(StatusCode::FORBIDDEN, body.as_bytes(), &custom);
        assert!(
            matches!(&err, Auth0Error::CustomDomain { audience } if audience == "https://login.acme.com/api/v2/")
        );
        assert!(err.reason().contains("canonical"));

        let no_slash = creds("login.acme.com", Some("https://login.acme.com/api/v2"));
        let err = map_error(StatusCode::FORBIDDEN, body.as_bytes(), &no_slash);
        assert!(matches!(err, Auth0Error::CustomDomain { .. }));

        let other_api = creds("acme.us.auth0.com", Some("https://billing.acme.com/"));
        let body = r#"{"error":"access_denied","error_description":"Service not enabled within domain: https://billing.acme.com/"}"#;
        let err = map_error(StatusCode::FORBIDDEN, body.as_bytes(), &other_api);
        assert!(
            matches!(err, Auth0Error::UnknownAudience { audience } if audience == "https://billing.acme.com/")
        );
    }

    #[test]
    fn parses_successful_answer() {
        let body = r#"{"access_token":"abc.def.ghi","token_type":"Bearer","expires_in":86400,"scope":"read:clients  update:client_keys"}"#;
        let token = parse_token(&response(200, body)).expect("token");
        assert_eq!(token.token.expose_secret(), "abc.def.ghi");
        assert_eq!(token.expires_in, 86400);
        assert_eq!(token.scopes, vec!["read:clients", "update:client_keys"]);
        assert_eq!(token.token_type, "Bearer");
    }

    #[test]
    fn scopes_fall_back_to_the_jwt_claim() {
        let access = jwt(r#"{"aud":"x","scope":"read:users create:users"}"#);
        let body =
            format!(r#"{{"access_token":"{access}","token_type":"bearer","expires_in":60}}"#);
        let token = parse_token(&response(200, &body)).expect("token");
        assert_eq!(token.scopes, vec!["read:users", "create:users"]);
        assert_eq!(jwt_scopes(&jwt(r#"{"scope":["a","b"]}"#)), vec!["a", "b"]);
        assert!(jwt_scopes("opaque-token").is_empty());
        assert!(jwt_scopes("a.!!!.c").is_empty());
        assert!(jwt_scopes(&jwt("not json")).is_empty());
        assert!(jwt_scopes(&jwt(r#"{"scope":5}"#)).is_empty());
    }

    #[test]
    fn refuses_malformed_answers() {
        let cases = [
            r#"{"access_token":"t","token_type":"mac","expires_in":60}"#,
            r#"{"access_token":"t","expires_in":60}"#,
            r#"{"access_token":"t","token_type":"Bearer"}"#,
            r#"{"access_token":"","token_type":"Bearer","expires_in":60}"#,
            r#"{"token_type":"Bearer","expires_in":60}"#,
            r#"{"access_token":"t","token_type":"Bearer","expires_in":-5}"#,
            "<html>hello</html>",
        ];
        for body in cases {
            assert!(
                matches!(
                    parse_token(&response(200, body)),
                    Err(Auth0Error::InvalidResponse { .. })
                ),
                "{body}"
            );
        }
    }
}
