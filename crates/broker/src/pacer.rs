//! Pacing of Management API requests per Auth0 tenant, with the budget shared by every worker
//! process through Postgres (`store::rotations::budget`), so N processes together send no more
//! than the tenant's limit instead of N times it.
//!
//! At low rates every request reserves its own slot (one short statement). At high rates a
//! process reserves a chunk of consecutive slots covering about 100 ms and spends them locally,
//! so the shared row is touched a few times a second, not once per request; a slot that is
//! not used within one period of its time is thrown away rather than spent late (spending it
//! late could stack up with other processes' slots into a burst).
//!
//! The API paces the calls it makes through a connection with the same budget, through
//! [`Pacer::acquire_within`]: an interactive caller waits a bounded time for its slot or is refused
//! (the API answers 429 with `Retry-After`) without spending one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use store::PgPool;
use store::rotations::budget::{self, Rate};

/// A tenant's Management API budget.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TenantRate {
    pub per_second: f64,
    pub burst: u32,
}

/// Slots one reservation covers at most, and the time a chunk aims to cover.
const MAX_CHUNK: u32 = 1000;
const CHUNK_SPAN: Duration = Duration::from_millis(100);
/// Share of the configured rate actually used.
const SLACK: f64 = 0.9;

#[derive(Debug)]
pub struct Pacer {
    pool: PgPool,
    rate: Option<(Rate, u32)>,
    local: Mutex<HashMap<String, Slots>>,
    /// Held while `acquire_within` reserves, so a burst of callers reserves one chunk at a time
    /// instead of one each (which would push the shared budget far ahead and refuse everyone).
    reserving: tokio::sync::Mutex<()>,
}

/// What [`Pacer::acquire_within`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The slot has come: send now.
    Go,
    /// The next slot is further away than the caller would wait; nothing was spent. Asking again
    /// after `retry_after` finds it within the wait.
    Refused { retry_after: Duration },
}

/// Consecutive slots reserved by this process: `left` of them from `next`, `period` apart.
#[derive(Debug)]
struct Slots {
    next: Instant,
    period: Duration,
    left: u32,
}

impl Slots {
    /// The first slot not already stale at `now`, dropping stale ones, without taking it.
    fn peek(&mut self, now: Instant) -> Option<Instant> {
        while self.left > 0 {
            if self.next + self.period >= now {
                return Some(self.next);
            }
            self.next += self.period;
            self.left -= 1;
        }
        None
    }

    /// Takes the first slot not already stale at `now`.
    fn take(&mut self, now: Instant) -> Option<Instant> {
        while self.left > 0 {
            let at = self.next;
            self.next += self.period;
            self.left -= 1;
            if at + self.period >= now {
                return Some(at);
            }
        }
        None
    }
}

/// The bucket name for a tenant's Management API.
pub fn management_bucket(domain: &str) -> String {
    format!("{domain}/api/v2")
}

impl Pacer {
    /// `rate`: the tenants' Management API limit; `None` paces nothing.
    pub fn new(pool: PgPool, rate: Option<TenantRate>) -> Pacer {
        let rate = rate.map(|r| {
            // Pacing exactly at the limit leaves Auth0's bucket empty after every request, so a
            // request that travels a millisecond faster than the one before it is refused. Keep
            // one request of the burst and a tenth of the rate as slack for that jitter.
            let per_second = r.per_second * SLACK;
            let burst = r.burst.saturating_sub(1).max(1);
            let period = Duration::from_secs_f64(1.0 / per_second);
            let chunk = (per_second * CHUNK_SPAN.as_secs_f64()).floor();
            // `as` saturates for floats; the clamp keeps it in 1..=MAX_CHUNK.
            let chunk = (chunk as u32).clamp(1, MAX_CHUNK);
            (Rate { period, burst }, chunk)
        });
        Pacer {
            pool,
            rate,
            local: Mutex::new(HashMap::new()),
            reserving: tokio::sync::Mutex::new(()),
        }
    }

