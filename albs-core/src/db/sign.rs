//! Signing keys and sign tasks in the store.
//!
//! The server keeps only the public half of each key: its fingerprint, the
//! armored certificate, the platform (and product) it signs for, and whether
//! it is active. One key per platform and product is active; registering a
//! new one archives the old one (rotation).
//!
//! A sign task names a finished build and a key; sign nodes that hold the
//! key claim it under a lease (heartbeats extend it; a lease that runs out
//! puts the task back with a backoff, or fails it after `max_attempts`),
//! upload each signed package, which the server checks and records against
//! its unsigned twin, and complete it. Completion is idempotent, and a
//! succeeded task needs every package signed.
//!
//! The SQL is shared by both backends: `sign_store_impl!` is expanded in
//! `sqlite.rs` and `postgres.rs` beside `store_impl.rs`, whose `write()`,
//! `read()`, `Conn` and `Db` it uses.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::common::{api_u32, api_u64, from_micros, parse_state};
use super::{DbError, Lease, Node, RetryPolicy};
use crate::api::{KeyState, SignKey, SignPackage, SignResult, SignTask};
use crate::hash::Sha256;
use crate::model::BuildSignature;

/// A key to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignKey {
    /// OpenPGP fingerprint (upper hex).
    pub fingerprint: String,
    /// The armored public certificate.
    pub public_key: String,
    /// The platform it signs for.
    pub platform: String,
    /// The product, when the key is not the platform's.
    pub product: Option<String>,
}

/// A sign task to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignTask {
    /// The build whose packages are signed.
    pub build_id: u64,
    /// The key that signs (must be active).
    pub fingerprint: String,
    /// Who asks for it.
    pub owner: String,
    /// The unsigned packages (their `signed` is ignored).
    pub packages: Vec<SignPackage>,
}

/// A claimed sign task and when its lease ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignClaimed {
    /// The task (running, attempt counted).
    pub task: SignTask,
    /// When the lease ends.
    pub lease_until: OffsetDateTime,
}

