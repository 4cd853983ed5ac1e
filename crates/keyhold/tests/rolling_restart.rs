//! A rolling restart behind a real load balancer loses no request and no rotation (issue 20).
//! HAProxy (from Debian's packages; `scripts/test` installs it) balances three `keyhold serve`
//! processes, three `keyhold worker`s rotate Auth0 client secrets (in the Auth0 emulator) asked
//! for through the balancer, and HAProxy
//! checks `/readyz` every 100 ms (down after two failures) and never retries a request elsewhere (as many cloud balancers
//! do not); while eight clients read and write through it without pause,
//! each server in turn gets SIGTERM, drains (its `/readyz` answers 503 so HAProxy stops sending
//! it work, while it still serves what arrives), stops, and is started again; then each worker
//! in turn gets SIGTERM (it finishes or hands back what it holds) and is started again. Every
//! request must succeed and every rotation too. (Without the drain, `KEYHOLD_SHUTDOWN_DRAIN_SECS=0`, this test saw 16 of 245
//! requests answered 503 by HAProxy.)

mod common;

use std::net::TcpListener;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crypto::ExposeSecret;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

const CLIENTS: usize = 8;
const DOMAIN: &str = "rolling.auth0.test";
const KEYHOLD_APP: &str = "rollingKeyholdM2MclientID000001";
const KEYHOLD_APP_SECRET: &str = "rolling-keyhold-secret-0123456789abcdef0123456789";
/// Applications whose secrets the rotations rotate.
const TARGETS: [&str; 3] = [
    "rollingTargetAppClientID000001",
    "rollingTargetAppClientID000002",
    "rollingTargetAppClientID000003",
];

/// Environment every process shares: the database, the root key, Auth0 (the emulator) and a
/// tenant budget high enough that pacing does not set the pace of the test.
fn keyhold(database_url: &str, root_key: &str, auth0: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhold"));
    command
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("KEYHOLD_ROOT_KEYS", root_key)
        .env("KEYHOLD_AUTH0_ENDPOINT_OVERRIDE", auth0)
        .env("KEYHOLD_AUTH0_ALLOW_PRIVATE_NETWORKS", "true")
        .env("KEYHOLD_WORKER_TENANT_RPS", "100")
        .env("KEYHOLD_WORKER_TENANT_BURST", "50")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true);
    command
}

fn worker(database_url: &str, root_key: &str, auth0: &str, id: &str) -> tokio::process::Child {
    keyhold(database_url, root_key, auth0)
        .env("KEYHOLD_WORKER_ID", id)
        .env("KEYHOLD_WORKER_POLL_MS", "200")
        .arg("worker")
        .spawn()
        .expect("start keyhold worker")
}

/// Sends SIGTERM and waits for a clean exit.
async fn stop(child: &mut tokio::process::Child, what: &str) {
    let pid = child.id().expect("running").to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap_or_else(|_| panic!("{what} did not stop within 30 s of SIGTERM"))
        .expect("exit status");
    assert!(exit.success(), "{what} exited with {exit:?}");
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port()
}

fn serve(database_url: &str, root_key: &str, auth0: &str, port: u16) -> tokio::process::Child {
    keyhold(database_url, root_key, auth0)
        .env("KEYHOLD_LISTEN", format!("127.0.0.1:{port}"))
        .env("KEYHOLD_EMBEDDED_WORKER", "false")
        // HAProxy marks a server down after two failed checks 100 ms apart: a second of drain
        // leaves ample margin.
        .env("KEYHOLD_SHUTDOWN_DRAIN_SECS", "1")
        .arg("serve")
        .spawn()
        .expect("start keyhold serve")
}

async fn answers(url: &str, want: StatusCode, limit: Duration) {
    let started = Instant::now();
    loop {
        if http()
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status() == want)
        {
            return;
        }
        assert!(started.elapsed() < limit, "{url} never answered {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn haproxy(dir: &std::path::Path, front: u16, backends: &[u16]) -> tokio::process::Child {
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, port)| format!("    server k{i} 127.0.0.1:{port} check\n"))
        .collect();
    let config = format!(
        "global\n    maxconn 512\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    \
         timeout server 30s\n    retries 0\n\
         frontend api\n    bind 127.0.0.1:{front}\n    default_backend keyhold\n\
         backend keyhold\n    balance roundrobin\n    option httpchk\n    \
         http-check send meth GET uri /readyz\n    http-check expect status 200\n    \
         timeout check 2s\n    default-server inter 100ms fall 2 rise 1\n{servers}"
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, config).expect("write haproxy.cfg");
    let binary = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("haproxy is not installed (scripts/test installs Debian's haproxy)");
    tokio::process::Command::new(binary)
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start haproxy")
}

