//! The Contact Sync tab: the status (last run, skipped users with the reason), "Sync now", and
//! the settings form (enable, scope, default region, company phonebook mailboxes, schedule).

use super::extensions::{path_segment, when};
use super::sync::{RunView, ScopeChip, scope_chips};
use super::{ConsoleUser, Layout, csrf_denied, internal_error, render};
use crate::api::admin_actor;
use crate::auth::session::Session;
use crate::contact_sync::{
    Invalid, check, error_status, load_config, save_config, start_in_background, started_by,
};
use crate::state::AppState;
use crate::user_sync::scope_mode;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::BTreeSet;
use switchboard_core::contacts::{
    CONTACT_SYNC_KIND, ContactSyncConfig, ContactSyncError, ContactSyncStatus,
};
use switchboard_core::users::{FreshnessMode, RunMode, RunRequest, Scope, SyncRunRecord};

const PAGE: &str = "/sync/contacts";
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

/// The form as shown: values as typed, an error per field.
#[derive(Debug, Default)]
struct SettingsForm {
    enabled: bool,
    scope_mode: String,
    scope_ids: String,
    default_region: String,
    company_mailboxes: String,
    poll_interval_secs: String,
    daily_full_sync_at: String,
    time_zone: String,
    scope_error: Option<String>,
    default_region_error: Option<String>,
    company_mailboxes_error: Option<String>,
    poll_interval_secs_error: Option<String>,
    daily_full_sync_at_error: Option<String>,
    time_zone_error: Option<String>,
}

impl SettingsForm {
    fn from_config(c: &ContactSyncConfig) -> Self {
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
            default_region: c.default_region.clone(),
            company_mailboxes: c.company_mailboxes.join("\n"),
            poll_interval_secs: c.poll_interval_secs.to_string(),
            daily_full_sync_at: c.daily_full_sync_at.clone(),
            time_zone: c.time_zone.clone(),
            ..Self::default()
        }
    }

    fn error_slot(&mut self, field: &str) -> Option<&mut Option<String>> {
        Some(match field {
            "scope" => &mut self.scope_error,
            "default_region" => &mut self.default_region_error,
            "company_mailboxes" => &mut self.company_mailboxes_error,
            "poll_interval_secs" => &mut self.poll_interval_secs_error,
            "daily_full_sync_at" => &mut self.daily_full_sync_at_error,
            "time_zone" => &mut self.time_zone_error,
            _ => return None,
        })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SettingsInput {
    csrf_token: Option<String>,
    enabled: Option<String>,
    #[serde(default)]
    scope_mode: String,
    #[serde(default)]
    scope_ids: String,
    #[serde(default)]
    default_region: String,
    #[serde(default)]
    company_mailboxes: String,
    #[serde(default)]
    poll_interval_secs: String,
    #[serde(default)]
    daily_full_sync_at: String,
    #[serde(default)]
    time_zone: String,
}

/// A checker's message as a sentence for the form ("The default region must …").
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

fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|s| !s.is_empty())
}

