//! `POST /api/v1/products` (admins) and `POST /api/v1/products/{name}/members`
//! (admins and the maintainers of the team owning the product): products,
//! the team owning each, and who else may read a private one's builds.

use albs_core::db::Product;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::authz::{Action, Scope, authorize};
use crate::error::AppError;
use crate::extract::{AdminAuth, ApiJson, ApiPath, UserAuth};

/// A product to register.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewProduct {
    name: String,
    #[serde(default)]
    private: bool,
    /// The team owning it.
    #[serde(default)]
    team: Option<String>,
}

/// A member to add.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewMember {
    user: String,
}

/// The answer to adding a member.
#[derive(Debug, Serialize)]
pub(crate) struct Member {
    product: String,
    user: String,
}

fn check_name(what: &str, name: &str) -> Result<(), AppError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'));
    if ok {
        Ok(())
    } else {
        Err(AppError::BadRequest(format!(
            "{what}: {name:?} must be 1-128 ASCII letters, digits, '-', '_', '.' or '+'"
        )))
    }
}

/// `POST /api/v1/products` (admin): `{"name": …, "private": bool, "team": …}`.
pub(crate) async fn create_product(
    State(state): State<AppState>,
    UserAuth(admin): UserAuth,
    ApiJson(req): ApiJson<NewProduct>,
) -> Result<(StatusCode, Json<Product>), AppError> {
    authorize(&state, &admin, Action::CreateProduct, Scope::Global).await?;
    check_name("name", &req.name)?;
    if let Some(team) = &req.team
        && !state.store.teams().await?.iter().any(|t| &t.name == team)
    {
        return Err(AppError::Unprocessable(format!(
            "team: {team} does not exist; create it with `albs team create {team}`"
        )));
    }
    let mut product = state.store.create_product(&req.name, req.private).await?;
    if let Some(team) = &req.team {
        state.store.set_product_team(&product.name, team).await?;
        product.team = Some(team.clone());
    }
    tracing::info!(product = %product.name, private = product.private, by = %admin.name, "product created");
    Ok((StatusCode::CREATED, Json(product)))
}

/// `GET /api/v1/products` (admin).
pub(crate) async fn list_products(
    State(state): State<AppState>,
    AdminAuth(_admin): AdminAuth,
) -> Result<Json<Vec<Product>>, AppError> {
    Ok(Json(state.store.products().await?))
}

/// `POST /api/v1/products/{name}/members` (see [`crate::authz`]):
/// `{"user": …}`.
pub(crate) async fn add_member(
    State(state): State<AppState>,
    UserAuth(admin): UserAuth,
    ApiPath(product): ApiPath<String>,
    ApiJson(req): ApiJson<NewMember>,
) -> Result<(StatusCode, Json<Member>), AppError> {
    authorize(
        &state,
        &admin,
        Action::AddProductMember,
        Scope::Product(&product),
    )
    .await?;
    state.store.add_product_member(&product, &req.user).await?;
    tracing::info!(%product, user = %req.user, by = %admin.name, "product member added");
    Ok((
        StatusCode::CREATED,
        Json(Member {
            product,
            user: req.user,
        }),
    ))
}
