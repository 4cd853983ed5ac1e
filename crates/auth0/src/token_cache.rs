//! One Management API token per (connection key, connection version), reused until shortly
//! before it expires instead of one token request per call.
//!
//! The cache is single-flight: callers that miss on the same key wait for the one request in
//! progress instead of each sending their own. A newer version of a key replaces the entry
//! (the credentials changed, so the old token must not be used), a 401 drops it
//! ([`TokenCache::invalidate`]), and hit/miss counters are plain atomics for metrics to read.
//! Keys are opaque strings: this crate still knows nothing of Keyhold's database.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;

use crate::error::Auth0Error;
use crate::http::Auth0Client;
use crate::token::{AccessToken, ClientCredentials};

/// Longest safety margin before expiry; Auth0's Management API tokens live 24 h.
const MAX_MARGIN: Duration = Duration::from_secs(300);

/// Cached Management API tokens. Share one per process (`Arc<TokenCache>`).
#[derive(Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

struct Slot {
    version: u64,
    // An async mutex: a caller that misses fetches while holding it, so the others wait for
    // that one request (single flight) and then find the token cached.
    cell: tokio::sync::Mutex<Option<Cached>>,
}

struct Cached {
    token: AccessToken,
    /// When the request that got it was sent: its scopes are Auth0's grants as of then.
    fetched_at: Instant,
    refresh_at: Instant,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.len())
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .finish()
    }
}

impl TokenCache {
    pub fn new() -> TokenCache {
        TokenCache::default()
    }