/// Keys and sign tasks.
#[async_trait]
pub trait SignStore: Send + Sync {
    /// Registers a key as the active key of its platform and product; the
    /// key that was active there is archived. A known fingerprint is a
    /// [`DbError::Conflict`].
    async fn add_sign_key(&self, key: &NewSignKey, now: OffsetDateTime)
    -> Result<SignKey, DbError>;
    /// Every key, oldest first.
    async fn sign_keys(&self) -> Result<Vec<SignKey>, DbError>;
    /// The key with this fingerprint.
    async fn sign_key(&self, fingerprint: &str) -> Result<Option<SignKey>, DbError>;
    /// Archives a key (idempotent); returns it.
    async fn archive_sign_key(
        &self,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Result<SignKey, DbError>;
    /// The active key of a product of a platform, else of the platform.
    async fn active_sign_key(
        &self,
        platform: &str,
        product: Option<&str>,
    ) -> Result<Option<SignKey>, DbError>;

    /// Creates a pending sign task.
    async fn create_sign_task(
        &self,
        task: &NewSignTask,
        now: OffsetDateTime,
    ) -> Result<SignTask, DbError>;
    /// A sign task with its packages.
    async fn sign_task(&self, id: u64) -> Result<Option<SignTask>, DbError>;
    /// The sign tasks of a build, oldest first.
    async fn build_sign_tasks(&self, build_id: u64) -> Result<Vec<SignTask>, DbError>;
    /// Hands `node` the oldest pending sign task for one of `fingerprints`.
    async fn claim_sign_task(
        &self,
        node: &Node,
        fingerprints: &[String],
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Option<SignClaimed>, DbError>;
    /// Extends the lease of a sign task the node holds.
    async fn sign_heartbeat(
        &self,
        node_id: u64,
        task_id: u64,
        now: OffsetDateTime,
        lease: Duration,
    ) -> Result<Lease, DbError>;
    /// Records the signed twin of a package of a sign task the node holds.
    async fn record_signed(
        &self,
        node_id: u64,
        task_id: u64,
        unsigned: &Sha256,
        signed: &Sha256,
    ) -> Result<SignTask, DbError>;
    /// Ends a sign task the node holds (idempotent); a succeeded task needs
    /// every package signed.
    async fn complete_sign_task(
        &self,
        node_id: u64,
        task_id: u64,
        result: &SignResult,
        now: OffsetDateTime,
    ) -> Result<SignTask, DbError>;
    /// Puts sign tasks whose lease ran out back in the queue (or fails them
    /// after `policy.max_attempts`); returns their ids.
    async fn expire_sign_leases(
        &self,
        now: OffsetDateTime,
        policy: &RetryPolicy,
    ) -> Result<Vec<u64>, DbError>;
}

/// A key row.
#[derive(sqlx::FromRow)]
pub(super) struct KeyRow {
    pub fingerprint: String,
    pub public_key: String,
    pub platform: String,
    pub product: String,
    pub state: String,
    pub created: i64,
    pub archived: Option<i64>,
}

/// The columns of [`KeyRow`].
macro_rules! key_cols {
    () => {
        "fingerprint, public_key, platform, product, state, created, archived"
    };
}
pub(super) use key_cols;

impl KeyRow {
    pub fn into_key(self) -> Result<SignKey, DbError> {
        Ok(SignKey {
            fingerprint: self.fingerprint,
            public_key: self.public_key,
            platform: self.platform,
            product: (!self.product.is_empty()).then_some(self.product),
            state: parse_key_state(&self.state)?,
            created: from_micros(self.created)?,
            archived: self.archived.map(from_micros).transpose()?,
        })
    }
}

/// The column spelling of a key state.
pub(super) fn key_state_str(s: KeyState) -> &'static str {
    match s {
        KeyState::Active => "active",
        KeyState::Archived => "archived",
    }
}

fn parse_key_state(s: &str) -> Result<KeyState, DbError> {
    match s {
        "active" => Ok(KeyState::Active),
        "archived" => Ok(KeyState::Archived),
        other => Err(DbError::Backend(format!(
            "unknown key state {other:?} stored"
        ))),
    }
}

/// A sign task row.
#[derive(sqlx::FromRow)]
pub(super) struct SignTaskRow {
    pub id: i64,
    pub build_id: i64,
    pub fingerprint: String,
    pub owner: String,
    pub state: String,
    pub reason: Option<String>,
    pub attempts: i64,
    pub node_name: Option<String>,
    pub created: i64,
    pub finished: Option<i64>,
}

/// The columns of [`SignTaskRow`].
macro_rules! sign_task_cols {
    () => {
        "id, build_id, fingerprint, owner, state, reason, attempts, node_name, \
         created, finished"
    };
}
pub(super) use sign_task_cols;

/// A package row of a sign task.
#[derive(sqlx::FromRow)]
pub(super) struct SignPackageRow {
    pub unsigned_sha256: Vec<u8>,
    pub name: String,
    pub nevra: Option<String>,
    pub signed_sha256: Option<Vec<u8>>,
}

fn digest(bytes: &[u8]) -> Result<Sha256, DbError> {
    let a: [u8; 32] = bytes.try_into().map_err(|_| {
        DbError::Backend(format!(
            "stored package digest has {} bytes, not 32",
            bytes.len()
        ))
    })?;
    Ok(Sha256(a))
}

impl SignTaskRow {
    pub fn into_task(self, packages: Vec<SignPackageRow>) -> Result<SignTask, DbError> {
        let packages =
            packages
                .into_iter()
                .map(|p| {
                    Ok(SignPackage {
                        unsigned: digest(&p.unsigned_sha256)?,
                        name: p.name,
                        nevra: match p.nevra {
                            Some(n) => Some(n.parse().map_err(|e| {
                                DbError::Backend(format!("stored NEVRA {n:?}: {e}"))
                            })?),
                            None => None,
                        },
                        signed: p.signed_sha256.as_deref().map(digest).transpose()?,
                    })
                })
                .collect::<Result<Vec<_>, DbError>>()?;
        Ok(SignTask {
            id: api_u64(self.id),
            build_id: api_u64(self.build_id),
            fingerprint: self.fingerprint,
            owner: self.owner,
            state: parse_state(&self.state)?,
            reason: self.reason,
            attempts: api_u32(self.attempts),
            node: self.node_name,
            created: from_micros(self.created)?,
            finished: self.finished.map(from_micros).transpose()?,
            packages,
        })
    }
}

/// The signature of a build from its last succeeded sign task.
pub(super) fn to_build_signature(
    row: Option<(i64, String, Option<i64>)>,
) -> Result<Option<BuildSignature>, DbError> {
    row.map(|(id, fingerprint, finished)| {
        Ok(BuildSignature {
            task_id: api_u64(id),
            fingerprint,
            time: from_micros(finished.unwrap_or_default())?,
        })
    })
    .transpose()
}

/// The `SignStore` implementation both SQL backends share; expanded in
/// `sqlite.rs` and `postgres.rs`, where `This`, `Conn`, `Db` and the
/// store's `write()`/`read()` are defined.
macro_rules! sign_store_impl {
    () => {
        use $crate::api::{KeyState as SKeyState, SignResult as SSignResult, SignTask as SSignTask};
        use $crate::db::sign::{
            NewSignKey, NewSignTask, SignClaimed, SignStore, SignTaskRow, SignPackageRow, KeyRow,
            key_cols, key_state_str, sign_task_cols, to_build_signature,
        };

        /// The last succeeded sign task of a build, for `Build::signed`.
        async fn sign_build_signature(
            conn: &mut Conn,
            build_id: i64,
        ) -> Result<Option<$crate::model::BuildSignature>, DbError> {
            let row: Option<(i64, String, Option<i64>)> = sqlx::query_as(
                "SELECT id, fingerprint, finished FROM sign_tasks \
                 WHERE build_id = $1 AND state = 'succeeded' ORDER BY id DESC LIMIT 1",
            )
            .bind(build_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
            to_build_signature(row)
        }

        async fn sign_load_key(
            conn: &mut Conn,
            fingerprint: &str,
        ) -> Result<Option<$crate::api::SignKey>, DbError> {
            let row: Option<KeyRow> = sqlx::query_as(concat!(
                "SELECT ",
                key_cols!(),
                " FROM sign_keys WHERE fingerprint = $1"
            ))
            .bind(fingerprint)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
            row.map(KeyRow::into_key).transpose()
        }

        async fn sign_load_task(conn: &mut Conn, id: i64) -> Result<Option<SSignTask>, DbError> {
            let row: Option<SignTaskRow> = sqlx::query_as(concat!(
                "SELECT ",
                sign_task_cols!(),
                " FROM sign_tasks WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
            let Some(row) = row else {
                return Ok(None);
            };
            let packages: Vec<SignPackageRow> = sqlx::query_as(
                "SELECT unsigned_sha256, name, nevra, signed_sha256 FROM sign_packages \
                 WHERE task_id = $1 ORDER BY position",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
            row.into_task(packages).map(Some)
        }

        async fn sign_task_or_missing(conn: &mut Conn, id: i64) -> Result<SSignTask, DbError> {
            sign_load_task(conn, id)
                .await?
                .ok_or_else(|| DbError::NotFound {
                    what: "sign task",
                    id: id.to_string(),
                })
        }

        /// The sign task the node holds (running, its node), else why not.
        async fn sign_held(conn: &mut Conn, node_id: u64, task_id: u64) -> Result<SSignTask, DbError> {
            let row: Option<(String, Option<i64>)> =
                sqlx::query_as(concat!("SELECT state, node_id FROM sign_tasks WHERE id = $1", for_update!()))
                    .bind(db_id(task_id))
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(backend)?;
            match row {
                None => Err(DbError::NotFound {
                    what: "sign task",
                    id: task_id.to_string(),
                }),
                Some((state, node)) if state == "running" && node == Some(db_id(node_id)) => {
                    sign_task_or_missing(conn, db_id(task_id)).await
                }
                Some(_) => Err(DbError::LeaseLost {
                    node: node_id,
                    task: task_id,
                }),
            }
        }

        #[async_trait]
        impl SignStore for This {
            async fn add_sign_key(
                &self,
                key: &NewSignKey,
                now: OffsetDateTime,
            ) -> Result<$crate::api::SignKey, DbError> {
                let product = key.product.clone().unwrap_or_default();
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    if sign_load_key(conn, &key.fingerprint).await?.is_some() {
                        return Err(DbError::Conflict {
                            what: "signing key",
                            id: key.fingerprint.clone(),
                        });
                    }
                    sqlx::query(
                        "UPDATE sign_keys SET state = 'archived', archived = $1 \
                         WHERE platform = $2 AND product = $3 AND state = 'active'",
                    )
                    .bind(micros(now))
                    .bind(&key.platform)
                    .bind(&product)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                    sqlx::query(
                        "INSERT INTO sign_keys \
                         (fingerprint, public_key, platform, product, state, created) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&key.fingerprint)
                    .bind(&key.public_key)
                    .bind(&key.platform)
                    .bind(&product)
                    .bind(key_state_str(SKeyState::Active))
                    .bind(micros(now))
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| conflict(e, "signing key", &key.fingerprint))?;
                    sign_load_key(conn, &key.fingerprint)
                        .await?
                        .ok_or_else(|| DbError::Backend("an inserted key vanished".into()))
                }
                .await;
                tx.finish(r).await
            }

            async fn sign_keys(&self) -> Result<Vec<$crate::api::SignKey>, DbError> {
                let mut tx = self.read().await?;
                let rows: Vec<KeyRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    key_cols!(),
                    " FROM sign_keys ORDER BY created, fingerprint"
                ))
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?;
                rows.into_iter().map(KeyRow::into_key).collect()
            }

            async fn sign_key(
                &self,
                fingerprint: &str,
            ) -> Result<Option<$crate::api::SignKey>, DbError> {
                let mut tx = self.read().await?;
                sign_load_key(&mut tx, fingerprint).await
            }

            async fn archive_sign_key(
                &self,
                fingerprint: &str,
                now: OffsetDateTime,
            ) -> Result<$crate::api::SignKey, DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    sqlx::query(
                        "UPDATE sign_keys SET state = 'archived', archived = $1 \
                         WHERE fingerprint = $2 AND state = 'active'",
                    )
                    .bind(micros(now))
                    .bind(fingerprint)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                    sign_load_key(conn, fingerprint)
                        .await?
                        .ok_or_else(|| DbError::NotFound {
                            what: "signing key",
                            id: fingerprint.to_owned(),
                        })
                }
                .await;
                tx.finish(r).await
            }

            async fn active_sign_key(
                &self,
                platform: &str,
                product: Option<&str>,
            ) -> Result<Option<$crate::api::SignKey>, DbError> {
                let mut tx = self.read().await?;
                for p in [product.unwrap_or_default(), ""] {
                    let row: Option<KeyRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        key_cols!(),
                        " FROM sign_keys WHERE platform = $1 AND product = $2 AND state = 'active'"
                    ))
                    .bind(platform)
                    .bind(p)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if let Some(row) = row {
                        return row.into_key().map(Some);
                    }
                }
                Ok(None)
            }

