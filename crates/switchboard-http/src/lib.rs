//! Switchboard's HTTP face: the admin console (server-rendered pages), the REST API v1, the
//! Office 365 admin-consent redirect, health, metrics and the OpenAPI document.
//!
//! The binary builds an [`AppState`] from [`AppDeps`] (core's ports and services: the
//! [`Store`](switchboard_core::ports::Store), the
//! [`ExtensionStore`](switchboard_core::ports::ExtensionStore), the
//! [`ConnectionService`](switchboard_core::office365::ConnectionService) and the
//! [`UserSync`](switchboard_core::users::UserSync) service and the rest), then serves
//! [`router`] with `into_make_service_with_connect_info::<SocketAddr>()` (the login rate limit is
//! keyed by client address). On shutdown it calls [`AppState::close_streams`], so the live
//! presence streams (`GET /api/v1/presence/stream`) end and graceful shutdown does not wait on
//! them.
//!
//! Authentication in one paragraph: console pages need a session cookie (`sb_session`,
//! HttpOnly, SameSite=Strict); every console form carries a hidden `csrf_token`. `/api/v1/*` takes
//! `Authorization: Bearer <token>` or the console session, and with a session every unsafe method
//! also needs the `X-CSRF-Token` header. `/healthz`, `/metrics`, `/static/*`, `/login` and
//! `/oauth2office2` need no session (the last one is authorised by its single-use `state`).
//! A bearer token is checked against the store once and then trusted from memory for
//! [`HttpConfig::api_token_cache_ttl`] (60 s): API calls, above all the caller-ID lookup asked
//! on every incoming call, do not wait for the database, and a revoked token stops working
//! within that time.
//!
//! Microsoft Graph's change notifications arrive at `POST /webhooks/graph` and
//! `POST /webhooks/graph/lifecycle` (no session, no CSRF: each notification is authenticated by
//! its `clientState`). They answer the validation handshake, record verified notifications in the
//! [`SubscriptionStore`](switchboard_core::ports::SubscriptionStore), tell the sync side through
//! [`AppDeps::events`] and answer `202` at once; see the `webhooks` module for the details.

mod api;
pub mod auth;
mod calendar_sync;
mod console;
mod contact_sync;
mod error;
mod extensions;
mod layers;
mod oauth;
mod phonebooks;
mod presence;
mod state;
mod sync_settings;
mod user_sync;
mod webhooks;

pub use state::{AppDeps, AppState, HttpConfig, MetricsRenderer};

/// `(method, path)` of every `/api/v1` route; for tests that compare it with the OpenAPI document.
#[doc(hidden)]
pub use api::route_list as api_route_list;

use axum::Router;
use axum::routing::get;

/// The whole HTTP surface, with its security layers.
pub fn router(state: AppState) -> Router {
    let app = Router::new()
        .route("/healthz", get(layers::healthz))
        .route("/metrics", get(layers::metrics))
        .route("/oauth2office2", get(oauth::consent_redirect))
        .merge(console::routes())
        .merge(api::routes(&state))
        .merge(webhooks::routes())
        .merge(phonebooks::routes(&state))
        .fallback(layers::not_found)
        .method_not_allowed_fallback(layers::method_not_allowed)
        .layer(axum::middleware::from_fn(layers::count_requests))
        .with_state(state);
    layers::apply(app)
}
