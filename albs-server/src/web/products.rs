//! `POST /api/v1/products` and `POST /api/v1/products/{name}/members`
//! (admins): products and who may read a private one's builds.

use albs_core::db::Product;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::AppError;
use crate::extract::{AdminAuth, ApiJson, ApiPath};

/// A product to register.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewProduct {
    name: String,
    #[serde(default)]
    private: bool,
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

/// `POST /api/v1/products` (admin): `{"name": …, "private": bool}`.
pub(crate) async fn create_product(
    State(state): State<AppState>,
    AdminAuth(admin): AdminAuth,
    ApiJson(req): ApiJson<NewProduct>,
) -> Result<(StatusCode, Json<Product>), AppError> {
    check_name("name", &req.name)?;
    let product = state.store.create_product(&req.name, req.private).await?;
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

/// `POST /api/v1/products/{name}/members` (admin): `{"user": …}`.
pub(crate) async fn add_member(
    State(state): State<AppState>,
    AdminAuth(admin): AdminAuth,
    ApiPath(product): ApiPath<String>,
    ApiJson(req): ApiJson<NewMember>,
) -> Result<(StatusCode, Json<Member>), AppError> {
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
