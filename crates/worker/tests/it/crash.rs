//! A worker *process* SIGKILLed before, during and after the PATCH and during the commit: each
//! time another worker takes over once the lease expires, and the stored current secret ends up
//! equal to the one Auth0 (the emulator) holds. Latency faults and a held row lock park the
//! child inside the step under test.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use auth0_emulator::Fault;
use crypto::ExposeSecret;
use sqlx::PgPool;
use store::RotationId;
use tokio::process::{Child, Command};
use worker::JobOutcome;

use crate::support::*;

const LEASE_MS: u64 = 1200;

pub async fn spawn_worker(fx: &Fixture, extra: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyhold-worker-test"));
    cmd.env_clear()
        // Named, so a test can wait for the child's sessions to end before its database is dropped.
        .env(
            "DATABASE_URL",
            format!("{}?application_name={CHILD_APP}", fx.database_url().await),
        )
        .env("KEYHOLD_ROOT_KEYS", &fx.key_spec)
        .env("KEYHOLD_AUTH0_ENDPOINT_OVERRIDE", fx.emulator.base_url())
        .env("KEYHOLD_WORKER_ID", "child")
        .env("KEYHOLD_WORKER_LEASE_MS", LEASE_MS.to_string())
        .env("KEYHOLD_WORKER_HEARTBEAT_MS", "300")
        .env("KEYHOLD_WORKER_POLL_MS", "50")
        .env("KEYHOLD_WORKER_RETRY_BASE_MS", "20")
        .env("KEYHOLD_WORKER_RETRY_MAX_MS", "200")
        .env("KEYHOLD_WORKER_TENANT_RPS", "0")
        .env("KEYHOLD_DB_MAX_CONNECTIONS", "4")
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (name, value) in extra {
        cmd.env(name, value);
    }
    cmd.spawn().expect("spawn the worker binary")
}

pub const CHILD_APP: &str = "keyhold-worker-test-child";

/// Waits until no child worker holds a session on the test database: the backends of a killed
/// process linger a moment, and the test harness cannot drop a database that is in use.
pub async fn children_gone(fx: &Fixture) {
    crate::support::eventually(Duration::from_secs(10), "child sessions closed", || async {
        let open: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = current_database() and application_name = $1",
        )
        .bind(CHILD_APP)
        .fetch_one(&fx.pool)
        .await
        .expect("sessions");
        open == 0
    })
    .await;
}

pub async fn sigkill(mut child: Child) {
    child.start_kill().expect("SIGKILL");
    let status = child.wait().await.expect("wait");
    assert!(!status.success(), "killed, not exited: {status:?}");
}

async fn attempt_exists(fx: &Fixture, id: RotationId) -> bool {
    count(
        &fx.pool,
        "select count(*) from rotation_attempts where rotation_id = $1",
        id,
    )
    .await
        == 1
}

/// The pending secret of the open attempt (what the killed worker stored before Auth0 saw it).
async fn pending(fx: &Fixture, id: RotationId) -> String {
    let mut conn = fx.pool.acquire().await.expect("conn");
    let attempt = fx.get(id).await.current_attempt_id.expect("open attempt");
    let credential = store::rotations::pending_credential(&mut conn, attempt)
        .await
        .expect("query")
        .expect("pending secret is durable");
    fx.open_credential(&credential)
}

