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

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};
use store::connections::Connection;
use store::rotations::detailed::{self, Detailed};
use store::secrets::{AuditedRead, Secret};
use store::{ConnectionId, OrgId, RotationId};
use tokio::sync::{Mutex, mpsc, oneshot};

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
        conn: &mut PgConnection,
        reads: &[Self::Read],
    ) -> impl Future<Output = store::Result<Vec<Option<Self::Found>>>> + Send;
}

type Answer<S> = store::Result<Option<<S as Statement>::Found>>;
type Pending<S> = (<S as Statement>::Read, oneshot::Sender<Answer<S>>);
type Queue<S> = Arc<Mutex<mpsc::Receiver<Pending<S>>>>;

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
            let pending: Queue<S> = Arc::new(Mutex::new(pending));
            for _ in 0..IN_FLIGHT {
                tokio::spawn(answer_groups::<S>(self.pool.clone(), pending.clone()));
            }
            queue
        });
        let (reply, answer) = oneshot::channel();
        let gone = || store::Error::Unavailable(sqlx::Error::PoolClosed);
        queue.send((read, reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// One of [`IN_FLIGHT`] answerers: waits for reads, then answers group after group on one
/// connection for as long as reads keep coming, and gives the connection back when none wait.
/// A pooled connection is checked with a round trip to PostgreSQL each time it goes back to the
/// pool; under load that check, per statement, cost as much as the statement. Ends when the last
/// handle is dropped and the queue is empty.
async fn answer_groups<S: Statement>(pool: PgPool, pending: Queue<S>) {
    loop {
        let mut group = Vec::new();
        // While one answerer waits here for reads, the other may be answering.
        if pending.lock().await.recv_many(&mut group, GROUP_MAX).await == 0 {
            return;
        }
        let mut conn = None;
        while !group.is_empty() {
            conn = answer::<S>(&pool, conn, std::mem::take(&mut group)).await;
            // Reads that arrived meanwhile, unless the other answerer is already waiting for them.
            if let Ok(mut queue) = pending.try_lock() {
                while group.len() < GROUP_MAX {
                    match queue.try_recv() {
                        Ok(read) => group.push(read),
                        Err(_) => break,
                    }
                }
            }
        }
    }
}

/// Answers `group` on `conn` (or a connection from the pool), and hands back the connection
/// unless a statement on it failed.
async fn answer<S: Statement>(
    pool: &PgPool,
    conn: Option<PoolConnection<Postgres>>,
    group: Vec<Pending<S>>,
) -> Option<PoolConnection<Postgres>> {
    let (reads, replies): (Vec<S::Read>, Vec<oneshot::Sender<Answer<S>>>) =
        group.into_iter().unzip();
    let mut conn = match conn {
        Some(conn) => conn,
        None => match pool.acquire().await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::warn!(%err, "no database connection for a group of reads");
                for reply in replies {
                    let _ = reply.send(Err(unavailable(&err)));
                }
                return None;
            }
        },
    };
    match S::run(&mut conn, &reads).await {
        Ok(answers) => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                // A request that went away no longer waits for its answer.
                let _ = reply.send(Ok(answer));
            }
            Some(conn)
        }
        // The connection may be what failed: it goes back to the pool, whose check closes it if
        // it is broken. One read the database refuses must not fail its neighbours either: each
        // is tried alone, on fresh connections, so every request gets the outcome of its own read.
        Err(err) => {
            drop(conn);
            if reads.len() == 1 {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(err));
                }
                return None;
            }
            for (read, reply) in reads.iter().zip(replies) {
                let alone = match pool.acquire().await {
                    Ok(mut conn) => S::run(&mut conn, std::slice::from_ref(read)).await,
                    Err(err) => Err(err.into()),
                };
                let _ = reply.send(alone.map(|mut answers| answers.pop().flatten()));
            }
            None
        }
    }
}

/// The error each read of a group gets when no connection could be had for it (sqlx errors are
/// not `Clone`): the pool is closed (shutting down) or out of connections.
fn unavailable(err: &sqlx::Error) -> store::Error {
    store::Error::Unavailable(match err {
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        _ => sqlx::Error::PoolTimedOut,
    })
}

/// A secret's value by name, its audit row written by the same statement (on the relaxed-commit
/// pool of read audit rows, see `AppState::audit_reads`): each request is still answered only
/// after its own row has committed.
pub struct SecretByName;

impl Statement for SecretByName {
    type Read = AuditedRead;
    type Found = Secret;

    async fn run(
        conn: &mut PgConnection,
        reads: &[AuditedRead],
    ) -> store::Result<Vec<Option<Secret>>> {
        store::secrets::read_many(conn, reads).await
    }
}

/// An app connection by id, found only in the caller's organisation.
pub struct ConnectionById;

impl Statement for ConnectionById {
    type Read = (OrgId, ConnectionId);
    type Found = Connection;

    async fn run(
        conn: &mut PgConnection,
        reads: &[(OrgId, ConnectionId)],
    ) -> store::Result<Vec<Option<Connection>>> {
        store::connections::get_in_orgs(conn, reads).await
    }
}

/// A rotation by id, found only in the caller's organisation, with its connection's name, its
/// mapping and its overlap: three or four statements for the whole group.
pub struct RotationById;

impl Statement for RotationById {
    type Read = (OrgId, RotationId);
    type Found = Detailed;

    async fn run(
        conn: &mut PgConnection,
        reads: &[(OrgId, RotationId)],
    ) -> store::Result<Vec<Option<Detailed>>> {
        detailed::get_in_orgs(conn, reads).await
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

        async fn run(_conn: &mut PgConnection, reads: &[u32]) -> store::Result<Vec<Option<u32>>> {
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

    #[sqlx::test(migrations = false)]
    async fn reads_arriving_together_share_statements_and_each_gets_its_own_answer(pool: PgPool) {
        let grouped = Grouped::<Doubles>::new(pool.clone());
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
        // Connections are held only while reads keep coming: once none wait, all are back.
        let all_back = async {
            while pool.num_idle() < pool.size() as usize {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), all_back)
            .await
            .expect("every connection back in the pool");
    }
}
