//! Webhook events beyond rotations (issue 17, second slice): `secret.*` for every write to a
//! project secret, with names and versions but never the value; `app-connection.*` alerts,
//! deduplicated; endpoints disabled after failing for days, with `webhook.disabled`.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::webhooks::{
    HOOKS, Receiver, app_allowing_loopback, body, create, deliver_until, dispatcher, verify,
};

const CANARY: &str = "CANARY-webhook-secret-value-5d1e";

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn secret_writes_are_reported_without_their_values(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    let receiver = Receiver::start(vec![]).await;
    let (_, signing) = create(
        &app,
        &receiver.url,
        json!(["secret.created", "secret.updated", "secret.deleted"]),
    )
    .await;
    let made = app.secret("dev", "/", "DB_PASSWORD", CANARY).await;
    let mut update = app.secret_body("dev", "/", Some(&format!("{CANARY}-2")));
    update["newSecretName"] = json!("DB_PASS");
    let updated = app
        .call(
            Method::PATCH,
            "/api/v3/secrets/raw/DB_PASSWORD",
            Some(update),
            &[],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    let deleted = app
        .call(
            Method::DELETE,
            "/api/v3/secrets/raw/DB_PASS",
            Some(app.secret_body("dev", "/", None)),
            &[],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);

    let dispatcher = dispatcher(&app);
    deliver_until(&dispatcher, &receiver, 3).await;
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    let actor: uuid::Uuid =
        sqlx::query_scalar("select actor_id from audit_events where action = 'secret.create'")
            .fetch_one(&app.pool)
            .await
            .expect("audit row");
    let mut events: Vec<Value> = got
        .iter()
        .inspect(|r| {
            verify(&signing, r);
            let text = String::from_utf8_lossy(&r.body);
            assert!(!text.contains(CANARY), "a value left in a webhook: {text}");
            assert!(!format!("{:?}", r.headers).contains(CANARY));
        })
        .map(body)
        .collect();
    // Deliveries run concurrently, so arrival order is not the write order.
    let order = ["secret.created", "secret.updated", "secret.deleted"];
    events.sort_by_key(|e| order.iter().position(|t| e["type"] == *t));
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, order);
    for event in &events {
        let data = &event["data"];
        assert_eq!(data["projectId"], app.project_id.as_str());
        assert_eq!(data["secretId"], made["id"]);
        assert_eq!(data["environment"], "dev");
        assert_eq!(data["secretPath"], "/");
        assert_eq!(
            data["writtenBy"],
            json!({ "type": "member", "id": actor.to_string() })
        );
    }
    assert_eq!(events[0]["data"]["secretKey"], "DB_PASSWORD");
    assert_eq!(events[0]["data"]["version"], 1);
    assert_eq!(events[1]["data"]["secretKey"], "DB_PASS");
    assert_eq!(events[1]["data"]["previousSecretKey"], "DB_PASSWORD");
    assert_eq!(events[1]["data"]["version"], 2);
    // A delete names the last version the secret had.
    assert_eq!(events[2]["data"]["secretKey"], "DB_PASS");
    assert_eq!(events[2]["data"]["version"], 2);

    // The outbox holds names only, never the value, not even sealed.
    let outbox: Vec<String> = sqlx::query_scalar("select payload::text from webhook_events")
        .fetch_all(&app.pool)
        .await
        .expect("outbox");
    assert_eq!(outbox.len(), 3);
    assert!(outbox.iter().all(|p| !p.contains(CANARY)));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_refused_secret_write_reports_nothing(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    let receiver = Receiver::start(vec![]).await;
    create(&app, &receiver.url, json!(["*"])).await;
    app.secret("dev", "/", "TAKEN", CANARY).await;
    app.secret("dev", "/", "OTHER", CANARY).await;
    // Renaming onto a taken name fails inside the write's transaction: no event for it.
    let mut clash = app.secret_body("dev", "/", Some(CANARY));
    clash["newSecretName"] = json!("TAKEN");
    let refused = app
        .call(Method::PATCH, "/api/v3/secrets/raw/OTHER", Some(clash), &[])
        .await;
    refused.problem(StatusCode::CONFLICT);
    let types: Vec<String> =
        sqlx::query_scalar("select type from webhook_events order by created_at, id")
            .fetch_all(&app.pool)
            .await
            .expect("outbox");
    assert_eq!(types, ["secret.created", "secret.created"]);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_refused_connection_secret_is_reported_once_per_version_and_hour(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    let receiver = Receiver::start(vec![]).await;
    let (_, signing) = create(
        &app,
        &receiver.url,
        json!(["app-connection.credentials-rejected"]),
    )
    .await;
    let connection = app.create("acme").await;
    let id = connection["id"].as_str().expect("id");
    // Auth0 refuses the connection's secret from now on (as after a rotation outside Keyhold).
    app.emulator
        .admin()
        .try_inject_fault(
            crate::support::DOMAIN,
            auth0_emulator::Fault::fail(Some("POST /oauth/token"), 401, 50),
        )
        .expect("fault");
    // A storm of calls: each one is refused, one event is sent.
    for _ in 0..5 {
        let reply = app
            .call(
                Method::GET,
                &format!("/api/v1/app-connections/auth0/{id}/clients"),
                None,
                &[],
            )
            .await;
        assert!(!reply.status.is_success(), "{}", reply.text);
    }
    let validate = app
        .call(
            Method::POST,
            &format!("/api/v1/app-connections/auth0/{id}/validate"),
            None,
            &[],
        )
        .await;
    assert!(!validate.status.is_success(), "{}", validate.text);
    let dispatcher = dispatcher(&app);
    deliver_until(&dispatcher, &receiver, 1).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1, "deduplicated");
    verify(&signing, &got[0]);
    let text = String::from_utf8_lossy(&got[0].body).to_string();
    assert!(!text.contains(&app.secret), "the secret left: {text}");
    let event = body(&got[0]);
    assert_eq!(event["type"], "app-connection.credentials-rejected");
    let data = &event["data"];
    assert_eq!(data["connectionId"], id);
    assert_eq!(data["connectionName"], "acme");
    assert_eq!(data["projectId"], app.project_id.as_str());
    assert_eq!(data["clientId"], crate::support::CLIENT_ID);
    assert_eq!(data["connectionVersion"], connection["version"]);
    assert!(
        data["reason"]
            .as_str()
            .is_some_and(|r| r.contains("rejected"))
    );
    assert!(data["whatToFix"].as_str().is_some_and(|w| w.contains(id)));
    let queued: i64 = sqlx::query_scalar("select count(*) from webhook_events")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(queued, 1);

    // An hour later the same version may be reported again.
    sqlx::query("update app_connection_alerts set last_sent_at = now() - interval '61 minutes'")
        .execute(&app.pool)
        .await
        .expect("age the alert");
    let again = app
        .call(
            Method::GET,
            &format!("/api/v1/app-connections/auth0/{id}/clients"),
            None,
            &[],
        )
        .await;
    assert!(!again.status.is_success(), "{}", again.text);
    deliver_until(&dispatcher, &receiver, 2).await;
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_capability_that_lost_its_scopes_is_reported_once(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    let receiver = Receiver::start(vec![]).await;
    let (_, signing) = create(&app, &receiver.url, json!(["*"])).await;
    let connection = app.create("acme").await;
    let id = connection["id"].as_str().expect("id");
    let validate = || async {
        let reply = app
            .call(
                Method::POST,
                &format!("/api/v1/app-connections/auth0/{id}/validate"),
                None,
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply
    };
    // A check at creation found some capabilities unusable: those were never usable, so the
    // next check reports nothing.
    validate().await;
    assert!(receiver.received().is_empty());
    let queued: i64 = sqlx::query_scalar("select count(*) from webhook_events")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(queued, 0);

    // As if the last check had found every capability usable: the grants were taken away since.
    sqlx::query(
        "update app_connections set scope_check = \
           (select jsonb_object_agg(k, '[]'::jsonb) from jsonb_object_keys(scope_check) k)",
    )
    .execute(&app.pool)
    .await
    .expect("stored check");
    let reply = validate().await;
    let unusable: Vec<Value> = reply.json["diagnostics"]["capabilities"]
        .as_array()
        .expect("capabilities")
        .iter()
        .filter(|c| c["usable"] == false)
        .map(|c| json!({ "capability": c["capability"], "missingScopes": c["missingScopes"] }))
        .collect();
    assert!(!unusable.is_empty(), "{}", reply.text);
    // Checking again within the hour reports nothing more, even as if lost again.
    sqlx::query(
        "update app_connections set scope_check = \
           (select jsonb_object_agg(k, '[]'::jsonb) from jsonb_object_keys(scope_check) k)",
    )
    .execute(&app.pool)
    .await
    .expect("stored check");
    validate().await;

    let dispatcher = dispatcher(&app);
    deliver_until(&dispatcher, &receiver, 1).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    verify(&signing, &got[0]);
    let event = body(&got[0]);
    assert_eq!(event["type"], "app-connection.scopes-missing");
    assert_eq!(event["data"]["connectionId"], id);
    assert_eq!(event["data"]["capabilities"], Value::Array(unusable));
    assert!(event["data"]["whatToFix"].is_string());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_endpoint_failing_for_days_is_disabled_and_the_others_are_told(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    let broken = Receiver::start(vec![(500, None); 10]).await;
    let (hook, _) = create(&app, &broken.url, json!(["webhook.test"])).await;
    let id = hook["id"].as_str().expect("id");
    let watcher = Receiver::start(vec![]).await;
    let (_, watcher_secret) = create(&app, &watcher.url, json!(["webhook.disabled"])).await;
    let queued = app
        .call(Method::POST, &format!("{HOOKS}/{id}/test"), None, &[])
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    let dispatcher = dispatcher(&app);
    deliver_until(&dispatcher, &broken, 1).await;
    let failing = app
        .call(Method::GET, &format!("{HOOKS}/{id}"), None, &[])
        .await;
    assert!(
        failing.json["webhook"]["failingSince"].is_string(),
        "{}",
        failing.text
    );
    assert_eq!(failing.json["webhook"]["disabledReason"], Value::Null);

    // Three days of failures later (the run's start moved back rather than waiting).
    sqlx::query(
        "update webhook_endpoints set failing_since = now() - interval '73 hours' where id = $1",
    )
    .bind(uuid::Uuid::parse_str(id).expect("uuid"))
    .execute(&app.pool)
    .await
    .expect("age");
    let upkept = dispatcher.upkeep().await.expect("upkeep");
    assert_eq!(upkept.disabled.len(), 1);
    let shown = app
        .call(Method::GET, &format!("{HOOKS}/{id}"), None, &[])
        .await;
    assert_eq!(shown.json["webhook"]["enabled"], false, "{}", shown.text);
    assert!(
        shown.json["webhook"]["disabledReason"]
            .as_str()
            .is_some_and(|r| r.contains("72 hours")),
        "{}",
        shown.text
    );
    assert!(shown.json["webhook"]["disabledAt"].is_string());

    deliver_until(&dispatcher, &watcher, 1).await;
    let got = watcher.received();
    verify(&watcher_secret, &got[0]);
    let event = body(&got[0]);
    assert_eq!(event["type"], "webhook.disabled");
    assert_eq!(event["data"]["webhookId"], id);
    let audited: i64 =
        sqlx::query_scalar("select count(*) from audit_events where action = 'webhook.disable'")
            .fetch_one(&app.pool)
            .await
            .expect("audit");
    assert_eq!(audited, 1);

    // An admin enables it again: the reason and the failing run are gone.
    let enabled = app
        .call(
            Method::PATCH,
            &format!("{HOOKS}/{id}"),
            Some(json!({ "enabled": true })),
            &[],
        )
        .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.text);
    assert_eq!(enabled.json["webhook"]["enabled"], true);
    assert_eq!(enabled.json["webhook"]["disabledReason"], Value::Null);
    assert_eq!(enabled.json["webhook"]["failingSince"], Value::Null);

    // The metrics of delivery and upkeep are exported.
    let metrics = app.call(Method::GET, "/metrics", None, &[]).await;
    for name in [
        r#"keyhold_webhook_attempts_total{outcome="5xx"}"#,
        r#"keyhold_webhook_attempts_total{outcome="2xx"}"#,
        "keyhold_webhook_oldest_undelivered_seconds",
        "keyhold_webhook_endpoints_disabled_total",
        "keyhold_webhook_events_deleted_total",
    ] {
        assert!(
            metrics.text.contains(name),
            "{name} missing: {}",
            metrics.text
        );
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn secrets_deleted_with_their_folder_or_environment_are_reported(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    let receiver = Receiver::start(vec![]).await;
    let (_, signing) = create(&app, &receiver.url, json!(["secret.deleted"])).await;
    app.folder("prod", "/", "shop").await;
    app.folder("prod", "/shop", "api").await;
    app.secret("prod", "/shop", "OUTER", CANARY).await;
    app.secret("prod", "/shop/api", "INNER", CANARY).await;
    app.secret("prod", "/", "STAYS", CANARY).await;
    let qa = app.environment("qa").await;
    app.secret("qa", "/", "QA_ONLY", CANARY).await;

    let folder = app
        .call(
            Method::DELETE,
            "/api/v2/folders/shop",
            Some(json!({ "projectId": app.project_id, "environment": "prod", "path": "/", "forceDelete": true })),
            &[],
        )
        .await;
    assert_eq!(folder.status, StatusCode::OK, "{}", folder.text);
    let environment = app
        .call(
            Method::DELETE,
            &format!(
                "/api/v1/workspace/{}/environments/{}",
                app.project_id,
                qa["id"].as_str().expect("id")
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(environment.status, StatusCode::OK, "{}", environment.text);

    let dispatcher = dispatcher(&app);
    deliver_until(&dispatcher, &receiver, 3).await;
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    let mut seen: Vec<(String, String, String)> = got
        .iter()
        .inspect(|r| {
            verify(&signing, r);
            assert!(!String::from_utf8_lossy(&r.body).contains(CANARY));
        })
        .map(body)
        .map(|e| {
            assert_eq!(e["type"], "secret.deleted");
            let d = &e["data"];
            (
                d["secretKey"].as_str().unwrap_or_default().to_owned(),
                d["secretPath"].as_str().unwrap_or_default().to_owned(),
                d["deletedWith"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let want = [
        ("INNER", "/shop/api", "folder"),
        ("OUTER", "/shop", "folder"),
        ("QA_ONLY", "/", "environment"),
    ]
    .map(|(k, p, w)| (k.to_owned(), p.to_owned(), w.to_owned()));
    assert_eq!(seen, want);
}
