//! `GET /oauth2office2`: where Microsoft's admin-consent redirect returns.
//!
//! The session cookie is SameSite=Strict, so this cross-site navigation from Microsoft arrives
//! without it: the route needs no session. The single-use `state` nonce, created by a signed-in
//! admin's "Sign in to Office 365", is what authorises it. The result page links (and refreshes)
//! to the console, a same-origin navigation on which the cookie is sent again.

use crate::console::{Layout, internal_error, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use switchboard_core::office365::{ConsentCallback, ServiceError};

#[derive(Template)]
#[template(path = "consent_result.html")]
struct ResultPage {
    layout: Layout,
    status: &'static str,
    message: String,
}

#[derive(Template)]
#[template(path = "consent_error.html")]
struct ErrorPage {
    layout: Layout,
    message: String,
}

pub(crate) async fn consent_redirect(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Response {
    // Lenient parsing: a malformed query is just an answer without a usable state.
    let callback: ConsentCallback = url::form_urlencoded::parse(
        query.unwrap_or_default().as_bytes(),
    )
    .fold(ConsentCallback::default(), |mut cb, (k, v)| {
        let v = Some(v.into_owned());
        match k.as_ref() {
            "state" => cb.state = v,
            "admin_consent" => cb.admin_consent = v,
            "tenant" => cb.tenant = v,
            "error" => cb.error = v,
            "error_description" => cb.error_description = v,
            _ => {}
        }
        cb
    });
    match state.connection().complete_consent(&callback).await {
        Ok(settings) => {
            tracing::info!(
                status = settings.status.as_str(),
                "office 365 admin consent answered"
            );
            render(
                StatusCode::OK,
                &ResultPage {
                    layout: Layout::anonymous(),
                    status: settings.status.as_str(),
                    message: settings.message,
                },
            )
        }
        Err(e @ ServiceError::UnknownConsentState) => {
            tracing::warn!("office 365 consent redirect with an unknown or used state");
            render(
                StatusCode::BAD_REQUEST,
                &ErrorPage {
                    layout: Layout::anonymous(),
                    message: e.to_string(),
                },
            )
        }
        Err(e) => internal_error(&e),
    }
}
