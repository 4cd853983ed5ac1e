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

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn admins_rename_and_delete_projects_and_nobody_else_may(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let created = app
        .call(
            Method::POST,
            "/api/v1/projects",
            Some(json!({ "name": "payments", "description": "pay" })),
            &[],
        )
        .await;
    let id = created.json["project"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/api/v1/projects/{id}");
    let viewer = app.identity("viewer", Some((&id, "viewer"))).await;

    let renamed = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "name": "payments-eu" })),
            &[],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(renamed.json["project"]["name"], "payments-eu");
    assert_eq!(
        renamed.json["project"]["description"], "pay",
        "left out, kept"
    );
    let cleared = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "description": null })),
            &[],
        )
        .await;
    assert!(
        cleared.json["project"]["description"].is_null(),
        "{}",
        cleared.text
    );
    // A project always has a name: null is refused, not taken as "leave it".
    let nameless = app
        .call(Method::PATCH, &path, Some(json!({ "name": null })), &[])
        .await;
    nameless.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(nameless.json["errors"][0]["field"], "name");
    let taken = app
        .call(Method::PATCH, &path, Some(json!({ "name": "team-a" })), &[])
        .await;
    taken.problem(StatusCode::CONFLICT);
    let blank = app
        .call(Method::PATCH, &path, Some(json!({ "name": " " })), &[])
        .await;
    blank.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(blank.json["errors"][0]["field"], "name");

    let refused = app
        .call_as(
            Some(&viewer.token),
            Method::PATCH,
            &path,
            Some(json!({ "name": "mine" })),
            &[],
        )
        .await;
    refused.problem(StatusCode::FORBIDDEN);
    let refused = app
        .call_as(Some(&viewer.token), Method::DELETE, &path, None, &[])
        .await;
    refused.problem(StatusCode::FORBIDDEN);

    let deleted = app.call(Method::DELETE, &path, None, &[]).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    assert_eq!(deleted.json["project"]["name"], "payments-eu");
    app.call(Method::GET, &path, None, &[])
        .await
        .problem(StatusCode::NOT_FOUND);
    // Its audit events stay, for the instance-wide log.
    let log = app
        .call(
            Method::GET,
            "/api/v1/audit-logs?action=project.delete",
            None,
            &[],
        )
        .await;
    assert_eq!(
        log.json["auditLogs"][0]["resource"]["id"],
        id.as_str(),
        "{}",
        log.text
    );
    let log = app
        .call(
            Method::GET,
            "/api/v1/audit-logs?action=project.update",
            None,
            &[],
        )
        .await;
    assert_eq!(log.json["auditLogs"].as_array().map(Vec::len), Some(2));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_project_with_connections_or_secrets_is_not_deleted(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let path = format!("/api/v1/projects/{}", app.project_id);
    app.secret("dev", "/", "DB_PASSWORD", "value").await;
    let refused = app.call(Method::DELETE, &path, None, &[]).await;
    refused.problem(StatusCode::CONFLICT);
    assert_eq!(
        refused.json["detail"],
        "the project still holds 0 connection(s) and 1 secret(s); delete them first"
    );
    app.create("keeps-it").await;
    let refused = app.call(Method::DELETE, &path, None, &[]).await;
    refused.problem(StatusCode::CONFLICT);
    assert_eq!(
        refused.json["detail"],
        "the project still holds 1 connection(s) and 1 secret(s); delete them first"
    );
    let still = app.call(Method::GET, &path, None, &[]).await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.text);
}
