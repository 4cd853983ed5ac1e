//! Transport behaviour: retries of 5xx and 429, timeouts, redirects, the generic `send`
//! helper, and that nothing secret reaches the logs.

use std::time::{Duration, Instant};

use auth0::{Auth0Client, Auth0Error, HttpConfig, Method, RequestBody, StatusCode};
use auth0_emulator::{Fault, RateLimitSeed};

use crate::support::{
    CannedServer, DOMAIN, LogCapture, SECRET, client_for, creds, domain, emulator, emulator_with,
    good_creds, override_config,
};

const TOKEN_ROUTE: &str = "POST /oauth/token";

fn token_requests(emu: &auth0_emulator::Emulator) -> u64 {
    emu.admin()
        .counters(DOMAIN)
        .expect("tenant")
        .requests_by_endpoint
        .get(TOKEN_ROUTE)
        .copied()
        .unwrap_or(0)
}

fn client_with(emu: &auth0_emulator::Emulator, tweak: impl FnOnce(&mut HttpConfig)) -> Auth0Client {
    let mut config = override_config(&emu.base_url());
    tweak(&mut config);
    Auth0Client::new(config).expect("client")
}

#[tokio::test]
async fn retries_a_503_then_succeeds() {
    let emu = emulator().await;
    emu.admin()
        .try_inject_fault(DOMAIN, Fault::fail(Some(TOKEN_ROUTE), 503, 1))
        .expect("fault");
    let token = client_for(&emu)
        .client_credentials_token(&good_creds())
        .await
        .expect("token after one retry");
    assert_eq!(token.expires_in, 86_400);
    assert_eq!(token_requests(&emu), 2);
}

