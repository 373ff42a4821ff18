//! The Presence board (every extension's status, live from the stream), one extension's day as
//! a timeline, and the form an admin sets a status with. Also serves the board's own CSS and JS.

use super::extensions::path_segment;
use super::timeline::{self, Timeline};
use super::{ConsoleUser, Layout, csrf_denied, error_page, internal_error, render};
use crate::auth::session::Session;
use crate::calendar_sync::{display_zone, source_label, status_label};
use crate::presence::{PresenceItem, board, display_name, parse_status};
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;
use std::sync::LazyLock;
use switchboard_core::calendar::PresenceError;
use switchboard_core::presence::Status;

pub(crate) const PRESENCE_CSS: &str = include_str!("../../static/presence.css");
pub(crate) const PRESENCE_JS: &str = include_str!("../../static/presence.js");

/// Rows the board shows at most; a filter narrows it down.
const BOARD_ROWS: usize = 1000;

/// Cache-busting query for the board's own files.
pub(crate) fn asset_version() -> &'static str {
    static VERSION: LazyLock<String> = LazyLock::new(|| {
        crate::auth::hash_token(&format!("{PRESENCE_CSS}{PRESENCE_JS}"))[..12].to_owned()
    });
    VERSION.as_str()
}

const LONG_CACHE: &str = "public, max-age=31536000, immutable";

pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, LONG_CACHE),
        ],
        PRESENCE_CSS,
    )
        .into_response()
}

pub(crate) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, LONG_CACHE),
        ],
        PRESENCE_JS,
    )
        .into_response()
}

/// A status choice of the "set status" forms.
#[derive(Debug)]
pub(crate) struct StatusChoice {
    pub(crate) value: &'static str,
    pub(crate) label: &'static str,
}

fn status_choices() -> Vec<StatusChoice> {
    Status::ALL
        .iter()
        .map(|s| StatusChoice {
            value: s.as_str(),
            label: status_label(*s),
        })
        .collect()
}

/// `09:30` today, `2 Nov 09:30` on another day (in the calendar's time zone).
pub(crate) fn short_time(t: Timestamp, now: Timestamp, zone: &TimeZone) -> String {
    let at = t.to_zoned(zone.clone());
    if at.date() == now.to_zoned(zone.clone()).date() {
        at.strftime("%H:%M").to_string()
    } else {
        at.strftime("%-d %b %H:%M").to_string()
    }
}

/// One row of the board (and the heading of a timeline).
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) number: String,
    pub(crate) name: String,
    pub(crate) href: String,
    pub(crate) timeline_href: String,
    /// Where the "set status" form posts.
    pub(crate) set_href: String,
    pub(crate) status: &'static str,
    pub(crate) status_label: &'static str,
    pub(crate) source: &'static str,
    pub(crate) until: String,
    /// RFC 3339, for the script.
    pub(crate) until_iso: String,
    pub(crate) restores: &'static str,
    pub(crate) restores_label: &'static str,
}

impl Row {
    fn new(item: PresenceItem, now: Timestamp, zone: &TimeZone) -> Self {
        let segment = path_segment(&item.extension);
        Self {
            href: format!("/extensions/{segment}"),
            timeline_href: format!("/extensions/{segment}/presence"),
            set_href: format!("/presence/{segment}/status"),
            status: item.status.as_str(),
            status_label: status_label(item.status),
            source: source_label(item.source),
            until: item
                .until
                .map(|t| short_time(t, now, zone))
                .unwrap_or_default(),
            until_iso: item.until.map(|t| t.to_string()).unwrap_or_default(),
            restores: item.restores.map_or("", Status::as_str),
            restores_label: item.restores.map_or("", status_label),
            number: item.extension,
            name: item.name,
        }
    }
}

#[derive(Template)]
#[template(path = "presence.html")]
struct BoardPage {
    layout: Layout,
    csrf_token: String,
    assets: &'static str,
    zone: String,
    rows: Vec<Row>,
    total: usize,
    q: String,
    choices: Vec<StatusChoice>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct BoardQuery {
    #[serde(default)]
    q: String,
    /// `set` after a status was set.
    notice: Option<String>,
    /// The extension whose status was set.
    ext: Option<String>,
}

/// The zone times are shown in (the Calendar Sync time zone).
async fn zone(state: &AppState) -> TimeZone {
    match state.calendar_sync().config().await {
        Ok(config) => display_zone(&config),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the calendar sync settings; showing times in UTC");
            TimeZone::UTC
        }
    }
}

fn presence_failure(e: &PresenceError) -> Response {
    match e {
        PresenceError::UnknownExtension(number) => error_page(
            StatusCode::NOT_FOUND,
            "No such extension",
            &format!(
                "There is no extension {}. The Extensions page lists them all.",
                number.chars().take(40).collect::<String>()
            ),
        ),
        PresenceError::Store(_) => internal_error(e),
    }
}

