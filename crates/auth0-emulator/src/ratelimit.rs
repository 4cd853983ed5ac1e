//! Per-tenant token buckets and Auth0's `x-ratelimit-*` headers.
//!
//! Auth0 limits with a token bucket: `burst` requests at once, refilled at a steady rate, and
//! reports `x-ratelimit-limit` (bucket size), `x-ratelimit-remaining` and `x-ratelimit-reset`
//! (Unix seconds when the bucket is full again). An unlimited tenant still sends the headers,
//! with a notional bucket of `UNLIMITED` that never drains, so clients that read them keep working.
//! The lock is held only for the arithmetic, never across an await.

use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue};

use crate::seed::RateLimitSeed;

/// What an unlimited tenant reports as its bucket size and remaining requests.
pub(crate) const UNLIMITED: u32 = 1_000_000;

/// The outcome of taking one token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    pub reset_unix: u64,
}

impl Decision {
    pub(crate) fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(self.reset_unix));
    }
}

struct Bucket {
    burst: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

/// One bucket, or none for an unlimited tenant.
pub(crate) struct Limiter {
    bucket: Option<Mutex<Bucket>>,
}

impl Limiter {
    pub(crate) fn new(config: Option<RateLimitSeed>) -> anyhow::Result<Limiter> {
        let bucket = match config {
            None => None,
            Some(RateLimitSeed { burst, per_second }) => {
                anyhow::ensure!(burst >= 1, "rate limit burst must be at least 1");
                anyhow::ensure!(
                    per_second.is_finite() && per_second > 0.0,
                    "rate limit per_second must be a positive number"
                );
                Some(Mutex::new(Bucket {
                    burst: f64::from(burst),
                    per_second,
                    tokens: f64::from(burst),
                    last: Instant::now(),
                }))
            }
        };
        Ok(Limiter { bucket })
    }

    pub(crate) fn take(&self) -> Decision {
        let now_unix = unix_now_secs();
        let Some(bucket) = &self.bucket else {
            return Decision {
                allowed: true,
                limit: UNLIMITED,
                remaining: UNLIMITED,
                reset_unix: now_unix.ceil() as u64,
            };
        };
        // A poisoned lock only means another request panicked mid-arithmetic; the numbers are
        // still usable, so recover rather than fail every later request.
        let mut b = bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * b.per_second).min(b.burst);
        b.last = now;
        let allowed = b.tokens >= 1.0;
        if allowed {
            b.tokens -= 1.0;
        }
        let until_full = (b.burst - b.tokens) / b.per_second;
        Decision {
            allowed,
            limit: b.burst as u32,
            remaining: b.tokens.floor() as u32,
            reset_unix: (now_unix + until_full).ceil() as u64,
        }
    }
}

fn unix_now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses_then_refills() {
        let limiter = Limiter::new(Some(RateLimitSeed {
            burst: 3,
            per_second: 20.0,
        }))
        .unwrap();
        let first = limiter.take();
        assert!(first.allowed);
        assert_eq!((first.limit, first.remaining), (3, 2));
        assert!(limiter.take().allowed);
        assert!(limiter.take().allowed);
        let refused = limiter.take();
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert!(refused.reset_unix as f64 >= unix_now_secs());
        std::thread::sleep(std::time::Duration::from_millis(120));
        assert!(limiter.take().allowed);
    }

    #[test]
    fn unlimited_always_allows_and_rejects_bad_config() {
        let limiter = Limiter::new(None).unwrap();
        for _ in 0..1000 {
            assert!(limiter.take().allowed);
        }
        assert_eq!(limiter.take().remaining, UNLIMITED);
        assert!(
            Limiter::new(Some(RateLimitSeed {
                burst: 0,
                per_second: 1.0
            }))
            .is_err()
        );
        assert!(
            Limiter::new(Some(RateLimitSeed {
                burst: 1,
                per_second: 0.0
            }))
            .is_err()
        );
        assert!(
            Limiter::new(Some(RateLimitSeed {
                burst: 1,
                per_second: f64::NAN
            }))
            .is_err()
        );
    }
}
