//! Login throttling, built so that guessing stays expensive without letting anyone lock an account
//! out. Failures are counted in a sliding window:
//! - per (account, address): past `PER_ACCOUNT`, that address's logins to that account answer 429.
//!   The guesser is stopped; the account's owner, from any other address, is not.
//! - per address, across accounts: failures plus attempts in flight past `PER_ADDRESS` answer 429,
//!   which stops spraying many accounts from one address;
//! - per account, across addresses: never refused, only slowed. Past `PER_ACCOUNT` recent failures
//!   every attempt waits before its check, doubling from `SLOWDOWN_STEP` to at most
//!   `SLOWDOWN_MAX`, so a distributed guesser pays in time and connections held while the right
//!   secret still gets in, a few seconds late at worst.
//!
//! Concurrency is what makes this more than a counter: a failure is only known once its argon2
//! check is done (~40 ms, queued behind others), so a burst of simultaneous guesses would all pass
//! a check made on arrival. Hence:
//! - attempts on one (account, address) take turns, and each re-checks the count when its turn
//!   comes, so at most `PER_ACCOUNT` guesses per window are ever verified however many arrive;
//! - attempts in flight from one address count against that address's limit as if they had
//!   failed, so a burst spread over many accounts is also cut at `PER_ADDRESS`.
//!
//! An admitted [`Attempt`] is handed to the job that checks it, not kept by the request: a client
//! that hangs up does not take its attempt back early, and the outcome is still recorded.
//!
//! Successful logins leave nothing behind, so a fleet of clients logging in together is not slowed
//! beyond taking turns. Per process (several API processes each allow the limit), bounded in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures allowed per (account, address) and window; also where the account's slowdown starts.
pub const PER_ACCOUNT: u32 = 5;
/// Failures and attempts in flight allowed per address and window.
pub const PER_ADDRESS: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(60);
/// The first added wait on an account with `PER_ACCOUNT` recent failures; doubles per failure.
pub const SLOWDOWN_STEP: Duration = Duration::from_millis(250);
/// The longest added wait, however many failures: slow, never locked out.
pub const SLOWDOWN_MAX: Duration = Duration::from_secs(3);
/// Failure times kept per key: enough for every limit and to reach `SLOWDOWN_MAX`.
const KEEP: usize = 32;

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

/// A login attempt that was let through; it holds its (account, address) turn and its place in
/// the address's count until dropped.
pub struct Attempt {
    throttle: LoginThrottle,
    account: String,
    address: String,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl Attempt {
    /// The secret was wrong (or the account unknown): count it against every key.
    pub fn failed(self) {
        self.throttle
            .record_failure(&pair_key(&self.account, &self.address));
        self.throttle.record_failure(&self.account);
        self.throttle.record_failure(&self.address);
    }
}

/// The key of one address's attempts on one account; a newline is in neither part.
fn pair_key(account: &str, address: &str) -> String {
    format!("{account}\n{address}")
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.throttle.leave(&self.address);
    }
}

impl LoginThrottle {
    /// Lets one attempt on `account` from `address` through, after the account's slowdown and once
    /// its turn comes, or says how long to wait.
    pub async fn admit(&self, account: &str, address: &str) -> Result<Attempt, Duration> {
        let pair = pair_key(account, address);
        if let Some(wait) = self.blocked(&pair, PER_ACCOUNT, 0) {
            return Err(wait);
        }
        self.enter(address)?;
        // From here the attempt is counted in flight; the Attempt's drop takes it back, including
        // when this future is dropped while slowed down or waiting for its turn.
        let pending = PendingAddress {
            throttle: self,
            address,
        };
        // Waited without holding the turn, so the account's owner is not queued behind guessers.
        tokio::time::sleep(self.slowdown(account)).await;
        let turn = self.turns.get_with(pair.clone(), Arc::default);
        let turn = turn.lock_owned().await;
        std::mem::forget(pending);
        let attempt = Attempt {
            throttle: self.clone(),
            account: account.to_owned(),
            address: address.to_owned(),
            _turn: turn,
        };
        // Guesses that queued behind failed ones see those failures now.
        match self.blocked(&pair, PER_ACCOUNT, 0) {
            Some(wait) => Err(wait),
            None => Ok(attempt),
        }
    }

