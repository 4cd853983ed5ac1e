//! Several `keyhold serve` processes on one database agree: a change made through one replica
//! (a revoked token, a removed membership) holds on every other replica within a second, not
//! after their token caches expire; login throttling counts the guesses made at all of them; an
//! `Idempotency-Key` sent to all of them at once creates one thing; and together they stay within
//! one Auth0 tenant's request budget.

mod common;

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crypto::ExposeSecret;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

/// The bound the issue sets; the token cache's own TTL is 5 s, so passing proves the notification.
const PROPAGATION: Duration = Duration::from_secs(1);

struct Replica {
    base: String,
    _child: tokio::process::Child,
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn start(database_url: &str, root_key: &str) -> Replica {
    start_with(database_url, root_key, &[]).await
}

/// A replica with more settings (`KEYHOLD_*` variables).
async fn start_with(database_url: &str, root_key: &str, settings: &[(&str, String)]) -> Replica {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhold"))
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("KEYHOLD_ROOT_KEYS", root_key)
        .env("KEYHOLD_LISTEN", format!("127.0.0.1:{port}"))
        .env("KEYHOLD_EMBEDDED_WORKER", "false")
        .env("RUST_LOG", "warn")
        .envs(settings.iter().map(|(k, v)| (*k, v.as_str())))
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start keyhold serve");
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        let ready = http().get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "replica on {port} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Replica {
        base,
        _child: child,
    }
}

