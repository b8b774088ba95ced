//! Errata (advisories) in the store.
//!
//! An erratum belongs to one platform and moves from `draft` to `approved`
//! to `released`. Its id (`ALSA-2026:0001` for security, `ALBA-…` for
//! bugfix, `ALEA-…` for enhancement errata) is assigned by the store when
//! the caller gives none: the next number of the year, unique across
//! platforms. Its fixed packages carry their NEVRA, the sha256 of the built
//! (or signed) artifact, the key id they are signed with, their source
//! package and the build they come from.
//!
//! The record's JSON shape is the one of the advisory files the errata
//! crate reads (`type`, `severity`, `cves`, `references`, `module`,
//! `packages`), with the workflow fields beside it; the server converts
//! between the two. Edits are optimistic: [`ErrataStore::save_erratum`]
//! refuses to overwrite a record changed since it was read.
//!
//! The SQL is shared by both backends: `errata_store_impl!` is expanded in
//! `sqlite.rs` and `postgres.rs` beside `store_impl.rs`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::DbError;
use super::common::{api_u64, from_json, from_micros};
use crate::evr::Nevra;
use crate::hash::Sha256;

/// Where an erratum is in its workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErratumState {
    /// Being written; editable by any user.
    Draft,
    /// Checked by an admin; waiting for release.
    Approved,
    /// Published in the platform's feeds; only admins change it.
    Released,
}

impl ErratumState {
    /// The column and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ErratumState::Draft => "draft",
            ErratumState::Approved => "approved",
            ErratumState::Released => "released",
        }
    }
}

impl std::fmt::Display for ErratumState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErratumState {
    type Err = DbError;
    fn from_str(s: &str) -> Result<Self, DbError> {
        Ok(match s {
            "draft" => ErratumState::Draft,
            "approved" => ErratumState::Approved,
            "released" => ErratumState::Released,
            other => {
                return Err(DbError::Invalid(format!(
                    "erratum state {other:?} is not draft, approved or released"
                )));
            }
        })
    }
}

/// A link from an erratum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErratumReference {
    /// `cve`, `bugzilla` or `other`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id (`CVE-2026-1234`, a bug number).
    pub id: String,
    /// Its URL.
    pub href: String,
    /// A title; the id when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
}

/// The module stream an erratum applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErratumModule {
    /// Module name.
    pub name: String,
    /// Stream.
    pub stream: String,
    /// Module version, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Module context, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// A package that fixes an erratum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedPackage {
    /// Name, EVR and arch.
    pub nevra: Nevra,
    /// The sha256 of the package file (the signed one when it was signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256>,
    /// The OpenPGP key id (16 lower-case hex digits) it is signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
    /// The source package file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_rpm: Option<String>,
    /// The build it comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<u64>,
}

/// What an erratum says: everything a user writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErratumContent {
    /// `security`, `bugfix` or `enhancement`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `low`, `moderate`, `important` or `critical` (security only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// One-line title.
    pub title: String,
    /// What it fixes.
    pub description: String,
    /// CVE ids fixed.
    #[serde(default)]
    pub cves: Vec<String>,
    /// Links.
    #[serde(default)]
    pub references: Vec<ErratumReference>,
    /// The module stream, for modular packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<ErratumModule>,
    /// The fixed packages.
    #[serde(default)]
    pub packages: Vec<FixedPackage>,
}

/// A stored erratum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erratum {
    /// `ALSA-2026:0001`.
    pub id: String,
    /// The platform (`almalinux-9`).
    pub platform: String,
    /// What it says.
    #[serde(flatten)]
    pub content: ErratumContent,
    /// Where it is.
    pub state: ErratumState,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated: OffsetDateTime,
    /// When it was released.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub released: Option<OffsetDateTime>,
    /// Who created it.
    pub created_by: String,
    /// Who changed it last.
    pub updated_by: String,
}

/// An erratum to create (a draft).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewErratum {
    /// An explicit id (to mirror an upstream advisory); assigned when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The platform.
    pub platform: String,
    /// What it says.
    #[serde(flatten)]
    pub content: ErratumContent,
}

/// The id prefix of an erratum type (`security` → `ALSA`).
pub fn id_prefix(kind: &str) -> Result<&'static str, DbError> {
    match kind {
        "security" => Ok("ALSA"),
        "bugfix" => Ok("ALBA"),
        "enhancement" => Ok("ALEA"),
        other => Err(DbError::Invalid(format!(
            "erratum type {other:?} is not security, bugfix or enhancement"
        ))),
    }
}

