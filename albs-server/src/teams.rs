//! Teams, users and the audit log over the API:
//! - `POST /api/v1/teams` (admins) `{"name": …}`; `GET /api/v1/teams`
//!   (any user);
//! - `POST /api/v1/teams/{name}/members` (admins and the team's
//!   maintainers) `{"user": …, "role": …}`;
//! - `POST /api/v1/users` (admins) `{"name": …, "admin": bool}`: the new
//!   user's API token is in the answer, and only there;
//! - `GET /api/v1/audit?limit=N` (admins): the newest audit records.

use albs_core::auth::{hash_token, new_token};
use albs_core::db::{AuditRecord, Team, User};
use albs_core::rbac::Role;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::authz::{Action, Scope, authorize};
use crate::error::AppError;
use crate::extract::{ApiJson, ApiPath, UserAuth};

/// A team to create.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTeam {
    name: String,
}

/// A member to add to a team (or whose role to change).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTeamMember {
    user: String,
    role: String,
}

/// The answer to adding a team member.
#[derive(Debug, Serialize)]
pub(crate) struct TeamMemberAdded {
    team: String,
    user: String,
    role: Role,
}

/// A user to create.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    name: String,
    #[serde(default)]
    admin: bool,
}

/// The answer to creating a user: the token is shown once.
#[derive(Debug, Serialize)]
pub(crate) struct UserCreated {
    user: User,
    token: String,
}

/// A name of a team or user: 1-64 ASCII letters, digits, '-', '_', '.'.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), AppError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(AppError::BadRequest(format!(
            "{what}: {name:?} must be 1-64 ASCII letters, digits, '-', '_' or '.'"
        )))
    }
}

/// `POST /api/v1/teams`.
pub(crate) async fn create_team(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiJson(req): ApiJson<NewTeam>,
) -> Result<(StatusCode, Json<Team>), AppError> {
    authorize(&state, &user, Action::CreateTeam, Scope::Global).await?;
    check_name("name", &req.name)?;
    let team = state.store.create_team(&req.name).await?;
    tracing::info!(team = %team.name, by = %user.name, "team created");
    Ok((StatusCode::CREATED, Json(team)))
}

/// `GET /api/v1/teams`.
pub(crate) async fn list_teams(
    State(state): State<AppState>,
    UserAuth(_): UserAuth,
) -> Result<Json<Vec<Team>>, AppError> {
    Ok(Json(state.store.teams().await?))
}

/// `POST /api/v1/teams/{name}/members`.
pub(crate) async fn add_team_member(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiPath(team): ApiPath<String>,
    ApiJson(req): ApiJson<NewTeamMember>,
) -> Result<(StatusCode, Json<TeamMemberAdded>), AppError> {
    authorize(&state, &user, Action::ManageTeam, Scope::Team(&team)).await?;
    let role: Role = req
        .role
        .parse()
        .map_err(|e| AppError::BadRequest(format!("role: {e}")))?;
    state.store.set_team_member(&team, &req.user, role).await?;
    tracing::info!(%team, member = %req.user, %role, by = %user.name, "team member set");
    Ok((
        StatusCode::CREATED,
        Json(TeamMemberAdded {
            team,
            user: req.user,
            role,
        }),
    ))
}

/// `POST /api/v1/users`.
pub(crate) async fn create_user(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    ApiJson(req): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<UserCreated>), AppError> {
    authorize(&state, &user, Action::CreateUser, Scope::Global).await?;
    check_name("name", &req.name)?;
    let created = state.store.create_user(&req.name, req.admin).await?;
    let token = new_token().map_err(|e| AppError::internal("making a user token", e))?;
    state
        .store
        .add_user_token(created.id, &hash_token(&token), None)
        .await?;
    tracing::info!(user = %created.name, admin = created.admin, by = %user.name, "user created");
    Ok((
        StatusCode::CREATED,
        Json(UserCreated {
            user: created,
            token,
        }),
    ))
}

/// Most audit records one read returns.
const MAX_AUDIT: u32 = 10_000;

/// `GET /api/v1/audit?limit=N` (default 100).
pub(crate) async fn audit(
    State(state): State<AppState>,
    UserAuth(user): UserAuth,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<AuditRecord>>, AppError> {
    authorize(&state, &user, Action::ReadAudit, Scope::Global).await?;
    let mut limit = 100;
    for pair in raw
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some(("limit", v)) => {
                limit = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_AUDIT).contains(n))
                    .ok_or_else(|| {
                        AppError::BadRequest(format!(
                            "limit: {v:?} is not a number from 1 to {MAX_AUDIT}"
                        ))
                    })?;
            }
            _ => {
                return Err(AppError::BadRequest(format!(
                    "unknown query parameter {pair:?}; the audit log takes `limit`"
                )));
            }
        }
    }
    Ok(Json(state.store.audit(limit).await?))
}
