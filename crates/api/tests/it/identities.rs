//! Identity management by instance admins.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::TestApp;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn machine_secrets_are_shown_once_and_rotate(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = app.identity("svc", None).await;
    let path = format!("/api/v1/identities/{}", id.id);
    let fetched = app.call(Method::GET, &path, None, &[]).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert!(!fetched.text.contains(&id.client_secret));
    assert_eq!(fetched.json["identity"]["type"], "machine");

    let rotated = app
        .call(Method::POST, &format!("{path}/client-secret"), None, &[])
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let new_secret = rotated.json["clientSecret"].as_str().expect("secret");
    assert_ne!(new_secret, id.client_secret);
    // Old sessions and the old secret are dead; the new secret works.
    app.call_as(Some(&id.token), Method::GET, "/api/v1/projects", None, &[])
        .await
        .problem(StatusCode::UNAUTHORIZED);
    let old = json!({ "clientId": id.client_id, "clientSecret": id.client_secret });
    app.call_as(
        None,
        Method::POST,
        "/api/v1/auth/universal-auth/login",
        Some(old),
        &[],
    )
    .await
    .problem(StatusCode::UNAUTHORIZED);
    app.login(&id.client_id, new_secret).await;
    let stored: String =
        sqlx::query_scalar("select client_secret_hash from identities where id = $1::uuid")
            .bind(&id.id)
            .fetch_one(&app.pool)
            .await
            .expect("hash");
    assert!(stored.starts_with("$argon2id$") && !stored.contains(new_secret));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_last_instance_admin_cannot_be_removed(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let list = app.call(Method::GET, "/api/v1/identities", None, &[]).await;
    let admin_id = list.json["identities"]
        .as_array()
        .expect("list")
        .iter()
        .find(|i| i["isInstanceAdmin"] == true)
        .and_then(|i| i["id"].as_str())
        .expect("admin")
        .to_owned();
    let path = format!("/api/v1/identities/{admin_id}");
    app.call(Method::PATCH, &path, Some(json!({ "disabled": true })), &[])
        .await
        .problem(StatusCode::CONFLICT);
    app.call(
        Method::PATCH,
        &path,
        Some(json!({ "isInstanceAdmin": false })),
        &[],
    )
    .await
    .problem(StatusCode::CONFLICT);
    app.call(Method::DELETE, &path, None, &[])
        .await
        .problem(StatusCode::CONFLICT);
    // Still an admin, still working.
    assert_eq!(
        app.call(Method::GET, &path, None, &[]).await.json["identity"]["isInstanceAdmin"],
        true
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn identity_input_is_validated(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let cases = [
        (json!({ "type": "robot", "name": "x" }), "type"),
        (json!({ "type": "machine", "name": "" }), "name"),
        (
            json!({ "type": "user", "name": "u", "email": "not-an-email", "password": "long enough password" }),
            "email",
        ),
        (
            json!({ "type": "user", "name": "u", "email": "u@example.com", "password": "short" }),
            "password",
        ),
        (
            json!({ "type": "machine", "name": "m", "password": "chosen by me" }),
            "password",
        ),
    ];
    for (body, field) in cases {
        let reply = app
            .call(Method::POST, "/api/v1/identities", Some(body), &[])
            .await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.fields(), [field], "{}", reply.text);
    }
    let user = json!({ "type": "user", "name": "u", "email": "dup@example.com", "password": "long enough password" });
    assert_eq!(
        app.call(Method::POST, "/api/v1/identities", Some(user.clone()), &[])
            .await
            .status,
        StatusCode::CREATED
    );
    app.call(Method::POST, "/api/v1/identities", Some(user), &[])
        .await
        .problem(StatusCode::CONFLICT);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_last_project_admin_stays(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let project = app.project_id.clone();
    let owner = app.identity("owner", Some((&project, "admin"))).await;
    // The instance admin created the project and is its admin too; remove that membership first.
    let memberships = app
        .call(
            Method::GET,
            &format!("/api/v1/projects/{project}/memberships"),
            None,
            &[],
        )
        .await;
    let creator = memberships.json["memberships"]
        .as_array()
        .expect("list")
        .iter()
        .find(|m| m["identityId"] != owner.id.as_str())
        .and_then(|m| m["identityId"].as_str())
        .expect("creator")
        .to_owned();
    let path = format!("/api/v1/projects/{project}/memberships/{creator}");
    assert_eq!(
        app.call(Method::DELETE, &path, None, &[]).await.status,
        StatusCode::OK
    );
    let own = format!("/api/v1/projects/{project}/memberships/{}", owner.id);
    app.call_as(
        Some(&owner.token),
        Method::PATCH,
        &own,
        Some(json!({ "role": "member" })),
        &[],
    )
    .await
    .problem(StatusCode::CONFLICT);
    app.call_as(Some(&owner.token), Method::DELETE, &own, None, &[])
        .await
        .problem(StatusCode::CONFLICT);
}