#[tokio::test]
async fn gives_up_on_persistent_5xx_with_auth0_text() {
    let emu = emulator().await;
    emu.admin()
        .try_inject_fault(DOMAIN, Fault::fail(Some(TOKEN_ROUTE), 503, 10))
        .expect("fault");
    let client = client_with(&emu, |c| c.max_retries = 1);
    let err = client
        .client_credentials_token(&good_creds())
        .await
        .expect_err("must fail");
    assert!(
        matches!(&err, Auth0Error::Upstream { status: 503, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(token_requests(&emu), 2, "one attempt plus max_retries = 1");
}

#[tokio::test]
async fn retries_a_429_then_succeeds() {
    let emu = emulator().await;
    emu.admin()
        .try_inject_fault(DOMAIN, Fault::fail(Some(TOKEN_ROUTE), 429, 1))
        .expect("fault");
    client_for(&emu)
        .client_credentials_token(&good_creds())
        .await
        .expect("token after one retry");
    assert_eq!(token_requests(&emu), 2);
}

/// With the tenant's token bucket empty, Auth0's `x-ratelimit-reset` tells us when to come
/// back; with no retries left the caller learns it.
#[tokio::test]
async fn rate_limit_reports_when_to_retry() {
    let emu = emulator_with(|tenant| {
        tenant.token_rate_limit = Some(RateLimitSeed {
            burst: 1,
            per_second: 0.05,
        });
    })
    .await;
    let client = client_with(&emu, |c| c.max_retries = 0);
    client
        .client_credentials_token(&good_creds())
        .await
        .expect("first token uses the burst");
    let err = client
        .client_credentials_token(&good_creds())
        .await
        .expect_err("bucket is empty");
    match err {
        Auth0Error::RateLimited {
            retry_after: Some(wait),
        } => assert!(
            wait >= Duration::from_secs(5) && wait <= Duration::from_secs(21),
            "{wait:?}"
        ),
        other => panic!("expected RateLimited with a hint, got {other:?}"),
    }
    assert_eq!(token_requests(&emu), 2);
}

/// A bucket that refills within about a second: the retry waits for `x-ratelimit-reset`
/// (not a fixed backoff) and then succeeds.
#[tokio::test]
async fn rate_limit_retry_honours_reset_header() {
    let emu = emulator_with(|tenant| {
        tenant.token_rate_limit = Some(RateLimitSeed {
            burst: 1,
            per_second: 2.0,
        });
    })
    .await;
    let client = client_with(&emu, |c| c.max_retries = 3);
    client
        .client_credentials_token(&good_creds())
        .await
        .expect("burst");
    let started = Instant::now();
    client
        .client_credentials_token(&good_creds())
        .await
        .expect("succeeds after waiting for the bucket");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(emu.admin().counters(DOMAIN).expect("tenant").rate_limited >= 1);
}

#[tokio::test]
async fn slow_answer_is_a_timeout_and_not_repeated() {
    let emu = emulator().await;
    emu.admin()
        .try_inject_fault(
            DOMAIN,
            Fault::latency(Some(TOKEN_ROUTE), Duration::from_millis(1500)),
        )
        .expect("fault");
    let client = client_with(&emu, |c| c.request_timeout = Duration::from_millis(300));
    let started = Instant::now();
    let err = client
        .client_credentials_token(&good_creds())
        .await
        .expect_err("must time out");
    assert!(matches!(err, Auth0Error::Timeout), "{err:?}");
    assert!(err.is_retryable());
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        token_requests(&emu),
        1,
        "a request that may have been applied is not resent"
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = CannedServer::start(
        "302 Found",
        &[("location", "http://169.254.169.254/latest/meta-data/")],
        "",
    )
    .await;
    let client = Auth0Client::new(override_config(&server.url())).expect("client");
    let err = client
        .client_credentials_token(&good_creds())
        .await
        .expect_err("must fail");
    assert!(
        matches!(&err, Auth0Error::InvalidResponse { reason } if reason.contains("redirect")),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn non_json_success_is_an_invalid_response() {
    let server = CannedServer::start("200 OK", &[], "<html>captive portal</html>").await;
    let client = Auth0Client::new(override_config(&server.url())).expect("client");
    let err = client
        .client_credentials_token(&good_creds())
        .await
        .expect_err("must fail");
    assert!(matches!(err, Auth0Error::InvalidResponse { .. }), "{err:?}");
}

#[tokio::test]
async fn refused_connection_is_unreachable_after_retries() {
    // Bind then drop, so the port is (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let client = Auth0Client::new(HttpConfig {
        max_retries: 1,
        ..override_config(&format!("http://127.0.0.1:{port}"))
    })
    .expect("client");
    let err = client
        .client_credentials_token(&good_creds())
        .await
        .expect_err("must fail");
    assert!(matches!(&err, Auth0Error::Unreachable { .. }), "{err:?}");
    assert!(err.is_retryable());
}

/// `send` is the building block for Management API calls: bearer auth, JSON, any 4xx
/// returned to the caller rather than turned into an error.
#[tokio::test]
async fn send_carries_bearer_tokens_to_the_management_api() {
    let emu = emulator().await;
    let client = client_for(&emu);
    let tenant = domain(DOMAIN);
    let token = client
        .client_credentials_token(&good_creds())
        .await
        .expect("token");

    let listed = client
        .send(
            &tenant,
            Method::GET,
            "/api/v2/clients?fields=client_id&include_fields=true",
            Some(&token.token),
            None,
        )
        .await
        .expect("list clients");
    assert_eq!(listed.status, StatusCode::OK);
    let clients: serde_json::Value = listed.json().expect("json");
    let ids: Vec<&str> = clients
        .as_array()
        .expect("bare array without include_totals")
        .iter()
        .filter_map(|c| c["client_id"].as_str())
        .collect();
    assert!(ids.contains(&"cid"), "{ids:?}");

    let anonymous = client
        .send(&tenant, Method::GET, "/api/v2/clients", None, None)
        .await
        .expect("answer");
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let patch = serde_json::json!({ "description": "touched by keyhold tests" });
    let patched = client
        .send(
            &tenant,
            Method::PATCH,
            "/api/v2/clients/cid",
            Some(&token.token),
            Some(RequestBody::Json(&patch)),
        )
        .await
        .expect("patch");
    // update:client_keys is one of the scopes Auth0 accepts for PATCH /clients/{id}.
    assert_eq!(patched.status, StatusCode::OK);
    let client_json: serde_json::Value = patched.json().expect("json");
    assert_eq!(client_json["description"], "touched by keyhold tests");
}

/// Everything the client logs at TRACE (ours, reqwest's, hyper's) during a failed grant is
/// free of the secret; the override warning is there.
#[tokio::test(flavor = "current_thread")]
async fn logs_never_contain_the_secret() {
    let logs = LogCapture::start();
    let emu = emulator().await;
    let client = client_for(&emu);
    let wrong = creds(DOMAIN, "cid", &format!("{SECRET}-wrong"), None);
    let err = client
        .client_credentials_token(&wrong)
        .await
        .expect_err("wrong secret");
    assert!(matches!(err, Auth0Error::WrongCredentials));
    client
        .client_credentials_token(&good_creds())
        .await
        .expect("token");
    let text = logs.text();
    assert!(text.contains("Auth0 endpoint override is set"), "{text}");
    assert!(
        text.contains("auth0.client_credentials_token"),
        "spans are recorded: {text}"
    );
    assert!(!text.contains(SECRET), "secret leaked into logs:\n{text}");
}
