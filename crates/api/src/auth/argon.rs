//! argon2id work, bounded: each hash or verification takes 19 MiB and a core for ~40 ms, so at
//! most one per core runs at a time in this process and the rest wait their turn. Without the
//! bound, a burst of logins multiplies the memory (8 at once measured 198 MB RSS).

use std::sync::OnceLock;

use crypto::SecretString;
use tokio::sync::Semaphore;

use crate::problem::{ApiError, ApiResult};

fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Semaphore::new(cores)
    })
}

async fn bounded<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    let _permit = permits().acquire().await.map_err(ApiError::internal)?;
    // CPU-bound: keep it off the async workers.
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)
}

/// The argon2id PHC string of `secret`.
pub async fn hash(secret: SecretString) -> ApiResult<String> {
    bounded(move || crypto::password::hash_secret(&secret))
        .await?
        .map_err(ApiError::internal)
}

/// Whether `secret` matches `phc`; a malformed stored hash counts as no match.
pub async fn verify(secret: SecretString, phc: String) -> ApiResult<bool> {
    Ok(
        bounded(move || crypto::password::verify_secret(&secret, &phc))
            .await?
            .unwrap_or(false),
    )
}
