//! `/api/v1/sync` and `/api/v1/settings/user-sync`: sync status (users, contacts and calendar),
//! runs on demand (or their plan) and the User Sync settings.

use super::contacts::contact_error;
use super::openapi::schema;
use super::{ApiJson, ApiQuery, Principal};
use crate::contact_sync;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::user_sync::{
    OutcomeView, SELF_TEST_NO_PUBLIC_URL, SelfTestResult, check_scope, error_status, merge_config,
    reachability_self_test, start_in_background, started_by, users_status,
};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use switchboard_core::calendar::CalendarSyncStatus;
use switchboard_core::contacts::ContactSyncStatus;
use switchboard_core::users::{RunRequest, SyncError, UserSyncConfig, UserSyncStatus};

/// The sync kinds that exist so far.
const KINDS: &str = "users, contacts and calendar";

fn sync_error(e: &SyncError) -> ApiError {
    let (status, message) = error_status(e);
    ApiError::new(status, message)
}

/// `GET /api/v1/sync`: one entry per sync kind.
#[derive(Debug, Serialize)]
pub(crate) struct SyncOverview {
    users: UserSyncStatus,
    contacts: ContactSyncStatus,
    calendar: CalendarSyncStatus,
}

/// What each sync is doing: enabled, mode, the running job's progress, the last run, the next
/// run and the last full sync.
#[utoipa::path(
    get,
    path = "/api/v1/sync",
    tag = "sync",
    responses(
        (status = 200, description = "Status per sync kind", body = schema::SyncOverview),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
pub(crate) async fn status(State(state): State<AppState>) -> Result<Json<SyncOverview>, ApiError> {
    let users = users_status(&state).await.map_err(|e| sync_error(&e))?;
    let contacts = state
        .contact_sync()
        .status()
        .await
        .map_err(|e| contact_error(&e))?;
    let calendar = state
        .calendar_sync()
        .status()
        .await
        .map_err(|e| super::calendar::calendar_error(&e))?;
    Ok(Json(SyncOverview {
        users,
        contacts,
        calendar,
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct RunQuery {
    #[serde(default)]
    full: bool,
    #[serde(default)]
    dry_run: bool,
    wait: Option<bool>,
}

/// `wait=false` answer.
#[derive(Debug, Serialize)]
pub(crate) struct Started {
    started: bool,
    message: &'static str,
}

/// Runs a sync now: a delta run when one has run before, a full run with `full=true` (or when
/// none has run yet). `dry_run=true` changes nothing: for `users` it returns the plan, each step
/// with its reason; for `contacts` and `calendar` the counts of what would change (`calendar`
/// reads every in-scope calendar either way; `full` also counts as the daily full sync, and the
/// run is refused with 409 while Calendar Sync is off). By default the call waits
/// for the result; `wait=false` answers 202 at once and the run goes on in the background
/// (follow it with `GET /api/v1/sync`).
#[utoipa::path(
    post,
    path = "/api/v1/sync/{kind}",
    tag = "sync",
    params(
        ("kind" = String, Path, description = "The sync kind: `users`, `contacts` or `calendar`"),
        ("full" = Option<bool>, Query, description = "A full sync instead of a delta run"),
        ("dry_run" = Option<bool>, Query, description = "Plan only: change nothing and return the plan"),
        ("wait" = Option<bool>, Query, description = "Wait for the result (default true); false answers 202 and runs in the background"),
    ),
    responses(
        (status = 200, description = "The finished run, and for a user sync dry run its plan; for calendar also the users skipped and the calendars that could not be read", body = schema::SyncRunResult),
        (status = 202, description = "Started in the background", body = schema::SyncStarted),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Console session without X-CSRF-Token", body = ErrorBody),
        (status = 404, description = "Unknown sync kind", body = ErrorBody),
        (status = 409, description = "A run of this kind is already going (or, for calendar, Calendar Sync is off)", body = ErrorBody),
        (status = 422, description = "A dry run cannot run in the background", body = ErrorBody),
        (status = 502, description = "Microsoft 365 could not be read (or, for contacts, some mailboxes could not: the others were synced); the message says why", body = ErrorBody),
    )
)]
pub(crate) async fn run(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(kind): Path<String>,
    ApiQuery(query): ApiQuery<RunQuery>,
) -> Result<Response, ApiError> {
    let wait = query.wait.unwrap_or(true);
    if query.dry_run && !wait {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "A dry run answers with its plan, so it cannot run in the background: leave out wait=false.",
        ));
    }
    match kind.as_str() {
        "users" => {}
        "contacts" => return run_contacts(&state, &who, &query, wait).await,
        "calendar" => {
            return super::calendar::run(&state, &who, query.full, query.dry_run, wait).await;
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "There is no sync kind \"{}\": the kinds are {KINDS}.",
                    kind.chars().take(40).collect::<String>()
                ),
            ));
        }
    }
    let request = RunRequest {
        full: query.full,
        dry_run: query.dry_run,
        actor: started_by(&who.actor),
    };
    tracing::info!(user = %who.username, via = who.via, full = query.full, dry_run = query.dry_run, wait, "user sync requested");
    if !wait {
        start_in_background(state.user_sync(), request)
            .await
            .map_err(|e| sync_error(&e))?;
        return Ok((
            StatusCode::ACCEPTED,
            Json(Started {
                started: true,
                message: "The user sync is running in the background: GET /api/v1/sync shows its progress.",
            }),
        )
            .into_response());
    }
    let outcome = state
        .user_sync()
        .run(request)
        .await
        .map_err(|e| sync_error(&e))?;
    Ok(Json(OutcomeView::from(outcome)).into_response())
}

