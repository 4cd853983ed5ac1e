//! `/api/v2/clients`: listing and paging, field visibility by scope, the scope matrix, 401s,
//! rotate-secret and PATCH `client_secret` (old secret dies at once), grant-type validation,
//! propagation delay and client creation.

use auth0_emulator::{ClientSeed, TenantSeed};
use serde_json::{Value, json};

use crate::common::{ALL_SCOPES, CLIENT_ID, DOMAIN, Env, SECRET};

fn mgmt_aud() -> String {
    format!("https://{DOMAIN}/api/v2/")
}

async fn token_status(env: &Env, client_id: &str, secret: &str) -> u16 {
    env.token_request(
        DOMAIN,
        json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "audience": mgmt_aud()}),
    )
    .await
    .0
}

#[tokio::test]
async fn list_is_a_bare_array_or_a_totals_page() {
    let mut tenant = TenantSeed::with_m2m(DOMAIN, CLIENT_ID, SECRET, ALL_SCOPES);
    for i in 0..5 {
        tenant.clients.push(ClientSeed {
            client_id: format!("web-{i}"),
            app_type: "regular_web".into(),
            is_first_party: i % 2 == 0,
            ..ClientSeed::default()
        });
    }
    let env = Env::start(vec![tenant]).await;
    let token = env.mgmt_token().await;

    let (status, all) = env.mgmt_get(&token, "/api/v2/clients").await;
    assert_eq!(status, 200);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 7, "global + m2m + 5 web");
    assert_eq!(all[0]["name"], "All Applications");
    assert_eq!(all[0]["global"], true);
    assert_eq!(all[1]["client_id"], CLIENT_ID);
    assert_eq!(all[1]["client_secret"], SECRET);

    let (_, page) = env
        .mgmt_get(
            &token,
            "/api/v2/clients?page=1&per_page=3&include_totals=true",
        )
        .await;
    assert_eq!(page["start"], 3);
    assert_eq!(page["limit"], 3);
    assert_eq!(page["total"], 7);
    let ids: Vec<&str> = page["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["web-1", "web-2", "web-3"]);

    let (_, page) = env
        .mgmt_get(&token, "/api/v2/clients?page=5&per_page=3")
        .await;
    assert_eq!(page, json!([]));

    let (_, filtered) = env
        .mgmt_get(
            &token,
            "/api/v2/clients?app_type=regular_web&is_first_party=false",
        )
        .await;
    let ids: Vec<&str> = filtered
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["web-1", "web-3"]);

    let (_, filtered) = env
        .mgmt_get(&token, "/api/v2/clients?app_type=non_interactive,spa")
        .await;
    assert_eq!(filtered.as_array().unwrap().len(), 1);

    let (_, selected) = env
        .mgmt_get(
            &token,
            "/api/v2/clients?fields=client_id,name&include_fields=true",
        )
        .await;
    for client in selected.as_array().unwrap() {
        let keys: Vec<&String> = client.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 2, "{client}");
    }
    let (_, excluded) = env
        .mgmt_get(
            &token,
            "/api/v2/clients?fields=client_secret&include_fields=false",
        )
        .await;
    assert!(
        excluded
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("client_secret").is_none())
    );
    assert!(excluded[1].get("grant_types").is_some());

    for bad in ["per_page=101", "page=-1", "include_totals=maybe"] {
        let (status, body) = env
            .mgmt_get(&token, &format!("/api/v2/clients?{bad}"))
            .await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["errorCode"], "invalid_query_string", "{bad}");
    }
}

#[tokio::test]
async fn visible_fields_depend_on_the_read_scope() {
    let env = Env::standard().await;
    let path = format!("/api/v2/clients/{CLIENT_ID}");

    let summary = env
        .token_with_scopes("summary", &["read:client_summary"])
        .await;
    let (status, body) = env.mgmt_get(&summary, &path).await;
    assert_eq!(status, 200);
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["app_type", "client_id", "name"]);

    let settings = env.token_with_scopes("settings", &["read:clients"]).await;
    let (_, body) = env.mgmt_get(&settings, &path).await;
    assert_eq!(body["grant_types"], json!(["client_credentials"]));
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(body["tenant"], "acme");
    assert!(body.get("client_secret").is_none());

    let credentials = env
        .token_with_scopes("credentials", &["read:client_credentials"])
        .await;
    let (_, body) = env.mgmt_get(&credentials, &path).await;
    assert_eq!(body["client_secret"], SECRET);
    assert!(body.get("grant_types").is_none());

    let keys_scope = env.token_with_scopes("keys", &["read:client_keys"]).await;
    let (_, body) = env.mgmt_get(&keys_scope, &path).await;
    assert_eq!(body["client_secret"], SECRET);
    assert_eq!(body["app_type"], "non_interactive");
    assert_eq!(body["is_first_party"], true);

    let (status, body) = env.mgmt_get(&keys_scope, "/api/v2/clients/ghost").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"statusCode": 404, "error": "Not Found", "message": "The client does not exist", "errorCode": "inexistent_client"})
    );
}

