//! Logins whose clients hang up before the answer, against a real server: TCP connections from
//! several loopback addresses (127.0.0.x), each reset a moment after its request was sent. Such a
//! login must still hold its place in its address's budget until its hash is done, have its
//! failure recorded, and never queue more argon2 work than the queue's bound.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::TestApp;

const LOGIN: &str = "/api/v1/auth/universal-auth/login";
/// Long enough for the server to read the request and start the check, far shorter than any
/// failed login's answer (at least 300 ms).
const ABORT_AFTER: Duration = Duration::from_millis(150);

async fn serve(state: api::AppState) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let app = api::app(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn connect_from(source: &str, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{source}:0").parse().expect("source"))
        .expect("bind the source address");
    socket.connect(server).await.expect("connect")
}

fn request(body: &Value) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "POST {LOGIN} HTTP/1.1\r\nhost: keyhold\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn unknown_account() -> Value {
    json!({ "clientId": uuid::Uuid::new_v4().to_string(), "clientSecret": "guess" })
}

/// Sends a login from `source`, then resets the connection before any failed login could answer.
async fn abort_login(source: &str, server: SocketAddr, body: Value) {
    let mut stream = connect_from(source, server).await;
    stream.write_all(&request(&body)).await.expect("send");
    tokio::time::sleep(ABORT_AFTER).await;
    stream.set_zero_linger().expect("linger");
    drop(stream);
}

/// A login from `source` that waits for its answer: the status and `Retry-After`.
async fn login_from(source: &str, server: SocketAddr, body: &Value) -> (u16, Option<u64>) {
    let mut stream = connect_from(source, server).await;
    stream.write_all(&request(body)).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("answer");
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let retry_after = answer
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("retry-after:")
                .map(str::to_owned)
        })
        .and_then(|v| v.trim().parse().ok());
    (status, retry_after)
}

/// Waits until every check has finished (their hashes hold places in the queue).
async fn settle(state: &api::AppState) {
    let started = Instant::now();
    while state.argon.in_use() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "argon2 work never finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn aborted_logins_keep_their_place_until_hashed_and_are_recorded(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let state = app.state.clone();
    let server = serve(state.clone()).await;
    let source = "127.0.0.2";
    let address = api::auth::client_ip::throttle_key(Some(source.parse().expect("ip")));
    let budget = api::auth::throttle::PER_ADDRESS;
    let entered = state.argon.entered();

    // Five waves of 20 logins for as many accounts, every client gone before its answer, each
    // wave sent once the one before has hung up; meanwhile the address's attempts in flight, and
    // the argon2 jobs queued, are watched.
    let done = AtomicBool::new(false);
    let flood = async {
        for _ in 0..5 {
            futures_util::future::join_all(
                (0..budget).map(|_| abort_login(source, server, unknown_account())),
            )
            .await;
        }
        done.store(true, Ordering::SeqCst);
    };
    let watch = async {
        let (mut in_flight, mut queued) = (0, 0);
        while !done.load(Ordering::SeqCst) {
            in_flight = in_flight.max(state.throttle.in_flight(&address).await.expect("count"));
            queued = queued.max(state.argon.in_use());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        (in_flight, queued)
    };
    let ((), (in_flight, queued)) = tokio::join!(flood, watch);
    settle(&state).await;

    assert!(in_flight <= i64::from(budget), "{in_flight} in flight");
    assert!(queued <= budget as usize, "{queued} argon2 jobs at once");
    let hashed = state.argon.entered() - entered;
    assert!(
        hashed > 0 && hashed <= u64::from(budget),
        "{hashed} hashes for one address"
    );
    // Every check finished and its failure was recorded and audited, though no client waited (the
    // audit row is written just after the hash, so it may take a moment).
    let started = Instant::now();
    loop {
        let audited: i64 = sqlx::query_scalar(
            "select count(*) from audit_events where action = 'auth.login' \
             and outcome = 'failure' and source_ip = $1",
        )
        .bind(source)
        .fetch_one(&app.pool)
        .await
        .expect("audit");
        let in_flight = state.throttle.in_flight(&address).await.expect("count");
        if (audited as u64 == hashed && in_flight == 0) || started.elapsed().as_secs() > 10 {
            assert_eq!(audited as u64, hashed);
            assert_eq!(in_flight, 0);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Those failures count: with the budget spent, the address is refused at once.
    if hashed == u64::from(budget) {
        let (status, retry_after) = login_from(source, server, &unknown_account()).await;
        assert_eq!(status, 429);
        assert!(retry_after.is_some());
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_login_flood_from_many_addresses_is_refused_not_queued(pool: PgPool) {
    let app = TestApp::new(pool).await;
    // A short queue, so that the flood overflows it even when a busy machine is slow to read it.
    let state = app
        .state
        .clone()
        .with_argon_queue(api::auth::argon::ArgonQueue::new(8));
    let server = serve(state.clone()).await;
    let owner = app.identity("owner", None).await;
    let right = json!({ "clientId": owner.client_id, "clientSecret": owner.client_secret });
    let rejected = state.argon.rejected();

    // Ten addresses, each sending more logins than its budget, all hanging up.
    let sources: Vec<String> = (10..20).map(|n| format!("127.0.0.{n}")).collect();
    let flood =
        futures_util::future::join_all(sources.iter().flat_map(|source| {
            (0..25).map(move |_| abort_login(source, server, unknown_account()))
        }));
    // Meanwhile the owner logs in from elsewhere, retrying as told while the queue is full.
    let login = async {
        tokio::time::sleep(ABORT_AFTER / 2).await;
        let started = Instant::now();
        loop {
            let (status, retry_after) = login_from("127.0.0.100", server, &right).await;
            if status != 429 {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the owner never got in"
            );
            tokio::time::sleep(Duration::from_secs(retry_after.expect("Retry-After"))).await;
        }
    };
    let (_, (status, took)) = tokio::join!(flood, login);
    assert_eq!(status, 200, "after {took:?}");
    assert!(
        state.argon.rejected() > rejected,
        "the queue never refused a login"
    );
    settle(&state).await;
}
