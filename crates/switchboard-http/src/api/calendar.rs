//! Calendar sync over the API: runs on demand (`POST /api/v1/sync/calendar`, routed through
//! `sync::run`), the mailboxes it skips, and the Calendar Sync settings.

use super::openapi::schema as common;
use super::{ApiJson, Principal};
use crate::calendar_sync::{
    check, describe, error_status, merge_config, start_in_background, started_by,
};
use crate::error::{ApiError, ErrorBody};
use crate::presence::all_names;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use std::collections::HashMap;
use switchboard_core::calendar::{
    CalendarRunOutcome, CalendarSyncConfig, CalendarSyncError, MailboxFailure, SkippedMailbox,
};
use switchboard_core::users::{RunRequest, SyncRunRecord};

pub(crate) fn calendar_error(e: &CalendarSyncError) -> ApiError {
    let (status, message) = error_status(e);
    match e {
        CalendarSyncError::Disabled => ApiError::new(
            status,
            format!(
                "{message} (or PUT /api/v1/settings/calendar-sync with {{\"enabled\": true}})."
            ),
        ),
        _ => ApiError::new(status, message),
    }
}

/// A user whose calendar is not read, and why (the shape Contact Sync's list has).
#[derive(Debug, Serialize)]
pub(crate) struct SkippedView {
    /// Entra object id of the user.
    mailbox_id: String,
    extension: Option<String>,
    name: String,
    reason: String,
}

/// A mailbox whose read failed in a run.
#[derive(Debug, Serialize)]
pub(crate) struct FailureView {
    mailbox_id: String,
    extension: String,
    error: String,
}

/// `POST /api/v1/sync/calendar` answer.
#[derive(Debug, Serialize)]
pub(crate) struct OutcomeView {
    run: SyncRunRecord,
    skipped: Vec<SkippedView>,
    failed: Vec<FailureView>,
}

fn skipped_view(s: SkippedMailbox, names: &HashMap<String, String>) -> SkippedView {
    SkippedView {
        name: names.get(&s.number).cloned().unwrap_or_default(),
        mailbox_id: s.mailbox,
        extension: Some(s.number),
        reason: s.reason,
    }
}

/// Names only when something needs one (reading every extension is not free).
async fn names_for(state: &AppState, needed: bool) -> Result<HashMap<String, String>, ApiError> {
    if !needed {
        return Ok(HashMap::new());
    }
    all_names(state).await.map_err(|e| ApiError::internal(&e))
}

async fn outcome_view(state: &AppState, o: CalendarRunOutcome) -> Result<OutcomeView, ApiError> {
    let names = names_for(state, !o.skipped.is_empty()).await?;
    Ok(OutcomeView {
        run: o.run,
        skipped: o
            .skipped
            .into_iter()
            .map(|s| skipped_view(s, &names))
            .collect(),
        failed: o
            .failed
            .into_iter()
            .map(|f: MailboxFailure| FailureView {
                mailbox_id: f.mailbox,
                extension: f.number,
                error: f.error,
            })
            .collect(),
    })
}

/// `wait=false` answer.
#[derive(Debug, Serialize)]
struct Started {
    started: bool,
    message: &'static str,
}

/// `POST /api/v1/sync/calendar`: reads every in-scope calendar now. `full` also recounts which
/// extensions have entries and counts as the daily full sync; a dry run reads and counts but
/// changes nothing.
pub(crate) async fn run(
    state: &AppState,
    who: &Principal,
    full: bool,
    dry_run: bool,
    wait: bool,
) -> Result<Response, ApiError> {
    let request = RunRequest {
        full,
        dry_run,
        actor: started_by(&who.actor),
    };
    tracing::info!(user = %who.username, via = who.via, full, dry_run, wait, "calendar sync requested");
    let sync = state.calendar_sync();
    if !wait {
        start_in_background(sync, request)
            .await
            .map_err(|e| calendar_error(&e))?;
        return Ok((
            StatusCode::ACCEPTED,
            Json(Started {
                started: true,
                message: "The calendar sync is running in the background: GET /api/v1/sync shows its progress.",
            }),
        )
            .into_response());
    }
    let outcome = sync.run(request).await.map_err(|e| calendar_error(&e))?;
    Ok(Json(outcome_view(state, outcome).await?).into_response())
}

