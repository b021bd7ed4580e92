//! The store: the only module that speaks SQL.
//!
//! One code path for SQLite (the embedded default) and MySQL/MariaDB, through sqlx's Any driver
//! with portable column types. Every write is a transaction; callers are answered only after it
//! commits. SQLite allows one writer at a time, so for it write transactions queue on an in-process
//! gate instead of failing with "database is locked".

pub mod admins;
pub mod audit;
pub mod campaigns;
pub mod cluster;
pub mod group_commit;
pub mod ledger;
pub mod loyalty;
pub mod reconcile;
pub mod reviews;
pub mod shop;
pub mod tokens;
pub mod users;
pub mod wechat;
pub mod wheel;

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::MigrateDatabase;
use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite only: serializes write transactions (SQLite has a single writer).
    write_gate: Option<Arc<Mutex<()>>>,
    /// Server-assigned draw and order ids (see `group_commit`).
    pub(crate) draw_ids: Arc<group_commit::IdBlocks>,
    pub(crate) order_ids: Arc<group_commit::IdBlocks>,
}

/// How long a use of the store waits for a connection unless `DB_ACQUIRE_TIMEOUT_MS` says
/// otherwise: short enough that an outage answers 503 within the 2 s the contract allows.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1000);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached; clients see 503.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A row changed underneath an actor that believed it owned it.
    #[error("conflict: {0}")]
    Conflict(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            other => StoreError::Database(other),
        }
    }
}

impl StoreError {
    /// True when the failed write certainly changed nothing: the database refused it (and rolled
    /// back), or no connection was ever had. False when the commit may have happened (the
    /// connection broke, or nobody waited to hear).
    pub fn nothing_written(&self) -> bool {
        match self {
            StoreError::Database(_) | StoreError::Conflict(_) => true,
            StoreError::Unavailable(e) => matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed),
        }
    }

    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(e) => is_unique_violation(e),
            _ => false,
        }
    }
}

pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation())
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A write transaction; for SQLite it also holds the writer gate until it ends. Dropped without
/// `commit` (an early return, an error, a caller that gave up), it rolls back.
pub struct WriteTx {
    /// `None` once committed or rolled back.
    tx: Option<Transaction<'static, Any>>,
    gate: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// The transaction's connection, to run statements on: `.execute(tx.conn())`.
    pub fn conn(&mut self) -> &mut AnyConnection {
        // Only `commit` and `rollback` take the transaction, and both consume `self`.
        self.tx.as_deref_mut().expect("a WriteTx holds its transaction until it ends")
    }

    pub async fn commit(mut self) -> StoreResult<()> {
        if let Some(tx) = self.tx.take() {
            tx.commit().await?;
        }
        Ok(())
    }

    /// Ends a write that changed nothing worth keeping, at once.
    pub async fn rollback(mut self) -> StoreResult<()> {
        if let Some(tx) = self.tx.take() {
            tx.rollback().await?;
        }
        Ok(())
    }
}

impl Drop for WriteTx {
    /// sqlx rolls a dropped transaction back only at the connection's next use. Releasing the
    /// SQLite gate before that would let the next writer find the write lock still held and fail
    /// as "database is locked", so the gate goes only after the rollback has run.
    fn drop(&mut self) {
        let (Some(tx), Some(gate)) = (self.tx.take(), self.gate.take()) else { return };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = tx.rollback().await {
                    tracing::warn!(error = %e, "rolling back an abandoned write failed");
                }
                drop(gate);
            });
        }
    }
}

/// Prepared statements each MySQL connection keeps (sqlx's default is 100). Group commit writes
/// a batch with one multi-row statement per table whose text depends on the row count, so under
/// load a connection meets a few hundred distinct statements; with 100 it evicted and prepared
/// again about once per batch, and preparing an insert of n rows costs a round trip and one
/// parameter description per bound value on both sides. At the default pool of 16 a server holds
/// at most 4,096, a quarter of MariaDB's `max_prepared_stmt_count` (16,382 for all clients).
const MYSQL_STATEMENT_CACHE: usize = 256;

/// `url` with the statement cache set, unless the operator set one.
fn with_statement_cache(url: &str) -> String {
    if url.contains("statement-cache-capacity=") {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}statement-cache-capacity={MYSQL_STATEMENT_CACHE}")
}

