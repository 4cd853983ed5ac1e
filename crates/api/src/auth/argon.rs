//! argon2id work, bounded: each hash or verification takes 19 MiB and a core for ~40 ms. It runs
//! on a fixed set of threads (one per core), each keeping one [`Workspace`] while logins come, so
//! at most that many run at once, the rest queue, and a burst of logins allocates argon2's memory
//! once per thread instead of once per hash. Hashing on tokio's blocking pool with fresh memory each
//! time left glibc holding 19 MiB in the arena of every thread that had ever hashed (8 concurrent
//! logins measured 163-198 MB RSS). A thread that has hashed nothing for [`KEEP_WORKSPACE`] drops
//! its workspace: 19 MiB is one allocation, which both glibc and mimalloc give back to the system,
//! so a server that serves reads between logins does not hold 38 MB (two cores) for nothing. How
//! many jobs may queue is bounded by [`ArgonQueue`].

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crypto::SecretString;
use crypto::password::Workspace;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::problem::{ApiError, ApiResult};

type Job = Box<dyn FnOnce(&mut Workspace) + Send>;

/// How long a thread keeps its workspace after its last job: long enough that a fleet logging in
/// over a few seconds allocates it once, short against the hours between a token's renewals.
pub const KEEP_WORKSPACE: Duration = Duration::from_secs(5);

/// The argon2 threads and their queue of jobs.
pub struct Pool {
    jobs: Mutex<mpsc::Sender<Job>>,
    held: Arc<AtomicUsize>,
}

impl Pool {
    /// Starts `threads` argon2 threads, each dropping its workspace after `keep` without work.
    pub fn start(threads: usize, keep: Duration) -> Pool {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let held = Arc::new(AtomicUsize::new(0));
        for n in 0..threads {
            let receiver = receiver.clone();
            let held = held.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || serve(&receiver, &held, keep));
            if let Err(err) = spawned {
                tracing::error!(%err, "could not start an argon2 thread");
            }
        }
        Pool {
            jobs: Mutex::new(sender),
            held,
        }
    }

    /// Workspaces allocated now (19 MiB each).
    pub fn workspaces_held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    fn send(&self, job: Job) -> ApiResult<()> {
        self.jobs
            .lock()
            .map_err(|_| ApiError::internal("argon2 pool poisoned"))?
            .send(job)
            .map_err(|_| ApiError::internal("argon2 threads stopped"))
    }
}

