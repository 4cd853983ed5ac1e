//! The running server: the router, the per-request tenant gate (tenant lookup, counting, faults,
//! rate limits) and our own accept loop.
//!
//! We accept connections ourselves rather than through `axum::serve` so that a handler can close
//! its connection without answering (the "drop after apply" fault): each connection gets a
//! `ConnectionKill` in its requests' extensions, and the connection task drops the connection
//! when it fires. Shutdown (explicit or on `Drop`) stops the accept loop and every connection.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt as _;

use crate::admin::{self, Admin};
use crate::counters::{CounterSet, Endpoint};
use crate::errors::{self, MgmtError, OAuthError};
use crate::host;
use crate::seed::Seed;
use crate::state::{EmulatorState, Tenant};
use crate::{mgmt, token};

/// Lets a handler close its own connection without a response.
#[derive(Clone)]
pub(crate) struct ConnectionKill(Arc<Notify>);

impl ConnectionKill {
    /// Closes the connection and never returns, so no response can be written first.
    pub(crate) async fn fire(&self) -> ! {
        self.0.notify_one();
        std::future::pending().await
    }
}

/// A running emulator on its own tokio task. Dropping it stops the server.
pub struct Emulator {
    addr: SocketAddr,
    state: Arc<EmulatorState>,
    shutdown: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

// The state holds every tenant's client secrets.
impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts on `127.0.0.1` with an ephemeral port.
    pub async fn start(seed: Seed) -> anyhow::Result<Emulator> {
        Emulator::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), seed).await
    }

    pub async fn start_on(addr: SocketAddr, seed: Seed) -> anyhow::Result<Emulator> {
        let state = Arc::new(EmulatorState::default());
        let seeding = Arc::clone(&state);
        // Key generation may take a moment on first use; keep it off the async workers.
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            for tenant in seed.tenants {
                seeding.add_tenant(tenant)?;
            }
            Ok(())
        })
        .await??;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let app = router(Arc::clone(&state));
        let task = tokio::spawn(accept_loop(listener, app, shutdown_rx));
        tracing::info!(%addr, "auth0 emulator listening");
        Ok(Emulator {
            addr,
            state,
            shutdown,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn admin(&self) -> Admin {
        Admin::new(Arc::clone(&self.state))
    }

    /// Stops accepting, closes every connection and waits for the server task to end.
    pub async fn shutdown(mut self) {
        // Ignored send error: no receiver left means everything already stopped.
        self.shutdown.send_replace(true);
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::warn!(error = %e, "emulator task ended abnormally");
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, app: Router, mut shutdown: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let (stream, _peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Usually EMFILE under load: back off briefly instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "set_nodelay failed");
        }
        tokio::spawn(serve_connection(stream, app.clone(), shutdown.clone()));
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let kill = ConnectionKill(Arc::new(Notify::new()));
    let kill_for_requests = kill.clone();
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(kill_for_requests.clone());
            let app = app.clone();
            async move {
                let response = app.oneshot(req.map(axum::body::Body::new)).await;
                Ok::<_, Infallible>(match response {
                    Ok(response) => response,
                    Err(never) => match never {},
                })
            }
        });
    let conn = hyper::server::conn::http1::Builder::new()
        // The timer arms hyper's default header-read timeout, so idle half-open clients go away.
        .timer(TokioTimer::new())
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = conn => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        // Dropping `conn` closes the socket without writing anything more.
        _ = kill.0.notified() => tracing::debug!("connection dropped by fault"),
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
}

/// The whole HTTP surface: Auth0's routes behind the tenant gate, plus `/__emulator`.
pub(crate) fn router(state: Arc<EmulatorState>) -> Router {
    let auth0 = Router::new()
        .route("/oauth/token", post(token::issue))
        .route("/.well-known/jwks.json", get(token::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(token::openid_configuration),
        )
        .merge(mgmt::routes())
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            tenant_gate,
        ))
        .fallback(not_found);
    Router::new()
        .nest("/__emulator", admin::routes())
        .merge(auth0)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Resolves the tenant, counts the request, applies faults and rate limits, and adds the
/// `x-ratelimit-*` headers.
async fn tenant_gate(
    State(state): State<Arc<EmulatorState>>,
    matched: MatchedPath,
    mut req: Request,
    next: Next,
) -> Response {
    let host = host::request_host(&req).unwrap_or_default();
    let Some(tenant) = state.tenant(&host) else {
        return errors::unknown_tenant(&host);
    };
    let Some(endpoint) = Endpoint::from_route(req.method(), matched.as_str()) else {
        // Routes that are not counted (discovery documents) skip faults and limits.
        req.extensions_mut().insert(tenant);
        return next.run(req).await;
    };
    tenant.counters.count_request(endpoint);
    let plan = tenant.faults.plan(endpoint);
    if !plan.is_noop() {
        CounterSet::bump(&tenant.counters.faults_applied);
    }
    if !plan.latency.is_zero() {
        tokio::time::sleep(plan.latency).await;
    }
    let limiter = match endpoint {
        Endpoint::Token => Some(&tenant.token_limiter),
        e if e.is_management() => Some(&tenant.management_limiter),
        _ => None,
    };
    let decision = limiter.map(|l| l.take());
    if let Some(decision) = decision.filter(|d| !d.allowed) {
        CounterSet::bump(&tenant.counters.rate_limited);
        return if endpoint == Endpoint::Token {
            OAuthError::too_many_requests(decision).into_response()
        } else {
            MgmtError::too_many_requests(decision).into_response()
        };
    }
    let mut response = match plan.fail_status.and_then(|s| StatusCode::from_u16(s).ok()) {
        Some(status) if endpoint == Endpoint::Token => OAuthError::status(status).into_response(),
        Some(status) => MgmtError::status(status).into_response(),
        None => {
            let kill = req.extensions().get::<ConnectionKill>().cloned();
            req.extensions_mut().insert(Arc::clone(&tenant));
            let response = next.run(req).await;
            if plan.drop_after {
                match kill {
                    Some(kill) => kill.fire().await,
                    None => tracing::warn!("drop_after_apply fault without a connection to drop"),
                }
            }
            response
        }
    };
    if let Some(decision) = decision {
        decision.write_headers(response.headers_mut());
    }
    response
}

/// Unknown paths: Auth0's 404 for a known tenant, the unknown-tenant body otherwise.
async fn not_found(State(state): State<Arc<EmulatorState>>, req: Request) -> Response {
    let host = host::request_host(&req).unwrap_or_default();
    if state.tenant(&host).is_none() {
        return errors::unknown_tenant(&host);
    }
    MgmtError::not_found("Not Found", "not_found").into_response()
}

/// One line per request: method, path, host, status, latency. Never headers or bodies, which
/// carry secrets and tokens.
async fn log_request(req: Request, next: Next) -> Response {
    // Skip the bookkeeping entirely when nobody listens (benchmarks run at `warn`).
    if !tracing::enabled!(tracing::Level::INFO) {
        return next.run(req).await;
    }
    let started = Instant::now();
    let method: Method = req.method().clone();
    let path = req.uri().path().to_owned();
    let host = host::request_host(&req).unwrap_or_default();
    let response = next.run(req).await;
    tracing::info!(
        %method,
        %path,
        %host,
        status = response.status().as_u16(),
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    response
}

/// The tenant resolved by the gate; every Auth0 handler takes it.
pub(crate) type TenantExt = axum::Extension<Arc<Tenant>>;
