//! The ledger kept in the Store's database (SQLite or PostgreSQL).
//!
//! Table `ledger_records` (migration 0002) holds one row per record: its
//! dense index, its RFC 9162 leaf hash, the artifact digest (indexed, for
//! lookups) and the record's canonical bytes exactly as they were hashed.
//! A batch is one transaction with multi-row inserts (SQLite, synchronous
//! FULL for that commit) or one `INSERT … SELECT FROM UNNEST` (PostgreSQL),
//! so it is durable when [`Ledger::append_batch`] returns.
//!
//! Tree heads and proofs come from a [`CompactTree`] of the leaf hashes,
//! loaded once and then topped up with the rows other writers added (every
//! read first asks for rows past the cached size), so a proof costs
//! O(log² n) hashes and one small query. Writers serialise: SQLite with
//! `BEGIN IMMEDIATE`, PostgreSQL with a transaction-scoped advisory lock, so
//! indices stay dense across processes and servers sharing the database.

use std::ops::Range;

use async_trait::async_trait;
use futures_util::TryStreamExt as _;
use sqlx::{PgPool, QueryBuilder, Row as _, SqlitePool};
use tokio::sync::Mutex;

use super::{PgStore, SqliteStore};
use crate::hash::Sha256;
use crate::ledger::{Appended, Entry, Ledger, LedgerError, LedgerRecord, TreeHash, encode_batch};
use crate::merkle::CompactTree;

/// The key of PostgreSQL's advisory lock that ledger writers take.
const PG_LOCK_KEY: i64 = 0x616c_6273_6c65_6467; // "albsledg"

/// Rows per SQLite INSERT statement (4 parameters each, under SQLite's
/// limit of 32766 parameters).
const SQLITE_ROWS_PER_INSERT: usize = 4096;

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// A [`Ledger`] in the Store's database; get one from
/// [`SqliteStore::ledger`] or [`PgStore::ledger`].
pub struct DbLedger {
    pool: Pool,
    tree: Mutex<CompactTree>,
}

impl std::fmt::Debug for DbLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Pg(_) => "postgres",
        };
        f.debug_struct("DbLedger")
            .field("backend", &backend)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// The ledger kept in this database; its leaf hashes are loaded now.
    pub async fn ledger(&self) -> Result<DbLedger, LedgerError> {
        DbLedger::open(Pool::Sqlite(self.pool().clone())).await
    }
}

impl PgStore {
    /// The ledger kept in this database (schema); its leaf hashes are
    /// loaded now.
    pub async fn ledger(&self) -> Result<DbLedger, LedgerError> {
        DbLedger::open(Pool::Pg(self.pool().clone())).await
    }
}

fn db(what: &str) -> impl FnOnce(sqlx::Error) -> LedgerError + '_ {
    move |e| LedgerError::Backend(format!("{what}: {e}"))
}