/// Year and number of an id `PREFIX-YYYY:NNNN`.
pub fn id_number(id: &str) -> Result<(i64, i64), DbError> {
    let bad = || {
        DbError::Invalid(format!(
            "erratum id {id:?} is not PREFIX-YYYY:NNNN (for example ALSA-2026:0001)"
        ))
    };
    let (prefix, rest) = id.split_once('-').ok_or_else(bad)?;
    let (year, num) = rest.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit());
    if !matches!(prefix, "ALSA" | "ALBA" | "ALEA")
        || year.len() != 4
        || !digits(year)
        || !digits(num)
    {
        return Err(bad());
    }
    Ok((
        year.parse().map_err(|_| bad())?,
        num.parse().map_err(|_| bad())?,
    ))
}

/// Errata.
#[async_trait]
pub trait ErrataStore: Send + Sync {
    /// Stores a new draft by `who`; assigns the id when `new.id` is `None`
    /// (the year's next number). A taken id is a [`DbError::Conflict`].
    async fn create_erratum(
        &self,
        new: &NewErratum,
        who: &str,
        now: OffsetDateTime,
    ) -> Result<Erratum, DbError>;
    /// The erratum `id`.
    async fn erratum(&self, id: &str) -> Result<Option<Erratum>, DbError>;
    /// Errata of `platform` in `state` (all when `None`), by id.
    async fn list_errata(
        &self,
        platform: Option<&str>,
        state: Option<ErratumState>,
    ) -> Result<Vec<Erratum>, DbError>;
    /// Replaces the stored erratum `e.id` (content, state, times, who) when
    /// it was last updated at `read_at`; a record changed since is a
    /// [`DbError::Conflict`], an unknown one a [`DbError::NotFound`].
    async fn save_erratum(&self, e: &Erratum, read_at: OffsetDateTime) -> Result<(), DbError>;
}

/// An erratum row.
#[derive(sqlx::FromRow)]
pub(super) struct ErratumRow {
    pub id: String,
    pub platform: String,
    pub kind: String,
    pub severity: Option<String>,
    pub title: String,
    pub description: String,
    pub cves: String,
    pub refs: String,
    pub module: Option<String>,
    pub state: String,
    pub created: i64,
    pub updated: i64,
    pub released: Option<i64>,
    pub created_by: String,
    pub updated_by: String,
}

/// The columns of [`ErratumRow`].
macro_rules! erratum_cols {
    () => {
        "id, platform, kind, severity, title, description, cves, refs, module, state, \
         created, updated, released, created_by, updated_by"
    };
}
pub(super) use erratum_cols;

/// A fixed package row.
#[derive(sqlx::FromRow)]
pub(super) struct FixedRow {
    pub nevra: String,
    pub sha256: Option<Vec<u8>>,
    pub signing_key: Option<String>,
    pub source_rpm: Option<String>,
    pub build_id: Option<i64>,
}

impl FixedRow {
    pub fn into_package(self) -> Result<FixedPackage, DbError> {
        let sha256 = self
            .sha256
            .map(|b| {
                <[u8; 32]>::try_from(b.as_slice())
                    .map(Sha256)
                    .map_err(|_| DbError::Backend("stored package digest is not 32 bytes".into()))
            })
            .transpose()?;
        Ok(FixedPackage {
            nevra: self
                .nevra
                .parse()
                .map_err(|e| DbError::Backend(format!("stored NEVRA {:?}: {e}", self.nevra)))?,
            sha256,
            signing_key: self.signing_key,
            source_rpm: self.source_rpm,
            build_id: self.build_id.map(api_u64),
        })
    }
}

impl ErratumRow {
    pub fn into_erratum(self, packages: Vec<FixedPackage>) -> Result<Erratum, DbError> {
        Ok(Erratum {
            id: self.id,
            platform: self.platform,
            content: ErratumContent {
                kind: self.kind,
                severity: self.severity,
                title: self.title,
                description: self.description,
                cves: from_json(&self.cves, "erratum CVEs")?,
                references: from_json(&self.refs, "erratum references")?,
                module: self
                    .module
                    .as_deref()
                    .map(|m| from_json(m, "erratum module"))
                    .transpose()?,
                packages,
            },
            state: self
                .state
                .parse()
                .map_err(|e: DbError| DbError::Backend(e.to_string()))?,
            created: from_micros(self.created)?,
            updated: from_micros(self.updated)?,
            released: self.released.map(from_micros).transpose()?,
            created_by: self.created_by,
            updated_by: self.updated_by,
        })
    }
}