#[tokio::test]
async fn scope_matrix_answers_auth0s_403() {
    let env = Env::standard().await;
    let token = env.token_with_scopes("users-only", &["read:users"]).await;
    let client_path = format!("/api/v2/clients/{CLIENT_ID}");
    let requests: Vec<(reqwest::RequestBuilder, &str)> = vec![
        (
            env.get(DOMAIN, "/api/v2/clients"),
            "read:clients,read:client_keys,read:client_credentials,read:client_summary",
        ),
        (
            env.get(DOMAIN, &client_path),
            "read:clients,read:client_keys,read:client_credentials,read:client_summary",
        ),
        (
            env.post(DOMAIN, &format!("{client_path}/rotate-secret")),
            "update:client_keys",
        ),
        (
            env.patch(DOMAIN, &client_path).json(&json!({"name": "x"})),
            "update:clients,update:client_keys",
        ),
        (
            env.post(DOMAIN, "/api/v2/clients")
                .json(&json!({"name": "x"})),
            "create:clients",
        ),
        (
            env.post(DOMAIN, "/api/v2/resource-servers")
                .json(&json!({"identifier": "x"})),
            "create:resource_servers",
        ),
        (
            env.get(DOMAIN, "/api/v2/resource-servers"),
            "read:resource_servers",
        ),
        (
            env.get(DOMAIN, "/api/v2/client-grants"),
            "read:client_grants",
        ),
        (
            env.post(DOMAIN, "/api/v2/users").json(&json!({})),
            "create:users",
        ),
        (
            env.patch(DOMAIN, "/api/v2/users/auth0%7Cx")
                .json(&json!({})),
            "update:users,update:users_app_metadata,update:current_user_metadata",
        ),
    ];
    for (request, expected) in requests {
        let (status, body) = env.mgmt_send(request.bearer_auth(&token)).await;
        assert_eq!(status, 403, "{expected}: {body}");
        assert_eq!(
            body,
            json!({"statusCode": 403, "error": "Forbidden",
                   "message": format!("Insufficient scope, expected any of: {expected}"),
                   "errorCode": "insufficient_scope"})
        );
    }
}

#[tokio::test]
async fn bad_tokens_get_auth0s_401() {
    let mut tenant = TenantSeed::with_m2m(DOMAIN, CLIENT_ID, SECRET, &["read:clients"]);
    // 2 s, not 1: a token issued late in a second must still be valid for the first call.
    tenant.token_lifetime_secs = 2;
    let env = Env::start(vec![tenant]).await;
    let token = env.mgmt_token().await;
    let (status, _) = env.mgmt_get(&token, "/api/v2/clients").await;
    assert_eq!(status, 200);

    let (status, body) = env.mgmt_send(env.get(DOMAIN, "/api/v2/clients")).await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Missing authentication");

    let (status, body) = env
        .mgmt_send(
            env.get(DOMAIN, "/api/v2/clients")
                .header("authorization", "Token abc"),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "Bad HTTP authentication header format");

    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    for bad in ["not-a-jwt", "a.b.c", forged.as_str()] {
        let (status, body) = env.mgmt_get(bad, "/api/v2/clients").await;
        assert_eq!(status, 401, "{bad}");
        assert_eq!(
            body,
            json!({"statusCode": 401, "error": "Unauthorized", "message": "Invalid token", "attributes": {"error": "Invalid token"}})
        );
    }

    // `exp` = whole-second `iat` + 2, so 3 s later it has passed whatever the start.
    tokio::time::sleep(std::time::Duration::from_millis(3050)).await;
    let (status, body) = env.mgmt_get(&token, "/api/v2/clients").await;
    assert_eq!(status, 401);
    assert_eq!(
        body["message"],
        "Expired token received for JSON Web Token validation"
    );
    assert_eq!(
        body["attributes"]["error"],
        "Expired token received for JSON Web Token validation"
    );
}

