//! `Idempotency-Key` on create: a replay returns the first answer and creates nothing new.

use axum::http::{Method, StatusCode};
use sqlx::PgPool;

use crate::support::{DOMAIN, TestApp};

const BASE: &str = "/api/v1/app-connections/auth0";

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn same_key_same_body_replays_the_first_answer(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let body = app.connection_body("idem");
    let first = app
        .call(
            Method::POST,
            BASE,
            Some(body.clone()),
            &[("idempotency-key", "k-1")],
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let second = app
        .call(
            Method::POST,
            BASE,
            Some(body),
            &[("idempotency-key", "k-1")],
        )
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    assert_eq!(second.json, first.json);
    assert_eq!(second.headers["idempotent-replayed"], "true");
    let count: i64 = sqlx::query_scalar("select count(*) from app_connections")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 1);
    // Auth0 was asked once.
    assert_eq!(
        app.emulator
            .admin()
            .counters(DOMAIN)
            .expect("tenant")
            .tokens_issued,
        1
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn same_key_other_body_is_refused(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let first = app
        .call(
            Method::POST,
            BASE,
            Some(app.connection_body("one")),
            &[("idempotency-key", "k-2")],
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let other = app
        .call(
            Method::POST,
            BASE,
            Some(app.connection_body("two")),
            &[("idempotency-key", "k-2")],
        )
        .await;
    other.problem(StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_failed_request_does_not_burn_its_key(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let mut bad = app.connection_body("retry");
    bad["credentials"]["clientSecret"] = "wrong".into();
    let failed = app
        .call(Method::POST, BASE, Some(bad), &[("idempotency-key", "k-3")])
        .await;
    failed.problem(StatusCode::UNPROCESSABLE_ENTITY);
    // Same key, corrected body: the key was released, so this is a new request.
    let fixed = app
        .call(
            Method::POST,
            BASE,
            Some(app.connection_body("retry")),
            &[("idempotency-key", "k-3")],
        )
        .await;
    assert_eq!(fixed.status, StatusCode::CREATED, "{}", fixed.text);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn malformed_keys_are_refused(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let long = "k".repeat(256);
    let reply = app
        .call(
            Method::POST,
            BASE,
            Some(app.connection_body("x")),
            &[("idempotency-key", &long)],
        )
        .await;
    reply.problem(StatusCode::BAD_REQUEST);
}