impl Replica {
    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, _, body) = self.call_with(token, method, path, body, &[]).await;
        (status, body)
    }

    /// `call` with extra request headers; the answer's headers too.
    async fn call_with(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = http()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("API call");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (
            status,
            headers,
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn login(&self, client_id: &str, client_secret: &str) -> String {
        let (status, body) = self
            .call(
                "",
                Method::POST,
                "/api/v1/auth/universal-auth/login",
                Some(json!({ "clientId": client_id, "clientSecret": client_secret })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["accessToken"].as_str().expect("token").to_owned()
    }

    /// Polls `path` with `token` until it answers `want`; how long that took after `since`.
    async fn answers_within(&self, token: &str, path: &str, want: u16, since: Instant) -> Duration {
        loop {
            let (status, _) = self.call(token, Method::GET, path, None).await;
            if status == want {
                return since.elapsed();
            }
            assert!(
                since.elapsed() < PROPAGATION,
                "{}{path} still answered {status} {} ms after the change (wanted {want})",
                self.base,
                since.elapsed().as_millis()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Three replicas on the test's database, and the instance admin's client id and secret.
async fn three_replicas(pool: &PgPool) -> ([Replica; 3], String, String) {
    let url = common::database_url(pool, None).await;
    let key = crypto::generate_root_key("replicas").expect("key");
    let (admin_id, admin_secret) = common::bootstrap_admin(pool, "replicas").await;

    let replicas = [
        start(&url, key.expose_secret()).await,
        start(&url, key.expose_secret()).await,
        start(&url, key.expose_secret()).await,
    ];
    (replicas, admin_id, admin_secret)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_change_through_one_replica_holds_on_every_replica_within_a_second(pool: PgPool) {
    let (replicas, admin_id, admin_secret) = three_replicas(&pool).await;
    let [first, others @ ..] = &replicas;
    let admin = first.login(&admin_id, &admin_secret).await;
    let (status, project) = first
        .call(
            &admin,
            Method::POST,
            "/api/v1/projects",
            Some(json!({ "name": "orders" })),
        )
        .await;
    assert_eq!(status, 201, "{project}");
    let project = project["project"]["id"].as_str().expect("project id");
    let (status, made) = first
        .call(
            &admin,
            Method::POST,
            "/api/v1/identities",
            Some(json!({ "type": "machine", "name": "orders-app" })),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let member = made["identity"]["id"].as_str().expect("identity id");
    let (status, added) = first
        .call(
            &admin,
            Method::POST,
            &format!("/api/v1/projects/{project}/memberships"),
            Some(json!({ "identityId": member, "role": "viewer" })),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let app = first
        .login(
            made["identity"]["clientId"].as_str().expect("client id"),
            made["clientSecret"].as_str().expect("secret"),
        )
        .await;

    // Removing a membership on one replica: the others stop showing the project at once.
    let secrets = format!("/api/v3/secrets/raw?workspaceId={project}&environment=dev");
    for replica in others {
        let (status, body) = replica.call(&app, Method::GET, &secrets, None).await;
        assert_eq!(
            status, 200,
            "a viewer reads, and the replica caches its token: {body}"
        );
    }
    let (status, body) = first
        .call(
            &admin,
            Method::DELETE,
            &format!("/api/v1/projects/{project}/memberships/{member}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let removed = Instant::now();
    for replica in others {
        let took = replica.answers_within(&app, &secrets, 404, removed).await;
        eprintln!(
            "membership removal seen by {} after {} ms",
            replica.base,
            took.as_millis()
        );
    }

    // Revoking a token on one replica: the others refuse it at once.
    for replica in others {
        let (status, body) = replica
            .call(&admin, Method::GET, "/api/v1/projects", None)
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = first
        .call(
            &admin,
            Method::POST,
            "/api/v1/auth/token/revoke",
            Some(json!({ "accessToken": admin })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let revoked = Instant::now();
    for replica in others {
        let took = replica
            .answers_within(&admin, "/api/v1/projects", 401, revoked)
            .await;
        eprintln!(
            "revocation seen by {} after {} ms",
            replica.base,
            took.as_millis()
        );
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn guesses_spread_over_replicas_are_throttled_as_on_one(pool: PgPool) {
    let (replicas, admin_id, _) = three_replicas(&pool).await;
    // Twelve wrong secrets for one identity, at once, four at each replica: as on one process,
    // five are checked (401) and seven refused (429) — not five per replica.
    let guesses = futures_util::future::join_all((0..12).map(|n| {
        replicas[n % 3].call(
            "",
            Method::POST,
            "/api/v1/auth/universal-auth/login",
            Some(json!({ "clientId": admin_id, "clientSecret": format!("guess-{n}") })),
        )
    }))
    .await;
    let answered = |code| guesses.iter().filter(|(status, _)| *status == code).count();
    assert_eq!(
        (answered(401), answered(429)),
        (5, 7),
        "{:?}",
        guesses.iter().map(|(status, _)| status).collect::<Vec<_>>()
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_idempotency_key_holds_across_replicas(pool: PgPool) {
    let (replicas, admin_id, admin_secret) = three_replicas(&pool).await;
    let admin = replicas[0].login(&admin_id, &admin_secret).await;
    let (status, project) = replicas[0]
        .call(
            &admin,
            Method::POST,
            "/api/v1/projects",
            Some(json!({ "name": "idempotent" })),
        )
        .await;
    assert_eq!(status, 201, "{project}");
    let project = project["project"]["id"].as_str().expect("id").to_owned();
    // A connection that holds a private key: made without a call to Auth0.
    let body = json!({
        "name": "orders", "method": "private-key-jwt", "projectId": project,
        "credentials": { "domain": "orders.auth0.test", "clientId": "ordersClientID0000000000000001" },
    });
    let key = [("idempotency-key", "create-orders-connection-0001")];
    let path = "/api/v1/app-connections/auth0";
    // Nine at once, three at each replica: one creates, the others replay it or are told to
    // retry (409), none creates a second.
    let first =
        futures_util::future::join_all((0..9).map(|n| {
            replicas[n % 3].call_with(&admin, Method::POST, path, Some(body.clone()), &key)
        }))
        .await;
    let fresh: Vec<&Value> = first
        .iter()
        .filter(|(status, headers, _)| {
            *status == 201 && !headers.contains_key("idempotent-replayed")
        })
        .map(|(_, _, body)| body)
        .collect();
    assert_eq!(fresh.len(), 1, "{first:?}");
    let id = fresh[0]["appConnection"]["id"].as_str().expect("id");
    for (status, headers, answer) in &first {
        match status {
            201 => assert_eq!(answer["appConnection"]["id"].as_str(), Some(id)),
            409 => {}
            other => panic!("unexpected {other}: {answer} {headers:?}"),
        }
    }
    // Afterwards every replica replays the same answer.
    for replica in &replicas {
        let (status, headers, answer) = replica
            .call_with(&admin, Method::POST, path, Some(body.clone()), &key)
            .await;
        assert_eq!(status, 201, "{answer}");
        assert_eq!(
            headers
                .get("idempotent-replayed")
                .and_then(|v| v.to_str().ok()),
            Some("true")
        );
        assert_eq!(answer["appConnection"]["id"].as_str(), Some(id));
    }
    // The same key with another body is refused on any replica.
    let mut other = body.clone();
    other["name"] = json!("payments");
    let (status, _, answer) = replicas[2]
        .call_with(&admin, Method::POST, path, Some(other), &key)
        .await;
    assert_eq!(status, 400, "{answer}");
    let stored: i64 = sqlx::query_scalar("select count(*) from app_connections")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(stored, 1);
}

/// Management API requests the emulator saw for `domain`, and how many it refused with 429.
fn management_requests(emulator: &auth0_emulator::Emulator, domain: &str) -> (u64, u64) {
    let counters = emulator.admin().counters(domain).expect("tenant");
    let requests = counters
        .requests_by_endpoint
        .iter()
        .filter(|(endpoint, _)| endpoint.contains(" /api/v2/"))
        .map(|(_, n)| n)
        .sum();
    (requests, counters.rate_limited)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn three_replicas_share_one_tenant_budget(pool: PgPool) {
    const DOMAIN: &str = "paced.auth0.test";
    const APP: &str = "pacedKeyholdM2MclientID0000001";
    const SECRET: &str = "paced-keyhold-secret-0123456789abcdef0123456789";
    const RPS: f64 = 5.0;
    const BURST: u32 = 5;
    // Auth0 (the emulator) allows 5 requests a second with a burst of 5, as Keyhold is told.
    let mut tenant = auth0_emulator::TenantSeed::with_m2m(DOMAIN, APP, SECRET, &["read:clients"]);
    tenant.rate_limit = Some(auth0_emulator::RateLimitSeed {
        burst: BURST,
        per_second: RPS,
    });
    let emulator = auth0_emulator::Emulator::start(auth0_emulator::Seed {
        tenants: vec![tenant],
    })
    .await
    .expect("emulator");
    let url = common::database_url(&pool, None).await;
    let key = crypto::generate_root_key("paced").expect("key");
    let (admin_id, admin_secret) = common::bootstrap_admin(&pool, "paced").await;
    let settings = [
        ("KEYHOLD_AUTH0_ENDPOINT_OVERRIDE", emulator.base_url()),
        ("KEYHOLD_AUTH0_ALLOW_PRIVATE_NETWORKS", "true".to_owned()),
        ("KEYHOLD_WORKER_TENANT_RPS", RPS.to_string()),
        ("KEYHOLD_WORKER_TENANT_BURST", BURST.to_string()),
    ];
    let replicas = [
        start_with(&url, key.expose_secret(), &settings).await,
        start_with(&url, key.expose_secret(), &settings).await,
        start_with(&url, key.expose_secret(), &settings).await,
    ];
    let admin = replicas[0].login(&admin_id, &admin_secret).await;
    let (status, project) = replicas[0]
        .call(
            &admin,
            Method::POST,
            "/api/v1/projects",
            Some(json!({ "name": "paced" })),
        )
        .await;
    assert_eq!(status, 201, "{project}");
    let (status, connection) = replicas[0]
        .call(
            &admin,
            Method::POST,
            "/api/v1/app-connections/auth0",
            Some(json!({
                "name": "paced", "method": "client-credentials",
                "projectId": project["project"]["id"],
                "credentials": { "domain": DOMAIN, "clientId": APP, "clientSecret": SECRET },
            })),
        )
        .await;
    assert_eq!(status, 201, "{connection}");
    let path = format!(
        "/api/v1/app-connections/auth0/{}/clients",
        connection["appConnection"]["id"].as_str().expect("id")
    );
    // Let the creation's own requests age out of Auth0's window, then measure from there.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (before, refused_before) = management_requests(&emulator, DOMAIN);

    // Thirty callers, ten at each replica, for four seconds: each process alone would stay
    // within the budget; together they would be three times over it, unless they share it.
    let window = Duration::from_secs(4);
    let started = Instant::now();
    let answers = futures_util::future::join_all((0..30).map(|n| {
        let replica = &replicas[n % 3];
        let (admin, path) = (&admin, &path);
        async move {
            let mut statuses = Vec::new();
            while started.elapsed() < window {
                let (status, _) = replica.call(admin, Method::GET, path, None).await;
                statuses.push(status);
            }
            statuses
        }
    }))
    .await;
    let elapsed = started.elapsed();
    let (after, refused_after) = management_requests(&emulator, DOMAIN);
    let statuses: Vec<u16> = answers.into_iter().flatten().collect();
    let served = statuses.iter().filter(|s| **s == 200).count();
    let told_to_wait = statuses.iter().filter(|s| **s == 429).count();
    eprintln!(
        "pacing: {} calls through 3 replicas in {} ms: {served} served, {told_to_wait} answered 429 \
         by Keyhold; Auth0 saw {} Management API requests and refused {}",
        statuses.len(),
        elapsed.as_millis(),
        after - before,
        refused_after - refused_before
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert!(served > 0);
    assert_eq!(
        refused_after - refused_before,
        0,
        "Auth0 refused requests: the replicas did not share the tenant's budget"
    );
    let allowed = RPS * elapsed.as_secs_f64() + f64::from(BURST) + 1.0;
    assert!(
        ((after - before) as f64) <= allowed,
        "{} requests in {elapsed:?}, more than the budget's {allowed}",
        after - before
    );
    emulator.shutdown().await;
}