#[tokio::test]
async fn rotate_secret_replaces_the_one_secret_at_once() {
    let env = Env::standard().await;
    let token = env.mgmt_token().await;
    let (status, body) = env
        .mgmt_send(
            env.post(
                DOMAIN,
                &format!("/api/v2/clients/{CLIENT_ID}/rotate-secret"),
            )
            .bearer_auth(&token),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let new_secret = body["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(new_secret.len(), 64);
    assert!(
        new_secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(body["client_id"], CLIENT_ID);
    assert_eq!(body["grant_types"], json!(["client_credentials"]));

    assert_eq!(
        token_status(&env, CLIENT_ID, SECRET).await,
        401,
        "old secret dies at once"
    );
    assert_eq!(token_status(&env, CLIENT_ID, &new_secret).await, 200);
    let admin = env.emulator.admin();
    assert_eq!(
        admin.client_secret(DOMAIN, CLIENT_ID).as_deref(),
        Some(new_secret.as_str())
    );
    assert_eq!(admin.counters(DOMAIN).unwrap().rotations, 1);
    // The Management token issued before the rotation stays valid until it expires, as in Auth0.
    let (status, _) = env.mgmt_get(&token, "/api/v2/clients").await;
    assert_eq!(status, 200);

    let (status, body) = env
        .mgmt_send(
            env.post(DOMAIN, "/api/v2/clients/ghost/rotate-secret")
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["errorCode"], "inexistent_client");
}

#[tokio::test]
async fn patch_client_secret_needs_update_client_keys() {
    let env = Env::standard().await;
    let path = format!("/api/v2/clients/{CLIENT_ID}");
    let clients_only = env.token_with_scopes("updater", &["update:clients"]).await;
    let (status, body) = env
        .mgmt_send(
            env.patch(DOMAIN, &path)
                .bearer_auth(&clients_only)
                .json(&json!({"client_secret": "x".repeat(48)})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["message"],
        "Insufficient scope, expected any of: update:client_keys"
    );
    assert_eq!(
        token_status(&env, CLIENT_ID, SECRET).await,
        200,
        "nothing changed"
    );

    // update:clients alone may still rename.
    let (status, body) = env
        .mgmt_send(
            env.patch(DOMAIN, &path)
                .bearer_auth(&clients_only)
                .json(&json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], "Renamed");
    assert!(body.get("client_secret").is_none());

    let keys = env.mgmt_token().await;
    let generated = "G".repeat(24) + &"h".repeat(24);
    let (status, body) = env
        .mgmt_send(
            env.patch(DOMAIN, &path)
                .bearer_auth(&keys)
                .json(&json!({"client_secret": generated})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["client_secret"], generated.as_str());
    assert_eq!(token_status(&env, CLIENT_ID, SECRET).await, 401);
    assert_eq!(token_status(&env, CLIENT_ID, &generated).await, 200);

    // Idempotent: the same PATCH again leaves the same secret working.
    let (status, _) = env
        .mgmt_send(
            env.patch(DOMAIN, &path)
                .bearer_auth(&keys)
                .json(&json!({"client_secret": generated})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(token_status(&env, CLIENT_ID, &generated).await, 200);
    assert_eq!(env.emulator.admin().counters(DOMAIN).unwrap().rotations, 2);
}

#[tokio::test]
async fn patch_validates_like_auth0() {
    let env = Env::standard().await;
    let token = env.mgmt_token().await;
    let path = format!("/api/v2/clients/{CLIENT_ID}");
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"token_endpoint_auth_method": "none"}),
            "Invalid grant types: client_credentials",
        ),
        (
            json!({"grant_types": ["client_credentials", "passwordless"]}),
            "Invalid grant types: passwordless",
        ),
        (
            json!({"name": 7}),
            "Payload validation error: 'Expected type string but found type number' on property name.",
        ),
        (
            json!({"name": ""}),
            "Payload validation error: 'String is too short (0 chars), minimum 1' on property name.",
        ),
        (
            json!({"client_id": "new"}),
            "Payload validation error: 'Additional properties not allowed: client_id'.",
        ),
        (
            json!({"app_type": "robot"}),
            "Payload validation error: 'No enum match for: \"robot\"' on property app_type.",
        ),
    ];
    for (body, message) in cases {
        let (status, got) = env
            .mgmt_send(env.patch(DOMAIN, &path).bearer_auth(&token).json(&body))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(got["message"], message, "{body}");
        assert_eq!(got["errorCode"], "invalid_body");
    }
    let (status, _) = env
        .mgmt_send(
            env.patch(DOMAIN, &path)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{oops"),
        )
        .await;
    assert_eq!(status, 400);

    // Switching to a public client together with dropping client_credentials is valid.
    let (status, body) = env
        .mgmt_send(env.patch(DOMAIN, &path).bearer_auth(&token).json(
            &json!({"grant_types": ["authorization_code"], "token_endpoint_auth_method": "none", "callbacks": ["https://app/cb"]}),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["grant_types"], json!(["authorization_code"]));
    assert_eq!(body["callbacks"], json!(["https://app/cb"]));
    let (status, body) = env
        .token_request(
            DOMAIN,
            json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET, "audience": mgmt_aud()}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "unauthorized_client");

    let (status, body) = env
        .mgmt_send(
            env.patch(DOMAIN, "/api/v2/clients/ghost")
                .bearer_auth(&token)
                .json(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["errorCode"], "inexistent_client");
}

#[tokio::test]
async fn new_secret_waits_for_the_propagation_delay() {
    let mut tenant = TenantSeed::with_m2m(DOMAIN, CLIENT_ID, SECRET, ALL_SCOPES);
    tenant.secret_propagation_delay_ms = 1000;
    let env = Env::start(vec![tenant]).await;
    let token = env.mgmt_token().await;
    let (_, body) = env
        .mgmt_send(
            env.post(
                DOMAIN,
                &format!("/api/v2/clients/{CLIENT_ID}/rotate-secret"),
            )
            .bearer_auth(&token),
        )
        .await;
    let new_secret = body["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        token_status(&env, CLIENT_ID, &new_secret).await,
        401,
        "not yet propagated"
    );
    assert_eq!(
        token_status(&env, CLIENT_ID, SECRET).await,
        401,
        "old secret already dead"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1050)).await;
    assert_eq!(token_status(&env, CLIENT_ID, &new_secret).await, 200);
}

#[tokio::test]
async fn create_client_returns_201_with_generated_credentials() {
    let env = Env::standard().await;
    let token = env.mgmt_token().await;
    let (status, body) = env
        .mgmt_send(
            env.post(DOMAIN, "/api/v2/clients")
                .bearer_auth(&token)
                .json(&json!({
                    "name": "Billing worker", "app_type": "non_interactive", "description": "bills"
                })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["client_id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert_eq!(body["client_secret"].as_str().unwrap().len(), 64);
    assert_eq!(body["grant_types"], json!(["client_credentials"]));
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_post");
    let (status, got) = env.mgmt_get(&token, &format!("/api/v2/clients/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["description"], "bills");

    let (status, body) = env
        .mgmt_send(
            env.post(DOMAIN, "/api/v2/clients")
                .bearer_auth(&token)
                .json(&json!({"app_type": "spa"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "Payload validation error: 'Missing required property: name'."
    );

    let (status, body) = env
        .mgmt_send(
            env.post(DOMAIN, "/api/v2/clients")
                .bearer_auth(&token)
                .json(&json!({
                    "name": "SPA", "app_type": "spa", "grant_types": ["client_credentials"]
                })),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "Invalid grant types: client_credentials");

    // A resource-server client needs an existing API.
    let (status, _) = env
        .mgmt_send(env.post(DOMAIN, "/api/v2/clients").bearer_auth(&token).json(&json!({
            "name": "RS", "app_type": "resource_server", "resource_server_identifier": "https://missing"
        })))
        .await;
    assert_eq!(status, 404);
    let (status, _) = env
        .mgmt_send(
            env.post(DOMAIN, "/api/v2/resource-servers")
                .bearer_auth(&token)
                .json(&json!({
                    "identifier": "https://orders.example", "name": "Orders"
                })),
        )
        .await;
    assert_eq!(status, 201);
    let (status, body) = env
        .mgmt_send(env.post(DOMAIN, "/api/v2/clients").bearer_auth(&token).json(&json!({
            "name": "RS", "app_type": "resource_server", "resource_server_identifier": "https://orders.example"
        })))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["resource_server_identifier"], "https://orders.example");
    assert_eq!(body["app_type"], "resource_server");
}