/// The form's values as settings, or the form with its errors.
fn parse_settings(input: SettingsInput) -> Result<ContactSyncConfig, Box<SettingsForm>> {
    let mut form = SettingsForm {
        enabled: input.enabled.is_some(),
        scope_mode: input.scope_mode.trim().to_owned(),
        scope_ids: input.scope_ids.trim().to_owned(),
        default_region: input.default_region.trim().to_owned(),
        company_mailboxes: input.company_mailboxes.trim().to_owned(),
        poll_interval_secs: input.poll_interval_secs.trim().to_owned(),
        daily_full_sync_at: input.daily_full_sync_at.trim().to_owned(),
        time_zone: input.time_zone.trim().to_owned(),
        ..SettingsForm::default()
    };
    let ids: BTreeSet<String> = split_list(&form.scope_ids).map(str::to_owned).collect();
    let scope = match form.scope_mode.as_str() {
        "all" => Scope::All,
        "all_except" => Scope::AllExcept(ids),
        "only" => Scope::Only(ids),
        "groups" => Scope::Groups(ids),
        _ => {
            form.scope_error = Some("Choose whose contacts to sync.".into());
            Scope::All
        }
    };
    let poll = match form.poll_interval_secs.parse::<u32>() {
        Ok(n) => n,
        Err(_) => {
            form.poll_interval_secs_error = Some(format!(
                "Poll interval must be a whole number of seconds between 10 and 86400 (you entered {}).",
                if form.poll_interval_secs.is_empty() {
                    "nothing".to_owned()
                } else {
                    form.poll_interval_secs.chars().take(40).collect()
                }
            ));
            // A valid stand-in, so that the other fields are still checked (and reported).
            ContactSyncConfig::default().poll_interval_secs
        }
    };
    let mut config = ContactSyncConfig {
        enabled: form.enabled,
        scope,
        default_region: form.default_region.clone(),
        // One per line in the form; commas and semicolons separate too.
        company_mailboxes: split_list(&form.company_mailboxes)
            .map(str::to_owned)
            .collect(),
        poll_interval_secs: poll,
        daily_full_sync_at: form.daily_full_sync_at.clone(),
        time_zone: form.time_zone.clone(),
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
    let has_errors = [
        &form.scope_error,
        &form.default_region_error,
        &form.company_mailboxes_error,
        &form.poll_interval_secs_error,
        &form.daily_full_sync_at_error,
        &form.time_zone_error,
    ]
    .iter()
    .any(|e| e.is_some());
    if has_errors {
        Err(Box::new(form))
    } else {
        Ok(config)
    }
}

/// A user whose contacts are not synced, and why.
#[derive(Debug)]
struct SkippedRow {
    /// The extension number (empty for a company mailbox).
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
    /// Mailboxes the last full run looked at: the length of the progress bar of a full run.
    expected: u64,
}

fn status_view(
    state: &AppState,
    status: &ContactSyncStatus,
    config: &ContactSyncConfig,
) -> StatusView {
    let busy = status.running.is_some() || state.contact_sync().is_running();
    let (mode, mode_text) = match status.mode {
        FreshnessMode::Notifications => (
            "notifications",
            "Microsoft 365 sends change notifications for the users' contacts, so phonebooks follow within seconds; a full sync runs daily.".to_owned(),
        ),
        FreshnessMode::Polling => (
            "polling",
            format!(
                "Switchboard asks Microsoft 365 for changed contacts every {} s, because public_url is not set: change notifications need an HTTPS address Microsoft can reach. A full sync runs daily.",
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
                    kind: CONTACT_SYNC_KIND.into(),
                    mode: RunMode::Delta,
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
            .filter(|r| r.mode == RunMode::Full && r.error.is_none())
            .map_or(0, |r| r.processed),
        last_run: status.last_run.as_ref().map(RunView::from),
        next_run: status.next_run.map(when),
        last_full_sync: status.last_full_sync.map(when),
    }
}

#[derive(Template)]
#[template(path = "contact_sync.html")]
struct ContactSyncPage {
    layout: Layout,
    csrf_token: String,
    status: StatusView,
    skipped: Vec<SkippedRow>,
    skipped_total: usize,
    form: SettingsForm,
    scope_modes: [Choice; 4],
    scope_chips: Vec<ScopeChip>,
    notice: Option<&'static str>,
    error: Option<String>,
}

fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "saved" => Some("Contact sync settings saved. They apply from the next run."),
        "started" => Some("Contact sync started: the status below follows its progress."),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct NoticeQuery {
    notice: Option<String>,
    /// `full` after "Full sync": labels the run until its record says.
    run: Option<String>,
}

fn failure_page(e: &ContactSyncError) -> Response {
    let (status, message) = error_status(e);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        return internal_error(e);
    }
    super::error_page(status, "Contact sync", &message)
}

struct Shown {
    status: StatusCode,
    form: Option<SettingsForm>,
    notice: Option<&'static str>,
    error: Option<String>,
    requested_full: bool,
}

async fn show(state: &AppState, session: &Session, shown: Shown) -> Response {
    let sync = state.contact_sync();
    let config = match load_config(state).await {
        Ok(c) => c,
        Err(e) => return failure_page(&e),
    };
    let mut status = match sync.status().await {
        Ok(s) => status_view(state, &s, &config),
        Err(e) => return failure_page(&e),
    };
    if status.starting
        && shown.requested_full
        && let Some(r) = status.running.as_mut()
    {
        r.mode = "full";
    }
    let skipped = match sync.skipped().await {
        Ok(s) => s,
        Err(e) => return failure_page(&e),
    };
    let skipped_total = skipped.len();
    let skipped = skipped
        .into_iter()
        .take(SKIPPED_ROWS)
        .map(|s| {
            let number = s.extension.unwrap_or_default();
            SkippedRow {
                href: if number.is_empty() {
                    String::new()
                } else {
                    format!("/extensions/{}", path_segment(&number))
                },
                number,
                name: s.name,
                mailbox_id: s.mailbox_id,
                reason: s.reason,
            }
        })
        .collect();
    let form = shown
        .form
        .unwrap_or_else(|| SettingsForm::from_config(&config));
    let scope_chips = scope_chips(state, &form.scope_ids).await;
    render(
        shown.status,
        &ContactSyncPage {
            layout: Layout::signed_in(session, "contact_sync"),
            csrf_token: session.csrf_token.clone(),
            status,
            skipped,
            skipped_total,
            form,
            scope_modes: SCOPE_MODES,
            scope_chips,
            notice: shown.notice,
            error: shown.error,
        },
    )
}

/// `GET /sync/contacts`
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
        requested_full: query.run.as_deref() == Some("full"),
    };
    show(&state, &session, shown).await
}

