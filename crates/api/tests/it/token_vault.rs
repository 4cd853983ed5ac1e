//! Token Vault set-up through a connection, against the emulator: Auth0's preconditions named one
//! by one, reuse instead of duplicates, missing scopes, unknown applications, and the audit trail.

use auth0::{Domain, Method as Auth0Method, SecretString};
use auth0_emulator::ClientSeed;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{
    DOMAIN, NARROW_ID, NARROW_SECRET, TestApp, VAULT_API, VAULT_API_CLIENT_ID, VAULT_GRANT,
    VAULT_READY_ID, WIDE_ID, WIDE_SECRET,
};

fn base(connection: &Value) -> String {
    format!(
        "/api/v1/app-connections/auth0/{}/token-vault",
        connection["id"].as_str().expect("id")
    )
}

fn requests(app: &TestApp, endpoint: &str) -> u64 {
    app.emulator
        .admin()
        .counters(DOMAIN)
        .expect("tenant")
        .requests_by_endpoint
        .get(endpoint)
        .copied()
        .unwrap_or(0)
}

fn web_app(client_id: &str) -> ClientSeed {
    ClientSeed {
        client_id: client_id.to_owned(),
        name: format!("Web {client_id}"),
        app_type: "regular_web".to_owned(),
        grant_types: vec!["authorization_code".to_owned()],
        ..ClientSeed::default()
    }
}

