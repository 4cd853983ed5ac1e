//! HTTP to URLs users configure (webhook endpoints), with the same SSRF guard as Auth0 calls:
//! HTTPS only, no IP literals or internal names, every resolved address checked at connect time
//! (so DNS rebinding between check and use is impossible), no redirects, no proxies, a timeout
//! on the whole exchange and at most [`MAX_ANSWER_BYTES`] of the answer read.
//!
//! [`check_url`] is the cheap, friendly first layer (used when a URL is stored and again before
//! each delivery); [`GuardedHttp`] is the authoritative one. Both take `allow_private_networks`:
//! an operator's opt-in that allows `http`, IP literals, internal names and private addresses
//! (tests use it for loopback receivers). Nothing here logs or sees a body beyond its size.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::{Host, Url};

use crate::dns::{NameResolver, SystemResolver};
use crate::domain::Domain;
use crate::ssrf::{GuardedResolver, ResolveFailure};

/// Most of an answer's body that is read (and kept for the delivery log's error text).
pub const MAX_ANSWER_BYTES: usize = 1024;
/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Why a URL may not be called. `Display` is a sentence about the URL that never repeats it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("must be an absolute URL such as https://hooks.example.com/keyhold")]
    Unparsable,
    #[error("must be at most 2048 characters long")]
    TooLong,
    #[error("must use https")]
    NotHttps,
    #[error("must use https (or http where private networks are allowed)")]
    Scheme,
    #[error("must not contain user info (\"user:password@\")")]
    Userinfo,
    #[error("must not contain a fragment (\"#...\")")]
    Fragment,
    #[error("must name a host by its DNS name, not an IP address")]
    IpLiteral,
    #[error("must name a public host: {0}")]
    Host(String),
}

/// Checks a URL a user wants Keyhold to call, and returns it parsed.
pub fn check_url(raw: &str, allow_private_networks: bool) -> Result<Url, UrlError> {
    if raw.len() > MAX_URL_LEN {
        return Err(UrlError::TooLong);
    }
    let url = Url::parse(raw.trim()).map_err(|_| UrlError::Unparsable)?;
    match (url.scheme(), allow_private_networks) {
        ("https", _) | ("http", true) => {}
        ("http", false) => return Err(UrlError::NotHttps),
        _ => return Err(UrlError::Scheme),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Userinfo);
    }
    if url.fragment().is_some() {
        return Err(UrlError::Fragment);
    }
    match url.host() {
        None => return Err(UrlError::Unparsable),
        Some(Host::Ipv4(_) | Host::Ipv6(_)) if !allow_private_networks => {
            return Err(UrlError::IpLiteral);
        }
        Some(Host::Domain(name)) if !allow_private_networks => {
            // The tenant-domain rules: no numeric or internal names, at least two labels.
            Domain::parse(name).map_err(|err| UrlError::Host(err.to_string()))?;
        }
        Some(_) => {}
    }
    // Parsing normalises (`https://h.example?q` gains a `/`), and the normal form is what is
    // stored and sent: it must fit too (found by contract fuzzing: a 2,048-character URL became
    // 2,049 and broke the database's length check, a 500).
    if url.as_str().len() > MAX_URL_LEN {
        return Err(UrlError::TooLong);
    }
    Ok(url)
}

/// The answer to one request: status, the `Retry-After` it asked for, and the first
/// [`MAX_ANSWER_BYTES`] of its body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// Why no answer came.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Url(UrlError),
    #[error("the host resolves only to addresses Keyhold may not connect to")]
    Blocked,
    #[error("the host does not exist in DNS")]
    UnknownHost,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("the request failed: {0}")]
    Other(String),
}

/// An SSRF-guarded HTTP client for user-configured URLs. Cheap to clone.
#[derive(Clone)]
pub struct GuardedHttp {
    http: reqwest::Client,
    allow_private_networks: bool,
    timeout: Duration,
}

