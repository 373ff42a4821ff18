//! The Entra ID (login.microsoftonline.com) half: token endpoint and admin consent.

pub mod assertion;
pub mod consent;
pub mod errors;
pub mod token;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(token::token).fallback(token::wrong_method),
        )
        .route("/{tenant}/adminconsent", get(consent::admin_consent_v1))
        .route(
            "/{tenant}/v2.0/adminconsent",
            get(consent::admin_consent_v2),
        )
}
