//! The crate's one error type, [`Auth0Error`], and the decoding of Auth0's error bodies.
//!
//! Every variant's `Display` is a complete, secret-free sentence a user can act on; callers
//! map variants to HTTP statuses. This module owns the retry classification
//! ([`Auth0Error::is_retryable`]) and must never embed request data other than the domain,
//! audience and host names.

use std::time::Duration;

use serde::Deserialize;

/// Longest Auth0-provided text kept in an error, so a misbehaving server cannot flood logs
/// or API responses.
const MAX_UPSTREAM_TEXT: usize = 500;

/// A failed call to Auth0, classified by what the user should do about it.
#[derive(Debug, thiserror::Error)]
pub enum Auth0Error {
    /// 401 from the token endpoint.
    #[error(
        "Auth0 rejected the client credentials: the client secret is wrong or the client ID does not exist in this tenant"
    )]
    WrongCredentials,
    /// 401 from the token endpoint for a Private Key JWT client assertion, with Auth0's reason
    /// (wrong `kid`, credential not enabled or expired, replayed `jti`, ...).
    #[error("Auth0 refused the client assertion (Private Key JWT): {reason}")]
    AssertionRejected { reason: String },
    /// 403 "Client is not authorized to access ...".
    #[error(
        "the Auth0 application is not authorized for the API \"{audience}\": in the Auth0 Dashboard, authorize the application for that API (Applications > APIs > Machine To Machine Applications) and grant the scopes it needs"
    )]
    NoGrantForAudience { audience: String },
    /// 403 `unauthorized_client`.
    #[error(
        "the Auth0 application does not allow the Client Credentials grant: enable it under Applications > your application > Advanced Settings > Grant Types"
    )]
    GrantTypeNotAllowed,
    /// 404 from the tenant host, or the name does not exist in DNS.
    #[error(
        "no Auth0 tenant answers at this domain: check the tenant domain (e.g. tenant.us.auth0.com)"
    )]
    UnknownTenant,
    /// 403 "Service not enabled within domain" for the Management API audience.
    #[error(
        "Auth0 does not serve the Management API audience \"{audience}\" on a custom domain: use the tenant's canonical Auth0 domain (e.g. tenant.us.auth0.com) as the domain and https://<that domain>/api/v2/ as the audience"
    )]
    CustomDomain { audience: String },
    /// 403 "Service not enabled within domain" for any other audience.
    #[error("the Auth0 tenant has no API with the identifier \"{audience}\": check the audience")]
    UnknownAudience { audience: String },
    /// Management API 401: the access token expired or was revoked. Fetch a new one and retry.
    #[error("Auth0 rejected the Management API access token (expired or revoked)")]
    TokenRejected,
    /// Management API 403 `insufficient_scope`: `needed` lists the scopes Auth0 named (any one
    /// of them is enough).
    #[error(
        "the connection's Auth0 application lacks the Management API scope {}: in the Auth0 Dashboard, go to Applications > APIs > Auth0 Management API > Machine To Machine Applications and grant it to the connection's application",
        scope_list(needed)
    )]
    MissingScope { needed: Vec<String> },
    /// Management API 404 `inexistent_client`.
    #[error(
        "the Auth0 application \"{client_id}\" does not exist in this tenant: check the client ID"
    )]
    ClientNotFound { client_id: String },
    /// Management API 404 for one of an application's credentials.
    #[error(
        "the Auth0 application has no credential \"{credential_id}\": it was deleted or never registered"
    )]
    CredentialNotFound { credential_id: String },
    #[error("Auth0 did not answer in time")]
    Timeout,
    /// The SSRF guard refused every address the host resolved to.
    #[error(
        "refused to connect to {host}: it resolves to a private, loopback or otherwise internal network address (private networks are not allowed unless the operator enables them)"
    )]
    BlockedAddress { host: String },
    #[error("could not reach Auth0: {reason}")]
    Unreachable { reason: String },
    #[error("Auth0 rate limit reached{}", retry_hint(retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// Any other error answer, with Auth0's own words.
    #[error("Auth0 answered {status} {error}: {description}")]
    Upstream {
        status: u16,
        error: String,
        description: String,
    },
    #[error("unexpected response from Auth0: {reason}")]
    InvalidResponse { reason: String },
    #[error("invalid Auth0 client configuration: {reason}")]
    Config { reason: String },
}