    /// Waits until this process may send one Management API request to `domain`.
    pub async fn acquire(&self, domain: &str) -> store::Result<()> {
        let Some((rate, chunk)) = self.rate else {
            return Ok(());
        };
        let bucket = management_bucket(domain);
        loop {
            let slot = self
                .lock()
                .get_mut(&bucket)
                .and_then(|slots| slots.take(Instant::now()));
            if let Some(at) = slot {
                tokio::time::sleep_until(at.into()).await;
                return Ok(());
            }
            let wait = budget::reserve(&self.pool, &bucket, chunk, rate).await?;
            let slots = Slots {
                next: Instant::now() + wait,
                period: rate.period,
                left: chunk,
            };
            self.lock().insert(bucket.clone(), slots);
        }
    }

    /// Waits at most `max_wait` for this process's next Management API slot for `domain`, or
    /// refuses without spending one (see [`Admission`]).
    pub async fn acquire_within(
        &self,
        domain: &str,
        max_wait: Duration,
    ) -> store::Result<Admission> {
        let Some((rate, chunk)) = self.rate else {
            return Ok(Admission::Go);
        };
        let bucket = management_bucket(domain);
        loop {
            if let Some(decision) = self.take_within(&bucket, max_wait) {
                return Ok(match decision {
                    Ok(at) => {
                        tokio::time::sleep_until(at.into()).await;
                        Admission::Go
                    }
                    Err(retry_after) => Admission::Refused { retry_after },
                });
            }
            let _reserving = self.reserving.lock().await;
            // Another caller may have reserved while this one waited for the lock.
            if self.has_slots(&bucket) {
                continue;
            }
            let wait = budget::reserve(&self.pool, &bucket, chunk, rate).await?;
            let slots = Slots {
                next: Instant::now() + wait,
                period: rate.period,
                left: chunk,
            };
            self.lock().insert(bucket.clone(), slots);
        }
    }

    /// The next local slot for `bucket`: taken if it comes within `max_wait` (`Ok`), else how much
    /// longer than `max_wait` it is away (`Err`); `None` when there is none.
    fn take_within(&self, bucket: &str, max_wait: Duration) -> Option<Result<Instant, Duration>> {
        let now = Instant::now();
        let mut local = self.lock();
        let slots = local.get_mut(bucket)?;
        let at = slots.peek(now)?;
        let wait = at.saturating_duration_since(now);
        if wait > max_wait {
            return Some(Err(wait - max_wait));
        }
        slots.take(now);
        Some(Ok(at))
    }

    /// Whether this process holds slots for `bucket` that are not stale yet.
    fn has_slots(&self, bucket: &str) -> bool {
        let now = Instant::now();
        self.lock()
            .get_mut(bucket)
            .and_then(|slots| slots.peek(now))
            .is_some()
    }

    /// Auth0 answered 429 anyway (another client of the tenant, or a lower limit than
    /// configured): every process holds off this tenant for `pause`.
    pub async fn back_off(&self, domain: &str, pause: Duration) -> store::Result<()> {
        let bucket = management_bucket(domain);
        self.lock().remove(&bucket);
        budget::block(&self.pool, &bucket, pause).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slots>> {
        // Only map operations run under this lock; a poisoned map is still consistent.
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_slots_are_dropped_not_spent_late() {
        let start = Instant::now();
        let period = Duration::from_millis(10);
        let mut slots = Slots {
            next: start,
            period,
            left: 5,
        };
        assert_eq!(slots.take(start), Some(start));
        // 35 ms later the slots at 10 and 20 ms are stale; the one at 30 ms is still usable.
        assert_eq!(
            slots.take(start + Duration::from_millis(35)),
            Some(start + Duration::from_millis(30))
        );
        assert_eq!(
            slots.take(start + Duration::from_millis(35)),
            Some(start + Duration::from_millis(40))
        );
        assert_eq!(slots.take(start + Duration::from_millis(35)), None);
    }

    #[test]
    fn peek_drops_stale_slots_but_keeps_the_next() {
        let start = Instant::now();
        let period = Duration::from_millis(10);
        let mut slots = Slots {
            next: start,
            period,
            left: 3,
        };
        let later = start + Duration::from_millis(25);
        assert_eq!(slots.peek(later), Some(start + Duration::from_millis(20)));
        assert_eq!(slots.peek(later), Some(start + Duration::from_millis(20)));
        assert_eq!(slots.take(later), Some(start + Duration::from_millis(20)));
        assert_eq!(slots.peek(later), None);
    }
}
