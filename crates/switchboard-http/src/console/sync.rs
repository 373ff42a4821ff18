//! The User Sync page: the status card (with live progress while a run is going), Sync now /
//! Full sync / Preview, and the settings form. Runs started here go on in a background task.

use super::extensions::when;
use super::{ConsoleUser, Layout, csrf_denied, internal_error, render};
use crate::api::admin_actor;
use crate::auth::session::Session;
use crate::state::AppState;
use crate::user_sync::{
    SELF_TEST_NO_PUBLIC_URL, ScopeError, action_name, check_scope_ids, error_status,
    reachability_self_test, reason_text, removal_help, scope_mode, start_in_background, started_by,
    status_badge, users_status,
};
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use switchboard_core::users::{
    Action, FreshnessMode, NumberSource, NumberingRule, RemovalPolicy, RunMode, RunRequest, Scope,
    SkipReason, SyncError, SyncRunRecord, UserSyncConfig, UserSyncStatus,
};

const PAGE: &str = "/sync/users";
/// Plan rows shown on the preview page; the counts cover the whole plan.
const PLAN_ROWS: usize = 5000;
/// Extensions looked up by number to name the users of a plan.
const NAME_LOOKUPS: usize = 500;

// ---------------------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
pub(crate) struct RunView {
    /// `full` or `delta`; empty while a run that was just started has no record yet.
    pub(crate) mode: &'static str,
    pub(crate) started_at: String,
    /// `12 s`, `3 min 5 s`…
    pub(crate) took: Option<String>,
    pub(crate) created: u64,
    pub(crate) updated: u64,
    pub(crate) disabled: u64,
    pub(crate) enabled: u64,
    pub(crate) removed: u64,
    pub(crate) skipped: u64,
    pub(crate) processed: u64,
    pub(crate) error: Option<String>,
}

fn mode_name(m: RunMode) -> &'static str {
    match m {
        RunMode::Full => "full",
        RunMode::Delta => "delta",
    }
}

impl From<&SyncRunRecord> for RunView {
    fn from(r: &SyncRunRecord) -> Self {
        let took = r.finished_at.map(|f| {
            let secs = f.duration_since(r.started_at).as_secs().max(0);
            if secs < 60 {
                format!("{secs} s")
            } else {
                format!("{} min {} s", secs / 60, secs % 60)
            }
        });
        Self {
            mode: mode_name(r.mode),
            started_at: when(r.started_at),
            took,
            created: r.counts.created,
            updated: r.counts.updated,
            disabled: r.counts.disabled,
            enabled: r.counts.enabled,
            removed: r.counts.removed,
            skipped: r.counts.skipped,
            processed: r.processed,
            error: r.error.clone(),
        }
    }
}

/// The status card, here and on the dashboard.
#[derive(Debug)]
pub(crate) struct StatusView {
    /// `idle`, `running` or `error`.
    pub(crate) badge: &'static str,
    pub(crate) enabled: bool,
    /// `notifications` or `polling`.
    pub(crate) mode: &'static str,
    pub(crate) mode_text: String,
    pub(crate) running: Option<RunView>,
    /// A run holds the lock but has not stored its record yet: its mode is not known (unless
    /// the page was asked for it), so the card says "starting…" rather than guess.
    pub(crate) starting: bool,
    pub(crate) last_run: Option<RunView>,
    pub(crate) next_run: Option<String>,
    pub(crate) last_full_sync: Option<String>,
    /// Users the last full run looked at: the length of the progress bar of a full run.
    pub(crate) expected: u64,
}