impl Store {
    /// Connects, creating the database (or the SQLite file and its folder) when missing.
    pub async fn connect(url: &str, pool_size: u32) -> anyhow::Result<Store> {
        Store::connect_with(url, pool_size, ACQUIRE_TIMEOUT).await
    }

    /// [`Store::connect`], waiting at most `acquire_timeout` for a connection on each use (which
    /// covers connecting, and retrying a refused connect): while the database is unreachable a
    /// request fails with 503 within it instead of hanging.
    pub async fn connect_with(url: &str, pool_size: u32, acquire_timeout: Duration) -> anyhow::Result<Store> {
        use anyhow::Context;
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Backend::MySql
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite:// or mysql://");
        };
        let url = match backend {
            Backend::Sqlite => {
                if let Some(dir) =
                    sqlite_path(url).and_then(|p| std::path::Path::new(p).parent().map(|d| d.to_path_buf()))
                {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(&dir)
                            .with_context(|| format!("creating the database folder {}", dir.display()))?;
                    }
                }
                url.to_string()
            }
            Backend::MySql => with_statement_cache(&url.replacen("mariadb:", "mysql:", 1)),
        };
        if !Any::database_exists(&url).await.context("checking whether the database exists")? {
            Any::create_database(&url).await.context("creating the database")?;
        }
        let pool_size = match backend {
            // Readers run in parallel under WAL; writers go through the gate one at a time.
            Backend::Sqlite => pool_size.clamp(2, 8),
            Backend::MySql => pool_size.max(2),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(acquire_timeout)
            // A ping before every checkout is a round trip per transaction; broken connections
            // surface as errors on use instead, which the callers already handle.
            .test_before_acquire(false)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; busy_timeout covers other
                        // processes (the reconcile command) touching the file.
                        sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA synchronous = FULL").execute(&mut *conn).await?;
                    } else {
                        sqlx::query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .context("connecting to the database")?;
        Ok(Store {
            pool,
            backend,
            write_gate: (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))),
            draw_ids: Arc::new(group_commit::IdBlocks::new("lottery_draws")),
            order_ids: Arc::new(group_commit::IdBlocks::new("exchange_orders")),
        })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await?,
            Backend::MySql => sqlx::migrate!("migrations/mysql").run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn begin_write(&self) -> StoreResult<WriteTx> {
        let gate = match &self.write_gate {
            Some(g) => Some(g.clone().lock_owned().await),
            None => None,
        };
        let tx = self.pool.begin().await?;
        Ok(WriteTx { tx: Some(tx), gate })
    }

    /// A cheap round trip, for `/health`.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// A value for SQL built at run time (multi-row inserts, partial updates).
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Int(i64),
    Text(String),
    OptText(Option<String>),
    Real(f64),
    OptInt(Option<i64>),
    OptReal(Option<f64>),
}

/// Binds `values` in order.
pub(crate) fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    values: Vec<Bind>,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for v in values {
        q = match v {
            Bind::Int(i) => q.bind(i),
            Bind::Text(t) => q.bind(t),
            Bind::OptText(t) => q.bind(t),
            Bind::Real(r) => q.bind(r),
            Bind::OptInt(i) => q.bind(i),
            Bind::OptReal(r) => q.bind(r),
        };
    }
    q
}

/// `INSERT INTO table (columns) VALUES (?, …), (?, …), …` for `rows` rows.
pub(crate) fn multi_insert(table: &str, columns: &[&str], rows: usize) -> String {
    let one = format!("({})", vec!["?"; columns.len()].join(", "));
    format!("INSERT INTO {table} ({}) VALUES {}", columns.join(", "), vec![one; rows].join(", "))
}

/// Rows per multi-row statement: a power of two, well under both dialects' limits on bound
/// parameters.
pub(crate) const MAX_ROWS_PER_STATEMENT: usize = 128;

