//! Infisical's own SDKs, unmodified and pinned, work against Keyhold's secrets API: the Python
//! SDK (`infisicalsdk` from PyPI, installed by `scripts/test` into `target/infisical-sdk/`) runs
//! `tests/infisical/sdk_check.py`, and the Node SDK (`@infisical/sdk` from npm, installed into
//! `target/infisical-node-sdk/`) runs `tests/infisical/node_check.cjs`, each against `keyhold dev`
//! as a machine identity with the member role; the tests check what the SDK saw. A third test has
//! the Python SDK read a rotation's mapped Auth0 secret and get a token with it.

mod browser;
mod common;

use std::path::PathBuf;

use browser::Dev;
use serde_json::Value;
use sqlx::PgPool;

/// The Python with the SDK: `$INFISICAL_SDK_PYTHON`, else the venv `scripts/test` makes.
fn sdk_python() -> PathBuf {
    let path = std::env::var_os("INFISICAL_SDK_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/infisical-sdk/bin/python"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "{} is missing: run scripts/test (it installs Infisical's Python SDK, infisicalsdk==1.0.18), or set INFISICAL_SDK_PYTHON",
        path.display()
    );
    path
}

#[sqlx::test(migrations = false)]
async fn infisicals_python_sdk_reads_and_writes_secrets(pool: PgPool) {
    let python = sdk_python();
    let url = common::database_url(&pool, None).await;
    let dev = Dev::start(&url, env!("CARGO_BIN_EXE_keyhold")).await;
    let admin = dev.login(&dev.admin_id, &dev.admin_secret).await;
    let project = dev.project(&admin).await;
    let (client_id, client_secret) = dev.member(&admin, &project, "orders-app", "member").await;

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/infisical/sdk_check.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .env("VAULT_URL", &dev.base)
        .env("CLIENT_ID", &client_id)
        .env("CLIENT_SECRET", &client_secret)
        .env("PROJECT_ID", &project)
        .output()
        .await
        .expect("run the SDK check");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the SDK failed:\n{stderr}");
    let seen: Value = serde_json::from_slice(&out.stdout).expect("the script's JSON");

    assert_eq!(seen["folder"]["name"], "orders");
    assert!(
        seen["folders"]
            .as_array()
            .is_some_and(|f| f.iter().any(|n| n == "orders")),
        "{seen}"
    );
    assert_eq!(seen["created"]["key"], "ORDERS_DB_PASSWORD");
    assert_eq!(seen["created"]["version"], 1);
    assert_eq!(seen["created"]["comment"], "the orders database");
    assert_eq!(seen["got"]["value"], "first-value");
    assert_eq!(seen["got"]["environment"], "dev");
    assert_eq!(seen["updated"]["version"], 2);
    assert_eq!(seen["latest"]["value"], "second-value");
    assert_eq!(seen["latest"]["version"], 2);
    assert_eq!(seen["past"]["value"], "first-value");
    assert_eq!(seen["past"]["version"], 1);
    assert_eq!(
        seen["listed"],
        serde_json::json!([["ORDERS_DB_PASSWORD", "second-value"]])
    );
    assert_eq!(
        seen["reference"]["expanded"],
        "postgres://orders:second-value@db.internal/orders"
    );
    assert_eq!(
        seen["reference"]["raw"],
        "postgres://orders:${ORDERS_DB_PASSWORD}@${dev.DB_HOST}/orders"
    );
    // The SDK shows Keyhold's reason, not "Unknown error".
    assert_eq!(seen["missing"]["raised"], true);
    assert_eq!(seen["missing"]["status"], 404);
    let said = seen["missing"]["text"].as_str().unwrap_or_default();
    assert!(!said.contains("Unknown error"), "{said}");
    assert!(said.to_lowercase().contains("secret"), "{said}");
    assert_eq!(seen["deleted"]["key"], "ORDERS_DB_PASSWORD");
    assert_eq!(seen["after_delete"], serde_json::json!([]));
}

/// The Node SDK's `node_modules`: `$INFISICAL_NODE_SDK`, else the one `scripts/test` installs.
fn node_sdk_modules() -> PathBuf {
    let path = std::env::var_os("INFISICAL_NODE_SDK").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/infisical-node-sdk/node_modules")
        },
        PathBuf::from,
    );
    assert!(
        path.join("@infisical/sdk/package.json").exists(),
        "{} holds no @infisical/sdk: run scripts/test (it installs Infisical's Node SDK, @infisical/sdk@5.0.2), or set INFISICAL_NODE_SDK to a node_modules holding it",
        path.display()
    );
    path
}

