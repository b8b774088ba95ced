//! Products and who may read them, web sessions, and the read-side counts
//! the web pages and `/metrics` show.
//!
//! A product is a name that builds carry in `options.product`. A private
//! product hides its builds (and their tasks and logs) from every reader but
//! its members, the members of the team owning it and admins; a build whose product is not registered, or is
//! not private, is public.
//!
//! A web session is a random id the browser holds in a cookie; the store
//! keeps only its sha256, the user and when it expires.
//!
//! The SQL is shared by both backends: [`product_store_impl!`] is expanded
//! in `sqlite.rs` and `postgres.rs` beside `store_impl.rs`.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{DbError, User};
use crate::hash::Sha256;
use crate::model::TaskState;

/// A product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Its name, as builds give it in `options.product`.
    pub name: String,
    /// Its builds are visible to its members, its team and admins only.
    pub private: bool,
    /// The team owning it (its members read it when private, and act on
    /// its builds by their roles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

/// A task waiting in the queue, with what it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTask {
    /// The task id.
    pub id: u64,
    /// Its build.
    pub build_id: u64,
    /// Its arch; `None` for the src task.
    pub arch: Option<String>,
    /// The package, when known.
    pub package: Option<String>,
    /// Every task it depends on has succeeded.
    pub ready: bool,
    /// It may not be claimed before then (a backoff after a lost lease).
    pub not_before: OffsetDateTime,
    /// Its build's product (`""` when none).
    pub product: String,
}

/// How many tasks are in one state for one arch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskCount {
    /// The state.
    pub state: TaskState,
    /// The arch; `None` for src tasks.
    pub arch: Option<String>,
    /// How many.
    pub count: u64,
}

/// Products, their members, web sessions and read-side counts.
#[async_trait]
pub trait ProductStore: Send + Sync {
    /// Registers a product; a known name is a [`DbError::Conflict`].
    async fn create_product(&self, name: &str, private: bool) -> Result<Product, DbError>;
    /// Every product, by name.
    async fn products(&self) -> Result<Vec<Product>, DbError>;
    /// Makes the user named `user` a member of `product` (idempotent); an
    /// unknown product or user is a [`DbError::NotFound`].
    async fn add_product_member(&self, product: &str, user: &str) -> Result<(), DbError>;
    /// The private products whose builds `reader` may not see: all of them
    /// for anonymous readers, none for admins, those it is not a member of
    /// for other users.
    async fn hidden_products(&self, reader: Option<&User>) -> Result<BTreeSet<String>, DbError>;
    /// The product (`""` when none) of each of these builds that exists.
    async fn build_products(&self, ids: &[u64]) -> Result<HashMap<u64, String>, DbError>;
    /// The build a task belongs to.
    async fn task_build(&self, task_id: u64) -> Result<Option<u64>, DbError>;

    /// Stores a web session (the sha256 of its id) of `user_id`, and drops
    /// the sessions that expired before `now`.
    async fn create_web_session(
        &self,
        session_hash: &Sha256,
        user_id: u64,
        expires: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), DbError>;
    /// The user of an unexpired web session.
    async fn user_by_web_session(
        &self,
        session_hash: &Sha256,
        now: OffsetDateTime,
    ) -> Result<Option<User>, DbError>;
    /// Ends a web session (idempotent).
    async fn delete_web_session(&self, session_hash: &Sha256) -> Result<(), DbError>;

    /// Pending tasks, oldest first, at most `limit`.
    async fn pending_tasks(&self, limit: u32) -> Result<Vec<PendingTask>, DbError>;
    /// Tasks by state and arch.
    async fn task_counts(&self) -> Result<Vec<TaskCount>, DbError>;
    /// Builds by state.
    async fn build_counts(&self) -> Result<Vec<(TaskState, u64)>, DbError>;
}

