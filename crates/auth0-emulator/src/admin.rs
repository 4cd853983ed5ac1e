//! The test-only surface, kept apart from Auth0's: the `Admin` handle for in-process tests and
//! the `/__emulator/...` HTTP routes for everything else (seed, inspect, inject faults).
//!
//! Routes (any `Host`; errors are `{"error": "..."}`):
//! - `GET  /__emulator/health` — no state touched; the benchmark baseline
//! - `GET  /__emulator/tenants`, `POST /__emulator/tenants` (a `TenantSeed`)
//! - `GET  /__emulator/tenants/{domain}/counters`
//! - `GET  /__emulator/tenants/{domain}/clients/{client_id}/secret`
//! - `GET  /__emulator/tenants/{domain}/clients/{client_id}/credentials` (ids, kids, enabled)
//! - `POST /__emulator/tenants/{domain}/clients` (`ClientSeed`), `.../grants` (`GrantSeed`)
//! - `GET|POST|DELETE /__emulator/tenants/{domain}/faults`
//! - `GET|POST|DELETE /__emulator/faults` — the tenant is `?domain=` or else the `Host`

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::counters::Counters;
use crate::faults::Fault;
use crate::host;
use crate::seed::{ClientSeed, GrantSeed, TenantSeed};
use crate::state::{EmulatorState, normalize_domain};

/// A cheap, cloneable handle to a running emulator's state.
#[derive(Clone)]
pub struct Admin {
    state: Arc<EmulatorState>,
}

// The state holds every tenant's client secrets.
impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

fn domain_key(domain: &str) -> String {
    normalize_domain(domain).unwrap_or_else(|_| domain.to_ascii_lowercase())
}

impl Admin {
    pub(crate) fn new(state: Arc<EmulatorState>) -> Admin {
        Admin { state }
    }

    /// Adds a tenant; refuses a domain that exists or a seed that does not hold together.
    pub fn add_tenant(&self, tenant: TenantSeed) -> anyhow::Result<()> {
        self.state.add_tenant(tenant)
    }

    /// The tenants' domains, sorted.
    pub fn domains(&self) -> Vec<String> {
        self.state.domains()
    }

    /// Adds a client to an existing tenant.
    pub fn add_client(&self, domain: &str, client: ClientSeed) -> anyhow::Result<()> {
        let tenant = self
            .state
            .tenant(&domain_key(domain))
            .ok_or_else(|| anyhow::anyhow!("no tenant {domain}"))?;
        let client = crate::state::client_from_seed(&client)?;
        tenant
            .write()
            .insert_client(client)
            .map_err(|e| anyhow::anyhow!(e))
    }

    /// Adds a client grant to an existing tenant.
    pub fn add_grant(&self, domain: &str, grant: GrantSeed) -> anyhow::Result<()> {
        let tenant = self
            .state
            .tenant(&domain_key(domain))
            .ok_or_else(|| anyhow::anyhow!("no tenant {domain}"))?;
        tenant.write().insert_grant(&grant)
    }

    /// The client's current secret (even while it is still propagating).
    pub fn client_secret(&self, domain: &str, client_id: &str) -> Option<String> {
        let tenant = self.state.tenant(&domain_key(domain))?;
        let data = tenant.read();
        data.client(client_id).map(|c| c.secret().to_owned())
    }

    pub fn counters(&self, domain: &str) -> Option<Counters> {
        self.state
            .tenant(&domain_key(domain))
            .map(|t| t.counters.snapshot())
    }

    /// Injects a fault into one tenant; an unknown tenant or invalid fault is logged and ignored.
    pub fn inject_fault(&self, domain: &str, fault: Fault) {
        if let Err(e) = self.try_inject_fault(domain, fault) {
            tracing::warn!(error = %e, "fault not injected");
        }
    }

