//! `/oauth/token` with a Private Key JWT client assertion (RFC 7523): success with each alg and
//! both accepted `aud` forms, and every refusal — wrong aud, expired or too long `exp`, replayed
//! `jti`, wrong `kid`, a disabled or expired credential, a bad signature, a secret for a Private
//! Key JWT client, both methods at once — each with Auth0's OAuth error body.

use serde_json::{Value, json};

use crate::common::{CLIENT_ID, DOMAIN, Env, SECRET};
use crate::pkjwt::{
    ASSERTION_TYPE, assertion_token, create_credential, enable, good_claims, key, now, register,
};

/// A tenant whose standard client has key 0 (RS256) and key 1 (PS256) registered and enabled.
async fn enabled_env() -> (Env, String, [(String, String); 2]) {
    let env = Env::standard().await;
    let token = env.mgmt_token().await;
    let first = register(&env, &token, key(0), "RS256").await;
    let second = register(&env, &token, key(1), "PS256").await;
    let (status, body) = enable(&env, &token, &[&first.0, &second.0]).await;
    assert_eq!(status, 200, "{body}");
    (env, token, [first, second])
}

fn refused(status: u16, body: &Value, expected: &str) {
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client", "{body}");
    let description = body["error_description"]
        .as_str()
        .expect("error_description");
    assert!(description.contains(expected), "{description}");
}

