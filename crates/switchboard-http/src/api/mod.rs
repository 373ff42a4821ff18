//! REST API v1 (JSON). Every route needs `Authorization: Bearer <token>` or a console session;
//! with a session, unsafe methods also need `X-CSRF-Token`. Errors are `{"error": "…"}`.
//!
//! The routes are declared once, in [`table`]: the router is built from it and a test checks
//! that the OpenAPI document describes exactly these routes.

mod calendar;
mod contacts;
mod directory;
mod extensions;
mod lookup;
pub(crate) mod openapi;
pub(crate) mod phonebook;
pub(crate) mod presence;
mod settings;
mod sync;

use crate::auth::csrf;
use crate::auth::session;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// Every `/api/v1` route: method, path and handler.
fn table() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    const SETTINGS: &str = "/api/v1/settings/office365";
    const USER_SYNC: &str = "/api/v1/settings/user-sync";
    const CONTACT_SYNC: &str = "/api/v1/settings/contact-sync";
    const CALENDAR_SYNC: &str = "/api/v1/settings/calendar-sync";
    const EXTENSIONS: &str = "/api/v1/extensions";
    const EXTENSION: &str = "/api/v1/extensions/{number}";
    vec![
        (Method::GET, SETTINGS, get(settings::get_settings)),
        (Method::PUT, SETTINGS, put(settings::put_settings)),
        (
            Method::POST,
            "/api/v1/settings/office365/keypair",
            post(settings::generate_keypair),
        ),
        (
            Method::POST,
            "/api/v1/settings/office365/verify",
            post(settings::verify),
        ),
        (
            Method::POST,
            "/api/v1/settings/office365/consent",
            post(settings::begin_consent),
        ),
        (Method::GET, EXTENSIONS, get(extensions::list)),
        (Method::POST, EXTENSIONS, post(extensions::create)),
        (Method::GET, EXTENSION, get(extensions::get_one)),
        (Method::PATCH, EXTENSION, patch(extensions::patch)),
        (Method::DELETE, EXTENSION, delete(extensions::delete)),
        (
            Method::PUT,
            "/api/v1/extensions/{number}/excluded",
            put(extensions::set_excluded),
        ),
        (
            Method::GET,
            "/api/v1/extensions/{number}/audit",
            get(extensions::extension_audit),
        ),
        (
            Method::GET,
            "/api/v1/extensions/{number}/phonebook",
            get(phonebook::list),
        ),
        (Method::GET, "/api/v1/lookup", get(lookup::lookup)),
        (Method::GET, "/api/v1/audit", get(extensions::audit)),
        (Method::GET, "/api/v1/sync", get(sync::status)),
        (Method::POST, "/api/v1/sync/{kind}", post(sync::run)),
        (
            Method::POST,
            "/api/v1/sync/users/self-test",
            post(sync::self_test),
        ),
        (Method::GET, USER_SYNC, get(sync::get_settings)),
        (Method::PUT, USER_SYNC, put(sync::put_settings)),
        (
            Method::GET,
            "/api/v1/sync/contacts/skipped",
            get(contacts::skipped),
        ),
        (Method::GET, CONTACT_SYNC, get(contacts::get_settings)),
        (Method::PUT, CONTACT_SYNC, put(contacts::put_settings)),
        (
            Method::GET,
            "/api/v1/sync/calendar/skipped",
            get(calendar::skipped),
        ),
        (Method::GET, CALENDAR_SYNC, get(calendar::get_settings)),
        (Method::PUT, CALENDAR_SYNC, put(calendar::put_settings)),
        (Method::GET, "/api/v1/presence", get(presence::list)),
        (
            Method::GET,
            "/api/v1/presence/stream",
            get(presence::stream),
        ),
        (
            Method::PUT,
            "/api/v1/extensions/{number}/status",
            put(presence::set_status),
        ),
        (
            Method::GET,
            "/api/v1/directory/users",
            get(directory::users),
        ),
        (
            Method::GET,
            "/api/v1/directory/groups",
            get(directory::groups),
        ),
        (Method::GET, "/api/v1/openapi.json", get(openapi::document)),
    ]
}

/// `(method, path)` of every route the API router serves, e.g. `("GET", "/api/v1/openapi.json")`.
pub fn route_list() -> Vec<(String, &'static str)> {
    table()
        .into_iter()
        .map(|(method, path, _)| (method.to_string(), path))
        .collect()
}

pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    table()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
        .route_layer(middleware::from_fn_with_state(state.clone(), require_auth))
}

/// Who made an API call, for the log and the audit trail.
/// Shared strings, so that handing it to a request costs no copy (API tokens come from the
/// token cache on the hot path).
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    pub(crate) username: Arc<str>,
    pub(crate) via: &'static str,
    /// The audit actor: `api:{token name}` for a bearer token, `admin:{username}` for a session.
    pub(crate) actor: Arc<str>,
}

async fn require_auth(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    match authenticate(&state, req.method(), req.headers()).await {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn authenticate(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(ApiError::unauthorized(
                "The Authorization header must be `Bearer <token>`.",
                "Bearer error=\"invalid_request\"",
            ));
        };
        // Through the in-memory cache: no database round trip per request (see token_cache).
        return match state.api_tokens().verify(state.store(), token).await {
            Ok(Some(owner)) => Ok(Principal {
                actor: owner.actor,
                username: owner.username,
                via: "api token",
            }),
            Ok(None) => Err(ApiError::unauthorized(
                "The API token is not valid (unknown or revoked): create one with `switchboard admin token`.",
                "Bearer error=\"invalid_token\"",
            )),
            Err(e) => Err(ApiError::internal(&e)),
        };
    }
    match session::current(state, headers).await {
        Ok(Some(s)) => {
            let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
            let given = headers.get(csrf::HEADER).and_then(|v| v.to_str().ok());
            if safe || csrf::tokens_match(&s.csrf_token, given) {
                Ok(Principal {
                    actor: admin_actor(&s.username).into(),
                    username: s.username.into(),
                    via: "console session",
                })
            } else {
                Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "With a console session, changes need the X-CSRF-Token header: send the token from the console page's <meta name=\"csrf-token\">, or use an API token instead.",
                ))
            }
        }
        Ok(None) => Err(ApiError::unauthorized(
            "Authentication required: send `Authorization: Bearer <token>` (create one with `switchboard admin token`) or sign in to the console.",
            "Bearer",
        )),
        Err(e) => Err(ApiError::internal(&e)),
    }
}

/// The audit actor of a console admin.
pub(crate) fn admin_actor(username: &str) -> String {
    format!("admin:{username}")
}

/// `Json` whose rejections are API errors (`{"error": …}`) rather than plain text.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::new(
                rejection.status(),
                format!(
                    "The request body is not valid: {}. Send JSON with Content-Type: application/json.",
                    rejection.body_text()
                ),
            )),
        }
    }
}

/// `Query` whose rejections are API errors (`{"error": …}`) rather than plain text.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "The query string is not valid: {}. Flags take true or false; numbers are plain digits.",
                    rejection.body_text()
                ),
            )),
        }
    }
}
