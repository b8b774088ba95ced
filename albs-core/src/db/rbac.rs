//! Teams, their members' roles, the team owning each product, users'
//! password hashes and the audit log (see [`crate::rbac`] for what the
//! roles allow).
//!
//! Passwords are stored as argon2id PHC strings only; audit records hold
//! who did what to which object and whether it was allowed, never a
//! secret.
//!
//! The SQL is shared by both backends: `rbac_store_impl!` is expanded in
//! `sqlite.rs` and `postgres.rs` beside `store_impl.rs`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{DbError, User};
use crate::hash::Sha256;
use crate::rbac::Role;

/// A team and its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// Its unique name.
    pub name: String,
    /// Its members, by user name.
    pub members: Vec<TeamMember>,
}

/// A member of a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMember {
    /// The user's name.
    pub user: String,
    /// The user's role in the team.
    pub role: Role,
}

/// One decision on a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Its number, in the order of records.
    pub id: u64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who (`None`: no user, e.g. a webhook secret).
    pub user: Option<String>,
    /// What ([`crate::rbac::Action::as_str`]).
    pub action: String,
    /// On what (`build 7`, `product sig-cloud`, `global`).
    pub object: String,
    /// `allowed` or `denied: …`.
    pub outcome: String,
}

/// Teams, roles, password hashes and audit records.
#[async_trait]
pub trait RbacStore: Send + Sync {
    /// Creates a team; a known name is a [`DbError::Conflict`].
    async fn create_team(&self, name: &str) -> Result<Team, DbError>;
    /// Every team with its members, by name.
    async fn teams(&self) -> Result<Vec<Team>, DbError>;
    /// Gives the user named `user` the role `role` in `team` (replacing
    /// the one they had); an unknown team or user is a
    /// [`DbError::NotFound`].
    async fn set_team_member(&self, team: &str, user: &str, role: Role) -> Result<(), DbError>;
    /// The role of user `user_id` in `team`, if a member.
    async fn team_role(&self, team: &str, user_id: u64) -> Result<Option<Role>, DbError>;
    /// The team owning `product` (`None`: no such product, or no team owns
    /// it).
    async fn product_team(&self, product: &str) -> Result<Option<String>, DbError>;
    /// Makes `team` the owner of `product`; an unknown product or team is a
    /// [`DbError::NotFound`].
    async fn set_product_team(&self, product: &str, team: &str) -> Result<(), DbError>;

    /// The user named `name`.
    async fn user_by_name(&self, name: &str) -> Result<Option<User>, DbError>;
    /// How many users there are.
    async fn user_count(&self) -> Result<u64, DbError>;
    /// Stores the password hash (a PHC string) of the user named `user`.
    async fn set_password_hash(&self, user: &str, hash: &str) -> Result<(), DbError>;
    /// The user named `name` with their password hash, if they have one.
    async fn user_password_hash(
        &self,
        name: &str,
    ) -> Result<Option<(User, Option<String>)>, DbError>;

    /// Appends an audit record.
    async fn record_audit(
        &self,
        at: OffsetDateTime,
        user: Option<&str>,
        action: &str,
        object: &str,
        outcome: &str,
    ) -> Result<(), DbError>;
    /// The newest `limit` audit records, newest first.
    async fn audit(&self, limit: u32) -> Result<Vec<AuditRecord>, DbError>;

    /// The products (`""` for none) of the builds that made the artifact
    /// `sha256` or whose sign tasks signed it into it; empty when no build
    /// in the store knows it.
    async fn artifact_products(&self, sha256: &Sha256) -> Result<Vec<String>, DbError>;
}