    /// How long an attempt on `account` waits before its check: nothing until `PER_ACCOUNT`
    /// failures in the window from any address, then doubling per failure up to `SLOWDOWN_MAX`.
    pub fn slowdown(&self, account: &str) -> Duration {
        let failures = self.recent(account).len();
        let Some(over) = failures.checked_sub(PER_ACCOUNT as usize) else {
            return Duration::ZERO;
        };
        let factor = 1u32.checked_shl(over as u32).unwrap_or(u32::MAX);
        SLOWDOWN_STEP.saturating_mul(factor).min(SLOWDOWN_MAX)
    }

    /// Attempts from `address` admitted and not finished yet.
    pub fn in_flight(&self, address: &str) -> u32 {
        self.in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(address)
            .copied()
            .unwrap_or(0)
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

    /// `key`'s failures in the window.
    fn recent(&self, key: &str) -> Vec<Instant> {
        let now = Instant::now();
        let mut recent = self.failures.get(key).unwrap_or_default();
        recent.retain(|t| now.duration_since(*t) < WINDOW);
        recent
    }

    /// `Some(wait)` when `key`'s failures in the window, plus `pending` attempts, reach `limit`.
    fn blocked(&self, key: &str, limit: u32, pending: u32) -> Option<Duration> {
        let now = Instant::now();
        let live = self.recent(key);
        if live.len() + (pending as usize) < limit as usize {
            return None;
        }
        // With no failure yet (only attempts in flight), they finish within a second or two.
        let wait = live.iter().min().map_or(Duration::ZERO, |oldest| {
            WINDOW.saturating_sub(now.duration_since(*oldest))
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
                // Only the newest few matter for the limits and the slowdown.
                if times.len() > KEEP {
                    times.drain(..times.len() - KEEP);
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
    async fn blocks_the_guessing_address_only() {
        let throttle = LoginThrottle::default();
        for _ in 0..PER_ACCOUNT {
            throttle
                .admit("client:a", "ip:a")
                .await
                .expect("admitted")
                .failed();
        }
        assert!(throttle.admit("client:a", "ip:a").await.is_err());
        assert!(throttle.admit("client:b", "ip:a").await.is_ok());
        // The account's owner, elsewhere, still gets in (slowed down).
        assert!(throttle.admit("client:a", "ip:b").await.is_ok());
    }

    #[test]
    fn failures_from_everywhere_slow_an_account_down_to_a_cap() {
        let throttle = LoginThrottle::default();
        let mut waits = Vec::new();
        for n in 0..20 {
            waits.push(throttle.slowdown("client:a"));
            throttle.record_failure(&format!("ip:{n}"));
            throttle.record_failure("client:a");
        }
        assert!(waits[..PER_ACCOUNT as usize].iter().all(Duration::is_zero));
        assert_eq!(waits[PER_ACCOUNT as usize], SLOWDOWN_STEP);
        assert_eq!(waits[PER_ACCOUNT as usize + 1], SLOWDOWN_STEP * 2);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert_eq!(waits.last(), Some(&SLOWDOWN_MAX));
        assert!(throttle.slowdown("client:b").is_zero());
    }

    #[tokio::test]
    async fn a_queued_guess_sees_the_failures_before_it() {
        let throttle = LoginThrottle::default();
        let first = throttle.admit("client:a", "ip:a").await.expect("admitted");
        let queued = {
            let throttle = throttle.clone();
            tokio::spawn(async move { throttle.admit("client:a", "ip:a").await.is_ok() })
        };
        tokio::task::yield_now().await;
        for _ in 0..PER_ACCOUNT {
            throttle.record_failure(&pair_key("client:a", "ip:a"));
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
