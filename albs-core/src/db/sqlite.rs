//! The SQLite store: one file in the data directory, WAL journal, foreign
//! keys on. Writes are serialised in the process (one async mutex, so
//! writers queue in order instead of polling SQLite's busy handler) and
//! across processes (`BEGIN IMMEDIATE`, with a busy timeout); reads run
//! concurrently beside them.

use std::path::Path;
use std::sync::Arc;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqlitePool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

// `Duration`, `DbError` and `backend` come with `store_impl.rs`, below.

type Db = sqlx::Sqlite;
type Conn = sqlx::SqliteConnection;
type This = SqliteStore;

/// SQLite has no row locks: a write transaction holds the whole database.
macro_rules! for_update {
    () => {
        ""
    };
}
/// SQLite has no row locks: a write transaction holds the whole database.
macro_rules! skip_locked {
    () => {
        ""
    };
}
/// The next number of the round-robin clock (writes are serialised).
macro_rules! next_claim_seq {
    () => {
        "(SELECT COALESCE(MAX(claim_seq), 0) + 1 FROM tasks)"
    };
}

/// Writes are serialised: a build needs no lock of its own.
async fn lock_build(_conn: &mut Conn, _build_id: i64, _shared: bool) -> Result<(), DbError> {
    Ok(())
}

/// How long a writer waits for another process's write transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    write_lock: Arc<Mutex<()>>,
}

/// A write transaction: the in-process write lock and `BEGIN IMMEDIATE`.
struct WriteTx {
    tx: Transaction<'static, Db>,
    _lock: OwnedMutexGuard<()>,
}

impl WriteTx {
    fn conn(&mut self) -> &mut Conn {
        &mut self.tx
    }

    /// Commits when `result` is a success and rolls back at once when it
    /// is an error (a dropped transaction rolls back only when its
    /// connection is next used, holding its locks until then).
    async fn finish<T>(self, result: Result<T, DbError>) -> Result<T, DbError> {
        match result {
            Ok(v) => {
                self.tx.commit().await.map_err(backend)?;
                Ok(v)
            }
            Err(e) => {
                // The error at hand says more than a failed rollback.
                let _ = self.tx.rollback().await;
                Err(e)
            }
        }
    }
}

impl SqliteStore {
    /// Opens (creating it if needed) the database file at `path` and brings
    /// its schema up to date.
    pub async fn open(path: &Path) -> Result<Self, DbError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| {
                DbError::Backend(format!(
                    "cannot open the SQLite database {}: {e}",
                    path.display()
                ))
            })?;
        Self::migrated(pool, &path.display().to_string()).await
    }

    /// A fresh database in memory (one connection), for tests.
    pub async fn memory() -> Result<Self, DbError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|e| {
                DbError::Backend(format!("cannot open an in-memory SQLite database: {e}"))
            })?;
        Self::migrated(pool, ":memory:").await
    }

    async fn migrated(pool: SqlitePool, what: &str) -> Result<Self, DbError> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| {
                DbError::Backend(format!("cannot migrate the SQLite database {what}: {e}"))
            })?;
        Ok(SqliteStore {
            pool,
            write_lock: Arc::new(Mutex::new(())),
        })
    }

    /// The connection pool (for maintenance and tests).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection (the WAL is checkpointed into the file).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn write(&self) -> Result<WriteTx, DbError> {
        let lock = self.write_lock.clone().lock_owned().await;
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        Ok(WriteTx { tx, _lock: lock })
    }

    async fn read(&self) -> Result<Transaction<'static, Db>, DbError> {
        self.pool.begin().await.map_err(backend)
    }
}

include!("store_impl.rs");
super::sign::sign_store_impl!();
super::products::product_store_impl!();
super::testing::test_store_impl!();
super::release::release_store_impl!();
super::errata::errata_store_impl!();
super::rbac::rbac_store_impl!();
super::pages::page_store_impl!();

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance_on_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("albs.db"))
            .await
            .unwrap();
        crate::conformance::store(&s).await;
        s.close().await;
    }

    /// 100,000 builds: every 1000th failed, every 10000th of rare-owner,
    /// every 5000th for almalinux-8, every 7919th with package rarepkg,
    /// build i created i seconds after the epoch.
    #[tokio::test]
    async fn list_builds_uses_its_indexes_over_100k_builds() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("big.db")).await.unwrap();
        let fill = [
            "INSERT INTO queues (id, owner, product) VALUES (1, 'bulk', '')",
            "INSERT INTO platforms (name, body) VALUES ('almalinux-8', '{}'), ('almalinux-9', '{}')",
            "INSERT INTO builds \
             (id, platform, arches, refs, owner, options, timeout_secs, queue_id, state, created) \
             WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
             SELECT i, CASE WHEN i % 5000 = 0 THEN 'almalinux-8' ELSE 'almalinux-9' END, '[]', \
             '[]', CASE WHEN i % 10000 = 0 THEN 'rare-owner' ELSE 'owner' || (i % 100) END, \
             '{}', 3600, 1, CASE WHEN i % 1000 = 0 THEN 'failed' ELSE 'succeeded' END, \
             i * 1000000 FROM n",
            "INSERT INTO tasks (build_id, queue_id, ref_index, arch, package, state, ready) \
             SELECT id, 1, 0, NULL, \
             CASE WHEN id % 7919 = 0 THEN 'rarepkg' ELSE 'pkg' || (id % 500) END, state, FALSE \
             FROM builds",
            "ANALYZE",
        ];
        check_list_at_scale(&s, &fill, "EXPLAIN QUERY PLAN ").await;
        s.close().await;
    }

    #[tokio::test]
    async fn a_reopened_file_keeps_its_builds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("albs.db");
        let s = SqliteStore::open(&path).await.unwrap();
        crate::conformance::put_bundled_platforms(&s).await;
        let nb = crate::conformance::new_build("keeper", &["bash"], &["x86_64"]);
        let b = s.create_build(&nb, crate::conformance::T0).await.unwrap();
        s.close().await;
        let again = SqliteStore::open(&path).await.unwrap();
        assert_eq!(again.build(b.id).await.unwrap(), Some(b));
        again.close().await;
    }

    #[tokio::test]
    async fn conformance_in_memory() {
        let s = SqliteStore::memory().await.unwrap();
        crate::conformance::store(&s).await;
    }
}
