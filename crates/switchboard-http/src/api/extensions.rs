//! `/api/v1/extensions` and `/api/v1/audit`: the extensions, local changes and their audit trail.

use super::openapi::schema;
use super::{ApiJson, ApiQuery, Principal};
use crate::error::{ApiError, ErrorBody};
use crate::extensions::{
    ExtensionOut, FieldsInput, business_phone_as_caller_id, delete_warning, edit_warning,
    join_errors, store_error, sync_owned, validate_number,
};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use switchboard_core::ports::StoreError;
use switchboard_core::users::{AuditEntry, ExtensionQuery, ExtensionRecord, Origin};

/// Page size of the list when `limit` is not given, and the largest allowed.
pub(crate) const DEFAULT_LIMIT: u32 = 100;
pub(crate) const MAX_LIMIT: u32 = 1000;

fn check_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
        Some(l) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("limit must be between 1 and {MAX_LIMIT}, got {l}."),
        )),
    }
}

fn not_found(number: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "There is no extension {}: GET /api/v1/extensions lists them.",
            number.chars().take(40).collect::<String>()
        ),
    )
}

fn store_failure(e: &StoreError, number: &str) -> ApiError {
    match store_error(e, number) {
        Some((status, message)) => ApiError::new(status, message),
        None => ApiError::internal(e),
    }
}

async fn load(state: &AppState, number: &str) -> Result<ExtensionRecord, ApiError> {
    state
        .extensions()
        .get_extension(number)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| not_found(number))
}

/// Whether synced extensions show their business phone as `outbound_caller_id`.
async fn caller_id_setting(state: &AppState) -> Result<bool, ApiError> {
    business_phone_as_caller_id(state)
        .await
        .map_err(|e| ApiError::internal(&e))
}

/// An extension as the API shows it (with the derived `outbound_caller_id`).
async fn show(state: &AppState, record: ExtensionRecord) -> Result<ExtensionOut, ApiError> {
    Ok(ExtensionOut::new(record, caller_id_setting(state).await?))
}

/// An extension, with a warning when the change will not last.
#[derive(Debug, Serialize)]
pub(crate) struct ExtensionView {
    #[serde(flatten)]
    extension: ExtensionOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    group: Option<String>,
    q: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Extensions ordered by number (as text), a page at a time: pass the last number of a page as
/// `after` to get the next one.
#[utoipa::path(
    get,
    path = "/api/v1/extensions",
    tag = "extensions",
    params(
        ("group" = Option<String>, Query, description = "Only members of this group, e.g. `Azure AD` (every synced extension)"),
        ("q" = Option<String>, Query, description = "Case-insensitive text in the number, names, email or UPN"),
        ("after" = Option<String>, Query, description = "Only numbers after this one (keyset paging: the last number of the previous page)"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 1000 (default 100)"),
    ),
    responses(
        (status = 200, description = "One page of extensions", body = Vec<schema::Extension>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "limit out of range", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Vec<ExtensionOut>>, ApiError> {
    let query = ExtensionQuery {
        limit: check_limit(query.limit)?,
        group: non_empty(query.group),
        q: non_empty(query.q),
        after: non_empty(query.after),
    };
    let rows = state
        .extensions()
        .list_extensions(&query)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let caller_id = caller_id_setting(&state).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| ExtensionOut::new(r, caller_id))
            .collect(),
    ))
}

/// One extension.
#[utoipa::path(
    get,
    path = "/api/v1/extensions/{number}",
    tag = "extensions",
    params(("number" = String, Path, description = "Extension number")),
    responses(
        (status = 200, description = "The extension", body = schema::Extension),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such extension", body = ErrorBody),
    )
)]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Path(number): Path<String>,
) -> Result<Json<ExtensionOut>, ApiError> {
    let record = load(&state, &number).await?;
    Ok(Json(show(&state, record).await?))
}

/// `POST /api/v1/extensions`: the number and any of the ten fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    number: String,
    first_name: Option<String>,
    last_name: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
    upn: Option<String>,
    mobile: Option<String>,
    business_phone: Option<String>,
    job_title: Option<String>,
    department: Option<String>,
    office: Option<String>,
}

impl CreateBody {
    fn split(self) -> (String, FieldsInput) {
        (
            self.number.trim().to_owned(),
            FieldsInput {
                first_name: self.first_name,
                last_name: self.last_name,
                display_name: self.display_name,
                email: self.email,
                upn: self.upn,
                mobile: self.mobile,
                business_phone: self.business_phone,
                job_title: self.job_title,
                department: self.department,
                office: self.office,
            },
        )
    }
}

/// Creates a local extension (origin `local`), one Microsoft 365 does not own.
#[utoipa::path(
    post,
    path = "/api/v1/extensions",
    tag = "extensions",
    request_body = schema::ExtensionCreate,
    responses(
        (status = 201, description = "Created; `Location` names it", body = schema::Extension),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Console session without X-CSRF-Token", body = ErrorBody),
        (status = 409, description = "The number is taken", body = ErrorBody),
        (status = 422, description = "The number is not 2 to 15 digits, or a field is not valid", body = ErrorBody),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    let (number, input) = body.split();
    validate_number(&number).map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let fields = input
        .apply_to(&Default::default())
        .map_err(|errors| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, join_errors(&errors)))?;
    state
        .extensions()
        .create_local_extension(&number, &fields, &who.actor, state.now())
        .await
        .map_err(|e| store_failure(&e, &number))?;
    tracing::info!(user = %who.username, via = who.via, %number, "local extension created");
    let record = show(&state, load(&state, &number).await?).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/extensions/{number}"))],
        Json(record),
    )
        .into_response())
}