fn scope_list(needed: &[String]) -> String {
    match needed {
        [] => "it needs".to_owned(),
        [one] => format!("\"{one}\""),
        many => format!(
            "(any of: {})",
            many.iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!("; try again in {} s", wait.as_secs().max(1)),
        None => "; try again later".to_owned(),
    }
}

impl Auth0Error {
    /// Whether the same request may succeed later without anyone changing anything:
    /// timeouts, network failures, rate limits and Auth0 5xx answers.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout
            | Self::Unreachable { .. }
            | Self::RateLimited { .. }
            | Self::TokenRejected => true,
            Self::Upstream { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// A clear, human, secret-free explanation (the same text as `Display`).
    pub fn reason(&self) -> String {
        self.to_string()
    }

    /// Builds [`Auth0Error::Upstream`] from a raw error answer, accepting both Auth0 shapes:
    /// OAuth (`error`, `error_description`) and Management API (`error`, `message`,
    /// `errorCode`). Non-JSON bodies keep a short prefix of their text.
    pub fn from_response(status: u16, body: &[u8]) -> Auth0Error {
        let parsed = UpstreamBody::parse(body);
        // A bare proxy or CDN error page has no OAuth code; the status text still says more
        // than an empty string.
        let error = if parsed.error.is_empty() {
            reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("error")
                .to_owned()
        } else {
            parsed.error
        };
        Auth0Error::Upstream {
            status,
            error,
            description: parsed.description,
        }
    }

    /// Replaces every occurrence of `secret` in Auth0-provided text. A misconfigured
    /// endpoint that echoes the request must not get our secret into logs or responses.
    pub(crate) fn scrub(self, secret: &str) -> Auth0Error {
        if secret.is_empty() {
            return self;
        }
        let clean = |text: String| text.replace(secret, "[redacted]");
        match self {
            Self::Upstream {
                status,
                error,
                description,
            } => Self::Upstream {
                status,
                error: clean(error),
                description: clean(description),
            },
            Self::InvalidResponse { reason } => Self::InvalidResponse {
                reason: clean(reason),
            },
            Self::AssertionRejected { reason } => Self::AssertionRejected {
                reason: clean(reason),
            },
            Self::Unreachable { reason } => Self::Unreachable {
                reason: clean(reason),
            },
            other => other,
        }
    }
}

/// Auth0's error text, whichever of its two JSON shapes it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpstreamBody {
    /// Machine code: OAuth `error`, or Management API `errorCode`, else its `error`.
    pub(crate) error: String,
    /// Human text: `error_description` or `message`.
    pub(crate) description: String,
}

#[derive(Deserialize)]
struct RawErrorBody {
    error: Option<String>,
    error_description: Option<String>,
    message: Option<String>,
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
}

impl UpstreamBody {
    pub(crate) fn parse(body: &[u8]) -> UpstreamBody {
        match serde_json::from_slice::<RawErrorBody>(body) {
            Ok(raw) => UpstreamBody {
                error: truncate(raw.error_code.or(raw.error).unwrap_or_default()),
                description: truncate(raw.error_description.or(raw.message).unwrap_or_default()),
            },
            Err(_) => UpstreamBody {
                error: String::new(),
                description: truncate(String::from_utf8_lossy(body).trim().to_owned()),
            },
        }
    }
}

/// Caps text at `MAX_UPSTREAM_TEXT` bytes on a character boundary and drops control
/// characters, which have no business in a message shown to users.
pub(crate) fn truncate(text: String) -> String {
    let mut clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if clean.len() > MAX_UPSTREAM_TEXT {
        let mut cut = MAX_UPSTREAM_TEXT;
        while !clean.is_char_boundary(cut) {
            cut -= 1;
        }
        clean.truncate(cut);
        clean.push('…');
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_classification() {
        let retryable = [
            Auth0Error::Timeout,
            Auth0Error::Unreachable { reason: "x".into() },
            Auth0Error::RateLimited { retry_after: None },
            Auth0Error::from_response(503, b"{}"),
            Auth0Error::from_response(500, b"oops"),
        ];
        for err in retryable {
            assert!(err.is_retryable(), "{err:?}");
        }
        let permanent = [
            Auth0Error::WrongCredentials,
            Auth0Error::GrantTypeNotAllowed,
            Auth0Error::UnknownTenant,
            Auth0Error::NoGrantForAudience {
                audience: "a".into(),
            },
            Auth0Error::CustomDomain {
                audience: "a".into(),
            },
            Auth0Error::UnknownAudience {
                audience: "a".into(),
            },
            Auth0Error::BlockedAddress { host: "h".into() },
            Auth0Error::from_response(400, b"{}"),
            Auth0Error::InvalidResponse { reason: "x".into() },
            Auth0Error::Config { reason: "x".into() },
        ];
        for err in permanent {
            assert!(!err.is_retryable(), "{err:?}");
        }
    }

    #[test]
    fn parses_oauth_error_body() {
        let body = br#"{"error":"access_denied","error_description":"Unauthorized"}"#;
        match Auth0Error::from_response(401, body) {
            Auth0Error::Upstream {
                status,
                error,
                description,
            } => {
                assert_eq!(
                    (status, error.as_str(), description.as_str()),
                    (401, "access_denied", "Unauthorized")
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn parses_management_error_body() {
        let body = br#"{"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: read:clients","errorCode":"insufficient_scope"}"#;
        let parsed = UpstreamBody::parse(body);
        assert_eq!(parsed.error, "insufficient_scope");
        assert_eq!(
            parsed.description,
            "Insufficient scope, expected any of: read:clients"
        );
        let no_code = UpstreamBody::parse(
            br#"{"statusCode":404,"error":"Not Found","message":"Client not found"}"#,
        );
        assert_eq!(no_code.error, "Not Found");
    }

    #[test]
    fn non_json_bodies_are_kept_short_and_clean() {
        let html = format!("<html>\n{}\u{7}</html>", "x".repeat(2000));
        let parsed = UpstreamBody::parse(html.as_bytes());
        assert_eq!(parsed.error, "");
        assert!(parsed.description.starts_with("<html>xxx"));
        assert!(parsed.description.chars().count() <= MAX_UPSTREAM_TEXT + 1);
        assert!(!parsed.description.contains('\n'));
        let multibyte = "é".repeat(600);
        assert!(truncate(multibyte).ends_with('…'));
    }

    #[test]
    fn scrub_removes_echoed_secret() {
        let err = Auth0Error::from_response(
            400,
            br#"{"error":"bad","error_description":"got client_secret=s3cr3t-value"}"#,
        )
        .scrub("s3cr3t-value");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("s3cr3t-value"), "{text}");
        assert!(text.contains("[redacted]"));
    }

    #[test]
    fn reasons_are_specific() {
        let custom = Auth0Error::CustomDomain {
            audience: "https://login.acme.com/api/v2/".into(),
        };
        assert!(custom.reason().contains("canonical"));
        assert!(custom.reason().contains("tenant.us.auth0.com"));
        let limited = Auth0Error::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(
            limited.reason(),
            "Auth0 rate limit reached; try again in 7 s"
        );
        let bare = Auth0Error::from_response(502, b"<html>Bad Gateway</html>");
        assert_eq!(
            bare.reason(),
            "Auth0 answered 502 Bad Gateway: <html>Bad Gateway</html>"
        );
        let upstream = Auth0Error::from_response(
            400,
            br#"{"error":"invalid_request","error_description":"Missing audience"}"#,
        );
        assert_eq!(
            upstream.reason(),
            "Auth0 answered 400 invalid_request: Missing audience"
        );
    }
}
