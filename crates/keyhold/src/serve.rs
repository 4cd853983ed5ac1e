//! `keyhold serve`: migrate, then serve the API until SIGINT/SIGTERM, draining in-flight requests.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

use crate::config::ServeArgs;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let keyring = args.keys.keyring()?;
    let pool = crate::db::connect_and_migrate(&args.db).await?;
    let state = api::AppState {
        org_id: store::orgs::ensure_instance_org(&pool, "default").await?,
        db: pool,
        keyring: Arc::new(keyring),
        auth0: args.auth0.client()?,
    };
    let listener = bind(args.listen).await?;
    serve(listener, state).await
}

pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (port taken? set KEYHOLD_LISTEN)"))
}

pub async fn serve(listener: tokio::net::TcpListener, state: api::AppState) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "keyhold API listening");
    axum::serve(listener, api::app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("HTTP server failed")
}

pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
