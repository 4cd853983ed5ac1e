//! The API's HTTP/1.1 server: hyper's connection builder with the limits `axum::serve` leaves
//! unset. A header-read timeout (hyper's, which also bounds the wait for the next request on a
//! kept-alive connection), an idle timeout (no byte moving either way while no request is being
//! handled: a client that stopped reading its response), a cap on open connections (excess ones
//! wait in the listen backlog until a slot frees), and a back-off when `accept` fails (out of file
//! descriptors, say) instead of a busy loop. The body-read deadline is the API's own
//! (`api::AppState::body_read_timeout`), so it can answer 408 with a problem body.

mod activity;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;
use worker::CancellationToken;

use activity::{Activity, Tracked};

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: u32,
}

/// Serves `router` until `shutdown`, then lets open requests finish (idle connections close at
/// once) and returns when every connection is gone.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    let mut backoff = Backoff::default();
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit?,
            () = shutdown.cancelled() => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff.reset();
                let router = router.clone();
                tokio::spawn(connection(
                    stream,
                    peer,
                    router,
                    limits,
                    permit,
                    shutdown.clone(),
                ));
            }
            // The peer gave up before we accepted: nothing wrong with the listener.
            Err(err) if per_connection(&err) => {}
            Err(err) => {
                let wait = backoff.next_wait();
                tracing::warn!(%err, wait_ms = wait.as_millis(), "accept failed; backing off");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.cancelled() => break,
                }
            }
        }
    }
    // Closed now, not when this function returns: a client connecting while the last requests
    // finish must be refused (and retry elsewhere), not left in the backlog unserved.
    drop(listener);
    // Every connection holds a slot until it is closed.
    let _all = slots.acquire_many(limits.max_connections).await?;
    Ok(())
}

fn per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    )
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    _slot: OwnedSemaphorePermit,
    shutdown: CancellationToken,
) {
    // Small JSON answers; Nagle would only delay them.
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Tracked::new(stream, activity.clone()));
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // What `into_make_service_with_connect_info` did: login throttling and audit rows use it.
        request.extensions_mut().insert(ConnectInfo(peer));
        let handling = requests.begin_request();
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await;
            drop(handling);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(err) = served {
                    // Timeouts and resets are the client's doing; nothing here is worth a warning.
                    tracing::debug!(%err, "connection ended with an error");
                }
                return;
            }
            () = shutdown.cancelled(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            // Nothing is being handled and nothing moved: there is no response to finish.
            () = activity.idle(limits.idle_timeout) => {
                tracing::debug!("closing an idle connection");
                return;
            }
        }
    }
}

/// Waits after failed accepts: 50 ms, doubling to 1 s, reset by the next success.
#[derive(Default)]
struct Backoff(Option<Duration>);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(50);
    const MAX: Duration = Duration::from_secs(1);

    fn next_wait(&mut self) -> Duration {
        let wait = self.0.map_or(Self::FIRST, |last| (last * 2).min(Self::MAX));
        self.0 = Some(wait);
        wait
    }

    fn reset(&mut self) {
        self.0 = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_back_off_to_a_second_and_reset() {
        let mut backoff = Backoff::default();
        let waits: Vec<u128> = (0..7).map(|_| backoff.next_wait().as_millis()).collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.next_wait(), Duration::from_millis(50));
    }

    #[test]
    fn only_a_vanished_peer_is_a_per_connection_error() {
        assert!(per_connection(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
        // EMFILE and ENFILE surface as `Other`/uncategorised: those back off.
        assert!(!per_connection(&io::Error::other("Too many open files")));
    }
}