/// The row counts `n` rows are written in: powers of two, largest first (at most one statement
/// per set bit of `n`). Each distinct row count is a distinct statement to prepare, and a
/// connection keeps only so many prepared: with any count allowed, group commit's batches of
/// 1 to 256 writes made hundreds of variants of each insert, and MariaDB prepared one again
/// about once per batch (parsing thousands of placeholders each time). With powers of two every
/// table has eight shapes, which stay prepared for the life of the connection; the price is a few
/// more executions of statements that are already prepared.
pub(crate) fn statement_sizes(mut n: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let size = match n {
            0 => return None,
            n if n >= MAX_ROWS_PER_STATEMENT => MAX_ROWS_PER_STATEMENT,
            n => 1 << (usize::BITS - 1 - n.leading_zeros()),
        };
        n -= size;
        Some(size)
    })
}
pub(crate) const LEDGER_INSERT_COLUMNS: &[&str] =
    &["user_id", "points", "balance_after", "source", "description", "related_id", "idempotency_key", "created_at"];
pub(crate) const IDEMPOTENCY_INSERT_COLUMNS: &[&str] = &["user_id", "idem_key", "operation", "response", "created_at"];

/// Inserts `rows` (each in `columns` order) with as few statements as the parameter limit
/// allows. Rows keep their order, so ledger rows of one customer get ascending ids.
pub(crate) async fn insert_rows(
    tx: &mut WriteTx,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Bind>>,
) -> StoreResult<()> {
    let mut rows = rows.into_iter();
    for size in statement_sizes(rows.len()) {
        let sql = multi_insert(table, columns, size);
        bind_all(sqlx::query(&sql), rows.by_ref().take(size).flatten().collect()).execute(tx.conn()).await?;
    }
    Ok(())
}

/// The idempotency record of a committed write: its result, replayed to a retry with the key.
pub(crate) fn idempotency_row<T: serde::Serialize>(
    user_id: i64,
    key: &str,
    operation: &str,
    result: &T,
    at: i64,
) -> StoreResult<Vec<Bind>> {
    let response = serde_json::to_string(result).map_err(|e| StoreError::Conflict(e.to_string()))?;
    Ok(vec![
        Bind::Int(user_id),
        Bind::Text(key.to_string()),
        Bind::Text(operation.to_string()),
        Bind::Text(response),
        Bind::Int(at),
    ])
}

/// A wallet's new balance (and pity counter), applied only if the store still holds the values
/// its actor started from.
pub(crate) struct WalletUpdate {
    pub user_id: i64,
    pub points_before: i64,
    pub points_after: i64,
    /// The fence of the wallet actor that made the write.
    pub fence: i64,
    /// `(before, after)`, when the write changes the pity counter.
    pub pity: Option<(i64, i64)>,
}

/// A single wallet's new balance, applied only if the store still holds the balance its actor
/// started from and the actor still holds the customer (binds: after, at, id, before, fence).
pub(crate) const GUARDED_BALANCE_UPDATE: &str =
    "UPDATE users SET points = ?, updated_at = ? WHERE id = ? AND points = ? AND owner_fence = ?";

/// One guarded statement per chunk of wallets: every wallet must still hold what its actor
/// believed, or the whole transaction is refused.
pub(crate) async fn update_wallets(tx: &mut WriteTx, wallets: &[WalletUpdate], at: i64) -> StoreResult<()> {
    // A group may mix draws of the default campaign (whose pity counter lives here) with other
    // writes: the two kinds go in separate statements, so that each chunk size has one shape
    // (see `statement_sizes`).
    let (with_pity, without): (Vec<&WalletUpdate>, Vec<&WalletUpdate>) = wallets.iter().partition(|w| w.pity.is_some());
    for kind in [with_pity, without] {
        let mut rest = kind.as_slice();
        for size in statement_sizes(rest.len()) {
            let (chunk, after) = rest.split_at(size);
            rest = after;
            update_wallet_chunk(tx, chunk, at).await?;
        }
    }
    Ok(())
}

