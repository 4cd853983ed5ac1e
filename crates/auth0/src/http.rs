//! The HTTP transport to Auth0: client construction, the generic [`Auth0Client::send`]
//! helper every endpoint is built on, and the retry loop.
//!
//! This module owns the safety settings that apply to every call (HTTPS-only to a validated
//! hostname, the SSRF-guarded resolver, no redirects, no proxies, timeouts, bounded bodies)
//! and the dev/test endpoint override. It knows nothing about individual endpoints: mapping
//! an answer to a domain error belongs to the caller (`token`, later the Management API).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use crate::dns::{NameResolver, SystemResolver};
use crate::domain::Domain;
use crate::error::Auth0Error;
use crate::retry;
use crate::ssrf::{GuardedResolver, ResolveFailure};

/// Largest response body read into memory. A full page of 100 Management API clients is
/// well under this; anything larger is not Auth0 talking.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// How Keyhold talks to Auth0. `Default` is the safe production setting.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Dev/test only: send every request to this `http(s)://host:port` instead of
    /// `https://{domain}`, with the tenant domain as the `Host` header. Disables DNS
    /// checks and the SSRF guard; `Auth0Client::new` logs a warning when it is set.
    pub endpoint_override: Option<Url>,
    /// Operator opt-in for Auth0-compatible endpoints on private networks: skips the
    /// address deny-list. HTTPS and hostname rules still apply.
    pub allow_private_networks: bool,
    /// Limit on establishing a TCP + TLS connection.
    pub connect_timeout: Duration,
    /// Limit on one whole request, from connect to the last body byte.
    pub request_timeout: Duration,
    /// Retries after the first attempt, for 429, 5xx and connection failures only.
    pub max_retries: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            endpoint_override: None,
            allow_private_networks: false,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_retries: 2,
        }
    }
}

/// The Auth0 HTTP client. Cheap to clone (one `Arc`); share one per process so connections
/// are pooled.
#[derive(Clone)]
pub struct Auth0Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `Some(origin)` when the endpoint override is active, e.g. `http://127.0.0.1:4000`.
    override_origin: Option<String>,
    max_retries: u32,
}

impl fmt::Debug for Auth0Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth0Client")
            .field("endpoint_override", &self.inner.override_origin.is_some())
            .field("max_retries", &self.inner.max_retries)
            .finish_non_exhaustive()
    }
}

/// A request body for [`Auth0Client::send`].
#[derive(Clone, Copy)]
pub enum RequestBody<'a> {
    /// `application/json`, as the Management API expects.
    Json(&'a serde_json::Value),
    /// `application/x-www-form-urlencoded`, as the token endpoint accepts.
    Form(&'a [(&'a str, &'a str)]),
}

// Only the kind: a form may carry a client secret.
impl std::fmt::Debug for RequestBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RequestBody::Json(_) => "RequestBody::Json(..)",
            RequestBody::Form(_) => "RequestBody::Form(..)",
        })
    }
}

/// A final Auth0 answer: 2xx, or a 4xx other than 429, for the caller to interpret.
pub struct Auth0Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// The body may hold an access token or a client secret, so only its size is shown.
impl fmt::Debug for Auth0Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth0Response")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl Auth0Response {
    /// Decodes the body as JSON, or explains why it is not the JSON we expected.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Auth0Error> {
        serde_json::from_slice(&self.body).map_err(|err| Auth0Error::InvalidResponse {
            reason: format!(
                "HTTP {} body is not the expected JSON: {err}",
                self.status.as_u16()
            ),
        })
    }
}

/// Outcome of one attempt that did not produce a final answer.
enum Failure {
    /// Worth another attempt: the request never reached Auth0 (connect, TLS or DNS server
    /// failure), so repeating it cannot apply anything twice.
    Retry(Auth0Error),
    Final(Auth0Error),
}

