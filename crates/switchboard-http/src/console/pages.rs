//! Login, logout, the dashboard and the static files.

use super::{ConsoleUser, Layout, csrf_denied, error_page, internal_error, render, safe_next};
use crate::auth::csrf;
use crate::auth::password::dummy_verify;
use crate::auth::ratelimit::ClientKey;
use crate::auth::session::{self, COOKIE, LOGIN_CSRF_COOKIE};
use crate::auth::{random_token, verify_password};
use crate::state::AppState;
use askama::Template;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use std::net::SocketAddr;
use switchboard_core::auth::validate_username;
use switchboard_core::office365::ConnectionSettings;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    layout: Layout,
    username: &'a str,
    next: &'a str,
    csrf_token: &'a str,
    error: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

/// `GET /login`: the form, with a fresh login CSRF token in a Strict cookie and a hidden field.
pub(crate) async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = safe_next(query.next.as_deref());
    if let Ok(Some(_)) = session::current(&state, &headers).await {
        return Redirect::to(next).into_response();
    }
    let token = random_token();
    let jar = jar.add(session::cookie(
        LOGIN_CSRF_COOKIE,
        token.clone(),
        state.config().secure_cookies,
    ));
    let page = LoginPage {
        layout: Layout::anonymous(),
        username: "",
        next,
        csrf_token: &token,
        error: None,
    };
    (jar, render(StatusCode::OK, &page)).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    csrf_token: Option<String>,
    next: Option<String>,
}

/// `POST /login`: rate limit, login CSRF, then argon2 (a dummy verification for unknown users,
/// so timing does not tell which usernames exist).
pub(crate) async fn login_submit(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    let client = ClientKey::from_addr(peer.map(|Extension(ConnectInfo(addr))| addr.ip()));
    if !state.login_limiter().allow(&client) {
        tracing::warn!(?client, "login rate limit reached");
        let mut response = error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "Too many attempts, wait a minute before trying to log in again.",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
        return response;
    }

    let expected = jar.get(LOGIN_CSRF_COOKIE).map(|c| c.value().to_owned());
    let next = safe_next(form.next.as_deref());
    let Some(expected) = expected.filter(|e| csrf::tokens_match(e, form.csrf_token.as_deref()))
    else {
        return error_page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "The login form has expired or was not sent from this site. Open the login page again.",
        );
    };

    let username = form.username.trim();
    let admin = if validate_username(username).is_ok() {
        match state.store().find_admin(username).await {
            Ok(a) => a,
            Err(e) => return internal_error(&e),
        }
    } else {
        None
    };
    let verified = match &admin {
        Some(admin) => verify_password(&form.password, &admin.password_hash).await,
        None => {
            dummy_verify(&form.password).await;
            false
        }
    };
    let Some(admin) = admin.filter(|_| verified) else {
        tracing::info!(?client, "console login failed");
        let page = LoginPage {
            layout: Layout::anonymous(),
            username,
            next,
            csrf_token: &expected,
            error: Some("Wrong username or password."),
        };
        return render(StatusCode::UNAUTHORIZED, &page);
    };

    match session::start(&state, &admin.username).await {
        Ok((_, cookie)) => {
            tracing::info!(user = %admin.username, "console login");
            let jar = jar.add(cookie).add(session::removal(
                LOGIN_CSRF_COOKIE,
                state.config().secure_cookies,
            ));
            (jar, Redirect::to(next)).into_response()
        }
        Err(e) => internal_error(&e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    pub(crate) csrf_token: Option<String>,
}

/// `POST /logout`: deletes the session server-side and clears the cookie.
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<CsrfForm>,
) -> Response {
    let secure = state.config().secure_cookies;
    match session::current(&state, &headers).await {
        Ok(Some(s)) => {
            if let Some(page) = csrf_denied(&s, form.csrf_token.as_deref()) {
                return page;
            }
            if let Err(e) = state.store().delete_session(&s.id_hash).await {
                return internal_error(&e);
            }
            tracing::info!(user = %s.username, "console logout");
        }
        Ok(None) => {}
        Err(e) => return internal_error(&e),
    }
    (
        jar.add(session::removal(COOKIE, secure)),
        Redirect::to("/login"),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    settings: ConnectionSettings,
    extension_count: Option<u64>,
    sync: Option<super::sync::StatusView>,
}

/// `GET /`: the Office 365 connection, the extensions and the user sync at a glance. A card
/// whose data cannot be read says so (and the log has why) instead of failing the page.
pub(crate) async fn dashboard(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
) -> Response {
    let settings = match state.connection().settings().await {
        Ok(s) => s,
        Err(e) => return internal_error(&e),
    };
    let extension_count = state
        .extensions()
        .count_extensions()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "counting extensions failed"))
        .ok();
    let sync = super::sync::status_view(&state)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "reading the user sync status failed"))
        .ok();
    render(
        StatusCode::OK,
        &DashboardPage {
            layout: Layout::signed_in(&session, "dashboard"),
            settings,
            extension_count,
            sync,
        },
    )
}

const LONG_CACHE: &str = "public, max-age=31536000, immutable";

pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, LONG_CACHE),
        ],
        super::APP_CSS,
    )
        .into_response()
}

pub(crate) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, LONG_CACHE),
        ],
        super::APP_JS,
    )
        .into_response()
}

pub(crate) async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, LONG_CACHE),
        ],
        super::FAVICON,
    )
        .into_response()
}
