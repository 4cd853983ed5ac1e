//! Scope diagnostics: in create and update answers, and `POST .../validate` (a token at most
//! seconds old, capability filters, least-privilege flags, and Auth0's refusals in Auth0's words).

use std::sync::Arc;

use auth0::{Domain, SecretString};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{CLIENT_ID, DOMAIN, TestApp, WIDE_ID, WIDE_SECRET};

fn capability<'a>(diagnostics: &'a Value, key: &str) -> &'a Value {
    diagnostics["capabilities"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["capability"] == key))
        .unwrap_or_else(|| panic!("capability {key} in {diagnostics}"))
}

fn tokens_issued(app: &TestApp) -> u64 {
    app.emulator
        .admin()
        .counters(DOMAIN)
        .expect("tenant")
        .tokens_issued
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn create_and_update_answers_carry_the_scope_diagnostics(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let created = app
        .call(
            Method::POST,
            "/api/v1/app-connections/auth0",
            Some(app.connection_body("diagnosed")),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let d = &created.json["diagnostics"];
    assert_eq!(
        d["grantedScopes"],
        json!(["read:clients", "update:client_keys"])
    );
    assert_eq!(capability(d, "validate")["usable"], true);
    assert_eq!(capability(d, "listClients")["usable"], true);
    assert_eq!(capability(d, "rotateClientSecrets")["usable"], true);
    let read_users = capability(d, "readUsers");
    assert_eq!(read_users["usable"], false);
    assert_eq!(read_users["missingScopes"], json!(["read:users"]));
    assert_eq!(
        capability(d, "tokenVault")["missingScopes"],
        json!(["create:resource_servers", "create:clients"])
    );
    assert_eq!(d["excessScopes"], json!([]));

    let id = created.json["appConnection"]["id"].as_str().expect("id");
    let path = format!("/api/v1/app-connections/auth0/{id}");
    let renamed = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "name": "renamed" })),
            &[],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert!(
        renamed.json.get("diagnostics").is_none(),
        "no credentials, no check"
    );

    let wide = json!({ "credentials": { "domain": DOMAIN, "clientId": WIDE_ID, "clientSecret": WIDE_SECRET } });
    let replaced = app.call(Method::PATCH, &path, Some(wide), &[]).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
    let d = &replaced.json["diagnostics"];
    assert!(
        d["capabilities"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| c["usable"] == true)),
        "{d}"
    );
    assert_eq!(replaced.headers["etag"], "\"3\"");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn validate_reuses_a_recent_token_instead_of_spending_the_tenants_quota(pool: PgPool) {
    let app = Arc::new(TestApp::new(pool).await);
    let connection = app.create_wide("validated").await;
    let path = format!(
        "/api/v1/app-connections/auth0/{}/validate",
        connection["id"].as_str().expect("id")
    );
    let before = tokens_issued(&app);
    // The first check asks Auth0 (creating the connection's token is never cached)...
    for _ in 1..=2 {
        let reply = app.call(Method::POST, &path, None, &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.json["tokenExpiresIn"], 86_400);
        let d = &reply.json["diagnostics"];
        assert_eq!(d["capabilities"].as_array().map(Vec::len), Some(7));
        assert!(d["grantedScopes"].as_array().is_some_and(|g| g.len() == 8));
    }
    assert_eq!(
        tokens_issued(&app) - before,
        1,
        "a token fetched seconds ago is reused"
    );
    // ...and a burst of 100 checks (the review's 100 calls in 4.8 s) still costs one.
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let app = Arc::clone(&app);
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            app.call(Method::POST, &path, None, &[]).await.status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("join"), StatusCode::OK);
    }
    assert_eq!(tokens_issued(&app) - before, 1);
    // The same token serves the calls that follow.
    let users = format!(
        "/api/v1/app-connections/auth0/{}/users/{}",
        connection["id"].as_str().expect("id"),
        crate::support::USER_PATH_ID
    );
    assert_eq!(
        app.call(Method::GET, &users, None, &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(tokens_issued(&app) - before, 1);
    let rows: Vec<(String, Value)> = sqlx::query_as(
        "select outcome, metadata from audit_events where action = 'app_connection.validate'",
    )
    .fetch_all(&app.pool)
    .await
    .expect("audit");
    assert_eq!(
        rows.len(),
        102,
        "every check is audited, reused token or not"
    );
    assert!(
        rows[0].1["grantedScopes"]
            .as_array()
            .is_some_and(|g| g.len() == 8)
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn least_privilege_is_judged_against_the_enabled_capabilities(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create_wide("least").await;
    let base = format!(
        "/api/v1/app-connections/auth0/{}/validate",
        connection["id"].as_str().expect("id")
    );
    let reply = app
        .call(
            Method::POST,
            &format!("{base}?capabilities=listClients,readUsers"),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let d = &reply.json["diagnostics"];
    assert_eq!(d["capabilities"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        d["excessScopes"],
        json!([
            "create:clients",
            "create:resource_servers",
            "create:users",
            "update:client_keys",
            "update:clients",
            "update:users"
        ])
    );
    let unknown = app
        .call(
            Method::POST,
            &format!("{base}?capabilities=readUsers,dropTables"),
            None,
            &[],
        )
        .await;
    unknown.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.fields(), vec!["capabilities"]);

    // The problem names the field and the rule, never what was sent (a client may render it).
    let hostile = app
        .call(
            Method::POST,
            &format!("{base}?capabilities=readUsers,%3Cscript%3Ex"),
            None,
            &[],
        )
        .await;
    hostile.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!hostile.text.contains("script"), "{}", hostile.text);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn credentials_auth0_no_longer_accepts_are_reported_in_auth0s_words(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create("stale").await;
    // Someone rotates the connection's secret in Auth0, behind Keyhold's back.
    let wide = app
        .state
        .auth0
        .client_credentials_token(&auth0::ClientCredentials {
            domain: Domain::parse(DOMAIN).expect("domain"),
            client_id: WIDE_ID.to_owned(),
            client_secret: SecretString::from(WIDE_SECRET),
            audience: format!("https://{DOMAIN}/api/v2/"),
        })
        .await
        .expect("wide token");
    app.state
        .auth0
        .rotate_secret(
            &Domain::parse(DOMAIN).expect("domain"),
            &wide.token,
            CLIENT_ID,
        )
        .await
        .expect("rotated");
    let reply = app
        .call(
            Method::POST,
            &format!(
                "/api/v1/app-connections/auth0/{}/validate",
                connection["id"].as_str().expect("id")
            ),
            None,
            &[],
        )
        .await;
    let problem = reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["type"], "urn:keyhold:problem:auth0-rejected");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("client secret is wrong")),
        "{}",
        reply.text
    );
    assert_eq!(reply.fields(), vec!["credentials.clientSecret"]);
}
