//! How long to wait before retrying an Auth0 request.
//!
//! Capped exponential backoff with jitter for failures without a server hint, and Auth0's
//! own hints (`Retry-After` in seconds, `x-ratelimit-reset` in Unix seconds) when present,
//! clamped so a hostile or confused server can neither hammer us nor park us for minutes.
//! Pure functions plus a cheap jitter source; no IO.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

/// Shortest wait between attempts, even when the server says "now".
pub(crate) const MIN_WAIT: Duration = Duration::from_millis(100);
/// Longest wait between attempts; a longer server hint is surfaced to the caller instead.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(10);
/// First backoff step; doubles per attempt.
const BASE_BACKOFF: Duration = Duration::from_millis(200);
/// Exponential backoff stops growing here.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Server hints beyond a day are nonsense; cap what we report to callers.
const MAX_REPORTED_HINT: Duration = Duration::from_secs(24 * 60 * 60);

/// Backoff before retry number `attempt + 1` when the server gave no hint: a random
/// duration in `[d/2, d]` where `d = min(200 ms * 2^attempt, 5 s)`, so concurrent callers
/// spread out instead of retrying in lockstep.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX);
    let full = BASE_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF);
    let half = full / 2;
    clamp(half + half.mul_f64(jitter()))
}

/// Wait for a server-provided hint: never earlier than asked, up to 20 % later (jitter),
/// then clamped to `[MIN_WAIT, MAX_WAIT]`.
pub(crate) fn wait_for_hint(hint: Duration) -> Duration {
    clamp(hint + hint.mul_f64(0.2 * jitter()))
}

pub(crate) fn clamp(wait: Duration) -> Duration {
    wait.clamp(MIN_WAIT, MAX_WAIT)
}

/// The server's "retry after" hint, unclamped (but capped at a day): `Retry-After`
/// delta-seconds first, else `x-ratelimit-reset` minus `now`. HTTP-date `Retry-After` values
/// are ignored; Auth0 documents only the `x-ratelimit-*` headers.
pub(crate) fn server_hint(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header_u64 = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let hint = if let Some(secs) = header_u64("retry-after") {
        Duration::from_secs(secs)
    } else {
        let reset = header_u64("x-ratelimit-reset")?;
        let now_secs = now.duration_since(UNIX_EPOCH).ok()?;
        Duration::from_secs(reset).saturating_sub(now_secs)
    };
    Some(hint.min(MAX_REPORTED_HINT))
}

/// A number in `[0, 1)` that differs between calls and processes. Jitter needs spread, not
/// unpredictability, so the clock mixed with a counter (splitmix64) is enough.
fn jitter() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut z = nanos ^ COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    // 53 high bits give an exactly representable fraction.
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    #[test]
    fn backoff_grows_within_bounds() {
        for attempt in 0..40 {
            let full = BASE_BACKOFF
                .saturating_mul(1u32 << attempt.min(16))
                .min(MAX_BACKOFF);
            for _ in 0..50 {
                let wait = backoff(attempt);
                assert!(
                    wait >= (full / 2).max(MIN_WAIT),
                    "attempt {attempt}: {wait:?}"
                );
                assert!(wait <= full, "attempt {attempt}: {wait:?}");
            }
        }
        assert!(backoff(u32::MAX) <= MAX_BACKOFF);
    }

    #[test]
    fn jitter_spreads() {
        let samples: Vec<f64> = (0..200).map(|_| jitter()).collect();
        assert!(samples.iter().all(|j| (0.0..1.0).contains(j)));
        let distinct = samples
            .iter()
            .map(|j| j.to_bits())
            .collect::<std::collections::HashSet<_>>();
        assert!(distinct.len() > 190);
    }

    #[test]
    fn retry_after_seconds() {
        let now = SystemTime::now();
        assert_eq!(
            server_hint(&headers(&[("retry-after", "3")]), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(server_hint(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(
            server_hint(&headers(&[("retry-after", "999999999")]), now),
            Some(MAX_REPORTED_HINT)
        );
    }

    #[test]
    fn ratelimit_reset_is_unix_seconds() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let h = headers(&[("x-ratelimit-reset", "1700000004")]);
        assert_eq!(server_hint(&h, now), Some(Duration::from_secs(4)));
        let past = headers(&[("x-ratelimit-reset", "1600000000")]);
        assert_eq!(server_hint(&past, now), Some(Duration::ZERO));
        // Retry-After wins when both are present.
        let both = headers(&[("x-ratelimit-reset", "1700000004"), ("retry-after", "1")]);
        assert_eq!(server_hint(&both, now), Some(Duration::from_secs(1)));
        assert_eq!(server_hint(&HeaderMap::new(), now), None);
    }

    #[test]
    fn hints_are_clamped() {
        assert_eq!(wait_for_hint(Duration::ZERO), MIN_WAIT);
        assert_eq!(wait_for_hint(Duration::from_secs(3600)), MAX_WAIT);
        let wait = wait_for_hint(Duration::from_secs(2));
        assert!(
            wait >= Duration::from_secs(2) && wait <= Duration::from_millis(2400),
            "{wait:?}"
        );
    }
}
