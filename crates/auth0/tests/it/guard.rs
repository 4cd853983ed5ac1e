//! The SSRF guard end to end: names that resolve to internal addresses are refused before
//! any connection, `allow_private_networks` lets them through, DNS failures are classified.
//!
//! Without an override the client speaks HTTPS to port 443, so "no connection was made" is
//! observed with a listener on `ADDR:443` where the OS lets us bind one (root, or a low
//! `ip_unprivileged_port_start`); elsewhere the error kind alone is asserted.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use auth0::{Auth0Client, Auth0Error, HttpConfig, NameResolver};
use tokio::net::TcpListener;

use crate::support::{DOMAIN, FixedResolver, good_creds};

fn direct_config() -> HttpConfig {
    HttpConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        max_retries: 0,
        ..HttpConfig::default()
    }
}

/// A listener on `ip:443`, if this process may bind one.
async fn listen_443(ip: &str) -> Option<TcpListener> {
    match TcpListener::bind((ip, 443)).await {
        Ok(listener) => Some(listener),
        Err(err) => {
            eprintln!("cannot bind {ip}:443 ({err}); checking the error kind only");
            None
        }
    }
}

/// True when a connection reached `listener` (it sits in the backlog if nobody accepted).
async fn was_contacted(listener: &TcpListener) -> bool {
    tokio::time::timeout(Duration::from_millis(200), listener.accept())
        .await
        .is_ok()
}

#[tokio::test]
async fn internal_addresses_are_blocked_before_connecting() {
    // 127.88.0.1 is loopback like 127.0.0.1 but unlikely to be in use by anything else.
    for ip in [
        "127.0.0.1",
        "169.254.169.254",
        "::1",
        "127.88.0.1",
        "::ffff:127.88.0.1",
        "10.0.0.7",
    ] {
        let listener = if ip == "127.88.0.1" {
            listen_443(ip).await
        } else {
            None
        };
        let resolver = FixedResolver::ips(&[ip]);
        let client = Auth0Client::with_resolver(
            direct_config(),
            Arc::clone(&resolver) as Arc<dyn NameResolver>,
        )
        .expect("client");
        let err = client
            .client_credentials_token(&good_creds())
            .await
            .expect_err("must be blocked");
        assert!(
            matches!(&err, Auth0Error::BlockedAddress { host } if host == DOMAIN),
            "{ip}: {err:?}"
        );
        assert!(!err.is_retryable());
        assert!(err.reason().contains("private"), "{}", err.reason());
        assert_eq!(resolver.calls(), 1, "{ip}");
        if let Some(listener) = listener {
            assert!(
                !was_contacted(&listener).await,
                "{ip}: a connection was made"
            );
        }
    }
}

#[tokio::test]
async fn allow_private_networks_lets_internal_addresses_through() {
    let ip = "127.88.0.2";
    let listener = listen_443(ip).await;
    let resolver = FixedResolver::ips(&[ip]);
    let config = HttpConfig {
        allow_private_networks: true,
        ..direct_config()
    };
    let client = Auth0Client::with_resolver(config, Arc::clone(&resolver) as Arc<dyn NameResolver>)
        .expect("client");
    let request = tokio::spawn(async move { client.client_credentials_token(&good_creds()).await });
    if let Some(listener) = &listener {
        // Accept, then hang up: the TLS handshake fails, which proves we got this far.
        let accepted = tokio::time::timeout(Duration::from_secs(5), listener.accept()).await;
        assert!(matches!(accepted, Ok(Ok(_))), "the client never connected");
    }
    drop(listener);
    let err = request
        .await
        .expect("task")
        .expect_err("no TLS server there");
    assert!(matches!(err, Auth0Error::Unreachable { .. }), "{err:?}");
    assert_eq!(resolver.calls(), 1);
}

#[tokio::test]
async fn nxdomain_is_unknown_tenant_and_not_retried() {
    let resolver = FixedResolver::error(io::ErrorKind::NotFound);
    let config = HttpConfig {
        max_retries: 2,
        ..direct_config()
    };
    let client = Auth0Client::with_resolver(config, Arc::clone(&resolver) as Arc<dyn NameResolver>)
        .expect("client");
    let err = client
        .client_credentials_token(&good_creds())
        .await
        .expect_err("no such name");
    assert!(matches!(err, Auth0Error::UnknownTenant), "{err:?}");
    assert_eq!(resolver.calls(), 1);
}

#[tokio::test]
async fn dns_server_failure_is_unreachable_and_retried() {
    let resolver = FixedResolver::error(io::ErrorKind::TimedOut);
    let config = HttpConfig {
        max_retries: 2,
        ..direct_config()
    };
    let client = Auth0Client::with_resolver(config, Arc::clone(&resolver) as Arc<dyn NameResolver>)
        .expect("client");
    let err = client
        .client_credentials_token(&good_creds())
        .await
        .expect_err("lookup fails");
    assert!(
        matches!(&err, Auth0Error::Unreachable { reason } if reason.contains(DOMAIN)),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(resolver.calls(), 3, "one attempt plus two retries");
}
