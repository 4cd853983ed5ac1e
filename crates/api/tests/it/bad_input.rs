//! Hostile and malformed input: each case answers 4xx with a problem naming the field, and the
//! database is byte-for-byte unchanged afterwards.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{CLIENT_ID, DOMAIN, TestApp};

const BASE: &str = "/api/v1/app-connections/auth0";

/// `body` with the member at `pointer` set (added when absent).
fn with(mut body: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    body.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("parent object")
        .insert(key.to_owned(), value);
    body
}

fn without(mut body: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    body.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("object")
        .remove(key);
    body
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn malformed_create_bodies_change_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.create("existing").await;
    let good = app.connection_body("fresh");
    let before = app.dump().await;

    let json_cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "name is a number",
            with(good.clone(), "/name", json!(5)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            "credentials is a string",
            with(good.clone(), "/credentials", json!("x")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "credentials",
        ),
        (
            "projectId is a number",
            with(good.clone(), "/projectId", json!(7)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "projectId",
        ),
        (
            "unknown top-level field",
            with(good.clone(), "/surprise", json!(1)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "surprise",
        ),
        (
            "unknown credentials field",
            with(good.clone(), "/credentials/extra", json!(1)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "credentials.extra",
        ),
        (
            "missing credentials",
            without(good.clone(), "/credentials"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "credentials",
        ),
        (
            "missing clientSecret",
            without(good.clone(), "/credentials/clientSecret"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "credentials.clientSecret",
        ),
        (
            "empty name",
            with(good.clone(), "/name", json!("")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            "upper-case name",
            with(good.clone(), "/name", json!("Billing")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            "path traversal name",
            with(good.clone(), "/name", json!("../etc")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            "SQL in name",
            with(
                good.clone(),
                "/name",
                json!("a'; drop table app_connections;--"),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            "65-char name",
            with(good.clone(), "/name", json!("a".repeat(65))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            "257-char description",
            with(good.clone(), "/description", json!("d".repeat(257))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "description",
        ),
        (
            "empty domain",
            with(good.clone(), "/credentials/domain", json!("")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "credentials.domain",
        ),
        (
            "empty clientId",
            with(good.clone(), "/credentials/clientId", json!(" ")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "credentials.clientId",
        ),
        (
            "empty clientSecret",
            with(good.clone(), "/credentials/clientSecret", json!("")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "credentials.clientSecret",
        ),
        (
            "audience with spaces",
            with(good.clone(), "/credentials/audience", json!("https://x y/")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "credentials.audience",
        ),
        (
            "unsupported method",
            with(good.clone(), "/method", json!("oauth")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "method",
        ),
        (
            "projectId not a UUID",
            with(good.clone(), "/projectId", json!("p-1")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "projectId",
        ),
        (
            "unknown projectId",
            with(
                good.clone(),
                "/projectId",
                json!(uuid::Uuid::now_v7().to_string()),
            ),
            StatusCode::NOT_FOUND,
            "projectId",
        ),
        (
            "platform-managed",
            with(good.clone(), "/isPlatformManagedCredentials", json!(true)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "isPlatformManagedCredentials",
        ),
        (
            "gateway",
            with(good.clone(), "/gatewayId", json!("gw")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "gatewayId",
        ),
        (
            "1 MB name",
            with(good.clone(), "/name", json!("a".repeat(1 << 20))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
        ),
        (
            "1 MB secret",
            with(
                good.clone(),
                "/credentials/clientSecret",
                json!("s".repeat(1 << 20)),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
        ),
    ];
    for (case, body, status, field) in json_cases {
        let reply = app.call(Method::POST, BASE, Some(body), &[]).await;
        reply.problem(status);
        if !field.is_empty() {
            assert!(
                reply.fields().iter().any(|f| f == field),
                "{case}: {}",
                reply.text
            );
        }
    }

    let raw_cases: Vec<(&str, Vec<u8>, &str, StatusCode)> = vec![
        (
            "truncated JSON",
            br#"{"name": "#.to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "not JSON",
            b"name=x".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "trailing data",
            [serde_json::to_vec(&good).expect("json"), b" {}".to_vec()].concat(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid UTF-8",
            b"{\"name\": \"\xff\xfe\"}".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "form body",
            b"name=x".to_vec(),
            "application/x-www-form-urlencoded",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "deeply nested",
            ("[".repeat(10_000) + &"]".repeat(10_000)).into_bytes(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (case, body, content_type, status) in raw_cases {
        let reply = app
            .raw(Method::POST, BASE, Some(body), content_type, &[])
            .await;
        assert_eq!(reply.status, status, "{case}: {}", reply.text);
        reply.problem(status);
    }

    assert_eq!(
        app.dump().await,
        before,
        "a refused request changed the database"
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn domains_that_are_not_tenant_hostnames_are_refused(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let before = app.dump().await;
    let domains = [
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "[::1]",
        "::1",
        "::ffff:127.0.0.1",
        "169.254.169.254",
        "https://acme.auth0.test",
        "acme.auth0.test:443",
        "acme.auth0.test/path",
        "acme.auth0.test?x=1",
        "user@acme.auth0.test",
        "user:pw@acme.auth0.test",
        "acme_auth0.test",
        "localhost",
        "localhost.",
        "foo.localhost",
        "metadata.google.internal",
        "printer.local",
        "single",
        "аcme.auth0.test",
        "acme .auth0.test",
        "acme.auth0.test\r\nx-injected: 1",
    ];
    for domain in domains {
        let body = with(
            app.connection_body("bad-domain"),
            "/credentials/domain",
            json!(domain),
        );
        let reply = app.call(Method::POST, BASE, Some(body), &[]).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            reply.fields(),
            ["credentials.domain"],
            "{domain}: {}",
            reply.text
        );
    }
    assert_eq!(
        app.emulator
            .admin()
            .counters(DOMAIN)
            .expect("tenant")
            .tokens_issued,
        0
    );
    assert_eq!(app.dump().await, before);
}

/// A name that resolves into private space is refused at connect time (no override in this app).
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn hostnames_resolving_to_internal_addresses_are_refused(pool: PgPool) {
    /// Answers for each host name as the test says, like a DNS server under an attacker's control.
    struct Rebinding;
    impl auth0::NameResolver for Rebinding {
        fn resolve(
            &self,
            host: &str,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = std::io::Result<Vec<IpAddr>>> + Send + '_>,
        > {
            let addr = match host.trim_end_matches('.') {
                "loopback.example.com" => IpAddr::V4(Ipv4Addr::LOCALHOST),
                "metadata.example.com" => IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
                "private.example.com" => IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)),
                _ => IpAddr::V6(Ipv6Addr::LOCALHOST),
            };
            Box::pin(async move { Ok(vec![addr]) })
        }
    }
    let client = auth0::Auth0Client::with_resolver(
        auth0::HttpConfig {
            max_retries: 0,
            ..auth0::HttpConfig::default()
        },
        Arc::new(Rebinding),
    )
    .expect("client");
    let app = TestApp::build(pool, "irrelevant-secret", Some(client)).await;
    let before = app.dump().await;
    for host in [
        "loopback.example.com",
        "metadata.example.com",
        "private.example.com",
        "v6-loopback.example.com",
    ] {
        let body = with(
            app.connection_body("rebind"),
            "/credentials/domain",
            json!(host),
        );
        let reply = app.call(Method::POST, BASE, Some(body), &[]).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            reply.fields(),
            ["credentials.domain"],
            "{host}: {}",
            reply.text
        );
    }
    assert_eq!(app.dump().await, before);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn foreign_project_ids_look_unknown(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let created = app.create("mine").await;
    // Another organisation's project, as if a second instance shared the database.
    let foreign_org = uuid::Uuid::now_v7();
    let foreign_project = uuid::Uuid::now_v7();
    sqlx::query("insert into orgs (id, name) values ($1, 'other')")
        .bind(foreign_org)
        .execute(&app.pool)
        .await
        .expect("org");
    sqlx::query("insert into projects (id, org_id, name) values ($1, $2, 'theirs')")
        .bind(foreign_project)
        .bind(foreign_org)
        .execute(&app.pool)
        .await
        .expect("project");
    let before = app.dump().await;
    let body = with(
        app.connection_body("sneaky"),
        "/projectId",
        json!(foreign_project.to_string()),
    );
    let reply = app.call(Method::POST, BASE, Some(body), &[]).await;
    reply.problem(StatusCode::NOT_FOUND);
    assert_eq!(reply.fields(), ["projectId"]);
    for path in [
        format!("{BASE}?projectId={foreign_project}"),
        format!("{BASE}/connection-name/mine?projectId={foreign_project}"),
        format!("/api/v1/projects/{foreign_project}"),
    ] {
        app.call(Method::GET, &path, None, &[])
            .await
            .problem(StatusCode::NOT_FOUND);
    }
    assert_eq!(app.dump().await, before);
    assert!(created["id"].is_string());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn bad_paths_queries_and_headers(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let created = app.create("target").await;
    let path = format!("{BASE}/{}", created["id"].as_str().expect("id"));
    let before = app.dump().await;

    type Case<'a> = (
        Method,
        String,
        Option<Value>,
        Vec<(&'a str, &'a str)>,
        StatusCode,
    );
    let cases: Vec<Case> = vec![
        (
            Method::GET,
            format!("{BASE}/not-a-uuid"),
            None,
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            format!("{BASE}?limit=0"),
            None,
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            format!("{BASE}?limit=501"),
            None,
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            format!("{BASE}?limit=ten"),
            None,
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            format!("{BASE}?cursor=forged"),
            None,
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            format!("{BASE}?surprise=1"),
            None,
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            format!("{BASE}?projectId=x'%20or%201=1--"),
            None,
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({ "name": "x" })),
            vec![("if-match", "garbage")],
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({ "name": "x" })),
            vec![("if-match", "\"0\"")],
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({ "name": "x" })),
            vec![("if-match", "W/\"1\"")],
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({ "name": "x" })),
            vec![("if-match", "\"1\", \"2\"")],
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({ "name": "NOT A SLUG" })),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({ "secret": "x" })),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            path.clone(),
            Some(
                json!({ "credentials": { "domain": "10.0.0.1", "clientId": CLIENT_ID, "clientSecret": "x" } }),
            ),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({ "method": "nope" })),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::DELETE,
            path.clone(),
            None,
            vec![("if-match", "\"99\"")],
            StatusCode::PRECONDITION_FAILED,
        ),
    ];
    for (method, uri, body, headers, status) in cases {
        let reply = app.call(method.clone(), &uri, body, &headers).await;
        assert_eq!(reply.status, status, "{method} {uri}: {}", reply.text);
        reply.problem(status);
    }
    assert_eq!(app.dump().await, before);
}

/// Infisical's SDKs print an error body's `message` (else "Unknown error"): every problem also
/// carries Infisical's `message`, `statusCode` and `error` members beside RFC 9457's.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn problems_carry_infisicals_error_members(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let missing = app
        .call(
            Method::GET,
            &format!("/api/v1/app-connections/auth0/{}", uuid::Uuid::now_v7()),
            None,
            &[],
        )
        .await;
    let problem = missing.problem(StatusCode::NOT_FOUND);
    assert_eq!(problem["message"], problem["detail"]);
    assert_eq!(problem["statusCode"], 404);
    assert_eq!(problem["error"], "NotFound");
    let invalid = app
        .call(
            Method::POST,
            "/api/v1/app-connections/auth0",
            Some(serde_json::json!({ "name": "" })),
            &[],
        )
        .await;
    let problem = invalid.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["message"], problem["detail"]);
    assert_eq!(problem["statusCode"], 422);
    assert_eq!(problem["error"], "UnprocessableEntity");
}
