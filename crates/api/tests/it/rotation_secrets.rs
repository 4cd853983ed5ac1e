//! Rotations write secrets (issue 16): a rotation's `secretsMapping` names project secrets that
//! each finished rotation writes as a new version, in the transaction that records its success.
//! Read back through `/api/v3/secrets/raw` as Infisical's SDKs read them; the mapping checked at
//! create and update; managed secrets refused to hand edits; `deleteSecrets` on delete.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{DOMAIN, Reply, TARGET_ID, TestApp};

const BASE: &str = "/api/v2/secret-rotations/auth0-client-secret";
const ID_KEY: &str = "ORDERS_AUTH0_CLIENT_ID";
const SECRET_KEY: &str = "ORDERS_AUTH0_CLIENT_SECRET";

impl TestApp {
    /// A rotation body of `TARGET_ID` through `connection`, writing into `prod` at `/orders`.
    fn mapped_body(&self, name: &str, connection: &str, names: (&str, &str)) -> Value {
        let mut body = self.rotation_body(name, connection, TARGET_ID);
        body["environment"] = json!("prod");
        body["secretPath"] = json!("/orders");
        body["secretsMapping"] = json!({ "clientId": names.0, "clientSecret": names.1 });
        body
    }

    /// A secret of `prod` at `/orders` as Infisical's SDKs read it (`version`: a past one).
    async fn read_mapped(&self, name: &str, version: Option<i64>) -> Reply {
        let mut path = format!(
            "/api/v3/secrets/raw/{name}?workspaceId={}&environment=prod&secretPath=%2Forders&viewSecretValue=true&expandSecretReferences=true&include_imports=true&type=shared",
            self.project_id
        );
        if let Some(v) = version {
            path.push_str(&format!("&version={v}"));
        }
        self.call(Method::GET, &path, None, &[]).await
    }

    fn auth0_secret(&self) -> String {
        self.emulator
            .admin()
            .client_secret(DOMAIN, TARGET_ID)
            .expect("client")
    }
}

