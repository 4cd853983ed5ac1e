//! The `auth0-emulator` binary: `--listen 127.0.0.1:0 --seed FILE` prints the bound address and
//! serves the seeded tenant.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::json;

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_serves_a_toml_seed_on_an_ephemeral_port() {
    let dir = std::env::temp_dir().join(format!("auth0-emulator-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seed = dir.join("seed.toml");
    std::fs::write(
        &seed,
        r#"
[[tenants]]
domain = "bin.auth0.test"
[[tenants.clients]]
client_id = "bin-client"
client_secret = "bin-secret"
[[tenants.grants]]
client_id = "bin-client"
audience = "https://bin.auth0.test/api/v2/"
scopes = ["read:clients"]
"#,
    )
    .unwrap();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_auth0-emulator"))
            .args(["--listen", "127.0.0.1:0", "--seed"])
            .arg(&seed)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
        "{base}"
    );

    let http = crate::common::http();
    let response = http
        .post(format!("{base}/oauth/token"))
        .header("host", "bin.auth0.test")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "bin-client"),
            ("client_secret", "bin-secret"),
            ("audience", "https://bin.auth0.test/api/v2/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["scope"], json!("read:clients"));

    let status = Command::new(env!("CARGO_BIN_EXE_auth0-emulator"))
        .args(["--seed", "/definitely/missing.json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "a missing seed file is an error");
}
