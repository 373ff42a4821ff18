//! The Calendar Sync tab: the status (last run, skipped users with the reason), "Sync now", and
//! the settings form (enable, scope, the "Show as" → status mapping, window, time zone,
//! schedule).

use super::extensions::{path_segment, when};
use super::sync::{RunView, ScopeChip, scope_chips};
use super::{ConsoleUser, Layout, csrf_denied, internal_error, render};
use crate::api::admin_actor;
use crate::auth::session::Session;
use crate::calendar_sync::{
    Invalid, check, error_status, show_as_label, start_in_background, started_by, status_label,
};
use crate::presence::all_names;
use crate::state::AppState;
use crate::user_sync::scope_mode;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use switchboard_core::calendar::{
    CalendarSyncConfig, CalendarSyncError, CalendarSyncStatus, MAX_WINDOW_HOURS,
};
use switchboard_core::presence::{ShowAs, ShowAsMapping, Status};
use switchboard_core::users::{FreshnessMode, RunMode, RunRequest, Scope, SyncRunRecord};

const PAGE: &str = "/sync/calendar";
/// Skipped users listed on the page; the count covers them all.
const SKIPPED_ROWS: usize = 500;

#[derive(Debug)]
struct Choice {
    value: &'static str,
    label: &'static str,
    help: &'static str,
}

const SCOPE_MODES: [Choice; 4] = [
    Choice {
        value: "all",
        label: "All synced users",
        help: "Every user with a synced extension.",
    },
    Choice {
        value: "all_except",
        label: "All synced users except",
        help: "Everyone but the users listed below.",
    },
    Choice {
        value: "only",
        label: "Only these users",
        help: "Just the users listed below.",
    },
    Choice {
        value: "groups",
        label: "Members of groups",
        help: "Members (also through nested groups) of the groups listed below.",
    },
];

/// The form field of a mapping row: `map_busy`, `map_workingElsewhere`…
fn map_field(show_as: ShowAs) -> String {
    format!("map_{}", show_as.as_graph_str())
}

/// The statuses a calendar entry may set: all but Business Trip, which only a person sets.
fn calendar_statuses() -> impl Iterator<Item = Status> {
    Status::ALL
        .into_iter()
        .filter(|s| *s != Status::BusinessTrip)
}

#[derive(Debug)]
struct StatusOption {
    value: &'static str,
    label: &'static str,
}

/// One row of the mapping table as shown.
#[derive(Debug)]
struct MappingRow {
    show_as: &'static str,
    label: &'static str,
    field: String,
    /// The chosen status (JSON spelling), empty for "no change".
    value: String,
    default_label: &'static str,
    error: bool,
}

/// The form as shown: values as typed, an error per field.
#[derive(Debug, Default)]
struct SettingsForm {
    enabled: bool,
    scope_mode: String,
    scope_ids: String,
    mapping: Vec<MappingRow>,
    window_hours: String,
    time_zone: String,
    poll_interval_secs: String,
    daily_full_sync_at: String,
    scope_error: Option<String>,
    mapping_error: Option<String>,
    window_hours_error: Option<String>,
    time_zone_error: Option<String>,
    poll_interval_secs_error: Option<String>,
    daily_full_sync_at_error: Option<String>,
}

fn mapping_rows(chosen: impl Fn(ShowAs) -> (String, bool)) -> Vec<MappingRow> {
    let defaults = ShowAsMapping::default();
    ShowAs::ALL
        .into_iter()
        .map(|show_as| {
            let (value, error) = chosen(show_as);
            MappingRow {
                show_as: show_as.as_graph_str(),
                label: show_as_label(show_as),
                field: map_field(show_as),
                value,
                default_label: defaults.get(show_as).map_or("no change", status_label),
                error,
            }
        })
        .collect()
}

impl SettingsForm {
    fn from_config(c: &CalendarSyncConfig) -> Self {
        let ids = match &c.scope {
            Scope::All => Vec::new(),
            Scope::AllExcept(ids) | Scope::Only(ids) | Scope::Groups(ids) => {
                ids.iter().cloned().collect()
            }
        };
        Self {
            enabled: c.enabled,
            scope_mode: scope_mode(&c.scope).to_owned(),
            scope_ids: ids.join("\n"),
            mapping: mapping_rows(|s| {
                (
                    c.mapping.get(s).map_or("", Status::as_str).to_owned(),
                    false,
                )
            }),
            window_hours: c.window_hours.to_string(),
            time_zone: c.time_zone.clone(),
            poll_interval_secs: c.poll_interval_secs.to_string(),
            daily_full_sync_at: c.daily_full_sync_at.clone(),
            ..Self::default()
        }
    }

