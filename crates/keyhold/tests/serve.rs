//! `keyhold serve` end to end: the real binary on a migrated database becomes ready, serves, and
//! on SIGTERM stops its API and its embedded rotation worker cleanly (exit status 0).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crypto::ExposeSecret;
use sqlx::PgPool;

const APP: &str = "keyhold-serve-test";

/// The status code of `GET path`, or `None` while nothing answers.
fn status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// Waits until the binary's sessions are gone: the test database cannot be dropped while they
/// are open, and a clean exit must not leave any.
async fn sessions_closed(pool: &PgPool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = current_database() and application_name = $1",
        )
        .bind(APP)
        .fetch_one(pool)
        .await
        .expect("sessions");
        if open == 0 || Instant::now() > deadline {
            assert_eq!(open, 0, "keyhold left sessions open after exiting");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn serve_becomes_ready_and_stops_cleanly_on_sigterm(pool: PgPool) {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let key = crypto::generate_root_key("serve").expect("key");
    let started = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhold"))
        .env_clear()
        .env("DATABASE_URL", common::database_url(&pool, Some(APP)).await)
        .env("KEYHOLD_ROOT_KEYS", key.expose_secret())
        .env("KEYHOLD_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start keyhold serve");

    let mut ready = None;
    while started.elapsed() < Duration::from_secs(30) {
        if status(port, "/readyz") == Some(200) {
            ready = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ready = ready.expect("/readyz never answered 200");
    // A figure for the report (the target lives in bench/startup), not a timed assertion.
    eprintln!(
        "keyhold serve: ready {} ms after start (debug build)",
        ready.as_millis()
    );
    assert_eq!(status(port, "/api/v1/projects"), Some(401));

    let pid = child.id().expect("running").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stopped within 30 s of SIGTERM")
        .expect("exit status");
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    assert_eq!(
        status(port, "/healthz"),
        None,
        "nothing listens after shutdown"
    );

    sessions_closed(&pool).await;
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_worker_process_serves_its_metrics_and_stops_on_sigterm(pool: PgPool) {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let key = crypto::generate_root_key("worker").expect("key");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhold"))
        .env_clear()
        .env("DATABASE_URL", common::database_url(&pool, Some(APP)).await)
        .env("KEYHOLD_ROOT_KEYS", key.expose_secret())
        .env("KEYHOLD_WORKER_METRICS_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .arg("worker")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start keyhold worker");
    let started = Instant::now();
    while status(port, "/healthz") != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "worker metrics never answered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status(port, "/metrics"), Some(200));
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
        .expect("stopped within 30 s of SIGTERM")
        .expect("exit status");
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    sessions_closed(&pool).await;
}