pub(crate) async fn status_view(state: &AppState) -> Result<StatusView, SyncError> {
    let sync = state.user_sync();
    let status: UserSyncStatus = users_status(state).await?;
    let config = sync.config().await?;
    let expected = state
        .extensions()
        .recent_sync_runs("users", 20)
        .await?
        .iter()
        .find(|r| r.mode == RunMode::Full && r.finished_at.is_some() && r.error.is_none())
        .map_or(0, |r| r.processed);
    let busy = status.running.is_some() || sync.is_running();
    let (mode, mode_text) = match status.mode {
        FreshnessMode::Notifications => (
            "notifications",
            match state.keeper() {
                Some(k) => format!(
                    "Microsoft 365 sends change notifications to {} as changes happen, so extensions follow within seconds; a full sync runs daily. \"Test reachability\" checks that Microsoft can reach that address.",
                    k.notification_url()
                ),
                None => "Microsoft 365 sends change notifications as changes happen; a full sync runs daily.".to_owned(),
            },
        ),
        FreshnessMode::Polling => (
            "polling",
            format!(
                "Switchboard asks Microsoft 365 for changes every {} s, because public_url is not set: change notifications need an HTTPS address Microsoft can reach. A full sync runs daily.",
                config.poll_interval_secs
            ),
        ),
    };
    Ok(StatusView {
        badge: if busy {
            "running"
        } else {
            status_badge(&status)
        },
        enabled: status.enabled,
        mode,
        mode_text,
        running: if busy {
            Some(
                status
                    .running
                    .as_ref()
                    .map(RunView::from)
                    .unwrap_or_else(|| RunView {
                        mode: "",
                        ..RunView::from(&SyncRunRecord {
                            id: String::new(),
                            kind: "users".into(),
                            mode: RunMode::Delta,
                            started_at: state.now(),
                            finished_at: None,
                            counts: Default::default(),
                            processed: 0,
                            error: None,
                        })
                    }),
            )
        } else {
            None
        },
        starting: busy && status.running.is_none(),
        last_run: status.last_run.as_ref().map(RunView::from),
        next_run: status.next_run.map(when),
        last_full_sync: status.last_full_sync.map(when),
        expected,
    })
}

// ---------------------------------------------------------------------------------------------
// Settings form
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Choice {
    value: &'static str,
    label: &'static str,
    help: &'static str,
}

