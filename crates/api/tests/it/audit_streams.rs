//! Audit log streams (issue 17): the API (scopes, write-only headers, secret shown once, bad
//! input refused with nothing changed) and delivery end to end — every audit event of the
//! stream's scope reaches a local receiver in order, in signed batches verified with the
//! `standardwebhooks` crate, and a receiver that was down gets everything once it is back.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use worker::audit_streams::Sent;

use crate::support::TestApp;
use crate::webhooks::{Receiver, app_allowing_loopback, body, dispatcher, verify};

const STREAMS: &str = "/api/v1/audit-log-streams";
/// A header value standing in for an intake's API key: it must never come back.
const API_KEY: &str = "dd-canary-0a1b2c3d4e5f60718293a4b5c6d7e8f9";

async fn create(app: &TestApp, body: Value) -> (Value, String) {
    let reply = app.call(Method::POST, STREAMS, Some(body), &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert!(!reply.text.contains(API_KEY), "{}", reply.text);
    let secret = reply.json["signingSecret"]
        .as_str()
        .expect("secret")
        .to_owned();
    (reply.json["auditLogStream"].clone(), secret)
}

/// Records `n` audit events in `project` (as the API would for its own actions).
async fn record(app: &TestApp, project: Option<&str>, n: usize, action: &str) {
    let mut conn = app.pool.acquire().await.expect("conn");
    for i in 0..n {
        let event = store::audit::NewEvent {
            org_id: Some(store::OrgId(app.org_id.parse().expect("org"))),
            project_id: project.map(|p| store::ProjectId(p.parse().expect("project"))),
            actor_id: None,
            actor_kind: "system".into(),
            action: action.into(),
            resource_type: "test".into(),
            resource_id: Some(i.to_string()),
            outcome: "success".into(),
            request_id: None,
            source_ip: None,
            metadata: json!({ "n": i }),
        };
        store::audit::record(&mut conn, &event)
            .await
            .expect("record");
    }
}

/// Sends batches until the stream has nothing more (or 20 s pass); the events of the accepted
/// batches (all but the first `refused` requests), in order.
async fn drain(app: &TestApp, receiver: &Receiver, secret: &str, refused: usize) -> Vec<Value> {
    let dispatcher = dispatcher(app);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "the stream did not drain");
        match dispatcher.stream_due().await.expect("stream") {
            Sent::Delivered(_) => {}
            // Backoff (100 ms base in tests) or nothing due yet: look again shortly.
            Sent::Failed | Sent::Idle => {
                let backlog: i64 = sqlx::query_scalar(
                    "select count(*) from audit_streams s, audit_events a \
                     where (a.xact, a.id) > (s.cursor_xact, s.cursor_id) \
                       and (s.project_id is null or a.project_id = s.project_id)",
                )
                .fetch_one(&app.pool)
                .await
                .expect("backlog");
                if backlog == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let mut events = Vec::new();
    for got in receiver.received().into_iter().skip(refused) {
        verify(secret, &got);
        let batch = body(&got);
        assert_eq!(batch["type"], "audit-log.events");
        events.extend(batch["data"]["events"].as_array().expect("events").clone());
    }
    events
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn every_event_arrives_in_order_signed_and_after_an_outage(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    // Down for three attempts (refused by a 500, then 503s), then up.
    let receiver = Receiver::start(vec![(500, None), (503, None), (502, None)]).await;
    let (stream, secret) = create(
        &app,
        json!({
            "projectId": app.project_id,
            "url": receiver.url,
            "description": "siem",
            "headers": [{ "key": "DD-API-KEY", "value": API_KEY }],
        }),
    )
    .await;
    assert_eq!(stream["headerNames"], json!(["dd-api-key"]));
    // 250 events in the project (more than two batches), 5 in another project, 1 without one.
    record(&app, Some(&app.project_id), 250, "test.project").await;
    let other = app
        .call(
            Method::POST,
            "/api/v1/projects",
            Some(json!({ "name": "elsewhere" })),
            &[],
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.text);
    let other_id = other.json["project"]["id"].as_str().expect("id").to_owned();
    record(&app, Some(&other_id), 5, "test.other").await;
    record(&app, None, 1, "test.org").await;

    let events = drain(&app, &receiver, &secret, 3).await;
    // The stream's own creation is in the project's log too, before the 250.
    let expected: Vec<(String, String)> = sqlx::query_as(
        "select id::text, action from audit_events where project_id = $1 \
           and xact >= (select min(xact) from audit_events where action = 'audit_log_stream.create') \
         order by xact, id",
    )
    .bind(uuid::Uuid::parse_str(&app.project_id).expect("uuid"))
    .fetch_all(&app.pool)
    .await
    .expect("expected");
    let got: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["id"].as_str().expect("id").to_owned(),
                e["action"].as_str().expect("action").to_owned(),
            )
        })
        .collect();
    assert_eq!(got.len(), expected.len(), "every project event, once");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != expected[i]) {
        panic!(
            "out of order at {i}: {:?} instead of {:?}",
            got[i], expected[i]
        );
    }
    assert!(got.iter().filter(|(_, a)| a == "test.project").count() == 250);
    let unique: HashSet<&String> = got.iter().map(|(id, _)| id).collect();
    assert_eq!(unique.len(), got.len(), "no event twice");
    let first = &events
        .iter()
        .find(|e| e["action"] == "test.project")
        .expect("one")["metadata"];
    assert_eq!(first["n"], 0);

    // The three refusals were retried with the same batch; the intake's key went along, always.
    let all = receiver.received();
    assert!(all.len() >= 6, "{} requests", all.len());
    for got in &all {
        assert_eq!(
            got.headers.get("dd-api-key").and_then(|v| v.to_str().ok()),
            Some(API_KEY)
        );
    }
    let ids: Vec<&str> = all[..4]
        .iter()
        .map(|r| r.headers["webhook-id"].to_str().expect("id"))
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "retries keep their id: {ids:?}"
    );

    let reply = app
        .call(
            Method::GET,
            &format!("{STREAMS}/{}", stream["id"].as_str().expect("id")),
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let now = &reply.json["auditLogStream"];
    assert_eq!(now["backlog"], 0);
    assert_eq!(now["failures"], 0);
    assert_eq!(now["deliveredEvents"], json!(expected.len()));
    assert!(!reply.text.contains(API_KEY));
    // Sealed at rest: neither the key nor the signing secret is stored in clear.
    let dump = app.dump().await;
    assert!(!dump.contains(API_KEY) && !dump.contains(&secret));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_organisation_stream_is_for_instance_admins_and_gets_every_project(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    let receiver = Receiver::start(vec![]).await;
    let admin = app
        .identity("project-admin", Some((&app.project_id, "admin")))
        .await;
    // A project admin may stream the project, not the organisation.
    let refused = app
        .call_as(
            Some(&admin.token),
            Method::POST,
            STREAMS,
            Some(json!({ "url": receiver.url })),
            &[],
        )
        .await;
    // A well-formed request for what only an instance admin may have: 403, saying what to send.
    refused.problem(StatusCode::FORBIDDEN);
    assert!(refused.text.contains("projectId"), "{}", refused.text);
    let listed = app
        .call_as(Some(&admin.token), Method::GET, STREAMS, None, &[])
        .await;
    listed.problem(StatusCode::FORBIDDEN);

    let (stream, secret) = create(&app, json!({ "url": receiver.url })).await;
    assert_eq!(stream["projectId"], Value::Null);
    // The project admin cannot see the organisation's stream.
    let hidden = app
        .call_as(
            Some(&admin.token),
            Method::GET,
            &format!("{STREAMS}/{}", stream["id"].as_str().expect("id")),
            None,
            &[],
        )
        .await;
    hidden.problem(StatusCode::NOT_FOUND);
    record(&app, Some(&app.project_id), 3, "test.project").await;
    record(&app, None, 2, "test.org").await;
    let events = drain(&app, &receiver, &secret, 0).await;
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "test.project").count(), 3);
    assert_eq!(actions.iter().filter(|a| **a == "test.org").count(), 2);
    // Logins in between (the identity's own) are audited instance-wide: they are there too.
    assert!(actions.iter().all(|a| !a.is_empty()));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn streams_are_changed_and_deleted_by_admins_only(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    let (stream, _) = create(
        &app,
        json!({ "projectId": app.project_id, "url": "https://intake.example.com/v1/input?token=t0ken" }),
    )
    .await;
    let id = stream["id"].as_str().expect("id").to_owned();
    let path = format!("{STREAMS}/{id}");
    let viewer = app
        .identity("viewer", Some((&app.project_id, "viewer")))
        .await;
    let seen = app
        .call_as(Some(&viewer.token), Method::GET, &path, None, &[])
        .await;
    assert!(
        seen.status == StatusCode::NOT_FOUND || seen.status == StatusCode::FORBIDDEN,
        "{}",
        seen.text
    );
    let changed = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "enabled": false, "description": null,
                         "headers": [{ "key": "Authorization", "value": format!("Splunk {API_KEY}") }] })),
            &[],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.json["auditLogStream"]["enabled"], false);
    assert_eq!(
        changed.json["auditLogStream"]["headerNames"],
        json!(["authorization"])
    );
    assert!(!changed.text.contains(API_KEY));
    let listed = app
        .call(
            Method::GET,
            &format!("{STREAMS}?projectId={}", app.project_id),
            None,
            &[],
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(
        listed.json["auditLogStreams"].as_array().map(Vec::len),
        Some(1)
    );
    let deleted = app.call(Method::DELETE, &path, None, &[]).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    let gone = app.call(Method::GET, &path, None, &[]).await;
    gone.problem(StatusCode::NOT_FOUND);
    // Audited with the host only: the URL's token is not in the audit trail.
    let audit: Vec<String> = sqlx::query_scalar(
        "select action || ' ' || metadata::text from audit_events \
         where resource_type = 'audit_log_stream' order by xact, id",
    )
    .fetch_all(&app.pool)
    .await
    .expect("audit");
    assert_eq!(audit.len(), 3, "{audit:?}");
    assert!(audit[0].starts_with("audit_log_stream.create"));
    assert!(
        audit
            .iter()
            .all(|a| a.contains("intake.example.com") && !a.contains("t0ken"))
    );
    assert!(audit.iter().all(|a| !a.contains(API_KEY)));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn bad_input_is_refused_and_changes_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let before = app.dump().await;
    let cases = [
        (
            json!({ "projectId": app.project_id, "url": "http://127.0.0.1:9/x" }),
            "url",
        ),
        (
            json!({ "projectId": app.project_id, "url": "https://169.254.169.254/latest" }),
            "url",
        ),
        (
            json!({ "projectId": "nope", "url": "https://intake.example.com/" }),
            "projectId",
        ),
        (
            json!({ "projectId": app.project_id, "url": "https://intake.example.com/",
                    "headers": [{ "key": "webhook-signature", "value": "v1,x" }] }),
            "headers.0.key",
        ),
        (
            json!({ "projectId": app.project_id, "url": "https://intake.example.com/",
                    "headers": [{ "key": "X-Key", "value": format!("{API_KEY}\r\nX-Evil: 1") }] }),
            "headers.0.value",
        ),
        (
            json!({ "projectId": app.project_id, "url": "https://intake.example.com/",
                    "headers": [{ "key": "X-Key", "value": API_KEY }, { "key": "x-key", "value": API_KEY }] }),
            "headers.1.key",
        ),
        (
            json!({ "projectId": app.project_id, "url": "https://intake.example.com/",
                    "headers": [{ "key": "bad key", "value": API_KEY }] }),
            "headers.0.key",
        ),
    ];
    for (body, field) in cases {
        let reply = app
            .call(Method::POST, STREAMS, Some(body.clone()), &[])
            .await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            reply.fields().contains(&field.to_owned()),
            "{body}: {}",
            reply.text
        );
        assert!(
            !reply.text.contains(API_KEY),
            "a header value was echoed: {}",
            reply.text
        );
    }
    // Unknown fields, wrong types, a project the caller is not in.
    let unknown = app
        .call(
            Method::POST,
            STREAMS,
            Some(json!({ "projectId": app.project_id, "url": "https://intake.example.com/", "batchSize": 5 })),
            &[],
        )
        .await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.text
    );
    let wrong = app
        .call(
            Method::POST,
            STREAMS,
            Some(json!({ "projectId": app.project_id, "url": "https://intake.example.com/", "enabled": "yes" })),
            &[],
        )
        .await;
    assert!(wrong.status.is_client_error(), "{}", wrong.text);
    let foreign = app
        .call(
            Method::POST,
            STREAMS,
            Some(
                json!({ "projectId": uuid::Uuid::now_v7(), "url": "https://intake.example.com/" }),
            ),
            &[],
        )
        .await;
    foreign.problem(StatusCode::NOT_FOUND);
    assert_eq!(
        app.dump().await,
        before,
        "a refused request changed something"
    );
}

