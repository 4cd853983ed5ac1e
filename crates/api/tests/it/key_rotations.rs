//! `auth0-private-key-jwt` rotations through the API (issue 18): the same shape as the
//! client-secret type under their own path, with `parameters.overlapSeconds` and a mapping of the
//! client id, private key and key id. A rotation is found only under its own type's path; bad
//! input is refused with a problem naming the field, and nothing is written.

use auth0_emulator::{ClientSeed, GrantSeed};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{DOMAIN, KEY_ROTATIONS, TARGET_ID, TestApp};

const SECRETS: &str = "/api/v2/secret-rotations/auth0-client-secret";

async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .expect("count")
}

/// Rotations, mappings and their audit rows: what a refused request must leave untouched.
async fn footprint(pool: &PgPool) -> (i64, i64, i64) {
    (
        count(pool, "select count(*) from secret_rotations").await,
        count(pool, "select count(*) from rotation_secrets").await,
        count(
            pool,
            // A refused create is audited by design (`routes::refused`); anything else counts.
            "select count(*) from audit_events where action like 'secret_rotation.%' \
             and not (action = 'secret_rotation.create' and outcome = 'failure')",
        )
        .await,
    )
}

impl TestApp {
    /// A key rotation body writing into `prod` at `/orders`.
    fn mapped_key_body(&self, name: &str, connection: &str) -> Value {
        let mut body = self.key_rotation_body(name, connection, TARGET_ID);
        body["environment"] = json!("prod");
        body["secretPath"] = json!("/orders");
        body["secretsMapping"] = json!({
            "clientId": "ORDERS_AUTH0_CLIENT_ID",
            "privateKey": "ORDERS_AUTH0_PRIVATE_KEY",
            "keyId": "ORDERS_AUTH0_KEY_ID",
        });
        body
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn key_rotations_have_the_client_secret_shape_under_their_own_path(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.folder("prod", "/", "orders").await;
    let connection = app.create("orders-conn").await;
    let conn_id = connection["id"].as_str().expect("id");
    let created = app
        .call(
            Method::POST,
            KEY_ROTATIONS,
            Some(app.mapped_key_body("orders-key", conn_id)),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let r = &created.json["secretRotation"];
    assert_eq!(r["type"], "auth0-private-key-jwt");
    assert_eq!(
        r["parameters"],
        json!({ "clientId": TARGET_ID, "overlapSeconds": 3600 })
    );
    assert_eq!(
        r["secretsMapping"],
        json!({
            "clientId": "ORDERS_AUTH0_CLIENT_ID",
            "privateKey": "ORDERS_AUTH0_PRIVATE_KEY",
            "keyId": "ORDERS_AUTH0_KEY_ID",
        })
    );
    assert_eq!(r["secretPath"], "/orders");
    assert_eq!(
        r["isRotating"], true,
        "its first rotation is queued at once"
    );
    let id = r["id"].as_str().expect("id").to_owned();
    let audit: Value = sqlx::query_scalar(
        "select metadata from audit_events where action = 'secret_rotation.create'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("audit");
    assert_eq!(audit["type"], "auth0-private-key-jwt");
    assert_eq!(audit["overlapSeconds"], 3600);

    // A client-secret rotation beside it: each type's routes see only their own.
    let secret = app.rotation("orders-secret").await;
    let secret_id = secret["id"].as_str().expect("id");
    let fetched = app
        .call(Method::GET, &format!("{KEY_ROTATIONS}/{id}"), None, &[])
        .await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text);
    assert_eq!(
        fetched.json["secretRotation"]["parameters"]["overlapSeconds"],
        3600
    );
    app.call(Method::GET, &format!("{SECRETS}/{id}"), None, &[])
        .await
        .problem(StatusCode::NOT_FOUND);
    app.call(
        Method::GET,
        &format!("{KEY_ROTATIONS}/{secret_id}"),
        None,
        &[],
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    app.call(
        Method::POST,
        &format!("{KEY_ROTATIONS}/{secret_id}/rotate-secrets"),
        None,
        &[],
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    let names = |reply: &crate::support::Reply| -> Vec<String> {
        reply.json["secretRotations"]
            .as_array()
            .expect("list")
            .iter()
            .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let project = app.project_id.clone();
    let keys = app
        .call(
            Method::GET,
            &format!("{KEY_ROTATIONS}?projectId={project}"),
            None,
            &[],
        )
        .await;
    assert_eq!(names(&keys), ["orders-key"], "{}", keys.text);
    let secrets = app
        .call(
            Method::GET,
            &format!("{SECRETS}?projectId={project}"),
            None,
            &[],
        )
        .await;
    assert_eq!(names(&secrets), ["orders-secret"], "{}", secrets.text);
    let all = app
        .call(
            Method::GET,
            &format!("/api/v2/secret-rotations?projectId={project}"),
            None,
            &[],
        )
        .await;
    assert_eq!(names(&all), ["orders-key", "orders-secret"], "{}", all.text);
    let by_name = app
        .call(
            Method::GET,
            &format!(
                "{KEY_ROTATIONS}/rotation-name/orders-key?projectId={project}&environment=prod&secretPath=%2Forders"
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(by_name.status, StatusCode::OK, "{}", by_name.text);
    app.call(
        Method::GET,
        &format!("{SECRETS}/rotation-name/orders-key?projectId={project}"),
        None,
        &[],
    )
    .await
    .problem(StatusCode::NOT_FOUND);

    // The overlap can change within its range; the mapping keeps its three roles.
    let patched = app
        .call(
            Method::PATCH,
            &format!("{KEY_ROTATIONS}/{id}"),
            Some(json!({ "parameters": { "overlapSeconds": 120 }, "rotationInterval": 7 })),
            &[],
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    let p = &patched.json["secretRotation"];
    assert_eq!(p["parameters"]["overlapSeconds"], 120);
    assert_eq!(p["parameters"]["clientId"], TARGET_ID);
    assert_eq!(p["rotationInterval"], 7);
    let renamed = app
        .call(
            Method::PATCH,
            &format!("{KEY_ROTATIONS}/{id}"),
            Some(json!({ "secretsMapping": {
                "clientId": "ORDERS_ID",
                "privateKey": "ORDERS_KEY",
                "keyId": "ORDERS_KID",
            } })),
            &[],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(
        renamed.json["secretRotation"]["secretsMapping"]["privateKey"],
        "ORDERS_KEY"
    );
    let attempts = app
        .call(
            Method::GET,
            &format!("{KEY_ROTATIONS}/{id}/attempts"),
            None,
            &[],
        )
        .await;
    assert_eq!(attempts.status, StatusCode::OK, "{}", attempts.text);
    // The worker ran it (with the client-secret rotation's run): this connection may not read
    // the application's credentials, so it could not keep the key in use enabled, and says so.
    let tried = &attempts.json["attempts"];
    assert_eq!(tried.as_array().map(Vec::len), Some(1), "{}", attempts.text);
    assert_eq!(tried[0]["outcome"], "failed");
    let message = tried[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("registering and enabling the new key")
            && message.contains("read:client_credentials"),
        "{message}"
    );
    let failed = app
        .call(Method::GET, &format!("{KEY_ROTATIONS}/{id}"), None, &[])
        .await;
    assert_eq!(failed.json["secretRotation"]["rotationStatus"], "failed");
    assert_eq!(
        failed.json["secretRotation"]["lastRotationMessage"],
        message
    );
    // Its type has no client secret to reveal.
    app.call(
        Method::GET,
        &format!("{KEY_ROTATIONS}/{id}/generated-credentials"),
        None,
        &[],
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    app.call(
        Method::GET,
        &format!("{SECRETS}/{id}/generated-credentials"),
        None,
        &[],
    )
    .await
    .problem(StatusCode::NOT_FOUND);

    // Delete: revoking a client secret is not what this type does; a plain delete works.
    let refused = app
        .call(
            Method::DELETE,
            &format!("{KEY_ROTATIONS}/{id}?revokeGeneratedCredentials=true"),
            None,
            &[],
        )
        .await;
    refused.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.fields(), ["revokeGeneratedCredentials"]);
    let deleted = app
        .call(Method::DELETE, &format!("{KEY_ROTATIONS}/{id}"), None, &[])
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    assert_eq!(
        deleted.json["secretRotation"]["type"],
        "auth0-private-key-jwt"
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_overlap_defaults_to_a_day(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create("conn").await;
    let body = app.rotation_body("daily", connection["id"].as_str().expect("id"), TARGET_ID);
    let created = app.call(Method::POST, KEY_ROTATIONS, Some(body), &[]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(
        created.json["secretRotation"]["parameters"]["overlapSeconds"],
        86400
    );
    assert_eq!(
        created.json["secretRotation"]["secretsMapping"],
        Value::Null
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn bad_input_is_refused_and_changes_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.folder("prod", "/", "orders").await;
    let connection = app.create("orders-conn").await;
    let conn_id = connection["id"].as_str().expect("id").to_owned();
    let before = footprint(&app.pool).await;
    let base = app.mapped_key_body("bad", &conn_id);
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut body = base.clone();
        edit(&mut body);
        body
    };
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        (
            "overlap below a minute",
            with(&|b| b["parameters"]["overlapSeconds"] = json!(59)),
            Some("parameters.overlapSeconds"),
        ),
        (
            "overlap above 30 days",
            with(&|b| b["parameters"]["overlapSeconds"] = json!(2_592_001)),
            Some("parameters.overlapSeconds"),
        ),
        (
            "overlap as long as the interval",
            with(&|b| {
                b["rotationInterval"] = json!(1);
                b["parameters"]["overlapSeconds"] = json!(86400);
            }),
            Some("parameters.overlapSeconds"),
        ),
        (
            "overlap negative",
            with(&|b| b["parameters"]["overlapSeconds"] = json!(-60)),
            Some("parameters.overlapSeconds"),
        ),
        (
            "the connection's own application",
            with(&|b| b["parameters"]["clientId"] = json!(crate::support::CLIENT_ID)),
            Some("parameters.clientId"),
        ),
        (
            "the private key and key id in one secret",
            with(&|b| b["secretsMapping"]["keyId"] = json!("ORDERS_AUTH0_PRIVATE_KEY")),
            Some("secretsMapping.keyId"),
        ),
        (
            "a mapping without the key id",
            with(&|b| {
                b["secretsMapping"]
                    .as_object_mut()
                    .expect("mapping")
                    .remove("keyId");
            }),
            None,
        ),
        (
            "the client-secret type's mapping",
            with(&|b| {
                b["secretsMapping"] =
                    json!({ "clientId": "ORDERS_ID", "clientSecret": "ORDERS_SECRET" })
            }),
            None,
        ),
        (
            "overlap with a fraction",
            with(&|b| b["parameters"]["overlapSeconds"] = json!(60.5)),
            None,
        ),
        (
            "overlap as text",
            with(&|b| b["parameters"]["overlapSeconds"] = json!("3600")),
            None,
        ),
        (
            "an unknown parameter",
            with(&|b| b["parameters"]["algorithm"] = json!("RS256")),
            None,
        ),
        (
            "an unknown field",
            with(&|b| b["overlapSeconds"] = json!(3600)),
            None,
        ),
    ];
    for (what, body, field) in cases {
        let reply = app.call(Method::POST, KEY_ROTATIONS, Some(body), &[]).await;
        assert!(
            reply.status.is_client_error(),
            "{what}: {} {}",
            reply.status,
            reply.text
        );
        reply.problem(reply.status);
        if let Some(field) = field {
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}");
            assert_eq!(reply.fields(), [field], "{what}: {}", reply.text);
        }
        assert_eq!(
            footprint(&app.pool).await,
            before,
            "{what} changed something"
        );
    }

    // Updates are held to the same rules, and a refused one leaves the row as it was.
    let made = app.key_rotation("kept").await;
    let id = made["id"].as_str().expect("id");
    let version = made["version"].clone();
    for (what, body, field) in [
        (
            "overlap out of range",
            json!({ "parameters": { "overlapSeconds": 30 } }),
            Some("parameters.overlapSeconds"),
        ),
        (
            "an interval shorter than the overlap",
            json!({ "rotationInterval": 1, "parameters": { "overlapSeconds": 86400 } }),
            Some("parameters.overlapSeconds"),
        ),
        (
            "an unknown parameter",
            json!({ "parameters": { "clientSecret": "x" } }),
            None,
        ),
    ] {
        let reply = app
            .call(
                Method::PATCH,
                &format!("{KEY_ROTATIONS}/{id}"),
                Some(body),
                &[],
            )
            .await;
        reply.problem(reply.status);
        assert!(reply.status.is_client_error(), "{what}: {}", reply.text);
        if let Some(field) = field {
            assert_eq!(reply.fields(), [field], "{what}: {}", reply.text);
        }
        let now = app
            .call(Method::GET, &format!("{KEY_ROTATIONS}/{id}"), None, &[])
            .await;
        assert_eq!(now.json["secretRotation"]["version"], version, "{what}");
        assert_eq!(
            now.json["secretRotation"]["parameters"]["overlapSeconds"], 3600,
            "{what}"
        );
    }
    // A client-secret rotation has no overlap to set.
    let secret = app.rotation("secret").await;
    let reply = app
        .call(
            Method::PATCH,
            &format!("{SECRETS}/{}", secret["id"].as_str().expect("id")),
            Some(json!({ "parameters": { "clientId": TARGET_ID, "overlapSeconds": 600 } })),
            &[],
        )
        .await;
    reply.problem(reply.status);
    assert!(reply.status.is_client_error(), "{}", reply.text);
}

/// An M2M application allowed to manage other applications' credentials.
const KEYS_ID: &str = "keyManagerM2MclientID0000000001";
const KEYS_SECRET: &str = "key-manager-secret-0123456789abcdef0123456789ab";

/// A connection through `KEYS_ID`, which may read, create and delete the target's credentials.
pub(crate) async fn key_manager(app: &TestApp) -> Value {
    let admin = app.emulator.admin();
    admin
        .add_client(DOMAIN, ClientSeed::m2m(KEYS_ID, KEYS_SECRET))
        .expect("client");
    admin
        .add_grant(
            DOMAIN,
            GrantSeed {
                client_id: KEYS_ID.to_owned(),
                audience: format!("https://{DOMAIN}/api/v2/"),
                scopes: [
                    "read:clients",
                    "update:clients",
                    "read:client_credentials",
                    "create:client_credentials",
                    "delete:client_credentials",
                ]
                .into_iter()
                .map(str::to_owned)
                .collect(),
            },
        )
        .expect("grant");
    let mut body = app.connection_body("key-manager");
    body["credentials"] =
        json!({ "domain": DOMAIN, "clientId": KEYS_ID, "clientSecret": KEYS_SECRET });
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

fn assert_absent(haystack: &str, lines: &[String], what: &str) {
    for line in lines {
        assert!(
            !haystack.contains(line.as_str()),
            "private key material in {what}"
        );
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn through_the_api_the_key_is_published_only_to_the_mapped_secret(pool: PgPool) {
    let logs = crate::canary::captured_logs().clone();
    let app = TestApp::new(pool).await;
    app.folder("prod", "/", "orders").await;
    let connection = key_manager(&app).await;
    let conn_id = connection["id"].as_str().expect("id");
    let created = app
        .call(
            Method::POST,
            KEY_ROTATIONS,
            Some(app.mapped_key_body("orders-key", conn_id)),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json["secretRotation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.run_to_the_overlap().await;

    // The overlap shows as a rotation in progress, with its attempt resting at `published`; it
    // cannot be queued again, deleted or re-mapped until the old credential is gone.
    let fetched = app
        .call(Method::GET, &format!("{KEY_ROTATIONS}/{id}"), None, &[])
        .await;
    assert_eq!(fetched.json["secretRotation"]["isRotating"], true);
    // The countdown: when the old credential goes (the overlap is the body's hour).
    let until = fetched.json["secretRotation"]["overlapUntil"]
        .as_str()
        .map(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339))
        .expect("overlapUntil while overlapping")
        .expect("a timestamp");
    let left = until - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::minutes(55) && left <= time::Duration::hours(1),
        "{left}"
    );
    let listed = app
        .call(
            Method::GET,
            &format!("{KEY_ROTATIONS}?projectId={}", app.project_id),
            None,
            &[],
        )
        .await;
    assert_eq!(
        listed.json["secretRotations"][0]["overlapUntil"],
        fetched.json["secretRotation"]["overlapUntil"]
    );
    let attempts = app
        .call(
            Method::GET,
            &format!("{KEY_ROTATIONS}/{id}/attempts"),
            None,
            &[],
        )
        .await;
    assert_eq!(
        attempts.json["attempts"][0]["step"], "published",
        "{}",
        attempts.text
    );
    assert_eq!(attempts.json["attempts"][0]["outcome"], "running");
    for (method, path, body) in [
        (
            Method::POST,
            format!("{KEY_ROTATIONS}/{id}/rotate-secrets"),
            None,
        ),
        (Method::DELETE, format!("{KEY_ROTATIONS}/{id}"), None),
        (
            Method::PATCH,
            format!("{KEY_ROTATIONS}/{id}"),
            Some(json!({ "secretsMapping": {
                "clientId": "A_ID", "privateKey": "A_KEY", "keyId": "A_KID",
            } })),
        ),
    ] {
        app.call(method, &path, body, &[])
            .await
            .problem(StatusCode::CONFLICT);
    }

    // The app reads its new key and kid where Infisical's SDKs read secrets; Auth0 has that key.
    let app_ref = &app;
    let read = |name: &'static str| {
        let path = format!(
            "/api/v3/secrets/raw/{name}?workspaceId={}&environment=prod&secretPath=%2Forders&viewSecretValue=true",
            app.project_id
        );
        async move { app_ref.call(Method::GET, &path, None, &[]).await }
    };
    let pem_reply = read("ORDERS_AUTH0_PRIVATE_KEY").await;
    assert_eq!(pem_reply.status, StatusCode::OK, "{}", pem_reply.text);
    let pem = pem_reply.json["secret"]["secretValue"]
        .as_str()
        .expect("value")
        .to_owned();
    assert!(pem.contains("BEGIN PRIVATE KEY"));
    let kid = read("ORDERS_AUTH0_KEY_ID").await.json["secret"]["secretValue"]
        .as_str()
        .expect("kid")
        .to_owned();
    let registered = app
        .emulator
        .admin()
        .client_credentials(DOMAIN, TARGET_ID)
        .expect("client");
    assert_eq!(registered.len(), 1, "the application had no key before");
    assert_eq!(registered[0].kid, kid);
    assert!(registered[0].enabled);

    // The overlap ends: the rotation succeeds.
    app.finish_the_overlap().await;
    let done = app
        .call(Method::GET, &format!("{KEY_ROTATIONS}/{id}"), None, &[])
        .await;
    assert_eq!(done.json["secretRotation"]["rotationStatus"], "success");
    assert_eq!(done.json["secretRotation"]["isRotating"], false);
    assert!(done.json["secretRotation"].get("overlapUntil").is_none());

    // Only the secret read shows the key: not the rotation's answers, not the database unsealed,
    // not the logs.
    let lines: Vec<String> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 32)
        .map(str::to_owned)
        .collect();
    assert!(!lines.is_empty());
    for (reply, what) in [
        (&created, "the create answer"),
        (&fetched, "the rotation"),
        (&attempts, "the attempts"),
        (&done, "the finished rotation"),
    ] {
        assert_absent(&reply.text, &lines, what);
    }
    let dump = app.dump().await;
    assert_absent(&dump, &lines, "the database");
    let hex_lines: Vec<String> = lines
        .iter()
        .map(|l| l.bytes().map(|b| format!("{b:02x}")).collect())
        .collect();
    assert_absent(&dump, &hex_lines, "a bytea column");
    let logs = String::from_utf8_lossy(&logs.lock().expect("log buffer")).into_owned();
    assert!(logs.contains(&id), "the logs were captured");
    assert_absent(&logs, &lines, "the logs");
}
