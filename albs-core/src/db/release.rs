//! Release plans in the store.
//!
//! A plan names its platform (and product), its owner, its builds and its
//! entries (package → repository). It is edited while `planned` or
//! `failed`. A commit publishes the files first and then marks the plan
//! committed with the state of each repository in one transaction, or marks
//! it failed with the reason: no plan stays half-committed. Only a
//! committed plan is reverted.
//!
//! The SQL is shared by both backends: `release_store_impl!` is expanded in
//! `sqlite.rs` and `postgres.rs`.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::DbError;
use super::common::{api_u64, from_micros};
use crate::hash::Sha256;
use crate::release::{Release, ReleaseEntry, ReleaseRepoState, ReleaseState};

/// A plan to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRelease {
    /// The platform.
    pub platform: String,
    /// The product, if any.
    pub product: Option<String>,
    /// Who makes it.
    pub owner: String,
    /// Its builds.
    pub builds: Vec<u64>,
    /// Its entries.
    pub entries: Vec<ReleaseEntry>,
}

/// Release plans.
#[async_trait]
pub trait ReleaseStore: Send + Sync {
    /// Creates a planned release.
    async fn create_release(
        &self,
        release: &NewRelease,
        now: OffsetDateTime,
    ) -> Result<Release, DbError>;
    /// A release with its entries and repositories.
    async fn release(&self, id: u64) -> Result<Option<Release>, DbError>;
    /// Every release, newest first.
    async fn releases(&self) -> Result<Vec<Release>, DbError>;
    /// Replaces the entries of a planned or failed release.
    async fn set_release_entries(
        &self,
        id: u64,
        entries: &[ReleaseEntry],
    ) -> Result<Release, DbError>;
    /// Marks a planned or failed release committed, with the repositories
    /// as the commit left them.
    async fn commit_release(
        &self,
        id: u64,
        repos: &[ReleaseRepoState],
        now: OffsetDateTime,
    ) -> Result<Release, DbError>;
    /// Marks a planned or failed release failed with `reason`.
    async fn fail_release(&self, id: u64, reason: &str) -> Result<Release, DbError>;
    /// Marks a committed release reverted.
    async fn revert_release(&self, id: u64, now: OffsetDateTime) -> Result<Release, DbError>;
}

/// A release row.
#[derive(sqlx::FromRow)]
pub(super) struct ReleaseRow {
    pub id: i64,
    pub platform: String,
    pub product: String,
    pub owner: String,
    pub state: String,
    pub reason: Option<String>,
    pub builds: String,
    pub created: i64,
    pub committed: Option<i64>,
    pub reverted: Option<i64>,
}

/// An entry row.
#[derive(sqlx::FromRow)]
pub(super) struct EntryRow {
    pub sha256: Vec<u8>,
    pub build_id: i64,
    pub name: String,
    pub nevra: String,
    pub repo: String,
}

/// A repository row.
#[derive(sqlx::FromRow)]
pub(super) struct RepoRow {
    pub repo: String,
    pub repomd_sha256: Vec<u8>,
    pub generation: i64,
}

fn digest(bytes: &[u8]) -> Result<Sha256, DbError> {
    let a: [u8; 32] = bytes.try_into().map_err(|_| {
        DbError::Backend(format!("stored digest has {} bytes, not 32", bytes.len()))
    })?;
    Ok(Sha256(a))
}