impl Auth0Client {
    /// Builds a client that resolves names with the system's DNS configuration.
    pub fn new(config: HttpConfig) -> Result<Auth0Client, Auth0Error> {
        Self::build(config, None)
    }

    /// Test/ops hook: replace DNS resolution. The SSRF check still applies to whatever
    /// addresses `resolver` returns (unless `allow_private_networks` is set).
    pub fn with_resolver(
        config: HttpConfig,
        resolver: Arc<dyn NameResolver>,
    ) -> Result<Auth0Client, Auth0Error> {
        Self::build(config, Some(resolver))
    }

    fn build(
        config: HttpConfig,
        resolver: Option<Arc<dyn NameResolver>>,
    ) -> Result<Auth0Client, Auth0Error> {
        install_crypto_provider();
        if config.connect_timeout.is_zero() || config.request_timeout.is_zero() {
            return Err(Auth0Error::Config {
                reason: "connect and request timeouts must be greater than zero".into(),
            });
        }
        let builder = reqwest::Client::builder()
            // Auth0 never redirects API calls; following one could lead anywhere.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would connect on our behalf to addresses the guard never saw.
            .no_proxy()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("keyhold-auth0/", env!("CARGO_PKG_VERSION")));

        let (builder, override_origin) = match &config.endpoint_override {
            Some(url) => {
                let origin = validate_override(url)?;
                tracing::warn!(
                    endpoint = %origin,
                    "Auth0 endpoint override is set: ALL Auth0 traffic goes to {origin}, not to Auth0, \
                     without the private-network guard; use this only for development and tests"
                );
                // The operator chose this endpoint; a custom resolver (if any) still answers
                // its name, but no address is refused.
                let builder = match resolver {
                    Some(names) => {
                        builder.dns_resolver(Arc::new(GuardedResolver::new(names, true)))
                    }
                    None => builder,
                };
                (builder, Some(origin))
            }
            None => {
                let names = match resolver {
                    Some(names) => names,
                    None => Arc::new(SystemResolver::from_system_config().map_err(|err| {
                        Auth0Error::Config {
                            reason: err.to_string(),
                        }
                    })?),
                };
                let guard = GuardedResolver::new(names, config.allow_private_networks);
                (builder.https_only(true).dns_resolver(Arc::new(guard)), None)
            }
        };
        let http = builder.build().map_err(|err| Auth0Error::Config {
            reason: format!("cannot build the HTTP client: {}", error_chain(&err)),
        })?;
        Ok(Auth0Client {
            inner: Arc::new(Inner {
                http,
                override_origin,
                max_retries: config.max_retries,
            }),
        })
    }

    /// Sends one request to `https://{domain}{path}` (or the override endpoint, with
    /// `Host: {domain}`), retrying 429, 5xx and connection failures with backoff and jitter.
    ///
    /// `path` must start with `/` and may carry a query string, e.g.
    /// `/api/v2/clients?page=0&per_page=50`. `bearer` becomes `Authorization: Bearer ...`.
    ///
    /// Returns every 2xx and every 4xx other than 429 as an [`Auth0Response`] for the
    /// caller to interpret. Errors: [`Auth0Error::RateLimited`] or [`Auth0Error::Upstream`]
    /// once retries of 429 / 5xx are exhausted, [`Auth0Error::InvalidResponse`] for a
    /// redirect or an oversized body, and the transport errors (`Timeout`,
    /// `Unreachable`, `BlockedAddress`, `UnknownTenant` for a name missing from DNS).
    /// Request timeouts are not retried here: the request may have been applied.
    #[tracing::instrument(
        name = "auth0.send",
        skip_all,
        fields(domain = %domain, method = %method, path = %path.split('?').next().unwrap_or_default())
    )]
    pub async fn send(
        &self,
        domain: &Domain,
        method: Method,
        path: &str,
        bearer: Option<&SecretString>,
        body: Option<RequestBody<'_>>,
    ) -> Result<Auth0Response, Auth0Error> {
        let url = self.url_for(domain, path)?;
        let mut attempt: u32 = 0;
        loop {
            let outcome = self.send_once(domain, &method, &url, bearer, body).await;
            count_request(&method, path, &outcome);
            let (error, wait) = match outcome {
                Ok(resp) if resp.status == StatusCode::TOO_MANY_REQUESTS => {
                    let hint = retry::server_hint(&resp.headers, SystemTime::now());
                    let wait = hint.map_or_else(|| retry::backoff(attempt), retry::wait_for_hint);
                    (Auth0Error::RateLimited { retry_after: hint }, wait)
                }
                Ok(resp) if resp.status.is_server_error() => {
                    let hint = retry::server_hint(&resp.headers, SystemTime::now());
                    let wait = hint.map_or_else(|| retry::backoff(attempt), retry::wait_for_hint);
                    (
                        Auth0Error::from_response(resp.status.as_u16(), &resp.body),
                        wait,
                    )
                }
                Ok(resp) if resp.status.is_redirection() => {
                    return Err(Auth0Error::InvalidResponse {
                        reason: format!(
                            "HTTP {} redirect, which Keyhold does not follow: check the domain",
                            resp.status.as_u16()
                        ),
                    });
                }
                Ok(resp) => return Ok(resp),
                Err(Failure::Retry(error)) => (error, retry::backoff(attempt)),
                Err(Failure::Final(error)) => return Err(error),
            };
            if attempt >= self.inner.max_retries {
                return Err(error);
            }
            attempt += 1;
            tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, reason = %error, "retrying Auth0 request");
            tokio::time::sleep(wait).await;
        }
    }

    async fn send_once(
        &self,
        domain: &Domain,
        method: &Method,
        url: &Url,
        bearer: Option<&SecretString>,
        body: Option<RequestBody<'_>>,
    ) -> Result<Auth0Response, Failure> {
        let mut request = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .header(header::ACCEPT, "application/json");
        if self.inner.override_origin.is_some() {
            // The emulator (like Auth0's edge) picks the tenant by Host.
            request = request.header(header::HOST, domain.as_str());
        }
        if let Some(token) = bearer {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
                .map_err(|_| {
                    Failure::Final(Auth0Error::Config {
                        reason:
                            "the bearer token contains characters not allowed in an HTTP header"
                                .into(),
                    })
                })?;
            value.set_sensitive(true);
            request = request.header(header::AUTHORIZATION, value);
        }
        request = match body {
            Some(RequestBody::Json(json)) => request.json(json),
            Some(RequestBody::Form(form)) => request.form(form),
            None => request,
        };
        let mut response = request.send().await.map_err(classify)?;
        let status = response.status();
        let headers = response.headers().clone();
        if response
            .content_length()
            .is_some_and(|len| len > MAX_BODY_BYTES as u64)
        {
            return Err(Failure::Final(oversized()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify_body)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(Failure::Final(oversized()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Auth0Response {
            status,
            headers,
            body,
        })
    }

    fn url_for(&self, domain: &Domain, path: &str) -> Result<Url, Auth0Error> {
        if !path.starts_with('/')
            || path.contains('#')
            || path.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Auth0Error::Config {
                reason: format!(
                    "request path {path:?} must start with '/' and contain no spaces or fragment"
                ),
            });
        }
        let base = match &self.inner.override_origin {
            Some(origin) => origin.clone(),
            None => format!("https://{domain}"),
        };
        let url = Url::parse(&format!("{base}{path}")).map_err(|err| Auth0Error::Config {
            reason: format!("cannot build a URL for path {path:?}: {err}"),
        })?;
        // Belt and braces: whatever the path, the request goes to the host we validated.
        let expected = Url::parse(&base).ok();
        if expected.as_ref().map(Url::origin) != Some(url.origin()) {
            return Err(Auth0Error::Config {
                reason: format!("request path {path:?} would leave the Auth0 host"),
            });
        }
        Ok(url)
    }
}