    fn error_slot(&mut self, field: &str) -> Option<&mut Option<String>> {
        Some(match field {
            "scope" => &mut self.scope_error,
            "window_hours" => &mut self.window_hours_error,
            "time_zone" => &mut self.time_zone_error,
            "poll_interval_secs" => &mut self.poll_interval_secs_error,
            "daily_full_sync_at" => &mut self.daily_full_sync_at_error,
            _ => return None,
        })
    }

    fn has_errors(&self) -> bool {
        [
            &self.scope_error,
            &self.mapping_error,
            &self.window_hours_error,
            &self.time_zone_error,
            &self.poll_interval_secs_error,
            &self.daily_full_sync_at_error,
        ]
        .iter()
        .any(|e| e.is_some())
    }
}

/// The posted form: the fixed fields by name, the mapping rows (`map_*`) by their field name.
type SettingsInput = HashMap<String, String>;

/// A checker's message as a sentence for the form.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut s: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// A whole number as typed, or the message for the field.
fn whole_number(text: &str, what: &str, range: &str) -> Result<u32, String> {
    text.parse::<u32>().map_err(|_| {
        format!(
            "{what} must be a whole number {range} (you entered {}).",
            if text.is_empty() {
                "nothing".to_owned()
            } else {
                format!("\"{}\"", text.chars().take(40).collect::<String>())
            }
        )
    })
}

