//! No secret escapes: a canary secret goes in, every endpoint (and its errors) is exercised, and the
//! canary is found in no response, no log line and no database column.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::{CLIENT_ID, DOMAIN, Reply, TestApp};

const BASE: &str = "/api/v1/app-connections/auth0";

/// Everything every test in this binary logs, from every thread. A process-wide
/// subscriber rather than a thread-local one: scoped subscribers lose events when callsites are
/// first hit on other test threads (tracing caches their interest), which made this test flaky.
pub(crate) fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let writer = Captured(logs.clone());
        // Everything from our crates (and sqlx's statements); TRACE from every dependency would
        // triple this binary's run time and only adds transport chatter.
        let filter = tracing_subscriber::EnvFilter::new(
            "info,api=trace,store=trace,auth0=trace,worker=trace,crypto=trace,tower_http=trace,sqlx=debug",
        );
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        // Fails only if something installed one first; the assertion on this test's captured
        // request below then says so.
        if tracing::subscriber::set_global_default(subscriber).is_err() {
            eprintln!("a global tracing subscriber was already installed; logs are not captured");
        }
        logs
    })
}

#[derive(Clone)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_canary_secret_never_escapes(pool: PgPool) {
    let logs = captured_logs().clone();
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let app = TestApp::with_secret(pool, &canary).await;
    let mut replies: Vec<Reply> = Vec::new();

    let create = app
        .call(
            Method::POST,
            BASE,
            Some(app.connection_body("canary")),
            &[("idempotency-key", "c-1")],
        )
        .await;
    assert_eq!(create.status, StatusCode::CREATED, "{}", create.text);
    let id = create.json["appConnection"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("{BASE}/{id}");
    replies.push(create);
    replies.push(
        app.call(
            Method::POST,
            BASE,
            Some(app.connection_body("canary")),
            &[("idempotency-key", "c-1")],
        )
        .await,
    );
    replies.push(
        app.call(Method::POST, BASE, Some(app.connection_body("canary")), &[])
            .await,
    );
    replies.push(app.call(Method::GET, &path, None, &[]).await);
    replies.push(
        app.call(
            Method::GET,
            &format!("{BASE}/connection-name/canary?projectId={}", app.project_id),
            None,
            &[],
        )
        .await,
    );
    replies.push(
        app.call(
            Method::GET,
            &format!("{BASE}?projectId={}", app.project_id),
            None,
            &[],
        )
        .await,
    );
    replies.push(
        app.call(Method::GET, "/api/v1/app-connections", None, &[])
            .await,
    );
    replies.push(
        app.call(
            Method::PATCH,
            &path,
            Some(json!({ "description": "still secret-free" })),
            &[],
        )
        .await,
    );

    // The canary in the wrong places: every error must describe it without repeating it.
    let wrong_secret = format!("{canary}-wrong");
    let misplaced = [
        json!({ "credentials": { "domain": DOMAIN, "clientId": CLIENT_ID, "clientSecret": wrong_secret } }),
        json!({ "credentials": { "domain": canary, "clientId": CLIENT_ID, "clientSecret": canary } }),
        json!({ "credentials": canary }),
        json!({ "name": canary }),
        json!({ "description": 5, "credentials": { "domain": DOMAIN, "clientId": CLIENT_ID, "clientSecret": 12 } }),
        json!({ canary.clone(): 1 }),
    ];
    for body in misplaced {
        let reply = app.call(Method::PATCH, &path, Some(body), &[]).await;
        assert!(reply.status.is_client_error(), "{}", reply.text);
        replies.push(reply);
    }
    let mut bad_create = app.connection_body("canary-2");
    bad_create["projectId"] = json!(canary);
    replies.push(app.call(Method::POST, BASE, Some(bad_create), &[]).await);
    replies.push(
        app.raw(
            Method::POST,
            BASE,
            Some(format!("{{\"name\": \"{canary}").into_bytes()),
            "application/json",
            &[],
        )
        .await,
    );
    replies.push(
        app.call(Method::GET, &format!("{BASE}?search={canary}"), None, &[])
            .await,
    );
    replies.push(
        app.call(Method::GET, &format!("{BASE}/{canary}"), None, &[])
            .await,
    );

    // Credentials replaced with the same canary (re-validated with Auth0), then the connection deleted.
    let replace = json!({ "credentials": { "domain": DOMAIN, "clientId": CLIENT_ID, "clientSecret": canary } });
    let replaced = app.call(Method::PATCH, &path, Some(replace), &[]).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
    replies.push(replaced);
    let dump = app.dump().await;
    replies.push(app.call(Method::DELETE, &path, None, &[]).await);

    for reply in &replies {
        assert!(
            !reply.text.contains(&canary),
            "response body leaked the canary: {}",
            reply.text
        );
        for (name, value) in &reply.headers {
            assert!(
                !String::from_utf8_lossy(value.as_bytes()).contains(&canary),
                "header {name} leaked the canary"
            );
        }
    }
    assert!(
        !dump.contains(&canary),
        "a column holds the canary in plaintext"
    );
    assert!(
        !dump.contains(&hex(&canary)),
        "a bytea column holds the canary unencrypted"
    );
    assert!(
        dump.contains("app_connections"),
        "the dump covered the tables"
    );

    let logs = String::from_utf8_lossy(&logs.lock().expect("log buffer")).into_owned();
    assert!(
        logs.lines()
            .any(|l| l.contains("app connection created") && l.contains(&id)),
        "the log capture saw this test's requests"
    );
    let leaks: Vec<&str> = logs.lines().filter(|line| line.contains(&canary)).collect();
    assert!(
        leaks.is_empty(),
        "log lines leaked the canary:\n{}",
        leaks.join("\n")
    );
}
