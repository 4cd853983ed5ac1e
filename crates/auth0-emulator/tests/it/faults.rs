//! Fault injection: failing the next N requests, latency, and "apply then drop the connection"
//! for rotations — the crash window a rotation worker must survive.

use std::time::{Duration, Instant};

use auth0_emulator::Fault;
use serde_json::json;

use crate::common::{CLIENT_ID, DOMAIN, Env, SECRET};

#[tokio::test]
async fn next_n_requests_fail_with_auth0_bodies() {
    let env = Env::standard().await;
    let token = env.mgmt_token().await;
    let admin = env.emulator.admin();
    admin.inject_fault(
        DOMAIN,
        Fault::fail(Some("GET /api/v2/clients/{id}"), 503, 2),
    );
    let path = format!("/api/v2/clients/{CLIENT_ID}");
    for _ in 0..2 {
        let (status, body) = env.mgmt_get(&token, &path).await;
        assert_eq!(status, 503);
        assert_eq!(body["statusCode"], 503);
        assert_eq!(body["error"], "Service Unavailable");
    }
    let (status, _) = env.mgmt_get(&token, &path).await;
    assert_eq!(status, 200, "fault used up");
    let (status, _) = env.mgmt_get(&token, "/api/v2/clients").await;
    assert_eq!(status, 200, "other endpoints untouched");

    admin.inject_fault(DOMAIN, Fault::fail(Some("POST /oauth/token"), 500, 1));
    let body = json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET,
                      "audience": format!("https://{DOMAIN}/api/v2/")});
    let (status, got) = env.token_request(DOMAIN, body.clone()).await;
    assert_eq!(status, 500);
    assert_eq!(got["error"], "server_error");
    assert_eq!(env.token_request(DOMAIN, body).await.0, 200);

    admin.inject_fault(DOMAIN, Fault::fail(None, 429, 1));
    let response = env
        .get(DOMAIN, &path)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("x-ratelimit-reset"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errorCode"], "too_many_requests");
    assert!(admin.faults(DOMAIN).is_empty());
}

#[tokio::test]
async fn latency_delays_until_cleared() {
    let env = Env::standard().await;
    let token = env.mgmt_token().await;
    let admin = env.emulator.admin();
    admin.inject_fault(
        DOMAIN,
        Fault::latency(Some("/api/v2/clients"), Duration::from_millis(300)),
    );
    let started = Instant::now();
    let (status, _) = env.mgmt_get(&token, "/api/v2/clients").await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    admin.clear_faults(DOMAIN);
    let started = Instant::now();
    env.mgmt_get(&token, "/api/v2/clients").await;
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn rotation_is_applied_then_the_connection_drops() {
    let env = Env::standard().await;
    let token = env.mgmt_token().await;
    let admin = env.emulator.admin();
    admin.inject_fault(
        DOMAIN,
        Fault::drop_after_apply(Some("POST /api/v2/clients/{id}/rotate-secret"), 1),
    );

    let result = env
        .post(
            DOMAIN,
            &format!("/api/v2/clients/{CLIENT_ID}/rotate-secret"),
        )
        .bearer_auth(&token)
        .send()
        .await;
    let error = result.expect_err("the connection closes without an answer");
    assert!(!error.is_status() && !error.is_timeout(), "{error:?}");
    let secret = admin.client_secret(DOMAIN, CLIENT_ID).unwrap();
    assert_ne!(secret, SECRET, "the rotation was applied");
    assert_eq!(admin.counters(DOMAIN).unwrap().rotations, 1);

    // The client recovers by reading the new secret; the old one is dead.
    let body = |s: &str| {
        json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": s,
                                "audience": format!("https://{DOMAIN}/api/v2/")})
    };
    assert_eq!(env.token_request(DOMAIN, body(SECRET)).await.0, 401);
    assert_eq!(env.token_request(DOMAIN, body(&secret)).await.0, 200);
}

#[tokio::test]
async fn patch_secret_drop_over_the_http_fault_endpoint() {
    let env = Env::standard().await;
    let token = env.mgmt_token().await;
    let response = env
        .post(DOMAIN, "/__emulator/faults")
        .json(&json!({"kind": "drop_after_apply", "endpoint": "PATCH /api/v2/clients/{id}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let listed: serde_json::Value = env
        .get(DOMAIN, "/__emulator/faults")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["kind"], "drop_after_apply");

    let pending = "p".repeat(48);
    let result = env
        .patch(DOMAIN, &format!("/api/v2/clients/{CLIENT_ID}"))
        .bearer_auth(&token)
        .json(&json!({"client_secret": pending}))
        .send()
        .await;
    assert!(result.is_err(), "dropped");
    assert_eq!(
        env.emulator
            .admin()
            .client_secret(DOMAIN, CLIENT_ID)
            .as_deref(),
        Some(pending.as_str())
    );

    // A retry of the same idempotent PATCH now answers normally.
    let (status, body) = env
        .mgmt_send(
            env.patch(DOMAIN, &format!("/api/v2/clients/{CLIENT_ID}"))
                .bearer_auth(&token)
                .json(&json!({"client_secret": pending})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["client_secret"], pending.as_str());

    let response = env
        .post("ghost.auth0.test", "/__emulator/faults")
        .json(&json!({"kind": "fail", "status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = env
        .post(DOMAIN, "/__emulator/faults")
        .json(&json!({"kind": "fail", "status": 200}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = env
        .http
        .delete(env.url(&format!("/__emulator/faults?domain={DOMAIN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}