/// One guarded `CASE` update of `chunk`, whose wallets all carry a pity counter or none does.
async fn update_wallet_chunk(tx: &mut WriteTx, chunk: &[&WalletUpdate], at: i64) -> StoreResult<()> {
    let pity = chunk.first().is_some_and(|w| w.pity.is_some());
    let cases = vec!["WHEN ? THEN ?"; chunk.len()].join(" ");
    let (pity_set, guard) = if pity {
        (
            format!(", pity_count = CASE id {cases} ELSE pity_count END"),
            "(id = ? AND points = ? AND owner_fence = ? AND pity_count = ?)",
        )
    } else {
        (String::new(), "(id = ? AND points = ? AND owner_fence = ?)")
    };
    let guards = vec![guard; chunk.len()].join(" OR ");
    let sql = format!("UPDATE users SET points = CASE id {cases} END{pity_set}, updated_at = ? WHERE {guards}");
    let mut binds = Vec::with_capacity(chunk.len() * 7 + 1);
    for w in chunk {
        binds.extend([Bind::Int(w.user_id), Bind::Int(w.points_after)]);
    }
    for (w, (_, after)) in chunk.iter().filter_map(|w| Some((w, w.pity?))) {
        binds.extend([Bind::Int(w.user_id), Bind::Int(after)]);
    }
    binds.push(Bind::Int(at));
    for w in chunk {
        binds.extend([Bind::Int(w.user_id), Bind::Int(w.points_before), Bind::Int(w.fence)]);
        if let Some((before, _)) = w.pity {
            binds.push(Bind::Int(before));
        }
    }
    let updated = bind_all(sqlx::query(&sql), binds).execute(tx.conn()).await?.rows_affected();
    if updated != chunk.len() as u64 {
        return Err(StoreError::Conflict(format!(
            "{} of {} wallets changed underneath their writes",
            chunk.len() as u64 - updated,
            chunk.len()
        )));
    }
    Ok(())
}

/// The id of the row an INSERT just created. SQLite through the Any driver does not report it,
/// so it is read back on the same connection (still inside the transaction).
pub(crate) async fn inserted_id(tx: &mut WriteTx, result: sqlx::any::AnyQueryResult) -> StoreResult<i64> {
    match result.last_insert_id() {
        Some(id) => Ok(id),
        None => Ok(sqlx::query_scalar("SELECT last_insert_rowid()").fetch_one(tx.conn()).await?),
    }
}

/// A flag column as the schema stores it: BIGINT 0/1, because the Any driver has no portable
/// BOOLEAN. A derived row reads it into a plain `bool` field with `#[sqlx(try_from = "Flag")]`.
#[derive(Debug, Clone, Copy, sqlx::Type)]
#[sqlx(transparent)]
pub struct Flag(i64);

impl From<Flag> for bool {
    fn from(f: Flag) -> bool {
        f.0 != 0
    }
}

/// Reads a flag column as a bool, for rows that are mapped by hand.
pub(crate) fn flag(row: &AnyRow, col: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    Ok(row.try_get::<Flag, _>(col)?.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_written_in_power_of_two_statements() {
        let sizes = |n| statement_sizes(n).collect::<Vec<_>>();
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), vec![1]);
        assert_eq!(sizes(7), vec![4, 2, 1]);
        assert_eq!(sizes(128), vec![128]);
        assert_eq!(sizes(300), vec![128, 128, 32, 8, 4]);
        // Every count is covered exactly, with at most eight shapes of statement in all.
        let mut shapes = std::collections::BTreeSet::new();
        for n in 0..1000 {
            let s = sizes(n);
            assert_eq!(s.iter().sum::<usize>(), n);
            assert!(s.windows(2).all(|w| w[0] >= w[1]));
            shapes.extend(s);
        }
        assert_eq!(shapes.len(), 8);
    }

    #[test]
    fn finds_the_sqlite_file() {
        assert_eq!(sqlite_path("sqlite://data/lottery.db"), Some("data/lottery.db"));
        assert_eq!(sqlite_path("sqlite:///tmp/x.db?mode=rwc"), Some("/tmp/x.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }

    #[test]
    fn mysql_connections_keep_more_statements_unless_told_otherwise() {
        assert_eq!(with_statement_cache("mysql://u@h/db"), "mysql://u@h/db?statement-cache-capacity=256");
        assert_eq!(
            with_statement_cache("mysql://u@h/db?ssl-mode=DISABLED"),
            "mysql://u@h/db?ssl-mode=DISABLED&statement-cache-capacity=256"
        );
        let own = "mysql://u@h/db?statement-cache-capacity=50";
        assert_eq!(with_statement_cache(own), own);
    }
}