/// Changes any of the ten fields. A synced extension can be edited, but the next sync reverts
/// the change: the answer then carries a `warning`.
#[utoipa::path(
    patch,
    path = "/api/v1/extensions/{number}",
    tag = "extensions",
    params(("number" = String, Path, description = "Extension number")),
    request_body = schema::ExtensionFields,
    responses(
        (status = 200, description = "The extension after the change (with `warning` for a synced one)", body = schema::ExtensionChanged),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Console session without X-CSRF-Token", body = ErrorBody),
        (status = 404, description = "No such extension", body = ErrorBody),
        (status = 422, description = "A field is not valid or not one of the ten", body = ErrorBody),
    )
)]
pub(crate) async fn patch(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(number): Path<String>,
    ApiJson(input): ApiJson<FieldsInput>,
) -> Result<Json<ExtensionView>, ApiError> {
    let current = load(&state, &number).await?;
    let fields = input
        .apply_to(&current.fields)
        .map_err(|errors| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, join_errors(&errors)))?;
    if fields == current.fields {
        return Ok(Json(ExtensionView {
            extension: show(&state, current).await?,
            warning: None,
        }));
    }
    let found = state
        .extensions()
        .edit_extension(&number, &fields, &who.actor, state.now())
        .await
        .map_err(|e| store_failure(&e, &number))?;
    if !found {
        return Err(not_found(&number));
    }
    tracing::info!(user = %who.username, via = who.via, %number, "extension edited");
    let extension = load(&state, &number).await?;
    let warning = sync_owned(&extension).then(|| edit_warning(&number));
    let extension = show(&state, extension).await?;
    Ok(Json(ExtensionView { extension, warning }))
}

/// `DELETE` answer.
#[derive(Debug, Serialize)]
pub(crate) struct Deleted {
    number: String,
    deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

/// Deletes an extension. A synced one comes back with the next sync (same number) unless the
/// user leaves Microsoft 365 or the sync scope: the answer then carries a `warning`.
#[utoipa::path(
    delete,
    path = "/api/v1/extensions/{number}",
    tag = "extensions",
    params(("number" = String, Path, description = "Extension number")),
    responses(
        (status = 200, description = "Deleted", body = schema::ExtensionDeleted),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Console session without X-CSRF-Token", body = ErrorBody),
        (status = 404, description = "No such extension", body = ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(number): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let current = load(&state, &number).await?;
    let found = state
        .extensions()
        .delete_extension(&number, &who.actor, state.now())
        .await
        .map_err(|e| store_failure(&e, &number))?;
    if !found {
        return Err(not_found(&number));
    }
    tracing::info!(user = %who.username, via = who.via, %number, "extension deleted");
    Ok(Json(Deleted {
        warning: (current.origin == Origin::AzureAd).then(|| delete_warning(&number)),
        number,
        deleted: true,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExcludedBody {
    excluded: bool,
}

/// Excludes an extension from sync (the sync never touches it again) or includes it again.
#[utoipa::path(
    put,
    path = "/api/v1/extensions/{number}/excluded",
    tag = "extensions",
    params(("number" = String, Path, description = "Extension number")),
    request_body = schema::ExcludedUpdate,
    responses(
        (status = 200, description = "The extension after the change", body = schema::Extension),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Console session without X-CSRF-Token", body = ErrorBody),
        (status = 404, description = "No such extension", body = ErrorBody),
    )
)]
pub(crate) async fn set_excluded(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<ExcludedBody>,
) -> Result<Json<ExtensionOut>, ApiError> {
    let found = state
        .extensions()
        .set_excluded(&number, body.excluded, &who.actor, state.now())
        .await
        .map_err(|e| store_failure(&e, &number))?;
    if !found {
        return Err(not_found(&number));
    }
    tracing::info!(user = %who.username, via = who.via, %number, excluded = body.excluded, "extension sync exclusion set");
    let record = load(&state, &number).await?;
    Ok(Json(show(&state, record).await?))
}

#[derive(Debug, Deserialize)]
pub(crate) struct LimitQuery {
    limit: Option<u32>,
}

/// The audit trail of one extension, newest first. Kept after the extension is deleted.
#[utoipa::path(
    get,
    path = "/api/v1/extensions/{number}/audit",
    tag = "extensions",
    params(
        ("number" = String, Path, description = "Extension number"),
        ("limit" = Option<u32>, Query, description = "At most this many entries, 1 to 1000 (default 100)"),
    ),
    responses(
        (status = 200, description = "Audit entries, newest first", body = Vec<schema::AuditEntry>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "limit out of range", body = ErrorBody),
    )
)]
pub(crate) async fn extension_audit(
    State(state): State<AppState>,
    Path(number): Path<String>,
    ApiQuery(query): ApiQuery<LimitQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let limit = check_limit(query.limit)?;
    let entries = state
        .extensions()
        .audit_log(Some(&number), limit)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(entries))
}

/// The whole audit log (sync runs, console and API changes), newest first.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "extensions",
    params(("limit" = Option<u32>, Query, description = "At most this many entries, 1 to 1000 (default 100)")),
    responses(
        (status = 200, description = "Audit entries, newest first", body = Vec<schema::AuditEntry>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "limit out of range", body = ErrorBody),
    )
)]
pub(crate) async fn audit(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LimitQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let limit = check_limit(query.limit)?;
    let entries = state
        .extensions()
        .audit_log(None, limit)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(entries))
}
