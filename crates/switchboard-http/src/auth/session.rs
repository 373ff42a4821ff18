//! Console sessions: a random 32-byte id in the `sb_session` cookie, stored only as its SHA-256
//! together with the session's CSRF token.

use super::{hash_token, random_token};
use crate::state::AppState;
use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use jiff::Timestamp;
use switchboard_core::auth::SessionRecord;
use switchboard_core::ports::StoreError;

/// The session cookie.
pub(crate) const COOKIE: &str = "sb_session";
/// The pre-session cookie that carries the login form's CSRF token.
pub(crate) const LOGIN_CSRF_COOKIE: &str = "sb_login_csrf";

/// A live console session. Carries no secret that is not already the user's own.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) username: String,
    pub(crate) csrf_token: String,
    pub(crate) id_hash: String,
}

impl From<SessionRecord> for Session {
    fn from(r: SessionRecord) -> Self {
        Self {
            username: r.username,
            csrf_token: r.csrf_token,
            id_hash: r.id_hash,
        }
    }
}

/// The session the request's cookie names, if it exists and has not expired.
pub(crate) async fn current(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, StoreError> {
    let jar = CookieJar::from_headers(headers);
    let Some(cookie) = jar.get(COOKIE) else {
        return Ok(None);
    };
    let value = cookie.value();
    // Our ids are 43 characters; anything else cannot be one of ours.
    if value.len() != 43 {
        return Ok(None);
    }
    Ok(state
        .store()
        .find_session(&hash_token(value), state.now())
        .await?
        .map(Session::from))
}

/// Creates a session for `username` and the cookie that carries its id.
pub(crate) async fn start(
    state: &AppState,
    username: &str,
) -> Result<(Session, Cookie<'static>), StoreError> {
    let id = random_token();
    let now = state.now();
    let expires_at = now
        .checked_add(state.config().session_lifetime)
        .unwrap_or(Timestamp::MAX);
    let record = SessionRecord {
        id_hash: hash_token(&id),
        username: username.to_owned(),
        csrf_token: random_token(),
        created_at: now,
        expires_at,
    };
    state.store().create_session(&record).await?;
    Ok((
        Session::from(record),
        cookie(COOKIE, id, state.config().secure_cookies),
    ))
}

/// An HttpOnly, SameSite=Strict, Path=/ cookie; Secure when configured. No Max-Age: it ends with
/// the browser session, and the server ends it after `session_lifetime` anyway.
pub(crate) fn cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure)
        .build()
}

/// A cookie that makes the browser forget `name`.
pub(crate) fn removal(name: &'static str, secure: bool) -> Cookie<'static> {
    let mut c = cookie(name, String::new(), secure);
    c.make_removal();
    c
}
