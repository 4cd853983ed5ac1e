//! Using a connection without revealing it, against the emulator: the client list (every page),
//! users (get, create, update) and how Auth0's refusals read, the token broker (single flight,
//! refresh after expiry and after a 401, invalidation on credential change and delete), tenant
//! pacing (queueing, the bounded wait's 429, Auth0's own 429) and the audit trail.

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth0_emulator::{ClientSeed, Fault, RateLimitSeed};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{
    CLIENT_ID, DB_CONNECTION, DOMAIN, NARROW_ID, NARROW_SECRET, TestApp, USER_ID, USER_PATH_ID,
};

const PASSWORD: &str = "Canary-Passw0rd-4242";

fn counters(app: &TestApp) -> auth0_emulator::Counters {
    app.emulator.admin().counters(DOMAIN).expect("tenant")
}

fn requests(app: &TestApp, endpoint: &str) -> u64 {
    counters(app)
        .requests_by_endpoint
        .get(endpoint)
        .copied()
        .unwrap_or(0)
}

fn base(connection: &Value) -> String {
    format!(
        "/api/v1/app-connections/auth0/{}",
        connection["id"].as_str().expect("id")
    )
}

/// A connection through `NARROW_ID` (granted `update:client_keys` only).
async fn narrow(app: &TestApp, name: &str) -> Value {
    let mut body = app.connection_body(name);
    body["credentials"] =
        json!({ "domain": DOMAIN, "clientId": NARROW_ID, "clientSecret": NARROW_SECRET });
    let reply = app
        .call(
            Method::POST,
            "/api/v1/app-connections/auth0",
            Some(body),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.json["appConnection"].clone()
}

async fn audit_rows(app: &TestApp, action: &str) -> Vec<(String, Value)> {
    sqlx::query_as::<_, (String, Value)>(
        "select outcome, metadata from audit_events where action = $1 order by id",
    )
    .bind(action)
    .fetch_all(&app.pool)
    .await
    .expect("audit rows")
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_client_list_follows_every_page(pool: PgPool) {
    let app = TestApp::new(pool).await;
    for i in 0..150 {
        app.emulator
            .admin()
            .add_client(
                DOMAIN,
                ClientSeed {
                    client_id: format!("listedApp{i:04}"),
                    name: format!("Listed {i}"),
                    app_type: "spa".to_owned(),
                    ..ClientSeed::default()
                },
            )
            .expect("client");
    }
    let connection = app.create("lister").await;
    let before = requests(&app, "GET /api/v2/clients");
    let reply = app
        .call(
            Method::GET,
            &format!("{}/clients", base(&connection)),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let clients = reply.json["clients"].as_array().expect("clients");
    // 150 added plus the seeded applications, never the global "All Applications".
    assert!(clients.len() > 150, "{}", clients.len());
    assert!(clients.iter().all(|c| c["name"] != "All Applications"));
    let last = clients
        .iter()
        .find(|c| c["clientId"] == "listedApp0149")
        .expect("the last page was read");
    assert_eq!(last["name"], "Listed 149");
    assert_eq!(last["appType"], "spa");
    assert!(clients.iter().any(|c| c["clientId"] == CLIENT_ID));
    assert_eq!(requests(&app, "GET /api/v2/clients") - before, 2);
    let rows = audit_rows(&app, "app_connection.clients.list").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "success");
    assert_eq!(rows[0].1["count"], clients.len());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_missing_scope_is_named_with_where_to_grant_it(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = narrow(&app, "narrow").await;
    let reply = app
        .call(
            Method::GET,
            &format!("{}/clients", base(&connection)),
            None,
            &[],
        )
        .await;
    let problem = reply.problem(StatusCode::FORBIDDEN);
    assert_eq!(problem["type"], "urn:keyhold:problem:auth0-missing-scope");
    let missing: Vec<&str> = problem["missingScopes"]
        .as_array()
        .expect("missingScopes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(missing.contains(&"read:clients"), "{missing:?}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("Machine To Machine Applications"),
        "{detail}"
    );

    // The default test connection can rotate but not read users.
    let connection = app.create("no-users").await;
    let reply = app
        .call(
            Method::GET,
            &format!("{}/users/{USER_PATH_ID}", base(&connection)),
            None,
            &[],
        )
        .await;
    let problem = reply.problem(StatusCode::FORBIDDEN);
    assert!(
        problem["missingScopes"]
            .as_array()
            .is_some_and(|m| m.iter().any(|s| s == "read:users")),
        "{}",
        reply.text
    );
    let rows = audit_rows(&app, "app_connection.user.get").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "failure");
    assert_eq!(rows[0].1["error"], "auth0-missing-scope");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn users_are_read_created_and_updated(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create_wide("users").await;
    let users = format!("{}/users", base(&connection));

    let got = app
        .call(Method::GET, &format!("{users}/{USER_PATH_ID}"), None, &[])
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_eq!(got.json["user"]["user_id"], USER_ID);
    assert_eq!(got.json["user"]["email"], "seeded@acme.test");
    assert_eq!(got.json["user"]["identities"][0]["provider"], "auth0");

    let unknown = app
        .call(Method::GET, &format!("{users}/auth0%7Cnobody"), None, &[])
        .await;
    let problem = unknown.problem(StatusCode::NOT_FOUND);
    assert_eq!(problem["detail"], "Auth0 user not found");

    let body = json!({
        "connection": DB_CONNECTION,
        "email": "ada@acme.test",
        "password": PASSWORD,
        "name": "Ada",
        "user_metadata": { "plan": "pro" },
    });
    let created = app
        .call(Method::POST, &users, Some(body.clone()), &[])
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let user_id = created.json["user"]["user_id"]
        .as_str()
        .expect("user id")
        .to_owned();
    assert_eq!(created.json["user"]["user_metadata"]["plan"], "pro");

    let again = app.call(Method::POST, &users, Some(body), &[]).await;
    let problem = again.problem(StatusCode::CONFLICT);
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("already exists")),
        "{}",
        again.text
    );

    let weak = app
        .call(
            Method::POST,
            &users,
            Some(json!({ "connection": DB_CONNECTION, "email": "weak@acme.test", "password": "abcdefgh" })),
            &[],
        )
        .await;
    let problem = weak.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["type"], "urn:keyhold:problem:auth0-refused");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Password is too weak")),
        "{}",
        weak.text
    );

    let path = format!("{users}/{}", user_id.replace('|', "%7C"));
    let changed = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "name": "Ada King", "user_metadata": { "plan": "enterprise" } })),
            &[],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.json["user"]["name"], "Ada King");
    assert_eq!(changed.json["user"]["user_metadata"]["plan"], "enterprise");

    let missing = app
        .call(
            Method::PATCH,
            &format!("{users}/auth0%7Cnobody"),
            Some(json!({ "name": "x" })),
            &[],
        )
        .await;
    missing.problem(StatusCode::NOT_FOUND);

    // The password never reaches a response, the audit log or any table.
    let audit = audit_rows(&app, "app_connection.user.create").await;
    assert_eq!(audit.len(), 3);
    assert_eq!(audit[0].0, "success");
    assert_eq!(audit[0].1["userId"], user_id.as_str());
    assert!(
        audit[0].1["fields"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "password"))
    );
    assert_eq!(
        (audit[1].0.as_str(), audit[1].1["error"].as_str()),
        ("failure", Some("conflict"))
    );
    let dump = app.dump().await;
    assert!(!dump.contains(PASSWORD));
    assert!(!created.text.contains(PASSWORD) && !again.text.contains(PASSWORD));
    assert_eq!(
        audit_rows(&app, "app_connection.user.update").await.len(),
        2
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn user_input_is_checked_before_auth0_is_called(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create_wide("checks").await;
    let users = format!("{}/users", base(&connection));
    let before = counters(&app).requests_by_endpoint.clone();
    let cases = [
        (
            Method::POST,
            users.clone(),
            json!({ "connection": DB_CONNECTION, "email": "nope", "password": PASSWORD }),
            "email",
        ),
        (
            Method::POST,
            users.clone(),
            json!({ "connection": DB_CONNECTION, "email": "a@b.co", "is_admin": true }),
            "is_admin",
        ),
        (
            Method::POST,
            users.clone(),
            json!({ "connection": DB_CONNECTION, "phone_number": "555-0100" }),
            "phone_number",
        ),
        (
            Method::PATCH,
            format!("{users}/{USER_PATH_ID}"),
            json!({ "email": "new@acme.test", "password": PASSWORD }),
            "password",
        ),
        (
            Method::PATCH,
            format!("{users}/{USER_PATH_ID}"),
            json!({ "app_metadata": { "$where": 1 } }),
            "app_metadata",
        ),
        (
            Method::PATCH,
            format!("{users}/{USER_PATH_ID}"),
            json!({}),
            "",
        ),
    ];
    for (method, path, body, field) in cases {
        let reply = app.call(method, &path, Some(body), &[]).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            reply.fields().iter().any(|f| f == field),
            "{field}: {}",
            reply.text
        );
        assert!(!reply.text.contains(PASSWORD), "{}", reply.text);
    }
    assert_eq!(counters(&app).requests_by_endpoint, before);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_thousand_cold_calls_share_one_token_request(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create_wide("burst").await;
    let path = format!("{}/users/{USER_PATH_ID}", base(&connection));
    // Creating the connection checked the credentials with a token that is never cached.
    let issued = counters(&app).tokens_issued;
    let (hits, misses) = (
        app.state.broker.tokens.hits(),
        app.state.broker.tokens.misses(),
    );
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let app = Arc::clone(&app);
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            app.call(Method::GET, &path, None, &[]).await.status
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("join"), StatusCode::OK);
    }
    assert_eq!(counters(&app).tokens_issued - issued, 1);
    let tokens = &app.state.broker.tokens;
    assert_eq!(tokens.misses() - misses, 1);
    assert_eq!(tokens.hits() - hits, 999);
    assert_eq!(requests(&app, "GET /api/v2/users/{id}"), 1000);

    let metrics = app.call(Method::GET, "/metrics", None, &[]).await;
    assert!(
        metrics
            .text
            .contains("keyhold_auth0_token_cache_hits_total"),
        "{}",
        metrics.text
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn tokens_are_refreshed_after_expiry_and_after_a_401(pool: PgPool) {
    let app = TestApp::build_with(
        pool,
        "s3cr3t-acme-client-secret-0123456789abcdef0123456789",
        None,
        |t| {
            t.token_lifetime_secs = 2;
        },
    )
    .await;
    let connection = app.create_wide("short").await;
    let path = format!("{}/users/{USER_PATH_ID}", base(&connection));
    let get = || app.call(Method::GET, &path, None, &[]);
    let issued = counters(&app).tokens_issued;
    assert_eq!(get().await.status, StatusCode::OK);
    assert_eq!(get().await.status, StatusCode::OK);
    assert_eq!(
        counters(&app).tokens_issued - issued,
        1,
        "reused while fresh"
    );
    // Reused until a tenth of its life is left: 1.8 s of a 2 s token.
    tokio::time::sleep(Duration::from_millis(1900)).await;
    assert_eq!(get().await.status, StatusCode::OK);
    assert_eq!(
        counters(&app).tokens_issued - issued,
        2,
        "refreshed near expiry"
    );

    // Auth0 refuses a token the cache still trusts: dropped, refetched, the call succeeds.
    app.emulator
        .admin()
        .try_inject_fault(DOMAIN, Fault::fail(Some("GET /api/v2/users/{id}"), 401, 1))
        .expect("fault");
    let before = requests(&app, "GET /api/v2/users/{id}");
    assert_eq!(get().await.status, StatusCode::OK);
    assert_eq!(
        counters(&app).tokens_issued - issued,
        3,
        "refreshed after a 401"
    );
    assert_eq!(requests(&app, "GET /api/v2/users/{id}") - before, 2);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn changed_or_deleted_credentials_drop_the_cached_token(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create_wide("changing").await;
    let path = format!("{}/users/{USER_PATH_ID}", base(&connection));
    assert_eq!(
        app.call(Method::GET, &path, None, &[]).await.status,
        StatusCode::OK
    );
    let issued = counters(&app).tokens_issued;
    let patch = json!({ "credentials": {
        "domain": DOMAIN, "clientId": crate::support::WIDE_ID, "clientSecret": crate::support::WIDE_SECRET
    }});
    let updated = app
        .call(Method::PATCH, &base(&connection), Some(patch), &[])
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(
        counters(&app).tokens_issued - issued,
        1,
        "the update checked the credentials"
    );
    assert_eq!(
        app.call(Method::GET, &path, None, &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        counters(&app).tokens_issued - issued,
        2,
        "the new version's first call fetched its own token"
    );

    let entries = app.state.broker.tokens.len();
    let deleted = app
        .call(Method::DELETE, &base(&connection), None, &[])
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    assert_eq!(app.state.broker.tokens.len(), entries - 1);
    app.call(Method::GET, &path, None, &[])
        .await
        .problem(StatusCode::NOT_FOUND);
}

/// An app whose calls through connections are paced at `per_second` with `burst`, queueing at
/// most `max_wait`.
async fn paced(
    pool: PgPool,
    tenant_limit: RateLimitSeed,
    per_second: f64,
    max_wait: Duration,
) -> TestApp {
    let mut app = TestApp::build_with(
        pool,
        "s3cr3t-acme-client-secret-0123456789abcdef0123456789",
        None,
        |t| t.rate_limit = Some(tenant_limit),
    )
    .await;
    app.state = app.state.clone().with_tenant_rate(
        Some(broker::TenantRate {
            per_second,
            burst: tenant_limit.burst,
        }),
        max_wait,
    );
    app.router = api::app(app.state.clone());
    app
}

async fn burst(app: &Arc<TestApp>, path: &str, n: usize) -> Vec<(StatusCode, Option<u64>)> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let app = Arc::clone(app);
        let path = path.to_owned();
        tasks.push(tokio::spawn(async move {
            let reply = app.call(Method::GET, &path, None, &[]).await;
            let retry = reply
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            (reply.status, retry)
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("join"));
    }
    out
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_burst_queues_within_the_tenant_limit(pool: PgPool) {
    let limit = RateLimitSeed {
        burst: 2,
        per_second: 4.0,
    };
    let app = Arc::new(paced(pool, limit, 4.0, Duration::from_secs(5)).await);
    let connection = app.create_wide("paced").await;
    let path = format!("{}/users/{USER_PATH_ID}", base(&connection));
    let started = Instant::now();
    let answers = burst(&app, &path, 8).await;
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::OK),
        "{answers:?}"
    );
    // Paced at 90 % of 4/s: the eighth request goes out about 1.9 s after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        counters(&app).rate_limited,
        0,
        "Auth0 never had to refuse one"
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_queue_longer_than_the_wait_answers_429_with_retry_after(pool: PgPool) {
    let limit = RateLimitSeed {
        burst: 2,
        per_second: 2.0,
    };
    let app = Arc::new(paced(pool, limit, 2.0, Duration::from_millis(800)).await);
    let connection = app.create_wide("short-wait").await;
    let path = format!("{}/users/{USER_PATH_ID}", base(&connection));
    let answers = burst(&app, &path, 8).await;
    let ok = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let refused: Vec<u64> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .map(|(_, retry)| retry.expect("Retry-After on every 429"))
        .collect();
    assert!(ok >= 2, "{answers:?}");
    assert!(!refused.is_empty(), "{answers:?}");
    assert_eq!(ok + refused.len(), 8, "{answers:?}");
    assert!(refused.iter().all(|r| (1..=5).contains(r)), "{refused:?}");
    assert_eq!(counters(&app).rate_limited, 0);
    // Coming back after Retry-After finds a slot.
    let wait = refused.iter().copied().max().unwrap_or(1);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let again = app.call(Method::GET, &path, None, &[]).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    let rows = audit_rows(&app, "app_connection.user.get").await;
    assert_eq!(
        rows.iter()
            .filter(|(_, m)| m["error"] == "too-many-requests")
            .count(),
        refused.len()
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn auth0s_own_429_is_passed_on_and_pauses_the_tenant(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create_wide("limited").await;
    app.emulator
        .admin()
        .try_inject_fault(DOMAIN, Fault::fail(Some("GET /api/v2/users/{id}"), 429, 1))
        .expect("fault");
    let reply = app
        .call(
            Method::GET,
            &format!("{}/users/{USER_PATH_ID}", base(&connection)),
            None,
            &[],
        )
        .await;
    reply.problem(StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(retry >= 1);
    let paused: bool = sqlx::query_scalar(
        "select blocked_until > clock_timestamp() from auth0_request_budgets where bucket = $1",
    )
    .bind(format!("{DOMAIN}/api/v2"))
    .fetch_one(&app.pool)
    .await
    .expect("the tenant's budget row");
    assert!(paused, "every Keyhold process holds off the tenant");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn only_read_audits_skip_the_wal_flush_wait(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let setting = |pool: &PgPool| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("select current_setting('synchronous_commit')")
                .fetch_one(&pool)
                .await
                .expect("setting")
        }
    };
    assert_eq!(setting(&app.state.audit_reads).await, "off");
    // The main pool keeps the server's setting (on, unless an operator chose otherwise).
    let server: String =
        sqlx::query_scalar("select reset_val from pg_settings where name = 'synchronous_commit'")
            .fetch_one(&app.pool)
            .await
            .expect("server setting");
    assert_eq!(setting(&app.state.db).await, server);
}

/// Validation fetches its token in a paced slot of the tenant's budget like any Management call:
/// checks of many connections on one tenant cannot spend its token quota in a burst.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn validations_are_paced_by_the_tenants_budget(pool: PgPool) {
    let limit = RateLimitSeed {
        burst: 1,
        per_second: 0.2,
    };
    let app = paced(pool, limit, 0.2, Duration::ZERO).await;
    let first = app.create_wide("first").await;
    let second = app.create_wide("second").await;
    let issued = counters(&app).tokens_issued;
    let validate = |c: &Value| format!("{}/validate", base(c));
    let ok = app.call(Method::POST, &validate(&first), None, &[]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let refused = app.call(Method::POST, &validate(&second), None, &[]).await;
    refused.problem(StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers.get("retry-after").is_some());
    assert_eq!(
        counters(&app).tokens_issued - issued,
        1,
        "the refused check asked Auth0 for nothing"
    );
    // The first connection's check reuses its recent token: no slot, no token request.
    let again = app.call(Method::POST, &validate(&first), None, &[]).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(counters(&app).tokens_issued - issued, 1);
}

/// `registerWith` makes three Management API requests in a row (read the enabled credentials,
/// create one, enable it): each takes a slot of the tenant's budget like any call through a
/// connection, so a tenant whose bucket holds two is never pushed into refusing one.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn register_with_stays_within_the_tenant_limit(pool: PgPool) {
    let limit = RateLimitSeed {
        burst: 2,
        per_second: 2.0,
    };
    let app = paced(pool, limit, 2.0, Duration::from_secs(10)).await;
    let registrar = crate::key_rotations::key_manager(&app).await;
    let key_holder = "pacedKeyHolderClientID0000000001";
    let admin = app.emulator.admin();
    admin
        .add_client(
            DOMAIN,
            ClientSeed::m2m(key_holder, "paced-key-holder-secret-0123456789abcdef"),
        )
        .expect("client");
    admin
        .add_grant(
            DOMAIN,
            auth0_emulator::GrantSeed {
                client_id: key_holder.to_owned(),
                audience: format!("https://{DOMAIN}/api/v2/"),
                scopes: vec!["read:clients".to_owned()],
            },
        )
        .expect("grant");
    let reply = app
        .call(
            Method::POST,
            "/api/v1/app-connections/auth0",
            Some(json!({
                "name": "paced-key",
                "method": "private-key-jwt",
                "projectId": app.project_id,
                "credentials": { "domain": DOMAIN, "clientId": key_holder },
                "registerWith": registrar["id"],
            })),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(
        reply.json["appConnection"]["status"], "active",
        "{}",
        reply.text
    );
    assert_eq!(
        counters(&app).rate_limited,
        0,
        "Auth0 never had to refuse one"
    );
}