/// The form's values as settings, or the form with its errors. Mapping rows not posted keep
/// `current`'s value.
fn parse_settings(
    input: &SettingsInput,
    current: &ShowAsMapping,
) -> Result<CalendarSyncConfig, Box<SettingsForm>> {
    let get = |key: &str| {
        input
            .get(key)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let defaults = CalendarSyncConfig::default();
    let mut form = SettingsForm {
        enabled: input.contains_key("enabled"),
        scope_mode: get("scope_mode"),
        scope_ids: get("scope_ids"),
        window_hours: get("window_hours"),
        time_zone: get("time_zone"),
        poll_interval_secs: get("poll_interval_secs"),
        daily_full_sync_at: get("daily_full_sync_at"),
        ..SettingsForm::default()
    };
    let ids: BTreeSet<String> = form
        .scope_ids
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let scope = match form.scope_mode.as_str() {
        "all" => Scope::All,
        "all_except" => Scope::AllExcept(ids),
        "only" => Scope::Only(ids),
        "groups" => Scope::Groups(ids),
        _ => {
            form.scope_error = Some("Choose whose calendars to read.".into());
            Scope::All
        }
    };

    // The mapping: one select per "Show as".
    let mut mapping = ShowAsMapping::no_changes();
    let mut bad_rows = Vec::new();
    let mut typed = HashMap::new();
    for show_as in ShowAs::ALL {
        let field = map_field(show_as);
        let value = match input.get(&field) {
            Some(v) => v.trim().to_owned(),
            None => current.get(show_as).map_or("", Status::as_str).to_owned(),
        };
        let status = match value.as_str() {
            "" => Ok(None),
            v => match v.parse::<Status>() {
                Ok(Status::BusinessTrip) => Err(format!(
                    "\"{}\" cannot set Business trip: only a person sets that status, so the calendar could never give it back.",
                    show_as_label(show_as)
                )),
                Ok(s) => Ok(Some(s)),
                Err(_) => Err(format!(
                    "\"{}\" has an unknown status; choose one from the list (or \"No change\").",
                    show_as_label(show_as)
                )),
            },
        };
        match status.and_then(|s| mapping.set(show_as, s).map_err(|e| e.to_string())) {
            Ok(()) => {}
            Err(message) => bad_rows.push((show_as, message)),
        }
        typed.insert(show_as, value);
    }
    if let Some((_, first)) = bad_rows.first() {
        form.mapping_error = Some(first.clone());
    }
    form.mapping = mapping_rows(|s| {
        (
            typed.get(&s).cloned().unwrap_or_default(),
            bad_rows.iter().any(|(b, _)| *b == s),
        )
    });

    let window = whole_number(
        &form.window_hours,
        "The window",
        &format!("of hours from 1 to {MAX_WINDOW_HOURS}"),
    )
    .unwrap_or_else(|m| {
        form.window_hours_error = Some(m);
        // A valid stand-in lets the other fields be checked.
        defaults.window_hours
    });
    let poll = whole_number(
        &form.poll_interval_secs,
        "The poll interval",
        "of seconds from 10 to 86400",
    )
    .unwrap_or_else(|m| {
        form.poll_interval_secs_error = Some(m);
        defaults.poll_interval_secs
    });
    let mut config = CalendarSyncConfig {
        enabled: form.enabled,
        scope,
        mapping,
        window_hours: window,
        time_zone: form.time_zone.clone(),
        poll_interval_secs: poll,
        daily_full_sync_at: form.daily_full_sync_at.clone(),
    };
    if let Err(problems) = check(&mut config) {
        for Invalid { field, message } in problems {
            if let Some(slot) = form.error_slot(field)
                && slot.is_none()
            {
                *slot = Some(sentence(&message));
            }
        }
    }
    if form.has_errors() {
        Err(Box::new(form))
    } else {
        Ok(config)
    }
}

/// A user whose calendar is not read, and why.
#[derive(Debug)]
struct SkippedRow {
    number: String,
    href: String,
    name: String,
    mailbox_id: String,
    reason: String,
}

/// The status card.
#[derive(Debug)]
struct StatusView {
    /// `idle`, `running` or `error`.
    badge: &'static str,
    enabled: bool,
    mode: &'static str,
    mode_text: String,
    running: Option<RunView>,
    /// A run holds the lock but has not published its record yet.
    starting: bool,
    last_run: Option<RunView>,
    next_run: Option<String>,
    last_full_sync: Option<String>,
    /// Calendars the last full run read: the length of the progress bar.
    expected: u64,
}

fn status_view(
    state: &AppState,
    status: &CalendarSyncStatus,
    config: &CalendarSyncConfig,
) -> StatusView {
    let busy = status.running.is_some() || state.calendar_sync().is_running();
    let (mode, mode_text) = match status.mode {
        FreshnessMode::Notifications => (
            "notifications",
            "Microsoft 365 tells Switchboard when an entry is added, moved or cancelled, so statuses follow within seconds; a full sync runs daily.".to_owned(),
        ),
        FreshnessMode::Polling => (
            "polling",
            format!(
                "Switchboard reads the calendars again every {} s, because public_url is not set: change notifications need an HTTPS address Microsoft can reach. A full sync runs daily.",
                config.poll_interval_secs
            ),
        ),
    };
    let badge = if busy {
        "running"
    } else if status.last_run.as_ref().is_some_and(|r| r.error.is_some()) {
        "error"
    } else {
        "idle"
    };
    let running = busy.then(|| {
        status
            .running
            .as_ref()
            .map(RunView::from)
            .unwrap_or_else(|| RunView {
                mode: "",
                ..RunView::from(&SyncRunRecord {
                    id: String::new(),
                    kind: "calendar".into(),
                    mode: RunMode::Full,
                    started_at: state.now(),
                    finished_at: None,
                    counts: Default::default(),
                    processed: 0,
                    error: None,
                })
            })
    });
    StatusView {
        badge,
        enabled: status.enabled,
        mode,
        mode_text,
        running,
        starting: busy && status.running.is_none(),
        expected: status
            .last_run
            .as_ref()
            .filter(|r| r.error.is_none())
            .map_or(0, |r| r.processed + r.counts.skipped),
        last_run: status.last_run.as_ref().map(RunView::from),
        next_run: status.next_run.map(when),
        last_full_sync: status.last_full_sync.map(when),
    }
}

#[derive(Template)]
#[template(path = "calendar_sync.html")]
struct CalendarSyncPage {
    layout: Layout,
    csrf_token: String,
    /// Version of the presence stylesheet (the mapping table's colours and widths).
    assets: &'static str,
    status: StatusView,
    skipped: Vec<SkippedRow>,
    skipped_total: usize,
    form: SettingsForm,
    scope_modes: [Choice; 4],
    scope_chips: Vec<ScopeChip>,
    statuses: Vec<StatusOption>,
    max_window: u32,
    notice: Option<&'static str>,
    error: Option<String>,
}

fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "saved" => Some(
            "Calendar sync settings saved. A changed mapping applies to every status at once; the rest from the next run.",
        ),
        "started" => Some("Calendar sync started: the status below follows its progress."),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct NoticeQuery {
    notice: Option<String>,
}

fn failure_page(e: &CalendarSyncError) -> Response {
    let (status, message) = error_status(e);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        return internal_error(e);
    }
    super::error_page(status, "Calendar sync", &message)
}