/// One client's loop: list the folder, write a secret, read it back, until `stop`. Every
/// answer that is not the expected success is recorded in `failures`.
async fn client(
    base: String,
    token: String,
    project: String,
    n: usize,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
) {
    let http = http();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let name = format!("KEY_{n}_{i}");
        let list =
            format!("/api/v3/secrets/raw?workspaceId={project}&environment=dev&secretPath=/");
        let one = format!("/api/v3/secrets/raw/{name}?workspaceId={project}&environment=dev");
        let steps: [(Method, String, Option<Value>, StatusCode); 3] = [
            (Method::GET, list, None, StatusCode::OK),
            (
                Method::POST,
                format!("/api/v3/secrets/raw/{name}"),
                Some(
                    json!({ "workspaceId": project, "environment": "dev", "secretPath": "/", "secretValue": format!("v{i}") }),
                ),
                StatusCode::OK,
            ),
            (Method::GET, one, None, StatusCode::OK),
        ];
        for (method, path, body, want) in steps {
            let mut request = http
                .request(method.clone(), format!("{base}{path}"))
                .bearer_auth(&token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            match request.send().await {
                Ok(answer) if answer.status() == want => {
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok(answer) => {
                    let status = answer.status();
                    let text = answer.text().await.unwrap_or_default();
                    failures
                        .lock()
                        .expect("lock")
                        .push(format!("{method} {path}: {status} {text}"));
                }
                Err(err) => failures
                    .lock()
                    .expect("lock")
                    .push(format!("{method} {path}: {err}")),
            }
        }
        i += 1;
    }
}

/// Asks for a rotation of each of `rotations` in turn until `stop`, through the balancer. A
/// rotation already under way answers 409 (asked again later); anything else is a failure.
async fn rotator(
    base: String,
    token: String,
    rotations: Vec<String>,
    stop: Arc<AtomicBool>,
    requested: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
) {
    let http = http();
    while !stop.load(Ordering::Relaxed) {
        for id in &rotations {
            let path = format!("/api/v2/secret-rotations/auth0-client-secret/{id}/rotate-secrets");
            match http
                .post(format!("{base}{path}"))
                .bearer_auth(&token)
                .send()
                .await
            {
                Ok(answer) if answer.status() == StatusCode::OK => {
                    requested.fetch_add(1, Ordering::Relaxed);
                }
                Ok(answer) if answer.status() == StatusCode::CONFLICT => {}
                Ok(answer) => {
                    let status = answer.status();
                    let text = answer.text().await.unwrap_or_default();
                    failures
                        .lock()
                        .expect("lock")
                        .push(format!("POST {path}: {status} {text}"));
                }
                Err(err) => failures
                    .lock()
                    .expect("lock")
                    .push(format!("POST {path}: {err}")),
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// A request through the balancer that must answer `want`; its JSON.
async fn must(
    base: &str,
    token: &str,
    method: Method,
    path: &str,
    body: Value,
    want: StatusCode,
) -> Value {
    let answer = http()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = answer.status();
    let json: Value = answer.json().await.unwrap_or(Value::Null);
    assert_eq!(status, want, "{path}: {json}");
    json
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn restarting_every_process_in_turn_behind_haproxy_fails_no_request_and_no_rotation(
    pool: PgPool,
) {
    let url = common::database_url(&pool, None).await;
    let key = crypto::generate_root_key("rolling").expect("key");
    let key = key.expose_secret();
    let (admin_id, admin_secret) = common::bootstrap_admin(&pool, "rolling").await;
    let mut tenant = auth0_emulator::TenantSeed::with_m2m(
        DOMAIN,
        KEYHOLD_APP,
        KEYHOLD_APP_SECRET,
        &["read:clients", "update:client_keys"],
    );
    for (i, target) in TARGETS.iter().enumerate() {
        tenant.clients.push(auth0_emulator::ClientSeed::m2m(
            target,
            &format!("rolling-target-initial-secret-{i}-0123456789abcdef"),
        ));
    }
    let emulator = auth0_emulator::Emulator::start(auth0_emulator::Seed {
        tenants: vec![tenant],
    })
    .await
    .expect("emulator");
    let auth0 = emulator.base_url();

    let ports = [free_port(), free_port(), free_port()];
    let mut servers: Vec<tokio::process::Child> = ports
        .iter()
        .map(|port| serve(&url, key, &auth0, *port))
        .collect();
    for port in ports {
        answers(
            &format!("http://127.0.0.1:{port}/readyz"),
            StatusCode::OK,
            Duration::from_secs(30),
        )
        .await;
    }
    let mut worker_ids: Vec<String> = (0..3).map(|i| format!("w{i}")).collect();
    let mut workers: Vec<tokio::process::Child> = worker_ids
        .iter()
        .map(|id| worker(&url, key, &auth0, id))
        .collect();
    let dir = std::env::temp_dir().join(format!("keyhold-rolling-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let front = free_port();
    let _balancer = haproxy(&dir, front, &ports);
    let base = format!("http://127.0.0.1:{front}");
    answers(
        &format!("{base}/readyz"),
        StatusCode::OK,
        Duration::from_secs(10),
    )
    .await;

    let login = must(
        &base,
        "",
        Method::POST,
        "/api/v1/auth/universal-auth/login",
        json!({ "clientId": admin_id, "clientSecret": admin_secret }),
        StatusCode::OK,
    )
    .await;
    let token = login["accessToken"].as_str().expect("token").to_owned();
    let project = must(
        &base,
        &token,
        Method::POST,
        "/api/v1/projects",
        json!({ "name": "rolling" }),
        StatusCode::CREATED,
    )
    .await;
    let project_id = project["project"]["id"].as_str().expect("id").to_owned();
    let connection = must(
        &base,
        &token,
        Method::POST,
        "/api/v1/app-connections/auth0",
        json!({
            "name": "rolling", "method": "client-credentials", "projectId": project_id,
            "credentials": { "domain": DOMAIN, "clientId": KEYHOLD_APP, "clientSecret": KEYHOLD_APP_SECRET },
        }),
        StatusCode::CREATED,
    )
    .await;
    let connection_id = connection["appConnection"]["id"].as_str().expect("id");
    let mut rotations = Vec::new();
    for (i, target) in TARGETS.iter().enumerate() {
        let rotation = must(
            &base,
            &token,
            Method::POST,
            "/api/v2/secret-rotations/auth0-client-secret",
            json!({
                "name": format!("rolling-{i}"), "projectId": project_id,
                "connectionId": connection_id, "rotationInterval": 30,
                "rotateAtUtc": { "hours": 3, "minutes": 15 },
                "parameters": { "clientId": target },
            }),
            StatusCode::CREATED,
        )
        .await;
        rotations.push(
            rotation["secretRotation"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }

    let stop_load = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let requested = Arc::new(AtomicUsize::new(0));
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut load: Vec<_> = (0..CLIENTS)
        .map(|n| {
            tokio::spawn(client(
                base.clone(),
                token.clone(),
                project_id.clone(),
                n,
                Arc::clone(&stop_load),
                Arc::clone(&done),
                Arc::clone(&failures),
            ))
        })
        .collect();
    load.push(tokio::spawn(rotator(
        base.clone(),
        token.clone(),
        rotations.clone(),
        Arc::clone(&stop_load),
        Arc::clone(&requested),
        Arc::clone(&failures),
    )));

    tokio::time::sleep(Duration::from_millis(500)).await;
    for (i, port) in ports.iter().enumerate() {
        let before = done.load(Ordering::Relaxed);
        stop(&mut servers[i], &format!("server {i}")).await;
        servers[i] = serve(&url, key, &auth0, *port);
        answers(
            &format!("http://127.0.0.1:{port}/readyz"),
            StatusCode::OK,
            Duration::from_secs(30),
        )
        .await;
        // Let HAProxy see it up (one check) and send it work again before the next restart.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            done.load(Ordering::Relaxed) > before,
            "no request was served while server {i} restarted"
        );
    }
    for i in 0..workers.len() {
        let before = requested.load(Ordering::Relaxed);
        stop(&mut workers[i], &format!("worker {i}")).await;
        worker_ids[i] = format!("w{}", i + 3);
        workers[i] = worker(&url, key, &auth0, &worker_ids[i]);
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(
            requested.load(Ordering::Relaxed) > before,
            "no rotation was asked for while worker {i} restarted"
        );
    }
    stop_load.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("load task");
    }

    // Every rotation asked for runs to its end.
    let started = Instant::now();
    loop {
        let busy: i64 = sqlx::query_scalar(
            "select count(*) from secret_rotations \
             where current_attempt_id is not null or rotate_requested_at is not null",
        )
        .fetch_one(&pool)
        .await
        .expect("busy");
        if busy == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{busy} rotations still running a minute after the load stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outcomes: Vec<(String, i64)> =
        sqlx::query_as("select outcome, count(*) from rotation_attempts group by 1 order by 1")
            .fetch_all(&pool)
            .await
            .expect("outcomes");
    let statuses: Vec<String> =
        sqlx::query_scalar("select status from secret_rotations order by name")
            .fetch_all(&pool)
            .await
            .expect("statuses");
    let _ = std::fs::remove_dir_all(&dir);
    let failures = failures.lock().expect("lock").clone();
    let served = done.load(Ordering::Relaxed);
    let asked = requested.load(Ordering::Relaxed);
    eprintln!(
        "rolling restart: {served} requests and {asked} rotations asked for through HAProxy while 3 servers and 3 workers restarted in turn; {} requests failed; attempts by outcome {outcomes:?}",
        failures.len()
    );
    assert!(served > 100, "only {served} requests were made");
    assert!(
        failures.is_empty(),
        "{} failed: {:#?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert!(asked >= 6, "only {asked} rotations were asked for");
    assert!(
        outcomes.iter().all(|(outcome, _)| outcome == "succeeded"),
        "attempts that did not succeed: {outcomes:?}"
    );
    assert_eq!(statuses, ["success", "success", "success"]);
    emulator.shutdown().await;
}

/// The HAProxy configuration docker-compose.yml mounts is one HAProxy accepts.
#[test]
fn the_compose_proxy_configuration_is_valid() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/haproxy.cfg");
    let binary = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("haproxy is not installed (scripts/test installs Debian's haproxy)");
    let out = std::process::Command::new(binary)
        .args(["-c", "-f", config])
        .output()
        .expect("run haproxy -c");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
