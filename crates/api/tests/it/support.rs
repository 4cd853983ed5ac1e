//! `TestApp`: the API wired to a test database and its own Auth0 emulator, with a request helper.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use auth0_emulator::{
    ClientSeed, Emulator, GrantSeed, ResourceServerSeed, Seed, TenantSeed, UserSeed,
};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use crypto::{ExposeSecret, RootKeyring};
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;

pub const DOMAIN: &str = "acme.auth0.test";
pub const CLIENT_ID: &str = "acmeM2MclientID0000000000000001";
pub const SCOPES: &[&str] = &["read:clients", "update:client_keys"];
/// An application in the tenant whose secret rotations rotate.
pub const KEY_ROTATIONS: &str = "/api/v2/secret-rotations/auth0-private-key-jwt";
pub const TARGET_ID: &str = "targetAppClientID00000000000001";
/// An M2M application granted `update:client_keys` only (no `read:clients`).
pub const NARROW_ID: &str = "narrowM2MclientID0000000000001";
pub const NARROW_SECRET: &str = "narrow-client-secret-0123456789abcdef0123456789";
/// An M2M application granted every Management API scope Keyhold's capabilities use.
pub const WIDE_ID: &str = "wideM2MclientID00000000000000001";
pub const WIDE_SECRET: &str = "wide-client-secret-0123456789abcdef0123456789ab";
pub const WIDE_SCOPES: &[&str] = &[
    "read:clients",
    "update:clients",
    "update:client_keys",
    "create:clients",
    "create:resource_servers",
    "read:users",
    "create:users",
    "update:users",
];
/// A first-party web application that already has Token Vault's refresh-exchange grant types.
pub const VAULT_READY_ID: &str = "vaultReadyWebAppClientID0000001";
/// A backend API and its Custom API Client, as Token Vault's access token exchange leaves them.
pub const VAULT_API: &str = "https://vault-api.acme.test/";
pub const VAULT_API_CLIENT_ID: &str = "vaultApiCustomClientID00000001";
/// A user of the tenant's database connection, and its id as a path segment.
pub const USER_ID: &str = "auth0|seeded-user-0001";
pub const USER_PATH_ID: &str = "auth0%7Cseeded-user-0001";
pub const DB_CONNECTION: &str = "Username-Password-Authentication";
/// Auth0's Token Vault grant type.
pub const VAULT_GRANT: &str =
    "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token";

pub struct TestApp {
    pub router: Router,
    pub pool: PgPool,
    pub emulator: Emulator,
    pub project_id: String,
    pub secret: String,
    /// The bootstrapped instance admin's access token; `call` sends it.
    pub admin_token: String,
    pub admin: (String, String),
    pub org_id: String,
    pub state: api::AppState,
}

/// A machine identity made for a test, with a live token.
pub struct Identity {
    pub id: String,
    pub client_id: String,
    pub client_secret: String,
    pub token: String,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl TestApp {
    /// An app whose emulator tenant `acme.auth0.test` has one M2M client with `secret`.
    pub async fn with_secret(pool: PgPool, secret: &str) -> TestApp {
        Self::build(pool, secret, None).await
    }

    /// `auth0`: a client of the test's own making (e.g. without the emulator override); by default
    /// every Auth0 call goes to this app's emulator.
    pub async fn build(pool: PgPool, secret: &str, auth0: Option<auth0::Auth0Client>) -> TestApp {
        Self::build_with(pool, secret, auth0, |_| {}).await
    }

    /// `build`, after `tweak` adjusts the emulator tenant's seed (token lifetime, rate limits).
    pub async fn build_with(
        pool: PgPool,
        secret: &str,
        auth0: Option<auth0::Auth0Client>,
        tweak: impl FnOnce(&mut TenantSeed),
    ) -> TestApp {
        let mut tenant = TenantSeed::with_m2m(DOMAIN, CLIENT_ID, secret, SCOPES);
        tenant.clients.push(ClientSeed::m2m(
            TARGET_ID,
            "target-initial-secret-0123456789abcdef",
        ));
        tenant
            .clients
            .push(ClientSeed::m2m(NARROW_ID, NARROW_SECRET));
        tenant.grants.push(GrantSeed {
            client_id: NARROW_ID.to_owned(),
            audience: tenant.management_audience(),
            scopes: vec!["update:client_keys".to_owned()],
        });
        add_usage_seeds(&mut tenant);
        tweak(&mut tenant);
        let seed = Seed {
            tenants: vec![tenant],
        };
        let emulator = Emulator::start(seed).await.expect("emulator starts");
        let auth0 = auth0.unwrap_or_else(|| {
            auth0::Auth0Client::new(auth0::HttpConfig {
                endpoint_override: Some(emulator.base_url().parse().expect("emulator url")),
                request_timeout: Duration::from_secs(3),
                max_retries: 0,
                ..auth0::HttpConfig::default()
            })
            .expect("auth0 client")
        });
        let key = crypto::generate_root_key("test").expect("root key");
        let keyring = RootKeyring::parse(key.expose_secret()).expect("keyring");
        let broker = broker::Broker::new(pool.clone(), Arc::new(keyring), auth0, None);
        let state = api::AppState::new(broker, Duration::from_secs(600));
        let mut app = TestApp {
            router: api::app(state.clone()),
            state,
            pool,
            emulator,
            project_id: String::new(),
            secret: secret.to_owned(),
            admin_token: String::new(),
            admin: (String::new(), String::new()),
            org_id: String::new(),
        };
        app.admin = bootstrap_admin(&app.pool).await;
        app.admin_token = app.login(&app.admin.0, &app.admin.1).await;
        let project = app
            .call(
                Method::POST,
                "/api/v1/projects",
                Some(json!({ "name": "team-a" })),
                &[],
            )
            .await;
        assert_eq!(project.status, StatusCode::CREATED, "{}", project.text);
        app.project_id = project.json["project"]["id"]
            .as_str()
            .expect("project id")
            .to_owned();
        app.org_id = project.json["project"]["orgId"]
            .as_str()
            .expect("org id")
            .to_owned();
        app
    }

    pub async fn new(pool: PgPool) -> TestApp {
        Self::with_secret(pool, "s3cr3t-acme-client-secret-0123456789abcdef0123456789").await
    }

    /// A request as the instance admin.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.call_as(Some(&self.admin_token), method, path, body, headers)
            .await
    }