fn to_hash(index: u64, column: &str, bytes: &[u8]) -> Result<TreeHash, LedgerError> {
    bytes.try_into().map_err(|_| {
        LedgerError::Backend(format!(
            "record {index} has a {column} of {} bytes, not 32",
            bytes.len()
        ))
    })
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl DbLedger {
    async fn open(pool: Pool) -> Result<Self, LedgerError> {
        let l = DbLedger {
            pool,
            tree: Mutex::new(CompactTree::new()),
        };
        drop(l.synced().await?);
        Ok(l)
    }

    /// The cached tree, after adding the leaves other writers appended.
    async fn synced(&self) -> Result<tokio::sync::MutexGuard<'_, CompactTree>, LedgerError> {
        let mut tree = self.tree.lock().await;
        self.top_up(&mut tree).await?;
        Ok(tree)
    }

    async fn top_up(&self, tree: &mut CompactTree) -> Result<(), LedgerError> {
        let from = tree.len();
        const SQL: &str = "SELECT idx, leaf_hash FROM ledger_records WHERE idx >= $1 ORDER BY idx";
        let mut push = |idx: i64, leaf: &[u8]| -> Result<(), LedgerError> {
            let want = tree.len();
            if u64::try_from(idx).ok() != Some(want) {
                return Err(LedgerError::Backend(format!(
                    "the ledger table has index {idx} where {want} was expected: a record is missing"
                )));
            }
            tree.push(to_hash(want, "leaf hash", leaf)?);
            Ok(())
        };
        match &self.pool {
            Pool::Sqlite(p) => {
                let sql = SQL.replace("$1", "?");
                let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(to_i64(from))
                    .fetch(p);
                while let Some(r) = rows.try_next().await.map_err(db("reading leaf hashes"))? {
                    push(r.get(0), r.get::<&[u8], _>(1))?;
                }
            }
            Pool::Pg(p) => {
                let mut rows = sqlx::query(SQL).bind(to_i64(from)).fetch(p);
                while let Some(r) = rows.try_next().await.map_err(db("reading leaf hashes"))? {
                    push(r.get(0), r.get::<&[u8], _>(1))?;
                }
            }
        }
        Ok(())
    }

    async fn insert_sqlite(
        p: &SqlitePool,
        records: &[LedgerRecord],
        encoded: &[(Vec<u8>, TreeHash)],
    ) -> Result<u64, LedgerError> {
        let mut conn = p.acquire().await.map_err(db("connecting"))?;
        // The WAL runs with synchronous NORMAL for the store; a ledger
        // append is acknowledged only once it is on disk.
        sqlx::query("PRAGMA synchronous = FULL")
            .execute(&mut *conn)
            .await
            .map_err(db("setting synchronous"))?;
        let result = async {
            let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE")
                .await
                .map_err(db("starting the append"))?;
            let base: i64 =
                sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_records")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db("reading the ledger size"))?;
            let mut at = 0usize;
            for chunk in encoded.chunks(SQLITE_ROWS_PER_INSERT) {
                let mut q = QueryBuilder::<sqlx::Sqlite>::new(
                    "INSERT INTO ledger_records (idx, leaf_hash, artifact, record) ",
                );
                q.push_values(chunk.iter().enumerate(), |mut row, (i, (bytes, leaf))| {
                    let rec = &records[at + i];
                    row.push_bind(base + (at + i) as i64)
                        .push_bind(leaf.to_vec())
                        .push_bind(rec.artifact.map(|a| a.0.to_vec()))
                        .push_bind(bytes.clone());
                });
                q.build()
                    .execute(&mut *tx)
                    .await
                    .map_err(db("inserting records"))?;
                at += chunk.len();
            }
            tx.commit().await.map_err(db("committing the append"))?;
            Ok(base as u64)
        }
        .await;
        let reset = sqlx::query("PRAGMA synchronous = NORMAL")
            .execute(&mut *conn)
            .await;
        if reset.is_err() {
            // A connection left in FULL is slower, not wrong: drop it.
            conn.detach();
        }
        result
    }

    async fn insert_pg(
        p: &PgPool,
        records: &[LedgerRecord],
        encoded: &[(Vec<u8>, TreeHash)],
    ) -> Result<u64, LedgerError> {
        let mut tx = p.begin().await.map_err(db("starting the append"))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PG_LOCK_KEY)
            .execute(&mut *tx)
            .await
            .map_err(db("locking the ledger"))?;
        let base: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_records")
            .fetch_one(&mut *tx)
            .await
            .map_err(db("reading the ledger size"))?;
        let idx: Vec<i64> = (0..encoded.len() as i64).map(|i| base + i).collect();
        let leaves: Vec<Vec<u8>> = encoded.iter().map(|(_, l)| l.to_vec()).collect();
        let artifacts: Vec<Option<Vec<u8>>> = records
            .iter()
            .map(|r| r.artifact.map(|a| a.0.to_vec()))
            .collect();
        let bodies: Vec<&[u8]> = encoded.iter().map(|(b, _)| b.as_slice()).collect();
        sqlx::query(
            "INSERT INTO ledger_records (idx, leaf_hash, artifact, record) \
             SELECT * FROM UNNEST($1::bigint[], $2::bytea[], $3::bytea[], $4::bytea[])",
        )
        .bind(&idx)
        .bind(&leaves)
        .bind(&artifacts)
        .bind(&bodies)
        .execute(&mut *tx)
        .await
        .map_err(db("inserting records"))?;
        tx.commit().await.map_err(db("committing the append"))?;
        Ok(base as u64)
    }

    async fn record_bytes(&self, index: u64) -> Result<Option<(Vec<u8>, Vec<u8>)>, LedgerError> {
        const SQL: &str = "SELECT leaf_hash, record FROM ledger_records WHERE idx = $1";
        let row = match &self.pool {
            Pool::Sqlite(p) => sqlx::query(sqlx::AssertSqlSafe(SQL.replace("$1", "?")))
                .bind(to_i64(index))
                .fetch_optional(p)
                .await
                .map(|r| r.map(|r| (r.get(0), r.get(1)))),
            Pool::Pg(p) => sqlx::query(SQL)
                .bind(to_i64(index))
                .fetch_optional(p)
                .await
                .map(|r| r.map(|r| (r.get(0), r.get(1)))),
        };
        row.map_err(db("reading a record"))
    }
}