/// The `ErrataStore` implementation both SQL backends share; expanded in
/// `sqlite.rs` and `postgres.rs`, where `This`, `Conn`, `Db` and the
/// store's `write()`/`read()` are defined.
macro_rules! errata_store_impl {
    () => {
        use $crate::db::errata::{
            Erratum, ErratumRow, ErratumState, ErrataStore, FixedPackage, FixedRow, NewErratum,
            erratum_cols, id_number, id_prefix,
        };

        async fn errata_load(
            conn: &mut Conn,
            platform: Option<&str>,
            state: Option<&str>,
            id: Option<&str>,
        ) -> Result<Vec<Erratum>, DbError> {
            let rows: Vec<ErratumRow> = sqlx::query_as(concat!(
                "SELECT ",
                erratum_cols!(),
                " FROM errata WHERE ($1 IS NULL OR platform = $1) AND ($2 IS NULL OR state = $2) \
                 AND ($3 IS NULL OR id = $3) ORDER BY id"
            ))
            .bind(platform)
            .bind(state)
            .bind(id)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let pkgs: Vec<FixedRow> = sqlx::query_as(
                    "SELECT nevra, sha256, signing_key, source_rpm, build_id \
                     FROM errata_packages WHERE erratum_id = $1 ORDER BY position",
                )
                .bind(&row.id)
                .fetch_all(&mut *conn)
                .await
                .map_err(backend)?;
                let pkgs = pkgs
                    .into_iter()
                    .map(FixedRow::into_package)
                    .collect::<Result<Vec<_>, _>>()?;
                out.push(row.into_erratum(pkgs)?);
            }
            Ok(out)
        }

        async fn errata_put_packages(
            conn: &mut Conn,
            id: &str,
            packages: &[FixedPackage],
        ) -> Result<(), DbError> {
            sqlx::query("DELETE FROM errata_packages WHERE erratum_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
            for (i, p) in packages.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO errata_packages (erratum_id, position, nevra, name, arch, \
                     sha256, signing_key, source_rpm, build_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(id)
                .bind(i as i64)
                .bind(p.nevra.to_string())
                .bind(&p.nevra.name)
                .bind(p.nevra.arch.as_str())
                .bind(p.sha256.map(|s| s.0.to_vec()))
                .bind(&p.signing_key)
                .bind(&p.source_rpm)
                .bind(p.build_id.map(db_id))
                .execute(&mut *conn)
                .await
                .map_err(|e| conflict(e, "erratum package", p.nevra.to_string()))?;
            }
            Ok(())
        }

        #[async_trait]
        impl ErrataStore for This {
            async fn create_erratum(
                &self,
                new: &NewErratum,
                who: &str,
                now: OffsetDateTime,
            ) -> Result<Erratum, DbError> {
                let prefix = id_prefix(&new.content.kind)?;
                let c = &new.content;
                // Two writers may pick the same next number (PostgreSQL
                // does not serialise writes): the loser picks again.
                for _ in 0..8 {
                    let mut tx = self.write().await?;
                    let r: Result<_, DbError> = async {
                        let conn = tx.conn();
                        let (id, year, number) = match &new.id {
                            Some(id) => {
                                let (y, n) = id_number(id)?;
                                (id.clone(), y, n)
                            }
                            None => {
                                let year = i64::from(now.year());
                                let max: Option<i64> = sqlx::query_scalar(
                                    "SELECT MAX(number) FROM errata WHERE year = $1",
                                )
                                .bind(year)
                                .fetch_one(&mut *conn)
                                .await
                                .map_err(backend)?;
                                let n = max.unwrap_or(0) + 1;
                                (format!("{prefix}-{year}:{n:04}"), year, n)
                            }
                        };
                        sqlx::query(
                            "INSERT INTO errata (id, year, number, platform, kind, severity, \
                             title, description, cves, refs, module, state, created, updated, \
                             released, created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $6, \
                             $7, $8, $9, $10, $11, 'draft', $12, $12, NULL, $13, $13)",
                        )
                        .bind(&id)
                        .bind(year)
                        .bind(number)
                        .bind(&new.platform)
                        .bind(&c.kind)
                        .bind(&c.severity)
                        .bind(&c.title)
                        .bind(&c.description)
                        .bind(to_json(&c.cves)?)
                        .bind(to_json(&c.references)?)
                        .bind(c.module.as_ref().map(to_json).transpose()?)
                        .bind(micros(now))
                        .bind(who)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| conflict(e, "erratum", &id))?;
                        errata_put_packages(conn, &id, &c.packages).await?;
                        Ok(id)
                    }
                    .await;
                    match tx.finish(r).await {
                        Ok(id) => {
                            let mut conn = self.read().await?;
                            let e = errata_load(&mut conn, None, None, Some(&id)).await?;
                            return e.into_iter().next().ok_or_else(|| {
                                DbError::Backend(format!("erratum {id} vanished"))
                            });
                        }
                        Err(DbError::Conflict { .. }) if new.id.is_none() => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(DbError::Backend(
                    "no free erratum number after 8 tries; retry".into(),
                ))
            }

            async fn erratum(&self, id: &str) -> Result<Option<Erratum>, DbError> {
                let mut tx = self.read().await?;
                let e = errata_load(&mut tx, None, None, Some(id)).await?;
                tx.commit().await.map_err(backend)?;
                Ok(e.into_iter().next())
            }

            async fn list_errata(
                &self,
                platform: Option<&str>,
                state: Option<ErratumState>,
            ) -> Result<Vec<Erratum>, DbError> {
                let mut tx = self.read().await?;
                let e = errata_load(&mut tx, platform, state.map(ErratumState::as_str), None)
                    .await?;
                tx.commit().await.map_err(backend)?;
                Ok(e)
            }

            async fn save_erratum(
                &self,
                e: &Erratum,
                read_at: OffsetDateTime,
            ) -> Result<(), DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    let c = &e.content;
                    let done = sqlx::query(
                        "UPDATE errata SET platform = $1, kind = $2, severity = $3, title = $4, \
                         description = $5, cves = $6, refs = $7, module = $8, state = $9, \
                         updated = $10, released = $11, updated_by = $12 \
                         WHERE id = $13 AND updated = $14",
                    )
                    .bind(&e.platform)
                    .bind(&c.kind)
                    .bind(&c.severity)
                    .bind(&c.title)
                    .bind(&c.description)
                    .bind(to_json(&c.cves)?)
                    .bind(to_json(&c.references)?)
                    .bind(c.module.as_ref().map(to_json).transpose()?)
                    .bind(e.state.as_str())
                    .bind(micros(e.updated))
                    .bind(e.released.map(micros))
                    .bind(&e.updated_by)
                    .bind(&e.id)
                    .bind(micros(read_at))
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                    if done.rows_affected() == 0 {
                        let known: Option<String> =
                            sqlx::query_scalar("SELECT id FROM errata WHERE id = $1")
                                .bind(&e.id)
                                .fetch_optional(&mut *conn)
                                .await
                                .map_err(backend)?;
                        return Err(match known {
                            None => DbError::NotFound {
                                what: "erratum",
                                id: e.id.clone(),
                            },
                            Some(_) => DbError::Conflict {
                                what: "a newer version of erratum",
                                id: format!("{} (changed since it was read; read it again)", e.id),
                            },
                        });
                    }
                    errata_put_packages(conn, &e.id, &c.packages).await?;
                    Ok(())
                }
                .await;
                tx.finish(r).await
            }
        }
    };
}
pub(super) use errata_store_impl;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{SqliteStore, Store};

    fn content(kind: &str, names: &[&str]) -> ErratumContent {
        ErratumContent {
            kind: kind.into(),
            severity: (kind == "security").then(|| "important".into()),
            title: "hello: buffer overflow".into(),
            description: "A fix.".into(),
            cves: vec!["CVE-2026-0001".into()],
            references: vec![ErratumReference {
                kind: "cve".into(),
                id: "CVE-2026-0001".into(),
                href: "https://www.cve.org/CVERecord?id=CVE-2026-0001".into(),
                title: String::new(),
            }],
            module: None,
            packages: names
                .iter()
                .map(|n| FixedPackage {
                    nevra: n.parse().unwrap(),
                    sha256: Some(Sha256::of(n.as_bytes())),
                    signing_key: Some("0123456789abcdef".into()),
                    source_rpm: Some("hello-1.1-1.el9.src.rpm".into()),
                    build_id: Some(3),
                })
                .collect(),
        }
    }

    pub(crate) async fn suite(s: &dyn Store) {
        let t0 = time::macros::datetime!(2026-03-01 10:00 UTC);
        let new = NewErratum {
            id: None,
            platform: "almalinux-9".into(),
            content: content("security", &["hello-1.1-1.el9.x86_64"]),
        };
        let a = s.create_erratum(&new, "alice", t0).await.unwrap();
        assert_eq!(a.id, "ALSA-2026:0001");
        assert_eq!(a.state, ErratumState::Draft);
        assert_eq!(a.created_by, "alice");
        assert_eq!(a.content, new.content);
        let b = s
            .create_erratum(
                &NewErratum {
                    id: None,
                    platform: "almalinux-8".into(),
                    content: content("bugfix", &["zsh-5.8-1.el8.x86_64", "zsh-5.8-1.el8.src"]),
                },
                "bob",
                t0,
            )
            .await
            .unwrap();
        assert_eq!(
            b.id, "ALBA-2026:0002",
            "numbers are unique across platforms"
        );
        assert_eq!(b.content.packages.len(), 2);
        // An explicit id; taken ids and bad ids are refused, naming them.
        let mut explicit = new.clone();
        explicit.id = Some("ALSA-2026:1234".into());
        s.create_erratum(&explicit, "alice", t0).await.unwrap();
        let e = s.create_erratum(&explicit, "alice", t0).await.unwrap_err();
        assert!(matches!(e, DbError::Conflict { .. }), "{e}");
        assert!(e.to_string().contains("ALSA-2026:1234"), "{e}");
        explicit.id = Some("RHSA-2026:1".into());
        let e = s.create_erratum(&explicit, "alice", t0).await.unwrap_err();
        assert!(e.to_string().contains("RHSA-2026:1"), "{e}");
        let mut bad = new.clone();
        bad.content.kind = "feature".into();
        let e = s.create_erratum(&bad, "alice", t0).await.unwrap_err();
        assert!(e.to_string().contains("feature"), "{e}");
        // The next assigned number follows the largest of the year.
        let c = s.create_erratum(&new, "alice", t0).await.unwrap();
        assert_eq!(c.id, "ALSA-2026:1235");

        // Lists by platform and state, sorted by id.
        let all = s.list_errata(None, None).await.unwrap();
        let ids: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "ALBA-2026:0002",
                "ALSA-2026:0001",
                "ALSA-2026:1234",
                "ALSA-2026:1235"
            ]
        );
        let el8 = s.list_errata(Some("almalinux-8"), None).await.unwrap();
        assert_eq!(el8.len(), 1);
        assert_eq!(el8[0], b);
        assert!(
            s.list_errata(None, Some(ErratumState::Released))
                .await
                .unwrap()
                .is_empty()
        );

        // Saving: content, packages and state replaced; a stale read refused.
        let t1 = t0 + time::Duration::minutes(5);
        let mut edit = a.clone();
        edit.content.title = "hello: two fixes".into();
        edit.content.packages = content(
            "security",
            &["hello-1.2-1.el9.x86_64", "hello-1.2-1.el9.noarch"],
        )
        .packages;
        edit.state = ErratumState::Released;
        edit.updated = t1;
        edit.released = Some(t1);
        edit.updated_by = "root".into();
        s.save_erratum(&edit, a.updated).await.unwrap();
        let back = s.erratum(&a.id).await.unwrap().unwrap();
        assert_eq!(back, edit);
        let e = s.save_erratum(&edit, a.updated).await.unwrap_err();
        assert!(matches!(e, DbError::Conflict { .. }), "{e}");
        let mut ghost = edit.clone();
        ghost.id = "ALSA-2026:9999".into();
        let e = s.save_erratum(&ghost, t1).await.unwrap_err();
        assert!(matches!(e, DbError::NotFound { .. }), "{e}");
        let released = s
            .list_errata(Some("almalinux-9"), Some(ErratumState::Released))
            .await
            .unwrap();
        assert_eq!(released, vec![edit]);
        assert_eq!(s.erratum("ALSA-2026:4242").await.unwrap(), None);
    }

    #[test]
    fn ids_and_states_parse() {
        assert_eq!(id_number("ALSA-2026:0042").unwrap(), (2026, 42));
        assert!(id_number("ALSA-26:1").is_err());
        assert!(id_number("XYZ-2026:1").is_err());
        assert_eq!(id_prefix("enhancement").unwrap(), "ALEA");
        assert_eq!(
            "approved".parse::<ErratumState>().unwrap(),
            ErratumState::Approved
        );
        assert!("gone".parse::<ErratumState>().is_err());
        let json = serde_json::to_value(content("security", &["hello-1.1-1.el9.x86_64"])).unwrap();
        assert_eq!(json["type"], "security");
        assert_eq!(json["packages"][0]["nevra"], "hello-1.1-1.el9.x86_64");
    }

    #[tokio::test]
    async fn errata_on_sqlite() {
        let s = SqliteStore::memory().await.unwrap();
        suite(&s).await;
    }

    #[tokio::test]
    async fn errata_on_postgres() {
        let Ok(url) = std::env::var("ALBS_TEST_DATABASE_URL") else {
            eprintln!("ALBS_TEST_DATABASE_URL is not set; the PostgreSQL run is skipped");
            return;
        };
        let schema = format!("errata_{}", std::process::id());
        let s = crate::db::PgStore::connect_with(&url, Some(&schema), 4)
            .await
            .unwrap();
        suite(&s).await;
        s.drop_schema().await.unwrap();
    }
}
