//! The admin console: server-rendered pages (askama, auto-escaped), our own CSS and JS, no
//! inline script. Every page but `/login` needs a session; every form carries `csrf_token`.

mod calendar;
mod contact_sync;
mod extensions;
mod office365;
mod pages;
mod phonebook;
mod presence;
mod sync;
mod timeline;

use crate::auth::csrf;
use crate::auth::session::{self, Session};
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use std::sync::LazyLock;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::dashboard))
        .route("/login", get(pages::login_page).post(pages::login_submit))
        .route("/logout", post(pages::logout))
        .route("/static/app.css", get(pages::stylesheet))
        .route("/static/app.js", get(pages::script))
        .route("/static/favicon.svg", get(pages::favicon))
        .route(
            "/extensions",
            get(extensions::list).post(extensions::create),
        )
        .route(
            "/extensions/{number}",
            get(extensions::detail).post(extensions::save),
        )
        .route(
            "/extensions/{number}/excluded",
            post(extensions::set_excluded),
        )
        .route("/extensions/{number}/delete", post(extensions::delete))
        .route("/extensions/{number}/phonebook", get(phonebook::page))
        .route(
            "/extensions/{number}/phonebook/password",
            post(phonebook::password),
        )
        .route("/sync/users", get(sync::page))
        .route("/sync/users/run", post(sync::run_now))
        .route("/sync/users/preview", post(sync::preview))
        .route("/sync/users/settings", post(sync::save_settings))
        .route("/sync/users/self-test", post(sync::self_test))
        .route("/sync/contacts", get(contact_sync::page))
        .route("/sync/contacts/run", post(contact_sync::run_now))
        .route("/sync/contacts/settings", post(contact_sync::save_settings))
        .route("/sync/calendar", get(calendar::page))
        .route("/sync/calendar/run", post(calendar::run_now))
        .route("/sync/calendar/settings", post(calendar::save_settings))
        .route("/presence", get(presence::page))
        .route("/presence/{number}/status", post(presence::set_status))
        .route(
            "/extensions/{number}/presence",
            get(presence::timeline_page),
        )
        .route("/static/presence.css", get(presence::stylesheet))
        .route("/static/presence.js", get(presence::script))
        .route(
            "/settings/office365",
            get(office365::page).post(office365::save_ids),
        )
        .route("/settings/office365/keypair", post(office365::keypair))
        .route(
            "/settings/office365/public_key.pem",
            get(office365::download_certificate),
        )
        .route("/settings/office365/verify", post(office365::verify))
        .route(
            "/settings/office365/consent",
            get(office365::consent_link).post(office365::consent_form),
        )
}

pub(crate) const APP_CSS: &str = include_str!("../../static/app.css");
pub(crate) const APP_JS: &str = include_str!("../../static/app.js");
pub(crate) const FAVICON: &str = include_str!("../../static/favicon.svg");

/// Cache-busting query for the static files: the start of the SHA-256 of their contents.
pub(crate) fn asset_version() -> &'static str {
    static VERSION: LazyLock<String> = LazyLock::new(|| {
        let mut both = String::with_capacity(APP_CSS.len() + APP_JS.len() + FAVICON.len());
        both.push_str(APP_CSS);
        both.push_str(APP_JS);
        both.push_str(FAVICON);
        crate::auth::hash_token(&both)[..12].to_owned()
    });
    VERSION.as_str()
}

/// What the shared layout needs: the signed-in user (for nav and the Log out form).
#[derive(Debug)]
pub(crate) struct Layout {
    pub(crate) username: Option<String>,
    pub(crate) csrf_token: Option<String>,
    pub(crate) nav: &'static str,
    pub(crate) asset_version: &'static str,
    pub(crate) version: &'static str,
}

impl Layout {
    pub(crate) fn signed_in(session: &Session, nav: &'static str) -> Self {
        Self {
            username: Some(session.username.clone()),
            csrf_token: Some(session.csrf_token.clone()),
            nav,
            ..Self::anonymous()
        }
    }
    pub(crate) fn anonymous() -> Self {
        Self {
            username: None,
            csrf_token: None,
            nav: "",
            asset_version: asset_version(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// Renders a page; a template failure becomes a bare 500 (and a log line).
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error: the server log has the details.",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    title: &'a str,
    message: &'a str,
}

/// A plain page that says what went wrong and links back.
pub(crate) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    render(
        status,
        &ErrorPage {
            layout: Layout::anonymous(),
            title,
            message,
        },
    )
}

/// Logs a failure and shows a page without its details.
pub(crate) fn internal_error(detail: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %detail, "console request failed");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The request failed on the server; the server log has the details. Try again, and report it if it persists.",
    )
}

/// The 403 page, unless the form's `csrf_token` is the session's.
pub(crate) fn csrf_denied(session: &Session, given: Option<&str>) -> Option<Response> {
    if csrf::tokens_match(&session.csrf_token, given) {
        None
    } else {
        tracing::warn!(user = %session.username, "console form rejected: CSRF token missing or wrong");
        Some(error_page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form was not sent from the current console page (its security token is missing or out of date). Reload the page and try again.",
        ))
    }
}

/// The signed-in console user; without a session, a 303 to `/login?next=…`.
pub(crate) struct ConsoleUser(pub(crate) Session);

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match session::current(state, &parts.headers).await {
            Ok(Some(s)) => Ok(Self(s)),
            Ok(None) => Err(login_redirect(parts)),
            Err(e) => Err(internal_error(&e)),
        }
    }
}

fn login_redirect(parts: &Parts) -> Response {
    // Come back to the page after login; a form target would be a GET to a POST-only path.
    let path = parts.uri.path();
    let next = if parts.method != Method::GET {
        "/".to_owned()
    } else if path == "/settings/office365/consent" {
        "/settings/office365".to_owned()
    } else {
        parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_else(|| path.to_owned())
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", &next)
        .finish();
    Redirect::to(&format!("/login?{query}")).into_response()
}

/// Where a login may send the browser afterwards: a path on this site only.
pub(crate) fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(|c| c.is_control() || c == '\\') =>
        {
            n
        }
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_must_be_a_local_path() {
        assert_eq!(
            safe_next(Some("/settings/office365")),
            "/settings/office365"
        );
        assert_eq!(safe_next(Some("/?a=b")), "/?a=b");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "/a\\b",
            "/a\nb",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