#[async_trait]
impl Ledger for DbLedger {
    async fn append(&self, record: &LedgerRecord) -> Result<Appended, LedgerError> {
        let mut done = self.append_batch(std::slice::from_ref(record)).await?;
        Ok(done.pop().expect("one record appended"))
    }

    /// One transaction for the whole batch: all records land, densely and
    /// in order, or none does.
    async fn append_batch(&self, records: &[LedgerRecord]) -> Result<Vec<Appended>, LedgerError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let encoded = encode_batch(records);
        // Holding the cache while writing keeps this process's appends in
        // order; other processes serialise in the database.
        let mut tree = self.tree.lock().await;
        let base = match &self.pool {
            Pool::Sqlite(p) => Self::insert_sqlite(p, records, &encoded).await?,
            Pool::Pg(p) => Self::insert_pg(p, records, &encoded).await?,
        };
        if tree.len() == base {
            for (_, leaf) in &encoded {
                tree.push(*leaf);
            }
        } else {
            self.top_up(&mut tree).await?;
        }
        Ok(encoded
            .iter()
            .enumerate()
            .map(|(i, (_, leaf))| Appended {
                index: base + i as u64,
                leaf_hash: *leaf,
            })
            .collect())
    }

    async fn get(&self, index: u64) -> Result<Option<Entry>, LedgerError> {
        let Some((leaf, bytes)) = self.record_bytes(index).await? else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&bytes).map_err(|e| {
            LedgerError::Backend(format!("record {index} is not a ledger record: {e}"))
        })?;
        Ok(Some(Entry {
            index,
            leaf_hash: to_hash(index, "leaf hash", &leaf)?,
            record,
        }))
    }

    async fn size(&self) -> Result<u64, LedgerError> {
        Ok(self.synced().await?.len())
    }

    async fn find_artifact(&self, artifact: &Sha256) -> Result<Vec<u64>, LedgerError> {
        const SQL: &str = "SELECT idx FROM ledger_records WHERE artifact = $1 ORDER BY idx";
        let key = artifact.0.to_vec();
        let rows: Result<Vec<i64>, _> = match &self.pool {
            Pool::Sqlite(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(SQL.replace("$1", "?")))
                    .bind(key)
                    .fetch_all(p)
                    .await
            }
            Pool::Pg(p) => sqlx::query_scalar(SQL).bind(key).fetch_all(p).await,
        };
        Ok(rows
            .map_err(db("looking up an artifact"))?
            .into_iter()
            .map(|i| i as u64)
            .collect())
    }

    async fn leaves(&self, start: u64, end: u64) -> Result<Vec<TreeHash>, LedgerError> {
        let tree = self.synced().await?;
        let leaves = tree.leaves();
        let end = (end as usize).min(leaves.len());
        let start = (start as usize).min(end);
        Ok(leaves[start..end].to_vec())
    }

    async fn range_hashes(&self, ranges: &[Range<u64>]) -> Result<Vec<TreeHash>, LedgerError> {
        let tree = self.synced().await?;
        ranges
            .iter()
            .map(|r| {
                tree.range_hash(r.clone()).ok_or(LedgerError::BeyondEnd {
                    size: r.end,
                    have: tree.len(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;
    use crate::ledger::LedgerExt as _;

    #[tokio::test]
    async fn sqlite_ledger_conforms_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("albs.db");
        let (size, root) = {
            let store = SqliteStore::open(&path).await.unwrap();
            let l = store.ledger().await.unwrap();
            conformance::ledger(&l).await;
            let size = l.size().await.unwrap();
            let root = l.root_at(size).await.unwrap();
            store.close().await;
            (size, root)
        };
        let store = SqliteStore::open(&path).await.unwrap();
        let l = store.ledger().await.unwrap();
        assert_eq!(l.size().await.unwrap(), size);
        assert_eq!(l.root_at(size).await.unwrap(), root);
    }

    #[tokio::test]
    async fn sqlite_ledger_in_memory_conforms() {
        let store = SqliteStore::memory().await.unwrap();
        conformance::ledger(&store.ledger().await.unwrap()).await;
    }

    #[tokio::test]
    async fn two_handles_on_one_database_see_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("albs.db"))
            .await
            .unwrap();
        let a = store.ledger().await.unwrap();
        let b = store.ledger().await.unwrap();
        let recs: Vec<_> = (0..5000).map(conformance::sample_record).collect();
        a.append_batch(&recs[..10]).await.unwrap();
        let done = b.append_batch(&recs[10..]).await.unwrap();
        assert_eq!(done[0].index, 10, "b appends after a's records");
        assert_eq!(a.size().await.unwrap(), 5000);
        assert_eq!(
            a.root_at(5000).await.unwrap(),
            b.root_at(5000).await.unwrap()
        );
        assert_eq!(a.get(4321).await.unwrap().unwrap().record, recs[4321]);
    }

    #[tokio::test]
    async fn a_gap_in_the_table_is_refused() {
        let store = SqliteStore::memory().await.unwrap();
        let l = store.ledger().await.unwrap();
        let recs: Vec<_> = (0..4).map(conformance::sample_record).collect();
        l.append_batch(&recs).await.unwrap();
        sqlx::query("DELETE FROM ledger_records WHERE idx = 1")
            .execute(store.pool())
            .await
            .unwrap();
        let err = store.ledger().await.expect_err("a gap is refused");
        assert!(err.to_string().contains("index 2 where 1"), "{err}");
    }

    fn database_url(test: &str) -> Option<String> {
        let url = std::env::var("ALBS_TEST_DATABASE_URL").ok();
        if url.is_none() {
            eprintln!("{test}: skipped because ALBS_TEST_DATABASE_URL is not set");
        }
        url
    }

    fn fresh_schema(test: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("albs_{test}_{}_{nanos}", std::process::id())
    }

    #[tokio::test]
    async fn postgres_ledger_conforms() {
        let Some(url) = database_url("db::ledger::postgres_ledger_conforms") else {
            return;
        };
        let s = PgStore::connect_schema(&url, &fresh_schema("ledger"))
            .await
            .unwrap();
        let l = s.ledger().await.unwrap();
        conformance::ledger(&l).await;
        // A second handle (another server on the same database) sees the
        // same tree and appends after it.
        let other = s.ledger().await.unwrap();
        let size = l.size().await.unwrap();
        let recs: Vec<_> = (100..2100).map(conformance::sample_record).collect();
        let done = other.append_batch(&recs).await.unwrap();
        assert_eq!(done[0].index, size);
        assert_eq!(l.size().await.unwrap(), size + 2000);
        assert_eq!(
            l.root_at(size + 2000).await.unwrap(),
            other.root_at(size + 2000).await.unwrap()
        );
        assert_eq!(l.get(size + 5).await.unwrap().unwrap().record, recs[5]);
        s.drop_schema().await.unwrap();
    }
}
