//! The one error type of every handler: a status and a message that tells the
//! caller what to fix, as a JSON [`ApiError`] body. Internal causes are logged
//! and never sent.

use albs_core::api::ApiError;
use albs_core::db::DbError;
use albs_core::ledger::LedgerError;
use albs_core::store::StoreError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Why a request was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// 400: the request is malformed; the message names the field at fault.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no token, an expired one or an unknown one.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the token is valid but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such object or route.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route does not take this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: the request contradicts the current state.
    #[error("{0}")]
    Conflict(String),
    /// 411: an upload without `Content-Length`.
    #[error("{0}")]
    LengthRequired(String),
    /// 413: the body is larger than the server accepts.
    #[error("{0}")]
    TooLarge(String),
    /// 415: the body is not of the type the route takes.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: the request is well-formed but names something that does not fit
    /// (an unknown platform).
    #[error("{0}")]
    Unprocessable(String),
    /// 500: the server failed; the cause is logged, the caller sees a generic
    /// message.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// The HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::LengthRequired(_) => StatusCode::LENGTH_REQUIRED,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// An internal failure: `what` was being done when `cause` happened.
    pub(crate) fn internal(what: &str, cause: impl std::fmt::Display) -> Self {
        AppError::Internal(format!("{what}: {cause}"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let error = match &self {
            AppError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                "the server failed to handle the request; the cause is in the server's log"
                    .to_owned()
            }
            other => other.to_string(),
        };
        let mut resp = (status, Json(ApiError { error })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound { .. } => AppError::NotFound(e.to_string()),
            DbError::Conflict { .. } | DbError::LeaseLost { .. } | DbError::BadState { .. } => {
                AppError::Conflict(e.to_string())
            }
            DbError::Invalid(_) => AppError::BadRequest(e.to_string()),
            other => AppError::internal("database", other),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => AppError::NotFound(e.to_string()),
            StoreError::DigestMismatch { want, got } => {
                AppError::BadRequest(format!("upload has sha256 {got}, expected {want}"))
            }
            other => AppError::internal("artifact store", other),
        }
    }
}

impl From<LedgerError> for AppError {
    fn from(e: LedgerError) -> Self {
        AppError::internal("ledger", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    async fn body_of(e: AppError) -> (StatusCode, ApiError) {
        let resp = e.into_response();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let (status, body) = body_of(AppError::internal(
            "database",
            "password authentication failed for user albs",
        ))
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.error.contains("password"), "{}", body.error);
    }

    #[tokio::test]
    async fn db_errors_map_to_statuses() {
        let nf = AppError::from(DbError::NotFound {
            what: "build",
            id: "7".into(),
        });
        assert_eq!(nf.status(), StatusCode::NOT_FOUND);
        let lost = AppError::from(DbError::LeaseLost { node: 1, task: 2 });
        assert_eq!(lost.status(), StatusCode::CONFLICT);
        let invalid = AppError::from(DbError::Invalid("since is not RFC 3339".into()));
        assert!(matches!(invalid, AppError::BadRequest(ref m) if m.contains("since")));
        let backend = AppError::from(DbError::Backend("disk I/O error".into()));
        assert_eq!(backend.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let (status, body) = body_of(lost).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(body.error.contains("task 2"), "{}", body.error);
    }

    #[tokio::test]
    async fn unauthorized_asks_for_a_bearer_token() {
        let resp = AppError::Unauthorized("unknown token".into()).into_response();
        assert_eq!(resp.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
