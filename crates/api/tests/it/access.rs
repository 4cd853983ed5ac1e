//! Logging in, using and revoking tokens.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::TestApp;

const LOGIN: &str = "/api/v1/auth/universal-auth/login";

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn machine_login_issues_an_opaque_expiring_token(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = app.identity("svc", None).await;
    let body = json!({ "clientId": id.client_id, "clientSecret": id.client_secret });
    let reply = app
        .call_as(None, Method::POST, LOGIN, Some(body), &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json["tokenType"], "Bearer");
    assert_eq!(reply.json["expiresIn"], 600);
    let token = reply.json["accessToken"].as_str().expect("token");
    assert!(token.starts_with("kh_") && token.len() >= 46, "{token}");
    // Only a hash is stored.
    let stored: i64 = sqlx::query_scalar("select count(*) from access_tokens where encode(token_hash, 'escape') like '%' || $1 || '%'")
        .bind(&token[3..])
        .fetch_one(&app.pool)
        .await
        .expect("query");
    assert_eq!(stored, 0);
    let me = app
        .call_as(Some(token), Method::GET, "/api/v1/projects", None, &[])
        .await;
    assert_eq!(me.status, StatusCode::OK);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn wrong_id_and_wrong_secret_look_the_same(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = app.identity("svc", None).await;
    let wrong_secret = json!({ "clientId": id.client_id, "clientSecret": "not-it" });
    let wrong_id =
        json!({ "clientId": uuid::Uuid::new_v4().to_string(), "clientSecret": "not-it" });
    let mut replies = Vec::new();
    for body in [wrong_secret, wrong_id] {
        let started = Instant::now();
        let reply = app
            .call_as(None, Method::POST, LOGIN, Some(body), &[])
            .await;
        let took = started.elapsed();
        reply.problem(StatusCode::UNAUTHORIZED);
        // Every failure is padded to the same floor, whatever went wrong.
        assert!(took >= Duration::from_millis(300), "{took:?}");
        let mut json = reply.json.clone();
        json["requestId"] = json!(null);
        replies.push(json);
    }
    assert_eq!(replies[0], replies[1]);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn repeated_failures_are_throttled_per_account(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = app.identity("svc", None).await;
    for _ in 0..api::auth::throttle::PER_ACCOUNT {
        let body = json!({ "clientId": id.client_id, "clientSecret": "guess" });
        app.call_as(None, Method::POST, LOGIN, Some(body), &[])
            .await
            .problem(StatusCode::UNAUTHORIZED);
    }
    // Now even the right secret waits.
    let body = json!({ "clientId": id.client_id, "clientSecret": id.client_secret });
    let reply = app
        .call_as(None, Method::POST, LOGIN, Some(body), &[])
        .await;
    reply.problem(StatusCode::TOO_MANY_REQUESTS);
    assert!(reply.headers.contains_key("retry-after"));
    // Another account is not affected.
    let other = app.identity("other", None).await;
    let body = json!({ "clientId": other.client_id, "clientSecret": other.client_secret });
    assert_eq!(
        app.call_as(None, Method::POST, LOGIN, Some(body), &[])
            .await
            .status,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_burst_of_guesses_gets_no_more_checks_than_the_limit(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = app.identity("svc", None).await;
    let body = json!({ "clientId": id.client_id, "clientSecret": "guess" });
    let replies = futures_util::future::join_all(
        (0..12).map(|_| app.call_as(None, Method::POST, LOGIN, Some(body.clone()), &[])),
    )
    .await;
    let refused = |code| replies.iter().filter(|r| r.status == code).count();
    assert_eq!(
        refused(StatusCode::UNAUTHORIZED),
        api::auth::throttle::PER_ACCOUNT as usize
    );
    assert_eq!(refused(StatusCode::TOO_MANY_REQUESTS), 12 - 5);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_fleet_logging_in_together_is_not_throttled(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = app.identity("svc", None).await;
    let body = json!({ "clientId": id.client_id, "clientSecret": id.client_secret });
    // More at once than the account's failure limit, and as many as one address may have in flight;
    // successes never count as failures.
    let at_once = api::auth::throttle::PER_ADDRESS;
    let replies = futures_util::future::join_all(
        (0..at_once).map(|_| app.call_as(None, Method::POST, LOGIN, Some(body.clone()), &[])),
    )
    .await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn missing_malformed_revoked_and_expired_tokens_are_401(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let path = "/api/v1/projects";
    let none = app.call_as(None, Method::GET, path, None, &[]).await;
    none.problem(StatusCode::UNAUTHORIZED);
    assert_eq!(none.headers["www-authenticate"], "Bearer");
    for header in ["Basic abc", "Bearer", "Bearer kh_unknown", "kh_abc"] {
        let reply = app
            .call_as(None, Method::GET, path, None, &[("authorization", header)])
            .await;
        reply.problem(StatusCode::UNAUTHORIZED);
    }

    let id = app.identity("svc", None).await;
    assert_eq!(
        app.call_as(Some(&id.token), Method::GET, path, None, &[])
            .await
            .status,
        StatusCode::OK
    );
    let revoke = app
        .call_as(
            Some(&id.token),
            Method::POST,
            "/api/v1/auth/token/revoke",
            None,
            &[],
        )
        .await;
    assert_eq!(revoke.status, StatusCode::OK, "{}", revoke.text);
    // Replaying a revoked token fails at once.
    app.call_as(Some(&id.token), Method::GET, path, None, &[])
        .await
        .problem(StatusCode::UNAUTHORIZED);

    let fresh = app.login(&id.client_id, &id.client_secret).await;
    sqlx::query("update access_tokens set expires_at = now() - interval '1 second' where revoked_at is null and identity_id = $1::uuid")
        .bind(&id.id)
        .execute(&app.pool)
        .await
        .expect("expire");
    app.call_as(Some(&fresh), Method::GET, path, None, &[])
        .await
        .problem(StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn disabling_an_identity_ends_its_sessions_and_logins(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = app.identity("svc", None).await;
    let path = format!("/api/v1/identities/{}", id.id);
    let disabled = app
        .call(Method::PATCH, &path, Some(json!({ "disabled": true })), &[])
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
    app.call_as(Some(&id.token), Method::GET, "/api/v1/projects", None, &[])
        .await
        .problem(StatusCode::UNAUTHORIZED);
    let body = json!({ "clientId": id.client_id, "clientSecret": id.client_secret });
    app.call_as(None, Method::POST, LOGIN, Some(body), &[])
        .await
        .problem(StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn users_log_in_with_email_and_password(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let body = json!({ "type": "user", "name": "Ada", "email": "Ada@Example.com", "password": "correct horse battery" });
    let made = app
        .call(Method::POST, "/api/v1/identities", Some(body), &[])
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert!(made.json.get("clientSecret").is_none());
    assert!(!made.text.contains("correct horse"));
    let login = json!({ "email": "ada@example.com", "password": "correct horse battery" });
    let reply = app
        .call_as(None, Method::POST, "/api/v1/auth/login", Some(login), &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let wrong = json!({ "email": "ada@example.com", "password": "incorrect horse" });
    app.call_as(None, Method::POST, "/api/v1/auth/login", Some(wrong), &[])
        .await
        .problem(StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn api_responses_carry_security_headers_and_no_cors(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let reply = app
        .call(
            Method::GET,
            "/api/v1/projects",
            None,
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(reply.headers["x-content-type-options"], "nosniff");
    assert_eq!(reply.headers["x-frame-options"], "DENY");
    assert_eq!(reply.headers["cache-control"], "no-store");
    assert!(reply.headers.get("access-control-allow-origin").is_none());
    let mine = app
        .call(
            Method::GET,
            "/healthz",
            None,
            &[("x-request-id", "trace-me-123")],
        )
        .await;
    assert_eq!(mine.headers["x-request-id"], "trace-me-123");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn revoke_bodies_are_json_and_bounded(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = app.identity("svc", None).await;
    let bearer = format!("Bearer {}", id.token);
    let auth = [("authorization", bearer.as_str())];
    let path = "/api/v1/auth/token/revoke";
    let form = app
        .send(
            Method::POST,
            path,
            Some(b"accessToken=x".to_vec()),
            "application/x-www-form-urlencoded",
            &auth,
        )
        .await;
    form.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!("{{\"accessToken\":\"{}\"}}", "k".repeat(70_000));
    let big = app
        .send(
            Method::POST,
            path,
            Some(huge.into_bytes()),
            "application/json",
            &auth,
        )
        .await;
    big.problem(StatusCode::PAYLOAD_TOO_LARGE);
    // The token survived both refusals.
    assert_eq!(
        app.call_as(Some(&id.token), Method::GET, "/api/v1/projects", None, &[])
            .await
            .status,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_guesser_cannot_lock_the_owner_out(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = app.identity("svc", None).await;
    let wrong = json!({ "clientId": id.client_id, "clientSecret": "guess" });
    let right = json!({ "clientId": id.client_id, "clientSecret": id.client_secret });
    let attacker = "198.51.100.66";
    for _ in 0..api::auth::throttle::PER_ACCOUNT {
        app.call_from(attacker, Method::POST, LOGIN, wrong.clone(), &[])
            .await
            .problem(StatusCode::UNAUTHORIZED);
    }
    // The guesser's address is stopped, even with the right secret...
    let stopped = app
        .call_from(attacker, Method::POST, LOGIN, right.clone(), &[])
        .await;
    stopped.problem(StatusCode::TOO_MANY_REQUESTS);
    assert!(stopped.headers.contains_key("retry-after"));
    // ...the owner, elsewhere, is not: slowed down at most.
    let started = Instant::now();
    let owner = app
        .call_from("203.0.113.10", Method::POST, LOGIN, right.clone(), &[])
        .await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.text);
    assert!(
        started.elapsed() <= api::auth::throttle::SLOWDOWN_MAX + Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Guessers at more addresses slow the account down further, but never refuse its owner.
    let guesses = futures_util::future::join_all(
        (0..api::auth::throttle::PER_ACCOUNT)
            .map(|_| app.call_from("198.51.100.67", Method::POST, LOGIN, wrong.clone(), &[])),
    )
    .await;
    for guess in guesses {
        guess.problem(StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.state
            .throttle
            .account_slowdown(&format!("machine:{}", id.client_id))
            .await
            .expect("count"),
        api::auth::throttle::SLOWDOWN_MAX
    );
    let owner = app
        .call_from("203.0.113.10", Method::POST, LOGIN, right, &[])
        .await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.text);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn forwarded_addresses_count_only_from_trusted_proxies(pool: PgPool) {
    let mut app = TestApp::new(pool).await;
    let proxies: api::auth::client_ip::TrustedProxies = "10.0.0.0/8".parse().expect("proxies");
    app.router = api::app(app.state.clone().with_trusted_proxies(proxies));
    let guess = |id: &crate::support::Identity| json!({ "clientId": id.client_id, "clientSecret": "guess" });
    let right = |id: &crate::support::Identity| json!({ "clientId": id.client_id, "clientSecret": id.client_secret });

    // From an untrusted peer a new X-Forwarded-For on every guess changes nothing: the peer's
    // address is the one throttled and audited.
    let spoofed = app.identity("spoofed", None).await;
    for n in 0..api::auth::throttle::PER_ACCOUNT {
        let xff = format!("203.0.113.{n}");
        app.call_from(
            "198.51.100.7",
            Method::POST,
            LOGIN,
            guess(&spoofed),
            &[
                ("x-forwarded-for", &xff),
                ("forwarded", &format!("for={xff}")),
            ],
        )
        .await
        .problem(StatusCode::UNAUTHORIZED);
    }
    app.call_from(
        "198.51.100.7",
        Method::POST,
        LOGIN,
        right(&spoofed),
        &[("x-forwarded-for", "203.0.113.99")],
    )
    .await
    .problem(StatusCode::TOO_MANY_REQUESTS);

    // Through a trusted proxy each client has its own address, taken right-most past the proxies
    // (the left-most entry here is the client's own claim and is ignored).
    let proxied = app.identity("proxied", None).await;
    for _ in 0..api::auth::throttle::PER_ACCOUNT {
        app.call_from(
            "10.0.0.1",
            Method::POST,
            LOGIN,
            guess(&proxied),
            &[("x-forwarded-for", "1.2.3.4, 203.0.113.50, 10.0.0.2")],
        )
        .await
        .problem(StatusCode::UNAUTHORIZED);
    }
    app.call_from(
        "10.0.0.1",
        Method::POST,
        LOGIN,
        right(&proxied),
        &[("x-forwarded-for", "5.6.7.8, 203.0.113.50")],
    )
    .await
    .problem(StatusCode::TOO_MANY_REQUESTS);
    let other_client = app
        .call_from(
            "10.0.0.1",
            Method::POST,
            LOGIN,
            right(&proxied),
            &[("x-forwarded-for", "203.0.113.51")],
        )
        .await;
    assert_eq!(other_client.status, StatusCode::OK, "{}", other_client.text);

    let sources: Vec<(String, String)> = sqlx::query_as(
        "select distinct metadata->>'account', source_ip from audit_events \
         where action = 'auth.login' and outcome = 'failure'",
    )
    .fetch_all(&app.pool)
    .await
    .expect("audit");
    let sources: BTreeSet<(String, String)> = sources.into_iter().collect();
    let expected = BTreeSet::from([
        (proxied.client_id.clone(), "203.0.113.50".to_owned()),
        (spoofed.client_id.clone(), "198.51.100.7".to_owned()),
    ]);
    assert_eq!(sources, expected);
}