struct Shown {
    status: StatusCode,
    form: Option<SettingsForm>,
    notice: Option<&'static str>,
    error: Option<String>,
}

async fn show(state: &AppState, session: &Session, shown: Shown) -> Response {
    let sync = state.calendar_sync();
    let config = match sync.config().await {
        Ok(c) => c,
        Err(e) => return failure_page(&e),
    };
    let status = match sync.status().await {
        Ok(s) => status_view(state, &s, &config),
        Err(e) => return failure_page(&e),
    };
    let skipped = sync.skipped();
    let skipped_total = skipped.len();
    let names = if skipped.is_empty() {
        HashMap::new()
    } else {
        match all_names(state).await {
            Ok(n) => n,
            Err(e) => return internal_error(&e),
        }
    };
    let skipped = skipped
        .into_iter()
        .take(SKIPPED_ROWS)
        .map(|s| SkippedRow {
            href: format!("/extensions/{}", path_segment(&s.number)),
            name: names.get(&s.number).cloned().unwrap_or_default(),
            number: s.number,
            mailbox_id: s.mailbox,
            reason: s.reason,
        })
        .collect();
    let form = shown
        .form
        .unwrap_or_else(|| SettingsForm::from_config(&config));
    let scope_chips = scope_chips(state, &form.scope_ids).await;
    render(
        shown.status,
        &CalendarSyncPage {
            layout: Layout::signed_in(session, "calendar_sync"),
            csrf_token: session.csrf_token.clone(),
            assets: super::presence::asset_version(),
            status,
            skipped,
            skipped_total,
            form,
            scope_modes: SCOPE_MODES,
            scope_chips,
            statuses: calendar_statuses()
                .map(|s| StatusOption {
                    value: s.as_str(),
                    label: status_label(s),
                })
                .collect(),
            max_window: MAX_WINDOW_HOURS,
            notice: shown.notice,
            error: shown.error,
        },
    )
}

/// `GET /sync/calendar`
pub(crate) async fn page(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let shown = Shown {
        status: StatusCode::OK,
        form: None,
        notice: notice_text(query.notice.as_deref()),
        error: None,
    };
    show(&state, &session, shown).await
}

