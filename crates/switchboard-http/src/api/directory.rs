//! `/api/v1/directory/users` and `/api/v1/directory/groups`: searches over the tenant by name,
//! UPN or mail, for picking whom a sync applies to (the console's User Sync scope picker).

use super::ApiQuery;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchboard_core::ports::DirectoryError;
use switchboard_core::users::{DirectoryGroup, DirectoryUser};
use utoipa::ToSchema;

/// Results when `limit` is not given.
pub(crate) const DEFAULT_LIMIT: u32 = 10;
/// The most results one search returns.
pub(crate) const MAX_LIMIT: u32 = 25;
/// Longer queries are cut (nobody types a 100-character name prefix).
const MAX_QUERY_CHARS: usize = 100;

#[derive(Debug, Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    q: String,
    limit: Option<u32>,
}

impl SearchQuery {
    fn term(&self) -> String {
        self.q.trim().chars().take(MAX_QUERY_CHARS).collect()
    }
    fn limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }
}

/// A user as the picker shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DirectoryUserView {
    /// Entra object id: what the scope stores.
    #[schema(example = "6a1e0b3c-58f4-4a8e-9d1b-3c2f00a1b2c3")]
    id: String,
    /// The display name, else the UPN, else the id.
    #[schema(example = "Adele Vance")]
    display_name: String,
    user_principal_name: Option<String>,
    mail: Option<String>,
    department: Option<String>,
    /// `userType` is `Guest`.
    guest: bool,
    /// The account is disabled in Microsoft 365.
    disabled: bool,
}

impl From<DirectoryUser> for DirectoryUserView {
    fn from(u: DirectoryUser) -> Self {
        Self {
            display_name: u.label(),
            guest: u.is_guest(),
            disabled: !u.is_enabled(),
            id: u.id,
            user_principal_name: u.user_principal_name,
            mail: u.mail,
            department: u.department,
        }
    }
}

/// A group as the picker shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DirectoryGroupView {
    /// Entra object id: what the scope stores.
    id: String,
    #[schema(example = "Phone System Pilot")]
    display_name: String,
    mail: Option<String>,
}

impl From<DirectoryGroup> for DirectoryGroupView {
    fn from(g: DirectoryGroup) -> Self {
        Self {
            id: g.id,
            display_name: g.display_name,
            mail: g.mail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserSearchResult {
    users: Vec<DirectoryUserView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GroupSearchResult {
    groups: Vec<DirectoryGroupView>,
}

fn directory_error(e: &DirectoryError) -> ApiError {
    tracing::warn!(error = %e, "directory search failed");
    ApiError::new(StatusCode::BAD_GATEWAY, e.to_string())
}

/// Users of the tenant whose display name, user principal name or mail has a word starting with
/// `q` (Microsoft Graph `$search`). A blank `q` finds nothing.
#[utoipa::path(
    get,
    path = "/api/v1/directory/users",
    tag = "directory",
    params(
        ("q" = Option<String>, Query, description = "The start of a word of the name, UPN or mail"),
        ("limit" = Option<u32>, Query, description = "At most this many results (1–25, default 10)"),
    ),
    responses(
        (status = 200, description = "The users found", body = UserSearchResult),
        (status = 400, description = "The query string is not valid", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 502, description = "Microsoft 365 could not be searched; the message says why", body = ErrorBody),
    )
)]
pub(crate) async fn users(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Json<UserSearchResult>, ApiError> {
    let term = query.term();
    if term.is_empty() {
        return Ok(Json(UserSearchResult { users: Vec::new() }));
    }
    let found = state
        .user_sync()
        .directory()
        .search_users(&term, query.limit())
        .await
        .map_err(|e| directory_error(&e))?;
    Ok(Json(UserSearchResult {
        users: found
            .into_iter()
            .take(query.limit() as usize)
            .map(Into::into)
            .collect(),
    }))
}

/// Groups of the tenant whose display name or mail has a word starting with `q`. A blank `q`
/// finds nothing.
#[utoipa::path(
    get,
    path = "/api/v1/directory/groups",
    tag = "directory",
    params(
        ("q" = Option<String>, Query, description = "The start of a word of the name or mail"),
        ("limit" = Option<u32>, Query, description = "At most this many results (1–25, default 10)"),
    ),
    responses(
        (status = 200, description = "The groups found", body = GroupSearchResult),
        (status = 400, description = "The query string is not valid", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 502, description = "Microsoft 365 could not be searched; the message says why", body = ErrorBody),
    )
)]
pub(crate) async fn groups(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Json<GroupSearchResult>, ApiError> {
    let term = query.term();
    if term.is_empty() {
        return Ok(Json(GroupSearchResult { groups: Vec::new() }));
    }
    let found = state
        .user_sync()
        .directory()
        .search_groups(&term, query.limit())
        .await
        .map_err(|e| directory_error(&e))?;
    Ok(Json(GroupSearchResult {
        groups: found
            .into_iter()
            .take(query.limit() as usize)
            .map(Into::into)
            .collect(),
    }))
}