/// The `RbacStore` implementation both SQL backends share.
macro_rules! rbac_store_impl {
    () => {
        use $crate::db::rbac::{
            AuditRecord as RAuditRecord, RbacStore, Team as RTeam, TeamMember as RTeamMember,
        };
        use $crate::rbac::Role as RRole;

        fn parse_role(s: &str) -> Result<RRole, DbError> {
            s.parse()
                .map_err(|e| DbError::Backend(format!("stored role: {e}")))
        }

        async fn user_id_named(conn: &mut Conn, name: &str) -> Result<i64, DbError> {
            let id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend)?;
            id.ok_or_else(|| DbError::NotFound {
                what: "user",
                id: name.to_owned(),
            })
        }

        async fn team_known(conn: &mut Conn, name: &str) -> Result<(), DbError> {
            let known: Option<String> =
                sqlx::query_scalar("SELECT name FROM teams WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(backend)?;
            known.map(|_| ()).ok_or_else(|| DbError::NotFound {
                what: "team",
                id: name.to_owned(),
            })
        }

        #[async_trait]
        impl RbacStore for This {
            async fn create_team(&self, name: &str) -> Result<RTeam, DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    sqlx::query("INSERT INTO teams (name) VALUES ($1)")
                        .bind(name)
                        .execute(tx.conn())
                        .await
                        .map_err(|e| conflict(e, "team", name))?;
                    Ok(RTeam {
                        name: name.to_owned(),
                        members: vec![],
                    })
                }
                .await;
                tx.finish(r).await
            }

            async fn teams(&self) -> Result<Vec<RTeam>, DbError> {
                let names: Vec<String> = sqlx::query_scalar("SELECT name FROM teams ORDER BY name")
                    .fetch_all(self.pool())
                    .await
                    .map_err(backend)?;
                let rows: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT m.team, u.name, m.role FROM team_members m \
                     JOIN users u ON u.id = m.user_id ORDER BY m.team, u.name",
                )
                .fetch_all(self.pool())
                .await
                .map_err(backend)?;
                let mut teams: Vec<RTeam> = names
                    .into_iter()
                    .map(|name| RTeam {
                        name,
                        members: vec![],
                    })
                    .collect();
                for (team, user, role) in rows {
                    if let Some(t) = teams.iter_mut().find(|t| t.name == team) {
                        t.members.push(RTeamMember {
                            user,
                            role: parse_role(&role)?,
                        });
                    }
                }
                Ok(teams)
            }

            async fn set_team_member(
                &self,
                team: &str,
                user: &str,
                role: RRole,
            ) -> Result<(), DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    team_known(&mut *conn, team).await?;
                    let user_id = user_id_named(&mut *conn, user).await?;
                    sqlx::query(
                        "INSERT INTO team_members (team, user_id, role) VALUES ($1, $2, $3) \
                         ON CONFLICT (team, user_id) DO UPDATE SET role = excluded.role",
                    )
                    .bind(team)
                    .bind(user_id)
                    .bind(role.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(backend)?;
                    Ok(())
                }
                .await;
                tx.finish(r).await
            }

            async fn team_role(&self, team: &str, user_id: u64) -> Result<Option<RRole>, DbError> {
                let role: Option<String> = sqlx::query_scalar(
                    "SELECT role FROM team_members WHERE team = $1 AND user_id = $2",
                )
                .bind(team)
                .bind(db_id(user_id))
                .fetch_optional(self.pool())
                .await
                .map_err(backend)?;
                role.as_deref().map(parse_role).transpose()
            }

            async fn product_team(&self, product: &str) -> Result<Option<String>, DbError> {
                let team: Option<Option<String>> =
                    sqlx::query_scalar("SELECT team FROM products WHERE name = $1")
                        .bind(product)
                        .fetch_optional(self.pool())
                        .await
                        .map_err(backend)?;
                Ok(team.flatten())
            }

            async fn set_product_team(&self, product: &str, team: &str) -> Result<(), DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let conn = tx.conn();
                    team_known(&mut *conn, team).await?;
                    let done = sqlx::query("UPDATE products SET team = $1 WHERE name = $2")
                        .bind(team)
                        .bind(product)
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                    if done.rows_affected() == 0 {
                        return Err(DbError::NotFound {
                            what: "product",
                            id: product.to_owned(),
                        });
                    }
                    Ok(())
                }
                .await;
                tx.finish(r).await
            }

            async fn user_by_name(&self, name: &str) -> Result<Option<User>, DbError> {
                Ok(self.user_password_hash(name).await?.map(|(u, _)| u))
            }

            async fn user_count(&self) -> Result<u64, DbError> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                    .fetch_one(self.pool())
                    .await
                    .map_err(backend)?;
                Ok(api_u64(n))
            }

            async fn set_password_hash(&self, user: &str, hash: &str) -> Result<(), DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE name = $2")
                        .bind(hash)
                        .bind(user)
                        .execute(tx.conn())
                        .await
                        .map_err(backend)?;
                    if done.rows_affected() == 0 {
                        return Err(DbError::NotFound {
                            what: "user",
                            id: user.to_owned(),
                        });
                    }
                    Ok(())
                }
                .await;
                tx.finish(r).await
            }

            async fn user_password_hash(
                &self,
                name: &str,
            ) -> Result<Option<(User, Option<String>)>, DbError> {
                let row: Option<(i64, String, bool, Option<String>)> = sqlx::query_as(
                    "SELECT id, name, admin, password_hash FROM users WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(self.pool())
                .await
                .map_err(backend)?;
                Ok(row.map(|(id, name, admin, hash)| {
                    (
                        User {
                            id: api_u64(id),
                            name,
                            admin,
                        },
                        hash,
                    )
                }))
            }

            async fn record_audit(
                &self,
                at: OffsetDateTime,
                user: Option<&str>,
                action: &str,
                object: &str,
                outcome: &str,
            ) -> Result<(), DbError> {
                let mut tx = self.write().await?;
                let r: Result<_, DbError> = async {
                    sqlx::query(
                        "INSERT INTO audit (at, user_name, action, object, outcome) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(micros(at))
                    .bind(user)
                    .bind(action)
                    .bind(object)
                    .bind(outcome)
                    .execute(tx.conn())
                    .await
                    .map_err(backend)?;
                    Ok(())
                }
                .await;
                tx.finish(r).await
            }

            async fn audit(&self, limit: u32) -> Result<Vec<RAuditRecord>, DbError> {
                let rows: Vec<(i64, i64, Option<String>, String, String, String)> = sqlx::query_as(
                    "SELECT id, at, user_name, action, object, outcome FROM audit \
                         ORDER BY id DESC LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await
                .map_err(backend)?;
                rows.into_iter()
                    .map(|(id, at, user, action, object, outcome)| {
                        Ok(RAuditRecord {
                            id: api_u64(id),
                            at: from_micros(at)?,
                            user,
                            action,
                            object,
                            outcome,
                        })
                    })
                    .collect()
            }

            async fn artifact_products(
                &self,
                sha256: &$crate::hash::Sha256,
            ) -> Result<Vec<String>, DbError> {
                let rows: Vec<String> = sqlx::query_scalar(
                    "SELECT DISTINCT q.product FROM builds b JOIN queues q ON q.id = b.queue_id \
                     WHERE b.id IN (SELECT t.build_id FROM artifacts a \
                     JOIN tasks t ON t.id = a.task_id WHERE a.sha256 = $1) \
                     OR b.id IN (SELECT st.build_id FROM sign_packages sp \
                     JOIN sign_tasks st ON st.id = sp.task_id WHERE sp.signed_sha256 = $1) \
                     ORDER BY q.product",
                )
                .bind(&sha256.0[..])
                .fetch_all(self.pool())
                .await
                .map_err(backend)?;
                Ok(rows)
            }
        }
    };
}
pub(super) use rbac_store_impl;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{SqliteStore, Store};

    async fn suite<S: Store>(s: &S) {
        assert_eq!(s.user_count().await.unwrap(), 0);
        let alice = s.create_user("alice", false).await.unwrap();
        let bob = s.create_user("bob", false).await.unwrap();
        assert_eq!(s.user_count().await.unwrap(), 2);
        assert_eq!(s.user_by_name("alice").await.unwrap(), Some(alice.clone()));
        assert_eq!(s.user_by_name("nobody").await.unwrap(), None);

        s.create_team("cloud").await.unwrap();
        s.create_team("core").await.unwrap();
        assert!(matches!(
            s.create_team("cloud").await,
            Err(DbError::Conflict { .. })
        ));
        s.set_team_member("cloud", "alice", Role::Contributor)
            .await
            .unwrap();
        s.set_team_member("cloud", "alice", Role::Maintainer)
            .await
            .unwrap();
        s.set_team_member("core", "bob", Role::Signer)
            .await
            .unwrap();
        let e = s
            .set_team_member("nope", "alice", Role::Observer)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("team nope"), "{e}");
        let e = s
            .set_team_member("cloud", "carol", Role::Observer)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("user carol"), "{e}");
        assert_eq!(
            s.team_role("cloud", alice.id).await.unwrap(),
            Some(Role::Maintainer)
        );
        assert_eq!(s.team_role("cloud", bob.id).await.unwrap(), None);
        let teams = s.teams().await.unwrap();
        assert_eq!(teams.len(), 2);
        assert_eq!(
            teams[0].members,
            vec![TeamMember {
                user: "alice".into(),
                role: Role::Maintainer
            }]
        );

        s.create_product("sig-cloud", true).await.unwrap();
        assert_eq!(s.product_team("sig-cloud").await.unwrap(), None);
        s.set_product_team("sig-cloud", "cloud").await.unwrap();
        assert_eq!(
            s.product_team("sig-cloud").await.unwrap().as_deref(),
            Some("cloud")
        );
        assert!(s.set_product_team("nope", "cloud").await.is_err());
        assert!(s.set_product_team("sig-cloud", "nope").await.is_err());
        // Members of the owning team read the private product; others do not.
        assert!(s.hidden_products(Some(&alice)).await.unwrap().is_empty());
        assert!(
            s.hidden_products(Some(&bob))
                .await
                .unwrap()
                .contains("sig-cloud")
        );

        assert_eq!(
            s.user_password_hash("alice").await.unwrap(),
            Some((alice.clone(), None))
        );
        s.set_password_hash("alice", "$argon2id$x").await.unwrap();
        assert_eq!(
            s.user_password_hash("alice")
                .await
                .unwrap()
                .unwrap()
                .1
                .as_deref(),
            Some("$argon2id$x")
        );
        assert!(s.set_password_hash("carol", "$argon2id$x").await.is_err());

        let t0 = crate::conformance::T0;
        s.record_audit(
            t0,
            Some("alice"),
            "create build",
            "product sig-cloud",
            "allowed",
        )
        .await
        .unwrap();
        s.record_audit(t0, None, "git hook", "global", "allowed")
            .await
            .unwrap();
        let log = s.audit(10).await.unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].action, "git hook");
        assert_eq!(log[0].user, None);
        assert_eq!(log[1].user.as_deref(), Some("alice"));
        assert_eq!(log[1].at, t0);
        assert_eq!(s.audit(1).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn rbac_on_sqlite() {
        let s = SqliteStore::memory().await.unwrap();
        suite(&s).await;
    }

    #[tokio::test]
    async fn rbac_on_postgres() {
        let Ok(url) = std::env::var("ALBS_TEST_DATABASE_URL") else {
            eprintln!("ALBS_TEST_DATABASE_URL is not set; the PostgreSQL run is skipped");
            return;
        };
        let schema = format!("rbac_{}", std::process::id());
        let s = crate::db::PgStore::connect_with(&url, Some(&schema), 4)
            .await
            .unwrap();
        suite(&s).await;
        s.drop_schema().await.unwrap();
    }
}
