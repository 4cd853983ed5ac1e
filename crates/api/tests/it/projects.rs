//! Projects: create, list, get.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::TestApp;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn projects_are_created_listed_and_fetched(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let created = app
        .call(
            Method::POST,
            "/api/v1/projects",
            Some(json!({ "name": "payments", "description": "pay" })),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json["project"]["id"].as_str().expect("id");
    let fetched = app
        .call(Method::GET, &format!("/api/v1/projects/{id}"), None, &[])
        .await;
    assert_eq!(fetched.json["project"], created.json["project"]);
    let list = app
        .call(Method::GET, "/api/v1/projects?limit=1", None, &[])
        .await;
    assert_eq!(list.json["projects"].as_array().map(Vec::len), Some(1));
    assert_eq!(list.json["projects"][0]["name"], "payments");
    let cursor = list.json["nextCursor"].as_str().expect("more");
    let next = app
        .call(
            Method::GET,
            &format!("/api/v1/projects?limit=1&cursor={cursor}"),
            None,
            &[],
        )
        .await;
    assert_eq!(next.json["projects"][0]["name"], "team-a");
    assert!(next.json["nextCursor"].is_null());

    let dup = app
        .call(
            Method::POST,
            "/api/v1/projects",
            Some(json!({ "name": "payments" })),
            &[],
        )
        .await;
    dup.problem(StatusCode::CONFLICT);
    let missing = app
        .call(
            Method::GET,
            &format!("/api/v1/projects/{}", uuid::Uuid::now_v7()),
            None,
            &[],
        )
        .await;
    missing.problem(StatusCode::NOT_FOUND);
}