#[sqlx::test(migrations = false)]
async fn infisicals_node_sdk_reads_and_writes_secrets(pool: PgPool) {
    let modules = node_sdk_modules();
    let url = common::database_url(&pool, None).await;
    let dev = Dev::start(&url, env!("CARGO_BIN_EXE_keyhold")).await;
    let admin = dev.login(&dev.admin_id, &dev.admin_secret).await;
    let project = dev.project(&admin).await;
    let (client_id, client_secret) = dev
        .member(&admin, &project, "orders-node-app", "member")
        .await;
    // A viewer narrowed to dev at /orders, as an app's own machine identity would be.
    let (status, made) = dev
        .api(
            &admin,
            reqwest::Method::POST,
            "/api/v1/identities",
            Some(serde_json::json!({ "type": "machine", "name": "orders-node-reader" })),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let (status, added) = dev
        .api(
            &admin,
            reqwest::Method::POST,
            &format!("/api/v1/projects/{project}/memberships"),
            Some(serde_json::json!({
                "identityId": made["identity"]["id"],
                "role": "viewer",
                "environments": ["dev"],
                "secretPath": "/orders",
            })),
        )
        .await;
    assert_eq!(status, 201, "{added}");

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/infisical/node_check.cjs");
    let out = tokio::process::Command::new("node")
        .arg(script)
        .env("NODE_PATH", &modules)
        .env("VAULT_URL", &dev.base)
        .env("CLIENT_ID", &client_id)
        .env("CLIENT_SECRET", &client_secret)
        .env("PROJECT_ID", &project)
        .env(
            "NARROWED_CLIENT_ID",
            made["identity"]["clientId"].as_str().expect("client id"),
        )
        .env(
            "NARROWED_CLIENT_SECRET",
            made["clientSecret"].as_str().expect("client secret"),
        )
        .output()
        .await
        .expect("run node (Node.js 18 or later) with the SDK check");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the SDK failed:\n{stderr}");
    let seen: Value = serde_json::from_slice(&out.stdout).expect("the script's JSON");

    assert_eq!(seen["folder"]["name"], "orders");
    assert_eq!(seen["folder"]["path"], "/orders");
    assert_eq!(seen["folders"], serde_json::json!(["orders"]));
    assert_eq!(seen["created"]["key"], "ORDERS_DB_PASSWORD");
    assert_eq!(seen["created"]["version"], 1);
    assert_eq!(seen["created"]["comment"], "the orders database");
    assert_eq!(seen["got"]["value"], "first-value");
    assert_eq!(seen["got"]["environment"], "dev");
    assert_eq!(seen["updated"]["version"], 2);
    assert_eq!(seen["latest"]["value"], "second-value");
    assert_eq!(seen["latest"]["version"], 2);
    assert_eq!(seen["past"]["value"], "first-value");
    assert_eq!(seen["past"]["version"], 1);
    let expanded = "postgres://orders:second-value@db.internal/orders";
    assert_eq!(seen["reference"]["expanded"], expanded);
    assert_eq!(
        seen["reference"]["raw"],
        "postgres://orders:${ORDERS_DB_PASSWORD}@${dev.DB_HOST}/orders"
    );
    assert_eq!(
        seen["listed"],
        serde_json::json!([
            ["ORDERS_DB_PASSWORD", "second-value"],
            ["ORDERS_DB_URL", expanded]
        ])
    );
    // The narrowed identity reads its own folder only.
    assert_eq!(
        seen["narrowed"]["listed"],
        serde_json::json!(["ORDERS_DB_PASSWORD", "ORDERS_DB_URL"])
    );
    assert_eq!(seen["narrowed"]["own"], "second-value");
    for refused in ["outside", "reference"] {
        let said = seen["narrowed"][refused].as_str().unwrap_or_default();
        assert!(said.contains("[StatusCode=403]"), "{refused}: {said}");
    }
    assert!(
        seen["narrowed"]["reference"]
            .as_str()
            .is_some_and(|s| s.contains("DB_HOST") && !s.contains("db.internal")),
        "{seen}"
    );
    // The SDK shows Keyhold's reason and status, not a bare failure.
    assert_eq!(seen["missing"]["raised"], true);
    assert_eq!(seen["missing"]["name"], "InfisicalSDKRequestError");
    let said = seen["missing"]["text"].as_str().unwrap_or_default();
    assert!(said.contains("[StatusCode=404]"), "{said}");
    assert!(said.contains("secret not found"), "{said}");
    assert_eq!(seen["deleted"]["key"], "ORDERS_DB_PASSWORD");
    assert_eq!(seen["after_delete"], serde_json::json!([]));
}

/// Which of README's rotated-secret examples to run: Python's `rotated_secret.py` with the Python
/// SDK, or Node's `rotated_secret.cjs` with the Node SDK.
enum Example<'a> {
    Python(&'a std::path::Path),
    Node(&'a std::path::Path),
}

/// Runs README's rotated-secret example with Infisical's SDK; its JSON.
async fn run_rotated_secret(
    dev: &Dev,
    example: &Example<'_>,
    reader: &(String, String),
    project: &str,
    old_secret: Option<&str>,
) -> Value {
    let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/infisical");
    let mut command = match example {
        Example::Python(python) => {
            let mut command = tokio::process::Command::new(python);
            command.arg(scripts.join("rotated_secret.py"));
            command
        }
        Example::Node(modules) => {
            let mut command = tokio::process::Command::new("node");
            command
                .arg(scripts.join("rotated_secret.cjs"))
                .env("NODE_PATH", modules);
            command
        }
    };
    command
        .env("VAULT_URL", &dev.base)
        .env("CLIENT_ID", &reader.0)
        .env("CLIENT_SECRET", &reader.1)
        .env("PROJECT_ID", project)
        .env("AUTH0_DOMAIN", browser::DEMO_DOMAIN)
        .env(
            "AUTH0_AUDIENCE",
            format!("https://{}/api/v2/", browser::DEMO_DOMAIN),
        )
        .env("AUTH0_TOKEN_URL", format!("{}/oauth/token", dev.emulator));
    if let Some(old) = old_secret {
        command.env("OLD_SECRET", old);
    }
    let out = command
        .output()
        .await
        .expect("run the rotated-secret script");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the SDK failed:\n{stderr}");
    serde_json::from_slice(&out.stdout).expect("the script's JSON")
}

/// Polls the rotation until its last rotation is newer than `after` (and succeeded).
async fn rotated_after(dev: &Dev, token: &str, id: &str, after: &Value) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (_, body) = dev
            .api(
                token,
                reqwest::Method::GET,
                &format!("/api/v2/secret-rotations/auth0-client-secret/{id}"),
                None,
            )
            .await;
        let rotation = body["secretRotation"].clone();
        if rotation["rotationStatus"] == "success" && rotation["lastRotatedAt"] != *after {
            return rotation;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no rotation finished: {rotation}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[sqlx::test(migrations = false)]
async fn infisicals_sdks_read_the_rotated_auth0_secret_and_auth0_accepts_it(pool: PgPool) {
    let python = sdk_python();
    let url = common::database_url(&pool, None).await;
    let dev = Dev::start(&url, env!("CARGO_BIN_EXE_keyhold")).await;
    let admin = dev.login(&dev.admin_id, &dev.admin_secret).await;
    let project = dev.project(&admin).await;
    // The rotated application may ask the emulator for tokens (a grant on some API).
    let granted = browser::http()
        .post(format!(
            "{}/__emulator/tenants/{}/grants",
            dev.emulator,
            browser::DEMO_DOMAIN
        ))
        .json(&serde_json::json!({
            "client_id": browser::DEMO_TARGET_ID,
            "audience": format!("https://{}/api/v2/", browser::DEMO_DOMAIN),
            "scopes": ["read:users"],
        }))
        .send()
        .await
        .expect("grant");
    assert!(granted.status().is_success(), "{granted:?}");
    let connection = dev.connection(&admin, &project, "orders-auth0").await;
    let (status, folder) = dev
        .api(
            &admin,
            reqwest::Method::POST,
            "/api/v2/folders",
            Some(serde_json::json!({ "projectId": project, "environment": "prod", "path": "/", "name": "orders" })),
        )
        .await;
    assert_eq!(status, 200, "{folder}");
    let (status, created) = dev
        .api(
            &admin,
            reqwest::Method::POST,
            "/api/v2/secret-rotations/auth0-client-secret",
            Some(serde_json::json!({
                "name": "orders-auth0", "projectId": project, "connectionId": connection,
                "rotationInterval": 30, "parameters": { "clientId": browser::DEMO_TARGET_ID },
                "environment": "prod", "secretPath": "/orders",
                "secretsMapping": {
                    "clientId": "ORDERS_AUTH0_CLIENT_ID",
                    "clientSecret": "ORDERS_AUTH0_CLIENT_SECRET",
                },
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["secretRotation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let first = rotated_after(&dev, &admin, &id, &Value::Null).await;
    // The app reads as a viewer: it may read values, never change them.
    let reader = dev.member(&admin, &project, "orders-app", "viewer").await;

    let modules = node_sdk_modules();
    let examples = [Example::Python(&python), Example::Node(&modules)];
    let mut old = String::new();
    for example in &examples {
        let seen = run_rotated_secret(&dev, example, &reader, &project, None).await;
        assert_eq!(seen["clientId"], browser::DEMO_TARGET_ID);
        assert_eq!(seen["version"], 1);
        assert_eq!(seen["tokenStatus"], 200, "{seen}");
        assert_eq!(seen["gotToken"], true);
        old = seen["secret"].as_str().expect("secret").to_owned();
    }

    let (status, queued) = dev
        .api(
            &admin,
            reqwest::Method::POST,
            &format!("/api/v2/secret-rotations/auth0-client-secret/{id}/rotate-secrets"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{queued}");
    rotated_after(&dev, &admin, &id, &first["lastRotatedAt"]).await;
    for example in &examples {
        let seen = run_rotated_secret(&dev, example, &reader, &project, Some(&old)).await;
        assert_eq!(seen["version"], 2, "{seen}");
        assert_ne!(seen["secret"], old.as_str());
        assert_eq!(seen["tokenStatus"], 200, "{seen}");
        assert_eq!(
            seen["oldSecretStatus"], 401,
            "Auth0 refuses the secret from before: {seen}"
        );
    }
}

/// Polls the key rotation until its new key is published beside the old one (the overlap began
/// after `after`, or began at all when `after` is null).
async fn key_published(dev: &Dev, token: &str, id: &str, after: &Value) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (_, body) = dev
            .api(
                token,
                reqwest::Method::GET,
                &format!("/api/v2/secret-rotations/auth0-private-key-jwt/{id}"),
                None,
            )
            .await;
        let rotation = body["secretRotation"].clone();
        if !rotation["overlapUntil"].is_null() && rotation["overlapUntil"] != *after {
            return rotation;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no key was published: {rotation}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Runs `tests/infisical/rotated_key.py` (README's key example); its JSON.
async fn run_rotated_key(
    dev: &Dev,
    python: &std::path::Path,
    reader: &(String, String),
    project: &str,
    old_key: Option<&str>,
) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/infisical/rotated_key.py");
    let mut command = tokio::process::Command::new(python);
    command
        .arg(script)
        .env("VAULT_URL", &dev.base)
        .env("CLIENT_ID", &reader.0)
        .env("CLIENT_SECRET", &reader.1)
        .env("PROJECT_ID", project)
        .env("AUTH0_DOMAIN", browser::DEMO_DOMAIN)
        .env(
            "AUTH0_AUDIENCE",
            format!("https://{}/api/v2/", browser::DEMO_DOMAIN),
        )
        .env("AUTH0_PROXY", &dev.emulator);
    if let Some(old) = old_key {
        command.env("OLD_KEY", old);
    }
    let out = command.output().await.expect("run the rotated-key script");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the SDKs failed:\n{stderr}");
    serde_json::from_slice(&out.stdout).expect("the script's JSON")
}

/// Issue 18: an app reads its private key with Infisical's Python SDK and signs token requests
/// with auth0-python; after the next key rotation it reads the new key, and once the overlap is
/// over Auth0 refuses the old one.
#[sqlx::test(migrations = false)]
async fn an_app_signs_auth0_token_requests_with_the_key_keyhold_rotates(pool: PgPool) {
    let python = sdk_python();
    let url = common::database_url(&pool, None).await;
    let dev = Dev::start(&url, env!("CARGO_BIN_EXE_keyhold")).await;
    let admin = dev.login(&dev.admin_id, &dev.admin_secret).await;
    let project = dev.project(&admin).await;
    // The application may ask for tokens for some API (a grant), as the orders service would.
    let granted = browser::http()
        .post(format!(
            "{}/__emulator/tenants/{}/grants",
            dev.emulator,
            browser::DEMO_DOMAIN
        ))
        .json(&serde_json::json!({
            "client_id": browser::DEMO_TARGET_ID,
            "audience": format!("https://{}/api/v2/", browser::DEMO_DOMAIN),
            "scopes": ["read:users"],
        }))
        .send()
        .await
        .expect("grant");
    assert!(granted.status().is_success(), "{granted:?}");
    let connection = dev.connection(&admin, &project, "orders-auth0").await;
    let (status, folder) = dev
        .api(
            &admin,
            reqwest::Method::POST,
            "/api/v2/folders",
            Some(serde_json::json!({ "projectId": project, "environment": "prod", "path": "/", "name": "orders" })),
        )
        .await;
    assert_eq!(status, 200, "{folder}");
    let (status, created) = dev
        .api(
            &admin,
            reqwest::Method::POST,
            "/api/v2/secret-rotations/auth0-private-key-jwt",
            Some(serde_json::json!({
                "name": "orders-key", "projectId": project, "connectionId": connection,
                "rotationInterval": 30,
                "parameters": { "clientId": browser::DEMO_TARGET_ID, "overlapSeconds": 3600 },
                "environment": "prod", "secretPath": "/orders",
                "secretsMapping": {
                    "clientId": "ORDERS_AUTH0_CLIENT_ID",
                    "privateKey": "ORDERS_AUTH0_PRIVATE_KEY",
                    "keyId": "ORDERS_AUTH0_KEY_ID",
                },
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["secretRotation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let first = key_published(&dev, &admin, &id, &Value::Null).await;
    let reader = dev.member(&admin, &project, "orders-app", "viewer").await;
    let seen = run_rotated_key(&dev, &python, &reader, &project, None).await;
    assert_eq!(seen["clientId"], browser::DEMO_TARGET_ID);
    assert_eq!(seen["gotToken"], true, "{seen}");
    let old_key = seen["key"].as_str().expect("key").to_owned();
    let old_kid = seen["keyId"].clone();

    // The next rotation: the first key's overlap ends (as if the hour had passed) and the key it
    // replaced (none: the application had a client secret) is settled; "rotate now" then
    // publishes a second key beside the first.
    end_overlap(&dev, &pool, &admin, &id).await;
    let (status, queued) = dev
        .api(
            &admin,
            reqwest::Method::POST,
            &format!("/api/v2/secret-rotations/auth0-private-key-jwt/{id}/rotate-secrets"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{queued}");
    key_published(&dev, &admin, &id, &first["overlapUntil"]).await;
    // While the keys overlap both work; the app reads the new one.
    let seen = run_rotated_key(&dev, &python, &reader, &project, Some(&old_key)).await;
    assert_eq!(seen["gotToken"], true, "{seen}");
    assert_ne!(seen["keyId"], old_kid);
    assert_eq!(
        seen["oldKey"], "accepted",
        "the old key works during the overlap: {seen}"
    );
    // Once the overlap is over, Auth0 refuses the old key; the new one keeps working.
    end_overlap(&dev, &pool, &admin, &id).await;
    let seen = run_rotated_key(&dev, &python, &reader, &project, Some(&old_key)).await;
    assert_eq!(seen["gotToken"], true, "{seen}");
    assert_eq!(
        seen["oldKey"], 401,
        "the old key is gone after the overlap: {seen}"
    );
}

/// Ends the current overlap now (as if its time had passed) and waits until the worker has
/// removed the old credential.
async fn end_overlap(dev: &Dev, pool: &PgPool, token: &str, id: &str) {
    sqlx::query(
        "update rotation_key_pairs set overlap_until = now() - interval '1 second' \
         where rotation_id = $1::uuid and state = 'pending'",
    )
    .bind(id)
    .execute(pool)
    .await
    .expect("end the overlap");
    sqlx::query("update secret_rotations set due_at = now() where id = $1::uuid")
        .bind(id)
        .execute(pool)
        .await
        .expect("due");
    let started = std::time::Instant::now();
    loop {
        let (_, body) = dev
            .api(
                token,
                reqwest::Method::GET,
                &format!("/api/v2/secret-rotations/auth0-private-key-jwt/{id}"),
                None,
            )
            .await;
        let rotation = &body["secretRotation"];
        if rotation["overlapUntil"].is_null() && rotation["rotationStatus"] == "success" {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the old key was not removed: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