/// `POST /sync/calendar/settings`: errors are shown next to the fields, values kept.
pub(crate) async fn save_settings(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Form(input): Form<SettingsInput>,
) -> Response {
    if let Some(denied) = csrf_denied(&session, input.get("csrf_token").map(String::as_str)) {
        return denied;
    }
    let sync = state.calendar_sync();
    let current = match sync.config().await {
        Ok(c) => c,
        Err(e) => return failure_page(&e),
    };
    let invalid = |form, error| Shown {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        form: Some(form),
        notice: None,
        error: Some(error),
    };
    let config = match parse_settings(&input, &current.mapping) {
        Ok(c) => c,
        Err(form) => {
            let shown = invalid(
                *form,
                "Some settings are not valid: see the messages next to them.".to_owned(),
            );
            return show(&state, &session, shown).await;
        }
    };
    match sync.save_config(&config).await {
        Ok(()) => {
            tracing::info!(user = %session.username, "calendar sync settings saved");
            Redirect::to(&format!("{PAGE}?notice=saved#calendar-sync-settings")).into_response()
        }
        Err(e @ CalendarSyncError::InvalidSettings(_)) => {
            let shown = invalid(SettingsForm::from_config(&config), e.to_string());
            show(&state, &session, shown).await
        }
        Err(e) => failure_page(&e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct RunForm {
    csrf_token: Option<String>,
    full: Option<String>,
}

/// `POST /sync/calendar/run`: "Sync now" / "Full sync", in the background; back to the page,
/// which shows the progress.
pub(crate) async fn run_now(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Form(form): Form<RunForm>,
) -> Response {
    if let Some(denied) = csrf_denied(&session, form.csrf_token.as_deref()) {
        return denied;
    }
    let full = form.full.as_deref() == Some("true");
    let request = RunRequest {
        full,
        dry_run: false,
        actor: started_by(&admin_actor(&session.username)),
    };
    tracing::info!(user = %session.username, full, "calendar sync started from the console");
    match start_in_background(state.calendar_sync(), request).await {
        Ok(()) => Redirect::to(&format!("{PAGE}?notice=started")).into_response(),
        Err(e) => {
            let (status, message) = error_status(&e);
            let shown = Shown {
                status,
                form: None,
                notice: None,
                error: Some(message),
            };
            show(&state, &session, shown).await
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn input(pairs: &[(&str, &str)]) -> SettingsInput {
        let mut all: SettingsInput = [
            ("enabled", "on"),
            ("scope_mode", "all"),
            ("scope_ids", ""),
            ("map_free", ""),
            ("map_tentative", ""),
            ("map_busy", "away"),
            ("map_oof", "do_not_disturb"),
            ("map_workingElsewhere", "away"),
            ("map_unknown", ""),
            ("window_hours", "48"),
            ("time_zone", "UTC"),
            ("poll_interval_secs", "300"),
            ("daily_full_sync_at", "03:00"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in pairs {
            all.insert((*k).to_owned(), (*v).to_owned());
        }
        all
    }

    #[test]
    fn the_default_form_is_the_default_config() {
        assert_eq!(
            parse_settings(&input(&[]), &ShowAsMapping::default()).unwrap(),
            CalendarSyncConfig::default()
        );
    }

    #[test]
    fn mapping_rows_take_a_status_or_no_change_and_never_business_trip() {
        let c = parse_settings(
            &input(&[("map_tentative", "lunch"), ("map_busy", "")]),
            &ShowAsMapping::default(),
        )
        .unwrap();
        assert_eq!(c.mapping.get(ShowAs::Tentative), Some(Status::Lunch));
        assert_eq!(c.mapping.get(ShowAs::Busy), None);

        let form = parse_settings(
            &input(&[("map_oof", "business_trip"), ("window_hours", "999")]),
            &ShowAsMapping::default(),
        )
        .unwrap_err();
        let error = form.mapping_error.unwrap();
        assert!(error.contains("cannot set Business trip"), "{error}");
        let oof = form.mapping.iter().find(|r| r.show_as == "oof").unwrap();
        assert!(oof.error);
        assert_eq!(oof.value, "business_trip", "the choice is kept");
        assert!(
            form.window_hours_error
                .unwrap()
                .starts_with("The window must be between 1 and 336 hours")
        );
    }

    #[test]
    fn rows_not_posted_keep_their_value() {
        let mut posted = input(&[]);
        posted.remove("map_unknown");
        let current = ShowAsMapping::default()
            .with(ShowAs::Unknown, Some(Status::Lunch))
            .unwrap();
        let c = parse_settings(&posted, &current).unwrap();
        assert_eq!(c.mapping.get(ShowAs::Unknown), Some(Status::Lunch));
    }

    #[test]
    fn numbers_and_zones_are_explained() {
        let form = parse_settings(
            &input(&[
                ("poll_interval_secs", "often"),
                ("time_zone", "Berlin"),
                ("daily_full_sync_at", "3am"),
                ("scope_mode", "groups"),
            ]),
            &ShowAsMapping::default(),
        )
        .unwrap_err();
        assert!(
            form.poll_interval_secs_error
                .unwrap()
                .contains("(you entered \"often\")")
        );
        assert!(form.time_zone_error.unwrap().contains("\"Berlin\""));
        assert!(form.daily_full_sync_at_error.unwrap().contains("\"3am\""));
        assert!(form.scope_error.unwrap().contains("at least one group"));
        assert_eq!(form.time_zone, "Berlin", "values are kept");
    }
}
