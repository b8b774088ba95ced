//! What the web pages read beside the model: when each task started and
//! finished (for durations, live while it runs) and how many members a
//! product has.

use std::collections::HashMap;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::DbError;

/// When a task last started and finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskTimes {
    /// When a node last claimed it.
    pub started: Option<OffsetDateTime>,
    /// When it ended after that claim.
    pub finished: Option<OffsetDateTime>,
}

/// Task times and product member counts.
#[async_trait]
pub trait PageStore: Send + Sync {
    /// Records that task `task_id` started at `t` (a claim); forgets an
    /// earlier finish, so that a retried task shows its new run.
    async fn task_started(&self, task_id: u64, t: OffsetDateTime) -> Result<(), DbError>;
    /// Records that task `task_id` finished at `t`; a repeated completion
    /// keeps the first time.
    async fn task_finished(&self, task_id: u64, t: OffsetDateTime) -> Result<(), DbError>;
    /// The recorded times of the tasks of build `build_id`, by task id.
    async fn task_times(&self, build_id: u64) -> Result<HashMap<u64, TaskTimes>, DbError>;
    /// How many users are members of `product`.
    async fn product_member_count(&self, product: &str) -> Result<u64, DbError>;
}

/// The `PageStore` implementation both SQL backends share; expanded in
/// `sqlite.rs` and `postgres.rs`.
macro_rules! page_store_impl {
    () => {
        use $crate::db::pages::{PageStore, TaskTimes as PTaskTimes};

        #[async_trait]
        impl PageStore for This {
            async fn task_started(&self, task_id: u64, t: OffsetDateTime) -> Result<(), DbError> {
                sqlx::query(
                    "INSERT INTO task_times (task_id, started, finished) VALUES ($1, $2, NULL) \
                     ON CONFLICT (task_id) DO UPDATE SET started = excluded.started, finished = NULL",
                )
                .bind(db_id(task_id))
                .bind(micros(t))
                .execute(self.pool())
                .await
                .map_err(backend)?;
                Ok(())
            }

            async fn task_finished(&self, task_id: u64, t: OffsetDateTime) -> Result<(), DbError> {
                sqlx::query(
                    "INSERT INTO task_times (task_id, started, finished) VALUES ($1, NULL, $2) \
                     ON CONFLICT (task_id) DO UPDATE \
                     SET finished = COALESCE(task_times.finished, excluded.finished)",
                )
                .bind(db_id(task_id))
                .bind(micros(t))
                .execute(self.pool())
                .await
                .map_err(backend)?;
                Ok(())
            }

            async fn task_times(
                &self,
                build_id: u64,
            ) -> Result<std::collections::HashMap<u64, PTaskTimes>, DbError> {
                let rows: Vec<(i64, Option<i64>, Option<i64>)> = sqlx::query_as(
                    "SELECT tt.task_id, tt.started, tt.finished FROM task_times tt \
                     JOIN tasks t ON t.id = tt.task_id WHERE t.build_id = $1",
                )
                .bind(db_id(build_id))
                .fetch_all(self.pool())
                .await
                .map_err(backend)?;
                let mut out = std::collections::HashMap::with_capacity(rows.len());
                for (id, started, finished) in rows {
                    out.insert(
                        api_u64(id),
                        PTaskTimes {
                            started: started.map(from_micros).transpose()?,
                            finished: finished.map(from_micros).transpose()?,
                        },
                    );
                }
                Ok(out)
            }

            async fn product_member_count(&self, product: &str) -> Result<u64, DbError> {
                let n: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM product_members WHERE product = $1")
                        .bind(product)
                        .fetch_one(self.pool())
                        .await
                        .map_err(backend)?;
                Ok(api_u64(n))
            }
        }
    };
}
pub(super) use page_store_impl;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{T0, new_build, put_bundled_platforms};
    use crate::db::{SqliteStore, Store};

    async fn suite<S: Store>(s: &S) {
        put_bundled_platforms(s).await;
        let b = s
            .create_build(&new_build("alice", &["bash"], &["x86_64"]), T0)
            .await
            .unwrap();
        let other = s
            .create_build(&new_build("alice", &["zsh"], &["x86_64"]), T0)
            .await
            .unwrap();
        let (src, arch) = (b.tasks[0].id, b.tasks[1].id);
        assert!(s.task_times(b.id).await.unwrap().is_empty());
        let t1 = T0 + time::Duration::seconds(10);
        let t2 = T0 + time::Duration::seconds(75);
        s.task_started(src, t1).await.unwrap();
        s.task_started(other.tasks[0].id, t1).await.unwrap();
        let times = s.task_times(b.id).await.unwrap();
        assert_eq!(times.len(), 1, "only the build's own tasks");
        assert_eq!(
            times[&src],
            TaskTimes {
                started: Some(t1),
                finished: None
            }
        );
        s.task_finished(src, t2).await.unwrap();
        s.task_finished(src, t2 + time::Duration::seconds(5))
            .await
            .unwrap();
        assert_eq!(s.task_times(b.id).await.unwrap()[&src].finished, Some(t2));
        // A restart shows the new run only.
        let t3 = t2 + time::Duration::minutes(3);
        s.task_started(src, t3).await.unwrap();
        assert_eq!(
            s.task_times(b.id).await.unwrap()[&src],
            TaskTimes {
                started: Some(t3),
                finished: None
            }
        );
        // A task cancelled before it ran has a finish and no start.
        s.task_finished(arch, t3).await.unwrap();
        assert_eq!(
            s.task_times(b.id).await.unwrap()[&arch],
            TaskTimes {
                started: None,
                finished: Some(t3)
            }
        );

        assert_eq!(s.product_member_count("open").await.unwrap(), 0);
        s.create_product("open", false).await.unwrap();
        s.create_user("carol", false).await.unwrap();
        s.create_user("dave", false).await.unwrap();
        s.add_product_member("open", "carol").await.unwrap();
        s.add_product_member("open", "dave").await.unwrap();
        s.add_product_member("open", "dave").await.unwrap();
        assert_eq!(s.product_member_count("open").await.unwrap(), 2);
    }

    #[tokio::test]
    async fn page_reads_on_sqlite() {
        let s = SqliteStore::memory().await.unwrap();
        suite(&s).await;
    }

    #[tokio::test]
    async fn page_reads_on_postgres() {
        let Ok(url) = std::env::var("ALBS_TEST_DATABASE_URL") else {
            eprintln!("ALBS_TEST_DATABASE_URL is not set; the PostgreSQL run is skipped");
            return;
        };
        let schema = format!("pages_{}", std::process::id());
        let s = crate::db::PgStore::connect_with(&url, Some(&schema), 4)
            .await
            .unwrap();
        suite(&s).await;
        s.drop_schema().await.unwrap();
    }
}
