//! `POST /oauth/token`: success in every accepted encoding, the JWT and JWKS, and each of
//! Auth0's error answers.

use auth0_emulator::{ClientSeed, GrantSeed, ResourceServerSeed, ScopeSeed, TenantSeed};
use base64::Engine as _;
use serde_json::json;

use crate::common::{ALL_SCOPES, CLIENT_ID, DOMAIN, Env, SECRET, now_secs};

fn mgmt_aud() -> String {
    format!("https://{DOMAIN}/api/v2/")
}

#[tokio::test]
async fn json_body_issues_a_verifiable_auth0_shaped_jwt() {
    let env = Env::standard().await;
    let response = env
        .post(DOMAIN, "/oauth/token")
        .json(
            &json!({"grant_type": "client_credentials", "client_id": CLIENT_ID,
                      "client_secret": SECRET, "audience": mgmt_aud()}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 86_400);
    assert_eq!(body["scope"], ALL_SCOPES.join(" "));

    let token = body["access_token"].as_str().unwrap();
    let header = crate::common::decode_segment(token.split('.').next().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert!(header["kid"].is_string());
    let claims = env.verify_with_jwks(DOMAIN, token).await;
    assert_eq!(claims["iss"], format!("https://{DOMAIN}/"));
    assert_eq!(claims["sub"], format!("{CLIENT_ID}@clients"));
    assert_eq!(claims["aud"], mgmt_aud());
    assert_eq!(claims["gty"], "client-credentials");
    assert_eq!(claims["azp"], CLIENT_ID);
    assert_eq!(claims["scope"], ALL_SCOPES.join(" "));
    let iat = claims["iat"].as_u64().unwrap();
    assert!(iat.abs_diff(now_secs()) <= 2);
    assert_eq!(claims["exp"].as_u64().unwrap() - iat, 86_400);
}

#[tokio::test]
async fn form_body_and_basic_auth_are_accepted() {
    let env = Env::standard().await;
    let aud = mgmt_aud();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", SECRET),
        ("audience", aud.as_str()),
    ];
    let response = env
        .post(DOMAIN, "/oauth/token")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"));
    let response = env
        .post(DOMAIN, "/oauth/token")
        .header("authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("audience", aud.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Host with a port, as an HTTP client adds when it talks to a non-default port.
    let response = env
        .post(&format!("{DOMAIN}:8443"), "/oauth/token")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn expires_in_follows_the_tenant_setting_and_scope_narrows() {
    let mut tenant =
        TenantSeed::with_m2m(DOMAIN, CLIENT_ID, SECRET, &["read:clients", "read:users"]);
    tenant.token_lifetime_secs = 600;
    let env = Env::start(vec![tenant]).await;
    let (status, body) = env
        .token_request(
            DOMAIN,
            json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET,
                   "audience": mgmt_aud(), "scope": "read:users"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "read:users");
    let claims = env
        .verify_with_jwks(DOMAIN, body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(claims["scope"], "read:users");

    let (status, body) = env
        .token_request(
            DOMAIN,
            json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET,
                   "audience": mgmt_aud(), "scope": "read:users delete:users"}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "access_denied");
    assert_eq!(
        body["error_description"],
        "Client has not been granted scopes: delete:users"
    );
}

#[tokio::test]
async fn custom_api_audience_uses_its_grant_and_lifetime() {
    let mut tenant = TenantSeed::with_m2m(DOMAIN, CLIENT_ID, SECRET, &[]);
    tenant.resource_servers.push(ResourceServerSeed {
        identifier: "https://orders.example".into(),
        name: "Orders".into(),
        scopes: vec![ScopeSeed::Value("read:orders".into())],
        token_lifetime: Some(3600),
    });
    tenant.grants.push(GrantSeed {
        client_id: CLIENT_ID.into(),
        audience: "https://orders.example".into(),
        scopes: vec!["read:orders".into()],
    });
    let env = Env::start(vec![tenant]).await;
    let (status, body) = env
        .token_request(
            DOMAIN,
            json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET,
                   "audience": "https://orders.example"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap().to_owned();
    let claims = env.verify_with_jwks(DOMAIN, &token).await;
    assert_eq!(claims["aud"], "https://orders.example");

    // A token for another API is not a Management API token.
    let (status, body) = env.mgmt_get(&token, "/api/v2/clients").await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Bad audience: https://orders.example");
}

#[tokio::test]
async fn auth0_error_answers() {
    let mut tenant = TenantSeed::with_m2m(DOMAIN, CLIENT_ID, SECRET, &["read:clients"]);
    tenant.clients.push(ClientSeed {
        client_id: "spa-client".into(),
        client_secret: "spa-secret".into(),
        app_type: "regular_web".into(),
        grant_types: vec!["authorization_code".into()],
        ..ClientSeed::default()
    });
    tenant
        .clients
        .push(ClientSeed::m2m("no-grant", "no-grant-secret"));
    let env = Env::start(vec![tenant]).await;
    let base = |id: &str, secret: &str| json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret, "audience": mgmt_aud()});
    let cases = vec![
        (
            "wrong secret",
            base(CLIENT_ID, "nope"),
            401,
            "access_denied",
            "Unauthorized".to_owned(),
        ),
        (
            "unknown client",
            base("ghost", SECRET),
            401,
            "access_denied",
            "Unauthorized".to_owned(),
        ),
        (
            "no grant",
            base("no-grant", "no-grant-secret"),
            403,
            "access_denied",
            format!(
                "Client is not authorized to access \"{}\". You need to create a \"client-grant\" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants",
                mgmt_aud()
            ),
        ),
        (
            "unknown audience",
            json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET, "audience": "https://nowhere"}),
            403,
            "access_denied",
            "Service not enabled within domain: https://nowhere".to_owned(),
        ),
        (
            "grant type not enabled on the client",
            base("spa-client", "spa-secret"),
            403,
            "unauthorized_client",
            "Grant type 'client_credentials' not allowed for the client.".to_owned(),
        ),
        (
            "unsupported grant type",
            json!({"grant_type": "magic", "client_id": CLIENT_ID, "client_secret": SECRET}),
            403,
            "unsupported_grant_type",
            "Unsupported grant type: magic".to_owned(),
        ),
        (
            "missing audience (no tenant default audience)",
            json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET}),
            403,
            "access_denied",
            "Non-global clients are not allowed access to APIv1".to_owned(),
        ),
        (
            "missing grant_type",
            json!({"client_id": CLIENT_ID}),
            400,
            "invalid_request",
            "Missing required parameter: grant_type".to_owned(),
        ),
        (
            "missing client_id",
            json!({"grant_type": "client_credentials"}),
            400,
            "invalid_request",
            "Missing required parameter: client_id".to_owned(),
        ),
    ];
    for (name, body, status, error, description) in cases {
        let (got_status, got) = env.token_request(DOMAIN, body).await;
        assert_eq!(got_status, status, "{name}: {got}");
        assert_eq!(got["error"], error, "{name}: {got}");
        assert_eq!(got["error_description"], description.as_str(), "{name}");
    }
    let (_, body) = env
        .token_request(DOMAIN, base("spa-client", "spa-secret"))
        .await;
    assert_eq!(
        body["error_uri"],
        "https://auth0.com/docs/clients/client-grant-types"
    );

    let response = env
        .post(DOMAIN, "/oauth/token")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    let counters = env.emulator.admin().counters(DOMAIN).unwrap();
    assert_eq!(counters.tokens_issued, 0);
    assert_eq!(counters.token_failures, 11);
    assert_eq!(counters.requests_by_endpoint["POST /oauth/token"], 11);
}