    /// Calls answered from the cache (including callers that waited for another's fetch).
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Calls that had to request a token.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Number of keys with an entry.
    pub fn len(&self) -> usize {
        self.lock_slots().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cached token for `key` at `version`, or the result of one call to `fetch` shared by
    /// every concurrent caller. Failures are not cached: the next caller tries again.
    pub async fn get_or_fetch<F, Fut>(
        &self,
        key: &str,
        version: u64,
        fetch: F,
    ) -> Result<AccessToken, Auth0Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, Auth0Error>>,
    {
        let Some(slot) = self.slot(key, version) else {
            // A caller still holding an older version: serve it, but never let it evict the
            // newer credentials' entry.
            self.misses.fetch_add(1, Ordering::Relaxed);
            return fetch().await;
        };
        let mut cell = slot.cell.lock().await;
        if let Some(cached) = cell.as_ref()
            && Instant::now() < cached.refresh_at
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(cached.token.clone());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let token = fetch().await?;
        *cell = Some(Cached {
            fetched_at: started,
            refresh_at: started + reuse_for(token.expires_in),
            token: token.clone(),
        });
        Ok(token)
    }

    /// The cached token for `key` at `version` if it was fetched less than `max_age` ago, without
    /// waiting for a fetch in progress: for checks that need grants as Auth0 states them now
    /// but can live with a few seconds' lag instead of a token request per check.
    pub fn fresh(&self, key: &str, version: u64, max_age: Duration) -> Option<AccessToken> {
        let slot = self.lock_slots().get(key).cloned()?;
        if slot.version != version {
            return None;
        }
        let cell = slot.cell.try_lock().ok()?;
        let cached = cell.as_ref()?;
        let now = Instant::now();
        (now < cached.refresh_at && now.duration_since(cached.fetched_at) < max_age).then(|| {
            self.hits.fetch_add(1, Ordering::Relaxed);
            cached.token.clone()
        })
    }

    /// The Management API token for `creds`, from the cache or the token endpoint.
    pub async fn token(
        &self,
        client: &Auth0Client,
        key: &str,
        version: u64,
        creds: &ClientCredentials,
    ) -> Result<AccessToken, Auth0Error> {
        self.get_or_fetch(key, version, || client.client_credentials_token(creds))
            .await
    }

    /// Drops `key`'s entry (a 401 from the Management API, or credentials that changed).
    pub fn invalidate(&self, key: &str) {
        self.lock_slots().remove(key);
    }

    /// Drops `key`'s entry only if it still holds `token`: after a 401 with an old token, a
    /// fresh token another caller fetched meanwhile survives.
    pub async fn invalidate_token(&self, key: &str, token: &AccessToken) {
        let slot = self.lock_slots().get(key).cloned();
        if let Some(slot) = slot {
            let mut cell = slot.cell.lock().await;
            let same = cell.as_ref().is_some_and(|cached| {
                cached.token.token.expose_secret() == token.token.expose_secret()
            });
            if same {
                *cell = None;
            }
        }
    }

    /// The slot for `key` at `version`, replacing one of an older version; `None` if the entry
    /// is already at a newer version.
    fn slot(&self, key: &str, version: u64) -> Option<Arc<Slot>> {
        let mut slots = self.lock_slots();
        match slots.get(key) {
            Some(slot) if slot.version == version => Some(Arc::clone(slot)),
            Some(slot) if slot.version > version => None,
            _ => {
                let slot = Arc::new(Slot {
                    version,
                    cell: tokio::sync::Mutex::new(None),
                });
                slots.insert(key.to_owned(), Arc::clone(&slot));
                Some(slot)
            }
        }
    }

    fn lock_slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Slot>>> {
        // Only map operations run under this lock; a poisoned map is still consistent.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How long a token with `expires_in` seconds is reused: until a tenth of its life (at most
/// five minutes) is left, so a token is never sent just as it expires.
fn reuse_for(expires_in: u64) -> Duration {
    let life = Duration::from_secs(expires_in);
    life.saturating_sub((life / 10).min(MAX_MARGIN))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use secrecy::SecretString;

    use super::*;

    fn token(value: &str, expires_in: u64) -> AccessToken {
        AccessToken {
            token: SecretString::from(value),
            token_type: "Bearer".into(),
            expires_in,
            scopes: vec![],
        }
    }

    #[test]
    fn reuse_window_leaves_a_margin() {
        assert_eq!(reuse_for(86_400), Duration::from_secs(86_400 - 300));
        assert_eq!(reuse_for(100), Duration::from_secs(90));
        assert_eq!(reuse_for(0), Duration::ZERO);
    }

    #[tokio::test]
    async fn fresh_serves_only_recent_tokens_of_the_same_version() {
        let cache = TokenCache::new();
        assert!(cache.fresh("conn", 1, Duration::from_secs(60)).is_none());
        cache
            .get_or_fetch("conn", 1, || async { Ok(token("t1", 3600)) })
            .await
            .expect("fetch");
        let recent = cache.fresh("conn", 1, Duration::from_secs(60));
        assert_eq!(
            recent
                .map(|t| t.token.expose_secret().to_owned())
                .as_deref(),
            Some("t1")
        );
        assert!(cache.fresh("conn", 2, Duration::from_secs(60)).is_none());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            cache.fresh("conn", 1, Duration::from_millis(10)).is_none(),
            "older than the caller accepts"
        );
    }

    #[tokio::test]
    async fn concurrent_cold_callers_share_one_fetch() {
        let cache = Arc::new(TokenCache::new());
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let cache = Arc::clone(&cache);
            let fetches = Arc::clone(&fetches);
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch("conn", 1, || async {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        Ok(token("t1", 3600))
                    })
                    .await
            }));
        }
        for task in tasks {
            let got = task.await.expect("join").expect("token");
            assert_eq!(got.token.expose_secret(), "t1");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert_eq!((cache.misses(), cache.hits()), (1, 15));
    }

    #[tokio::test]
    async fn new_version_replaces_and_old_version_cannot_evict() {
        let cache = TokenCache::new();
        let v1 = cache
            .get_or_fetch("conn", 1, || async { Ok(token("t1", 3600)) })
            .await
            .expect("v1");
        assert_eq!(v1.token.expose_secret(), "t1");
        let v2 = cache
            .get_or_fetch("conn", 2, || async { Ok(token("t2", 3600)) })
            .await
            .expect("v2");
        assert_eq!(v2.token.expose_secret(), "t2");
        let stale = cache
            .get_or_fetch("conn", 1, || async { Ok(token("t1-again", 3600)) })
            .await
            .expect("stale");
        assert_eq!(stale.token.expose_secret(), "t1-again");
        let again = cache
            .get_or_fetch("conn", 2, || async { Ok(token("unused", 3600)) })
            .await
            .expect("cached");
        assert_eq!(again.token.expose_secret(), "t2");
        assert_eq!((cache.misses(), cache.hits()), (3, 1));
    }

    #[tokio::test]
    async fn failures_are_not_cached_and_invalidate_drops() {
        let cache = TokenCache::new();
        let err = cache
            .get_or_fetch("conn", 1, || async { Err(Auth0Error::WrongCredentials) })
            .await;
        assert!(matches!(err, Err(Auth0Error::WrongCredentials)));
        let ok = cache
            .get_or_fetch("conn", 1, || async { Ok(token("t1", 3600)) })
            .await
            .expect("token");
        cache.invalidate_token("conn", &token("other", 1)).await;
        let still = cache
            .get_or_fetch("conn", 1, || async { Ok(token("unused", 3600)) })
            .await
            .expect("cached");
        assert_eq!(still.token.expose_secret(), "t1");
        cache.invalidate_token("conn", &ok).await;
        let fresh = cache
            .get_or_fetch("conn", 1, || async { Ok(token("t2", 3600)) })
            .await
            .expect("refetched");
        assert_eq!(fresh.token.expose_secret(), "t2");
        cache.invalidate("conn");
        assert!(cache.is_empty());
    }

    #[tokio::test]
    async fn expiring_tokens_are_refetched() {
        let cache = TokenCache::new();
        cache
            .get_or_fetch("conn", 1, || async { Ok(token("short", 0)) })
            .await
            .expect("token");
        let next = cache
            .get_or_fetch("conn", 1, || async { Ok(token("next", 3600)) })
            .await
            .expect("token");
        assert_eq!(next.token.expose_secret(), "next");
        assert!(!format!("{cache:?}").contains("next"));
    }
}
