//! argon2id work, bounded: each hash or verification takes 19 MiB and a core for ~40 ms. It runs
//! on a fixed set of threads (one per core), each keeping one [`Workspace`] for its whole life, so
//! at most that many run at once, the rest queue, and argon2's memory is allocated once per thread
//! and never returned to the allocator. Hashing on tokio's blocking pool with fresh memory each
//! time left glibc holding 19 MiB in the arena of every thread that had ever hashed (8 concurrent
//! logins measured 163-198 MB RSS).

use std::sync::{Arc, Mutex, OnceLock, mpsc};

use crypto::SecretString;
use crypto::password::Workspace;
use tokio::sync::oneshot;

use crate::problem::{ApiError, ApiResult};

type Job = Box<dyn FnOnce(&mut Workspace) + Send>;

fn pool() -> &'static Mutex<mpsc::Sender<Job>> {
    static POOL: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        for n in 0..threads {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    let mut workspace = Workspace::new();
                    loop {
                        // The lock is held only while taking the next job, not while running it.
                        let next = match receiver.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match next {
                            Ok(job) => job(&mut workspace),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(err) = spawned {
                tracing::error!(%err, "could not start an argon2 thread");
            }
        }
        Mutex::new(sender)
    })
}

async fn bounded<T: Send + 'static>(
    work: impl FnOnce(&mut Workspace) -> T + Send + 'static,
) -> ApiResult<T> {
    let (done, result) = oneshot::channel();
    let job: Job = Box::new(move |workspace| {
        // The requester may have gone away (client disconnected); nothing to tell then.
        if done.send(work(workspace)).is_err() {
            tracing::debug!("argon2 result not collected: the request ended first");
        }
    });
    pool()
        .lock()
        .map_err(|_| ApiError::internal("argon2 pool poisoned"))?
        .send(job)
        .map_err(|_| ApiError::internal("argon2 threads stopped"))?;
    result
        .await
        .map_err(|_| ApiError::internal("argon2 job dropped"))
}

/// The argon2id PHC string of `secret`.
pub async fn hash(secret: SecretString) -> ApiResult<String> {
    bounded(move |workspace| workspace.hash(&secret))
        .await?
        .map_err(ApiError::internal)
}

/// Whether `secret` matches `phc`; a malformed stored hash counts as no match.
pub async fn verify(secret: SecretString, phc: String) -> ApiResult<bool> {
    Ok(bounded(move |workspace| workspace.verify(&secret, &phc))
        .await?
        .unwrap_or(false))
}