#[tokio::test]
async fn unknown_host_gets_404_and_tenants_are_isolated() {
    let env = Env::start(vec![
        TenantSeed::with_m2m(DOMAIN, CLIENT_ID, SECRET, &["read:clients"]),
        TenantSeed::with_m2m(
            "other.auth0.test",
            "other",
            "other-secret",
            &["read:clients"],
        ),
    ])
    .await;
    let response = env
        .post("nope.auth0.test", "/oauth/token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["statusCode"], 404);
    assert_eq!(body["error"], "Not Found");

    // A client of one tenant does not exist in the other.
    let (status, _) = env
        .token_request(
            "other.auth0.test",
            json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET,
                   "audience": "https://other.auth0.test/api/v2/"}),
        )
        .await;
    assert_eq!(status, 401);

    // A token of one tenant is refused by the other, and the keys differ.
    let token = env.mgmt_token().await;
    let response = env
        .get("other.auth0.test", "/api/v2/clients")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let jwks_a: serde_json::Value = env
        .get(DOMAIN, "/.well-known/jwks.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks_b: serde_json::Value = env
        .get("other.auth0.test", "/.well-known/jwks.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(jwks_a["keys"][0]["kid"], jwks_b["keys"][0]["kid"]);
    assert_eq!(jwks_a["keys"][0]["kty"], "RSA");
    assert_eq!(jwks_a["keys"][0]["alg"], "RS256");
    assert_eq!(jwks_a["keys"][0]["use"], "sig");

    let discovery: serde_json::Value = env
        .get(DOMAIN, "/.well-known/openid-configuration")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], format!("https://{DOMAIN}/"));
    assert_eq!(
        discovery["jwks_uri"],
        format!("https://{DOMAIN}/.well-known/jwks.json")
    );
}