    /// Like `inject_fault`, saying why a fault was refused.
    pub fn try_inject_fault(&self, domain: &str, fault: Fault) -> anyhow::Result<()> {
        fault.validate().map_err(|e| anyhow::anyhow!(e))?;
        let tenant = self
            .state
            .tenant(&domain_key(domain))
            .ok_or_else(|| anyhow::anyhow!("no tenant {domain}"))?;
        tenant.faults.inject(fault);
        Ok(())
    }

    pub fn clear_faults(&self, domain: &str) {
        if let Some(tenant) = self.state.tenant(&domain_key(domain)) {
            tenant.faults.clear();
        }
    }

    /// A client's registered credentials, each with whether it is enabled for Private Key JWT:
    /// what a rotation test asserts on (never three enabled, the old key gone). `None` for an
    /// unknown tenant or client.
    pub fn client_credentials(
        &self,
        domain: &str,
        client_id: &str,
    ) -> Option<Vec<CredentialState>> {
        let tenant = self.state.tenant(&domain_key(domain))?;
        let data = tenant.read();
        let client = data.client(client_id)?;
        let enabled = client.private_key_jwt.as_deref().unwrap_or_default();
        Some(
            client
                .credentials
                .iter()
                .map(|c| CredentialState {
                    id: c.id.clone(),
                    kid: c.kid.clone(),
                    alg: c.alg.clone(),
                    enabled: enabled.contains(&c.id),
                    expires_at: c.expires_at.map(crate::credentials::format_timestamp),
                })
                .collect(),
        )
    }

    /// The faults still pending for a tenant.
    pub fn faults(&self, domain: &str) -> Vec<Fault> {
        self.state
            .tenant(&domain_key(domain))
            .map(|t| t.faults.list())
            .unwrap_or_default()
    }
}

/// One registered credential as `Admin::client_credentials` reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CredentialState {
    pub id: String,
    pub kid: String,
    pub alg: String,
    /// Listed in the client's `client_authentication_methods.private_key_jwt`.
    pub enabled: bool,
    pub expires_at: Option<String>,
}

type AdminState = State<Arc<EmulatorState>>;

fn admin_error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| Box::new(admin_error(StatusCode::BAD_REQUEST, e)))
}

pub(crate) fn routes() -> Router<Arc<EmulatorState>> {
    Router::new()
        .route("/health", get(health))
        .route("/tenants", get(list_tenants).post(add_tenant))
        .route("/tenants/{domain}/counters", get(counters))
        .route("/tenants/{domain}/clients", axum::routing::post(add_client))
        .route(
            "/tenants/{domain}/clients/{client_id}/secret",
            get(client_secret),
        )
        .route(
            "/tenants/{domain}/clients/{client_id}/credentials",
            get(client_credentials),
        )
        .route("/tenants/{domain}/grants", axum::routing::post(add_grant))
        .route(
            "/tenants/{domain}/faults",
            get(list_faults).post(inject_fault).delete(clear_faults),
        )
        .route(
            "/faults",
            get(list_faults_by_host)
                .post(inject_fault_by_host)
                .delete(clear_faults_by_host),
        )
}

async fn health() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

async fn list_tenants(State(state): AdminState) -> Response {
    Json(state.domains()).into_response()
}

