//! Reads of one secret by name, from any number of requests, answered together: the reads that
//! arrive while earlier ones are with the database go in one statement
//! (`store::secrets::read_many`), which finds every secret and writes every read's audit row. On
//! two shared cores most of a read's database cost was the fixed cost of a statement and its
//! commit, not the lookup. A quiet server still sends each read at once, alone; at most
//! [`IN_FLIGHT`] statements run at a time, and reads arriving meanwhile form the next one.
//!
//! Each request is still answered only after its audit row has committed (on the relaxed-commit
//! pool of read audit rows, see `AppState::audit_reads`).

use std::sync::{Arc, OnceLock};

use sqlx::PgPool;
use store::secrets::{AuditedRead, Secret};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Statements of reads running at once.
const IN_FLIGHT: usize = 2;
/// Reads in one statement at most.
const GROUP_MAX: usize = 64;
/// Reads waiting for a statement before a request waits for room.
const QUEUE: usize = 1024;

type Answer = store::Result<Option<Secret>>;
type Pending = (AuditedRead, oneshot::Sender<Answer>);

#[derive(Clone)]
pub struct SecretReads {
    pool: PgPool,
    /// Started on first use, inside the runtime that serves the requests.
    queue: Arc<OnceLock<mpsc::Sender<Pending>>>,
}

impl SecretReads {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            queue: Arc::default(),
        }
    }

    /// The secret `read` asks for, its audit row committed; `None` (nothing recorded) when it is
    /// not there.
    pub async fn read(&self, read: AuditedRead) -> Answer {
        let queue = self.queue.get_or_init(|| {
            let (queue, pending) = mpsc::channel(QUEUE);
            tokio::spawn(form_groups(self.pool.clone(), pending));
            queue
        });
        let (reply, answer) = oneshot::channel();
        let gone = || store::Error::Unavailable(sqlx::Error::PoolClosed);
        queue.send((read, reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// Ends when the last handle is dropped and the queue is empty.
async fn form_groups(pool: PgPool, mut pending: mpsc::Receiver<Pending>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        // A slot first: while every slot is busy, arriving reads queue into the next group.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut group = Vec::new();
        if pending.recv_many(&mut group, GROUP_MAX).await == 0 {
            return;
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            answer(&pool, group).await;
            drop(slot);
        });
    }
}

async fn answer(pool: &PgPool, group: Vec<Pending>) {
    let (reads, replies): (Vec<AuditedRead>, Vec<oneshot::Sender<Answer>>) =
        group.into_iter().unzip();
    match read_many(pool, &reads).await {
        Ok(answers) => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                // A request that went away no longer waits for its answer.
                let _ = reply.send(Ok(answer));
            }
        }
        // One read the database refuses must not fail its neighbours: each is tried alone, so
        // every request gets the outcome of its own read.
        Err(_) if reads.len() > 1 => {
            for (read, reply) in reads.iter().zip(replies) {
                let alone = read_many(pool, std::slice::from_ref(read)).await;
                let _ = reply.send(alone.map(|mut answers| answers.pop().flatten()));
            }
        }
        Err(err) => {
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(err));
            }
        }
    }
}

async fn read_many(pool: &PgPool, reads: &[AuditedRead]) -> store::Result<Vec<Option<Secret>>> {
    let mut conn = pool.acquire().await?;
    store::secrets::read_many(&mut conn, reads).await
}
