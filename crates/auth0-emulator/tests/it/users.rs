//! `/api/v2/users`: get, create (validation, 409) and update (scopes, metadata merge).

use auth0_emulator::{ConnectionSeed, TenantSeed, UserSeed};
use serde_json::{Value, json};

use crate::common::{ALL_SCOPES, CLIENT_ID, DOMAIN, Env, SECRET};

async fn env_with_users() -> Env {
    let mut tenant = TenantSeed::with_m2m(DOMAIN, CLIENT_ID, SECRET, ALL_SCOPES);
    tenant.connections = vec![
        ConnectionSeed {
            name: "Username-Password-Authentication".into(),
            strategy: "auth0".into(),
        },
        ConnectionSeed {
            name: "google-oauth2".into(),
            strategy: "google-oauth2".into(),
        },
    ];
    tenant.users.push(UserSeed {
        user_id: "auth0|seeded".into(),
        email: "seeded@example.com".into(),
        password: "Seeded-Passw0rd".into(),
        app_metadata: Some(
            json!({"plan": "free", "region": "eu"})
                .as_object()
                .expect("object")
                .clone(),
        ),
        ..UserSeed::default()
    });
    Env::start(vec![tenant]).await
}

fn new_user() -> Value {
    json!({"connection": "Username-Password-Authentication", "email": "new@example.com",
           "password": "Str0ng-Password", "user_metadata": {"theme": "dark"}})
}

#[tokio::test]
async fn create_then_get_round_trips_and_duplicates_conflict() {
    let env = env_with_users().await;
    let token = env.mgmt_token().await;
    let (status, created) = env
        .mgmt_send(
            env.post(DOMAIN, "/api/v2/users")
                .bearer_auth(&token)
                .json(&new_user()),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let user_id = created["user_id"].as_str().unwrap();
    assert!(user_id.starts_with("auth0|"));
    assert_eq!(created["email"], "new@example.com");
    assert_eq!(created["email_verified"], false);
    assert_eq!(created["nickname"], "new");
    assert_eq!(
        created["identities"][0]["connection"],
        "Username-Password-Authentication"
    );
    assert_eq!(created["identities"][0]["provider"], "auth0");
    assert_eq!(created["user_metadata"], json!({"theme": "dark"}));
    assert!(
        created.get("password").is_none(),
        "passwords are never returned"
    );

    let encoded = user_id.replace('|', "%7C");
    let (status, got) = env
        .mgmt_get(&token, &format!("/api/v2/users/{encoded}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(got, created);

    let mut duplicate = new_user();
    duplicate["email"] = json!("NEW@example.com");
    let (status, body) = env
        .mgmt_send(
            env.post(DOMAIN, "/api/v2/users")
                .bearer_auth(&token)
                .json(&duplicate),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["message"], "The user already exists.");
    assert_eq!(body["statusCode"], 409);

    let (status, body) = env.mgmt_get(&token, "/api/v2/users/auth0%7Cghost").await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "The user does not exist.");
    assert_eq!(body["errorCode"], "inexistent_user");
}

#[tokio::test]
async fn create_validates_connection_email_and_password() {
    let env = env_with_users().await;
    let token = env.mgmt_token().await;
    let with = |key: &str, value: Value| {
        let mut body = new_user();
        body[key] = value;
        body
    };
    let mut no_connection = new_user();
    no_connection.as_object_mut().unwrap().remove("connection");
    let cases = vec![
        (
            no_connection,
            "Payload validation error: 'Missing required property: connection'.",
        ),
        (
            with("connection", json!("Nope")),
            "The connection does not exist.",
        ),
        (
            with("connection", json!("google-oauth2")),
            "Connection is not a database connection; users must be created through the identity provider.",
        ),
        (
            with("email", json!("not-an-email")),
            "Payload validation error: 'Object didn't pass validation for format email: not-an-email' on property email (The user's email).",
        ),
        (
            with("password", json!("weak")),
            "PasswordStrengthError: Password is too weak",
        ),
        (
            with("surprise", json!(true)),
            "Payload validation error: 'Additional properties not allowed: surprise'.",
        ),
    ];
    for (body, message) in cases {
        let (status, got) = env
            .mgmt_send(
                env.post(DOMAIN, "/api/v2/users")
                    .bearer_auth(&token)
                    .json(&body),
            )
            .await;
        assert_eq!(status, 400, "{body}: {got}");
        assert_eq!(got["message"], message);
    }
}

#[tokio::test]
async fn patch_merges_metadata_and_checks_scopes() {
    let env = env_with_users().await;
    let path = "/api/v2/users/auth0%7Cseeded";

    let app_metadata_only = env
        .token_with_scopes("meta", &["update:users_app_metadata", "read:users"])
        .await;
    let (status, body) = env
        .mgmt_send(
            env.patch(DOMAIN, path)
                .bearer_auth(&app_metadata_only)
                .json(&json!({"app_metadata": {"plan": "pro", "region": null}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["app_metadata"], json!({"plan": "pro"}));

    let (status, body) = env
        .mgmt_send(
            env.patch(DOMAIN, path)
                .bearer_auth(&app_metadata_only)
                .json(&json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["message"],
        "Insufficient scope, expected any of: update:users"
    );

    let token = env.mgmt_token().await;
    let (status, body) = env
        .mgmt_send(env.patch(DOMAIN, path).bearer_auth(&token).json(&json!({
            "name": "Seeded Person", "blocked": true, "user_metadata": {"lang": "fr"}
        })))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Seeded Person");
    assert_eq!(body["blocked"], true);
    assert_eq!(body["app_metadata"], json!({"plan": "pro"}));
    assert_eq!(body["user_metadata"], json!({"lang": "fr"}));

    let (status, body) = env
        .mgmt_send(env.patch(DOMAIN, path).bearer_auth(&token).json(&json!({
            "email": "x@example.com", "password": "An0ther-Password"
        })))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "Cannot update password and email simultaneously"
    );

    let (status, body) = env
        .mgmt_send(
            env.patch(DOMAIN, path)
                .bearer_auth(&token)
                .json(&json!({"email": "changed@example.com"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["email"], "changed@example.com");
    assert_eq!(body["email_verified"], false);

    let (status, body) = env
        .mgmt_send(
            env.patch(DOMAIN, path)
                .bearer_auth(&token)
                .json(&json!({"password": "short"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "PasswordStrengthError: Password is too weak"
    );

    let (status, _) = env
        .mgmt_send(
            env.patch(DOMAIN, "/api/v2/users/auth0%7Cghost")
                .bearer_auth(&token)
                .json(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 404);

    let reader = env.token_with_scopes("reader", &["read:clients"]).await;
    let (status, body) = env.mgmt_get(&reader, path).await;
    assert_eq!(status, 403);
    assert_eq!(
        body["message"],
        "Insufficient scope, expected any of: read:users,read:current_user,read:user_idp_tokens"
    );
}