/// Checks the dev/test override and returns its origin (`scheme://host[:port]`).
fn validate_override(url: &Url) -> Result<String, Auth0Error> {
    let bad = |why: &str| Auth0Error::Config {
        reason: format!("Auth0 endpoint override {why}; expected e.g. http://127.0.0.1:4000"),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must use http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain user info"));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a path, query or fragment"));
    }
    Ok(url.origin().ascii_serialization())
}

/// rustls with `rustls-no-provider` panics at client build time without a process-wide
/// provider. Installing here (rather than in `main`) means tests and every binary get it.
pub(crate) fn install_crypto_provider() {
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        // Another component (or an earlier client) installed one first; any provider works.
        tracing::trace!("rustls crypto provider already installed");
    }
}

fn oversized() -> Auth0Error {
    Auth0Error::InvalidResponse {
        reason: format!(
            "response body larger than {} MiB",
            MAX_BODY_BYTES / (1024 * 1024)
        ),
    }
}

/// Sorts a transport error into retryable and final, and into our variants.
fn classify(err: reqwest::Error) -> Failure {
    if let Some(failure) = ResolveFailure::find_in(&err) {
        return match failure {
            ResolveFailure::Blocked { host } => {
                Failure::Final(Auth0Error::BlockedAddress { host: host.clone() })
            }
            ResolveFailure::NotFound { .. } => Failure::Final(Auth0Error::UnknownTenant),
            ResolveFailure::Failed { .. } => Failure::Retry(Auth0Error::Unreachable {
                reason: failure.to_string(),
            }),
        };
    }
    if err.is_connect() {
        // Nothing was sent yet, so even a timed-out connect is safe to repeat.
        return Failure::Retry(if err.is_timeout() {
            Auth0Error::Timeout
        } else {
            Auth0Error::Unreachable {
                reason: error_chain(&err),
            }
        });
    }
    if err.is_timeout() {
        return Failure::Final(Auth0Error::Timeout);
    }
    Failure::Final(Auth0Error::Unreachable {
        reason: error_chain(&err),
    })
}

