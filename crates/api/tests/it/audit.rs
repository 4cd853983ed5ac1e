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

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_log_is_filtered_by_resource_type_and_time(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.create("audited").await;
    app.identity("joiner", Some((&app.project_id, "viewer")))
        .await;
    let base = format!("/api/v1/audit-logs?projectId={}", app.project_id);
    let get = |query: String| {
        let app = &app;
        let base = base.clone();
        async move {
            app.call(Method::GET, &format!("{base}&{query}"), None, &[])
                .await
        }
    };
    let events = |reply: &crate::support::Reply| -> Vec<(String, String)> {
        reply.json["auditLogs"]
            .as_array()
            .expect("list")
            .iter()
            .map(|e| {
                (
                    e["resource"]["type"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    e["createdAt"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };

    let members = get("resourceType=membership".to_owned()).await;
    assert_eq!(members.status, StatusCode::OK, "{}", members.text);
    let found = events(&members);
    assert!(!found.is_empty(), "{}", members.text);
    assert!(found.iter().all(|(t, _)| t == "membership"), "{found:?}");
    let connections = get("resourceType=app_connection".to_owned()).await;
    assert!(
        events(&connections)
            .iter()
            .all(|(t, _)| t == "app_connection")
    );
    assert!(!events(&connections).is_empty());

    // `since` includes its instant, `until` excludes it.
    let all = get(String::new()).await;
    let all = events(&all);
    let (_, newest) = all.first().expect("events").clone();
    let since = get(format!("since={newest}")).await;
    assert!(
        events(&since).iter().any(|(_, at)| *at == newest),
        "{}",
        since.text
    );
    let until = get(format!("until={newest}")).await;
    assert!(
        events(&until).iter().all(|(_, at)| *at != newest),
        "{}",
        until.text
    );
    let later = get("since=2999-01-01T00:00:00Z".to_owned()).await;
    assert!(events(&later).is_empty());
    let range = get("since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z".to_owned()).await;
    assert_eq!(events(&range).len(), all.len());

    // Refusals name the field and never repeat what was sent.
    let bad = get("since=yesterday-ish".to_owned()).await;
    bad.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json["errors"][0]["field"], "since");
    assert!(!bad.text.contains("yesterday-ish"), "{}", bad.text);
    let backwards = get("since=2026-12-06T00:00:00Z&until=2026-12-05T00:00:00Z".to_owned()).await;
    backwards.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(backwards.json["errors"][0]["field"], "until");
    let long = get(format!("resourceType={}", "x".repeat(65))).await;
    long.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(long.json["errors"][0]["field"], "resourceType");
    // An empty bound is not a date-time either (the document says so; found by schemathesis).
    let empty = get("until=".to_owned()).await;
    empty.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.json["errors"][0]["field"], "until");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn refused_creates_are_recorded_without_what_was_sent(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let member = app
        .identity("member", Some((&app.project_id, "member")))
        .await;
    let refused = |events: &serde_json::Value, action: &str| -> Vec<serde_json::Value> {
        events["auditLogs"]
            .as_array()
            .expect("list")
            .iter()
            .filter(|e| e["action"] == action && e["outcome"] == "failure")
            .cloned()
            .collect()
    };
    let log = format!("/api/v1/audit-logs?projectId={}", app.project_id);
    let create_as_member = |body: serde_json::Value| {
        app.call_as(
            Some(&member.token),
            Method::POST,
            "/api/v1/app-connections/auth0",
            Some(body),
            &[],
        )
    };

    // A bad name: 422, recorded with the field and the rule, not the name or the secret.
    let mut body = app.connection_body("Bad Name!");
    let reply = create_as_member(body.clone()).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let events = app.call(Method::GET, &log, None, &[]).await;
    let found = refused(&events.json, "app_connection.create");
    assert_eq!(found.len(), 1, "{}", events.text);
    let event = &found[0];
    assert_eq!(event["actor"]["id"], member.id.as_str());
    assert_eq!(event["metadata"]["status"], 422);
    assert_eq!(event["metadata"]["errors"][0]["field"], "name");
    assert!(
        event["metadata"]["errors"][0]["rule"]
            .as_str()
            .is_some_and(|r| r.starts_with("must be")),
        "{event}"
    );
    assert!(event["resource"]["id"].is_null());
    let text = event.to_string();
    assert!(
        !text.contains("Bad Name!") && !text.contains(&app.secret),
        "{text}"
    );

    // A taken name: 409, recorded likewise.
    app.create("taken").await;
    body["name"] = json!("taken");
    let reply = create_as_member(body.clone()).await;
    reply.problem(StatusCode::CONFLICT);
    let events = app.call(Method::GET, &log, None, &[]).await;
    let found = refused(&events.json, "app_connection.create");
    assert_eq!(found.len(), 2, "{}", events.text);
    assert_eq!(found[0]["metadata"]["status"], 409);
    assert_eq!(found[0]["metadata"]["errors"][0]["field"], "name");
    assert!(!found[0].to_string().contains(&app.secret));

    // Credentials Auth0 refuses: recorded with the field Auth0's refusal concerns, and neither
    // the secret sent nor the real one in it.
    let wrong = "wrong-secret-canary-0123456789abcdefghijklmnopqrstuv";
    body["name"] = json!("refused-by-auth0");
    body["credentials"]["clientSecret"] = json!(wrong);
    let reply = create_as_member(body.clone()).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let events = app.call(Method::GET, &log, None, &[]).await;
    let found = refused(&events.json, "app_connection.create");
    assert_eq!(found.len(), 3, "{}", events.text);
    assert_eq!(found[0]["metadata"]["status"], 422);
    assert_eq!(
        found[0]["metadata"]["errors"][0]["field"],
        "credentials.clientSecret"
    );
    let text = found[0].to_string();
    assert!(
        !text.contains(wrong) && !text.contains(&app.secret),
        "{text}"
    );

    // A rotation refused: recorded as a refused rotation create.
    let rotation = app.rotation_body("Bad Rotation", "not-a-uuid", "client");
    let reply = app
        .call_as(
            Some(&member.token),
            Method::POST,
            "/api/v2/secret-rotations/auth0-client-secret",
            Some(rotation),
            &[],
        )
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let events = app.call(Method::GET, &log, None, &[]).await;
    let found = refused(&events.json, "secret_rotation.create");
    assert_eq!(found.len(), 1, "{}", events.text);
    let fields: Vec<&str> = found[0]["metadata"]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"name") && fields.contains(&"connectionId"),
        "{fields:?}"
    );
    assert!(!found[0].to_string().contains("Bad Rotation"));

    // Someone outside the project writes nothing into its log.
    let outsider = app.identity("outsider", None).await;
    let reply = app
        .call_as(
            Some(&outsider.token),
            Method::POST,
            "/api/v1/app-connections/auth0",
            Some(app.connection_body("Bad Name!")),
            &[],
        )
        .await;
    assert!(reply.status.is_client_error());
    let events = app.call(Method::GET, &log, None, &[]).await;
    assert_eq!(refused(&events.json, "app_connection.create").len(), 3);
}