/// The SSRF guard holds at delivery too: a stream stored while private networks were allowed
/// (or whose name later resolves to one) sends nothing once the dispatcher runs without the
/// opt-in. The receiver records nothing; the stream says why and keeps its place.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_stream_to_a_private_address_sends_nothing_without_the_opt_in(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    let receiver = Receiver::start(vec![]).await;
    let (stream, _) = create(
        &app,
        json!({ "projectId": app.project_id, "url": receiver.url }),
    )
    .await;
    record(&app, Some(&app.project_id), 3, "test.project").await;
    let guarded = worker::webhooks::Dispatcher::new(
        app.state.broker.clone(),
        "guarded".into(),
        worker::webhooks::WebhookConfig {
            allow_private_networks: false,
            retry_base: Duration::from_millis(100),
            lease: Duration::from_secs(20),
            ..worker::webhooks::WebhookConfig::default()
        },
    )
    .expect("dispatcher");
    // The horizon is cluster-wide: a transaction open in another test's database can keep the
    // events back for a moment, and until then there is nothing due (Idle), not a refusal.
    let deadline = Instant::now() + Duration::from_secs(20);
    let sent = loop {
        match guarded.stream_due().await.expect("stream") {
            Sent::Idle if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            sent => break sent,
        }
    };
    assert_eq!(sent, Sent::Failed);
    assert!(
        receiver.received().is_empty(),
        "a request reached the receiver"
    );
    let reply = app
        .call(
            Method::GET,
            &format!("{STREAMS}/{}", stream["id"].as_str().expect("id")),
            None,
            &[],
        )
        .await;
    let now = &reply.json["auditLogStream"];
    assert_eq!(now["deliveredEvents"], 0);
    assert_eq!(now["failures"], 1);
    // The batch it refused is still owed; how many events the backlog counts beyond it depends on
    // the cluster-wide horizon (other tests' open transactions), so only "some" is certain.
    assert!(now["backlog"].as_i64().is_some_and(|n| n >= 1), "{now}");
    assert!(
        now["lastError"].as_str().is_some_and(|e| !e.is_empty()),
        "{now}"
    );
}
