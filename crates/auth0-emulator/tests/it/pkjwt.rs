//! Helpers for Private Key JWT tests: a small pool of RSA keys (keygen is slow, so each test
//! binary makes three once), PEM forms of them, and an assertion signer built on `ring` with
//! claims the test controls.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::EncodeRsaPublicKey as _;
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use serde_json::{Value, json};

use crate::common::{CLIENT_ID, DOMAIN, Env};

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub struct TestKey {
    pub private: rsa::RsaPrivateKey,
    pkcs8_der: Vec<u8>,
}

impl TestKey {
    pub fn spki_pem(&self) -> String {
        self.private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("test helper")
    }

    pub fn pkcs1_pem(&self) -> String {
        self.private
            .to_public_key()
            .to_pkcs1_pem(LineEnding::LF)
            .expect("test helper")
    }

    pub fn private_pem(&self) -> String {
        self.private
            .to_pkcs8_pem(LineEnding::LF)
            .expect("test helper")
            .to_string()
    }

    /// A compact JWS over `claims` with `header` (which must name `alg`).
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let alg = header["alg"].as_str().unwrap_or("RS256");
        let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let pair = ring::signature::RsaKeyPair::from_pkcs8(&self.pkcs8_der).expect("test helper");
        let encoding: &dyn ring::signature::RsaEncoding = match alg {
            "RS384" => &ring::signature::RSA_PKCS1_SHA384,
            "PS256" => &ring::signature::RSA_PSS_SHA256,
            _ => &ring::signature::RSA_PKCS1_SHA256,
        };
        let mut sig = vec![0u8; pair.public().modulus_len()];
        pair.sign(
            encoding,
            &ring::rand::SystemRandom::new(),
            token.as_bytes(),
            &mut sig,
        )
        .expect("test helper");
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(sig));
        token
    }
}

/// Pool key `i` (0..3).
pub fn key(i: usize) -> &'static TestKey {
    static KEYS: OnceLock<Vec<TestKey>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        (0..3)
            .map(|_| {
                let private =
                    rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("test helper");
                let pkcs8_der = private
                    .to_pkcs8_der()
                    .expect("test helper")
                    .as_bytes()
                    .to_vec();
                TestKey { private, pkcs8_der }
            })
            .collect()
    })[i]
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("test helper")
        .as_secs()
        .try_into()
        .expect("test helper")
}

/// Claims Auth0 accepts for `CLIENT_ID`, with a fresh `jti`.
pub fn good_claims() -> Value {
    let now = now();
    json!({
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": format!("https://{DOMAIN}/"),
        "iat": now,
        "exp": now + 60,
        "jti": uuid_like(),
    })
}

pub fn uuid_like() -> String {
    let mut bytes = [0u8; 16];
    rand_fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn rand_fill(bytes: &mut [u8]) {
    use rsa::rand_core::RngCore as _;
    rsa::rand_core::OsRng.fill_bytes(bytes);
}

/// A credential for `CLIENT_ID` registered from `body`; returns status and answer.
pub async fn create_credential(env: &Env, token: &str, body: Value) -> (u16, Value) {
    env.mgmt_send(
        env.post(DOMAIN, &format!("/api/v2/clients/{CLIENT_ID}/credentials"))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

/// Registers `key` (RS256 unless `alg` says otherwise) and returns its id and kid.
pub async fn register(env: &Env, token: &str, key: &TestKey, alg: &str) -> (String, String) {
    let (status, body) = create_credential(
        env,
        token,
        json!({"credential_type": "public_key", "name": "k", "pem": key.spki_pem(), "alg": alg}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_str().expect("test helper").to_owned(),
        body["kid"].as_str().expect("test helper").to_owned(),
    )
}

/// Enables exactly `ids` for Private Key JWT on `CLIENT_ID`.
pub async fn enable(env: &Env, token: &str, ids: &[&str]) -> (u16, Value) {
    let list: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
    env.mgmt_send(
        env.patch(DOMAIN, &format!("/api/v2/clients/{CLIENT_ID}"))
            .bearer_auth(token)
            .json(&json!({"client_authentication_methods": {"private_key_jwt": {"credentials": list}}})),
    )
    .await
}

/// `POST /oauth/token` with a client assertion for the Management API.
pub async fn assertion_token(env: &Env, assertion: &str) -> (u16, Value) {
    env.token_request(
        DOMAIN,
        json!({
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
            "audience": format!("https://{DOMAIN}/api/v2/"),
        }),
    )
    .await
}
