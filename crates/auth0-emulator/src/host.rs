//! Which tenant a request is for: the `Host` header (or an absolute request URI), without port,
//! lower-cased, as Auth0 routes custom and canonical domains.

use axum::http::Request;

/// The host a request names, or `None` when it names none.
pub(crate) fn request_host<B>(req: &Request<B>) -> Option<String> {
    let raw = req
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))?;
    let host = strip_port(raw.trim()).trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // An IPv6 literal, `[::1]:8080`: never a tenant, but keep the address intact.
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_of(value: &str) -> Option<String> {
        let req = Request::builder().header("host", value).body(()).unwrap();
        request_host(&req)
    }

    #[test]
    fn strips_port_and_case() {
        assert_eq!(
            host_of("Acme.Auth0.Test:8443").as_deref(),
            Some("acme.auth0.test")
        );
        assert_eq!(
            host_of("acme.auth0.test").as_deref(),
            Some("acme.auth0.test")
        );
        assert_eq!(
            host_of("acme.auth0.test.").as_deref(),
            Some("acme.auth0.test")
        );
        assert_eq!(host_of("[::1]:80").as_deref(), Some("::1"));
        assert_eq!(host_of(""), None);
        let req = Request::builder()
            .uri("http://b.test:9/x")
            .body(())
            .unwrap();
        assert_eq!(request_host(&req).as_deref(), Some("b.test"));
    }
}
