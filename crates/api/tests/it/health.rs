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
