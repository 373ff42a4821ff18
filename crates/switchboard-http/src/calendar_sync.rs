//! What the API and the console share about calendar sync: checking its settings field by
//! field (so the form can place each message), the words for statuses and `showAs` values,
//! errors in words, and runs started in the background.

use crate::user_sync::{ScopeError, check_scope_value};
use axum::http::StatusCode;
use jiff::tz::TimeZone;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::calendar::{
    CalendarSync, CalendarSyncConfig, CalendarSyncError, MAX_WINDOW_HOURS,
};
use switchboard_core::presence::{ShowAs, Status, StatusSource};
use switchboard_core::users::RunRequest;

use crate::sync_settings::check_schedule;
pub(crate) use crate::sync_settings::{Invalid, zone};

/// The zone calendar times are shown in: the Calendar Sync time zone (all-day entries are
/// placed in it), UTC when it cannot be found.
pub(crate) fn display_zone(config: &CalendarSyncConfig) -> TimeZone {
    zone(&config.time_zone).unwrap_or(TimeZone::UTC)
}

/// The scope in words for a message.
fn scope_problem(e: &ScopeError) -> String {
    match e {
        ScopeError::NotIds { what, bad } => format!(
            "each scope entry must be the Object ID of a {what} (a GUID such as 3f2c9a4e-5b1d-4c8e-9f0a-1b2c3d4e5f60), from its Overview page in Microsoft Entra ID or picked with the search; not an Object ID: {}",
            bad.join(", ")
        ),
        ScopeError::Empty { what, .. } => format!(
            "this scope needs at least one {what} Object ID: with none, no calendar would be read (turn the sync off instead)"
        ),
    }
}

/// Checks every setting and normalises what has one spelling (scope ids lower-case, trimmed
/// times and zone). All problems at once, so a form can mark each field. The mapping needs no
/// check here: a [`ShowAsMapping`](switchboard_core::presence::ShowAsMapping) cannot hold
/// Business Trip.
pub(crate) fn check(config: &mut CalendarSyncConfig) -> Result<(), Vec<Invalid>> {
    let mut problems = Vec::new();
    if let Err(e) = check_scope_value(&mut config.scope) {
        problems.push(Invalid {
            field: "scope",
            message: scope_problem(&e),
        });
    }
    if !(1..=MAX_WINDOW_HOURS).contains(&config.window_hours) {
        problems.push(Invalid {
            field: "window_hours",
            message: format!(
                "the window must be between 1 and {MAX_WINDOW_HOURS} hours (two weeks), got {}; 48 reads today and tomorrow",
                config.window_hours
            ),
        });
    }
    check_schedule(
        config.poll_interval_secs,
        &mut config.daily_full_sync_at,
        &mut config.time_zone,
        "03:00",
        &mut problems,
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The problems as one message, for the API.
pub(crate) fn describe(problems: &[Invalid]) -> String {
    crate::sync_settings::describe("calendar sync", problems)
}

/// `PUT /api/v1/settings/calendar-sync`: the given keys over the current settings, so that a
/// client sending only `{"enabled": false}` does not reset the rest; unknown keys are refused.
/// A partial `mapping` keeps the rows it leaves out.
pub(crate) fn merge_config(
    current: &CalendarSyncConfig,
    patch: serde_json::Value,
) -> Result<CalendarSyncConfig, String> {
    let serde_json::Value::Object(patch) = patch else {
        return Err("The body must be a JSON object of calendar sync settings (see GET /api/v1/settings/calendar-sync).".into());
    };
    let mut merged = match serde_json::to_value(current) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let known: Vec<String> = merged.keys().cloned().collect();
    for (key, mut value) in patch {
        if !known.contains(&key) {
            return Err(format!(
                "Unknown calendar sync setting \"{key}\": the settings are {}.",
                known.join(", ")
            ));
        }
        if key == "scope"
            && let Some(obj) = value.as_object_mut()
            && obj.get("mode").and_then(|m| m.as_str()) == Some("all")
        {
            obj.remove("ids");
        }
        if key == "mapping"
            && let (Some(rows), Some(serde_json::Value::Object(old))) =
                (value.as_object(), merged.get("mapping"))
        {
            let mut rows_merged = old.clone();
            rows_merged.extend(rows.clone());
            value = serde_json::Value::Object(rows_merged);
        }
        merged.insert(key, value);
    }
    serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| {
        format!(
            "The calendar sync settings are not valid: {e}. Statuses are {}; a mapping row is a status or null (no change), never business_trip.",
            status_list()
        )
    })
}

/// The status and message of a failed calendar sync call; store failures are logged and not
/// described.
pub(crate) fn error_status(e: &CalendarSyncError) -> (StatusCode, String) {
    match e {
        CalendarSyncError::AlreadyRunning | CalendarSyncError::Disabled => {
            (StatusCode::CONFLICT, e.to_string())
        }
        CalendarSyncError::InvalidSettings(_) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        CalendarSyncError::Directory(_) => (StatusCode::BAD_GATEWAY, e.to_string()),
        CalendarSyncError::Store(_) | CalendarSyncError::Presence(_) => {
            tracing::error!(error = %e, "calendar sync failed in the store");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error: the server log has the details. Try again, and report it if it persists.".to_owned(),
            )
        }
    }
}