/// A fresh worker (as a new process would be) finishes the interrupted attempt with the same
/// secret; the stored current secret then equals Auth0's.
async fn takeover_finishes(fx: &Fixture, id: RotationId, client_id: &str, secret: &str) {
    let fresh = fx.worker_with(fx.config(), Arc::new(auth0::TokenCache::new()));
    let outcome = until_rotated(&fresh, Duration::from_secs(15)).await;
    assert!(
        matches!(outcome, JobOutcome::Rotated { attempt_no: 1, .. }),
        "the same attempt finishes: {outcome:?}"
    );
    let current = fx.current_secret(id).await.expect("current");
    assert_eq!(current, secret, "the secret stored before the crash");
    assert_eq!(current, fx.auth0_secret(client_id), "stored equals Auth0's");
    let (history, _) = store::rotations::list_attempts(&fx.pool, id, 5, None)
        .await
        .expect("history");
    assert_eq!(history.len(), 1);
    assert!(history[0].tries >= 2, "resumed, not restarted");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn killed_before_the_patch(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let client = target(0);
    let rotation = fx.rotation("rot", &client).await;
    // Hold the child in its Management API token request, after the attempt was stored.
    fx.emulator.admin().inject_fault(
        DOMAIN,
        Fault::Latency {
            endpoint: Some(TOKEN.into()),
            millis: 3000,
            count: Some(1),
        },
    );
    let child = spawn_worker(&fx, &[]).await;
    eventually(
        Duration::from_secs(10),
        "attempt stored, token pending",
        || async { attempt_exists(&fx, rotation.id).await && fx.requests(TOKEN) == 1 },
    )
    .await;
    sigkill(child).await;
    assert_eq!(fx.requests(PATCH), 0);
    assert_eq!(fx.auth0_secret(&client), initial_secret(&client));
    let secret = pending(&fx, rotation.id).await;
    takeover_finishes(&fx, rotation.id, &client, &secret).await;
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn killed_during_the_patch(pool: PgPool) {
    let fx = Fixture::new(pool, 1).await;
    let client = target(0);
    let rotation = fx.rotation("rot", &client).await;
    fx.emulator.admin().inject_fault(
        DOMAIN,
        Fault::Latency {
            endpoint: Some(PATCH.into()),
            millis: 1500,
            count: Some(1),
        },
    );
    let child = spawn_worker(&fx, &[]).await;
    eventually(Duration::from_secs(10), "PATCH in flight", || async {
        fx.requests(PATCH) == 1
    })
    .await;
    sigkill(child).await;
    let secret = pending(&fx, rotation.id).await;
    takeover_finishes(&fx, rotation.id, &client, &secret).await;
    // Whether or not the killed request is applied late, it carries the same secret.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(fx.auth0_secret(&client), secret);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn killed_after_the_patch(pool: PgPool) {
    // Auth0 refuses a new secret for a while after a change: the child sits in its test step,
    // after Auth0 accepted the PATCH and before anything is committed.
    let fx = Fixture::with_tenant(pool, 1, |t| t.secret_propagation_delay_ms = 1000).await;
    let client = target(0);
    let rotation = fx.rotation("rot", &client).await;
    let child = spawn_worker(&fx, &[("KEYHOLD_WORKER_PROPAGATION_TIMEOUT_MS", "30000")]).await;
    eventually(
        Duration::from_secs(10),
        "PATCH applied, test step polling",
        || async { fx.requests(PATCH) == 1 && fx.counters().token_failures >= 1 },
    )
    .await;
    sigkill(child).await;
    let secret = pending(&fx, rotation.id).await;
    assert_eq!(fx.auth0_secret(&client), secret, "Auth0 already has it");
    assert_eq!(
        fx.get(rotation.id).await.status,
        "pending",
        "nothing committed"
    );
    takeover_finishes(&fx, rotation.id, &client, &secret).await;
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn killed_during_the_commit(pool: PgPool) {
    // A self-rotation: its finish transaction also writes the connection row, which this test
    // holds locked, so the child blocks inside that transaction with its writes uncommitted.
    let fx = Fixture::new(pool, 0).await;
    let rotation = fx.rotation("self", CONN_CLIENT).await;
    let mut hold = fx.pool.begin().await.expect("tx");
    sqlx::query("select 1 from app_connections where id = $1 for no key update")
        .bind(fx.connection.id)
        .execute(&mut *hold)
        .await
        .expect("lock");
    let child = spawn_worker(&fx, &[]).await;
    eventually(
        Duration::from_secs(10),
        "finish transaction blocked",
        || async {
            // The finish statement, waiting for the connection row (the statement text is
            // longer than pg_stat_activity keeps, so match its start).
            let waiting: i64 = sqlx::query_scalar(
                "select count(*) from pg_stat_activity where datname = current_database() \
                 and wait_event_type = 'Lock' \
                 and query like 'with r as ( update secret_rotations set status = ''success''%'",
            )
            .fetch_one(&fx.pool)
            .await
            .expect("activity");
            waiting == 1
        },
    )
    .await;
    sigkill(child).await;
    hold.rollback().await.expect("release");
    let secret = pending(&fx, rotation.id).await;
    assert_eq!(fx.auth0_secret(CONN_CLIENT), secret, "Auth0 already has it");
    assert_eq!(
        fx.connection_secret().await,
        CONN_SECRET,
        "the commit never happened"
    );
    takeover_finishes(&fx, rotation.id, CONN_CLIENT, &secret).await;
    assert_eq!(
        fx.connection_secret().await,
        secret,
        "the connection follows"
    );
}

/// The rotation's mapped secret (issue 16), opened; `None` before any rotation wrote it.
async fn mapped_secret(fx: &Fixture, folder: store::FolderId, key: &str) -> Option<(i64, String)> {
    let mut conn = fx.pool.acquire().await.expect("conn");
    let secret = match store::secrets::get(&mut conn, folder, key, None).await {
        Ok(secret) => secret,
        Err(store::Error::NotFound) => return None,
        Err(err) => panic!("read the mapped secret: {err}"),
    };
    let place = broker::aad::SecretPlace {
        project_id: secret.project_id,
        environment_id: secret.environment_id,
        secret_id: secret.id,
        version: secret.version,
    };
    let binding = broker::aad::secret_value(secret.version_id, place);
    let value = fx
        .keyring
        .open_str(&secret.value_sealed.0, &binding.aad())
        .expect("open")
        .expose_secret()
        .to_owned();
    Some((secret.version, value))
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn killed_after_the_patch_the_mapped_secret_still_ends_up_as_auth0s(pool: PgPool) {
    // As `killed_after_the_patch`, for a rotation that writes its secret into project secrets:
    // nothing is written while Auth0 already holds the new secret, and the worker that takes
    // over writes exactly that secret in its finish.
    let fx = Fixture::with_tenant(pool, 1, |t| t.secret_propagation_delay_ms = 1000).await;
    let client = target(0);
    let rotation = fx.rotation("rot", &client).await;
    let prod = store::environments::by_slug(&fx.pool, fx.project_id, "prod")
        .await
        .expect("prod");
    let mut conn = fx.pool.acquire().await.expect("conn");
    let root = store::folders::by_path(&mut conn, prod.id, "/")
        .await
        .expect("root");
    store::rotations::mapping::replace(
        &mut conn,
        rotation.id,
        Some(&store::rotations::mapping::NewMapping {
            environment_id: prod.id,
            folder_id: root.id,
            names: &[
                (store::rotations::mapping::ROLE_CLIENT_ID, "APP_CLIENT_ID"),
                (
                    store::rotations::mapping::ROLE_CLIENT_SECRET,
                    "APP_CLIENT_SECRET",
                ),
            ],
        }),
    )
    .await
    .expect("mapping");
    drop(conn);
    let child = spawn_worker(&fx, &[("KEYHOLD_WORKER_PROPAGATION_TIMEOUT_MS", "30000")]).await;
    eventually(
        Duration::from_secs(10),
        "PATCH applied, test step polling",
        || async { fx.requests(PATCH) == 1 && fx.counters().token_failures >= 1 },
    )
    .await;
    sigkill(child).await;
    let secret = pending(&fx, rotation.id).await;
    assert_eq!(fx.auth0_secret(&client), secret, "Auth0 already has it");
    assert_eq!(
        mapped_secret(&fx, root.id, "APP_CLIENT_SECRET").await,
        None,
        "nothing written before the finish"
    );
    takeover_finishes(&fx, rotation.id, &client, &secret).await;
    assert_eq!(
        mapped_secret(&fx, root.id, "APP_CLIENT_SECRET").await,
        Some((1, fx.auth0_secret(&client))),
        "the mapped secret is the one Auth0 accepts"
    );
    assert_eq!(
        mapped_secret(&fx, root.id, "APP_CLIENT_ID").await,
        Some((1, client.clone()))
    );
    children_gone(&fx).await;
}
