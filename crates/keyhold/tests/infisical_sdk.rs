//! Infisical's own Python SDK (`infisicalsdk` from PyPI, unmodified and pinned) works against
//! Keyhold's secrets API: `scripts/test` installs it into `target/infisical-sdk/`, and this test
//! runs `tests/infisical/sdk_check.py` with it against `keyhold dev`, as a machine identity with
//! the member role, then checks what the SDK saw.

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
        .env("KEYHOLD_URL", &dev.base)
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
    // The SDK shows Keyhold's reason, not "Unknown error".
    assert_eq!(seen["missing"]["raised"], true);
    assert_eq!(seen["missing"]["status"], 404);
    let said = seen["missing"]["text"].as_str().unwrap_or_default();
    assert!(!said.contains("Unknown error"), "{said}");
    assert!(said.to_lowercase().contains("secret"), "{said}");
    assert_eq!(seen["deleted"]["key"], "ORDERS_DB_PASSWORD");
    assert_eq!(seen["after_delete"], serde_json::json!([]));
}
