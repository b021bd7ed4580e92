//! Group commit for the hot write paths: draw batches and shop redemptions.
//!
//! Wallet actors hand their writes to a small pool of committer tasks. A committer takes
//! whatever is queued (up to [`MAX_GROUP`] writes, without waiting for more) and writes it all
//! in ONE transaction: multi-row inserts for draws, orders and ledger rows, one guarded stock
//! update per prize or product, one guarded balance update for all the wallets. Each actor is
//! answered only after that transaction has committed. If the group fails, every write in it is
//! retried on its own, so one bad write is refused alone and never sinks its neighbours — unless
//! the store itself is unreachable: then every write of the group gets that answer at once,
//! since retrying each on its own would make the last one wait a connect timeout per neighbour.
//!
//! Draw and order ids are assigned by the server from reserved id blocks (`id_blocks`), so a
//! multi-row insert still tells each customer their ids.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot, Mutex};

use super::shop::{CommittedOrder, RedemptionWrite};
use super::wheel::{CommittedBatch, DrawBatchWrite};
use super::{Store, StoreError, StoreResult};

/// The most draw batches written in one transaction.
pub const MAX_GROUP: usize = 256;
/// How many draw ids a server reserves at a time.
const ID_BLOCK: i64 = 10_000;

/// A kind of write that can be committed many at a time.
pub trait GroupWrite: Sized + Send + Sync + 'static {
    type Output: Send + 'static;
    /// Commits all of `writes` in one transaction, or none of them.
    fn commit_group<'a>(store: &'a Store, writes: &'a [Self]) -> BoxFuture<'a, StoreResult<Vec<Self::Output>>>;
}

impl GroupWrite for DrawBatchWrite {
    type Output = CommittedBatch;
    fn commit_group<'a>(store: &'a Store, writes: &'a [Self]) -> BoxFuture<'a, StoreResult<Vec<CommittedBatch>>> {
        Box::pin(store.commit_draw_group(writes))
    }
}

impl GroupWrite for RedemptionWrite {
    type Output = CommittedOrder;
    fn commit_group<'a>(store: &'a Store, writes: &'a [Self]) -> BoxFuture<'a, StoreResult<Vec<CommittedOrder>>> {
        Box::pin(store.commit_redemption_group(writes))
    }
}

struct Job<W: GroupWrite> {
    write: W,
    reply: oneshot::Sender<StoreResult<W::Output>>,
}

/// Submits writes of one kind to their committers. Cheap to clone.
pub struct Committer<W: GroupWrite> {
    tx: mpsc::Sender<Job<W>>,
}

impl<W: GroupWrite> Clone for Committer<W> {
    fn clone(&self) -> Self {
        Committer { tx: self.tx.clone() }
    }
}

pub type DrawCommitter = Committer<DrawBatchWrite>;
pub type RedemptionCommitter = Committer<RedemptionWrite>;

impl<W: GroupWrite> Committer<W> {
    /// Starts `workers` committers over `store`.
    pub fn start(store: Store, workers: usize) -> Committer<W> {
        let (tx, rx) = mpsc::channel::<Job<W>>(MAX_GROUP * 16);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..workers.max(1) {
            tokio::spawn(commit_loop(store.clone(), rx.clone()));
        }
        Committer { tx }
    }

    /// Writes one write; answers after the transaction that holds it has committed.
    pub async fn commit(&self, write: W) -> StoreResult<W::Output> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { write, reply })
            .await
            .map_err(|_| StoreError::Conflict("the committer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Conflict("the committer dropped a write".into()))?
    }
}

async fn commit_loop<W: GroupWrite>(store: Store, rx: Arc<Mutex<mpsc::Receiver<Job<W>>>>) {
    // Reused from group to group: the writes are moved out of their jobs (not cloned: a draw
    // batch owns its sectors' names and codes) and their reply channels kept beside them.
    let mut writes: Vec<W> = Vec::with_capacity(MAX_GROUP);
    let mut replies: Vec<oneshot::Sender<StoreResult<W::Output>>> = Vec::with_capacity(MAX_GROUP);
    loop {
        {
            // One committer waits for work at a time; whoever holds the queue takes all it can.
            let mut queue = rx.lock().await;
            let Some(first) = queue.recv().await else { return };
            writes.push(first.write);
            replies.push(first.reply);
            while writes.len() < MAX_GROUP {
                match queue.try_recv() {
                    Ok(job) => {
                        writes.push(job.write);
                        replies.push(job.reply);
                    }
                    Err(_) => break,
                }
            }
        }
        metrics::histogram!("group_commit_size").record(writes.len() as f64);
        match W::commit_group(&store, &writes).await {
            Ok(done) => {
                for (reply, output) in replies.drain(..).zip(done) {
                    // A dropped receiver means the wallet gave up waiting; the write is committed.
                    let _ = reply.send(Ok(output));
                }
            }
            Err(e) if writes.len() == 1 => {
                let _ = replies.pop().map(|r| r.send(Err(e)));
            }
            Err(StoreError::Unavailable(e)) => {
                tracing::warn!(error = %e, size = writes.len(), "group commit failed: the store is unreachable");
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(StoreError::Unavailable(same_failure(&e))));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, size = writes.len(), "group commit failed; committing its writes one by one");
                for (write, reply) in writes.iter().zip(replies.drain(..)) {
                    let result = W::commit_group(&store, std::slice::from_ref(write)).await.map(|mut v| v.remove(0));
                    let _ = reply.send(result);
                }
            }
        }
        writes.clear();
        replies.clear();
    }
}

/// The failure `e` again, for each write of a group that met it: whether anything may have been
/// written (see [`StoreError::nothing_written`]) is kept.
fn same_failure(e: &sqlx::Error) -> sqlx::Error {
    match e {
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        other => sqlx::Error::Io(std::io::Error::other(other.to_string())),
    }
}

/// Hands out server-assigned ids from blocks reserved in `id_blocks`.
pub struct IdBlocks {
    name: &'static str,
    range: Mutex<(i64, i64)>,
}

impl IdBlocks {
    pub fn new(name: &'static str) -> IdBlocks {
        IdBlocks { name, range: Mutex::new((0, 0)) }
    }

    /// The first of `n` consecutive fresh ids. Must not be called inside a write transaction
    /// (reserving a block takes one of its own).
    pub async fn allocate(&self, store: &Store, n: i64) -> StoreResult<i64> {
        let mut range = self.range.lock().await;
        if range.0 + n > range.1 {
            let size = ID_BLOCK.max(n);
            let mut tx = store.begin_write().await?;
            sqlx::query("UPDATE id_blocks SET next_id = next_id + ? WHERE name = ?")
                .bind(size)
                .bind(self.name)
                .execute(tx.conn())
                .await?;
            let end: i64 = sqlx::query_scalar("SELECT next_id FROM id_blocks WHERE name = ?")
                .bind(self.name)
                .fetch_one(tx.conn())
                .await?;
            tx.commit().await?;
            *range = (end - size, end);
        }
        let first = range.0;
        range.0 += n;
        Ok(first)
    }
}
