//! Many clients on one tenant: 1,000 concurrent token requests give 1,000 valid tokens, and
//! concurrent reads keep working while the secret is being rotated.

use std::sync::Arc;

use serde_json::json;

use crate::common::{CLIENT_ID, DOMAIN, Env, SECRET, verify_jwt};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_token_requests_give_a_thousand_valid_tokens() {
    let env = Arc::new(Env::standard().await);
    let jwks: serde_json::Value = env
        .get(DOMAIN, "/.well-known/jwks.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET,
                      "audience": format!("https://{DOMAIN}/api/v2/")});
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let env = Arc::clone(&env);
        let body = body.clone();
        tasks.spawn(async move { env.token_request(DOMAIN, body).await });
    }
    let mut valid = 0;
    while let Some(result) = tasks.join_next().await {
        let (status, body) = result.unwrap();
        assert_eq!(status, 200, "{body}");
        let claims = verify_jwt(&jwks, body["access_token"].as_str().unwrap()).unwrap();
        assert_eq!(claims["sub"], format!("{CLIENT_ID}@clients"));
        valid += 1;
    }
    assert_eq!(valid, 1000);
    assert_eq!(
        env.emulator.admin().counters(DOMAIN).unwrap().tokens_issued,
        1000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_and_rotations_interleave_safely() {
    let env = Arc::new(Env::standard().await);
    let token = Arc::new(env.mgmt_token().await);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let env = Arc::clone(&env);
        let token = Arc::clone(&token);
        tasks.spawn(async move {
            if i % 20 == 0 {
                let path = format!("/api/v2/clients/{CLIENT_ID}/rotate-secret");
                env.mgmt_send(env.post(DOMAIN, &path).bearer_auth(token.as_str()))
                    .await
                    .0
            } else {
                env.mgmt_get(&token, &format!("/api/v2/clients/{CLIENT_ID}"))
                    .await
                    .0
            }
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    let admin = env.emulator.admin();
    assert_eq!(admin.counters(DOMAIN).unwrap().rotations, 10);
    let current = admin.client_secret(DOMAIN, CLIENT_ID).unwrap();
    let (status, _) = env
        .token_request(DOMAIN, json!({"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                      "client_secret": current, "audience": format!("https://{DOMAIN}/api/v2/")}))
        .await;
    assert_eq!(
        status, 200,
        "the last rotation's secret is the one that works"
    );
}
