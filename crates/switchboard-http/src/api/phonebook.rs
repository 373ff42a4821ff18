//! `GET /api/v1/extensions/{number}/phonebook`: an extension's personal phonebook (its Outlook
//! contacts, every folder), searchable and paged.

use super::ApiQuery;
use super::openapi::schema;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use switchboard_core::contacts::{Book, EntryOrigin, PhoneNumber, PhonebookEntry, PhonebookQuery};

/// Page size when `limit` is not given, and the largest allowed.
pub(crate) const DEFAULT_LIMIT: u32 = 100;
pub(crate) const MAX_LIMIT: u32 = 500;
/// Longest search text; longer is refused rather than cut, so a result never silently
/// answers a different question.
pub(crate) const MAX_SEARCH_CHARS: usize = 200;

#[derive(Debug, Deserialize)]
pub(crate) struct PhonebookParams {
    q: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

/// A phonebook entry as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct EntryView {
    /// The Outlook contact id.
    id: String,
    display_name: String,
    first_name: String,
    last_name: String,
    company: String,
    department: String,
    job_title: String,
    emails: Vec<String>,
    phones: Vec<PhoneNumber>,
    /// The Outlook contact folder ("" for the default Contacts folder).
    folder_id: String,
    origin: EntryOrigin,
    updated_at: Timestamp,
}

impl From<PhonebookEntry> for EntryView {
    fn from(e: PhonebookEntry) -> Self {
        Self {
            id: e.contact_id,
            display_name: e.display_name,
            first_name: e.first_name,
            last_name: e.last_name,
            company: e.company,
            department: e.department,
            job_title: e.job_title,
            emails: e.emails,
            phones: e.phones,
            folder_id: e.folder_id,
            origin: e.origin,
            updated_at: e.updated_at,
        }
    }
}

/// `limit`, checked: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
pub(crate) fn check_limit(limit: Option<u32>) -> Result<u32, String> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
        Some(l) => Err(format!(
            "limit must be between 1 and {MAX_LIMIT}, got {l}: page through a larger phonebook with offset."
        )),
    }
}

/// The search text, trimmed; `None` when empty. Refused when longer than [`MAX_SEARCH_CHARS`].
pub(crate) fn check_search(q: Option<&str>) -> Result<Option<String>, String> {
    let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    if q.chars().count() > MAX_SEARCH_CHARS {
        return Err(format!(
            "q is too long ({} characters): search with at most {MAX_SEARCH_CHARS} characters, such as a name, company, email or number.",
            q.chars().count()
        ));
    }
    Ok(Some(q.to_owned()))
}

/// The personal phonebook of an extension (its user's Outlook contacts from every folder),
/// ordered by display name. Search with `q` (names, company, emails and numbers,
/// case-insensitive) and page with `limit` and `offset`.
#[utoipa::path(
    get,
    path = "/api/v1/extensions/{number}/phonebook",
    tag = "phonebook",
    params(
        ("number" = String, Path, description = "Extension number"),
        ("q" = Option<String>, Query, description = "Words matched against names, company, emails and numbers (case-insensitive), at most 200 characters"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 500 (default 100)"),
        ("offset" = Option<u32>, Query, description = "Entries to skip (default 0)"),
    ),
    responses(
        (status = 200, description = "One page of entries", body = Vec<schema::PhonebookEntry>),
        (status = 400, description = "limit out of range or q too long", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such extension", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Path(number): Path<String>,
    ApiQuery(params): ApiQuery<PhonebookParams>,
) -> Result<Json<Vec<EntryView>>, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    let query = PhonebookQuery {
        limit: check_limit(params.limit).map_err(bad)?,
        search: check_search(params.q.as_deref()).map_err(bad)?,
        offset: params.offset.unwrap_or(0),
    };
    let exists = state
        .extensions()
        .get_extension(&number)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .is_some();
    if !exists {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "There is no extension {}: GET /api/v1/extensions lists them.",
                number.chars().take(40).collect::<String>()
            ),
        ));
    }
    let entries = state
        .phonebooks()
        .phonebook(&Book::Extension(number), &query)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(entries.into_iter().map(EntryView::from).collect()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_search_are_checked() {
        assert_eq!(check_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(check_limit(Some(500)).unwrap(), 500);
        assert!(
            check_limit(Some(501))
                .unwrap_err()
                .contains("between 1 and 500")
        );
        assert!(check_limit(Some(0)).is_err());
        assert_eq!(check_search(Some("  ")).unwrap(), None);
        assert_eq!(check_search(Some(" ada ")).unwrap().as_deref(), Some("ada"));
        assert!(
            check_search(Some(&"x".repeat(201)))
                .unwrap_err()
                .contains("at most 200")
        );
    }
}
