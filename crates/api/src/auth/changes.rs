//! Keeps this process's token cache honest when any process changes who may do what. Database
//! triggers (migration `access_signals`) send `NOTIFY keyhold_access` on commit of a token
//! revocation, an identity change or deletion, a membership change or a project deletion; every
//! API process listens and evicts at once, so a revoked token stops working on all replicas within
//! a round trip rather than after the cache's TTL. The TTL stays as the fallback for notifications
//! missed while the listening connection was down, and a reconnect empties the cache for the same
//! reason.

use std::future::Future;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};
use store::PgPool;

use super::tokens::TokenService;

pub const CHANNEL: &str = "keyhold_access";

#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// One token was revoked or deleted: its SHA-256.
    Token([u8; 32]),
    /// Roles, memberships or identities changed: any cached owner may be stale.
    All,
}

impl Change {
    /// An unreadable payload is treated as `All`: evicting too much only costs a query.
    pub fn parse(payload: &str) -> Change {
        payload
            .strip_prefix("token:")
            .and_then(|hex| {
                if hex.len() != 64 || !hex.is_ascii() {
                    return None;
                }
                let mut hash = [0u8; 32];
                for (byte, pair) in hash.iter_mut().zip(hex.as_bytes().chunks(2)) {
                    *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
                }
                Some(Change::Token(hash))
            })
            .unwrap_or(Change::All)
    }

    fn apply(&self, tokens: &TokenService) {
        match self {
            Change::Token(hash) => tokens.forget(hash),
            Change::All => tokens.forget_all(),
        }
    }
}

/// Applies every change announced on `keyhold_access` to `tokens` until `stop` completes,
/// reconnecting with backoff. The listening connection comes from a pool of its own, so it never
/// takes a slot that requests need.
pub async fn follow(db: &PgPool, tokens: TokenService, stop: impl Future<Output = ()>) {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*db.connect_options()).clone());
    listen_until(&own, &tokens, stop).await;
    // A clean exit leaves no session behind.
    own.close().await;
}

async fn listen_until(own: &PgPool, tokens: &TokenService, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut failures: u32 = 0;
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(own).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let outcome = tokio::select! {
            () = &mut stop => return,
            connected = connected => connected,
        };
        match outcome {
            Ok(mut listener) => {
                failures = 0;
                // Whatever was announced while nobody listened is lost.
                tokens.forget_all();
                loop {
                    tokio::select! {
                        () = &mut stop => return,
                        message = listener.try_recv() => match message {
                            Ok(Some(message)) => Change::parse(message.payload()).apply(tokens),
                            // The connection dropped; sqlx reconnects on the next call.
                            Ok(None) => tokens.forget_all(),
                            Err(err) => {
                                tracing::warn!(error = %err, "LISTEN for access changes failed; reconnecting");
                                break;
                            }
                        }
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot LISTEN for access changes; cached tokens expire by TTL meanwhile");
            }
        }
        failures = failures.saturating_add(1);
        let pause = Duration::from_millis(100)
            .saturating_mul(1u32 << failures.min(9))
            .min(Duration::from_secs(30));
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_one_token_or_everything() {
        let hash = [0xab; 32];
        assert_eq!(
            Change::parse(&format!("token:{}", "ab".repeat(32))),
            Change::Token(hash)
        );
        assert_eq!(Change::parse("all"), Change::All);
        assert_eq!(Change::parse("token:zz"), Change::All);
        assert_eq!(Change::parse("token:abab"), Change::All);
    }
}
