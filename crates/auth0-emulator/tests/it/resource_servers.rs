//! `/api/v2/resource-servers` and `/api/v2/client-grants`.

use serde_json::json;

use crate::common::{CLIENT_ID, DOMAIN, Env};

#[tokio::test]
async fn create_list_and_conflict() {
    let env = Env::standard().await;
    let token = env.mgmt_token().await;
    let body = json!({
        "identifier": "https://orders.example",
        "name": "Orders",
        "scopes": [{"value": "read:orders", "description": "Read orders"}, {"value": "write:orders"}],
        "token_lifetime": 7200
    });
    let (status, created) = env
        .mgmt_send(
            env.post(DOMAIN, "/api/v2/resource-servers")
                .bearer_auth(&token)
                .json(&body),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["identifier"], "https://orders.example");
    assert_eq!(
        created["scopes"][0],
        json!({"value": "read:orders", "description": "Read orders"})
    );
    assert_eq!(created["signing_alg"], "RS256");
    assert_eq!(created["token_lifetime"], 7200);
    assert_eq!(created["is_system"], false);
    assert!(created["id"].is_string());

    let (status, conflict) = env
        .mgmt_send(
            env.post(DOMAIN, "/api/v2/resource-servers")
                .bearer_auth(&token)
                .json(&body),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(conflict["statusCode"], 409);
    assert_eq!(conflict["error"], "Conflict");

    for (bad, why) in [
        (json!({"name": "x"}), "missing identifier"),
        (
            json!({"identifier": "https://x", "scopes": [{"description": "no value"}]}),
            "scope without value",
        ),
        (
            json!({"identifier": "https://x", "signing_alg": "none"}),
            "bad alg",
        ),
        (
            json!({"identifier": "https://x", "surprise": 1}),
            "unknown field",
        ),
    ] {
        let (status, body) = env
            .mgmt_send(
                env.post(DOMAIN, "/api/v2/resource-servers")
                    .bearer_auth(&token)
                    .json(&bad),
            )
            .await;
        assert_eq!(status, 400, "{why}: {body}");
        assert_eq!(body["errorCode"], "invalid_body", "{why}");
    }

    let (status, list) = env.mgmt_get(&token, "/api/v2/resource-servers").await;
    assert_eq!(status, 200);
    let identifiers: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(
        identifiers,
        [
            format!("https://{DOMAIN}/api/v2/").as_str(),
            "https://orders.example"
        ]
    );
    assert_eq!(list[0]["is_system"], true);
}

#[tokio::test]
async fn client_grants_list_filters() {
    let env = Env::standard().await;
    let token = env.mgmt_token().await;
    let (status, grants) = env
        .mgmt_get(
            &token,
            &format!("/api/v2/client-grants?client_id={CLIENT_ID}"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(grants.as_array().unwrap().len(), 1);
    assert_eq!(grants[0]["audience"], format!("https://{DOMAIN}/api/v2/"));
    assert!(
        grants[0]["scope"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "update:client_keys")
    );
    assert!(grants[0]["id"].as_str().unwrap().starts_with("cgr_"));
    let (_, none) = env
        .mgmt_get(&token, "/api/v2/client-grants?audience=https://elsewhere")
        .await;
    assert_eq!(none, json!([]));
}
