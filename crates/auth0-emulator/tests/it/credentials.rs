//! `/api/v2/clients/{id}/credentials` and `client_authentication_methods`: every route, its
//! scope, and every refusal (malformed PEM, a private key, unsupported alg, bad kid, a third
//! enabled credential, deleting an enabled credential, rotate-secret on a Private Key JWT app).
//! A refused request changes nothing.

use serde_json::{Value, json};

use crate::common::{CLIENT_ID, DOMAIN, Env};
use crate::pkjwt::{create_credential, enable, key, register};

fn path(suffix: &str) -> String {
    format!("/api/v2/clients/{CLIENT_ID}/credentials{suffix}")
}

async fn list(env: &Env, token: &str) -> Vec<Value> {
    let (status, body) = env.mgmt_get(token, &path("")).await;
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("a list").clone()
}

#[tokio::test]
async fn create_list_get_patch_delete() {
    let env = Env::standard().await;
    let token = env.mgmt_token().await;

    let (status, created) = create_credential(
        &env,
        &token,
        json!({"credential_type": "public_key", "name": "orders key", "pem": key(0).spki_pem(),
               "alg": "PS256", "expires_at": "2099-01-01T00:00:00.000Z"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("cred_"), "{id}");
    assert_eq!(created["name"], "orders key");
    assert_eq!(created["alg"], "PS256");
    assert_eq!(created["credential_type"], "public_key");
    assert_eq!(created["expires_at"], "2099-01-01T00:00:00.000Z");
    // Derived kid: the RFC 7638 thumbprint, within Auth0's pattern.
    let kid = created["kid"].as_str().unwrap();
    assert_eq!(kid.len(), 43);
    assert!(created.get("pem").is_none(), "the PEM is never returned");

    // PKCS#1 of another key, with the caller's kid; alg defaults to RS256.
    let (status, second) = create_credential(
        &env,
        &token,
        json!({"credential_type": "public_key", "pem": key(1).pkcs1_pem(), "kid": "my-key-0001"}),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["kid"], "my-key-0001");
    assert_eq!(second["alg"], "RS256");
    assert!(second.get("expires_at").is_none());

    let all = list(&env, &token).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], created);

    let (status, one) = env.mgmt_get(&token, &path(&format!("/{id}"))).await;
    assert_eq!(status, 200);
    assert_eq!(one, created);

    let (status, patched) = env
        .mgmt_send(
            env.patch(DOMAIN, &path(&format!("/{id}")))
                .bearer_auth(&token)
                .json(&json!({"expires_at": "2098-06-01T12:00:00Z"})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["expires_at"], "2098-06-01T12:00:00.000Z");
    let (status, cleared) = env
        .mgmt_send(
            env.patch(DOMAIN, &path(&format!("/{id}")))
                .bearer_auth(&token)
                .json(&json!({"expires_at": null})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(cleared.get("expires_at").is_none());
    let (status, body) = env
        .mgmt_send(
            env.patch(DOMAIN, &path(&format!("/{id}")))
                .bearer_auth(&token)
                .json(&json!({"alg": "RS384"})),
        )
        .await;
    assert_eq!(status, 400, "only expires_at may change: {body}");

    let response = env
        .delete(DOMAIN, &path(&format!("/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(list(&env, &token).await.len(), 1);
    let (status, body) = env.mgmt_get(&token, &path(&format!("/{id}"))).await;
    assert_eq!(status, 404);
    assert_eq!(body["errorCode"], "inexistent_client_credential");

    let (status, body) = env
        .mgmt_get(&token, "/api/v2/clients/nobody/credentials")
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["errorCode"], "inexistent_client");
}

#[tokio::test]
async fn every_route_needs_its_own_scope() {
    let env = Env::standard().await;
    let admin_token = env.mgmt_token().await;
    let (id, _) = register(&env, &admin_token, key(0), "RS256").await;
    // A token with every client scope except the credential ones.
    let token = env
        .token_with_scopes(
            "scopeless",
            &[
                "read:clients",
                "read:client_keys",
                "update:clients",
                "update:client_keys",
            ],
        )
        .await;
    let one = path(&format!("/{id}"));
    let body = json!({"credential_type": "public_key", "pem": key(1).spki_pem()});
    let cases = [
        (
            env.post(DOMAIN, &path("")).json(&body),
            "create:client_credentials",
        ),
        (env.get(DOMAIN, &path("")), "read:client_credentials"),
        (env.get(DOMAIN, &one), "read:client_credentials"),
        (
            env.patch(DOMAIN, &one).json(&json!({"expires_at": null})),
            "update:client_credentials",
        ),
        (env.delete(DOMAIN, &one), "delete:client_credentials"),
    ];
    for (request, scope) in cases {
        let (status, answer) = env.mgmt_send(request.bearer_auth(&token)).await;
        assert_eq!(status, 403, "{answer}");
        assert_eq!(answer["errorCode"], "insufficient_scope");
        assert_eq!(
            answer["message"],
            format!("Insufficient scope, expected any of: {scope}")
        );
    }
    let (status, _) = env
        .mgmt_send(env.get(DOMAIN, &path("")).bearer_auth("not-a-token"))
        .await;
    assert_eq!(status, 401);
    assert_eq!(list(&env, &admin_token).await.len(), 1, "nothing changed");
}

#[tokio::test]
async fn bad_credentials_are_refused_without_echo() {
    let env = Env::standard().await;
    let token = env.mgmt_token().await;
    let private_pem = key(0).private_pem();
    let secret_line = private_pem.lines().nth(3).unwrap().to_owned();
    let cases = [
        (
            json!({"credential_type": "public_key", "pem": "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----"}),
            "RSA public key",
        ),
        (
            json!({"credential_type": "public_key", "pem": "hello"}),
            "not a valid PEM",
        ),
        (
            json!({"credential_type": "public_key", "pem": private_pem}),
            "a private key was sent",
        ),
        (
            json!({"credential_type": "public_key", "pem": key(0).spki_pem(), "alg": "HS256"}),
            "No enum match",
        ),
        (
            json!({"credential_type": "public_key", "pem": key(0).spki_pem(), "alg": "ES256"}),
            "No enum match",
        ),
        (
            json!({"credential_type": "public_key", "pem": key(0).spki_pem(), "kid": "short"}),
            "does not match pattern",
        ),
        (
            json!({"credential_type": "public_key", "pem": key(0).spki_pem(), "expires_at": "yesterday"}),
            "date-time",
        ),
        (
            json!({"credential_type": "public_key", "pem": key(0).spki_pem(), "expires_at": "2001-01-01T00:00:00Z"}),
            "in the future",
        ),
        (
            json!({"credential_type": "public_key"}),
            "Missing required property: pem",
        ),
        (
            json!({"credential_type": "password", "pem": key(0).spki_pem()}),
            "No enum match",
        ),
        (
            json!({"credential_type": "public_key", "pem": key(0).spki_pem(), "extra": 1}),
            "Additional properties not allowed",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = create_credential(&env, &token, body.clone()).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["errorCode"], "invalid_body");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
        assert!(!message.contains(&secret_line), "no key material echoed");
    }
    // A kid already used by this client.
    register(&env, &token, key(0), "RS256").await;
    let (status, answer) = create_credential(
        &env,
        &token,
        json!({"credential_type": "public_key", "pem": key(0).spki_pem()}),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(list(&env, &token).await.len(), 1, "refusals added nothing");
}

#[tokio::test]
async fn enabling_switches_the_client_to_private_key_jwt() {
    let env = Env::standard().await;
    let token = env.mgmt_token().await;
    let (a, _) = register(&env, &token, key(0), "RS256").await;
    let (b, _) = register(&env, &token, key(1), "RS256").await;
    let (c, _) = register(&env, &token, key(2), "RS256").await;

    let (status, client) = enable(&env, &token, &[&a, &b]).await;
    assert_eq!(status, 200, "{client}");
    assert_eq!(client["token_endpoint_auth_method"], Value::Null);
    assert_eq!(
        client["client_authentication_methods"],
        json!({"private_key_jwt": {"credentials": [{"id": a}, {"id": b}]}})
    );
    // The test-only view agrees, in-process and over HTTP.
    let state = env
        .emulator
        .admin()
        .client_credentials(DOMAIN, CLIENT_ID)
        .expect("client");
    let enabled: Vec<(&str, bool)> = state.iter().map(|c| (c.id.as_str(), c.enabled)).collect();
    assert_eq!(
        enabled,
        [(a.as_str(), true), (b.as_str(), true), (c.as_str(), false)]
    );
    let over_http: Value = env
        .http
        .get(env.url(&format!(
            "/__emulator/tenants/{DOMAIN}/clients/{CLIENT_ID}/credentials"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http[0]["enabled"], true);
    assert_eq!(over_http[2]["enabled"], false);

    // A third credential, an unknown one, duplicates: refused, nothing changes.
    let (status, answer) = enable(&env, &token, &[&a, &b, &c]).await;
    assert_eq!(status, 400);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("Array is too long (3), maximum 2"),
        "{answer}"
    );
    let (status, answer) = enable(&env, &token, &[&a, "cred_nope"]).await;
    assert_eq!(status, 404, "{answer}");
    let (status, _) = enable(&env, &token, &[&a, &a]).await;
    assert_eq!(status, 400);
    let (status, _) = enable(&env, &token, &[]).await;
    assert_eq!(status, 400);
    let (_, client) = env
        .mgmt_get(&token, &format!("/api/v2/clients/{CLIENT_ID}"))
        .await;
    assert_eq!(
        client["client_authentication_methods"]["private_key_jwt"]["credentials"],
        json!([{"id": a}, {"id": b}])
    );

    // An enabled credential cannot be deleted; once disabled it can.
    let (status, answer) = env
        .mgmt_send(
            env.delete(DOMAIN, &path(&format!("/{a}")))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errorCode"], "credential_in_use");
    let (status, _) = enable(&env, &token, &[&b]).await;
    assert_eq!(status, 200);
    let response = env
        .delete(DOMAIN, &path(&format!("/{a}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);

    // No secret to rotate while assertions are in charge; a secret method cannot be set.
    let (status, answer) = env
        .mgmt_send(
            env.post(
                DOMAIN,
                &format!("/api/v2/clients/{CLIENT_ID}/rotate-secret"),
            )
            .bearer_auth(&token),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("private_key_jwt")
    );
    let (status, _) = env
        .mgmt_send(
            env.patch(DOMAIN, &format!("/api/v2/clients/{CLIENT_ID}"))
                .bearer_auth(&token)
                .json(&json!({"token_endpoint_auth_method": "client_secret_post"})),
        )
        .await;
    assert_eq!(status, 400);

    // `null` switches back to the secret.
    let (status, client) = env
        .mgmt_send(
            env.patch(DOMAIN, &format!("/api/v2/clients/{CLIENT_ID}"))
                .bearer_auth(&token)
                .json(&json!({"client_authentication_methods": null, "token_endpoint_auth_method": "client_secret_post"})),
        )
        .await;
    assert_eq!(status, 200, "{client}");
    assert_eq!(client["token_endpoint_auth_method"], "client_secret_post");
    assert!(client.get("client_authentication_methods").is_none());
    let (status, _) = env
        .mgmt_send(
            env.post(
                DOMAIN,
                &format!("/api/v2/clients/{CLIENT_ID}/rotate-secret"),
            )
            .bearer_auth(&token),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn credential_calls_are_counted_per_endpoint() {
    let env = Env::standard().await;
    let token = env.mgmt_token().await;
    register(&env, &token, key(0), "RS256").await;
    list(&env, &token).await;
    let counters = env.emulator.admin().counters(DOMAIN).unwrap();
    assert_eq!(
        counters.requests_by_endpoint["POST /api/v2/clients/{id}/credentials"],
        1
    );
    assert_eq!(
        counters.requests_by_endpoint["GET /api/v2/clients/{id}/credentials"],
        1
    );
}
