//! `keyhold serve`: migrate, then serve the API until SIGINT/SIGTERM, draining in-flight requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::ServeArgs;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let keyring = Arc::new(args.keys.keyring()?);
    let pool = crate::db::connect_and_migrate(&args.db).await?;
    crate::keys::check_keyring(&pool, &keyring).await?;
    if store::orgs::instance_org(&pool).await?.is_none() {
        tracing::warn!(
            "this instance is not bootstrapped yet: run `keyhold bootstrap` to create its first admin"
        );
    }
    broker::reseal::legacy_secrets(&pool, &keyring).await?;
    let ttl = Duration::from_secs(args.access_token_ttl_secs);
    // One broker for the process: the API and the embedded worker share its token cache, and
    // calls made through connections share each tenant's request budget with the workers.
    let broker = broker::Broker::new(
        pool,
        keyring,
        args.auth0.client()?,
        args.worker.config().tenant_rate,
    );
    let worker = args
        .embedded_worker
        .then(|| args.worker.build(&broker, &args.auth0))
        .transpose()?;
    let state = api::AppState::new(broker, ttl)
        .with_webhook_allow_private_networks(args.worker.webhooks.webhook_allow_private_networks)
        .with_body_read_timeout(args.http.body_read_timeout())
        .with_trusted_proxies(args.http.trusted_proxies());
    let listener = bind(args.listen).await?;
    let drain = Duration::from_secs(args.shutdown_drain_secs);
    run_until_shutdown(listener, state, args.http.limits(), worker, drain).await
}

/// Serves the API (and the embedded worker, if any) until SIGINT/SIGTERM. Then, for `drain`,
/// `/readyz` answers 503 while everything else is still served (a balancer's health check takes
/// the process out of rotation without a refused request); then the listener closes, in-flight
/// requests finish and the worker drains before returning. A second signal cuts the drain short.
pub async fn run_until_shutdown(
    listener: tokio::net::TcpListener,
    state: api::AppState,
    limits: crate::http::Limits,
    worker: Option<worker::Worker>,
    drain: Duration,
) -> anyhow::Result<()> {
    let shutdown = worker::CancellationToken::new();
    let trigger = shutdown.clone();
    let draining = state.draining.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        if !drain.is_zero() {
            draining.start();
            tracing::info!(
                drain_secs = drain.as_secs(),
                "draining: /readyz answers 503, requests are still served until the drain ends"
            );
            tokio::select! {
                () = tokio::time::sleep(drain) => {}
                () = shutdown_signal() => {}
            }
        }
        tracing::info!("no longer accepting connections; finishing in-flight requests");
        trigger.cancel();
    });
    let worker = worker.map(|w| {
        tracing::info!("rotation worker running inside this process");
        tokio::spawn(w.run(shutdown.clone()))
    });
    // Other processes' revocations and role changes reach this one's token cache at once.
    let follower = tokio::spawn({
        let (db, tokens, stop) = (state.db.clone(), state.tokens.clone(), shutdown.clone());
        async move { api::auth::changes::follow(&db, tokens, stop.cancelled_owned()).await }
    });
    let served = serve(listener, state, limits, shutdown.clone()).await;
    // The API stopped (signal or failure): stop the worker too and wait for it to drain.
    shutdown.cancel();
    follower.await.context("access-change follower panicked")?;
    if let Some(worker) = worker {
        worker
            .await
            .context("rotation worker panicked")?
            .context("rotation worker failed")?;
    }
    served
}

pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (port taken? set KEYHOLD_LISTEN)"))
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    state: api::AppState,
    limits: crate::http::Limits,
    shutdown: worker::CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, ?limits, "keyhold API listening");
    crate::http::serve(listener, api::app(state), limits, shutdown)
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
