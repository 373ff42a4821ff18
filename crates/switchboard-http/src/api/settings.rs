//! `/api/v1/settings/office365`: the Configure workflow over JSON.

use super::openapi::schema;
use super::{ApiJson, Principal};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use switchboard_core::office365::{ConnectionSettings, ConnectionUpdate};

/// `POST …/keypair` answer: the certificate to upload, never the private key.
#[derive(Debug, Serialize)]
pub(crate) struct KeypairResponse {
    certificate_pem: String,
    settings: ConnectionSettings,
}

/// `POST …/consent` answer.
#[derive(Debug, Serialize)]
pub(crate) struct ConsentResponse {
    url: String,
}

/// The Office 365 connection: ids, redirect URL, certificates, consent, status and message.
#[utoipa::path(
    get,
    path = "/api/v1/settings/office365",
    tag = "office365",
    responses(
        (status = 200, description = "The connection settings (no secrets)", body = schema::ConnectionSettings),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
pub(crate) async fn get_settings(
    State(state): State<AppState>,
) -> Result<Json<ConnectionSettings>, ApiError> {
    Ok(Json(state.connection().settings().await?))
}

/// Saves the Application (client) ID, the Directory (tenant) ID or domain and the signing
/// algorithm. Changing an id starts admin consent over.
#[utoipa::path(
    put,
    path = "/api/v1/settings/office365",
    tag = "office365",
    request_body = schema::ConnectionUpdate,
    responses(
        (status = 200, description = "Saved; the new settings", body = schema::ConnectionSettings),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Console session without X-CSRF-Token", body = ErrorBody),
        (status = 422, description = "An id is not valid; the message says how to fix it", body = ErrorBody),
    )
)]
pub(crate) async fn put_settings(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    ApiJson(update): ApiJson<ConnectionUpdate>,
) -> Result<Json<ConnectionSettings>, ApiError> {
    let settings = state.connection().update(update).await?;
    tracing::info!(user = %who.username, via = who.via, "office 365 ids saved");
    Ok(Json(settings))
}

/// Generates a new key pair and self-signed certificate. The first becomes active at once; later
/// ones stay pending until Microsoft accepts them. Returns the certificate to upload.
#[utoipa::path(
    post,
    path = "/api/v1/settings/office365/keypair",
    tag = "office365",
    responses(
        (status = 200, description = "The new certificate (PEM) and the settings", body = schema::KeypairResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Console session without X-CSRF-Token", body = ErrorBody),
    )
)]
pub(crate) async fn generate_keypair(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<KeypairResponse>, ApiError> {
    let (settings, certificate_pem) = state.connection().generate_keypair().await?;
    tracing::info!(user = %who.username, via = who.via, "office 365 key pair generated");
    Ok(Json(KeypairResponse {
        certificate_pem,
        settings,
    }))
}

/// Proves the connection now (token, permissions, Graph) and returns the result as settings.
#[utoipa::path(
    post,
    path = "/api/v1/settings/office365/verify",
    tag = "office365",
    responses(
        (status = 200, description = "The check ran; `status` and `message` tell the result", body = schema::ConnectionSettings),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Console session without X-CSRF-Token", body = ErrorBody),
    )
)]
pub(crate) async fn verify(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<ConnectionSettings>, ApiError> {
    let settings = state.connection().verify().await?;
    tracing::info!(user = %who.username, via = who.via, status = settings.status.as_str(), "office 365 connection tested");
    Ok(Json(settings))
}

/// Starts admin consent: returns the Microsoft URL to open in a browser. Its single-use `state`
/// brings the answer back to `/oauth2office2`.
#[utoipa::path(
    post,
    path = "/api/v1/settings/office365/consent",
    tag = "office365",
    responses(
        (status = 200, description = "The admin consent URL", body = schema::ConsentResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Console session without X-CSRF-Token", body = ErrorBody),
        (status = 409, description = "Ids or certificate missing; the message says which", body = ErrorBody),
    )
)]
pub(crate) async fn begin_consent(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<ConsentResponse>, ApiError> {
    let url = state.connection().begin_consent().await?;
    tracing::info!(user = %who.username, via = who.via, "office 365 admin consent started");
    Ok(Json(ConsentResponse { url: url.into() }))
}