async fn add_tenant(State(state): AdminState, body: Bytes) -> Response {
    let seed: TenantSeed = match parse(&body) {
        Ok(seed) => seed,
        Err(response) => return *response,
    };
    let domain = seed.domain.clone();
    let admin = Admin::new(state);
    // Key generation can block for a moment the first time a pool slot is used.
    match tokio::task::spawn_blocking(move || admin.add_tenant(seed)).await {
        Ok(Ok(())) => (StatusCode::CREATED, Json(json!({ "domain": domain }))).into_response(),
        Ok(Err(e)) if e.to_string().contains("already exists") => {
            admin_error(StatusCode::CONFLICT, e)
        }
        Ok(Err(e)) => admin_error(StatusCode::BAD_REQUEST, format!("{e:#}")),
        Err(e) => admin_error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn counters(State(state): AdminState, Path(domain): Path<String>) -> Response {
    match Admin::new(state).counters(&domain) {
        Some(counters) => Json(counters).into_response(),
        None => admin_error(StatusCode::NOT_FOUND, format!("no tenant {domain}")),
    }
}

async fn client_secret(
    State(state): AdminState,
    Path((domain, client_id)): Path<(String, String)>,
) -> Response {
    match Admin::new(state).client_secret(&domain, &client_id) {
        Some(secret) => {
            Json(json!({ "client_id": client_id, "client_secret": secret })).into_response()
        }
        None => admin_error(
            StatusCode::NOT_FOUND,
            format!("no client {client_id} in {domain}"),
        ),
    }
}

async fn client_credentials(
    State(state): AdminState,
    Path((domain, client_id)): Path<(String, String)>,
) -> Response {
    match Admin::new(state).client_credentials(&domain, &client_id) {
        Some(credentials) => Json(credentials).into_response(),
        None => admin_error(
            StatusCode::NOT_FOUND,
            format!("no client {client_id} in {domain}"),
        ),
    }
}

async fn add_client(State(state): AdminState, Path(domain): Path<String>, body: Bytes) -> Response {
    let client: ClientSeed = match parse(&body) {
        Ok(client) => client,
        Err(response) => return *response,
    };
    let client_id = client.client_id.clone();
    match Admin::new(state).add_client(&domain, client) {
        Ok(()) => (StatusCode::CREATED, Json(json!({ "client_id": client_id }))).into_response(),
        Err(e) => admin_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn add_grant(State(state): AdminState, Path(domain): Path<String>, body: Bytes) -> Response {
    let grant: GrantSeed = match parse(&body) {
        Ok(grant) => grant,
        Err(response) => return *response,
    };
    match Admin::new(state).add_grant(&domain, grant) {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(e) => admin_error(StatusCode::BAD_REQUEST, e),
    }
}

fn fault_response(state: Arc<EmulatorState>, domain: &str, body: &[u8]) -> Response {
    let fault: Fault = match parse(body) {
        Ok(fault) => fault,
        Err(response) => return *response,
    };
    match Admin::new(state).try_inject_fault(domain, fault) {
        Ok(()) => StatusCode::CREATED.into_response(),
        Err(e) if e.to_string().starts_with("no tenant") => admin_error(StatusCode::NOT_FOUND, e),
        Err(e) => admin_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn inject_fault(
    State(state): AdminState,
    Path(domain): Path<String>,
    body: Bytes,
) -> Response {
    fault_response(state, &domain, &body)
}

async fn list_faults(State(state): AdminState, Path(domain): Path<String>) -> Response {
    Json(Admin::new(state).faults(&domain)).into_response()
}

async fn clear_faults(State(state): AdminState, Path(domain): Path<String>) -> Response {
    Admin::new(state).clear_faults(&domain);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct DomainQuery {
    domain: Option<String>,
}

fn target_domain(query: DomainQuery, req: &Request) -> String {
    query
        .domain
        .or_else(|| host::request_host(req))
        .unwrap_or_default()
}

async fn inject_fault_by_host(
    State(state): AdminState,
    Query(q): Query<DomainQuery>,
    req: Request,
) -> Response {
    let domain = target_domain(q, &req);
    match axum::body::to_bytes(req.into_body(), 64 * 1024).await {
        Ok(body) => fault_response(state, &domain, &body),
        Err(e) => admin_error(StatusCode::BAD_REQUEST, e),
    }
}

async fn list_faults_by_host(
    State(state): AdminState,
    Query(q): Query<DomainQuery>,
    req: Request,
) -> Response {
    let domain = target_domain(q, &req);
    Json(Admin::new(state).faults(&domain)).into_response()
}

async fn clear_faults_by_host(
    State(state): AdminState,
    Query(q): Query<DomainQuery>,
    req: Request,
) -> Response {
    let domain = target_domain(q, &req);
    Admin::new(state).clear_faults(&domain);
    StatusCode::NO_CONTENT.into_response()
}