/// In-scope users whose calendar is not read (no Exchange mailbox), as of the last runs.
#[utoipa::path(
    get,
    path = "/api/v1/sync/calendar/skipped",
    tag = "sync",
    responses(
        (status = 200, description = "Skipped users with the reason", body = Vec<common::SkippedMailbox>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
pub(crate) async fn skipped(
    State(state): State<AppState>,
) -> Result<Json<Vec<SkippedView>>, ApiError> {
    let skipped = state.calendar_sync().skipped();
    let names = names_for(&state, !skipped.is_empty()).await?;
    Ok(Json(
        skipped
            .into_iter()
            .map(|s| skipped_view(s, &names))
            .collect(),
    ))
}

/// The Calendar Sync settings.
#[utoipa::path(
    get,
    path = "/api/v1/settings/calendar-sync",
    tag = "sync",
    responses(
        (status = 200, description = "The settings", body = schema::CalendarSyncConfig),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
pub(crate) async fn get_settings(
    State(state): State<AppState>,
) -> Result<Json<CalendarSyncConfig>, ApiError> {
    Ok(Json(
        state
            .calendar_sync()
            .config()
            .await
            .map_err(|e| calendar_error(&e))?,
    ))
}

/// Saves the Calendar Sync settings. Keys left out keep their current value (also the rows of
/// `mapping`); unknown keys are refused. A new mapping applies to every status at once;
/// turning the sync off forgets every calendar, and statuses the calendar set give way.
#[utoipa::path(
    put,
    path = "/api/v1/settings/calendar-sync",
    tag = "sync",
    request_body = schema::CalendarSyncConfig,
    responses(
        (status = 200, description = "Saved; the new settings", body = schema::CalendarSyncConfig),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Console session without X-CSRF-Token", body = ErrorBody),
        (status = 422, description = "A setting is not valid; the message says which and how to fix it", body = ErrorBody),
    )
)]
pub(crate) async fn put_settings(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<CalendarSyncConfig>, ApiError> {
    let sync = state.calendar_sync();
    let current = sync.config().await.map_err(|e| calendar_error(&e))?;
    let invalid = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m);
    let mut config = merge_config(&current, body).map_err(invalid)?;
    check(&mut config).map_err(|problems| invalid(describe(&problems)))?;
    sync.save_config(&config)
        .await
        .map_err(|e| calendar_error(&e))?;
    tracing::info!(user = %who.username, via = who.via, "calendar sync settings saved");
    Ok(Json(config))
}

/// Schemas of the calendar sync JSON.
#[allow(dead_code)]
pub(crate) mod schema {
    use super::common::{FreshnessMode, Scope, SkippedMailbox, SyncRun};
    use crate::api::presence::schema::PresenceStatus;
    use utoipa::ToSchema;

    /// Calendar sync: run counts are calendars whose entries changed (`updated`), extensions
    /// that left the scope and lost their entries (`removed`) and users without a mailbox
    /// (`skipped`); `processed` counts calendars read.
    #[derive(ToSchema)]
    pub(crate) struct CalendarSyncStatus {
        enabled: bool,
        mode: FreshnessMode,
        /// The run in progress (its counts and `processed` grow as it goes), or null.
        running: Option<SyncRun>,
        /// The last finished run, or null.
        last_run: Option<SyncRun>,
        #[schema(format = DateTime)]
        next_run: Option<String>,
        /// Start of the last full run that finished without an error.
        #[schema(format = DateTime)]
        last_full_sync: Option<String>,
        /// In-scope users without a mailbox, as of the last runs
        /// (`GET /api/v1/sync/calendar/skipped` lists them).
        skipped: u64,
    }

    /// Outlook's "Show as" → the status it sets while the entry lasts; null is "no change"
    /// (such entries are ignored). Never `business_trip`: only a person sets that. A row left
    /// out keeps its current value.
    #[derive(ToSchema)]
    #[schema(rename_all = "camelCase")]
    pub(crate) struct ShowAsMapping {
        /// Default null.
        free: Option<PresenceStatus>,
        /// Default null.
        tentative: Option<PresenceStatus>,
        /// Default `away`.
        busy: Option<PresenceStatus>,
        /// Out of office; default `do_not_disturb`.
        oof: Option<PresenceStatus>,
        /// Default `away`.
        working_elsewhere: Option<PresenceStatus>,
        /// Default null.
        unknown: Option<PresenceStatus>,
    }

    /// The Calendar Sync settings.
    #[derive(ToSchema)]
    pub(crate) struct CalendarSyncConfig {
        enabled: bool,
        /// Whose calendars drive their status (independent of the User Sync scope; only users
        /// with a synced extension have a status).
        scope: Scope,
        mapping: ShowAsMapping,
        /// How far ahead entries are read, 1 to 336 hours.
        #[schema(example = 48)]
        window_hours: u32,
        /// IANA zone all-day entries are placed in (midnight to midnight), also the zone of
        /// `daily_full_sync_at`.
        #[schema(example = "Europe/Berlin")]
        time_zone: String,
        /// How often calendars are read when change notifications are not available, 10 to
        /// 86400 seconds.
        poll_interval_secs: u32,
        /// Local time `HH:MM` of the daily full sync.
        #[schema(example = "03:00")]
        daily_full_sync_at: String,
    }

    /// A finished calendar sync run (a dry run changes nothing; its counts say what would).
    #[derive(ToSchema)]
    pub(crate) struct CalendarRunOutcome {
        run: SyncRun,
        /// In-scope users without a mailbox.
        skipped: Vec<SkippedMailbox>,
        /// Calendars that could not be read.
        failed: Vec<MailboxFailure>,
    }

    /// A calendar that could not be read in a run; it keeps its entries until the next run.
    #[derive(ToSchema)]
    pub(crate) struct MailboxFailure {
        mailbox_id: String,
        #[schema(example = "101")]
        extension: String,
        error: String,
    }
}