impl ReleaseRow {
    pub fn into_release(
        self,
        entries: Vec<EntryRow>,
        repos: Vec<RepoRow>,
    ) -> Result<Release, DbError> {
        let entries = entries
            .into_iter()
            .map(|e| {
                Ok(ReleaseEntry {
                    sha256: digest(&e.sha256)?,
                    build_id: api_u64(e.build_id),
                    name: e.name,
                    nevra: e.nevra.parse().map_err(|err| {
                        DbError::Backend(format!("stored NEVRA {:?}: {err}", e.nevra))
                    })?,
                    repo: e.repo,
                })
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        let repositories = repos
            .into_iter()
            .map(|r| {
                Ok(ReleaseRepoState {
                    name: r.repo,
                    repomd_sha256: digest(&r.repomd_sha256)?,
                    generation: api_u64(r.generation),
                })
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        Ok(Release {
            id: api_u64(self.id),
            platform: self.platform,
            product: (!self.product.is_empty()).then_some(self.product),
            owner: self.owner,
            state: self.state.parse().map_err(DbError::Backend)?,
            reason: self.reason,
            builds: serde_json::from_str(&self.builds)
                .map_err(|e| DbError::Backend(format!("stored release builds: {e}")))?,
            created: from_micros(self.created)?,
            committed: self.committed.map(from_micros).transpose()?,
            reverted: self.reverted.map(from_micros).transpose()?,
            entries,
            repositories,
        })
    }
}

/// Whether a release in `state` may be edited or committed.
pub(super) fn open_state(state: ReleaseState) -> bool {
    matches!(state, ReleaseState::Planned | ReleaseState::Failed)
}

/// The `ReleaseStore` implementation both SQL backends share.
macro_rules! release_store_impl {
    () => {
        use $crate::db::release::{
            EntryRow, NewRelease, ReleaseRow, ReleaseStore, RepoRow, open_state,
        };
        use $crate::release::{
            Release as RRelease, ReleaseEntry as RReleaseEntry,
            ReleaseRepoState as RReleaseRepoState, ReleaseState as RReleaseState,
        };

        async fn release_load(conn: &mut Conn, id: i64) -> Result<Option<RRelease>, DbError> {
            let row: Option<ReleaseRow> = sqlx::query_as(
                "SELECT id, platform, product, owner, state, reason, builds, created, \
                 committed, reverted FROM releases WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
            let Some(row) = row else {
                return Ok(None);
            };
            let entries: Vec<EntryRow> = sqlx::query_as(
                "SELECT sha256, build_id, name, nevra, repo FROM release_entries \
                 WHERE release_id = $1 ORDER BY position",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
            let repos: Vec<RepoRow> = sqlx::query_as(
                "SELECT repo, repomd_sha256, generation FROM release_repos \
                 WHERE release_id = $1 ORDER BY repo",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
            row.into_release(entries, repos).map(Some)
        }

        async fn release_or_missing(conn: &mut Conn, id: u64) -> Result<RRelease, DbError> {
            release_load(conn, db_id(id))
                .await?
                .ok_or_else(|| DbError::NotFound {
                    what: "release",
                    id: id.to_string(),
                })
        }

        async fn release_put_entries(
            conn: &mut Conn,
            id: i64,
            entries: &[RReleaseEntry],
        ) -> Result<(), DbError> {
            sqlx::query("DELETE FROM release_entries WHERE release_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
            for (i, e) in entries.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO release_entries \
                     (release_id, position, sha256, build_id, name, nevra, arch, repo) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(i as i64)
                .bind(e.sha256.0.as_slice())
                .bind(db_id(e.build_id))
                .bind(&e.name)
                .bind(e.nevra.to_string())
                .bind(e.nevra.arch.as_str())
                .bind(&e.repo)
                .execute(&mut *conn)
                .await
                .map_err(|err| conflict(err, "release entry", format!("{} in {}", e.name, e.repo)))?;
            }
            Ok(())
        }

        /// The release, locked, when it is in a state `ok` accepts.
        async fn release_in_state(
            conn: &mut Conn,
            id: u64,
            ok: fn(RReleaseState) -> bool,
            doing: &str,
        ) -> Result<RRelease, DbError> {
            let _lock: Option<i64> = sqlx::query_scalar(concat!(
                "SELECT id FROM releases WHERE id = $1",
                for_update!()
            ))
            .bind(db_id(id))
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
            let r = release_or_missing(conn, id).await?;
            if !ok(r.state) {
                return Err(DbError::Invalid(format!(
                    "release {id} is {}; it cannot be {doing}",
                    r.state
                )));
            }
            Ok(r)
        }

        #[async_trait]
        impl ReleaseStore for This {
            async fn create_release(
                &self,
                release: &NewRelease,
                now: OffsetDateTime,
            ) -> Result<RRelease, DbError> {
                let builds = serde_json::to_string(&release.builds)
                    .map_err(|e| DbError::Backend(e.to_string()))?;
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO releases (platform, product, owner, state, builds, created) \
                         VALUES ($1, $2, $3, 'planned', $4, $5) RETURNING id",
                    )
                    .bind(&release.platform)
                    .bind(release.product.clone().unwrap_or_default())
                    .bind(&release.owner)
                    .bind(builds)
                    .bind(micros(now))
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(backend)?;
                    release_put_entries(conn, id, &release.entries).await?;
                    release_or_missing(conn, api_u64(id)).await
                }
                .await;
                tx.finish(r).await
            }

            async fn release(&self, id: u64) -> Result<Option<RRelease>, DbError> {
                let mut tx = self.read().await?;
                release_load(&mut tx, db_id(id)).await
            }

            async fn releases(&self) -> Result<Vec<RRelease>, DbError> {
                let mut tx = self.read().await?;
                let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM releases ORDER BY id DESC")
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(backend)?;
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(r) = release_load(&mut tx, id).await? {
                        out.push(r);
                    }
                }
                Ok(out)
            }

            async fn set_release_entries(
                &self,
                id: u64,
                entries: &[RReleaseEntry],
            ) -> Result<RRelease, DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    release_in_state(conn, id, open_state, "edited").await?;
                    release_put_entries(conn, db_id(id), entries).await?;
                    release_or_missing(conn, id).await
                }
                .await;
                tx.finish(r).await
            }

            async fn commit_release(
                &self,
                id: u64,
                repos: &[RReleaseRepoState],
                now: OffsetDateTime,
            ) -> Result<RRelease, DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    release_in_state(conn, id, open_state, "committed").await?;
                    sqlx::query("DELETE FROM release_repos WHERE release_id = $1")
                        .bind(db_id(id))
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                    for s in repos {
                        sqlx::query(
                            "INSERT INTO release_repos \
                             (release_id, repo, repomd_sha256, generation) VALUES ($1, $2, $3, $4)",
                        )
                        .bind(db_id(id))
                        .bind(&s.name)
                        .bind(s.repomd_sha256.0.as_slice())
                        .bind(db_id(s.generation))
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| conflict(e, "release repository", &s.name))?;
                    }
                    sqlx::query(
                        "UPDATE releases SET state = 'committed', reason = NULL, committed = $1 \
                         WHERE id = $2",
                    )
                    .bind(micros(now))
                    .bind(db_id(id))
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                    release_or_missing(conn, id).await
                }
                .await;
                tx.finish(r).await
            }

            async fn fail_release(&self, id: u64, reason: &str) -> Result<RRelease, DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    release_in_state(conn, id, open_state, "marked failed").await?;
                    sqlx::query("UPDATE releases SET state = 'failed', reason = $1 WHERE id = $2")
                        .bind(reason)
                        .bind(db_id(id))
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                    release_or_missing(conn, id).await
                }
                .await;
                tx.finish(r).await
            }

            async fn revert_release(
                &self,
                id: u64,
                now: OffsetDateTime,
            ) -> Result<RRelease, DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    release_in_state(
                        conn,
                        id,
                        |s| s == RReleaseState::Committed,
                        "reverted",
                    )
                    .await?;
                    sqlx::query(
                        "UPDATE releases SET state = 'reverted', reverted = $1 WHERE id = $2",
                    )
                    .bind(micros(now))
                    .bind(db_id(id))
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                    release_or_missing(conn, id).await
                }
                .await;
                tx.finish(r).await
            }
        }
    };
}
pub(super) use release_store_impl;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{SqliteStore, Store};

    fn entry(i: u8, nevra: &str, repo: &str) -> ReleaseEntry {
        let nevra: crate::evr::Nevra = nevra.parse().unwrap();
        ReleaseEntry {
            sha256: Sha256([i; 32]),
            build_id: 7,
            name: nevra.file_name(),
            nevra,
            repo: repo.into(),
        }
    }

    /// The rules of release plans, on any store.
    pub(crate) async fn suite(s: &dyn Store) {
        let t0 = crate::conformance::T0;
        let t1 = t0 + time::Duration::seconds(5);
        let nr = NewRelease {
            platform: "almalinux-9".into(),
            product: None,
            owner: "alice".into(),
            builds: vec![7, 8],
            entries: vec![
                entry(1, "hello-1.0-1.el9.x86_64", "almalinux-9-x86_64"),
                entry(2, "hello-1.0-1.el9.src", "almalinux-9-src"),
            ],
        };
        let r = s.create_release(&nr, t0).await.unwrap();
        assert_eq!(r.state, ReleaseState::Planned);
        assert_eq!(
            (r.builds.as_slice(), r.product.as_deref()),
            (&[7, 8][..], None)
        );
        assert_eq!(r.entries, nr.entries);
        assert_eq!(r.created, t0);
        assert_eq!(s.release(r.id).await.unwrap(), Some(r.clone()));
        let mut other = nr.clone();
        other.product = Some("tools".into());
        let r2 = s.create_release(&other, t0).await.unwrap();
        assert_eq!(r2.product.as_deref(), Some("tools"));
        let all = s.releases().await.unwrap();
        assert_eq!(
            all.iter().map(|r| r.id).collect::<Vec<_>>(),
            [r2.id, r.id],
            "newest first"
        );
        assert!(s.release(999_999).await.unwrap().is_none());

        // Edits replace the entries; duplicates are refused.
        let edited = vec![entry(1, "hello-1.0-1.el9.x86_64", "extras")];
        let e = s.set_release_entries(r.id, &edited).await.unwrap();
        assert_eq!(e.entries, edited);
        let dup = vec![edited[0].clone(), edited[0].clone()];
        let bad = s.set_release_entries(r.id, &dup).await;
        assert!(matches!(bad, Err(DbError::Conflict { .. })), "{bad:?}");
        assert_eq!(s.release(r.id).await.unwrap().unwrap().entries, edited);

        // A failed commit keeps the plan editable; a commit records repos.
        let f = s.fail_release(r.id, "disk full").await.unwrap();
        assert_eq!(
            (f.state, f.reason.as_deref()),
            (ReleaseState::Failed, Some("disk full"))
        );
        assert!(matches!(
            s.revert_release(r.id, t1).await,
            Err(DbError::Invalid(_))
        ));
        let repos = vec![ReleaseRepoState {
            name: "extras".into(),
            repomd_sha256: Sha256([9; 32]),
            generation: 2,
        }];
        let c = s.commit_release(r.id, &repos, t1).await.unwrap();
        assert_eq!(c.state, ReleaseState::Committed);
        assert_eq!(c.reason, None);
        assert_eq!(c.committed, Some(t1));
        assert_eq!(c.repositories, repos);
        for refused in [
            s.set_release_entries(r.id, &edited).await,
            s.commit_release(r.id, &repos, t1).await,
            s.fail_release(r.id, "x").await,
        ] {
            assert!(
                matches!(refused, Err(DbError::Invalid(ref m)) if m.contains("committed")),
                "{refused:?}"
            );
        }
        let v = s.revert_release(r.id, t1).await.unwrap();
        assert_eq!((v.state, v.reverted), (ReleaseState::Reverted, Some(t1)));
        assert!(matches!(
            s.revert_release(r.id, t1).await,
            Err(DbError::Invalid(_))
        ));
        assert!(matches!(
            s.commit_release(999_999, &repos, t1).await,
            Err(DbError::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn release_rules_on_sqlite() {
        let s = SqliteStore::memory().await.unwrap();
        suite(&s).await;
    }

    #[tokio::test]
    async fn release_rules_on_postgres() {
        let Ok(url) = std::env::var("ALBS_TEST_DATABASE_URL") else {
            eprintln!("ALBS_TEST_DATABASE_URL is not set; the PostgreSQL run is skipped");
            return;
        };
        let schema = format!("release_{}", std::process::id());
        let s = crate::db::PgStore::connect_with(&url, Some(&schema), 4)
            .await
            .unwrap();
        suite(&s).await;
        s.drop_schema().await.unwrap();
    }
}