/// `POST /api/v1/sync/contacts`: like the user sync; a dry run reports the counts only.
async fn run_contacts(
    state: &AppState,
    who: &Principal,
    query: &RunQuery,
    wait: bool,
) -> Result<Response, ApiError> {
    let request = RunRequest {
        full: query.full,
        dry_run: query.dry_run,
        actor: contact_sync::started_by(&who.actor),
    };
    tracing::info!(user = %who.username, via = who.via, full = query.full, dry_run = query.dry_run, wait, "contact sync requested");
    let sync = state.contact_sync();
    if !wait {
        contact_sync::start_in_background(sync, request)
            .await
            .map_err(|e| contact_error(&e))?;
        return Ok((
            StatusCode::ACCEPTED,
            Json(Started {
                started: true,
                message: "The contact sync is running in the background: GET /api/v1/sync shows its progress.",
            }),
        )
            .into_response());
    }
    let outcome = sync.run(request).await.map_err(|e| contact_error(&e))?;
    Ok(Json(outcome).into_response())
}

/// Reachability self-test: asks Microsoft Graph for a short-lived test subscription and deletes
/// it right away. Graph creates it only after POSTing a validation request to
/// `{public_url}/webhooks/graph` and getting the token back, so `reachable: true` proves that
/// Microsoft can reach this server. A failure answers 200 with `reachable: false` and a message
/// saying what went wrong and what to check.
#[utoipa::path(
    post,
    path = "/api/v1/sync/users/self-test",
    tag = "sync",
    responses(
        (status = 200, description = "The test ran; `reachable` says whether Microsoft reached the webhook", body = schema::SelfTestResult),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Console session without X-CSRF-Token", body = ErrorBody),
        (status = 409, description = "No public_url is set: changes arrive by polling", body = ErrorBody),
    )
)]
pub(crate) async fn self_test(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<SelfTestResult>, ApiError> {
    tracing::info!(user = %who.username, via = who.via, "reachability self-test requested");
    reachability_self_test(&state)
        .await
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, SELF_TEST_NO_PUBLIC_URL))
}

/// The User Sync settings.
#[utoipa::path(
    get,
    path = "/api/v1/settings/user-sync",
    tag = "sync",
    responses(
        (status = 200, description = "The settings", body = schema::UserSyncConfig),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
pub(crate) async fn get_settings(
    State(state): State<AppState>,
) -> Result<Json<UserSyncConfig>, ApiError> {
    Ok(Json(
        state
            .user_sync()
            .config()
            .await
            .map_err(|e| sync_error(&e))?,
    ))
}

/// Saves the User Sync settings. Keys left out keep their current value; unknown keys are
/// refused. Scope ids are Entra object ids (GUIDs), stored lower-case.
#[utoipa::path(
    put,
    path = "/api/v1/settings/user-sync",
    tag = "sync",
    request_body = schema::UserSyncConfig,
    responses(
        (status = 200, description = "Saved; the new settings", body = schema::UserSyncConfig),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Console session without X-CSRF-Token", body = ErrorBody),
        (status = 422, description = "A setting is not valid; the message says which and how to fix it", body = ErrorBody),
    )
)]
pub(crate) async fn put_settings(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<UserSyncConfig>, ApiError> {
    let sync = state.user_sync();
    let current = sync.config().await.map_err(|e| sync_error(&e))?;
    let invalid = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m);
    let mut config = merge_config(&current, body).map_err(invalid)?;
    check_scope(&mut config).map_err(invalid)?;
    sync.save_config(&config)
        .await
        .map_err(|e| sync_error(&e))?;
    tracing::info!(user = %who.username, via = who.via, "user sync settings saved");
    Ok(Json(config))
}