/// The actor of a calendar sync run someone started.
pub(crate) fn started_by(actor: &str) -> String {
    format!("sync:calendar (started by {actor})")
}

/// Starts a run in a background task. Returns once the run holds the sync lock (or has
/// already ended), so a status read right after shows it; `AlreadyRunning` when one is going.
pub(crate) async fn start_in_background(
    sync: &Arc<CalendarSync>,
    request: RunRequest,
) -> Result<(), CalendarSyncError> {
    if sync.is_running() {
        return Err(CalendarSyncError::AlreadyRunning);
    }
    // Disabled is refused here rather than in the task, so the caller can say so.
    if !sync.config().await?.enabled {
        return Err(CalendarSyncError::Disabled);
    }
    let job = Arc::clone(sync);
    let actor = request.actor.clone();
    let handle = tokio::spawn(async move {
        match job.run(request).await {
            Ok(outcome) => tracing::info!(
                actor = %actor,
                run = %outcome.run.id,
                processed = outcome.run.processed,
                "calendar sync finished"
            ),
            Err(CalendarSyncError::AlreadyRunning) => {
                tracing::info!(actor = %actor, "calendar sync not started: another run is going")
            }
            Err(e) => tracing::warn!(actor = %actor, error = %e, "calendar sync failed"),
        }
    });
    for _ in 0..100 {
        if sync.is_running() || handle.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Every status in its JSON spelling, for messages.
pub(crate) fn status_list() -> String {
    Status::ALL
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A status as people read it.
pub(crate) fn status_label(status: Status) -> &'static str {
    match status {
        Status::Available => "Available",
        Status::Away => "Away",
        Status::DoNotDisturb => "Do not disturb",
        Status::Lunch => "Lunch",
        Status::BusinessTrip => "Business trip",
    }
}

/// Who set a status, as people read it.
pub(crate) fn source_label(source: StatusSource) -> &'static str {
    match source {
        StatusSource::Manual => "manual",
        StatusSource::Calendar => "calendar",
        StatusSource::Default => "default",
    }
}

/// Outlook's "Show as" in Outlook's words.
pub(crate) fn show_as_label(show_as: ShowAs) -> &'static str {
    match show_as {
        ShowAs::Free => "Free",
        ShowAs::Tentative => "Tentative",
        ShowAs::Busy => "Busy",
        ShowAs::Oof => "Away (out of office)",
        ShowAs::WorkingElsewhere => "Working elsewhere",
        ShowAs::Unknown => "Unknown",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeSet;
    use switchboard_core::users::Scope;

    #[test]
    fn every_problem_is_named() {
        let mut c = CalendarSyncConfig {
            scope: Scope::Only(BTreeSet::new()),
            window_hours: 0,
            poll_interval_secs: 5,
            daily_full_sync_at: "3am".into(),
            time_zone: "Mars/Olympus".into(),
            ..CalendarSyncConfig::default()
        };
        let problems = check(&mut c).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "scope",
                "window_hours",
                "poll_interval_secs",
                "daily_full_sync_at",
                "time_zone"
            ]
        );
        assert!(problems[0].message.contains("no calendar would be read"));
        assert!(problems[4].message.contains("\"Mars/Olympus\""));
        assert!(
            describe(&problems).starts_with("The calendar sync settings are not valid: scope:")
        );
    }

    #[test]
    fn valid_settings_are_trimmed() {
        let mut c = CalendarSyncConfig {
            daily_full_sync_at: " 04:15 ".into(),
            time_zone: " Europe/Berlin ".into(),
            ..CalendarSyncConfig::default()
        };
        check(&mut c).unwrap();
        assert_eq!(c.daily_full_sync_at, "04:15");
        assert_eq!(c.time_zone, "Europe/Berlin");
    }

    #[test]
    fn merge_keeps_what_is_not_sent_even_within_the_mapping() {
        let current = CalendarSyncConfig::default();
        let merged = merge_config(
            &current,
            json!({"window_hours": 24, "mapping": {"tentative": "away"}}),
        )
        .unwrap();
        assert_eq!(merged.window_hours, 24);
        assert_eq!(merged.mapping.get(ShowAs::Tentative), Some(Status::Away));
        assert_eq!(merged.mapping.get(ShowAs::Oof), Some(Status::DoNotDisturb));
        let refused =
            merge_config(&current, json!({"mapping": {"busy": "business_trip"}})).unwrap_err();
        assert!(refused.contains("business_trip"), "{refused}");
        assert!(
            merge_config(&current, json!({"colour": 1}))
                .unwrap_err()
                .contains("colour")
        );
    }
}