/// `POST /sync/contacts/settings`: errors are shown next to the fields, values kept.
pub(crate) async fn save_settings(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Form(input): Form<SettingsInput>,
) -> Response {
    if let Some(denied) = csrf_denied(&session, input.csrf_token.as_deref()) {
        return denied;
    }
    let invalid = |form, error| Shown {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        form: Some(form),
        notice: None,
        error: Some(error),
        requested_full: false,
    };
    let config = match parse_settings(input) {
        Ok(c) => c,
        Err(form) => {
            let shown = invalid(
                *form,
                "Some settings are not valid: see the messages next to them.".to_owned(),
            );
            return show(&state, &session, shown).await;
        }
    };
    match save_config(&state, &config).await {
        Ok(()) => {
            tracing::info!(user = %session.username, "contact sync settings saved");
            Redirect::to(&format!("{PAGE}?notice=saved#contact-sync-settings")).into_response()
        }
        Err(e @ ContactSyncError::InvalidSettings(_)) => {
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

/// `POST /sync/contacts/run`: "Sync now" / "Full sync", in the background; back to the page,
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
    tracing::info!(user = %session.username, full, "contact sync started from the console");
    match start_in_background(state.contact_sync(), request).await {
        Ok(()) if full => Redirect::to(&format!("{PAGE}?notice=started&run=full")).into_response(),
        Ok(()) => Redirect::to(&format!("{PAGE}?notice=started")).into_response(),
        Err(e) => {
            let (status, message) = error_status(&e);
            let shown = Shown {
                status,
                form: None,
                notice: None,
                error: Some(message),
                requested_full: false,
            };
            show(&state, &session, shown).await
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn input() -> SettingsInput {
        SettingsInput {
            csrf_token: None,
            enabled: Some("on".into()),
            scope_mode: "all".into(),
            scope_ids: String::new(),
            default_region: "US".into(),
            company_mailboxes: String::new(),
            poll_interval_secs: "300".into(),
            daily_full_sync_at: "02:30".into(),
            time_zone: "UTC".into(),
        }
    }

    #[test]
    fn the_default_form_is_the_default_config() {
        assert_eq!(
            parse_settings(input()).unwrap(),
            ContactSyncConfig::default()
        );
    }

    #[test]
    fn each_error_sits_next_to_its_field() {
        let form = parse_settings(SettingsInput {
            scope_mode: "only".into(),
            default_region: "England".into(),
            company_mailboxes: "contacts@contoso.com\nshared box".into(),
            poll_interval_secs: "often".into(),
            ..input()
        })
        .unwrap_err();
        assert!(
            form.scope_error
                .as_deref()
                .unwrap()
                .contains("at least one user")
        );
        let region = form.default_region_error.unwrap();
        assert!(
            region.starts_with("The default region must be a two-letter ISO 3166"),
            "{region}"
        );
        assert!(region.contains("\"England\""), "{region}");
        let mailboxes = form.company_mailboxes_error.unwrap();
        assert!(mailboxes.contains("\"shared\""), "{mailboxes}");
        assert!(
            form.poll_interval_secs_error
                .unwrap()
                .contains("(you entered often)")
        );
        assert!(form.daily_full_sync_at_error.is_none());
        assert_eq!(form.default_region, "England", "values are kept");
    }

    #[test]
    fn lists_take_lines_commas_and_semicolons() {
        let c = parse_settings(SettingsInput {
            company_mailboxes: "a@contoso.com, b@contoso.com;\nC@contoso.com".into(),
            default_region: "de".into(),
            ..input()
        })
        .unwrap();
        assert_eq!(
            c.company_mailboxes,
            ["a@contoso.com", "b@contoso.com", "c@contoso.com"]
        );
        assert_eq!(c.default_region, "DE");
    }
}