/// The `ProductStore` implementation both SQL backends share; expanded in
/// `sqlite.rs` and `postgres.rs`, where `This`, `Conn`, `Db` and the
/// store's `write()`/`read()` are defined.
macro_rules! product_store_impl {
    () => {
        use $crate::db::products::{
            PendingTask as PPendingTask, Product as PProduct, ProductStore, TaskCount as PTaskCount,
        };

        #[async_trait]
        impl ProductStore for This {
            async fn create_product(&self, name: &str, private: bool) -> Result<PProduct, DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    sqlx::query("INSERT INTO products (name, private) VALUES ($1, $2)")
                        .bind(name)
                        .bind(private)
                        .execute(tx.conn())
                        .await
                        .map_err(|e| conflict(e, "product", name))?;
                    Ok(PProduct {
                        name: name.to_owned(),
                        private,
                        team: None,
                    })
                }
                .await;
                tx.finish(r).await
            }

            async fn products(&self) -> Result<Vec<PProduct>, DbError> {
                let rows: Vec<(String, bool, Option<String>)> =
                    sqlx::query_as("SELECT name, private, team FROM products ORDER BY name")
                        .fetch_all(self.pool())
                        .await
                        .map_err(backend)?;
                Ok(rows
                    .into_iter()
                    .map(|(name, private, team)| PProduct {
                        name,
                        private,
                        team,
                    })
                    .collect())
            }

            async fn add_product_member(&self, product: &str, user: &str) -> Result<(), DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    let known: Option<String> =
                        sqlx::query_scalar("SELECT name FROM products WHERE name = $1")
                            .bind(product)
                            .fetch_optional(&mut *conn)
                            .await
                            .map_err(backend)?;
                    if known.is_none() {
                        return Err(DbError::NotFound {
                            what: "product",
                            id: product.to_owned(),
                        });
                    }
                    let user_id: Option<i64> =
                        sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
                            .bind(user)
                            .fetch_optional(&mut *conn)
                            .await
                            .map_err(backend)?;
                    let Some(user_id) = user_id else {
                        return Err(DbError::NotFound {
                            what: "user",
                            id: user.to_owned(),
                        });
                    };
                    sqlx::query(
                        "INSERT INTO product_members (product, user_id) VALUES ($1, $2) \
                         ON CONFLICT (product, user_id) DO NOTHING",
                    )
                    .bind(product)
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                    Ok(())
                }
                .await;
                tx.finish(r).await
            }

            async fn hidden_products(
                &self,
                reader: Option<&User>,
            ) -> Result<BTreeSet<String>, DbError> {
                if reader.is_some_and(|u| u.admin) {
                    return Ok(BTreeSet::new());
                }
                let user_id = reader.map(|u| db_id(u.id)).unwrap_or(-1);
                let rows: Vec<String> = sqlx::query_scalar(
                    "SELECT p.name FROM products p WHERE p.private AND NOT EXISTS \
                     (SELECT 1 FROM product_members m WHERE m.product = p.name AND m.user_id = $1) \
                     AND NOT EXISTS (SELECT 1 FROM team_members t \
                     WHERE t.team = p.team AND t.user_id = $1)",
                )
                .bind(user_id)
                .fetch_all(self.pool())
                .await
                .map_err(backend)?;
                Ok(rows.into_iter().collect())
            }

            async fn build_products(&self, ids: &[u64]) -> Result<HashMap<u64, String>, DbError> {
                let mut tx = self.read().await?;
                let mut out = HashMap::with_capacity(ids.len());
                for &id in ids {
                    let product: Option<String> = sqlx::query_scalar(
                        "SELECT q.product FROM builds b JOIN queues q ON q.id = b.queue_id \
                         WHERE b.id = $1",
                    )
                    .bind(db_id(id))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if let Some(p) = product {
                        out.insert(id, p);
                    }
                }
                tx.commit().await.map_err(backend)?;
                Ok(out)
            }

            async fn task_build(&self, task_id: u64) -> Result<Option<u64>, DbError> {
                let id: Option<i64> = sqlx::query_scalar("SELECT build_id FROM tasks WHERE id = $1")
                    .bind(db_id(task_id))
                    .fetch_optional(self.pool())
                    .await
                    .map_err(backend)?;
                Ok(id.map(api_u64))
            }

            async fn create_web_session(
                &self,
                session_hash: &Sha256,
                user_id: u64,
                expires: OffsetDateTime,
                now: OffsetDateTime,
            ) -> Result<(), DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    sqlx::query("DELETE FROM web_sessions WHERE expires <= $1")
                        .bind(micros(now))
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                    sqlx::query(
                        "INSERT INTO web_sessions (session_hash, user_id, expires) \
                         VALUES ($1, $2, $3)",
                    )
                    .bind(&session_hash.0[..])
                    .bind(db_id(user_id))
                    .bind(micros(expires))
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| match &e {
                        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                            DbError::NotFound {
                                what: "user",
                                id: user_id.to_string(),
                            }
                        }
                        _ => conflict(e, "web session", "with this hash"),
                    })?;
                    Ok(())
                }
                .await;
                tx.finish(r).await
            }

            async fn user_by_web_session(
                &self,
                session_hash: &Sha256,
                now: OffsetDateTime,
            ) -> Result<Option<User>, DbError> {
                let row: Option<(i64, String, bool)> = sqlx::query_as(
                    "SELECT u.id, u.name, u.admin FROM web_sessions s \
                     JOIN users u ON u.id = s.user_id \
                     WHERE s.session_hash = $1 AND s.expires > $2",
                )
                .bind(&session_hash.0[..])
                .bind(micros(now))
                .fetch_optional(self.pool())
                .await
                .map_err(backend)?;
                Ok(row.map(|(id, name, admin)| User {
                    id: api_u64(id),
                    name,
                    admin,
                }))
            }

            async fn delete_web_session(&self, session_hash: &Sha256) -> Result<(), DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    sqlx::query("DELETE FROM web_sessions WHERE session_hash = $1")
                        .bind(&session_hash.0[..])
                        .execute(tx.conn())
                        .await
                        .map_err(backend)?;
                    Ok(())
                }
                .await;
                tx.finish(r).await
            }

            async fn pending_tasks(&self, limit: u32) -> Result<Vec<PPendingTask>, DbError> {
                let rows: Vec<(i64, i64, Option<String>, Option<String>, bool, i64, String)> =
                    sqlx::query_as(
                        "SELECT t.id, t.build_id, t.arch, t.package, t.ready, t.not_before, \
                         q.product FROM tasks t JOIN queues q ON q.id = t.queue_id \
                         WHERE t.state = 'pending' ORDER BY t.id LIMIT $1",
                    )
                    .bind(i64::from(limit))
                    .fetch_all(self.pool())
                    .await
                    .map_err(backend)?;
                rows.into_iter()
                    .map(|(id, build_id, arch, package, ready, not_before, product)| {
                        Ok(PPendingTask {
                            id: api_u64(id),
                            build_id: api_u64(build_id),
                            arch,
                            package,
                            ready,
                            not_before: from_micros(not_before)?,
                            product,
                        })
                    })
                    .collect()
            }

            async fn task_counts(&self) -> Result<Vec<PTaskCount>, DbError> {
                let rows: Vec<(String, Option<String>, i64)> = sqlx::query_as(
                    "SELECT state, arch, COUNT(*) FROM tasks GROUP BY state, arch \
                     ORDER BY state, arch",
                )
                .fetch_all(self.pool())
                .await
                .map_err(backend)?;
                rows.into_iter()
                    .map(|(state, arch, count)| {
                        Ok(PTaskCount {
                            state: parse_state(&state)?,
                            arch,
                            count: api_u64(count),
                        })
                    })
                    .collect()
            }

            async fn build_counts(&self) -> Result<Vec<($crate::model::TaskState, u64)>, DbError> {
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT state, COUNT(*) FROM builds GROUP BY state ORDER BY state",
                )
                .fetch_all(self.pool())
                .await
                .map_err(backend)?;
                rows.into_iter()
                    .map(|(state, count)| Ok((parse_state(&state)?, api_u64(count))))
                    .collect()
            }
        }
    };
}
pub(super) use product_store_impl;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{SqliteStore, Store};
    use crate::model::TaskState;

    async fn suite<S: Store>(s: &S) {
        crate::conformance::put_bundled_platforms(s).await;
        let admin = s.create_user("root", true).await.unwrap();
        let alice = s.create_user("alice", false).await.unwrap();
        let bob = s.create_user("bob", false).await.unwrap();
        let secret = s.create_product("secret", true).await.unwrap();
        assert!(secret.private);
        s.create_product("open", false).await.unwrap();
        assert!(matches!(
            s.create_product("secret", false).await,
            Err(DbError::Conflict { .. })
        ));
        assert_eq!(s.products().await.unwrap().len(), 2);
        s.add_product_member("secret", "alice").await.unwrap();
        s.add_product_member("secret", "alice").await.unwrap();
        let e = s.add_product_member("nope", "alice").await.unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        let e = s.add_product_member("secret", "carol").await.unwrap_err();
        assert!(e.to_string().contains("carol"), "{e}");

        let hidden = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(s.hidden_products(None).await.unwrap(), hidden(&["secret"]));
        assert_eq!(
            s.hidden_products(Some(&bob)).await.unwrap(),
            hidden(&["secret"])
        );
        assert_eq!(s.hidden_products(Some(&alice)).await.unwrap(), hidden(&[]));
        assert_eq!(s.hidden_products(Some(&admin)).await.unwrap(), hidden(&[]));

        let mut nb = crate::conformance::new_build("alice", &["bash"], &["x86_64"]);
        nb.options.product = Some("secret".into());
        let b1 = s.create_build(&nb, crate::conformance::T0).await.unwrap();
        let nb = crate::conformance::new_build("bob", &["zsh"], &["x86_64"]);
        let b2 = s.create_build(&nb, crate::conformance::T0).await.unwrap();
        let products = s.build_products(&[b1.id, b2.id, 999_999]).await.unwrap();
        assert_eq!(products.get(&b1.id).map(String::as_str), Some("secret"));
        assert_eq!(products.get(&b2.id).map(String::as_str), Some(""));
        assert_eq!(products.len(), 2);
        assert_eq!(s.task_build(b1.tasks[0].id).await.unwrap(), Some(b1.id));
        assert_eq!(s.task_build(999_999).await.unwrap(), None);

        let pending = s.pending_tasks(100).await.unwrap();
        assert_eq!(pending.len(), b1.tasks.len() + b2.tasks.len());
        let src = pending.iter().find(|t| t.id == b1.tasks[0].id).unwrap();
        assert_eq!(src.product, "secret");
        assert!(
            pending.iter().any(|t| !t.ready),
            "arch tasks wait for their src task"
        );
        let counts = s.task_counts().await.unwrap();
        let total: u64 = counts.iter().map(|c| c.count).sum();
        assert_eq!(total as usize, pending.len());
        assert!(counts.iter().all(|c| c.state == TaskState::Pending));
        assert_eq!(
            s.build_counts().await.unwrap(),
            vec![(TaskState::Pending, 2)]
        );

        let h = Sha256([7; 32]);
        let t0 = crate::conformance::T0;
        let later = t0 + time::Duration::hours(1);
        s.create_web_session(&h, alice.id, later, t0).await.unwrap();
        assert_eq!(
            s.user_by_web_session(&h, t0).await.unwrap(),
            Some(alice.clone())
        );
        assert_eq!(s.user_by_web_session(&h, later).await.unwrap(), None);
        assert_eq!(
            s.user_by_web_session(&Sha256([8; 32]), t0).await.unwrap(),
            None
        );
        s.delete_web_session(&h).await.unwrap();
        assert_eq!(s.user_by_web_session(&h, t0).await.unwrap(), None);
        s.delete_web_session(&h).await.unwrap();
    }

    #[tokio::test]
    async fn products_on_sqlite() {
        let s = SqliteStore::memory().await.unwrap();
        suite(&s).await;
    }

    #[tokio::test]
    async fn products_on_postgres() {
        let Ok(url) = std::env::var("ALBS_TEST_DATABASE_URL") else {
            eprintln!("ALBS_TEST_DATABASE_URL is not set; the PostgreSQL run is skipped");
            return;
        };
        let schema = format!("products_{}", std::process::id());
        let s = crate::db::PgStore::connect_with(&url, Some(&schema), 4)
            .await
            .unwrap();
        suite(&s).await;
        s.drop_schema().await.unwrap();
    }
}
