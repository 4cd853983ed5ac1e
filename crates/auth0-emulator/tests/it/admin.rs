//! The `/__emulator` surface over HTTP: health, seeding tenants, clients and grants, reading
//! back secrets and counters.

use serde_json::json;

use crate::common::{CLIENT_ID, DOMAIN, Env, SECRET};

#[tokio::test]
async fn seed_over_http_and_inspect() {
    let env = Env::standard().await;
    let health: serde_json::Value = env
        .http
        .get(env.url("/__emulator/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status": "ok"}));

    let tenant = json!({
        "domain": "beta.auth0.test",
        "clients": [{"client_id": "beta-m2m", "client_secret": "beta-secret"}],
        "grants": [{"client_id": "beta-m2m", "audience": "https://beta.auth0.test/api/v2/", "scopes": ["read:clients"]}]
    });
    let response = env
        .http
        .post(env.url("/__emulator/tenants"))
        .json(&tenant)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let response = env
        .http
        .post(env.url("/__emulator/tenants"))
        .json(&tenant)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let response = env
        .http
        .post(env.url("/__emulator/tenants"))
        .json(
            &json!({"domain": "gamma.auth0.test", "grants": [{"client_id": "x", "audience": "y"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let tenants: serde_json::Value = env
        .http
        .get(env.url("/__emulator/tenants"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tenants, json!(["acme.auth0.test", "beta.auth0.test"]));

    let token = env
        .mgmt_token_for("beta.auth0.test", "beta-m2m", "beta-secret")
        .await;
    let response = env
        .get("beta.auth0.test", "/api/v2/clients")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let response = env
        .http
        .post(env.url(&format!("/__emulator/tenants/{DOMAIN}/clients")))
        .json(&json!({"client_id": "added", "client_secret": "added-secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let response = env
        .http
        .post(env.url(&format!("/__emulator/tenants/{DOMAIN}/grants")))
        .json(&json!({"client_id": "added", "audience": format!("https://{DOMAIN}/api/v2/"), "scopes": ["read:users"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let token = env.mgmt_token_for(DOMAIN, "added", "added-secret").await;
    assert!(!token.is_empty());

    let secret: serde_json::Value = env
        .http
        .get(env.url(&format!(
            "/__emulator/tenants/{DOMAIN}/clients/{CLIENT_ID}/secret"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        secret,
        json!({"client_id": CLIENT_ID, "client_secret": SECRET})
    );
    let response = env
        .http
        .get(env.url(&format!(
            "/__emulator/tenants/{DOMAIN}/clients/ghost/secret"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    let counters: serde_json::Value = env
        .http
        .get(env.url(&format!("/__emulator/tenants/{DOMAIN}/counters")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counters["tokens_issued"], 1);
    assert_eq!(counters["rotations"], 0);
    assert_eq!(counters["requests_by_endpoint"]["POST /oauth/token"], 1);
    let response = env
        .http
        .get(env.url("/__emulator/tenants/ghost.test/counters"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn admin_handle_adds_tenants_at_run_time_and_shutdown_stops_serving() {
    let env = Env::standard().await;
    let admin = env.emulator.admin();
    admin
        .add_tenant(auth0_emulator::TenantSeed::with_m2m(
            "late.auth0.test",
            "late",
            "late-secret",
            &["read:clients"],
        ))
        .unwrap();
    assert!(
        admin
            .add_tenant(auth0_emulator::TenantSeed::new("late.auth0.test"))
            .is_err()
    );
    let token = env
        .mgmt_token_for("late.auth0.test", "late", "late-secret")
        .await;
    assert!(!token.is_empty());
    assert_eq!(admin.domains(), ["acme.auth0.test", "late.auth0.test"]);
    assert!(admin.counters("ghost.test").is_none());
    assert!(admin.client_secret(DOMAIN, "ghost").is_none());

    let url = env.url("/__emulator/health");
    let Env { emulator, http } = env;
    emulator.shutdown().await;
    let fresh = crate::common::http();
    assert!(
        fresh.get(&url).send().await.is_err(),
        "nothing listens after shutdown"
    );
    drop(http);
}
