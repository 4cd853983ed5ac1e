//! Login throttling: failures are counted per client id / email and per source address in a sliding
//! window; past the limit, logins for that key answer 429 until the window moves on. Per process
//! (several API processes each allow the limit), bounded in memory.

use std::time::{Duration, Instant};

/// Failures allowed per key and window.
pub const PER_ACCOUNT: u32 = 5;
pub const PER_ADDRESS: u32 = 20;
pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct LoginThrottle {
    failures: moka::sync::Cache<String, Vec<Instant>>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            failures: moka::sync::Cache::builder()
                .max_capacity(50_000)
                .time_to_idle(WINDOW)
                .build(),
        }
    }
}

impl LoginThrottle {
    /// `Some(wait)` when `key` has used up `limit` failures in the window.
    pub fn blocked(&self, key: &str, limit: u32) -> Option<Duration> {
        let now = Instant::now();
        let recent = self.failures.get(key)?;
        let live: Vec<&Instant> = recent
            .iter()
            .filter(|t| now.duration_since(**t) < WINDOW)
            .collect();
        if live.len() < limit as usize {
            return None;
        }
        let oldest = live.iter().min().copied()?;
        Some(
            WINDOW
                .saturating_sub(now.duration_since(*oldest))
                .max(Duration::from_secs(1)),
        )
    }

    pub fn record_failure(&self, key: &str) {
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

impl LoginThrottle {
    /// Takes back the failure recorded for an attempt that turned out to succeed.
    pub fn forgive(&self, key: &str) {
        self.failures
            .entry(key.to_owned())
            .and_compute_with(|existing| {
                let Some(entry) = existing else {
                    return moka::ops::compute::Op::Nop;
                };
                let mut times = entry.into_value();
                times.pop();
                if times.is_empty() {
                    moka::ops::compute::Op::Remove
                } else {
                    moka::ops::compute::Op::Put(times)
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_takes_back_its_attempt() {
        let throttle = LoginThrottle::default();
        for _ in 0..PER_ACCOUNT {
            throttle.record_failure("client:c");
            throttle.forgive("client:c");
        }
        assert!(throttle.blocked("client:c", PER_ACCOUNT).is_none());
    }

    #[test]
    fn blocks_after_the_limit_per_key() {
        let throttle = LoginThrottle::default();
        for _ in 0..PER_ACCOUNT {
            assert!(throttle.blocked("client:a", PER_ACCOUNT).is_none());
            throttle.record_failure("client:a");
        }
        assert!(throttle.blocked("client:a", PER_ACCOUNT).is_some());
        assert!(throttle.blocked("client:b", PER_ACCOUNT).is_none());
    }
}