/// Sets a client's settings straight through the Management API, as a team would in Auth0.
async fn patch_client(app: &TestApp, client_id: &str, body: Value) {
    let domain = Domain::parse(DOMAIN).expect("domain");
    let token = app
        .state
        .auth0
        .client_credentials_token(&auth0::ClientCredentials {
            domain: domain.clone(),
            client_id: WIDE_ID.to_owned(),
            client_secret: SecretString::from(WIDE_SECRET),
            audience: domain.management_audience(),
        })
        .await
        .expect("token");
    app.state
        .auth0
        .management_json(
            &domain,
            &token.token,
            Auth0Method::PATCH,
            &format!("/api/v2/clients/{client_id}"),
            Some(&body),
        )
        .await
        .expect("patched");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_application_already_set_up_is_left_as_it_is(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create_wide("vault").await;
    let patches = requests(&app, "PATCH /api/v2/clients/{id}");
    let reply = app
        .call(
            Method::POST,
            &format!("{}/refresh-token-exchange", base(&connection)),
            Some(json!({ "clientId": VAULT_READY_ID })),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let report = &reply.json["tokenVault"];
    assert_eq!(report["changed"], false);
    assert_eq!(report["addedGrantTypes"], json!([]));
    assert!(
        report["grantTypes"]
            .as_array()
            .is_some_and(|g| g.iter().any(|x| x == VAULT_GRANT))
    );
    assert_eq!(requests(&app, "PATCH /api/v2/clients/{id}"), patches);
    let rows: Vec<(String, Value)> = sqlx::query_as(
        "select outcome, metadata from audit_events where action = 'app_connection.token_vault.refresh_token_exchange'",
    )
    .fetch_all(&app.pool)
    .await
    .expect("audit");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1["clientId"], VAULT_READY_ID);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn each_failed_precondition_is_named_and_nothing_changes(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.emulator
        .admin()
        .add_client(
            DOMAIN,
            ClientSeed {
                is_first_party: false,
                token_endpoint_auth_method: Some("none".to_owned()),
                app_type: "spa".to_owned(),
                ..web_app("publicThirdPartySpa0000000001")
            },
        )
        .expect("client");
    patch_client(
        &app,
        "publicThirdPartySpa0000000001",
        json!({ "oidc_conformant": false }),
    )
    .await;
    let connection = app.create_wide("preconditions").await;
    let patches = requests(&app, "PATCH /api/v2/clients/{id}");
    let reply = app
        .call(
            Method::POST,
            &format!("{}/refresh-token-exchange", base(&connection)),
            Some(json!({ "clientId": "publicThirdPartySpa0000000001" })),
            &[],
        )
        .await;
    let problem = reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["type"], "urn:keyhold:problem:validation");
    assert_eq!(reply.fields(), vec!["clientId"]);
    let detail = problem["errors"][0]["detail"].as_str().unwrap_or_default();
    for named in [
        "is_first_party",
        "token_endpoint_auth_method",
        "oidc_conformant",
    ] {
        assert!(detail.contains(named), "{named} in {detail}");
    }
    assert_eq!(requests(&app, "PATCH /api/v2/clients/{id}"), patches);

    // One failure alone is named alone.
    app.emulator
        .admin()
        .add_client(
            DOMAIN,
            ClientSeed {
                is_first_party: false,
                ..web_app("thirdPartyWebApp000000000001")
            },
        )
        .expect("client");
    let reply = app
        .call(
            Method::POST,
            &format!("{}/refresh-token-exchange", base(&connection)),
            Some(json!({ "clientId": "thirdPartyWebApp000000000001" })),
            &[],
        )
        .await;
    let problem = reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let detail = problem["errors"][0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("is_first_party"), "{detail}");
    assert!(!detail.contains("oidc_conformant") && !detail.contains("token_endpoint_auth_method"));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn unknown_applications_and_missing_scopes_read_clearly(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create_wide("unknown").await;
    let reply = app
        .call(
            Method::POST,
            &format!("{}/refresh-token-exchange", base(&connection)),
            Some(json!({ "clientId": "noSuchClient" })),
            &[],
        )
        .await;
    let problem = reply.problem(StatusCode::NOT_FOUND);
    assert_eq!(problem["detail"], "Auth0 application not found");
    assert_eq!(reply.fields(), vec!["clientId"]);

    let bad = app
        .call(
            Method::POST,
            &format!("{}/refresh-token-exchange", base(&connection)),
            Some(json!({ "clientId": "../clients" })),
            &[],
        )
        .await;
    bad.problem(StatusCode::UNPROCESSABLE_ENTITY);

    let mut body = app.connection_body("narrow");
    body["credentials"] =
        json!({ "domain": DOMAIN, "clientId": NARROW_ID, "clientSecret": NARROW_SECRET });
    let narrow = app
        .call(
            Method::POST,
            "/api/v1/app-connections/auth0",
            Some(body),
            &[],
        )
        .await;
    assert_eq!(narrow.status, StatusCode::CREATED, "{}", narrow.text);
    let narrow = narrow.json["appConnection"].clone();
    let reply = app
        .call(
            Method::POST,
            &format!("{}/refresh-token-exchange", base(&narrow)),
            Some(json!({ "clientId": VAULT_READY_ID })),
            &[],
        )
        .await;
    let problem = reply.problem(StatusCode::FORBIDDEN);
    assert_eq!(problem["type"], "urn:keyhold:problem:auth0-missing-scope");
    assert!(
        problem["missingScopes"]
            .as_array()
            .is_some_and(|m| m.iter().any(|s| s == "read:clients")),
        "{}",
        reply.text
    );
    let reply = app
        .call(
            Method::POST,
            &format!("{}/access-token-exchange", base(&narrow)),
            Some(json!({ "apiIdentifier": "https://x.acme.test/", "apiName": "X" })),
            &[],
        )
        .await;
    let problem = reply.problem(StatusCode::FORBIDDEN);
    assert_eq!(problem["missingScopes"], json!(["create:resource_servers"]));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_access_exchange_reuses_what_exists(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create_wide("reuse").await;
    let body =
        json!({ "apiIdentifier": VAULT_API, "apiName": "Vault API", "scopes": ["read:things"] });
    for _ in 0..2 {
        let reply = app
            .call(
                Method::POST,
                &format!("{}/access-token-exchange", base(&connection)),
                Some(body.clone()),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let report = &reply.json["tokenVault"];
        assert_eq!(report["changed"], false);
        assert_eq!(
            report["api"],
            json!({ "identifier": VAULT_API, "created": false, "scopes": null })
        );
        assert_eq!(
            report["customApiClient"],
            json!({ "clientId": VAULT_API_CLIENT_ID, "created": false, "addedGrantTypes": [] })
        );
    }
    assert_eq!(requests(&app, "POST /api/v2/clients"), 0);
    assert_eq!(requests(&app, "POST /api/v2/resource-servers"), 2);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_new_api_is_created_and_linked_to_its_existing_client(pool: PgPool) {
    let app = TestApp::new(pool).await;
    // A Custom API Client made ahead of its API (as an earlier, interrupted set-up leaves it).
    app.emulator
        .admin()
        .add_client(
            DOMAIN,
            ClientSeed {
                client_id: "calendarApiClient000000000001".to_owned(),
                app_type: "resource_server".to_owned(),
                grant_types: vec![VAULT_GRANT.to_owned()],
                resource_server_identifier: Some("https://calendar.acme.test/".to_owned()),
                ..ClientSeed::default()
            },
        )
        .expect("client");
    let connection = app.create_wide("new-api").await;
    let reply = app
        .call(
            Method::POST,
            &format!("{}/access-token-exchange", base(&connection)),
            Some(json!({
                "apiIdentifier": "https://calendar.acme.test/",
                "apiName": "Calendar",
                "scopes": ["read:calendar", "write:calendar"],
            })),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let report = &reply.json["tokenVault"];
    assert_eq!(report["changed"], true);
    assert_eq!(report["api"]["created"], true);
    assert_eq!(
        report["api"]["scopes"],
        json!(["read:calendar", "write:calendar"])
    );
    assert_eq!(
        report["customApiClient"]["clientId"],
        "calendarApiClient000000000001"
    );
    let rows: Vec<Value> = sqlx::query_scalar(
        "select metadata from audit_events where action = 'app_connection.token_vault.access_token_exchange'",
    )
    .fetch_all(&app.pool)
    .await
    .expect("audit");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["apiCreated"], true);
    assert_eq!(rows[0]["customApiClientCreated"], false);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn access_exchange_input_is_checked_first(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create_wide("input").await;
    let reply = app
        .call(
            Method::POST,
            &format!("{}/access-token-exchange", base(&connection)),
            Some(json!({ "apiIdentifier": "has space", "apiName": "", "scopes": ["a", "a"] })),
            &[],
        )
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.fields(), vec!["apiIdentifier", "apiName", "scopes.1"]);
    assert_eq!(requests(&app, "POST /api/v2/resource-servers"), 0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn missing_grant_types_are_added_keeping_the_others(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.emulator
        .admin()
        .add_client(DOMAIN, web_app("plainWebApp0000000000000001"))
        .expect("client");
    let connection = app.create_wide("add-grants").await;
    let reply = app
        .call(
            Method::POST,
            &format!("{}/refresh-token-exchange", base(&connection)),
            Some(json!({ "clientId": "plainWebApp0000000000000001" })),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let report = &reply.json["tokenVault"];
    assert_eq!(report["changed"], true);
    assert_eq!(
        report["addedGrantTypes"],
        json!(["refresh_token", VAULT_GRANT])
    );
    assert_eq!(
        report["grantTypes"],
        json!(["authorization_code", "refresh_token", VAULT_GRANT])
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_new_api_gets_a_new_custom_api_client_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create_wide("fresh-api").await;
    let body =
        json!({ "apiIdentifier": "https://fresh.acme.test/", "apiName": "Fresh", "scopes": [] });
    let path = format!("{}/access-token-exchange", base(&connection));
    let first = app.call(Method::POST, &path, Some(body.clone()), &[]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.json["tokenVault"]["customApiClient"]["created"], true);
    let second = app.call(Method::POST, &path, Some(body), &[]).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(second.json["tokenVault"]["changed"], false);
    assert_eq!(
        second.json["tokenVault"]["customApiClient"]["clientId"],
        first.json["tokenVault"]["customApiClient"]["clientId"]
    );
    assert_eq!(requests(&app, "POST /api/v2/clients"), 1);
}