impl std::fmt::Debug for GuardedHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedHttp")
            .field("allow_private_networks", &self.allow_private_networks)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl GuardedHttp {
    /// A client resolving names with the system's DNS configuration.
    pub fn new(allow_private_networks: bool, timeout: Duration) -> Result<GuardedHttp, String> {
        let names: Arc<dyn NameResolver> =
            Arc::new(SystemResolver::from_system_config().map_err(|err| err.to_string())?);
        Self::with_resolver(allow_private_networks, timeout, names)
    }

    /// Test/ops hook: replace name lookup; the guard still checks what it returns.
    pub fn with_resolver(
        allow_private_networks: bool,
        timeout: Duration,
        names: Arc<dyn NameResolver>,
    ) -> Result<GuardedHttp, String> {
        crate::http::install_crypto_provider();
        if timeout.is_zero() {
            return Err("the timeout must be greater than zero".into());
        }
        let guard = GuardedResolver::new(names, allow_private_networks);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .https_only(!allow_private_networks)
            .dns_resolver(Arc::new(guard))
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("keyhold-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| err.to_string())?;
        Ok(GuardedHttp {
            http,
            allow_private_networks,
            timeout,
        })
    }

    pub fn allow_private_networks(&self) -> bool {
        self.allow_private_networks
    }

    /// POSTs `body` as JSON with `headers` (values marked sensitive: some are credentials of
    /// the receiver's intake); any status is an [`Answer`].
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Answer, SendError> {
        let url = check_url(url, self.allow_private_networks).map_err(SendError::Url)?;
        let mut map = HeaderMap::new();
        map.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in headers {
            let mut value =
                HeaderValue::from_str(value).map_err(|err| SendError::Other(err.to_string()))?;
            value.set_sensitive(true);
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|err| SendError::Other(err.to_string()))?;
            map.insert(name, value);
        }
        let exchange = async {
            let mut response = self
                .http
                .post(url)
                .headers(map)
                .body(body)
                .send()
                .await
                .map_err(|err| self.classify(&err))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let mut body = Vec::new();
            // Read at most MAX_ANSWER_BYTES; the rest is dropped with the connection.
            while body.len() < MAX_ANSWER_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        let room = MAX_ANSWER_BYTES - body.len();
                        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    }
                    Ok(None) => break,
                    // The status is what counts; a body cut short does not change it.
                    Err(_) => break,
                }
            }
            Ok(Answer {
                status,
                retry_after,
                body,
            })
        };
        // The client's own timeout covers each phase; this bounds the whole exchange too.
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Timeout(self.timeout)),
        }
    }

    fn classify(&self, err: &reqwest::Error) -> SendError {
        if let Some(failure) = ResolveFailure::find_in(err) {
            return match failure {
                ResolveFailure::Blocked { .. } => SendError::Blocked,
                ResolveFailure::NotFound { .. } => SendError::UnknownHost,
                ResolveFailure::Failed { .. } => SendError::Connect(failure.to_string()),
            };
        }
        if err.is_timeout() {
            return SendError::Timeout(self.timeout);
        }
        if err.is_connect() {
            return SendError::Connect(chain(err));
        }
        SendError::Other(chain(err))
    }
}

/// `Retry-After` as seconds or an HTTP date (RFC 9110 10.2.3); past dates mean "now".
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate(value)?;
    let now = std::time::SystemTime::now();
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// IMF-fixdate only (`Sun, 06 Nov 1994 08:49:37 GMT`), the form senders must use.
fn httpdate(value: &str) -> Option<std::time::SystemTime> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, clock, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u64
        + 1;
    let day: u64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<u64> = clock.split(':').filter_map(|p| p.parse().ok()).collect();
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = (y - era * 400) as u64;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe as i64 - 719_468;
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + m * 60 + s;
    Some(std::time::UNIX_EPOCH + Duration::from_secs(secs))
}

fn chain(err: &reqwest::Error) -> String {
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
        "connection failed".into()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_urls_are_refused_without_the_opt_in() {
        for bad in [
            "http://hooks.example.com/x",
            "https://169.254.169.254/latest/meta-data/",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://0x7f.1/",
            "https://2130706433/",
            "https://localhost/hook",
            "https://metadata.google.internal/",
            "https://printer.local/",
            "https://intranet/",
            "https://user:pw@hooks.example.com/",
            "https://hooks.example.com/#frag",
            "ftp://hooks.example.com/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "hooks.example.com",
            "",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(check_url(&long, false), Err(UrlError::TooLong));
        // 2,048 as sent, 2,049 once normalised (a `/` before the query): too long as stored.
        let query = "q".repeat(MAX_URL_LEN - "https://0.aa?".len());
        let grows = format!("https://0.aa?{query}");
        assert_eq!(grows.len(), MAX_URL_LEN);
        assert_eq!(check_url(&grows, false), Err(UrlError::TooLong));
    }

    #[test]
    fn public_urls_with_ports_paths_and_queries_pass() {
        for good in [
            "https://hooks.example.com/keyhold",
            "https://hooks.example.com:8443/a/b?token=x",
            "https://api.eu.example.org",
        ] {
            assert!(check_url(good, false).is_ok(), "{good}");
        }
    }

    #[test]
    fn the_opt_in_allows_http_to_loopback() {
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("http://localhost:9000/hook", true).is_ok());
        assert!(check_url("ftp://127.0.0.1/", true).is_err());
        assert!(check_url("http://u:p@127.0.0.1/", true).is_err());
    }

    #[test]
    fn errors_never_repeat_the_url() {
        let url = "https://user:hunter2@hooks.example.com/";
        let err = check_url(url, false).expect_err("userinfo");
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn retry_after_in_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let future = parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT").expect("date");
        assert!(future > Duration::from_secs(365 * 86_400));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn httpdate_matches_a_known_instant() {
        let t = httpdate("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        assert_eq!(
            t.duration_since(std::time::UNIX_EPOCH)
                .expect("after epoch"),
            Duration::from_secs(784_111_777)
        );
    }
}
