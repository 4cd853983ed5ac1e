//! Login throttling. Failures are counted per account (client id or email) and per source address
//! in a sliding window; past the limit, logins for that key answer 429 until the window moves on.
//!
//! Concurrency is what makes this more than a counter: a failure is only known once its argon2
//! check is done (~40 ms, queued behind others), so a burst of simultaneous guesses would all pass
//! a check made on arrival. Hence:
//! - attempts on one account take turns, and each re-checks the count when its turn comes, so at
//!   most `PER_ACCOUNT` guesses per window are ever verified however many arrive at once;
//! - attempts in flight from one address count against that address's limit as if they had
//!   failed, so a burst spread over many accounts is also cut at `PER_ADDRESS`.
//!
//! Successful logins leave nothing behind, so a fleet of clients logging in together is not slowed
//! beyond taking turns per account. Per process (several API processes each allow the limit),
//! bounded in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures allowed per key and window.
pub const PER_ACCOUNT: u32 = 5;
pub const PER_ADDRESS: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct LoginThrottle {
    failures: moka::sync::Cache<String, Vec<Instant>>,
    turns: moka::sync::Cache<String, Arc<tokio::sync::Mutex<()>>>,
    in_flight: Arc<Mutex<HashMap<String, u32>>>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            failures: moka::sync::Cache::builder()
                .max_capacity(50_000)
                .time_to_idle(WINDOW)
                .build(),
            turns: moka::sync::Cache::builder()
                .max_capacity(50_000)
                .time_to_idle(WINDOW)
                .build(),
            in_flight: Arc::default(),
        }
    }
}

/// A login attempt that was let through; it holds its account's turn and its place in the
/// address's count until dropped.
pub struct Attempt {
    throttle: LoginThrottle,
    account: String,
    address: String,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl Attempt {
    /// The secret was wrong (or the account unknown): count it against both keys.
    pub fn failed(self) {
        self.throttle.record_failure(&self.account);
        self.throttle.record_failure(&self.address);
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.throttle.leave(&self.address);
    }
}

impl LoginThrottle {
    /// Lets one attempt on `account` from `address` through, once its turn on the account comes, or
    /// says how long to wait.
    pub async fn admit(&self, account: &str, address: &str) -> Result<Attempt, Duration> {
        if let Some(wait) = self.blocked(account, PER_ACCOUNT, 0) {
            return Err(wait);
        }
        self.enter(address)?;
        let turn = self.turns.get_with(account.to_owned(), Arc::default);
        // From here the attempt is counted in flight; the Attempt's drop takes it back, including
        // when this future is dropped while waiting for its turn.
        let pending = PendingAddress {
            throttle: self,
            address,
        };
        let turn = turn.lock_owned().await;
        std::mem::forget(pending);
        let attempt = Attempt {
            throttle: self.clone(),
            account: account.to_owned(),
            address: address.to_owned(),
            _turn: turn,
        };
        // Guesses that queued behind failed ones see those failures now.
        match self.blocked(account, PER_ACCOUNT, 0) {
            Some(wait) => Err(wait),
            None => Ok(attempt),
        }
    }

    /// Counts an attempt from `address` in flight, unless its failures and attempts in flight
    /// already reach the limit.
    fn enter(&self, address: &str) -> Result<(), Duration> {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = in_flight.get(address).copied().unwrap_or(0);
        if let Some(wait) = self.blocked(address, PER_ADDRESS, count) {
            return Err(wait);
        }
        in_flight.insert(address.to_owned(), count + 1);
        Ok(())
    }

    fn leave(&self, address: &str) {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = in_flight.get_mut(address) {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(address);
            }
        }
    }

