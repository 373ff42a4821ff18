//! `/api/v1/settings/contact-sync` and `/api/v1/sync/contacts/skipped`: the Contact Sync
//! settings and the mailboxes it skips.

use super::openapi::schema;
use super::{ApiJson, Principal};
use crate::contact_sync::{check, describe, error_status, load_config, merge_config, save_config};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use switchboard_core::contacts::{ContactSyncConfig, ContactSyncError, SkippedMailbox};

pub(crate) fn contact_error(e: &ContactSyncError) -> ApiError {
    let (status, message) = error_status(e);
    ApiError::new(status, message)
}

/// The Contact Sync settings.
#[utoipa::path(
    get,
    path = "/api/v1/settings/contact-sync",
    tag = "sync",
    responses(
        (status = 200, description = "The settings", body = schema::ContactSyncConfig),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
pub(crate) async fn get_settings(
    State(state): State<AppState>,
) -> Result<Json<ContactSyncConfig>, ApiError> {
    Ok(Json(
        load_config(&state).await.map_err(|e| contact_error(&e))?,
    ))
}

/// Saves the Contact Sync settings. Keys left out keep their current value; unknown keys are
/// refused. The region is stored upper-case, scope ids and mailboxes lower-case.
#[utoipa::path(
    put,
    path = "/api/v1/settings/contact-sync",
    tag = "sync",
    request_body = schema::ContactSyncConfig,
    responses(
        (status = 200, description = "Saved; the new settings", body = schema::ContactSyncConfig),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Console session without X-CSRF-Token", body = ErrorBody),
        (status = 422, description = "A setting is not valid; the message says which and how to fix it", body = ErrorBody),
    )
)]
pub(crate) async fn put_settings(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<ContactSyncConfig>, ApiError> {
    let current = load_config(&state).await.map_err(|e| contact_error(&e))?;
    let invalid = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m);
    let mut config = merge_config(&current, body).map_err(invalid)?;
    check(&mut config).map_err(|problems| invalid(describe(&problems)))?;
    save_config(&state, &config)
        .await
        .map_err(|e| contact_error(&e))?;
    tracing::info!(user = %who.username, via = who.via, "contact sync settings saved");
    Ok(Json(config))
}

/// Users (and company phonebook mailboxes) the contact sync skips, with the reason: most often
/// "no mailbox (plan without Exchange)", a licence without Exchange Online.
#[utoipa::path(
    get,
    path = "/api/v1/sync/contacts/skipped",
    tag = "sync",
    responses(
        (status = 200, description = "Skipped mailboxes", body = Vec<schema::SkippedMailbox>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
pub(crate) async fn skipped(
    State(state): State<AppState>,
) -> Result<Json<Vec<SkippedMailbox>>, ApiError> {
    Ok(Json(
        state
            .contact_sync()
            .skipped()
            .await
            .map_err(|e| contact_error(&e))?,
    ))
}
