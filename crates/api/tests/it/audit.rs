//! The audit log: every mutation and login leaves a row; admins read them newest first.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::TestApp;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn mutations_are_recorded_and_listed_newest_first(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let created = app.create("audited").await;
    let path = format!(
        "/api/v1/app-connections/auth0/{}",
        created["id"].as_str().expect("id")
    );
    app.call(
        Method::PATCH,
        &path,
        Some(json!({ "description": "x" })),
        &[("x-request-id", "req-audit-1")],
    )
    .await;
    app.call(Method::DELETE, &path, None, &[]).await;

    let list = app
        .call(
            Method::GET,
            &format!("/api/v1/audit-logs?projectId={}", app.project_id),
            None,
            &[],
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let actions: Vec<&str> = list.json["auditLogs"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "app_connection.delete",
            "app_connection.update",
            "app_connection.create",
            "project.create"
        ]
    );
    let update = &list.json["auditLogs"][1];
    assert_eq!(update["requestId"], "req-audit-1");
    assert_eq!(update["resource"]["type"], "app_connection");
    assert_eq!(update["actor"]["type"], "machine");
    assert!(!list.text.contains(&app.secret));

    let filtered = app
        .call(
            Method::GET,
            &format!(
                "/api/v1/audit-logs?projectId={}&action=app_connection.update",
                app.project_id
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(filtered.json["auditLogs"].as_array().map(Vec::len), Some(1));

    let page = app
        .call(
            Method::GET,
            &format!("/api/v1/audit-logs?projectId={}&limit=3", app.project_id),
            None,
            &[],
        )
        .await;
    let cursor = page.json["nextCursor"].as_str().expect("more");
    let rest = app
        .call(
            Method::GET,
            &format!(
                "/api/v1/audit-logs?projectId={}&limit=3&cursor={cursor}",
                app.project_id
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(rest.json["auditLogs"][0]["action"], "project.create");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn logins_are_recorded_for_instance_admins(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let body = json!({ "clientId": "nobody-knows-me", "clientSecret": "wrong" });
    app.call_as(
        None,
        Method::POST,
        "/api/v1/auth/universal-auth/login",
        Some(body),
        &[],
    )
    .await;
    let list = app
        .call(
            Method::GET,
            "/api/v1/audit-logs?action=auth.login",
            None,
            &[],
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let outcomes: Vec<&str> = list.json["auditLogs"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    assert!(
        outcomes.contains(&"failure") && outcomes.contains(&"success"),
        "{outcomes:?}"
    );
    assert!(!list.text.contains("wrong\""));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn audit_rows_cannot_be_changed(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let update = sqlx::query("update audit_events set action = 'forged'")
        .execute(&app.pool)
        .await;
    assert!(update.is_err());
    let delete = sqlx::query("delete from audit_events")
        .execute(&app.pool)
        .await;
    assert!(delete.is_err());
}
