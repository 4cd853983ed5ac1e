//! Shared helpers: a started emulator with a standard tenant, a client that sets `Host`, and
//! token/JWT helpers that verify signatures against the published JWKS.

use auth0_emulator::{Emulator, Seed, TenantSeed};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

pub const DOMAIN: &str = "acme.auth0.test";
pub const CLIENT_ID: &str = "keyhold-m2m";
pub const SECRET: &str = "initial-secret-value";

/// Every Management API scope the tests need, on the standard client.
pub const ALL_SCOPES: &[&str] = &[
    "read:clients",
    "read:client_keys",
    "update:clients",
    "update:client_keys",
    "create:clients",
    "create:resource_servers",
    "read:resource_servers",
    "read:client_grants",
    "read:users",
    "create:users",
    "update:users",
    "create:client_credentials",
    "read:client_credentials",
    "update:client_credentials",
    "delete:client_credentials",
];

pub fn http() -> reqwest::Client {
    // reqwest is built without a TLS provider; plain http needs none, but building may insist.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("http client")
}

pub struct Env {
    pub emulator: Emulator,
    pub http: reqwest::Client,
}

impl Env {
    pub async fn start(tenants: Vec<TenantSeed>) -> Env {
        let emulator = Emulator::start(Seed { tenants })
            .await
            .expect("emulator starts");
        Env {
            emulator,
            http: http(),
        }
    }

    /// One tenant with the standard M2M client holding `ALL_SCOPES`.
    pub async fn standard() -> Env {
        Env::start(vec![TenantSeed::with_m2m(
            DOMAIN, CLIENT_ID, SECRET, ALL_SCOPES,
        )])
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emulator.base_url())
    }

    pub fn get(&self, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).header("host", host)
    }

    pub fn post(&self, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).header("host", host)
    }

    pub fn patch(&self, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.http.patch(self.url(path)).header("host", host)
    }

    pub fn delete(&self, host: &str, path: &str) -> reqwest::RequestBuilder {
        self.http.delete(self.url(path)).header("host", host)
    }

    /// `POST /oauth/token` as a JSON body; returns status and body.
    pub async fn token_request(&self, host: &str, body: Value) -> (u16, Value) {
        let response = self
            .post(host, "/oauth/token")
            .json(&body)
            .send()
            .await
            .expect("token request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("token JSON"))
    }

    /// A Management API token for `client_id`/`secret` on `host`, panicking on failure.
    pub async fn mgmt_token_for(&self, host: &str, client_id: &str, secret: &str) -> String {
        let (status, body) = self
            .token_request(
                host,
                serde_json::json!({
                    "grant_type": "client_credentials",
                    "client_id": client_id,
                    "client_secret": secret,
                    "audience": format!("https://{host}/api/v2/"),
                }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    pub async fn mgmt_token(&self) -> String {
        self.mgmt_token_for(DOMAIN, CLIENT_ID, SECRET).await
    }

    /// A tenant-`DOMAIN` client holding exactly `scopes`; returns a Management API token for it.
    pub async fn token_with_scopes(&self, client_id: &str, scopes: &[&str]) -> String {
        let admin = self.emulator.admin();
        admin
            .add_client(
                DOMAIN,
                auth0_emulator::ClientSeed::m2m(client_id, "scoped-secret"),
            )
            .expect("add client");
        admin
            .add_grant(
                DOMAIN,
                auth0_emulator::GrantSeed {
                    client_id: client_id.to_owned(),
                    audience: format!("https://{DOMAIN}/api/v2/"),
                    scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                },
            )
            .expect("add grant");
        self.mgmt_token_for(DOMAIN, client_id, "scoped-secret")
            .await
    }

    /// GET with a bearer token; returns status and JSON body.
    pub async fn mgmt_get(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self
            .get(DOMAIN, path)
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn mgmt_send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Fetches the tenant's JWKS and checks `token`'s RS256 signature with it; returns the claims.
    pub async fn verify_with_jwks(&self, host: &str, token: &str) -> Value {
        let jwks: Value = self
            .get(host, "/.well-known/jwks.json")
            .send()
            .await
            .expect("jwks")
            .json()
            .await
            .expect("jwks JSON");
        verify_jwt(&jwks, token).expect("token verifies against the JWKS")
    }
}

pub fn decode_segment(segment: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("JSON")
}

/// Verifies an RS256 JWT against a JWKS document with ring; returns its claims.
pub fn verify_jwt(jwks: &Value, token: &str) -> Result<Value, String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err("not three segments".into());
    }
    let header = decode_segment(parts[0]);
    if header["alg"] != "RS256" {
        return Err("alg".into());
    }
    let key = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == header["kid"]))
        .ok_or("no key with this kid")?;
    let n = URL_SAFE_NO_PAD
        .decode(key["n"].as_str().ok_or("n")?)
        .map_err(|e| e.to_string())?;
    let e = URL_SAFE_NO_PAD
        .decode(key["e"].as_str().ok_or("e")?)
        .map_err(|e| e.to_string())?;
    let sig = URL_SAFE_NO_PAD
        .decode(parts[2])
        .map_err(|e| e.to_string())?;
    let signed = format!("{}.{}", parts[0], parts[1]);
    ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &sig,
        )
        .map_err(|_| "bad signature".to_owned())?;
    Ok(decode_segment(parts[1]))
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}
