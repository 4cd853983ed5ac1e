//! Private Key JWT through Auth0's official SDKs, unmodified and pinned: auth0-python 6.8.0
//! (`GetToken(..., client_assertion_signing_key=...)`) and Node `auth0` 7.1.0
//! (`ManagementClient({clientAssertionSigningKey})`). `scripts/test` installs them into
//! `target/auth0-sdk-python/` and `target/auth0-sdk-node/`; these tests run
//! `sdk-check/pkjwt_python.py` and `sdk-check/pkjwt_node.js` against a fresh emulator and check
//! what the SDKs saw. A missing SDK fails the test with the command that installs it.

use std::path::PathBuf;

use auth0_emulator::{ClientSeed, GrantSeed, TenantSeed};
use serde_json::Value;

use crate::common::{DOMAIN, Env};
use crate::pkjwt::key;

const MANAGER_SCOPES: &[&str] = &[
    "read:clients",
    "update:clients",
    "create:client_credentials",
    "read:client_credentials",
    "delete:client_credentials",
];

fn workspace_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// `$AUTH0_SDK_PYTHON`, else the venv `scripts/test` makes.
fn sdk_python() -> PathBuf {
    let path = std::env::var_os("AUTH0_SDK_PYTHON").map_or_else(
        || workspace_path("target/auth0-sdk-python/bin/python"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "{} is missing: run scripts/test (it installs auth0-python==6.8.0 there), or set AUTH0_SDK_PYTHON",
        path.display()
    );
    path
}

/// `$AUTH0_SDK_NODE_MODULES`, else the `node_modules` `scripts/test` fills.
fn sdk_node_modules() -> PathBuf {
    let path = std::env::var_os("AUTH0_SDK_NODE_MODULES").map_or_else(
        || workspace_path("target/auth0-sdk-node/node_modules"),
        PathBuf::from,
    );
    assert!(
        path.join("auth0").exists(),
        "{} has no auth0 package: run scripts/test (it installs auth0@7.1.0 there), or set AUTH0_SDK_NODE_MODULES",
        path.display()
    );
    path
}

/// An emulator whose `sdk-manager` may manage credentials and whose `sdk-pkjwt-app` may read
/// clients (so its token can be used).
async fn sdk_env() -> Env {
    let mut tenant =
        TenantSeed::with_m2m(DOMAIN, "sdk-manager", "sdk-manager-secret", MANAGER_SCOPES);
    tenant
        .clients
        .push(ClientSeed::m2m("sdk-pkjwt-app", "sdk-pkjwt-app-secret"));
    tenant.grants.push(GrantSeed {
        client_id: "sdk-pkjwt-app".to_owned(),
        audience: format!("https://{DOMAIN}/api/v2/"),
        scopes: vec!["read:clients".to_owned()],
    });
    Env::start(vec![tenant]).await
}

/// Runs `program script` with the keys and the emulator in its environment; returns its JSON.
async fn run_script(env: &Env, mut command: tokio::process::Command) -> Value {
    let out = command
        .env("EMULATOR", env.emulator.base_url())
        .env("APP_PRIVATE_PEM", key(0).private_pem())
        .env("APP_PUBLIC_PEM", key(0).spki_pem())
        .env("OTHER_PRIVATE_PEM", key(1).private_pem())
        .output()
        .await
        .expect("run the SDK script");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the SDK script failed:\n{stderr}");
    serde_json::from_slice(&out.stdout).expect("the script's JSON summary")
}

#[tokio::test]
async fn auth0_python_gets_tokens_with_a_client_assertion() {
    let python = sdk_python();
    let env = sdk_env().await;
    let mut command = tokio::process::Command::new(python);
    command.arg(workspace_path(
        "crates/auth0-emulator/sdk-check/pkjwt_python.py",
    ));
    let seen = run_script(&env, command).await;

    let id = seen["created"]["id"].as_str().expect("credential id");
    assert!(id.starts_with("cred_"), "{seen}");
    assert_eq!(seen["created"]["alg"], "RS256");
    assert_eq!(seen["created"]["type"], "public_key");
    assert_eq!(seen["listed"], serde_json::json!([id]));
    assert_eq!(seen["got"], seen["created"]["kid"]);
    assert_eq!(seen["auth_method_after_enable"], Value::Null);
    assert_eq!(seen["token"]["type"], "Bearer");
    assert_eq!(seen["token"]["scope"], "read:clients");
    assert_eq!(seen["app_reads_itself"], "sdk-pkjwt-app");
    assert_eq!(seen["second_token"], "Bearer");
    for refusal in ["other_key", "old_secret"] {
        assert_eq!(seen[refusal]["status"], 401, "{seen}");
        assert_eq!(seen[refusal]["error"], "invalid_client", "{seen}");
    }
    assert!(
        seen["other_key"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("signature")),
        "{seen}"
    );
    assert_eq!(seen["delete_enabled"], 400);
    assert_eq!(seen["third_credential"], 400);
}

#[tokio::test]
async fn node_auth0_gets_tokens_with_a_client_assertion() {
    let node_modules = sdk_node_modules();
    let env = sdk_env().await;
    let mut command = tokio::process::Command::new("node");
    command
        .arg(workspace_path(
            "crates/auth0-emulator/sdk-check/pkjwt_node.js",
        ))
        .env("NODE_PATH", node_modules);
    let seen = run_script(&env, command).await;

    assert!(
        seen["created"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("cred_")),
        "{seen}"
    );
    assert_eq!(seen["created"]["alg"], "RS256");
    assert_eq!(seen["auth_method_after_enable"], Value::Null);
    assert_eq!(seen["app_reads_itself"], "sdk-pkjwt-app");
    // The SDK's error carries Auth0's answer: 401 invalid_client, the signature refused.
    let other = seen["other_key"].as_str().expect("a refusal");
    assert!(
        other.contains("401") && other.contains("invalid_client"),
        "{other}"
    );
    assert!(other.contains("Invalid signature"), "{other}");
    let counters = env.emulator.admin().counters(DOMAIN).expect("tenant");
    assert!(
        counters.token_failures >= 1,
        "the impostor's token request was refused"
    );
}