const SCOPE_MODES: [Choice; 4] = [
    Choice {
        value: "all",
        label: "All users",
        help: "Every member of the tenant (guests only with \"Include guests\").",
    },
    Choice {
        value: "all_except",
        label: "All users except",
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

const NUMBERING: [Choice; 3] = [
    Choice {
        value: "first_free",
        label: "First free number",
        help: "The lowest free number from the numbering start.",
    },
    Choice {
        value: "business_phone_extension",
        label: "Business phone extension",
        help: "The extension part of the user's business phone (\"+1 425 555 0100 x123\" → 123).",
    },
    Choice {
        value: "employee_id",
        label: "Employee ID",
        help: "The user's employee ID when it is all digits.",
    },
];

fn removal_choices() -> [Choice; 3] {
    [
        Choice {
            value: "keep",
            label: "Keep",
            help: removal_help(RemovalPolicy::Keep),
        },
        Choice {
            value: "disable",
            label: "Disable",
            help: removal_help(RemovalPolicy::Disable),
        },
        Choice {
            value: "delete",
            label: "Delete",
            help: removal_help(RemovalPolicy::Delete),
        },
    ]
}

/// The form as shown: values as strings, an error per field.
#[derive(Debug, Default)]
struct SettingsForm {
    enabled: bool,
    scope_mode: String,
    scope_ids: String,
    include_guests: bool,
    department_groups: bool,
    business_phone_as_caller_id: bool,
    numbering_start: String,
    numbering: String,
    removal: String,
    poll_interval_secs: String,
    daily_full_sync_at: String,
    time_zone: String,
    scope_error: Option<String>,
    numbering_start_error: Option<String>,
    numbering_error: Option<String>,
    removal_error: Option<String>,
    poll_interval_secs_error: Option<String>,
    daily_full_sync_at_error: Option<String>,
    time_zone_error: Option<String>,
}

impl SettingsForm {
    fn from_config(c: &UserSyncConfig) -> Self {
        let ids = match &c.plan.scope {
            Scope::All => Vec::new(),
            Scope::AllExcept(ids) | Scope::Only(ids) | Scope::Groups(ids) => {
                ids.iter().cloned().collect()
            }
        };
        Self {
            enabled: c.enabled,
            scope_mode: scope_mode(&c.plan.scope).to_owned(),
            scope_ids: ids.join("\n"),
            include_guests: c.plan.include_guests,
            department_groups: c.plan.department_groups,
            business_phone_as_caller_id: c.plan.business_phone_as_caller_id,
            numbering_start: c.plan.numbering_start.to_string(),
            numbering: match c.plan.numbering {
                NumberingRule::FirstFree => "first_free",
                NumberingRule::FromAttribute(NumberSource::BusinessPhoneExtension) => {
                    "business_phone_extension"
                }
                NumberingRule::FromAttribute(NumberSource::EmployeeId) => "employee_id",
            }
            .to_owned(),
            removal: match c.plan.removal {
                RemovalPolicy::Keep => "keep",
                RemovalPolicy::Disable => "disable",
                RemovalPolicy::Delete => "delete",
            }
            .to_owned(),
            poll_interval_secs: c.poll_interval_secs.to_string(),
            daily_full_sync_at: c.daily_full_sync_at.clone(),
            time_zone: c.time_zone.clone(),
            ..Self::default()
        }
    }

    fn has_errors(&self) -> bool {
        [
            &self.scope_error,
            &self.numbering_start_error,
            &self.numbering_error,
            &self.removal_error,
            &self.poll_interval_secs_error,
            &self.daily_full_sync_at_error,
            &self.time_zone_error,
        ]
        .iter()
        .any(|e| e.is_some())
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
    include_guests: Option<String>,
    department_groups: Option<String>,
    business_phone_as_caller_id: Option<String>,
    #[serde(default)]
    numbering_start: String,
    #[serde(default)]
    numbering: String,
    #[serde(default)]
    removal: String,
    #[serde(default)]
    poll_interval_secs: String,
    #[serde(default)]
    daily_full_sync_at: String,
    #[serde(default)]
    time_zone: String,
}

/// Whether core refuses one setting alone (on top of the defaults), so each error sits next to
/// its own field. Core's message names the setting's key (`poll_interval_secs`…), which is right
/// for the API; the form words it with its own labels (see `field_message`).
fn core_refuses(change: impl FnOnce(&mut UserSyncConfig)) -> bool {
    let mut c = UserSyncConfig::default();
    change(&mut c);
    c.validate().is_err()
}

/// The form's own words for a value core refused, by field.
#[derive(Debug, Clone, Copy)]
enum Field {
    NumberingStart,
    PollInterval,
    DailyFullSyncAt,
    TimeZone,
}

/// What was typed, quoted and shortened for a message.
fn entered(s: &str) -> String {
    let s = s.trim();
    if s.is_empty() {
        "you left it empty".to_owned()
    } else {
        format!("you entered {}", s.chars().take(40).collect::<String>())
    }
}

fn field_message(field: Field, value: &str) -> String {
    let you = entered(value);
    match field {
        Field::NumberingStart => {
            format!("Numbering start must be between 1 and 99999999 ({you}).")
        }
        Field::PollInterval => {
            format!("Poll interval must be between 10 and 86400 seconds ({you}).")
        }
        Field::DailyFullSyncAt => {
            format!("Daily full sync at must be a 24-hour time such as 02:00 or 23:30 ({you}).")
        }
        Field::TimeZone => format!(
            "Time zone must be an IANA name such as Europe/Berlin, America/New_York or UTC ({you})."
        ),
    }
}

fn whole_number(s: &str, label: &str, unit: &str) -> Result<u32, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{label} must be a whole number{unit} ({}).", entered(s)))
}

/// The form's words for refused scope ids (the API keeps [`ScopeError`]'s own).
fn scope_message(e: &ScopeError) -> String {
    match e {
        ScopeError::NotIds { what, bad } => format!(
            "Entra object ids: each line must be the Object ID of a {what}, a GUID such as 3f2c9a4e-5b1d-4c8e-9f0a-1b2c3d4e5f60. Not an Object ID: {}. Copy it from the {what}'s Overview page in Microsoft Entra ID.",
            bad.join(", ")
        ),
        ScopeError::Empty { what, mode } => {
            let choice = SCOPE_MODES
                .iter()
                .find(|c| c.value == *mode)
                .map_or(*mode, |c| c.label);
            format!(
                "\"{choice}\" needs at least one {what} Object ID under Entra object ids: with none, every user would leave the sync."
            )
        }
    }
}

/// The form's values as settings, or the form with its errors.
fn parse_settings(input: SettingsInput) -> Result<UserSyncConfig, Box<SettingsForm>> {
    let mut form = SettingsForm {
        enabled: input.enabled.is_some(),
        scope_mode: input.scope_mode.trim().to_owned(),
        scope_ids: input.scope_ids.trim().to_owned(),
        include_guests: input.include_guests.is_some(),
        department_groups: input.department_groups.is_some(),
        business_phone_as_caller_id: input.business_phone_as_caller_id.is_some(),
        numbering_start: input.numbering_start.trim().to_owned(),
        numbering: input.numbering.trim().to_owned(),
        removal: input.removal.trim().to_owned(),
        poll_interval_secs: input.poll_interval_secs.trim().to_owned(),
        daily_full_sync_at: input.daily_full_sync_at.trim().to_owned(),
        time_zone: input.time_zone.trim().to_owned(),
        ..SettingsForm::default()
    };
    let ids: BTreeSet<String> = form
        .scope_ids
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let scope = match form.scope_mode.as_str() {
        "all" => Some(Scope::All),
        "all_except" => Some(Scope::AllExcept(ids)),
        "only" => Some(Scope::Only(ids)),
        "groups" => Some(Scope::Groups(ids)),
        _ => {
            form.scope_error = Some("Choose which users to sync.".into());
            None
        }
    };
    // Checked on its own, so its error shows whatever else is wrong.
    let scope = scope.and_then(|scope| {
        let mut c = UserSyncConfig::default();
        c.plan.scope = scope;
        match check_scope_ids(&mut c) {
            Ok(()) => Some(c.plan.scope),
            Err(e) => {
                form.scope_error = Some(scope_message(&e));
                None
            }
        }
    });
    let numbering = match form.numbering.as_str() {
        "first_free" => Some(NumberingRule::FirstFree),
        "business_phone_extension" => Some(NumberingRule::FromAttribute(
            NumberSource::BusinessPhoneExtension,
        )),
        "employee_id" => Some(NumberingRule::FromAttribute(NumberSource::EmployeeId)),
        _ => {
            form.numbering_error = Some("Choose a numbering rule.".into());
            None
        }
    };
    let removal = match form.removal.as_str() {
        "keep" => Some(RemovalPolicy::Keep),
        "disable" => Some(RemovalPolicy::Disable),
        "delete" => Some(RemovalPolicy::Delete),
        _ => {
            form.removal_error = Some("Choose what happens to removed users' extensions.".into());
            None
        }
    };
    let numbering_start = whole_number(&form.numbering_start, "Numbering start", "")
        .and_then(|n| {
            if core_refuses(|c| c.plan.numbering_start = n) {
                Err(field_message(Field::NumberingStart, &form.numbering_start))
            } else {
                Ok(n)
            }
        })
        .map_err(|e| form.numbering_start_error = Some(e))
        .ok();
    let poll = whole_number(&form.poll_interval_secs, "Poll interval", " of seconds")
        .and_then(|n| {
            if core_refuses(|c| c.poll_interval_secs = n) {
                Err(field_message(Field::PollInterval, &form.poll_interval_secs))
            } else {
                Ok(n)
            }
        })
        .map_err(|e| form.poll_interval_secs_error = Some(e))
        .ok();
    let at = form.daily_full_sync_at.clone();
    form.daily_full_sync_at_error = core_refuses(|c| c.daily_full_sync_at = at)
        .then(|| field_message(Field::DailyFullSyncAt, &form.daily_full_sync_at));
    let tz = form.time_zone.clone();
    form.time_zone_error =
        core_refuses(|c| c.time_zone = tz).then(|| field_message(Field::TimeZone, &form.time_zone));

    let (Some(scope), Some(numbering), Some(removal), Some(numbering_start), Some(poll)) =
        (scope, numbering, removal, numbering_start, poll)
    else {
        return Err(Box::new(form));
    };
    let mut config = UserSyncConfig {
        enabled: form.enabled,
        poll_interval_secs: poll,
        daily_full_sync_at: form.daily_full_sync_at.clone(),
        time_zone: form.time_zone.clone(),
        ..UserSyncConfig::default()
    };
    config.plan.scope = scope;
    config.plan.include_guests = form.include_guests;
    config.plan.department_groups = form.department_groups;
    config.plan.business_phone_as_caller_id = form.business_phone_as_caller_id;
    config.plan.numbering_start = numbering_start;
    config.plan.numbering = numbering;
    config.plan.removal = removal;
    if form.has_errors() {
        return Err(Box::new(form));
    }
    Ok(config)
}

// ---------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "user_sync.html")]
struct UserSyncPage {
    layout: Layout,
    csrf_token: String,
    status: StatusView,
    form: SettingsForm,
    scope_modes: [Choice; 4],
    numbering_rules: [Choice; 3],
    removal_policies: [Choice; 3],
    notice: Option<&'static str>,
    error: Option<String>,
    /// The result of "Test reachability", on the page that answers it.
    self_test: Option<SelfTestView>,
    /// The scope ids as removable chips, named where an extension knows the user.
    scope_chips: Vec<ScopeChip>,
}

/// One selected scope id as the picker shows it.
#[derive(Debug)]
pub(crate) struct ScopeChip {
    pub(crate) id: String,
    /// The synced extension's display name (or UPN, mail), else the id itself.
    pub(crate) name: String,
    /// An extension knows this id.
    pub(crate) known: bool,
}

/// Chips shown for the scope ids (the rest are still in the textarea).
const SCOPE_CHIPS: usize = 500;

/// The ids of the scope textarea as the form splits them, each once, in order.
fn scope_id_list(text: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    text.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|s| !s.is_empty())
        .filter(|s| seen.insert(s.to_lowercase()))
        .map(str::to_owned)
        .collect()
}

/// Chips for the scope ids, named from the extensions store (graph user id → display name).
/// Group ids, and users without a synced extension, show as their id.
pub(crate) async fn scope_chips(state: &AppState, scope_ids: &str) -> Vec<ScopeChip> {
    let ids: Vec<String> = scope_id_list(scope_ids)
        .into_iter()
        .take(SCOPE_CHIPS)
        .collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let lookup: Vec<String> = ids.iter().map(|id| id.to_lowercase()).collect();
    let names: HashMap<String, String> =
        match state.extensions().extensions_for_users(&lookup).await {
            Ok(extensions) => extensions
                .into_iter()
                .filter_map(|e| {
                    let id = e.graph_user_id?.to_lowercase();
                    let f = e.fields;
                    let name = [f.display_name, f.upn, f.email]
                        .into_iter()
                        .find(|s| !s.trim().is_empty())?;
                    Some((id, name))
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "could not name the scope ids; showing the ids");
                HashMap::new()
            }
        };
    ids.into_iter()
        .map(|id| match names.get(&id.to_lowercase()) {
            Some(name) => ScopeChip {
                name: name.clone(),
                id,
                known: true,
            },
            None => ScopeChip {
                name: id.clone(),
                id,
                known: false,
            },
        })
        .collect()
}

/// The reachability self-test's result as the page shows it.
#[derive(Debug)]
struct SelfTestView {
    reachable: bool,
    /// `reachable` (green) or `unreachable` (red).
    badge: &'static str,
    message: String,
}

fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "started" => Some("User sync started: the status below follows its progress."),
        "saved" => Some("User sync settings saved. They apply from the next run."),
        _ => None,
    }
}