async fn audit_rows(pool: &PgPool, action: &str) -> Vec<(String, Value)> {
    sqlx::query_as("select actor_kind, metadata from audit_events where action = $1 order by id")
        .bind(action)
        .fetch_all(pool)
        .await
        .expect("audit")
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn each_rotation_writes_a_new_version_of_the_mapped_secrets(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.folder("prod", "/", "orders").await;
    let hook = app
        .call(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({ "projectId": app.project_id, "url": "https://hooks.example.com/", "eventTypes": ["secret-rotation.succeeded", "secret.created"] })),
            &[],
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.text);
    let connection = app.create("orders-conn").await;
    let body = app.mapped_body(
        "orders",
        connection["id"].as_str().expect("id"),
        (ID_KEY, SECRET_KEY),
    );
    let created = app.call(Method::POST, BASE, Some(body), &[]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let r = &created.json["secretRotation"];
    assert_eq!(
        r["secretsMapping"],
        json!({ "clientId": ID_KEY, "clientSecret": SECRET_KEY })
    );
    assert_eq!(r["environment"]["slug"], "prod");
    assert_eq!(r["environment"]["name"], "Production");
    assert_eq!(r["secretPath"], "/orders");
    assert_eq!(r["folder"]["path"], "/orders");
    assert_eq!(r["folder"]["id"], r["folderId"]);
    let id = r["id"].as_str().expect("id").to_owned();
    // Nothing is written before a rotation finishes.
    app.read_mapped(SECRET_KEY, None)
        .await
        .problem(StatusCode::NOT_FOUND);

    app.run_worker().await;
    let first = app.read_mapped(SECRET_KEY, None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let first_value = first.json["secret"]["secretValue"]
        .as_str()
        .expect("value")
        .to_owned();
    assert_eq!(first.json["secret"]["version"], 1);
    assert_eq!(first_value, app.auth0_secret(), "what Auth0 accepts");
    let client_id = app.read_mapped(ID_KEY, None).await;
    assert_eq!(client_id.json["secret"]["secretValue"], TARGET_ID);

    let queued = app
        .call(
            Method::POST,
            &format!("{BASE}/{id}/rotate-secrets"),
            None,
            &[],
        )
        .await;
    assert_eq!(queued.status, StatusCode::OK, "{}", queued.text);
    app.run_worker().await;
    let second = app.read_mapped(SECRET_KEY, None).await;
    assert_eq!(second.json["secret"]["version"], 2, "{}", second.text);
    let second_value = second.json["secret"]["secretValue"].as_str().expect("v");
    assert_eq!(second_value, app.auth0_secret());
    assert_ne!(second_value, first_value);
    let past = app.read_mapped(SECRET_KEY, Some(1)).await;
    assert_eq!(past.json["secret"]["secretValue"], first_value.as_str());

    // The rotation's answers name the mapping, never a value.
    let fetched = app
        .call(Method::GET, &format!("{BASE}/{id}"), None, &[])
        .await;
    assert_eq!(
        fetched.json["secretRotation"]["secretsMapping"]["clientSecret"],
        SECRET_KEY
    );
    assert!(!fetched.text.contains(second_value));
    let listed = app
        .call(
            Method::GET,
            &format!("{BASE}?projectId={}", app.project_id),
            None,
            &[],
        )
        .await;
    assert_eq!(
        listed.json["secretRotations"][0]["secretPath"], "/orders",
        "{}",
        listed.text
    );

    // Each write is audited by the rotation, without the value.
    let created_rows = audit_rows(&app.pool, "secret.create").await;
    let updated_rows = audit_rows(&app.pool, "secret.update").await;
    assert_eq!(created_rows.len(), 2, "{created_rows:?}");
    assert_eq!(updated_rows.len(), 2, "{updated_rows:?}");
    for (actor, metadata) in created_rows.iter().chain(&updated_rows) {
        assert_eq!(actor, "system");
        assert_eq!(metadata["rotationId"], id.as_str());
        assert_eq!(metadata["writtenBy"], "secret-rotation");
        assert!(!metadata.to_string().contains(&first_value));
        assert!(!metadata.to_string().contains(second_value));
    }
    let (_, success) = audit_rows(&app.pool, "secret_rotation.rotate")
        .await
        .pop()
        .expect("success row");
    assert_eq!(success["secretsWritten"].as_array().map(Vec::len), Some(2));
    // The succeeded event names them too (for receivers that re-read on rotation).
    let payload: Value = sqlx::query_scalar(
        "select payload from webhook_events where type = 'secret-rotation.succeeded' order by id desc limit 1",
    )
    .fetch_one(&app.pool)
    .await
    .expect("event");
    assert_eq!(
        payload["data"]["secretsWritten"],
        json!([
            { "key": ID_KEY, "role": "clientId", "version": 2 },
            { "key": SECRET_KEY, "role": "clientSecret", "version": 2 },
        ])
    );
    // Each secret's own event names the rotation as its writer.
    let created: Vec<Value> = sqlx::query_scalar(
        "select payload from webhook_events where type = 'secret.created' order by id",
    )
    .fetch_all(&app.pool)
    .await
    .expect("events");
    assert_eq!(created.len(), 2);
    for event in &created {
        assert_eq!(
            event["data"]["writtenBy"],
            json!({ "type": "rotation", "id": id })
        );
        assert!(!event.to_string().contains(&first_value));
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn rotations_without_a_mapping_answer_null_and_write_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let rotation = app.rotation("plain").await;
    for field in [
        "secretsMapping",
        "environment",
        "folder",
        "folderId",
        "secretPath",
    ] {
        assert!(rotation[field].is_null(), "{field}: {rotation}");
    }
    let secrets: i64 = sqlx::query_scalar("select count(*) from secrets")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(secrets, 0);
    let options = app
        .call(Method::GET, "/api/v2/secret-rotations/options", None, &[])
        .await;
    assert_eq!(
        options.json["secretRotationOptions"][0]["template"]["secretsMapping"],
        json!({ "clientId": "AUTH0_CLIENT_ID", "clientSecret": "AUTH0_CLIENT_SECRET" })
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_mapping_is_checked_at_create_and_update(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.folder("prod", "/", "orders").await;
    let connection = app.create("orders-conn").await;
    let conn_id = connection["id"].as_str().expect("id");
    let create = |body: Value| app.call(Method::POST, BASE, Some(body), &[]);

    // Names follow the secrets' rules; the submitted value is never echoed.
    for (names, field) in [
        (("BAD NAME", SECRET_KEY), "secretsMapping.clientId"),
        ((ID_KEY, "ÜNICODE"), "secretsMapping.clientSecret"),
        ((ID_KEY, "A=B"), "secretsMapping.clientSecret"),
        ((ID_KEY, ID_KEY), "secretsMapping.clientSecret"),
    ] {
        let reply = create(app.mapped_body("bad", conn_id, names)).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.fields(), vec![field.to_owned()], "{}", reply.text);
        assert!(!reply.text.contains("BAD NAME") && !reply.text.contains("A=B"));
    }
    let long = "X".repeat(300);
    let reply = create(app.mapped_body("bad", conn_id, (&long, SECRET_KEY))).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    // environment and secretPath belong to a mapping; a mapping needs an environment.
    let mut body = app.rotation_body("bad", conn_id, TARGET_ID);
    body["environment"] = json!("prod");
    let reply = create(body).await;
    assert_eq!(
        reply.fields(),
        vec!["environment".to_owned()],
        "{}",
        reply.text
    );
    let mut body = app.mapped_body("bad", conn_id, (ID_KEY, SECRET_KEY));
    body["environment"] = Value::Null;
    assert_eq!(create(body).await.fields(), vec!["environment".to_owned()]);
    let mut body = app.mapped_body("bad", conn_id, (ID_KEY, SECRET_KEY));
    body["secretPath"] = json!("/orders/../etc");
    assert_eq!(create(body).await.fields(), vec!["secretPath".to_owned()]);

    // Unknown environment or folder: 404 naming it.
    let mut body = app.mapped_body("bad", conn_id, (ID_KEY, SECRET_KEY));
    body["environment"] = json!("qa");
    let reply = create(body).await;
    reply.problem(StatusCode::NOT_FOUND);
    assert!(reply.text.contains("environment"), "{}", reply.text);
    let mut body = app.mapped_body("bad", conn_id, (ID_KEY, SECRET_KEY));
    body["secretPath"] = json!("/billing");
    let reply = create(body).await;
    reply.problem(StatusCode::NOT_FOUND);
    assert!(reply.text.contains("secretPath"), "{}", reply.text);

    // Two rotations cannot own one name; an existing secret is not taken over.
    let first = create(app.mapped_body("first", conn_id, (ID_KEY, SECRET_KEY))).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let clash = create(app.mapped_body("second", conn_id, ("OTHER_ID", SECRET_KEY))).await;
    clash.problem(StatusCode::CONFLICT);
    assert_eq!(
        clash.fields(),
        vec!["secretsMapping.clientSecret".to_owned()]
    );
    assert!(clash.text.contains("\\\"first\\\""), "{}", clash.text);
    app.secret("prod", "/orders", "HAND_MADE", "by hand").await;
    let clash = create(app.mapped_body("second", conn_id, ("HAND_MADE", "OTHER_SECRET"))).await;
    clash.problem(StatusCode::CONFLICT);
    assert_eq!(clash.fields(), vec!["secretsMapping.clientId".to_owned()]);
    let rotations: i64 = sqlx::query_scalar("select count(*) from secret_rotations")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(rotations, 1, "nothing else was stored");

    // Update: a rotation without a mapping gets one; names of another rotation are refused;
    // its own names stay its own; null removes the mapping.
    let plain = create(app.rotation_body("plain", conn_id, TARGET_ID)).await;
    let plain_id = plain.json["secretRotation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.run_worker().await;
    let path = format!("{BASE}/{plain_id}");
    let app = &app;
    let patch = |body: Value| app.call(Method::PATCH, &path, Some(body), &[]);
    let reply = patch(json!({ "environment": "prod" })).await;
    assert_eq!(
        reply.fields(),
        vec!["secretsMapping".to_owned()],
        "{}",
        reply.text
    );
    let reply = patch(json!({ "secretsMapping": { "clientId": ID_KEY, "clientSecret": "X" }, "environment": "prod", "secretPath": "/orders" })).await;
    reply.problem(StatusCode::CONFLICT);
    let reply = patch(json!({ "secretsMapping": { "clientId": "PLAIN_ID", "clientSecret": "PLAIN_SECRET" }, "environment": "prod" })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json["secretRotation"]["secretPath"], "/");
    let reply = patch(json!({ "secretPath": "/orders" })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.json["secretRotation"]["secretsMapping"]["clientId"],
        "PLAIN_ID"
    );
    assert_eq!(reply.json["secretRotation"]["folder"]["path"], "/orders");
    let reply = patch(json!({ "secretsMapping": null, "environment": "dev" })).await;
    assert_eq!(reply.fields(), vec!["environment".to_owned()]);
    let reply = patch(json!({ "secretsMapping": null })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(reply.json["secretRotation"]["secretsMapping"].is_null());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn managed_secrets_refuse_hand_edits_and_their_folders_stay(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.folder("prod", "/", "orders").await;
    let connection = app.create("orders-conn").await;
    let conn_id = connection["id"].as_str().expect("id");
    let created = app
        .call(
            Method::POST,
            BASE,
            Some(app.mapped_body("orders", conn_id, (ID_KEY, SECRET_KEY))),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    // Before the first rotation the name is already the rotation's.
    let reply = app
        .call(
            Method::POST,
            &format!("/api/v3/secrets/raw/{SECRET_KEY}"),
            Some(app.secret_body("prod", "/orders", Some("by hand"))),
            &[],
        )
        .await;
    reply.problem(StatusCode::CONFLICT);
    assert!(reply.text.contains("\\\"orders\\\""), "{}", reply.text);
    app.run_worker().await;
    let before = app.read_mapped(SECRET_KEY, None).await.text;

    let edit = app
        .call(
            Method::PATCH,
            &format!("/api/v3/secrets/raw/{SECRET_KEY}"),
            Some(app.secret_body("prod", "/orders", Some("by hand"))),
            &[],
        )
        .await;
    edit.problem(StatusCode::CONFLICT);
    assert!(edit.text.contains("secret rotation"), "{}", edit.text);
    let remove = app
        .call(
            Method::DELETE,
            &format!("/api/v3/secrets/raw/{SECRET_KEY}"),
            Some(json!({ "workspaceId": app.project_id, "environment": "prod", "secretPath": "/orders", "type": "shared" })),
            &[],
        )
        .await;
    remove.problem(StatusCode::CONFLICT);
    // Renaming another secret onto a managed name is an edit of it too.
    app.secret("prod", "/orders", "SPARE", "spare").await;
    let mut rename = app.secret_body("prod", "/orders", None);
    rename["newSecretName"] = json!(ID_KEY);
    let reply = app
        .call(
            Method::PATCH,
            "/api/v3/secrets/raw/SPARE",
            Some(rename),
            &[],
        )
        .await;
    reply.problem(StatusCode::CONFLICT);
    assert_eq!(reply.fields(), ["newSecretName"], "{}", reply.text);
    assert_eq!(
        app.read_mapped(SECRET_KEY, None).await.text,
        before,
        "unchanged"
    );

    // The folder and environment that hold them cannot go, even with forceDelete.
    let folder = app
        .call(
            Method::DELETE,
            "/api/v2/folders/orders",
            Some(json!({ "projectId": app.project_id, "environment": "prod", "path": "/", "forceDelete": true })),
            &[],
        )
        .await;
    folder.problem(StatusCode::CONFLICT);
    assert!(folder.text.contains("\\\"orders\\\""), "{}", folder.text);
    let prod = store::environments::by_slug(
        &app.pool,
        store::ProjectId(app.project_id.parse().expect("uuid")),
        "prod",
    )
    .await
    .expect("prod");
    let env = app
        .call(
            Method::DELETE,
            &format!(
                "/api/v1/workspace/{}/environments/{}",
                app.project_id, prod.id
            ),
            None,
            &[],
        )
        .await;
    env.problem(StatusCode::CONFLICT);
    assert_eq!(
        app.read_mapped(SECRET_KEY, None).await.status,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn delete_secrets_removes_them_otherwise_they_stay_as_ordinary_secrets(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.folder("prod", "/", "orders").await;
    let connection = app.create("orders-conn").await;
    let conn_id = connection["id"].as_str().expect("id");
    let mut ids = Vec::new();
    for (name, names) in [
        ("kept", ("KEPT_ID", "KEPT_SECRET")),
        ("gone", ("GONE_ID", "GONE_SECRET")),
    ] {
        let created = app
            .call(
                Method::POST,
                BASE,
                Some(app.mapped_body(name, conn_id, names)),
                &[],
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        ids.push(
            created.json["secretRotation"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    app.run_worker().await;
    let gone = app
        .call(
            Method::DELETE,
            &format!("{BASE}/{}?deleteSecrets=true", ids[1]),
            None,
            &[],
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.text);
    assert_eq!(
        gone.json["secretRotation"]["secretsMapping"]["clientId"],
        "GONE_ID"
    );
    for key in ["GONE_ID", "GONE_SECRET"] {
        app.read_mapped(key, None)
            .await
            .problem(StatusCode::NOT_FOUND);
    }
    assert_eq!(audit_rows(&app.pool, "secret.delete").await.len(), 2);

    let kept = app
        .call(
            Method::DELETE,
            &format!("{BASE}/{}?deleteSecrets=false", ids[0]),
            None,
            &[],
        )
        .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.text);
    assert_eq!(
        app.read_mapped("KEPT_SECRET", None).await.status,
        StatusCode::OK
    );
    // No longer managed: a hand edit goes through.
    let edit = app
        .call(
            Method::PATCH,
            "/api/v3/secrets/raw/KEPT_SECRET",
            Some(app.secret_body("prod", "/orders", Some("by hand now"))),
            &[],
        )
        .await;
    assert_eq!(edit.status, StatusCode::OK, "{}", edit.text);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_refused_secret_write_undoes_the_finish_and_the_attempt_is_retried(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.folder("prod", "/", "orders").await;
    let connection = app.create("orders-conn").await;
    let created = app
        .call(
            Method::POST,
            BASE,
            Some(app.mapped_body(
                "orders",
                connection["id"].as_str().expect("id"),
                (ID_KEY, SECRET_KEY),
            )),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json["secretRotation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Stands for any refusal of the write (the table itself says no).
    sqlx::raw_sql(
        "create function refuse_versions() returns trigger language plpgsql as $$ \
         begin raise exception 'secret versions are read-only in this test'; end; $$; \
         create trigger refuse_versions before insert on secret_versions \
         for each row execute function refuse_versions();",
    )
    .execute(&app.pool)
    .await
    .expect("trigger");
    let config = worker::WorkerConfig {
        tenant_rate: None,
        propagation_poll: Duration::from_millis(20),
        propagation_timeout: Duration::from_secs(5),
        // Long enough that the retry is not due again within the test's own steps.
        retry_base: Duration::from_secs(600),
        retry_max: Duration::from_secs(600),
        ..worker::WorkerConfig::default()
    };
    let worker = worker::Worker::new(config, app.state.broker.clone()).expect("worker");
    let report = worker.process_one().await.expect("step").expect("due");
    match &report.outcome {
        worker::JobOutcome::Retrying { message, .. } => {
            assert!(message.contains("mapped secrets"), "{message}");
        }
        other => panic!("expected a retry, got {other:?}"),
    }
    // Auth0 holds the new secret, Keyhold recorded no success and no secret.
    let fetched = app
        .call(Method::GET, &format!("{BASE}/{id}"), None, &[])
        .await;
    assert_eq!(fetched.json["secretRotation"]["rotationStatus"], "pending");
    assert!(fetched.json["secretRotation"]["lastRotatedAt"].is_null());
    let promoted: i64 =
        sqlx::query_scalar("select count(*) from rotation_credentials where state = 'current'")
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(promoted, 0, "the new secret is still pending");
    app.read_mapped(SECRET_KEY, None)
        .await
        .problem(StatusCode::NOT_FOUND);

    sqlx::raw_sql("drop trigger refuse_versions on secret_versions")
        .execute(&app.pool)
        .await
        .expect("drop");
    sqlx::query("update secret_rotations set due_at = now()")
        .execute(&app.pool)
        .await
        .expect("due now");
    let report = worker.process_one().await.expect("step").expect("due");
    assert!(
        matches!(
            report.outcome,
            worker::JobOutcome::Rotated { attempt_no: 1, .. }
        ),
        "the same attempt finishes: {:?}",
        report.outcome
    );
    let secret = app.read_mapped(SECRET_KEY, None).await;
    assert_eq!(
        secret.json["secret"]["secretValue"],
        app.auth0_secret().as_str()
    );
    assert_eq!(secret.json["secret"]["version"], 1);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn by_name_with_infisicals_environment_and_secret_path(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.folder("prod", "/", "orders").await;
    let connection = app.create("orders-conn").await;
    let body = app.mapped_body(
        "orders",
        connection["id"].as_str().expect("id"),
        (ID_KEY, SECRET_KEY),
    );
    let created = app.call(Method::POST, BASE, Some(body), &[]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let app = &app;
    let by_name = async |query: &str| {
        let path = format!(
            "{BASE}/rotation-name/orders?projectId={}{query}",
            app.project_id
        );
        app.call(Method::GET, &path, None, &[]).await
    };
    for query in [
        "",
        "&environment=prod&secretPath=%2Forders",
        "&secretPath=%2Forders%2F",
    ] {
        let found = by_name(query).await;
        assert_eq!(found.status, StatusCode::OK, "{query}: {}", found.text);
        assert_eq!(found.json["secretRotation"]["secretPath"], "/orders");
    }
    for query in ["&environment=dev", "&secretPath=%2F", "&secretPath=..%2F"] {
        by_name(query).await.problem(StatusCode::NOT_FOUND);
    }
}
