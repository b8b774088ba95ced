//! Web sign-in: a user name and password (checked against the stored
//! argon2id hash), or an API token, posted to `/login` opens a session whose
//! random id the browser keeps in an HttpOnly, SameSite=Strict cookie; the
//! store keeps only the id's sha256. `/logout` ends it.

use albs_core::auth::hash_token;
use albs_core::db::TokenLookup;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Page, WebError, render};
use crate::error::AppError;
use crate::extract::Reader;
use crate::{AppState, now};

/// The cookie holding the session id.
pub(crate) const COOKIE: &str = "albs_session";

/// How long a web session lasts.
const SESSION_HOURS: i64 = 12;

/// The session id of the request's cookie, if any.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// The login form: `user` and `password`, or `token`.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The message of every refused password: it does not tell which of the
/// name and the password was wrong.
const BAD_PASSWORD: &str = "wrong user name or password";

/// The user `name` when `password` is theirs.
async fn check_password(
    state: &AppState,
    name: &str,
    password: String,
) -> Result<Option<albs_core::db::User>, AppError> {
    let Some((user, Some(hash))) = state.store.user_password_hash(name).await? else {
        return Ok(None);
    };
    // argon2id takes tens of milliseconds of CPU: off the async workers.
    let ok =
        tokio::task::spawn_blocking(move || albs_core::rbac::verify_password(&password, &hash))
            .await
            .map_err(|e| AppError::internal("checking a password", e))?;
    Ok(ok.then_some(user))
}

/// `GET /login`.
pub(crate) async fn login_form(Reader(reader): Reader) -> Page {
    render(
        "login.html",
        minijinja::context! { user => reader.map(|u| u.name), error => Option::<String>::None },
    )
}

fn cookie_attrs(state: &AppState) -> &'static str {
    let https = state
        .config
        .public_base_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    if https {
        "; Path=/; HttpOnly; SameSite=Strict; Secure"
    } else {
        "; Path=/; HttpOnly; SameSite=Strict"
    }
}

/// `POST /login` with `user=…&password=…` or `token=…`: a user's valid
/// password or token opens a session. Neither is ever logged.
pub(crate) async fn login(
    State(state): State<AppState>,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let refused = |message: &str| {
        let mut resp = render(
            "login.html",
            minijinja::context! { user => Option::<String>::None, error => message },
        )
        .into_response();
        *resp.status_mut() = StatusCode::UNAUTHORIZED;
        Ok(resp)
    };
    let user = match (form.user, form.password, form.token) {
        (Some(name), Some(password), _) if !name.trim().is_empty() => {
            match check_password(&state, name.trim(), password).await? {
                Some(user) => user,
                None => {
                    // Not even the name: people type passwords into it.
                    tracing::info!("web sign-in refused: wrong user name or password");
                    return refused(BAD_PASSWORD);
                }
            }
        }
        (_, _, Some(token)) => match state
            .store
            .user_by_token(&hash_token(token.trim()), now())
            .await?
        {
            TokenLookup::Valid(user) => user,
            TokenLookup::Expired => {
                return refused("this token expired; create a new one with `albs token create`");
            }
            TokenLookup::Unknown => return refused("unknown token; paste a user's API token"),
        },
        _ => return refused("sign in with a user name and password, or with an API token"),
    };
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::internal("random session id", e.to_string()))?;
    let session = hex::encode(bytes);
    let t = now();
    let expires = t + time::Duration::hours(SESSION_HOURS);
    state
        .store
        .create_web_session(&hash_token(&session), user.id, expires, t)
        .await?;
    tracing::info!(user = %user.name, "web session opened");
    let cookie = format!(
        "{COOKIE}={session}; Max-Age={}{}",
        SESSION_HOURS * 3600,
        cookie_attrs(&state)
    );
    let mut resp = Redirect::to("/").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie)
            .map_err(|e| AppError::internal("session cookie", e.to_string()))?,
    );
    Ok(resp)
}

/// `POST /logout`: ends the session and clears the cookie.
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if let Some(session) = session_cookie(&headers) {
        state
            .store
            .delete_web_session(&hash_token(&session))
            .await?;
    }
    let cookie = format!("{COOKIE}=; Max-Age=0{}", cookie_attrs(&state));
    let mut resp = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; albs_session=abc; b=2"),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("albs_session="));
        assert_eq!(session_cookie(&h), None);
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }
}