    /// `Some(wait)` when `key`'s failures in the window, plus `pending` attempts, reach `limit`.
    fn blocked(&self, key: &str, limit: u32, pending: u32) -> Option<Duration> {
        let now = Instant::now();
        let recent = self.failures.get(key).unwrap_or_default();
        let live: Vec<&Instant> = recent
            .iter()
            .filter(|t| now.duration_since(**t) < WINDOW)
            .collect();
        if live.len() + (pending as usize) < limit as usize {
            return None;
        }
        // With no failure yet (only attempts in flight), they finish within a second or two.
        let wait = live.iter().min().map_or(Duration::ZERO, |oldest| {
            WINDOW.saturating_sub(now.duration_since(**oldest))
        });
        Some(wait.max(Duration::from_secs(1)))
    }

    fn record_failure(&self, key: &str) {
        let now = Instant::now();
        self.failures
            .entry(key.to_owned())
            .and_upsert_with(|existing| {
                let mut times: Vec<Instant> = existing
                    .map(|e| e.into_value())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|t| now.duration_since(*t) < WINDOW)
                    .collect();
                times.push(now);
                // Only the newest few matter for the limit.
                let keep = PER_ADDRESS.max(PER_ACCOUNT) as usize;
                if times.len() > keep {
                    times.drain(..times.len() - keep);
                }
                times
            });
    }
}

/// Takes an address's in-flight count back if the attempt is abandoned while waiting its turn.
struct PendingAddress<'a> {
    throttle: &'a LoginThrottle,
    address: &'a str,
}

impl Drop for PendingAddress<'_> {
    fn drop(&mut self) {
        self.throttle.leave(self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn successes_leave_nothing_behind() {
        let throttle = LoginThrottle::default();
        for _ in 0..PER_ADDRESS * 2 {
            let attempt = throttle.admit("client:c", "ip:a").await.expect("admitted");
            drop(attempt);
        }
        assert!(throttle.admit("client:c", "ip:a").await.is_ok());
    }

    #[tokio::test]
    async fn blocks_after_the_limit_per_account() {
        let throttle = LoginThrottle::default();
        for _ in 0..PER_ACCOUNT {
            throttle
                .admit("client:a", "ip:a")
                .await
                .expect("admitted")
                .failed();
        }
        assert!(throttle.admit("client:a", "ip:b").await.is_err());
        assert!(throttle.admit("client:b", "ip:a").await.is_ok());
    }

    #[tokio::test]
    async fn a_queued_guess_sees_the_failures_before_it() {
        let throttle = LoginThrottle::default();
        let first = throttle.admit("client:a", "ip:a").await.expect("admitted");
        let queued = {
            let throttle = throttle.clone();
            tokio::spawn(async move { throttle.admit("client:a", "ip:b").await.is_ok() })
        };
        tokio::task::yield_now().await;
        for _ in 0..PER_ACCOUNT {
            throttle.record_failure("client:a");
        }
        drop(first);
        assert!(!queued.await.expect("join"), "admitted after the limit");
    }

    #[tokio::test]
    async fn attempts_in_flight_count_against_their_address() {
        let throttle = LoginThrottle::default();
        let mut held = Vec::new();
        for n in 0..PER_ADDRESS {
            held.push(
                throttle
                    .admit(&format!("client:{n}"), "ip:a")
                    .await
                    .expect("admitted"),
            );
        }
        assert!(throttle.admit("client:new", "ip:a").await.is_err());
        assert!(throttle.admit("client:new", "ip:b").await.is_ok());
        held.clear();
        assert!(throttle.admit("client:new", "ip:a").await.is_ok());
    }

    #[tokio::test]
    async fn an_abandoned_wait_gives_its_place_back() {
        let throttle = LoginThrottle::default();
        let first = throttle.admit("client:a", "ip:a").await.expect("admitted");
        let waiting = throttle.admit("client:a", "ip:a");
        // Polled once (it enters the address count and waits for the turn), then dropped.
        assert!(
            tokio::time::timeout(Duration::from_millis(10), waiting)
                .await
                .is_err()
        );
        drop(first);
        assert!(throttle.in_flight.lock().expect("lock").is_empty());
    }
}
