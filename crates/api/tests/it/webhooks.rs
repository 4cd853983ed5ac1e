//! Webhooks (issue 17): the API for endpoints (validation, hostile URLs, secrets shown once,
//! audit), and delivery end to end — a rotation finishing, the dispatcher claiming the outbox and
//! POSTing to a local receiver that verifies every signature with the `standardwebhooks` crate
//! (an independent Standard Webhooks implementation, not Keyhold's signer).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use worker::webhooks::{Dispatcher, WebhookConfig};

use crate::support::{Identity, TestApp};

pub(crate) const HOOKS: &str = "/api/v1/webhooks";

/// One request the receiver got.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) at: Instant,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// A local webhook receiver answering from a script (status, optional Retry-After), then 200.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

/// One scripted answer: a status, an optional `Retry-After`, and how long to wait before it.
type Answer = (u16, Option<&'static str>, Duration);

impl Receiver {
    pub(crate) async fn start(script: Vec<(u16, Option<&'static str>)>) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let script = script
            .into_iter()
            .map(|(status, retry_after)| (status, retry_after, Duration::ZERO))
            .collect();
        Receiver::serve(listener, script)
    }

    fn serve(listener: tokio::net::TcpListener, script: Vec<Answer>) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script = Arc::new(Mutex::new(script.into_iter()));
        let seen = Arc::clone(&got);
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let seen = Arc::clone(&seen);
                let script = Arc::clone(&script);
                async move {
                    seen.lock().expect("lock").push(Received {
                        at: Instant::now(),
                        headers,
                        body: body.to_vec(),
                    });
                    let (status, retry_after, delay) = script
                        .lock()
                        .expect("lock")
                        .next()
                        .unwrap_or((200, None, Duration::ZERO));
                    tokio::time::sleep(delay).await;
                    let mut response =
                        axum::response::Response::new(axum::body::Body::from("x".repeat(5000)));
                    *response.status_mut() = StatusCode::from_u16(status).expect("status");
                    if let Some(value) = retry_after {
                        response
                            .headers_mut()
                            .insert("retry-after", value.parse().expect("header"));
                    }
                    response
                }
            }),
        );
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver");
        });
        Receiver { url, got }
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }
}

/// The test app with the private-network opt-in, as `KEYHOLD_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true`.
pub(crate) async fn app_allowing_loopback(pool: PgPool) -> TestApp {
    let mut app = TestApp::new(pool).await;
    app.state = app.state.clone().with_webhook_allow_private_networks(true);
    app.router = api::app(app.state.clone());
    app
}

pub(crate) fn dispatcher(app: &TestApp) -> Arc<Dispatcher> {
    let config = WebhookConfig {
        allow_private_networks: true,
        timeout: Duration::from_secs(3),
        retry_base: Duration::from_millis(100),
        lease: Duration::from_secs(10),
        ..WebhookConfig::default()
    };
    Arc::new(
        Dispatcher::new(app.state.broker.clone(), "test-dispatcher".into(), config)
            .expect("dispatcher"),
    )
}

/// Runs the dispatcher until the receiver has `n` requests (or 15 s pass).
pub(crate) async fn deliver_until(dispatcher: &Arc<Dispatcher>, receiver: &Receiver, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while receiver.received().len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} requests arrived",
            receiver.received().len()
        );
        dispatcher.deliver_due().await.expect("deliver");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // Let the last outcome be recorded.
    dispatcher.deliver_due().await.expect("deliver");
}

