//! `keyhold keys ...` end to end: the real binary against a fresh database per test, with records
//! sealed by the real crypto crate. Covers rewrap (every record moves, secrets still open, the
//! ciphertext is untouched, an interrupted run resumes), status counts, the keyring check (a
//! missing key id is named, a changed key under a known id is refused) and rotate's output.

mod common;

use std::process::{Output, Stdio};
use std::time::Duration;

use broker::{Destination, aad};
use crypto::{ExposeSecret, RootKeyring, SecretString};
use serde_json::Value;
use sqlx::PgPool;
use store::{ConnectionId, CredentialId, ProjectId, RotationId};
use uuid::Uuid;

/// A fresh random root key entry `id:base64`; tests keep the string to configure it again.
fn key(id: &str) -> String {
    crypto::generate_root_key(id)
        .expect("valid id")
        .expose_secret()
        .to_owned()
}

/// What the test rows' secrets are bound to (every test connection names this tenant and client).
fn connection_binding(id: Uuid, project: Uuid) -> aad::Binding {
    aad::connection_secret(ConnectionId(id), ProjectId(project), TENANT)
}

fn credential_binding(id: Uuid, rotation: Uuid, project: Uuid) -> aad::Binding {
    aad::generated_secret(
        CredentialId(id),
        RotationId(rotation),
        ProjectId(project),
        TENANT,
    )
}

const TENANT: Destination<'static> = Destination {
    domain: "x.auth0.com",
    client_id: "cid",
};

fn keyring(spec: &str) -> RootKeyring {
    RootKeyring::parse(spec).expect("test keyring parses")
}

fn keyhold(url: &str, keys: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhold"));
    cmd.env_clear()
        .env("DATABASE_URL", url)
        .env("KEYHOLD_ROOT_KEYS", keys)
        .env("RUST_LOG", "warn")
        .arg("keys")
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

async fn run(url: &str, keys: &str, args: &[&str]) -> Output {
    keyhold(url, keys, args)
        .output()
        .await
        .expect("running keyhold")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn secret_of(n: usize) -> String {
    format!("secret-{n:05}-{}", "x".repeat(40))
}

/// An org and a project to hang connections on.
async fn project(pool: &PgPool) -> (Uuid, Uuid) {
    let (org, project) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query("insert into orgs (id, name) values ($1, 'o')")
        .bind(org)
        .execute(pool)
        .await
        .expect("org");
    sqlx::query("insert into projects (id, org_id, name) values ($1, $2, 'p')")
        .bind(project)
        .bind(org)
        .execute(pool)
        .await
        .expect("project");
    (org, project)
}

/// `n` connections (named from `first`) with real envelopes sealed by `keys`' active key.
async fn connections(
    pool: &PgPool,
    at: (Uuid, Uuid),
    keys: &RootKeyring,
    first: usize,
    n: usize,
) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    let mut names = Vec::with_capacity(n);
    let mut sealed = Vec::with_capacity(n);
    for i in first..first + n {
        let id = Uuid::now_v7();
        let binding = connection_binding(id, at.1);
        sealed.push(
            keys.seal_str(&SecretString::from(secret_of(i)), &binding.aad())
                .expect("seal"),
        );
        ids.push(id);
        names.push(format!("c-{i:05}"));
    }
    sqlx::query(
        "insert into app_connections (id, org_id, project_id, method, name, domain, client_id, \
         audience, client_secret_sealed) \
         select u.id, $1, $2, 'client-credentials', u.name, 'x.auth0.com', 'cid', \
                'https://x.auth0.com/api/v2/', u.sealed \
         from unnest($3::uuid[], $4::text[], $5::bytea[]) as u (id, name, sealed)",
    )
    .bind(at.0)
    .bind(at.1)
    .bind(&ids)
    .bind(&names)
    .bind(&sealed)
    .execute(pool)
    .await
    .expect("connections");
    ids
}

/// A rotation on `connection` with one current generated secret sealed by `keys`.
async fn credential(pool: &PgPool, at: (Uuid, Uuid), connection: Uuid, keys: &RootKeyring) -> Uuid {
    let (rotation, attempt, credential) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "insert into secret_rotations (id, org_id, project_id, connection_id, name, client_id, \
         rotation_interval_days) values ($1, $2, $3, $4, $5, 'cid', 30)",
    )
    .bind(rotation)
    .bind(at.0)
    .bind(at.1)
    .bind(connection)
    .bind(format!("r-{}", rotation.simple()))
    .execute(pool)
    .await
    .expect("rotation");
    sqlx::query(
        "insert into rotation_attempts (id, rotation_id, attempt_no, is_manual) \
         values ($1, $2, 1, false)",
    )
    .bind(attempt)
    .bind(rotation)
    .execute(pool)
    .await
    .expect("attempt");
    let binding = credential_binding(credential, rotation, at.1);
    let sealed = keys
        .seal_str(
            &SecretString::from(format!("generated-{credential}")),
            &binding.aad(),
        )
        .expect("seal");
    sqlx::query(
        "insert into rotation_credentials (id, rotation_id, attempt_id, state, slot, \
         client_secret_sealed, domain, client_id) \
         values ($1, $2, $3, 'current', 0, $4, 'acme.auth0.test', 'rotatedClient')",
    )
    .bind(credential)
    .bind(rotation)
    .bind(attempt)
    .bind(sealed)
    .execute(pool)
    .await
    .expect("credential");
    credential
}