fn classify_body(err: reqwest::Error) -> Failure {
    if err.is_timeout() {
        return Failure::Final(Auth0Error::Timeout);
    }
    Failure::Final(Auth0Error::Unreachable {
        reason: format!(
            "connection failed while reading the response: {}",
            error_chain(&err)
        ),
    })
}

/// "outer: inner: innermost" without reqwest's URL (which we already log as a span field)
/// and without repeating a message that an inner error also carries.
fn error_chain(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    if parts.is_empty() {
        return "connection failed".into();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(config: HttpConfig) -> Auth0Client {
        match Auth0Client::new(config) {
            Ok(client) => client,
            Err(err) => panic!("client: {err}"),
        }
    }

    fn domain() -> Domain {
        Domain::parse("acme.us.auth0.com").expect("domain")
    }

    #[test]
    fn builds_outside_a_runtime_and_twice() {
        // Twice: the second provider install must be tolerated.
        let a = client(HttpConfig::default());
        let b = client(HttpConfig::default());
        let text = format!("{a:?} {b:?}");
        assert!(text.contains("Auth0Client"));
    }

    #[test]
    fn direct_urls_stay_on_the_tenant_host() {
        let c = client(HttpConfig::default());
        let url = c.url_for(&domain(), "/oauth/token").expect("url");
        assert_eq!(url.as_str(), "https://acme.us.auth0.com/oauth/token");
        let url = c
            .url_for(&domain(), "/api/v2/clients?page=0&fields=a,b")
            .expect("url");
        assert_eq!(
            url.as_str(),
            "https://acme.us.auth0.com/api/v2/clients?page=0&fields=a,b"
        );
        let url = c.url_for(&domain(), "//evil.example/x").expect("url");
        assert_eq!(url.host_str(), Some("acme.us.auth0.com"));
        for bad in [
            "oauth/token",
            "@evil.example/",
            "",
            "/a b",
            "/x#frag",
            "/x\n",
        ] {
            assert!(
                matches!(c.url_for(&domain(), bad), Err(Auth0Error::Config { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn override_urls_use_the_override_origin() {
        let endpoint = Url::parse("http://127.0.0.1:4000/").expect("url");
        let c = client(HttpConfig {
            endpoint_override: Some(endpoint),
            ..HttpConfig::default()
        });
        let url = c.url_for(&domain(), "/oauth/token").expect("url");
        assert_eq!(url.as_str(), "http://127.0.0.1:4000/oauth/token");
        assert!(format!("{c:?}").contains("endpoint_override: true"));
    }

    #[test]
    fn rejects_bad_overrides() {
        for bad in [
            "ftp://127.0.0.1:21",
            "http://127.0.0.1:4000/prefix",
            "http://127.0.0.1:4000/?x=1",
            "http://user:pw@127.0.0.1:4000",
            "http://127.0.0.1:4000/#f",
            "file:///etc/passwd",
            "unix:/tmp/sock",
        ] {
            let url = Url::parse(bad).expect("parsable url");
            let result = Auth0Client::new(HttpConfig {
                endpoint_override: Some(url),
                ..HttpConfig::default()
            });
            assert!(matches!(result, Err(Auth0Error::Config { .. })), "{bad}");
        }
        let ok = [
            "http://127.0.0.1:4000",
            "https://emulator.internal:8443/",
            "http://[::1]:4000",
        ];
        for good in ok {
            let url = Url::parse(good).expect("url");
            assert!(validate_override(&url).is_ok(), "{good}");
        }
    }

    #[test]
    fn rejects_zero_timeouts() {
        let result = Auth0Client::new(HttpConfig {
            request_timeout: Duration::ZERO,
            ..HttpConfig::default()
        });
        assert!(matches!(result, Err(Auth0Error::Config { .. })));
    }

    #[test]
    fn default_config_is_safe() {
        let config = HttpConfig::default();
        assert!(config.endpoint_override.is_none());
        assert!(!config.allow_private_networks);
        assert_eq!(config.connect_timeout, Duration::from_secs(5));
        assert_eq!(config.request_timeout, Duration::from_secs(10));
        assert_eq!(config.max_retries, 2);
    }
}

/// `keyhold_auth0_requests_total{endpoint, status}`: one count per HTTP exchange (retries
/// included), by route template so ids and user names never become label values.
fn count_request(method: &Method, path: &str, outcome: &Result<Auth0Response, Failure>) {
    let status = match outcome {
        Ok(resp) => resp.status.as_u16().to_string(),
        Err(_) => "error".to_owned(),
    };
    let endpoint = format!("{method} {}", endpoint_template(path));
    metrics::counter!("keyhold_auth0_requests_total", "endpoint" => endpoint, "status" => status)
        .increment(1);
}

/// `/api/v2/clients/abc/rotate-secret?x` → `/api/v2/clients/{id}/rotate-secret`.
fn endpoint_template(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let mut segments: Vec<&str> = path.split('/').collect();
    if segments.len() > 4 && segments.get(1) == Some(&"api") {
        segments[4] = "{id}";
    }
    segments.join("/")
}

#[cfg(test)]
mod endpoint_tests {
    #[test]
    fn templates_hide_ids() {
        assert_eq!(super::endpoint_template("/oauth/token"), "/oauth/token");
        assert_eq!(
            super::endpoint_template("/api/v2/clients?page=1"),
            "/api/v2/clients"
        );
        assert_eq!(
            super::endpoint_template("/api/v2/clients/abc/rotate-secret"),
            "/api/v2/clients/{id}/rotate-secret"
        );
        assert_eq!(
            super::endpoint_template("/api/v2/users/auth0%7C123"),
            "/api/v2/users/{id}"
        );
    }
}
