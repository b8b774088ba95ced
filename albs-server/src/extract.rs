//! Extractors whose rejections are [`AppError`]s (JSON bodies, path
//! parameters) and the bearer-token authentication of users and nodes.

use albs_core::auth::hash_token;
use albs_core::db::{Node, TokenLookup, User};
use albs_core::hash::Sha256;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::{AppState, JSON_BODY_LIMIT, now};

/// A JSON body; a malformed or oversized one is refused with an [`AppError`].
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

fn json_rejection(rej: JsonRejection) -> AppError {
    match rej {
        _ if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge(format!(
            "the request body is larger than {} KiB",
            JSON_BODY_LIMIT / 1024
        )),
        JsonRejection::MissingJsonContentType(_) => AppError::UnsupportedMediaType(
            "the request body must be JSON with `Content-Type: application/json`".into(),
        ),
        JsonRejection::JsonDataError(e) => AppError::BadRequest(format!(
            "the request body does not fit: {}",
            inner_message(&e.body_text())
        )),
        JsonRejection::JsonSyntaxError(e) => AppError::BadRequest(format!(
            "the request body is not valid JSON: {}",
            inner_message(&e.body_text())
        )),
        other => AppError::BadRequest(other.body_text()),
    }
}

/// axum prefixes serde's message with its own sentence; keep serde's part.
fn inner_message(text: &str) -> &str {
    text.split_once(": ").map(|(_, m)| m).unwrap_or(text)
}

/// A path parameter; one that does not parse is a 400 naming it.
pub(crate) struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(AppError::BadRequest(
                format!("bad path parameter: {}", e.body_text()),
            )),
            Err(other) => Err(AppError::internal("path parameters", other.body_text())),
        }
    }
}

/// Parses the `{sha256}` path segment.
pub(crate) fn parse_sha256(text: &str) -> Result<Sha256, AppError> {
    text.parse().map_err(|_| {
        AppError::BadRequest(format!(
            "{text:?} is not a sha256: expected 64 hex characters"
        ))
    })
}

const MISSING: &str = "this request needs `Authorization: Bearer <token>`";
const EXPIRED: &str = "the token expired; create a new one with `albs token create`";
const UNKNOWN: &str = "unknown token";

/// The bearer token of the request. The token itself is never logged.
fn bearer(parts: &Parts) -> Result<&str, AppError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| AppError::Unauthorized(MISSING.into()))?;
    let text = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = text.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(token)
}

fn malformed() -> AppError {
    AppError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
}

/// A request made with a valid user token.
pub(crate) struct UserAuth(pub User);

impl FromRequestParts<AppState> for UserAuth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let hash = hash_token(bearer(parts)?);
        match state.store.user_by_token(&hash, now()).await? {
            TokenLookup::Valid(user) => Ok(UserAuth(user)),
            TokenLookup::Expired => Err(AppError::Unauthorized(EXPIRED.into())),
            TokenLookup::Unknown => {
                if state.store.node_by_token(&hash).await?.is_some() {
                    Err(AppError::Forbidden(
                        "this is a build node's token; this request needs a user token".into(),
                    ))
                } else {
                    Err(AppError::Unauthorized(UNKNOWN.into()))
                }
            }
        }
    }
}

/// Who reads: the user of the bearer token when the request has one (an
/// unknown or expired token is refused, a node's reads anonymously), else
/// the user of the web session cookie, else `None` (anonymous; an unknown
/// or expired session reads anonymously).
pub(crate) struct Reader(pub Option<User>);

impl FromRequestParts<AppState> for Reader {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            return match UserAuth::from_request_parts(parts, state).await {
                Ok(UserAuth(user)) => Ok(Reader(Some(user))),
                // A build node's token reads what anonymous readers read.
                Err(AppError::Forbidden(_)) => Ok(Reader(None)),
                Err(e) => Err(e),
            };
        }
        let Some(session) = crate::web::session_cookie(&parts.headers) else {
            return Ok(Reader(None));
        };
        let user = state
            .store
            .user_by_web_session(&hash_token(&session), now())
            .await?;
        Ok(Reader(user))
    }
}

/// Who downloads an artifact: a registered node (build, test and sign
/// nodes fetch the sources and packages of every build they are given,
/// private products' included), else a [`Reader`].
pub(crate) enum ArtifactCaller {
    /// A node's token.
    Node,
    /// A user, or an anonymous reader.
    Reader(Option<User>),
}

impl FromRequestParts<AppState> for ArtifactCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if parts.headers.contains_key(header::AUTHORIZATION)
            && let Ok(token) = bearer(parts)
            && state
                .store
                .node_by_token(&hash_token(token))
                .await?
                .is_some()
        {
            return Ok(ArtifactCaller::Node);
        }
        let Reader(user) = Reader::from_request_parts(parts, state).await?;
        Ok(ArtifactCaller::Reader(user))
    }
}

/// A request made with a valid token of an admin user.
pub(crate) struct AdminAuth(pub User);

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let UserAuth(user) = UserAuth::from_request_parts(parts, state).await?;
        if !user.admin {
            return Err(AppError::Forbidden(format!(
                "user {} is not an admin; this request needs an admin's token",
                user.name
            )));
        }
        Ok(AdminAuth(user))
    }
}

/// A request made with a registered node's token.
pub(crate) struct NodeAuth(pub Node);

impl FromRequestParts<AppState> for NodeAuth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let hash = hash_token(bearer(parts)?);
        if let Some(node) = state.store.node_by_token(&hash).await? {
            return Ok(NodeAuth(node));
        }
        match state.store.user_by_token(&hash, now()).await? {
            TokenLookup::Valid(_) => Err(AppError::Forbidden(
                "this is a user's token; the node protocol needs the token the node was registered with"
                    .into(),
            )),
            TokenLookup::Expired | TokenLookup::Unknown => {
                Err(AppError::Unauthorized(UNKNOWN.into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(auth: Option<&str>) -> Parts {
        let mut b = Request::builder().uri("/");
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn bearer_tokens_are_parsed() {
        assert_eq!(bearer(&parts(Some("Bearer abc"))).unwrap(), "abc");
        assert_eq!(bearer(&parts(Some("bearer  abc "))).unwrap(), "abc");
        let missing = bearer(&parts(None)).unwrap_err();
        assert!(missing.to_string().contains("Authorization: Bearer"));
        for bad in ["Basic abc", "Bearer", "Bearer  ", "abc"] {
            let e = bearer(&parts(Some(bad))).unwrap_err();
            assert_eq!(e.status(), StatusCode::UNAUTHORIZED, "{bad}");
        }
    }

    #[test]
    fn sha256_segments_are_checked() {
        assert!(parse_sha256(&"ab".repeat(32)).is_ok());
        let e = parse_sha256("../etc/passwd").unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
}
