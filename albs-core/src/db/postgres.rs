//! The PostgreSQL store, for fleets of nodes. Claims pick their task with
//! `SELECT … FOR UPDATE SKIP LOCKED` in one transaction, so concurrent
//! claimers never wait for each other nor get the same task; reads of a
//! build see one snapshot (`REPEATABLE READ, READ ONLY`).

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool, Transaction};

// `Duration`, `DbError` and `backend` come with `store_impl.rs`, below.

type Db = sqlx::Postgres;
type Conn = sqlx::PgConnection;
type This = PgStore;

/// Row lock of a plain select.
macro_rules! for_update {
    () => {
        " FOR UPDATE"
    };
}
/// Row lock of the claim pick: rows other claimers hold are passed over.
macro_rules! skip_locked {
    () => {
        " FOR UPDATE OF t SKIP LOCKED"
    };
}
/// The next number of the round-robin clock: a sequence, so concurrent
/// claims never wait on one counter row.
macro_rules! next_claim_seq {
    () => {
        "nextval('claim_seq')"
    };
}

/// The class of the advisory locks on builds (`albs` in ASCII), the first
/// of the two keys; the build id modulo 2^31-1 is the second.
const BUILD_LOCK_CLASS: i32 = 0x616c_6273;

/// Claims take a build's lock shared and recomputing its state takes it
/// alone (transaction-scoped advisory locks), so a refresh waits for claims
/// in flight and sees them, while claims never wait for each other.
async fn lock_build(conn: &mut Conn, build_id: i64, shared: bool) -> Result<(), DbError> {
    let sql = if shared {
        "SELECT pg_advisory_xact_lock_shared($1, ($2 % 2147483647)::INT)"
    } else {
        "SELECT pg_advisory_xact_lock($1, ($2 % 2147483647)::INT)"
    };
    sqlx::query(sql)
        .bind(BUILD_LOCK_CLASS)
        .bind(build_id)
        .execute(conn)
        .await
        .map_err(backend)?;
    Ok(())
}

/// Connections of a pool made by [`PgStore::connect`].
const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    schema: Option<String>,
}

