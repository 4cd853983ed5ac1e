//! Health, readiness and the problem format of routing errors.

use axum::http::{Method, StatusCode};
use sqlx::PgPool;

use crate::support::TestApp;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn health_and_readiness(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let health = app.call(Method::GET, "/healthz", None, &[]).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = app.call(Method::GET, "/readyz", None, &[]).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.json["status"], "ready");
    assert!(health.headers.contains_key("x-request-id"));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn readiness_fails_when_migrations_are_behind(pool: PgPool) {
    let app = TestApp::new(pool).await;
    sqlx::query(
        "delete from _sqlx_migrations where version = (select max(version) from _sqlx_migrations)",
    )
    .execute(&app.pool)
    .await
    .expect("forget a migration");
    let ready = app.call(Method::GET, "/readyz", None, &[]).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.text
    );
    assert_eq!(ready.json["status"], "migrations-behind");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn unknown_routes_and_methods_are_problems(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.call(Method::GET, "/api/v1/nothing-here", None, &[])
        .await
        .problem(StatusCode::NOT_FOUND);
    app.call(Method::PUT, "/api/v1/app-connections/auth0", None, &[])
        .await
        .problem(StatusCode::METHOD_NOT_ALLOWED);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn metrics_count_requests_by_route_template(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = uuid::Uuid::now_v7();
    app.call(
        Method::GET,
        &format!("/api/v1/app-connections/auth0/{id}"),
        None,
        &[],
    )
    .await;
    let metrics = app.call(Method::GET, "/metrics", None, &[]).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.text.contains("keyhold_http_requests_total"),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains(r#"route="/api/v1/app-connections/auth0/{connectionId}""#)
    );
    assert!(metrics.text.contains("keyhold_db_pool_connections"));
    // TestApp::new validated nothing yet; a connection's validation is one token request.
    app.create("metered").await;
    let metrics = app.call(Method::GET, "/metrics", None, &[]).await;
    assert!(
        metrics
            .text
            .contains(r#"keyhold_auth0_requests_total{endpoint="POST /oauth/token",status="200"}"#),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains("keyhold_rotation_lag_seconds"));
    // Concrete ids never become label values.
    assert!(!metrics.text.contains(&id.to_string()));
}

#[tokio::test]
async fn readiness_fails_fast_when_the_database_is_unreachable() {
    // Nothing listens on port 1: every connection attempt is refused at once.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(500))
        .connect_lazy("postgres://postgres@127.0.0.1:1/none")
        .expect("lazy pool");
    let key = crypto::generate_root_key("t").expect("key");
    let keyring =
        crypto::RootKeyring::parse(crypto::ExposeSecret::expose_secret(&key)).expect("keyring");
    let auth0 = auth0::Auth0Client::new(auth0::HttpConfig::default()).expect("client");
    let broker = broker::Broker::new(pool, std::sync::Arc::new(keyring), auth0, None);
    let state = api::AppState::new(broker, std::time::Duration::from_secs(60));
    let started = std::time::Instant::now();
    let request = axum::http::Request::get("/readyz")
        .body(axum::body::Body::empty())
        .expect("request");
    let response = tower::ServiceExt::oneshot(api::app(state), request)
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