async fn show_board(
    state: &AppState,
    session: &Session,
    q: &str,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let items = match board(state).await {
        Ok(items) => items,
        Err(e) => return presence_failure(&e),
    };
    let zone = zone(state).await;
    let now = state.now();
    let needle = q.trim().to_lowercase();
    let matching: Vec<PresenceItem> = items
        .into_iter()
        .filter(|i| {
            needle.is_empty()
                || i.extension.contains(&needle)
                || i.name.to_lowercase().contains(&needle)
        })
        .collect();
    let total = matching.len();
    let rows = matching
        .into_iter()
        .take(BOARD_ROWS)
        .map(|item| Row::new(item, now, &zone))
        .collect();
    render(
        status,
        &BoardPage {
            layout: Layout::signed_in(session, "presence"),
            csrf_token: session.csrf_token.clone(),
            assets: asset_version(),
            zone: zone.iana_name().unwrap_or("UTC").to_owned(),
            rows,
            total,
            q: q.trim().to_owned(),
            choices: status_choices(),
            notice,
            error,
        },
    )
}

/// `GET /presence`
pub(crate) async fn page(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Query(query): Query<BoardQuery>,
) -> Response {
    let notice = match (query.notice.as_deref(), query.ext.as_deref()) {
        (Some("set"), Some(number)) => Some(format!(
            "Status of extension {} set. During a calendar entry, the calendar leaves it alone until the entry ends.",
            number.chars().take(40).collect::<String>()
        )),
        _ => None,
    };
    show_board(&state, &session, &query.q, StatusCode::OK, notice, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct SetForm {
    csrf_token: Option<String>,
    #[serde(default)]
    status: String,
    /// `timeline` to come back to the extension's timeline, else the board.
    back: Option<String>,
}

/// `POST /presence/{number}/status`: an admin sets the status, as the user would.
pub(crate) async fn set_status(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Path(number): Path<String>,
    Form(form): Form<SetForm>,
) -> Response {
    if let Some(denied) = csrf_denied(&session, form.csrf_token.as_deref()) {
        return denied;
    }
    let to_timeline = form.back.as_deref() == Some("timeline");
    let status = match parse_status(&form.status) {
        Ok(s) => s,
        Err(message) => {
            let error = Some(format!("Status not set: {message}"));
            return if to_timeline {
                show_timeline(
                    &state,
                    &session,
                    &number,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    None,
                    error,
                )
                .await
            } else {
                show_board(
                    &state,
                    &session,
                    "",
                    StatusCode::UNPROCESSABLE_ENTITY,
                    None,
                    error,
                )
                .await
            };
        }
    };
    if let Err(e) = state.presence().user_sets(&number, status).await {
        return presence_failure(&e);
    }
    tracing::info!(user = %session.username, extension = %number, status = %status, "status set from the console");
    let segment = path_segment(&number);
    if to_timeline {
        Redirect::to(&format!("/extensions/{segment}/presence?notice=set")).into_response()
    } else {
        Redirect::to(&format!("/presence?notice=set&ext={segment}#ext-{segment}")).into_response()
    }
}

#[derive(Template)]
#[template(path = "presence_timeline.html")]
struct TimelinePage {
    layout: Layout,
    csrf_token: String,
    assets: &'static str,
    zone: String,
    row: Row,
    timeline: Timeline,
    legend: Vec<(&'static str, &'static str)>,
    choices: Vec<StatusChoice>,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TimelineQuery {
    notice: Option<String>,
}

async fn show_timeline(
    state: &AppState,
    session: &Session,
    number: &str,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let presence = state.presence();
    let view = match presence.presence(number).await {
        Ok(v) => v,
        Err(e) => return presence_failure(&e),
    };
    let entries = match presence.entries(number).await {
        Ok(e) => e,
        Err(e) => return presence_failure(&e),
    };
    let name = match state.extensions().get_extension(number).await {
        Ok(Some(e)) => display_name(&e),
        Ok(None) => String::new(),
        Err(e) => return internal_error(&e),
    };
    let zone = zone(state).await;
    let now = state.now();
    let timeline = timeline::build(&entries, &presence.mapping(), &view, now, &zone);
    let row = Row::new(PresenceItem::new(view, name), now, &zone);
    render(
        status,
        &TimelinePage {
            layout: Layout::signed_in(session, "presence"),
            csrf_token: session.csrf_token.clone(),
            assets: asset_version(),
            zone: timeline.zone.clone(),
            row,
            timeline,
            legend: timeline::show_as_legend(),
            choices: status_choices(),
            notice,
            error,
        },
    )
}

/// `GET /extensions/{number}/presence`
pub(crate) async fn timeline_page(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Path(number): Path<String>,
    Query(query): Query<TimelineQuery>,
) -> Response {
    let notice = (query.notice.as_deref() == Some("set")).then_some(
        "Status set. During a calendar entry, the calendar leaves it alone until the entry ends.",
    );
    show_timeline(&state, &session, &number, StatusCode::OK, notice, None).await
}