/// One argon2 thread: runs jobs until the pool is gone.
fn serve(receiver: &Mutex<mpsc::Receiver<Job>>, held: &AtomicUsize, keep: Duration) {
    let mut workspace: Option<Workspace> = None;
    loop {
        // The lock is held only while waiting for the next job, not while running it.
        let next = {
            let Ok(queue) = receiver.lock() else { return };
            if workspace.is_some() {
                queue.recv_timeout(keep)
            } else {
                queue.recv().map_err(|_| RecvTimeoutError::Disconnected)
            }
        };
        match next {
            Ok(job) => {
                let workspace = workspace.get_or_insert_with(|| {
                    held.fetch_add(1, Ordering::Relaxed);
                    Workspace::new()
                });
                job(workspace);
            }
            Err(RecvTimeoutError::Timeout) => {
                workspace = None;
                held.fetch_sub(1, Ordering::Relaxed);
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The process's argon2 threads, one per core.
pub fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::start(threads(), KEEP_WORKSPACE))
}

/// Places in the argon2 queue (waiting or running), per [`crate::AppState`]. A login takes one
/// with [`ArgonQueue::try_enter`] and is refused at once when none is free, so a flood of logins
/// from many addresses makes logins answer 429 instead of making every login wait seconds behind an
/// unbounded queue. The place belongs to the hash job and is given back on the argon2 thread when
/// the hash is done, whatever became of the request that asked for it.
#[derive(Clone)]
pub struct ArgonQueue {
    places: Arc<Semaphore>,
    capacity: usize,
    entered: Arc<AtomicU64>,
    rejected: Arc<AtomicU64>,
}

/// A place in the queue, held by the job it is given to.
pub struct Place {
    _permit: OwnedSemaphorePermit,
    hashed: Arc<AtomicU64>,
}

impl Default for ArgonQueue {
    /// 16 jobs per argon2 thread (about 0.3 s of work each), at least 32: enough for a fleet
    /// logging in together, short enough that the last in the queue still answers within a second.
    fn default() -> Self {
        ArgonQueue::new((threads() * 16).max(32))
    }
}

impl ArgonQueue {
    pub fn new(capacity: usize) -> Self {
        ArgonQueue {
            places: Arc::new(Semaphore::new(capacity)),
            capacity,
            entered: Arc::default(),
            rejected: Arc::default(),
        }
    }

    /// A place now, or `None` when the queue is full.
    pub fn try_enter(&self) -> Option<Place> {
        match self.places.clone().try_acquire_owned() {
            Ok(permit) => Some(Place {
                _permit: permit,
                hashed: self.entered.clone(),
            }),
            Err(_) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// A place, waiting for one: for hashing by instance admins, who cannot flood the queue.
    pub async fn enter(&self) -> ApiResult<Place> {
        let permit = self
            .places
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("argon2 queue closed"))?;
        Ok(Place {
            _permit: permit,
            hashed: self.entered.clone(),
        })
    }

    /// Jobs queued or running now.
    pub fn in_use(&self) -> usize {
        self.capacity - self.places.available_permits()
    }

    /// Jobs started so far: places used for hashing (a place taken and given back unused, as by
    /// a login the throttle then refused, does not count).
    pub fn entered(&self) -> u64 {
        self.entered.load(Ordering::Relaxed)
    }

    /// Logins refused so far because the queue was full.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

async fn run<T: Send + 'static>(
    pool: &Pool,
    place: Option<Place>,
    work: impl FnOnce(&mut Workspace) -> T + Send + 'static,
) -> ApiResult<T> {
    if let Some(place) = &place {
        place.hashed.fetch_add(1, Ordering::Relaxed);
    }
    let (done, result) = oneshot::channel();
    let job: Job = Box::new(move |workspace| {
        let outcome = work(workspace);
        drop(place);
        // The requester may have gone away (client disconnected); nothing to tell then.
        if done.send(outcome).is_err() {
            tracing::debug!("argon2 result not collected: the request ended first");
        }
    });
    pool.send(job)?;
    result
        .await
        .map_err(|_| ApiError::internal("argon2 job dropped"))
}

/// The argon2id PHC string of `secret`.
pub async fn hash(place: Place, secret: SecretString) -> ApiResult<String> {
    run(pool(), Some(place), move |workspace| {
        workspace.hash(&secret)
    })
    .await?
    .map_err(ApiError::internal)
}

/// `hash` outside the queue's bound, for the one decoy hash a process makes: logins holding every
/// place may be waiting for it.
pub async fn hash_unqueued(secret: SecretString) -> ApiResult<String> {
    run(pool(), None, move |workspace| workspace.hash(&secret))
        .await?
        .map_err(ApiError::internal)
}

/// Whether `secret` matches `phc`; a malformed stored hash counts as no match.
pub async fn verify(place: Place, secret: SecretString, phc: String) -> ApiResult<bool> {
    Ok(run(pool(), Some(place), move |workspace| {
        workspace.verify(&secret, &phc)
    })
    .await?
    .unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_idle_thread_gives_its_workspace_back_and_takes_a_new_one_for_the_next_job() {
        let pool = Pool::start(1, Duration::from_millis(100));
        assert_eq!(
            pool.workspaces_held(),
            0,
            "nothing is allocated before the first job"
        );
        let phc = run(&pool, None, |w| {
            w.hash(&SecretString::from("first".to_owned()))
        })
        .await
        .expect("the job ran")
        .expect("argon2 answered");
        assert_eq!(pool.workspaces_held(), 1);
        let mut waited = Duration::ZERO;
        while pool.workspaces_held() > 0 && waited < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            waited += Duration::from_millis(20);
        }
        assert_eq!(pool.workspaces_held(), 0, "dropped after the idle time");
        let matches = run(&pool, None, move |w| {
            w.verify(&SecretString::from("first".to_owned()), &phc)
        })
        .await
        .expect("the job ran")
        .expect("argon2 answered");
        assert!(
            matches,
            "a fresh workspace verifies what the old one hashed"
        );
        assert_eq!(pool.workspaces_held(), 1);
    }
}
