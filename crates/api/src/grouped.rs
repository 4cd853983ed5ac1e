//! Reads from any number of requests, answered together: the reads of one kind that arrive while
//! earlier ones are with the database go in one statement. On two shared cores most of a small
//! read's cost, on both sides, was the fixed cost of a statement (its round trip, its wake-ups and,
//! for an audited read, its commit), not the lookup. A quiet server still sends each read at once,
//! alone; at most [`IN_FLIGHT`] statements of a kind run at a time, and reads arriving meanwhile
//! form the next one. This is not a cache: every read is answered by a statement that started
//! after the read arrived, so it sees every change committed before the request came in.
//!
//! Three kinds: [`SecretByName`] (a secret's value by environment, path and key, with the read's
//! audit row committed in the same statement), [`ConnectionById`] (an app connection, the most
//! frequent read of the API) and [`RotationById`] (a rotation with the details its answer shows).

use std::future::Future;
use std::sync::{Arc, OnceLock};

use sqlx::PgPool;
use store::connections::Connection;
use store::rotations::detailed::{self, Detailed};
use store::secrets::{AuditedRead, Secret};
use store::{ConnectionId, OrgId, RotationId};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Statements of one kind running at once.
const IN_FLIGHT: usize = 2;
/// Reads in one statement at most.
const GROUP_MAX: usize = 64;
/// Reads waiting for a statement before a request waits for room.
const QUEUE: usize = 1024;

/// A kind of read that can be answered many at a time.
pub trait Statement: Send + Sync + 'static {
    type Read: Send + Sync + 'static;
    type Found: Send + 'static;
    /// One entry per read, in order: `None` where nothing was found.
    fn run(
        pool: &PgPool,
        reads: &[Self::Read],
    ) -> impl Future<Output = store::Result<Vec<Option<Self::Found>>>> + Send;
}

type Answer<S> = store::Result<Option<<S as Statement>::Found>>;
type Pending<S> = (<S as Statement>::Read, oneshot::Sender<Answer<S>>);

pub struct Grouped<S: Statement> {
    pool: PgPool,
    /// Started on first use, inside the runtime that serves the requests.
    queue: Arc<OnceLock<mpsc::Sender<Pending<S>>>>,
}

impl<S: Statement> Clone for Grouped<S> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            queue: self.queue.clone(),
        }
    }
}

impl<S: Statement> Grouped<S> {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            queue: Arc::default(),
        }
    }

    /// What `read` finds (`None` when it is not there), answered by a statement that started
    /// after this call.
    pub async fn read(&self, read: S::Read) -> Answer<S> {
        let queue = self.queue.get_or_init(|| {
            let (queue, pending) = mpsc::channel(QUEUE);
            tokio::spawn(form_groups::<S>(self.pool.clone(), pending));
            queue
        });
        let (reply, answer) = oneshot::channel();
        let gone = || store::Error::Unavailable(sqlx::Error::PoolClosed);
        queue.send((read, reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// Ends when the last handle is dropped and the queue is empty.
async fn form_groups<S: Statement>(pool: PgPool, mut pending: mpsc::Receiver<Pending<S>>) {
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
            answer::<S>(&pool, group).await;
            drop(slot);
        });
    }
}

async fn answer<S: Statement>(pool: &PgPool, group: Vec<Pending<S>>) {
    let (reads, replies): (Vec<S::Read>, Vec<oneshot::Sender<Answer<S>>>) =
        group.into_iter().unzip();
    match S::run(pool, &reads).await {
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
                let alone = S::run(pool, std::slice::from_ref(read)).await;
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

/// A secret's value by name, its audit row written by the same statement (on the relaxed-commit
/// pool of read audit rows, see `AppState::audit_reads`): each request is still answered only
/// after its own row has committed.
pub struct SecretByName;

impl Statement for SecretByName {
    type Read = AuditedRead;
    type Found = Secret;

    async fn run(pool: &PgPool, reads: &[AuditedRead]) -> store::Result<Vec<Option<Secret>>> {
        let mut conn = pool.acquire().await?;
        store::secrets::read_many(&mut conn, reads).await
    }
}

/// An app connection by id, found only in the caller's organisation.
pub struct ConnectionById;

impl Statement for ConnectionById {
    type Read = (OrgId, ConnectionId);
    type Found = Connection;

    async fn run(
        pool: &PgPool,
        reads: &[(OrgId, ConnectionId)],
    ) -> store::Result<Vec<Option<Connection>>> {
        store::connections::get_in_orgs(pool, reads).await
    }
}

/// A rotation by id, found only in the caller's organisation, with its connection's name, its
/// mapping and its overlap: three or four statements for the whole group.
pub struct RotationById;

impl Statement for RotationById {
    type Read = (OrgId, RotationId);
    type Found = Detailed;

    async fn run(
        pool: &PgPool,
        reads: &[(OrgId, RotationId)],
    ) -> store::Result<Vec<Option<Detailed>>> {
        detailed::get_in_orgs(pool, reads).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    static STATEMENTS: AtomicUsize = AtomicUsize::new(0);

    /// Finds twice an even number, nothing for an odd one; a group holding 13 fails as a whole,
    /// as a statement does when the database refuses one of its reads.
    struct Doubles;

    impl Statement for Doubles {
        type Read = u32;
        type Found = u32;

        async fn run(_pool: &PgPool, reads: &[u32]) -> store::Result<Vec<Option<u32>>> {
            STATEMENTS.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            if reads.contains(&13) {
                return Err(store::Error::NotFound);
            }
            Ok(reads
                .iter()
                .map(|&n| (n % 2 == 0).then_some(n * 2))
                .collect())
        }
    }

    #[tokio::test]
    async fn reads_arriving_together_share_statements_and_each_gets_its_own_answer() {
        let pool = PgPool::connect_lazy("postgres://unused").expect("lazy pool");
        let grouped = Grouped::<Doubles>::new(pool);
        let answers = futures_util::future::join_all((0..200).map(|n| grouped.read(n))).await;
        for (n, answer) in (0u32..).zip(answers) {
            match (n, answer) {
                (13, Err(store::Error::NotFound)) => {}
                (13, other) => panic!("13 answered {other:?}"),
                (n, Ok(found)) => assert_eq!(found, (n % 2 == 0).then_some(n * 2), "{n}"),
                (n, Err(err)) => panic!("{n} failed with its neighbour: {err}"),
            }
        }
        let statements = STATEMENTS.load(Ordering::SeqCst);
        // The group that held 13 is retried read by read (at most GROUP_MAX more statements).
        assert!(
            statements < 200 / 2 + GROUP_MAX,
            "{statements} statements for 200 reads"
        );
    }
}