/// (id, name, sealed, version) of every connection, in id order.
async fn stored_connections(pool: &PgPool) -> Vec<(Uuid, String, Vec<u8>, i64)> {
    sqlx::query_as(
        "select id, name, client_secret_sealed, version from app_connections order by id",
    )
    .fetch_all(pool)
    .await
    .expect("read connections")
}

async fn key_ids(pool: &PgPool, table: &str) -> Vec<String> {
    let sql = match table {
        "app_connections" => "select client_secret_sealed from app_connections order by id",
        _ => "select client_secret_sealed from rotation_credentials order by id",
    };
    let sealed: Vec<Vec<u8>> = sqlx::query_scalar(sql)
        .fetch_all(pool)
        .await
        .expect("read sealed");
    sealed
        .iter()
        .map(|s| RootKeyring::envelope_key_id(s).expect("envelope header"))
        .collect()
}

fn assert_all_open(rows: &[(Uuid, String, Vec<u8>, i64)], keys: &RootKeyring, project: Uuid) {
    for (id, name, sealed, _) in rows {
        let n: usize = name.trim_start_matches("c-").parse().expect("seeded name");
        let binding = connection_binding(*id, project);
        let secret = keys
            .open_str(sealed, &binding.aad())
            .expect("opens with the new key");
        assert_eq!(secret.expose_secret(), secret_of(n));
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn rewrap_moves_every_record_and_secrets_still_open(pool: PgPool) {
    let k1 = key("k1");
    let k2 = key("k2");
    let url = common::database_url(&pool, None).await;
    let at = project(&pool).await;
    let old = keyring(&k1);
    let ids = connections(&pool, at, &old, 0, 25).await;
    let credential_id = credential(&pool, at, ids[0], &old).await;
    let before = stored_connections(&pool).await;

    let both = format!("{k2},{k1}");
    let out = run(&url, &both, &["rewrap", "--batch-size", "4"]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("rewrapped 26 records to root key k2"),
        "{stdout}"
    );
    assert!(stdout.contains("app_connections 25, rotation_credentials 1"));
    assert!(stdout.contains("k1 can be retired"), "{stdout}");

    assert_eq!(key_ids(&pool, "app_connections").await, vec!["k2"; 25]);
    assert_eq!(key_ids(&pool, "rotation_credentials").await, vec!["k2"]);
    let after = stored_connections(&pool).await;
    // Only the new key is needed from now on.
    let new_only = keyring(&k2);
    assert_all_open(&after, &new_only, at.1);
    for ((_, _, old_bytes, old_version), (_, _, new_bytes, new_version)) in
        before.iter().zip(&after)
    {
        assert_eq!(
            old_version, new_version,
            "rewrap is not a change of the connection"
        );
        // The payload (nonce, ciphertext, tag) is the tail; only the wrapped key changed.
        let payload = 12 + secret_of(0).len() + 16;
        assert_eq!(
            old_bytes[old_bytes.len() - payload..],
            new_bytes[new_bytes.len() - payload..],
            "the secret itself is not re-encrypted"
        );
        assert_ne!(old_bytes, new_bytes);
    }
    let (sealed, rotation_id): (Vec<u8>, Uuid) = sqlx::query_as(
        "select client_secret_sealed, rotation_id from rotation_credentials where id = $1",
    )
    .bind(credential_id)
    .fetch_one(&pool)
    .await
    .expect("credential");
    let binding = credential_binding(credential_id, rotation_id, at.1);
    let opened = new_only
        .open_str(&sealed, &binding.aad())
        .expect("generated secret opens");
    assert_eq!(opened.expose_secret(), format!("generated-{credential_id}"));

    // Nothing left: a second run is a no-op that still succeeds.
    let again = run(&url, &both, &["rewrap"]).await;
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains("rewrapped 0 records"));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_limited_rewrap_resumes_where_it_stopped(pool: PgPool) {
    let k1 = key("k1");
    let k2 = key("k2");
    let url = common::database_url(&pool, None).await;
    let at = project(&pool).await;
    let ids = connections(&pool, at, &keyring(&k1), 0, 30).await;
    let both = format!("{k2},{k1}");

    let out = run(
        &url,
        &both,
        &["rewrap", "--batch-size", "4", "--limit", "10"],
    )
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("rewrapped 10 records"), "{stdout}");
    assert!(stdout.contains("20 records remain"), "{stdout}");
    let mut expected = vec!["k2"; 10];
    expected.extend(vec!["k1"; 20]);
    assert_eq!(
        key_ids(&pool, "app_connections").await,
        expected,
        "the first ten by id, the rest untouched"
    );
    assert_eq!(ids.len(), 30);

    let out = run(&url, &both, &["rewrap", "--batch-size", "4"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("rewrapped 20 records"));
    assert_eq!(key_ids(&pool, "app_connections").await, vec!["k2"; 30]);
    assert_all_open(&stored_connections(&pool).await, &keyring(&k2), at.1);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_killed_rewrap_resumes(pool: PgPool) {
    let k1 = key("k1");
    let k2 = key("k2");
    let url = common::database_url(&pool, None).await;
    let at = project(&pool).await;
    let rows = 3000;
    connections(&pool, at, &keyring(&k1), 0, rows).await;
    let both = format!("{k2},{k1}");

    let mut child = keyhold(&url, &both, &["rewrap", "--batch-size", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rewrap");
    let moved = || async {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from app_connections where client_secret_key_id = 'k2'",
        )
        .fetch_one(&pool)
        .await
        .expect("count")
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while moved().await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rewrap made no progress"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().await.expect("SIGKILL the rewrap");
    // A statement the server was running when the client died may still commit: wait until
    // the count settles before taking it as the starting point.
    let mut at_kill = moved().await;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = moved().await;
        if now == at_kill {
            break;
        }
        at_kill = now;
    }
    assert!(
        at_kill > 0 && at_kill < i64::try_from(rows).expect("small"),
        "killed mid-way ({at_kill} of {rows} moved)"
    );

    let out = run(&url, &both, &["rewrap"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let rest = rows - usize::try_from(at_kill).expect("count");
    assert!(
        stdout.contains(&format!("rewrapped {rest} records")),
        "only what was left: {stdout}"
    );
    assert_eq!(key_ids(&pool, "app_connections").await, vec!["k2"; rows]);
    assert_all_open(&stored_connections(&pool).await, &keyring(&k2), at.1);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn status_counts_records_per_key_id(pool: PgPool) {
    let k1 = key("k1");
    let k2 = key("k2");
    let url = common::database_url(&pool, None).await;
    let at = project(&pool).await;
    let ids = connections(&pool, at, &keyring(&k1), 0, 3).await;
    connections(&pool, at, &keyring(&k2), 10, 2).await;
    credential(&pool, at, ids[0], &keyring(&k2)).await;
    // A damaged value: no key can open it, and status says so instead of failing.
    sqlx::query(
        "insert into app_connections (id, org_id, project_id, method, name, domain, client_id, \
         audience, client_secret_sealed) values ($1, $2, $3, 'client-credentials', 'broken', \
         'x.auth0.com', 'cid', 'https://x.auth0.com/api/v2/', '\\x0701'::bytea)",
    )
    .bind(Uuid::now_v7())
    .bind(at.0)
    .bind(at.1)
    .execute(&pool)
    .await
    .expect("damaged row");
    let both = format!("{k2},{k1}");

    let out = run(&url, &both, &["status", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(status["activeKeyId"], "k2");
    assert_eq!(status["notOnActiveKey"], 3);
    assert_eq!(status["unreadable"]["app_connections"], 1);
    let keys = status["keys"].as_array().expect("keys");
    let k2 = &keys[0];
    assert_eq!(k2["keyId"], "k2");
    assert_eq!(k2["state"], "active");
    assert_eq!(k2["check"], "new", "status records nothing");
    assert_eq!(k2["records"]["app_connections"], 2);
    assert_eq!(k2["records"]["rotation_credentials"], 1);
    assert_eq!(k2["total"], 3);
    let k1 = &keys[1];
    assert_eq!(
        (k1["keyId"].as_str(), k1["state"].as_str()),
        (Some("k1"), Some("configured"))
    );
    assert_eq!(k1["total"], 3);

    // Once a process has checked the keyring, the keys show as matching; the table is readable.
    let checked = run(&url, &both, &["check"]).await;
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    let out = run(&url, &both, &["status"]).await;
    let table = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = |id: &str| {
        table
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no {id} line in {table}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    // Columns: app_connections, rotation_credentials, secret_versions, webhook_signing_secrets,
    // connection_private_keys, audit_streams, audit_stream_headers, rotation_key_pairs, total.
    assert_eq!(line("k2"), "k2 active ok 2 1 0 0 0 0 0 0 3");
    assert_eq!(line("k1"), "k1 configured ok 3 0 0 0 0 0 0 0 3");
    assert_eq!(line("(unreadable)"), "(unreadable) - - 1 0 0 0 0 0 0 0 1");
    assert!(
        table.contains("3 records are not under the active key k2"),
        "{table}"
    );

    // Without a keyring: counts only, the ids shown as in use.
    let out = keyhold(&url, "", &["status", "--json"])
        .env_remove("KEYHOLD_ROOT_KEYS")
        .output()
        .await
        .expect("status");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(status["activeKeyId"], Value::Null);
    assert_eq!(status["keys"][0]["state"], "in use");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_missing_key_id_is_named_and_nothing_is_rewrapped(pool: PgPool) {
    let k0 = key("k0");
    let k1 = key("k1");
    let k2 = key("k2");
    let url = common::database_url(&pool, None).await;
    let at = project(&pool).await;
    connections(&pool, at, &keyring(&k0), 0, 2).await;
    connections(&pool, at, &keyring(&k1), 10, 2).await;
    let without_k0 = format!("{k2},{k1}");

    for args in [&["check"][..], &["rewrap"][..]] {
        let out = run(&url, &without_k0, args).await;
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} must refuse");
        assert!(
            stderr.contains(
                "records in app_connections are sealed under root key id `k0`, which the \
                 configured keyring (k2, k1) lacks"
            ),
            "{args:?}: {stderr}"
        );
    }
    let mut ids = key_ids(&pool, "app_connections").await;
    ids.sort();
    assert_eq!(ids, vec!["k0", "k0", "k1", "k1"], "nothing was rewrapped");
    let recorded: i64 = sqlx::query_scalar("select count(*) from keyring_check_values")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(recorded, 0, "a refused keyring records nothing");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_changed_key_under_a_known_id_is_refused(pool: PgPool) {
    let k1 = key("k1");
    let k1_other = key("k1");
    let k9 = key("k9");
    let k9_other = key("k9");
    let url = common::database_url(&pool, None).await;
    let at = project(&pool).await;
    connections(&pool, at, &keyring(&k1), 0, 2).await;

    let ok = run(&url, &k1, &["check"]).await;
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("root keyring ok: k1"));

    // Same id, other key material: refused, naming the id and the data at stake.
    let changed = run(&url, &k1_other, &["check"]).await;
    let stderr = text(&changed.stderr);
    assert!(!changed.status.success());
    assert!(
        stderr.contains("root key `k1` is not the key first used under that id"),
        "{stderr}"
    );
    assert!(
        stderr.contains("records in app_connections are sealed under `k1`"),
        "{stderr}"
    );
    // The refusal also covers an id no record uses yet: it was pinned when first seen.
    let unused = run(&url, &format!("{k1},{k9}"), &["check"]).await;
    assert!(unused.status.success(), "{}", text(&unused.stderr));
    let repinned = run(&url, &format!("{k1},{k9_other}"), &["check"]).await;
    assert!(!repinned.status.success());
    assert!(text(&repinned.stderr).contains("root key `k9` is not the key first used"));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_first_seen_key_must_open_existing_records(pool: PgPool) {
    let k1 = key("k1");
    let k1_other = key("k1");
    // Records from before check values existed: nothing is recorded for k1 yet.
    let url = common::database_url(&pool, None).await;
    let at = project(&pool).await;
    connections(&pool, at, &keyring(&k1), 0, 5).await;

    let wrong = run(&url, &k1_other, &["check"]).await;
    let stderr = text(&wrong.stderr);
    assert!(!wrong.status.success());
    assert!(
        stderr.contains(
            "root key `k1` does not open the records sealed under `k1` in app_connections"
        ),
        "{stderr}"
    );
    let recorded: i64 = sqlx::query_scalar("select count(*) from keyring_check_values")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(recorded, 0, "the wrong key was not pinned");

    let right = run(&url, &k1, &["check"]).await;
    assert!(right.status.success(), "{}", text(&right.stderr));
}

#[tokio::test]
async fn rotate_prints_a_new_key_and_the_procedure_for_this_keyring() {
    let k0 = key("k0");
    let k1 = key("k1");
    let current = format!("{k1},{k0}");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhold"))
        .env_clear()
        .env("KEYHOLD_ROOT_KEYS", &current)
        .args(["keys", "rotate", "--id", "k2"])
        .output()
        .await
        .expect("rotate");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let new = keyring(stdout.trim());
    assert_eq!(new.key_ids(), vec!["k2"], "stdout is exactly the new key");
    let stderr = text(&out.stderr);
    for step in [
        "KEYHOLD_ROOT_KEYS=\"k1:…,k0:…,k2:…\"",
        "KEYHOLD_ROOT_KEYS=\"k2:…,k1:…,k0:…\"",
        "keyhold keys rewrap",
        "keyhold keys status",
        "Retire k1, k0",
    ] {
        assert!(stderr.contains(step), "missing {step:?} in {stderr}");
    }
    assert!(!stderr.contains(&k1[3..]), "no key material");

    let taken = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhold"))
        .env_clear()
        .env("KEYHOLD_ROOT_KEYS", &current)
        .args(["keys", "rotate", "--id", "k0"])
        .output()
        .await
        .expect("rotate");
    assert!(!taken.status.success(), "an id in use is refused");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn rewrap_re_seals_secrets_stored_before_bindings(pool: PgPool) {
    let k1 = key("k1");
    let keys = keyring(&k1);
    let at = project(&pool).await;
    let ids = connections(&pool, at, &keys, 0, 2).await;
    // The first as an older release stored it: sealed for its place only.
    let place = connection_binding(ids[0], at.1);
    let legacy = keys
        .seal_str(&SecretString::from(secret_of(0)), &place.legacy_aad())
        .expect("seal");
    sqlx::query(
        "update app_connections set client_secret_sealed = $2, secret_bound = false where id = $1",
    )
    .bind(ids[0])
    .bind(&legacy)
    .execute(&pool)
    .await
    .expect("legacy row");

    let url = common::database_url(&pool, None).await;
    let out = run(&url, &k1, &["rewrap"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let unbound: i64 =
        sqlx::query_scalar("select count(*) from app_connections where not secret_bound")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(unbound, 0);
    assert_all_open(&stored_connections(&pool).await, &keys, at.1);
    let (now,): (Vec<u8>,) =
        sqlx::query_as("select client_secret_sealed from app_connections where id = $1")
            .bind(ids[0])
            .fetch_one(&pool)
            .await
            .expect("row");
    assert!(
        keys.open_str(&now, &place.legacy_aad()).is_err(),
        "the place-only binding opens nothing any more"
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn project_secret_values_are_rewrapped_and_still_open_for_their_binding(pool: PgPool) {
    let k1 = key("k1");
    let k2 = key("k2");
    let url = common::database_url(&pool, None).await;
    let (_, project) = project(&pool).await;
    // The project's `dev` environment and its root folder were made with it.
    let (environment, folder): (Uuid, Uuid) = sqlx::query_as(
        "select e.id, f.id from environments e join secret_folders f on f.environment_id = e.id \
         where e.project_id = $1 and e.slug = 'dev' and f.path = '/'",
    )
    .bind(project)
    .fetch_one(&pool)
    .await
    .expect("dev root");
    let (secret, version) = (store::SecretId::new(), store::SecretVersionId::new());
    let place = broker::aad::SecretPlace {
        project_id: store::ProjectId(project),
        environment_id: store::EnvironmentId(environment),
        secret_id: secret,
        version: 1,
    };
    let binding = broker::aad::secret_value(version, place);
    let sealed = keyring(&k1)
        .seal_str(&SecretString::from("project-secret-value"), &binding.aad())
        .expect("seal");
    sqlx::query(
        "insert into secrets (id, project_id, environment_id, folder_id, key) \
         values ($1, $2, $3, $4, 'DB_PASSWORD')",
    )
    .bind(secret)
    .bind(project)
    .bind(environment)
    .bind(folder)
    .execute(&pool)
    .await
    .expect("secret");
    sqlx::query(
        "insert into secret_versions (id, secret_id, version, value_sealed) values ($1, $2, 1, $3)",
    )
    .bind(version)
    .bind(secret)
    .bind(sealed)
    .execute(&pool)
    .await
    .expect("version");

    let status = run(&url, &k1, &["status"]).await;
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert!(
        text(&status.stdout).contains("secret_versions"),
        "{}",
        text(&status.stdout)
    );
    let out = run(&url, &format!("{k2},{k1}"), &["rewrap"]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("secret_versions 1"), "{stdout}");
    let (key_id, sealed): (Option<String>, Vec<u8>) =
        sqlx::query_as("select value_key_id, value_sealed from secret_versions")
            .fetch_one(&pool)
            .await
            .expect("version");
    assert_eq!(key_id.as_deref(), Some("k2"));
    let opened = keyring(&k2)
        .open_str(&sealed, &binding.aad())
        .expect("opens with the new key and the same binding");
    assert_eq!(opened.expose_secret(), "project-secret-value");
    let check = run(&url, &k2, &["check"]).await;
    assert!(
        check.status.success(),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn connection_private_keys_are_rewrapped_and_still_open_for_their_binding(pool: PgPool) {
    let k1 = key("k1");
    let k2 = key("k2");
    let url = common::database_url(&pool, None).await;
    let (org, project) = project(&pool).await;
    let connection = Uuid::now_v7();
    // A private-key-jwt connection has no client secret: `status` must not call that unreadable.
    sqlx::query(
        "insert into app_connections (id, org_id, project_id, method, name, domain, client_id, \
         audience, key_kid, key_alg, public_key_pem, public_key_jwk) values ($1, $2, $3, \
         'private-key-jwt', 'signer', 'acme.auth0.com', 'cid', 'https://acme.auth0.com/api/v2/', \
         'kid-0123456789', 'RS256', 'pem', '{}')",
    )
    .bind(connection)
    .bind(org)
    .bind(project)
    .execute(&pool)
    .await
    .expect("connection");
    let id = store::PrivateKeyId::new();
    let to = broker::Destination {
        domain: "acme.auth0.com",
        client_id: "cid",
    };
    let binding = broker::aad::connection_private_key(
        id,
        store::ConnectionId(connection),
        store::ProjectId(project),
        to,
    );
    let sealed = keyring(&k1)
        .seal_str(&SecretString::from("private-key-pem"), &binding.aad())
        .expect("seal");
    sqlx::query(
        "insert into connection_private_keys (id, connection_id, private_key_sealed) \
         values ($1, $2, $3)",
    )
    .bind(id)
    .bind(connection)
    .bind(sealed)
    .execute(&pool)
    .await
    .expect("key");

    let status = run(&url, &k1, &["status", "--json"]).await;
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(status["unreadable"]["app_connections"], 0, "{status}");
    assert_eq!(
        status["keys"][0]["records"]["connection_private_keys"], 1,
        "{status}"
    );
    let out = run(&url, &format!("{k2},{k1}"), &["rewrap"]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("connection_private_keys 1"), "{stdout}");
    let (key_id, sealed): (Option<String>, Vec<u8>) = sqlx::query_as(
        "select private_key_key_id, private_key_sealed from connection_private_keys",
    )
    .fetch_one(&pool)
    .await
    .expect("key");
    assert_eq!(key_id.as_deref(), Some("k2"));
    let opened = keyring(&k2)
        .open_str(&sealed, &binding.aad())
        .expect("opens with the new key and the same binding");
    assert_eq!(opened.expose_secret(), "private-key-pem");
    let check = run(&url, &k2, &["check"]).await;
    assert!(
        check.status.success(),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn rotation_key_pairs_are_rewrapped_and_still_open_for_their_binding(pool: PgPool) {
    let k1 = key("k1");
    let k2 = key("k2");
    let url = common::database_url(&pool, None).await;
    let (org, project) = project(&pool).await;
    let (connection, rotation, attempt) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "insert into app_connections (id, org_id, project_id, method, name, domain, client_id, \
         audience, key_kid, key_alg, public_key_pem, public_key_jwk) values ($1, $2, $3, \
         'private-key-jwt', 'signer', 'acme.auth0.com', 'cid', 'https://acme.auth0.com/api/v2/', \
         'kid-0123456789', 'RS256', 'pem', '{}')",
    )
    .bind(connection)
    .bind(org)
    .bind(project)
    .execute(&pool)
    .await
    .expect("connection");
    sqlx::query(
        "insert into secret_rotations (id, org_id, project_id, connection_id, name, client_id, \
         rotation_interval_days, type, overlap_seconds) \
         values ($1, $2, $3, $4, 'keys', 'rotatedClient', 30, 'auth0-private-key-jwt', 3600)",
    )
    .bind(rotation)
    .bind(org)
    .bind(project)
    .bind(connection)
    .execute(&pool)
    .await
    .expect("rotation");
    sqlx::query(
        "insert into rotation_attempts (id, rotation_id, attempt_no, is_manual) \
         values ($1, $2, 1, false)",
    )
    .bind(attempt)
    .bind(rotation)
    .execute(&pool)
    .await
    .expect("attempt");
    let id = store::PrivateKeyId::new();
    let to = broker::Destination {
        domain: "acme.auth0.com",
        client_id: "rotatedClient",
    };
    let binding = broker::aad::rotation_private_key(
        id,
        store::RotationId(rotation),
        store::ProjectId(project),
        to,
    );
    let sealed = keyring(&k1)
        .seal_str(
            &SecretString::from("rotated-private-key-pem"),
            &binding.aad(),
        )
        .expect("seal");
    sqlx::query(
        "insert into rotation_key_pairs (id, rotation_id, attempt_id, state, domain, client_id, \
         private_key_sealed, kid, alg, public_key_pem) \
         values ($1, $2, $3, 'current', 'acme.auth0.com', 'rotatedClient', $4, \
         'kid-0123456789', 'RS256', 'pem')",
    )
    .bind(id)
    .bind(rotation)
    .bind(attempt)
    .bind(sealed)
    .execute(&pool)
    .await
    .expect("key pair");

    let status = run(&url, &k1, &["status", "--json"]).await;
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(
        status["keys"][0]["records"]["rotation_key_pairs"], 1,
        "{status}"
    );
    let out = run(&url, &format!("{k2},{k1}"), &["rewrap"]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("rotation_key_pairs 1"), "{stdout}");
    let (key_id, sealed): (Option<String>, Vec<u8>) =
        sqlx::query_as("select private_key_key_id, private_key_sealed from rotation_key_pairs")
            .fetch_one(&pool)
            .await
            .expect("key");
    assert_eq!(key_id.as_deref(), Some("k2"));
    let opened = keyring(&k2)
        .open_str(&sealed, &binding.aad())
        .expect("opens with the new key and the same binding");
    assert_eq!(opened.expose_secret(), "rotated-private-key-pem");
    let check = run(&url, &k2, &["check"]).await;
    assert!(
        check.status.success(),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn audit_stream_secrets_and_headers_are_rewrapped_and_still_open_for_their_binding(
    pool: PgPool,
) {
    let k1 = key("k1");
    let k2 = key("k2");
    let url = common::database_url(&pool, None).await;
    let (org, project) = project(&pool).await;
    let stream = Uuid::now_v7();
    let place = (stream, store::OrgId(org), Some(ProjectId(project)));
    let secret_binding =
        aad::audit_stream(aad::AUDIT_STREAM_SECRET_PLACE, place.0, place.1, place.2);
    let headers_binding =
        aad::audit_stream(aad::AUDIT_STREAM_HEADERS_PLACE, place.0, place.1, place.2);
    let old = keyring(&k1);
    let secret = old
        .seal_str(&SecretString::from("whsec_stream"), &secret_binding.aad())
        .expect("seal");
    let headers = old
        .seal_str(
            &SecretString::from(r#"{"dd-api-key":"intake-key"}"#),
            &headers_binding.aad(),
        )
        .expect("seal");
    sqlx::query(
        "with s as (insert into audit_streams (id, org_id, project_id, url, secret_sealed, \
           header_names, cursor_xact) values ($1, $2, $3, 'https://intake.example.com/', $4, \
           '{dd-api-key}', pg_current_xact_id()) returning id) \
         insert into audit_stream_headers (stream_id, headers_sealed) select id, $5 from s",
    )
    .bind(stream)
    .bind(org)
    .bind(project)
    .bind(secret)
    .bind(headers)
    .execute(&pool)
    .await
    .expect("stream");

    let status = run(&url, &k1, &["status", "--json"]).await;
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(status["keys"][0]["records"]["audit_streams"], 1, "{status}");
    assert_eq!(
        status["keys"][0]["records"]["audit_stream_headers"], 1,
        "{status}"
    );
    let out = run(&url, &format!("{k2},{k1}"), &["rewrap"]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("audit_streams 1"), "{stdout}");
    assert!(stdout.contains("audit_stream_headers 1"), "{stdout}");
    let (secret_key, secret, headers_key, headers): (
        Option<String>,
        Vec<u8>,
        Option<String>,
        Vec<u8>,
    ) = sqlx::query_as(
        "select s.secret_key_id, s.secret_sealed, h.headers_key_id, h.headers_sealed \
             from audit_streams s join audit_stream_headers h on h.stream_id = s.id",
    )
    .fetch_one(&pool)
    .await
    .expect("stream");
    assert_eq!(secret_key.as_deref(), Some("k2"));
    assert_eq!(headers_key.as_deref(), Some("k2"));
    let new = keyring(&k2);
    let opened = new
        .open_str(&secret, &secret_binding.aad())
        .expect("the secret opens with the new key and the same binding");
    assert_eq!(opened.expose_secret(), "whsec_stream");
    let opened = new
        .open_str(&headers, &headers_binding.aad())
        .expect("the headers open with the new key and the same binding");
    assert!(opened.expose_secret().contains("intake-key"));
    // Bound to their scope: the headers do not open as another project's.
    let elsewhere = aad::audit_stream(
        aad::AUDIT_STREAM_HEADERS_PLACE,
        place.0,
        place.1,
        Some(ProjectId(Uuid::now_v7())),
    );
    assert!(new.open_str(&headers, &elsewhere.aad()).is_err());
}