async fn show(
    state: &AppState,
    session: &Session,
    status_code: StatusCode,
    form: Option<SettingsForm>,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let status = match status_view(state).await {
        Ok(s) => s,
        Err(e) => return sync_failure_page(&e),
    };
    show_with(state, session, status_code, status, form, notice, error).await
}

async fn show_with(
    state: &AppState,
    session: &Session,
    status_code: StatusCode,
    status: StatusView,
    form: Option<SettingsForm>,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let form = match form {
        Some(f) => f,
        None => match state.user_sync().config().await {
            Ok(c) => SettingsForm::from_config(&c),
            Err(e) => return sync_failure_page(&e),
        },
    };
    let scope_chips = scope_chips(state, &form.scope_ids).await;
    render(
        status_code,
        &UserSyncPage {
            layout: Layout::signed_in(session, "user_sync"),
            csrf_token: session.csrf_token.clone(),
            status,
            form,
            scope_modes: SCOPE_MODES,
            numbering_rules: NUMBERING,
            removal_policies: removal_choices(),
            notice,
            error,
            self_test: None,
            scope_chips,
        },
    )
}

fn sync_failure_page(e: &SyncError) -> Response {
    let (status, message) = error_status(e);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        return internal_error(e);
    }
    super::error_page(status, "User sync", &message)
}