pub(crate) async fn create(app: &TestApp, url: &str, types: Value) -> (Value, String) {
    let reply = app
        .call(
            Method::POST,
            HOOKS,
            Some(json!({ "projectId": app.project_id, "url": url, "eventTypes": types, "description": "alerts" })),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let secret = reply.json["signingSecret"]
        .as_str()
        .expect("secret")
        .to_owned();
    (reply.json["webhook"].clone(), secret)
}

pub(crate) fn verify(secret: &str, r: &Received) {
    let wh = standardwebhooks::Webhook::new(secret).expect("secret format");
    wh.verify(&r.body, &r.headers)
        .unwrap_or_else(|err| panic!("signature does not verify: {err:?}"));
}

pub(crate) fn body(r: &Received) -> Value {
    serde_json::from_slice(&r.body).expect("json body")
}

pub(crate) async fn deliveries(app: &TestApp, id: &str) -> Vec<Value> {
    let reply = app
        .call(Method::GET, &format!("{HOOKS}/{id}/deliveries"), None, &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json["deliveries"].as_array().expect("list").clone()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn endpoints_are_created_listed_changed_and_deleted_by_admins(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (hook, secret) = create(&app, "https://hooks.example.com:8443/k?x=1", json!(["*"])).await;
    assert!(
        secret.starts_with("whsec_") && secret.len() == 50,
        "{secret}"
    );
    let id = hook["id"].as_str().expect("id").to_owned();
    assert_eq!(hook["enabled"], true);

    // The secret is shown once: never in a read.
    let one = app
        .call(Method::GET, &format!("{HOOKS}/{id}"), None, &[])
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert!(!one.text.contains(&secret));
    let list = app
        .call(
            Method::GET,
            &format!("{HOOKS}?projectId={}", app.project_id),
            None,
            &[],
        )
        .await;
    assert_eq!(list.json["webhooks"].as_array().map(Vec::len), Some(1));
    assert!(!list.text.contains(&secret));

    let changed = app
        .call(
            Method::PATCH,
            &format!("{HOOKS}/{id}"),
            Some(json!({ "enabled": false, "eventTypes": ["secret-rotation.failed"], "description": null })),
            &[],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.json["webhook"]["enabled"], false);
    assert_eq!(changed.json["webhook"]["description"], Value::Null);
    assert_eq!(changed.json["webhook"]["version"], 2);

    let rotated = app
        .call(
            Method::POST,
            &format!("{HOOKS}/{id}/rotate-secret"),
            None,
            &[],
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let new_secret = rotated.json["signingSecret"].as_str().expect("secret");
    assert_ne!(new_secret, secret);
    assert!(rotated.json["webhook"]["signatureOverlapUntil"].is_string());

    // A disabled endpoint gets no test event.
    let test = app
        .call(Method::POST, &format!("{HOOKS}/{id}/test"), None, &[])
        .await;
    test.problem(StatusCode::CONFLICT);

    let gone = app
        .call(Method::DELETE, &format!("{HOOKS}/{id}"), None, &[])
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.text);
    let again = app
        .call(Method::GET, &format!("{HOOKS}/{id}"), None, &[])
        .await;
    again.problem(StatusCode::NOT_FOUND);

    // Every change is audited, naming the host only, never a secret.
    let actions: Vec<(String, String)> = sqlx::query_as(
        "select action, metadata::text from audit_events where resource_type = 'webhook' order by id",
    )
    .fetch_all(&app.pool)
    .await
    .expect("audit");
    let names: Vec<&str> = actions.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        names,
        [
            "webhook.create",
            "webhook.update",
            "webhook.rotate_secret",
            "webhook.delete"
        ]
    );
    for (_, metadata) in &actions {
        assert!(
            !metadata.contains("whsec_") && !metadata.contains("x=1"),
            "{metadata}"
        );
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn hostile_urls_and_bad_event_types_are_refused_naming_the_field(pool: PgPool) {
    let app = TestApp::new(pool).await;
    for url in [
        "http://hooks.example.com/k",
        "https://169.254.169.254/latest/meta-data/",
        "http://169.254.169.254/",
        "https://127.0.0.1:9000/",
        "https://[::1]/",
        "https://2130706433/",
        "https://localhost/hook",
        "https://metadata.google.internal/",
        "https://intranet/",
        "https://user:hunter2@hooks.example.com/",
        "file:///etc/passwd",
        "not a url",
    ] {
        let reply = app
            .call(
                Method::POST,
                HOOKS,
                Some(json!({ "projectId": app.project_id, "url": url, "eventTypes": ["*"] })),
                &[],
            )
            .await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.fields(), ["url"], "{url}: {}", reply.text);
        assert!(!reply.text.contains(url), "echoed {url}: {}", reply.text);
    }
    for (types, field) in [
        (json!([]), "eventTypes"),
        (json!(["secret.renamed"]), "eventTypes.0"),
        (json!(["*", "*"]), "eventTypes.1"),
    ] {
        let reply = app
            .call(
                Method::POST,
                HOOKS,
                Some(json!({ "projectId": app.project_id, "url": "https://hooks.example.com/", "eventTypes": types })),
                &[],
            )
            .await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.fields(), [field], "{}", reply.text);
    }
    let none: i64 = sqlx::query_scalar("select count(*) from webhook_endpoints")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(none, 0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn only_project_admins_manage_webhooks(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (hook, _) = create(&app, "https://hooks.example.com/", json!(["*"])).await;
    let id = hook["id"].as_str().expect("id");
    let project = app.project_id.clone();
    let member: Identity = app.identity("member", Some((&project, "member"))).await;
    let outsider = app.identity("outsider", None).await;
    let path = format!("{HOOKS}/{id}");
    let as_member = app
        .call_as(Some(&member.token), Method::GET, &path, None, &[])
        .await;
    as_member.problem(StatusCode::FORBIDDEN);
    let as_outsider = app
        .call_as(Some(&outsider.token), Method::GET, &path, None, &[])
        .await;
    as_outsider.problem(StatusCode::NOT_FOUND);
    let create_as_member = app
        .call_as(
            Some(&member.token),
            Method::POST,
            HOOKS,
            Some(json!({ "projectId": project, "url": "https://hooks.example.com/", "eventTypes": ["*"] })),
            &[],
        )
        .await;
    create_as_member.problem(StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_finished_rotation_is_delivered_signed_and_without_secrets(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, secret) = create(&app, &receiver.url, json!(["*"])).await;
    // Subscribed to retries only: a success is not for it.
    let other = Receiver::start(vec![]).await;
    create(&app, &other.url, json!(["secret-rotation.retrying"])).await;

    let rotation = app.rotation("billing").await;
    let dispatcher = dispatcher(&app);
    deliver_until(&dispatcher, &receiver, 1).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    verify(&secret, &got[0]);
    let event = body(&got[0]);
    assert_eq!(event["type"], "secret-rotation.succeeded");
    assert!(event["timestamp"].is_string());
    assert_eq!(event["data"]["rotationId"], rotation["id"]);
    assert_eq!(event["data"]["rotationName"], "billing");
    assert_eq!(event["data"]["attemptNumber"], 1);
    assert!(other.received().is_empty());

    // The canary: no secret value in what left Keyhold.
    let revealed = app
        .call(
            Method::GET,
            &format!(
                "/api/v2/secret-rotations/auth0-client-secret/{}/generated-credentials",
                rotation["id"].as_str().expect("id")
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.text);
    let generated = revealed.json["generatedCredentials"][0]["clientSecret"]
        .as_str()
        .expect("generated secret")
        .to_owned();
    let text = String::from_utf8_lossy(&got[0].body).to_string();
    for secret_value in [generated.as_str(), app.secret.as_str(), secret.as_str()] {
        assert!(
            !text.contains(secret_value),
            "a secret left in a webhook body: {text}"
        );
    }
    let headers = format!("{:?}", got[0].headers);
    assert!(!headers.contains(&generated) && !headers.contains(&secret));

    // The delivery log shows it delivered, with the receiver's status and a latency.
    let log = deliveries(&app, hook["id"].as_str().expect("id")).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["eventType"], "secret-rotation.succeeded");
    assert_eq!(log[0]["log"][0]["statusCode"], 200);
    assert_eq!(
        got[0].headers["webhook-id"].to_str().expect("id"),
        log[0]["eventId"].as_str().expect("event id")
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_failing_receiver_gets_the_same_webhook_id_again(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    let receiver = Receiver::start(vec![(500, None), (200, None)]).await;
    let (hook, secret) = create(&app, &receiver.url, json!(["webhook.test"])).await;
    let id = hook["id"].as_str().expect("id");
    let queued = app
        .call(Method::POST, &format!("{HOOKS}/{id}/test"), None, &[])
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    let dispatcher = dispatcher(&app);
    deliver_until(&dispatcher, &receiver, 2).await;
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    for r in &got {
        verify(&secret, r);
        assert_eq!(body(r)["type"], "webhook.test");
    }
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    assert_eq!(got[0].body, got[1].body, "the same event body on retry");
    let log = deliveries(&app, id).await;
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["attempts"], 2);
    assert_eq!(log[0]["log"][0]["statusCode"], 500);
    // At most 1 KiB of the 5000-byte answer is read, and less is kept.
    let error = log[0]["log"][0]["error"].as_str().expect("error");
    assert!(
        error.starts_with("HTTP 500") && error.len() < 300,
        "{error}"
    );

    // Redelivery sends the same event again, with the same id.
    let delivery_id = log[0]["id"].as_str().expect("delivery id");
    let again = app
        .call(
            Method::POST,
            &format!("{HOOKS}/{id}/deliveries/{delivery_id}/redeliver"),
            None,
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.text);
    let pending = app
        .call(
            Method::POST,
            &format!("{HOOKS}/{id}/deliveries/{delivery_id}/redeliver"),
            None,
            &[],
        )
        .await;
    pending.problem(StatusCode::CONFLICT);
    deliver_until(&dispatcher, &receiver, 3).await;
    let got = receiver.received();
    assert_eq!(got[2].headers["webhook-id"], got[0].headers["webhook-id"]);
    verify(&secret, &got[2]);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_receiver_that_was_down_gets_the_events_in_order_from_two_workers(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    // Down (500, 503, 502), then up: every request after the third is answered 200.
    let receiver = Receiver::start(vec![(500, None), (503, None), (502, None)]).await;
    let (hook, secret) = create(&app, &receiver.url, json!(["webhook.test"])).await;
    let id = hook["id"].as_str().expect("id");
    for _ in 0..6 {
        let queued = app
            .call(Method::POST, &format!("{HOOKS}/{id}/test"), None, &[])
            .await;
        assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    }
    let one = dispatcher(&app);
    let two = Arc::new(
        Dispatcher::new(
            app.state.broker.clone(),
            "second-dispatcher".into(),
            one.config().clone(),
        )
        .expect("dispatcher"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = deliveries(&app, id).await;
        if log.len() == 6 && log.iter().all(|d| d["status"] == "delivered") {
            break;
        }
        assert!(Instant::now() < deadline, "not delivered: {log:?}");
        let (a, b) = tokio::join!(one.deliver_due(), two.deliver_due());
        a.expect("deliver");
        b.expect("deliver");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Three refusals, then six events.
    assert_arrived_in_order(&receiver, &secret, 4, 6);
}

/// Every request the receiver got is signed, the oldest event came `first_tries` times before
/// anything newer, and then each of the `events` arrived once, oldest first (event ids are
/// time-ordered).
fn assert_arrived_in_order(receiver: &Receiver, secret: &str, first_tries: usize, events: usize) {
    let got = receiver.received();
    for r in &got {
        verify(secret, r);
    }
    let ids: Vec<String> = got
        .iter()
        .map(|r| r.headers["webhook-id"].to_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), first_tries - 1 + events, "{ids:?}");
    assert!(ids[..first_tries].iter().all(|i| *i == ids[0]), "{ids:?}");
    let after = ids[first_tries - 1..].to_vec();
    let mut in_order = after.clone();
    in_order.sort();
    in_order.dedup();
    assert_eq!(after, in_order, "out of order: {ids:?}");
    assert_eq!(in_order.len(), events, "{ids:?}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn after_refused_connections_a_500_and_a_timeout_the_events_arrive_in_order(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    // An address nobody listens on yet: the receiver is down (connection refused).
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let (hook, secret) = create(
        &app,
        &format!("http://{addr}/hook"),
        json!(["webhook.test"]),
    )
    .await;
    let id = hook["id"].as_str().expect("id");
    for _ in 0..4 {
        let queued = app
            .call(Method::POST, &format!("{HOOKS}/{id}/test"), None, &[])
            .await;
        assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    }
    let config = WebhookConfig {
        allow_private_networks: true,
        timeout: Duration::from_millis(500),
        retry_base: Duration::from_millis(50),
        lease: Duration::from_secs(10),
        ..WebhookConfig::default()
    };
    let dispatcher = Arc::new(
        Dispatcher::new(app.state.broker.clone(), "test-dispatcher".into(), config)
            .expect("dispatcher"),
    );
    for _ in 0..3 {
        dispatcher.deliver_due().await.expect("deliver");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let down = deliveries(&app, id).await;
    let refused: Vec<&Value> = down.iter().filter(|d| d["attempts"] != 0).collect();
    assert_eq!(
        refused.len(),
        1,
        "only the oldest is tried while down: {down:?}"
    );
    assert!(
        refused[0]["attempts"].as_u64().expect("attempts") >= 2,
        "{down:?}"
    );

    // Up again: a 500, then an answer slower than the timeout, then well.
    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
    let receiver = Receiver::serve(
        listener,
        vec![
            (500, None, Duration::ZERO),
            (200, None, Duration::from_millis(1500)),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = deliveries(&app, id).await;
        if log.iter().all(|d| d["status"] == "delivered") {
            break;
        }
        assert!(Instant::now() < deadline, "not delivered: {log:?}");
        dispatcher.deliver_due().await.expect("deliver");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // The oldest event took the 500, the slow answer and then a 200; the others followed it.
    assert_arrived_in_order(&receiver, &secret, 3, 4);
    let log = deliveries(&app, id).await;
    let first = log
        .iter()
        .find(|d| d["attempts"].as_u64().unwrap_or(0) > 1)
        .expect("the retried delivery");
    let errors: Vec<&str> = first["log"]
        .as_array()
        .expect("log")
        .iter()
        .filter_map(|a| a["error"].as_str())
        .collect();
    assert!(
        errors.len() >= 4,
        "refused twice or more, a 500, a timeout: {errors:?}"
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn retry_after_on_429_is_honoured(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    let receiver = Receiver::start(vec![(429, Some("2"))]).await;
    let (hook, secret) = create(&app, &receiver.url, json!(["*"])).await;
    let id = hook["id"].as_str().expect("id");
    app.call(Method::POST, &format!("{HOOKS}/{id}/test"), None, &[])
        .await;
    let dispatcher = dispatcher(&app);
    deliver_until(&dispatcher, &receiver, 2).await;
    let got = receiver.received();
    let waited = got[1].at - got[0].at;
    // The backoff alone would be 50-100 ms.
    assert!(
        waited >= Duration::from_millis(1900),
        "retried after {waited:?}"
    );
    verify(&secret, &got[1]);
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn after_a_secret_rotation_both_signatures_verify(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, old) = create(&app, &receiver.url, json!(["*"])).await;
    let id = hook["id"].as_str().expect("id");
    let rotated = app
        .call(
            Method::POST,
            &format!("{HOOKS}/{id}/rotate-secret"),
            None,
            &[],
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let new = rotated.json["signingSecret"]
        .as_str()
        .expect("secret")
        .to_owned();
    app.call(Method::POST, &format!("{HOOKS}/{id}/test"), None, &[])
        .await;
    let dispatcher = dispatcher(&app);
    deliver_until(&dispatcher, &receiver, 1).await;
    let got = receiver.received();
    let signatures = got[0].headers["webhook-signature"].to_str().expect("ascii");
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    verify(&old, &got[0]);
    verify(&new, &got[0]);
    // Each signature on its own verifies with exactly one of the secrets.
    for (i, secret) in [&new, &old].into_iter().enumerate() {
        let mut one = got[0].clone();
        let only = signatures.split(' ').nth(i).expect("signature");
        one.headers
            .insert("webhook-signature", only.parse().expect("header"));
        verify(secret, &one);
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn loopback_urls_are_refused_at_delivery_without_the_opt_in(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, _) = create(&app, &receiver.url, json!(["*"])).await;
    let id = hook["id"].as_str().expect("id");
    app.call(Method::POST, &format!("{HOOKS}/{id}/test"), None, &[])
        .await;
    // A worker without the opt-in (the default) refuses the stored loopback URL.
    let strict = Arc::new(
        Dispatcher::new(
            app.state.broker.clone(),
            "strict".into(),
            WebhookConfig::default(),
        )
        .expect("dispatcher"),
    );
    assert_eq!(strict.deliver_due().await.expect("deliver"), 1);
    assert!(receiver.received().is_empty());
    let log = deliveries(&app, id).await;
    assert_eq!(log[0]["status"], "failed", "{log:?}");
    assert!(
        log[0]["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("outbound guard")),
        "{log:?}"
    );
}

/// Drives the rotation worker until no attempt is open (a retry falls due milliseconds later).
async fn settle(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        app.run_worker().await;
        let open: i64 = sqlx::query_scalar(
            "select count(*) from secret_rotations where current_attempt_id is not null",
        )
        .fetch_one(&app.pool)
        .await
        .expect("count");
        if open == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "rotations still open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn failures_and_retries_are_reported_retries_only_when_named(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    let everything = Receiver::start(vec![]).await;
    let (_, all_secret) = create(&app, &everything.url, json!(["*"])).await;
    let retries = Receiver::start(vec![]).await;
    let (_, retry_secret) = create(&app, &retries.url, json!(["secret-rotation.retrying"])).await;

    // One 503 on the PATCH: the attempt is retried (a `retrying` event), then succeeds.
    app.emulator
        .admin()
        .try_inject_fault(
            crate::support::DOMAIN,
            auth0_emulator::Fault::fail(Some("PATCH /api/v2/clients/{id}"), 503, 1),
        )
        .expect("fault");
    app.rotation("flaky").await;
    settle(&app).await;
    // A 404 on the PATCH (the client is gone) fails the next rotation for good.
    app.emulator
        .admin()
        .try_inject_fault(
            crate::support::DOMAIN,
            auth0_emulator::Fault::fail(Some("PATCH /api/v2/clients/{id}"), 404, 1),
        )
        .expect("fault");
    app.rotation("broken").await;
    settle(&app).await;

    let dispatcher = dispatcher(&app);
    deliver_until(&dispatcher, &everything, 2).await;
    deliver_until(&dispatcher, &retries, 1).await;
    let types: Vec<Value> = everything
        .received()
        .iter()
        .inspect(|r| verify(&all_secret, r))
        .map(|r| body(r)["type"].clone())
        .collect();
    assert!(
        types.contains(&json!("secret-rotation.succeeded")),
        "{types:?}"
    );
    assert!(
        types.contains(&json!("secret-rotation.failed")),
        "{types:?}"
    );
    assert!(
        !types.contains(&json!("secret-rotation.retrying")),
        "{types:?}"
    );
    let failed = everything
        .received()
        .iter()
        .map(body)
        .find(|b| b["type"] == "secret-rotation.failed")
        .expect("failed event");
    assert_eq!(failed["data"]["rotationName"], "broken");
    assert!(
        failed["data"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{failed}"
    );
    let got = retries.received();
    assert_eq!(got.len(), 1);
    verify(&retry_secret, &got[0]);
    let retrying = body(&got[0]);
    assert_eq!(retrying["type"], "secret-rotation.retrying");
    assert_eq!(retrying["data"]["rotationName"], "flaky");
    assert!(retrying["data"]["retryInMs"].is_u64(), "{retrying}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_running_worker_delivers_when_notified(pool: PgPool) {
    let app = app_allowing_loopback(pool).await;
    let receiver = Receiver::start(vec![]).await;
    let (hook, secret) = create(&app, &receiver.url, json!(["*"])).await;
    // Polls far apart: only `NOTIFY keyhold_webhooks` can wake it in time.
    let config = worker::WorkerConfig {
        tenant_rate: None,
        poll_interval: Duration::from_secs(120),
        webhooks: WebhookConfig {
            allow_private_networks: true,
            poll_interval: Duration::from_secs(120),
            ..WebhookConfig::default()
        },
        ..worker::WorkerConfig::default()
    };
    let worker = worker::Worker::new(config, app.state.broker.clone()).expect("worker");
    let shutdown = worker::CancellationToken::new();
    let running = tokio::spawn(worker.run(shutdown.clone()));
    // Let it connect and drain what is due at start.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = hook["id"].as_str().expect("id");
    let queued = app
        .call(Method::POST, &format!("{HOOKS}/{id}/test"), None, &[])
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    let sent = Instant::now();
    while receiver.received().is_empty() {
        assert!(sent.elapsed() < Duration::from_secs(10), "not delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );
    verify(&secret, &receiver.received()[0]);
    shutdown.cancel();
    running.await.expect("join").expect("run");
}

/// Fields that cannot be cleared are refused as `null`, not taken as "unchanged" (contract
/// fuzzing found `url: null` accepted), and a body past a route's limit is a problem, not text.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn nulls_for_fields_that_cannot_be_cleared_are_refused(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (hook, _) = create(&app, "https://hooks.example.com/k", json!(["*"])).await;
    let path = format!("{HOOKS}/{}", hook["id"].as_str().expect("id"));
    for field in ["url", "eventTypes", "enabled"] {
        let reply = app
            .call(Method::PATCH, &path, Some(json!({ field: null })), &[])
            .await;
        let problem = reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let unchanged = app.call(Method::GET, &path, None, &[]).await;
    assert_eq!(unchanged.json["webhook"]["version"], hook["version"]);

    let oversized = json!({ "workspaceId": app.project_id, "environment": "dev",
        "secretComment": "x".repeat(600 * 1024) });
    let reply = app
        .call(
            Method::DELETE,
            "/api/v3/secrets/raw/ANY",
            Some(oversized),
            &[],
        )
        .await;
    reply.problem(StatusCode::PAYLOAD_TOO_LARGE);
}