#[tokio::test]
async fn signed_assertions_get_tokens() {
    let (env, _, [(_, kid0), (_, kid1)]) = enabled_env().await;
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid0});
    let (status, body) = assertion_token(&env, &key(0).sign(&header, &good_claims())).await;
    assert_eq!(status, 200, "{body}");
    let claims = env
        .verify_with_jwks(DOMAIN, body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(claims["sub"], format!("{CLIENT_ID}@clients"));

    // PS256 with the token endpoint as aud, no kid (the credential is found by alg), form body
    // and no client_id (RFC 7523: `sub` names the client).
    let mut claims = good_claims();
    claims["aud"] = json!(format!("https://{DOMAIN}/oauth/token"));
    let assertion = key(1).sign(&json!({"alg": "PS256"}), &claims);
    let response = env
        .post(DOMAIN, "/oauth/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
            ("audience", &format!("https://{DOMAIN}/api/v2/")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    // Either enabled key works: that is the overlap rotation relies on.
    let header = json!({"alg": "PS256", "kid": kid1});
    let (status, _) = assertion_token(&env, &key(1).sign(&header, &good_claims())).await;
    assert_eq!(status, 200);
    let token = body["access_token"].as_str().unwrap();
    let (status, _) = env.mgmt_get(token, "/api/v2/clients").await;
    assert_eq!(status, 200, "the token works on the Management API");
}

#[tokio::test]
async fn claim_refusals() {
    let (env, _, [(_, kid0), _]) = enabled_env().await;
    let header = json!({"alg": "RS256", "kid": kid0});
    let sign = |claims: &Value| key(0).sign(&header, claims);
    let now = now();
    let with = |name: &str, value: Value| {
        let mut claims = good_claims();
        claims[name] = value;
        claims
    };
    let without = |name: &str| {
        let mut claims = good_claims();
        claims.as_object_mut().unwrap().remove(name);
        claims
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with("aud", json!("https://other.auth0.test/")),
            "'aud' claim",
        ),
        (
            with("aud", json!(format!("https://{DOMAIN}/api/v2/"))),
            "'aud' claim",
        ),
        (with("exp", json!(now - 5)), "expired"),
        (with("exp", json!(now + 600)), "no more than 5 minutes"),
        (
            {
                let mut c = with("iat", json!(now - 400));
                c["exp"] = json!(now + 10);
                c
            },
            "no more than 5 minutes after 'iat'",
        ),
        (
            with("iat", json!(now + 120)),
            "'iat' claim is in the future",
        ),
        (with("nbf", json!(now + 120)), "not valid yet"),
        (without("exp"), "'exp' claim is required"),
        (without("jti"), "'jti' claim is required"),
        (with("iss", json!("someone-else")), "'iss' and 'sub'"),
        (with("jti", json!("x".repeat(65))), "at most 64 characters"),
    ];
    for (claims, expected) in cases {
        let (status, body) = assertion_token(&env, &sign(&claims)).await;
        refused(status, &body, expected);
    }
    let counters = env.emulator.admin().counters(DOMAIN).unwrap();
    assert_eq!(counters.tokens_issued, 1, "only the setup token");
}

#[tokio::test]
async fn replayed_jti_is_refused() {
    let (env, _, [(_, kid0), _]) = enabled_env().await;
    let assertion = key(0).sign(&json!({"alg": "RS256", "kid": kid0}), &good_claims());
    let (status, _) = assertion_token(&env, &assertion).await;
    assert_eq!(status, 200);
    let (status, body) = assertion_token(&env, &assertion).await;
    refused(status, &body, "'jti' claim has already been used");
}

#[tokio::test]
async fn key_refusals() {
    let (env, token, [(_, kid0), (_, kid1)]) = enabled_env().await;
    // Wrong kid: a kid nobody registered, and key 0's kid on a token signed by key 2.
    let (status, body) = assertion_token(
        &env,
        &key(0).sign(
            &json!({"alg": "RS256", "kid": "unknown-kid-123"}),
            &good_claims(),
        ),
    )
    .await;
    refused(status, &body, "kid");
    let (status, body) = assertion_token(
        &env,
        &key(2).sign(&json!({"alg": "RS256", "kid": kid0}), &good_claims()),
    )
    .await;
    refused(status, &body, "Invalid signature");
    // alg other than the credential's.
    let (status, body) = assertion_token(
        &env,
        &key(1).sign(&json!({"alg": "RS256", "kid": kid1}), &good_claims()),
    )
    .await;
    refused(status, &body, "alg does not match");
    // Unsupported alg in the header.
    let (status, body) = assertion_token(
        &env,
        &key(0).sign(&json!({"alg": "HS256", "kid": kid0}), &good_claims()),
    )
    .await;
    refused(status, &body, "alg is not supported");
    // Tampered payload.
    let good = key(0).sign(&json!({"alg": "RS256", "kid": kid0}), &good_claims());
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut other = good_claims();
    other["jti"] = json!("tampered");
    parts[1] = base64_url(&other.to_string());
    let (status, body) = assertion_token(&env, &parts.join(".")).await;
    refused(status, &body, "Invalid signature");
    let (status, body) = assertion_token(&env, "not.a.jwt").await;
    refused(status, &body, "not a valid signed JWT");

    // A registered but disabled credential.
    let (id2, kid2) = register(&env, &token, key(2), "RS256").await;
    let (status, body) = assertion_token(
        &env,
        &key(2).sign(&json!({"alg": "RS256", "kid": kid2}), &good_claims()),
    )
    .await;
    refused(status, &body, "No enabled credential");
    // Once enabled (replacing key 0) it works, and key 0 is refused.
    let (status, _) = enable(&env, &token, &[&id2]).await;
    assert_eq!(status, 200);
    let (status, _) = assertion_token(
        &env,
        &key(2).sign(&json!({"alg": "RS256", "kid": kid2}), &good_claims()),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = assertion_token(
        &env,
        &key(0).sign(&json!({"alg": "RS256", "kid": kid0}), &good_claims()),
    )
    .await;
    refused(status, &body, "No enabled credential");
}

#[tokio::test]
async fn expired_credential_is_refused() {
    let env = Env::standard().await;
    let token = env.mgmt_token().await;
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, body) = create_credential(
        &env,
        &token,
        json!({"credential_type": "public_key", "pem": key(0).spki_pem(), "expires_at": soon}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (id, kid) = (body["id"].as_str().unwrap(), body["kid"].as_str().unwrap());
    assert_eq!(enable(&env, &token, &[id]).await.0, 200);
    let header = json!({"alg": "RS256", "kid": kid});
    assert_eq!(
        assertion_token(&env, &key(0).sign(&header, &good_claims()))
            .await
            .0,
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = assertion_token(&env, &key(0).sign(&header, &good_claims())).await;
    refused(status, &body, "has expired");
}

#[tokio::test]
async fn secrets_and_assertions_do_not_mix() {
    let (env, _, [(_, kid0), _]) = enabled_env().await;
    // The secret still matches, but the client now authenticates with keys.
    let (status, body) = env
        .token_request(
            DOMAIN,
            json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET,
                   "audience": format!("https://{DOMAIN}/api/v2/")}),
        )
        .await;
    refused(status, &body, "private_key_jwt");
    // A wrong secret learns nothing more than before.
    let (status, body) = env
        .token_request(
            DOMAIN,
            json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "wrong",
                   "audience": format!("https://{DOMAIN}/api/v2/")}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("access_denied"))
    );

    let assertion = key(0).sign(&json!({"alg": "RS256", "kid": kid0}), &good_claims());
    let (status, body) = env
        .token_request(
            DOMAIN,
            json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET,
                   "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion,
                   "audience": format!("https://{DOMAIN}/api/v2/")}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
    let (status, body) = env
        .token_request(
            DOMAIN,
            json!({"grant_type": "client_credentials", "client_id": CLIENT_ID,
                   "client_assertion_type": "urn:other", "client_assertion": assertion,
                   "audience": format!("https://{DOMAIN}/api/v2/")}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = env
        .token_request(
            DOMAIN,
            json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_assertion": assertion,
                   "audience": format!("https://{DOMAIN}/api/v2/")}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("client_assertion_type")
    );
}

#[tokio::test]
async fn assertion_for_a_secret_client_is_refused() {
    let env = Env::standard().await;
    let token = env.mgmt_token().await;
    let (_, kid) = register(&env, &token, key(0), "RS256").await;
    // Registered but never enabled: the client still uses its secret.
    let (status, body) = assertion_token(
        &env,
        &key(0).sign(&json!({"alg": "RS256", "kid": kid}), &good_claims()),
    )
    .await;
    refused(status, &body, "not configured for private_key_jwt");
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}