#[derive(Debug, Deserialize)]
pub(crate) struct NoticeQuery {
    notice: Option<String>,
    /// `full` after "Full sync": what the console asked for, to label the run until its record
    /// says.
    run: Option<String>,
}

/// `GET /sync/users`
pub(crate) async fn page(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let notice = notice_text(query.notice.as_deref());
    let requested_full = query.run.as_deref() == Some("full");
    show_page(&state, &session, notice, requested_full).await
}

async fn show_page(
    state: &AppState,
    session: &Session,
    notice: Option<&'static str>,
    requested_full: bool,
) -> Response {
    let mut status = match status_view(state).await {
        Ok(s) => s,
        Err(e) => return sync_failure_page(&e),
    };
    if status.starting
        && requested_full
        && let Some(r) = status.running.as_mut()
    {
        r.mode = "full";
    }
    show_with(state, session, StatusCode::OK, status, None, notice, None).await
}

/// `POST /sync/users/settings`: errors are shown next to the fields, values kept.
pub(crate) async fn save_settings(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Form(input): Form<SettingsInput>,
) -> Response {
    if let Some(denied) = csrf_denied(&session, input.csrf_token.as_deref()) {
        return denied;
    }
    let config = match parse_settings(input) {
        Ok(c) => c,
        Err(form) => {
            return show(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(*form),
                None,
                Some("Some settings are not valid: see the messages next to them.".into()),
            )
            .await;
        }
    };
    match state.user_sync().save_config(&config).await {
        Ok(()) => {
            tracing::info!(user = %session.username, "user sync settings saved");
            Redirect::to(&format!("{PAGE}?notice=saved#user-sync-settings")).into_response()
        }
        Err(e @ SyncError::InvalidSettings(_)) => {
            show(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(SettingsForm::from_config(&config)),
                None,
                Some(e.to_string()),
            )
            .await
        }
        Err(e) => sync_failure_page(&e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct RunForm {
    csrf_token: Option<String>,
    full: Option<String>,
}

impl RunForm {
    fn full(&self) -> bool {
        self.full.as_deref() == Some("true")
    }

    /// The run this form asks for, started by the signed-in admin.
    fn request(&self, session: &Session, dry_run: bool) -> RunRequest {
        RunRequest {
            full: self.full(),
            dry_run,
            actor: started_by(&admin_actor(&session.username)),
        }
    }
}

/// The page again, with the status and message a failed start or dry run maps to.
async fn show_sync_error(state: &AppState, session: &Session, e: &SyncError) -> Response {
    let (status, message) = error_status(e);
    show(state, session, status, None, None, Some(message)).await
}

/// `POST /sync/users/run`: "Sync now" / "Full sync", in the background; back to the page,
/// which shows the progress.
pub(crate) async fn run_now(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Form(form): Form<RunForm>,
) -> Response {
    if let Some(denied) = csrf_denied(&session, form.csrf_token.as_deref()) {
        return denied;
    }
    let request = form.request(&session, false);
    let full = request.full;
    tracing::info!(user = %session.username, full, "user sync started from the console");
    match start_in_background(state.user_sync(), request).await {
        Ok(()) if full => Redirect::to(&format!("{PAGE}?notice=started&run=full")).into_response(),
        Ok(()) => Redirect::to(&format!("{PAGE}?notice=started")).into_response(),
        Err(e) => show_sync_error(&state, &session, &e).await,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    csrf_token: Option<String>,
}

/// `POST /sync/users/self-test`: "Test reachability"; the page again, with the result.
pub(crate) async fn self_test(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(denied) = csrf_denied(&session, form.csrf_token.as_deref()) {
        return denied;
    }
    tracing::info!(user = %session.username, "reachability self-test started from the console");
    let (status_code, result) = match reachability_self_test(&state).await {
        Some(r) => (StatusCode::OK, r),
        None => (
            StatusCode::CONFLICT,
            crate::user_sync::SelfTestResult {
                reachable: false,
                message: SELF_TEST_NO_PUBLIC_URL.to_owned(),
            },
        ),
    };
    let status = match status_view(&state).await {
        Ok(s) => s,
        Err(e) => return sync_failure_page(&e),
    };
    let form = match state.user_sync().config().await {
        Ok(c) => SettingsForm::from_config(&c),
        Err(e) => return sync_failure_page(&e),
    };
    let scope_chips = scope_chips(&state, &form.scope_ids).await;
    render(
        status_code,
        &UserSyncPage {
            layout: Layout::signed_in(&session, "user_sync"),
            csrf_token: session.csrf_token.clone(),
            status,
            form,
            scope_modes: SCOPE_MODES,
            numbering_rules: NUMBERING,
            removal_policies: removal_choices(),
            notice: None,
            error: None,
            self_test: Some(SelfTestView {
                reachable: result.reachable,
                badge: if result.reachable {
                    "reachable"
                } else {
                    "unreachable"
                },
                message: result.message,
            }),
            scope_chips,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Preview (dry run)
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct PlanRow {
    action: &'static str,
    verb: &'static str,
    user: String,
    user_id: String,
    number: String,
    reason: String,
}

#[derive(Debug)]
struct PlanGroup {
    action: &'static str,
    label: &'static str,
    count: usize,
    rows: Vec<PlanRow>,
}

#[derive(Template)]
#[template(path = "sync_preview.html")]
struct PreviewPage {
    layout: Layout,
    csrf_token: String,
    full: bool,
    run: RunView,
    groups: Vec<PlanGroup>,
    total: usize,
    truncated: bool,
}

const GROUPS: [(&str, &str); 6] = [
    ("create", "Create"),
    ("adopt", "Adopt"),
    ("update", "Update"),
    ("set_enabled", "Enable / disable"),
    ("delete", "Delete"),
    ("skip", "Skip"),
];

/// Names of the extensions a plan touches by number, to show who a step is about.
async fn names_for(state: &AppState, plan: &[Action]) -> HashMap<String, String> {
    let numbers: BTreeSet<&String> = plan
        .iter()
        .filter_map(|a| match a {
            Action::Adopt { number, .. }
            | Action::Update { number, .. }
            | Action::SetEnabled { number, .. }
            | Action::Delete { number, .. } => Some(number),
            _ => None,
        })
        .collect();
    let mut names = HashMap::new();
    for number in numbers.into_iter().take(NAME_LOOKUPS) {
        if let Ok(Some(e)) = state.extensions().get_extension(number).await {
            let f = &e.fields;
            let name = [&f.display_name, &f.upn, &f.email]
                .into_iter()
                .find(|s| !s.is_empty())
                .cloned()
                .unwrap_or_default();
            names.insert(number.clone(), name);
        }
    }
    names
}

fn plan_row(a: &Action, names: &HashMap<String, String>) -> PlanRow {
    let name = |n: &String| names.get(n).cloned().unwrap_or_default();
    let (verb, user, user_id, number) = match a {
        Action::Create {
            user_id,
            number,
            fields,
            ..
        } => {
            let user = [&fields.display_name, &fields.upn, user_id]
                .into_iter()
                .find(|s| !s.is_empty())
                .cloned()
                .unwrap_or_default();
            ("create", user, user_id.clone(), number.clone())
        }
        Action::Adopt {
            user_id, number, ..
        } => ("adopt", name(number), user_id.clone(), number.clone()),
        Action::Update {
            user_id, number, ..
        } => ("update", name(number), user_id.clone(), number.clone()),
        Action::SetEnabled {
            number, enabled, ..
        } => (
            if *enabled { "enable" } else { "disable" },
            name(number),
            String::new(),
            number.clone(),
        ),
        Action::Delete { number, .. } => ("delete", name(number), String::new(), number.clone()),
        Action::Skip {
            user_id,
            label,
            reason,
        } => {
            let number = match reason {
                SkipReason::NumberConflict { number } => format!("({number} taken)"),
                _ => String::new(),
            };
            ("skip", label.clone(), user_id.clone(), number)
        }
    };
    PlanRow {
        action: action_name(a),
        verb,
        user,
        user_id,
        number,
        reason: reason_text(a),
    }
}

/// `POST /sync/users/preview`: a dry run now; the plan grouped by action.
pub(crate) async fn preview(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Form(form): Form<RunForm>,
) -> Response {
    if let Some(denied) = csrf_denied(&session, form.csrf_token.as_deref()) {
        return denied;
    }
    let request = form.request(&session, true);
    let full = request.full;
    let outcome = match state.user_sync().run(request).await {
        Ok(o) => o,
        Err(e) => return show_sync_error(&state, &session, &e).await,
    };
    let names = names_for(&state, &outcome.plan).await;
    let total = outcome.plan.len();
    let mut groups: Vec<PlanGroup> = GROUPS
        .iter()
        .map(|(action, label)| PlanGroup {
            action,
            label,
            count: 0,
            rows: Vec::new(),
        })
        .collect();
    let mut shown = 0;
    for a in &outcome.plan {
        let name = action_name(a);
        if let Some(g) = groups.iter_mut().find(|g| g.action == name) {
            g.count += 1;
            if shown < PLAN_ROWS {
                g.rows.push(plan_row(a, &names));
                shown += 1;
            }
        }
    }
    groups.retain(|g| g.count > 0);
    render(
        StatusCode::OK,
        &PreviewPage {
            layout: Layout::signed_in(&session, "user_sync"),
            csrf_token: session.csrf_token.clone(),
            full,
            run: RunView::from(&outcome.run),
            groups,
            total,
            truncated: total > shown,
        },
    )
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
            include_guests: None,
            department_groups: None,
            business_phone_as_caller_id: None,
            numbering_start: "100".into(),
            numbering: "first_free".into(),
            removal: "disable".into(),
            poll_interval_secs: "60".into(),
            daily_full_sync_at: "02:00".into(),
            time_zone: "UTC".into(),
        }
    }

    #[test]
    fn the_default_form_is_the_default_config() {
        assert_eq!(parse_settings(input()).unwrap(), UserSyncConfig::default());
    }

    #[test]
    fn each_error_sits_next_to_its_field() {
        let form = parse_settings(SettingsInput {
            scope_mode: "only".into(),
            scope_ids: "ada@contoso.com".into(),
            numbering_start: "ten".into(),
            poll_interval_secs: "5".into(),
            daily_full_sync_at: "25:00".into(),
            ..input()
        })
        .unwrap_err();
        let scope = form.scope_error.unwrap();
        assert!(scope.contains("ada@contoso.com"), "{scope}");
        assert!(scope.starts_with("Entra object ids:"), "{scope}");
        assert_eq!(
            form.numbering_start_error.unwrap(),
            "Numbering start must be a whole number (you entered ten)."
        );
        assert_eq!(
            form.poll_interval_secs_error.unwrap(),
            "Poll interval must be between 10 and 86400 seconds (you entered 5)."
        );
        assert!(
            form.daily_full_sync_at_error
                .unwrap()
                .starts_with("Daily full sync at must be a 24-hour time")
        );
        assert!(form.time_zone_error.is_none());
        assert_eq!(form.scope_ids, "ada@contoso.com", "values are kept");
    }

    #[test]
    fn messages_use_the_form_labels() {
        let form = parse_settings(SettingsInput {
            scope_mode: "groups".into(),
            numbering_start: "0".into(),
            poll_interval_secs: "1".into(),
            time_zone: " ".into(),
            ..input()
        })
        .unwrap_err();
        assert_eq!(
            form.poll_interval_secs_error.unwrap(),
            "Poll interval must be between 10 and 86400 seconds (you entered 1)."
        );
        assert_eq!(
            form.numbering_start_error.unwrap(),
            "Numbering start must be between 1 and 99999999 (you entered 0)."
        );
        assert!(
            form.time_zone_error
                .unwrap()
                .starts_with("Time zone must be an IANA name")
        );
        assert!(
            form.scope_error
                .unwrap()
                .starts_with("\"Members of groups\" needs at least one group Object ID")
        );
        for e in [
            form.daily_full_sync_at_error,
            form.numbering_error,
            form.removal_error,
        ] {
            assert!(e.is_none());
        }
    }
}