            async fn create_sign_task(
                &self,
                task: &NewSignTask,
                now: OffsetDateTime,
            ) -> Result<SSignTask, DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    match sign_load_key(conn, &task.fingerprint).await? {
                        None => {
                            return Err(DbError::NotFound {
                                what: "signing key",
                                id: task.fingerprint.clone(),
                            });
                        }
                        Some(k) if k.state != SKeyState::Active => {
                            return Err(DbError::Invalid(format!(
                                "signing key {} is archived; sign with the platform's active key",
                                k.fingerprint
                            )));
                        }
                        Some(_) => {}
                    }
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO sign_tasks (build_id, fingerprint, owner, state, created) \
                         VALUES ($1, $2, $3, 'pending', $4) RETURNING id",
                    )
                    .bind(db_id(task.build_id))
                    .bind(&task.fingerprint)
                    .bind(&task.owner)
                    .bind(micros(now))
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(|e| missing(e, "build", task.build_id))?;
                    for (i, p) in task.packages.iter().enumerate() {
                        sqlx::query(
                            "INSERT INTO sign_packages \
                             (task_id, position, unsigned_sha256, name, nevra) \
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(id)
                        .bind(i as i64)
                        .bind(p.unsigned.0.to_vec())
                        .bind(&p.name)
                        .bind(p.nevra.as_ref().map(ToString::to_string))
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| conflict(e, "package of the sign task", p.unsigned))?;
                    }
                    sign_task_or_missing(conn, id).await
                }
                .await;
                tx.finish(r).await
            }

            async fn sign_task(&self, id: u64) -> Result<Option<SSignTask>, DbError> {
                let mut tx = self.read().await?;
                sign_load_task(&mut tx, db_id(id)).await
            }

            async fn build_sign_tasks(&self, build_id: u64) -> Result<Vec<SSignTask>, DbError> {
                let mut tx = self.read().await?;
                let ids: Vec<i64> =
                    sqlx::query_scalar("SELECT id FROM sign_tasks WHERE build_id = $1 ORDER BY id")
                        .bind(db_id(build_id))
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(backend)?;
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    out.push(sign_task_or_missing(&mut tx, id).await?);
                }
                Ok(out)
            }

            async fn claim_sign_task(
                &self,
                node: &$crate::db::Node,
                fingerprints: &[String],
                now: OffsetDateTime,
                lease: Duration,
            ) -> Result<Option<SignClaimed>, DbError> {
                if fingerprints.is_empty() {
                    return Ok(None);
                }
                let until = micros(now).saturating_add(duration_micros(lease));
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    let mut q = QueryBuilder::<Db>::new(
                        "SELECT id FROM sign_tasks WHERE state = 'pending' AND not_before <= ",
                    );
                    q.push_bind(micros(now));
                    q.push(" AND fingerprint IN (");
                    let mut sep = q.separated(", ");
                    for f in fingerprints {
                        sep.push_bind(f.clone());
                    }
                    q.push(") ORDER BY id LIMIT 16");
                    let ids: Vec<i64> = q
                        .build_query_scalar()
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(backend)?;
                    for id in ids {
                        let got: Option<i64> = sqlx::query_scalar(
                            "UPDATE sign_tasks SET state = 'running', attempts = attempts + 1, \
                             node_id = $1, node_name = $2, lease_until = $3, reason = NULL \
                             WHERE id = $4 AND state = 'pending' RETURNING id",
                        )
                        .bind(db_id(node.id))
                        .bind(&node.name)
                        .bind(until)
                        .bind(id)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(backend)?;
                        if got.is_some() {
                            sqlx::query("UPDATE nodes SET last_seen = $1 WHERE id = $2")
                                .bind(micros(now))
                                .bind(db_id(node.id))
                                .execute(&mut *conn)
                                .await
                                .map_err(backend)?;
                            return Ok(Some(SignClaimed {
                                task: sign_task_or_missing(conn, id).await?,
                                lease_until: from_micros(until)?,
                            }));
                        }
                    }
                    Ok(None)
                }
                .await;
                tx.finish(r).await
            }

            async fn sign_heartbeat(
                &self,
                node_id: u64,
                task_id: u64,
                now: OffsetDateTime,
                lease: Duration,
            ) -> Result<Lease, DbError> {
                let until = micros(now).saturating_add(duration_micros(lease));
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    sign_held(conn, node_id, task_id).await?;
                    sqlx::query("UPDATE sign_tasks SET lease_until = $1 WHERE id = $2")
                        .bind(until)
                        .bind(db_id(task_id))
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                    Ok(Lease {
                        until: from_micros(until)?,
                        cancel: false,
                    })
                }
                .await;
                tx.finish(r).await
            }

            async fn record_signed(
                &self,
                node_id: u64,
                task_id: u64,
                unsigned: &$crate::hash::Sha256,
                signed: &$crate::hash::Sha256,
            ) -> Result<SSignTask, DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    sign_held(conn, node_id, task_id).await?;
                    let n = sqlx::query(
                        "UPDATE sign_packages SET signed_sha256 = $1 \
                         WHERE task_id = $2 AND unsigned_sha256 = $3",
                    )
                    .bind(signed.0.to_vec())
                    .bind(db_id(task_id))
                    .bind(unsigned.0.to_vec())
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?
                    .rows_affected();
                    if n == 0 {
                        return Err(DbError::NotFound {
                            what: "package of the sign task with sha256",
                            id: unsigned.to_string(),
                        });
                    }
                    sign_task_or_missing(conn, db_id(task_id)).await
                }
                .await;
                tx.finish(r).await
            }

            async fn complete_sign_task(
                &self,
                node_id: u64,
                task_id: u64,
                result: &SSignResult,
                now: OffsetDateTime,
            ) -> Result<SSignTask, DbError> {
                use $crate::model::TaskState;
                if !matches!(result.state, TaskState::Succeeded | TaskState::Failed) {
                    return Err(DbError::Invalid(format!(
                        "a sign task completes as succeeded or failed, not {}",
                        result.state
                    )));
                }
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    let task = match sign_held(conn, node_id, task_id).await {
                        Ok(t) => t,
                        Err(DbError::LeaseLost { .. }) => {
                            // The same completion again changes nothing.
                            let t = sign_task_or_missing(conn, db_id(task_id)).await?;
                            let held: Option<Option<i64>> =
                                sqlx::query_scalar("SELECT node_id FROM sign_tasks WHERE id = $1")
                                    .bind(db_id(task_id))
                                    .fetch_optional(&mut *conn)
                                    .await
                                    .map_err(backend)?;
                            if t.state == result.state && held.flatten() == Some(db_id(node_id)) {
                                return Ok(t);
                            }
                            return Err(DbError::LeaseLost {
                                node: node_id,
                                task: task_id,
                            });
                        }
                        Err(e) => return Err(e),
                    };
                    if result.state == TaskState::Succeeded {
                        if let Some(p) = task.packages.iter().find(|p| p.signed.is_none()) {
                            return Err(DbError::BadState {
                                task: task_id,
                                state: task.state,
                                message: format!(
                                    "package {} (sha256 {}) has no signed upload yet; upload it before completing",
                                    p.name, p.unsigned
                                ),
                            });
                        }
                    }
                    sqlx::query(
                        "UPDATE sign_tasks SET state = $1, reason = $2, finished = $3, \
                         lease_until = NULL WHERE id = $4",
                    )
                    .bind(state_str(result.state))
                    .bind(&result.reason)
                    .bind(micros(now))
                    .bind(db_id(task_id))
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                    sign_task_or_missing(conn, db_id(task_id)).await
                }
                .await;
                tx.finish(r).await
            }

            async fn expire_sign_leases(
                &self,
                now: OffsetDateTime,
                policy: &RetryPolicy,
            ) -> Result<Vec<u64>, DbError> {
                let now_us = micros(now);
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    let lost: Vec<(i64, i64, Option<String>)> = sqlx::query_as(concat!(
                        "SELECT id, attempts, node_name FROM sign_tasks \
                         WHERE state = 'running' AND lease_until < $1 ORDER BY id",
                        for_update!()
                    ))
                    .bind(now_us)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(backend)?;
                    let mut ids = Vec::with_capacity(lost.len());
                    for (id, attempts, node) in lost {
                        let attempts = api_u32(attempts);
                        let node = node.as_deref().unwrap_or("(unknown)");
                        if attempts >= policy.max_attempts {
                            sqlx::query(
                                "UPDATE sign_tasks SET state = 'failed', reason = $1, \
                                 lease_until = NULL, finished = $2 WHERE id = $3",
                            )
                            .bind(format!(
                                "sign node {node} stopped answering; gave up after {attempts} attempts"
                            ))
                            .bind(now_us)
                            .bind(id)
                            .execute(&mut *conn)
                            .await
                            .map_err(backend)?;
                        } else {
                            let backoff = duration_micros(policy.backoff_after(attempts));
                            sqlx::query(
                                "UPDATE sign_tasks SET state = 'pending', not_before = $1, \
                                 lease_until = NULL, node_id = NULL, node_name = NULL WHERE id = $2",
                            )
                            .bind(now_us.saturating_add(backoff))
                            .bind(id)
                            .execute(&mut *conn)
                            .await
                            .map_err(backend)?;
                        }
                        ids.push(api_u64(id));
                    }
                    Ok(ids)
                }
                .await;
                tx.finish(r).await
            }
        }
    };
}
pub(super) use sign_store_impl;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{SqliteStore, Store};
    use crate::model::TaskState;

    fn key(fpr: &str, platform: &str) -> NewSignKey {
        NewSignKey {
            fingerprint: fpr.into(),
            public_key: format!("-----BEGIN PGP PUBLIC KEY BLOCK-----\n{fpr}\n"),
            platform: platform.into(),
            product: None,
        }
    }

    fn pkg(i: u8) -> SignPackage {
        SignPackage {
            unsigned: Sha256([i; 32]),
            name: format!("p{i}-1-1.x86_64.rpm"),
            nevra: Some(format!("p{i}-1-1.x86_64").parse().unwrap()),
            signed: None,
        }
    }

    /// The rules of sign keys and tasks, on any store.
    pub(crate) async fn suite(s: &dyn Store) {
        let t0 = crate::conformance::T0;
        crate::conformance::put_bundled_platforms(s).await;
        let nb = crate::conformance::new_build("signer", &["bash"], &["x86_64"]);
        let b = s.create_build(&nb, t0).await.unwrap();
        assert_eq!(b.signed, None);

        // Keys: one active per platform, registering another rotates.
        let platform = nb.platform.clone();
        let a = s.add_sign_key(&key("AAAA", &platform), t0).await.unwrap();
        assert_eq!(a.state, KeyState::Active);
        let dup = s.add_sign_key(&key("AAAA", &platform), t0).await;
        assert!(matches!(dup, Err(DbError::Conflict { .. })), "{dup:?}");
        let bkey = s.add_sign_key(&key("BBBB", &platform), t0).await.unwrap();
        assert_eq!(bkey.state, KeyState::Active);
        let a = s.sign_key("AAAA").await.unwrap().unwrap();
        assert_eq!(a.state, KeyState::Archived);
        assert_eq!(
            s.active_sign_key(&platform, Some("none"))
                .await
                .unwrap()
                .unwrap()
                .fingerprint,
            "BBBB"
        );
        assert_eq!(s.sign_keys().await.unwrap().len(), 2);

        // Archived keys sign nothing new; unknown builds are refused.
        let mut nt = NewSignTask {
            build_id: b.id,
            fingerprint: "AAAA".into(),
            owner: "signer".into(),
            packages: vec![pkg(1), pkg(2)],
        };
        assert!(matches!(
            s.create_sign_task(&nt, t0).await,
            Err(DbError::Invalid(_))
        ));
        nt.fingerprint = "BBBB".into();
        nt.build_id = 999_999;
        assert!(matches!(
            s.create_sign_task(&nt, t0).await,
            Err(DbError::NotFound { .. })
        ));
        nt.build_id = b.id;
        let t = s.create_sign_task(&nt, t0).await.unwrap();
        assert_eq!(t.state, TaskState::Pending);
        assert_eq!(t.packages, vec![pkg(1), pkg(2)]);

        // Claims only for held keys.
        let node = s
            .register_node(
                &crate::api::RegisterNode {
                    name: "signer-1".into(),
                    arches: vec![],
                    labels: vec![],
                    capacity: 1,
                    excluded_packages: vec![],
                },
                &Sha256([9; 32]),
                t0,
            )
            .await
            .unwrap();
        let lease = Duration::from_secs(30);
        let none = s
            .claim_sign_task(&node, &["AAAA".into()], t0, lease)
            .await
            .unwrap();
        assert!(none.is_none());
        let c = s
            .claim_sign_task(&node, &["BBBB".into()], t0, lease)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.task.id, t.id);
        assert_eq!(c.task.state, TaskState::Running);
        assert_eq!(c.task.attempts, 1);

        // Success needs every package; records need the lease.
        let done = SignResult {
            state: TaskState::Succeeded,
            reason: None,
        };
        let early = s.complete_sign_task(node.id, t.id, &done, t0).await;
        assert!(matches!(early, Err(DbError::BadState { .. })), "{early:?}");
        let other = s
            .record_signed(node.id + 1, t.id, &Sha256([1; 32]), &Sha256([11; 32]))
            .await;
        assert!(matches!(other, Err(DbError::LeaseLost { .. })), "{other:?}");
        let stranger = s
            .record_signed(node.id, t.id, &Sha256([7; 32]), &Sha256([17; 32]))
            .await;
        assert!(
            matches!(stranger, Err(DbError::NotFound { .. })),
            "{stranger:?}"
        );
        for i in [1u8, 2] {
            s.record_signed(node.id, t.id, &Sha256([i; 32]), &Sha256([i + 10; 32]))
                .await
                .unwrap();
        }
        let t1 = t0 + time::Duration::seconds(5);
        let end = s
            .complete_sign_task(node.id, t.id, &done, t1)
            .await
            .unwrap();
        assert_eq!(end.state, TaskState::Succeeded);
        assert_eq!(end.packages[1].signed, Some(Sha256([12; 32])));
        let again = s
            .complete_sign_task(node.id, t.id, &done, t1)
            .await
            .unwrap();
        assert_eq!(again, end);
        let signed = s.build(b.id).await.unwrap().unwrap().signed.unwrap();
        assert_eq!(signed.fingerprint, "BBBB");
        assert_eq!(signed.task_id, t.id);
        assert_eq!(signed.time, t1);

        // Expiry: back to pending with a backoff, then failed.
        let t2 = s.create_sign_task(&nt, t0).await.unwrap();
        let policy = RetryPolicy {
            max_attempts: 2,
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(10),
        };
        let mut now = t1;
        for attempt in 1..=2u32 {
            let c = s
                .claim_sign_task(&node, &["BBBB".into()], now, lease)
                .await
                .unwrap()
                .unwrap();
            assert_eq!((c.task.id, c.task.attempts), (t2.id, attempt));
            s.sign_heartbeat(node.id, t2.id, now, lease).await.unwrap();
            now += time::Duration::seconds(31);
            assert_eq!(
                s.expire_sign_leases(now, &policy).await.unwrap(),
                vec![t2.id]
            );
            // The backoff holds the task back.
            assert!(
                s.claim_sign_task(&node, &["BBBB".into()], now, lease)
                    .await
                    .unwrap()
                    .is_none()
            );
            now += time::Duration::seconds(11);
        }
        let failed = s.sign_task(t2.id).await.unwrap().unwrap();
        assert_eq!(failed.state, TaskState::Failed);
        assert!(failed.reason.unwrap().contains("signer-1"));
        assert!(matches!(
            s.sign_heartbeat(node.id, t2.id, now, lease).await,
            Err(DbError::LeaseLost { .. })
        ));
        assert_eq!(s.build_sign_tasks(b.id).await.unwrap().len(), 2);
        // The build's signature stays that of the succeeded task.
        assert_eq!(
            s.build(b.id)
                .await
                .unwrap()
                .unwrap()
                .signed
                .unwrap()
                .task_id,
            t.id
        );
        let archived = s.archive_sign_key("BBBB", now).await.unwrap();
        assert_eq!(archived.state, KeyState::Archived);
        assert!(s.active_sign_key(&platform, None).await.unwrap().is_none());
    }

    #[test]
    fn records_without_a_signature_keep_their_bytes() {
        use crate::ledger::{LedgerRecord, RecordKind, SignatureInfo};
        let plain = crate::conformance::sample_record(3);
        let bytes = plain.canonical_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("signature"), "{text}");
        let back: LedgerRecord = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.canonical_bytes(), bytes);
        let mut signed = plain.clone();
        signed.kind = RecordKind::SignedRpm;
        signed.signature = Some(SignatureInfo {
            unsigned: Sha256([5; 32]),
            fingerprint: "AAAA".into(),
        });
        let text = String::from_utf8(signed.canonical_bytes()).unwrap();
        assert!(text.contains(r#""kind":"signed_rpm""#), "{text}");
        assert!(text.contains(r#""fingerprint":"AAAA""#), "{text}");
        let back: LedgerRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, signed);
    }

    #[tokio::test]
    async fn sign_rules_on_sqlite() {
        let s = SqliteStore::memory().await.unwrap();
        suite(&s).await;
    }

    #[tokio::test]
    async fn sign_rules_on_postgres() {
        let Ok(url) = std::env::var("ALBS_TEST_DATABASE_URL") else {
            eprintln!("ALBS_TEST_DATABASE_URL is not set; the PostgreSQL run is skipped");
            return;
        };
        let schema = format!("sign_{}", std::process::id());
        let s = crate::db::PgStore::connect_with(&url, Some(&schema), 4)
            .await
            .unwrap();
        suite(&s).await;
        s.drop_schema().await.unwrap();
    }
}