    /// A request with this bearer token (or none).
    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let bytes = body.map(|b| serde_json::to_vec(&b).expect("json"));
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(bearer) = &bearer {
            all.push(("authorization", bearer));
        }
        self.send(method, path, bytes, "application/json", &all)
            .await
    }

    /// A raw body as the instance admin.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let bearer = format!("Bearer {}", self.admin_token);
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.push(("authorization", &bearer));
        self.send(method, path, body, content_type, &all).await
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.send_from(None, method, path, body, content_type, headers)
            .await
    }

    /// A request without a token, as if from TCP peer `peer` (what a real server records).
    pub async fn call_from(
        &self,
        peer: &str,
        method: Method,
        path: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        let peer: SocketAddr = format!("{peer}:40000").parse().expect("peer address");
        let bytes = serde_json::to_vec(&body).expect("json");
        self.send_from(
            Some(peer),
            method,
            path,
            Some(bytes),
            "application/json",
            headers,
        )
        .await
    }

    pub async fn send_from(
        &self,
        peer: Option<SocketAddr>,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        // Kept for the openapi.yaml check below.
        let sent = (method.clone(), body.clone());
        let mut request = Request::builder().method(method).uri(path);
        if let Some(peer) = peer {
            request = request.extension(axum::extract::ConnectInfo(peer));
        }
        if body.is_some() {
            request = request.header("content-type", content_type);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let reply = Reply {
            status,
            headers,
            text,
            json,
        };
        crate::openapi::check(&sent.0, path, sent.1.as_deref(), &reply);
        reply
    }

    pub async fn login(&self, client_id: &str, client_secret: &str) -> String {
        let body = json!({ "clientId": client_id, "clientSecret": client_secret });
        let reply = self
            .call_as(
                None,
                Method::POST,
                "/api/v1/auth/universal-auth/login",
                Some(body),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json["accessToken"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// A new project made by the instance admin: its id.
    pub async fn project(&self, name: &str) -> String {
        let made = self
            .call(
                Method::POST,
                "/api/v1/projects",
                Some(json!({ "name": name })),
                &[],
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
        made.json["project"]["id"]
            .as_str()
            .expect("project id")
            .to_owned()
    }

    /// A new machine identity (made by the admin), optionally a member of `project` with `role`.
    pub async fn identity(&self, name: &str, membership: Option<(&str, &str)>) -> Identity {
        let created = self
            .call(
                Method::POST,
                "/api/v1/identities",
                Some(json!({ "type": "machine", "name": name })),
                &[],
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let id = created.json["identity"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let client_id = created.json["identity"]["clientId"]
            .as_str()
            .expect("client id")
            .to_owned();
        let client_secret = created.json["clientSecret"]
            .as_str()
            .expect("secret")
            .to_owned();
        if let Some((project, role)) = membership {
            let path = format!("/api/v1/projects/{project}/memberships");
            let added = self
                .call(
                    Method::POST,
                    &path,
                    Some(json!({ "identityId": id, "role": role })),
                    &[],
                )
                .await;
            assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
        }
        let token = self.login(&client_id, &client_secret).await;
        Identity {
            id,
            client_id,
            client_secret,
            token,
        }
    }

    /// Drives the rotation worker until nothing is due, as a `keyhold worker` would.
    /// Runs the worker once a key rotation is due: its first attempt publishes the new key and
    /// rests in the overlap.
    pub async fn run_to_the_overlap(&self) {
        let reports = self.run_worker().await;
        assert!(
            matches!(
                reports.as_slice(),
                [worker::JobReport {
                    outcome: worker::JobOutcome::Overlapping { attempt_no: 1, .. },
                    ..
                }]
            ),
            "{reports:?}"
        );
    }

    /// Ends the overlap of the key rotation resting in it, as if its time had passed, and runs the
    /// worker: the old credential is removed and the first attempt succeeds.
    pub async fn finish_the_overlap(&self) {
        for sql in [
            "update rotation_key_pairs set overlap_until = now() - interval '1 second'",
            "update secret_rotations set due_at = now()",
        ] {
            sqlx::query(sql)
                .execute(&self.pool)
                .await
                .expect("end the overlap");
        }
        let reports = self.run_worker().await;
        assert!(
            matches!(
                reports.as_slice(),
                [worker::JobReport {
                    outcome: worker::JobOutcome::Rotated { attempt_no: 1, .. },
                    ..
                }]
            ),
            "{reports:?}"
        );
    }

    pub async fn run_worker(&self) -> Vec<worker::JobReport> {
        let config = worker::WorkerConfig {
            tenant_rate: None,
            propagation_poll: Duration::from_millis(20),
            propagation_timeout: Duration::from_secs(5),
            retry_base: Duration::from_millis(10),
            ..worker::WorkerConfig::default()
        };
        let worker = worker::Worker::new(config, self.state.broker.clone()).expect("worker");
        let mut reports = Vec::new();
        while let Some(report) = worker.process_one().await.expect("worker step") {
            reports.push(report);
        }
        reports
    }

    pub fn rotation_body(&self, name: &str, connection_id: &str, client_id: &str) -> Value {
        json!({
            "name": name,
            "projectId": self.project_id,
            "connectionId": connection_id,
            "rotationInterval": 30,
            "rotateAtUtc": { "hours": 3, "minutes": 15 },
            "parameters": { "clientId": client_id },
        })
    }

    /// An `auth0-private-key-jwt` rotation's body (an hour's overlap).
    pub fn key_rotation_body(&self, name: &str, connection_id: &str, client_id: &str) -> Value {
        let mut body = self.rotation_body(name, connection_id, client_id);
        body["parameters"]["overlapSeconds"] = json!(3600);
        body
    }

    /// An `auth0-private-key-jwt` rotation of `TARGET_ID` through a new connection (created, not
    /// run).
    pub async fn key_rotation(&self, name: &str) -> Value {
        let connection = self.create(&format!("{name}-conn")).await;
        let body = self.key_rotation_body(name, connection["id"].as_str().expect("id"), TARGET_ID);
        let reply = self
            .call(Method::POST, KEY_ROTATIONS, Some(body), &[])
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.json["secretRotation"].clone()
    }

    /// A rotation of `TARGET_ID` through a new connection, with its first secret issued.
    pub async fn rotation(&self, name: &str) -> Value {
        let connection = self.create(&format!("{name}-conn")).await;
        let body = self.rotation_body(name, connection["id"].as_str().expect("id"), TARGET_ID);
        let reply = self
            .call(
                Method::POST,
                "/api/v2/secret-rotations/auth0-client-secret",
                Some(body),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        self.run_worker().await;
        reply.json["secretRotation"].clone()
    }

    pub fn connection_body(&self, name: &str) -> Value {
        json!({
            "name": name,
            "method": "client-credentials",
            "projectId": self.project_id,
            "credentials": { "domain": DOMAIN, "clientId": CLIENT_ID, "clientSecret": self.secret },
        })
    }

    /// A connection through the wide M2M client (every scope Keyhold's capabilities use).
    pub async fn create_wide(&self, name: &str) -> Value {
        let mut body = self.connection_body(name);
        body["credentials"] =
            json!({ "domain": DOMAIN, "clientId": WIDE_ID, "clientSecret": WIDE_SECRET });
        let reply = self
            .call(
                Method::POST,
                "/api/v1/app-connections/auth0",
                Some(body),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.json["appConnection"].clone()
    }

    pub async fn create(&self, name: &str) -> Value {
        let reply = self
            .call(
                Method::POST,
                "/api/v1/app-connections/auth0",
                Some(self.connection_body(name)),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.json["appConnection"].clone()
    }

    /// Rows in every table, as text, for "did anything change" and "is the canary stored" checks.
    pub async fn dump(&self) -> String {
        let tables: Vec<String> = sqlx::query_scalar(
            "select table_name::text from information_schema.tables where table_schema = 'public' order by 1",
        )
        .fetch_all(&self.pool)
        .await
        .expect("tables");
        let mut out = String::new();
        for table in tables {
            // A refused create leaves a `failure` audit row by design (`routes::refused`, checked
            // in audit.rs to hold no submitted value): "changes nothing" means nothing else.
            let except = if table == "audit_events" {
                " where not (outcome = 'failure' and action in ('app_connection.create', 'secret_rotation.create'))"
            } else {
                ""
            };
            let sql = format!(
                "select coalesce(string_agg(t::text, E'\\n' order by t::text), '') from \"{table}\" t{except}"
            );
            let rows: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&self.pool)
                .await
                .expect("dump");
            out.push_str(&format!("== {table}\n{rows}\n"));
        }
        out
    }
}

/// What the connection-usage tests need in the tenant: the wide M2M client, Token Vault fixtures
/// and a user. Nothing here changes what the other seeds can do.
pub fn add_usage_seeds(tenant: &mut TenantSeed) {
    tenant.clients.push(ClientSeed::m2m(WIDE_ID, WIDE_SECRET));
    tenant.grants.push(GrantSeed {
        client_id: WIDE_ID.to_owned(),
        audience: tenant.management_audience(),
        scopes: WIDE_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
    });
    tenant.clients.push(ClientSeed {
        client_id: VAULT_READY_ID.to_owned(),
        name: "Vault-ready web app".to_owned(),
        app_type: "regular_web".to_owned(),
        grant_types: vec![
            "authorization_code".to_owned(),
            "refresh_token".to_owned(),
            VAULT_GRANT.to_owned(),
        ],
        ..ClientSeed::default()
    });
    tenant.resource_servers.push(ResourceServerSeed {
        identifier: VAULT_API.to_owned(),
        name: "Vault API".to_owned(),
        scopes: Vec::new(),
        token_lifetime: None,
    });
    tenant.clients.push(ClientSeed {
        client_id: VAULT_API_CLIENT_ID.to_owned(),
        name: "Vault API".to_owned(),
        app_type: "resource_server".to_owned(),
        grant_types: vec![VAULT_GRANT.to_owned()],
        resource_server_identifier: Some(VAULT_API.to_owned()),
        ..ClientSeed::default()
    });
    tenant.users.push(UserSeed {
        user_id: USER_ID.to_owned(),
        email: "seeded@acme.test".to_owned(),
        password: "Seeded-Passw0rd!".to_owned(),
        name: Some("Seeded User".to_owned()),
        ..UserSeed::default()
    });
}

/// Bootstraps the instance as `keyhold bootstrap` does; returns the admin's client id and secret.
pub async fn bootstrap_admin(pool: &PgPool) -> (String, String) {
    let client_id = uuid::Uuid::new_v4().to_string();
    let secret = format!("admin-secret-{}", uuid::Uuid::new_v4().simple());
    let hash =
        crypto::password::hash_secret(&crypto::SecretString::from(secret.clone())).expect("hash");
    let admin = store::identities::NewIdentity {
        id: store::IdentityId::new(),
        org_id: store::OrgId::new(),
        kind: store::identities::Kind::Machine,
        name: "instance-admin",
        email: None,
        client_id: Some(&client_id),
        secret_hash: &hash,
        is_instance_admin: true,
    };
    store::orgs::bootstrap(pool, "test", &admin)
        .await
        .expect("bootstrap")
        .expect("first bootstrap");
    (client_id, secret)
}

impl Reply {
    /// Asserts an RFC 9457 body with this status and returns it.
    pub fn problem(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "{}", self.text);
        let content_type = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(content_type, "application/problem+json", "{}", self.text);
        assert_eq!(self.json["status"], status.as_u16(), "{}", self.text);
        assert!(
            self.json["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:keyhold:problem:")),
            "{}",
            self.text
        );
        assert!(
            self.json["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}",
            self.text
        );
        assert!(
            self.json["requestId"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{}",
            self.text
        );
        &self.json
    }

    /// The fields a problem names.
    pub fn fields(&self) -> Vec<String> {
        self.json["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}