/// A write transaction (READ COMMITTED; the SQL takes the row locks).
struct WriteTx {
    tx: Transaction<'static, Db>,
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

/// Schema names `connect_schema` accepts: they are spliced into SQL.
fn check_schema_name(schema: &str) -> Result<(), DbError> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit()
        && !schema.starts_with("pg_");
    if ok {
        Ok(())
    } else {
        Err(DbError::Invalid(format!(
            "schema name {schema:?} must be 1-63 lower-case letters, digits and '_', \
             not start with a digit or pg_"
        )))
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:5432/db`),
    /// using its default schema, with a pool of 10 connections, and brings
    /// the schema up to date.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        Self::connect_with(url, None, DEFAULT_MAX_CONNECTIONS).await
    }

    /// Connects to the database at `url` and works in `schema` (through
    /// `search_path`), creating it if needed: tests get one schema each.
    pub async fn connect_schema(url: &str, schema: &str) -> Result<Self, DbError> {
        Self::connect_with(url, Some(schema), DEFAULT_MAX_CONNECTIONS).await
    }

    /// Connects with a pool of at most `max_connections`, in `schema` when
    /// given (created if needed), and brings the schema up to date.
    pub async fn connect_with(
        url: &str,
        schema: Option<&str>,
        max_connections: u32,
    ) -> Result<Self, DbError> {
        let base = PgConnectOptions::from_str(url).map_err(|e| {
            DbError::Invalid(format!(
                "the database URL is not a PostgreSQL URL like postgres://user@host:5432/db: {e}"
            ))
        })?;
        let options = match schema {
            Some(schema) => {
                check_schema_name(schema)?;
                let mut conn = PgConnection::connect_with(&base)
                    .await
                    .map_err(|e| DbError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
                conn.execute(AssertSqlSafe(format!(
                    "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
                )))
                .await
                .map_err(|e| DbError::Backend(format!("cannot create schema {schema}: {e}")))?;
                conn.close().await.map_err(backend)?;
                base.options([("search_path", schema)])
            }
            None => base,
        };
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await
            .map_err(|e| DbError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| DbError::Backend(format!("cannot migrate the PostgreSQL schema: {e}")))?;
        Ok(PgStore {
            pool,
            schema: schema.map(str::to_owned),
        })
    }

    /// The connection pool (for maintenance and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema given to [`PgStore::connect_schema`], if any.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Drops the schema this store was connected to with
    /// [`PgStore::connect_schema`], with everything in it, and closes the
    /// pool (which every clone of the store shares).
    pub async fn drop_schema(self) -> Result<(), DbError> {
        let Some(schema) = self.schema.clone() else {
            return Err(DbError::Invalid(
                "this store uses the database's default schema; only a schema made by \
                 connect_schema can be dropped"
                    .into(),
            ));
        };
        self.pool
            .execute(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
            .await
            .map_err(|e| DbError::Backend(format!("cannot drop schema {schema}: {e}")))?;
        self.pool.close().await;
        Ok(())
    }

    async fn write(&self) -> Result<WriteTx, DbError> {
        let tx = self.pool.begin().await.map_err(backend)?;
        Ok(WriteTx { tx })
    }

    async fn read(&self) -> Result<Transaction<'static, Db>, DbError> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(backend)
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

    /// The test database, or `None` (and a line saying so) when unset.
    fn database_url(test: &str) -> Option<String> {
        let url = std::env::var("ALBS_TEST_DATABASE_URL").ok();
        if url.is_none() {
            eprintln!("{test}: skipped because ALBS_TEST_DATABASE_URL is not set");
        }
        url
    }

    /// A schema name no other test run uses.
    fn fresh_schema(test: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("albs_{test}_{}_{nanos}", std::process::id())
    }

    #[test]
    fn schema_names_are_checked() {
        assert!(check_schema_name("albs_test_1").is_ok());
        for bad in ["", "1abc", "a-b", "A", "a\"; DROP", "pg_catalog"] {
            assert!(check_schema_name(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn conformance() {
        let Some(url) = database_url("db::postgres::conformance") else {
            return;
        };
        let s = PgStore::connect_schema(&url, &fresh_schema("conf"))
            .await
            .unwrap();
        crate::conformance::store(&s).await;
        s.drop_schema().await.unwrap();
    }

    /// 100,000 builds: every 1000th failed, every 10000th of rare-owner,
    /// every 5000th for almalinux-8, every 7919th with package rarepkg,
    /// build i created i seconds after the epoch.
    #[tokio::test]
    async fn list_builds_uses_its_indexes_over_100k_builds() {
        let Some(url) = database_url("db::postgres::list_builds_uses_its_indexes_over_100k_builds")
        else {
            return;
        };
        let s = PgStore::connect_schema(&url, &fresh_schema("big"))
            .await
            .unwrap();
        let fill = [
            "INSERT INTO queues (id, owner, product) OVERRIDING SYSTEM VALUE VALUES (1, 'bulk', '')",
            "INSERT INTO platforms (name, body) VALUES ('almalinux-8', '{}'), ('almalinux-9', '{}')",
            "INSERT INTO builds \
             (id, platform, arches, refs, owner, options, timeout_secs, queue_id, state, created) \
             OVERRIDING SYSTEM VALUE \
             SELECT i, CASE WHEN i % 5000 = 0 THEN 'almalinux-8' ELSE 'almalinux-9' END, '[]', \
             '[]', CASE WHEN i % 10000 = 0 THEN 'rare-owner' ELSE 'owner' || (i % 100) END, \
             '{}', 3600, 1, CASE WHEN i % 1000 = 0 THEN 'failed' ELSE 'succeeded' END, \
             i * 1000000::BIGINT FROM generate_series(1, 100000) AS i",
            "INSERT INTO tasks (build_id, queue_id, ref_index, arch, package, state, ready) \
             SELECT id, 1, 0, NULL, \
             CASE WHEN id % 7919 = 0 THEN 'rarepkg' ELSE 'pkg' || (id % 500) END, state, FALSE \
             FROM builds",
            "ANALYZE builds",
            "ANALYZE tasks",
        ];
        check_list_at_scale(&s, &fill, "EXPLAIN ").await;
        s.drop_schema().await.unwrap();
    }

    #[tokio::test]
    async fn schemas_are_isolated_and_dropped() {
        let Some(url) = database_url("db::postgres::schemas_are_isolated_and_dropped") else {
            return;
        };
        let a = PgStore::connect_schema(&url, &fresh_schema("iso_a"))
            .await
            .unwrap();
        let b = PgStore::connect_schema(&url, &fresh_schema("iso_b"))
            .await
            .unwrap();
        assert!(a.mark_tag_seen("rpms/bash", "v1").await.unwrap());
        assert!(
            b.mark_tag_seen("rpms/bash", "v1").await.unwrap(),
            "another schema has its own tables"
        );
        let name = a.schema().unwrap().to_owned();
        a.drop_schema().await.unwrap();
        let left: Option<String> =
            sqlx::query_scalar("SELECT nspname::TEXT FROM pg_namespace WHERE nspname = $1")
                .bind(&name)
                .fetch_optional(b.pool())
                .await
                .unwrap();
        assert_eq!(left, None, "drop_schema drops the schema");
        b.drop_schema().await.unwrap();
    }
}
