//! `/_emulator/tenant`, `/clock`, `/faults`, `/stats`, `/delta/expire`, `/quirks`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse as _, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Problem, bad_request, parse_body};
use crate::directory::{ExpireMode, Quirks};
use crate::faults::Fault;
use crate::state::AppState;

pub async fn tenant(State(state): State<AppState>) -> Response {
    let tenant = state.tenant();
    let (users, soft_deleted, groups) = tenant.directory.counts();
    Json(json!({
        "id": tenant.id,
        "domain": tenant.domain,
        "displayName": tenant.display_name,
        "users": users,
        "softDeletedUsers": soft_deleted,
        "groups": groups,
        "materialisedMailboxes": tenant.mailboxes.materialised(),
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expire {
    mode: ExpireMode,
}

/// `POST /_emulator/delta/expire {"mode": "gone" | "syncStateNotFound"}`: every delta token
/// (deltaLink and nextLink) issued so far fails from now on, the way `mode` says.
pub async fn delta_expire(State(state): State<AppState>, body: Bytes) -> Result<Response, Problem> {
    let expire: Expire = parse_body(&body)?;
    let mut tenant = state.tenant();
    let dir = &mut tenant.directory;
    dir.expired_epochs.push(expire.mode);
    dir.delta_epoch = dir.delta_epoch.saturating_add(1);
    Ok(Json(json!({ "epoch": dir.delta_epoch, "mode": expire.mode })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuirksPatch {
    delta_replays: Option<bool>,
    empty_pages: Option<bool>,
    delta_page_size: Option<u32>,
}

pub async fn quirks_get(State(state): State<AppState>) -> Response {
    let quirks: Quirks = state.tenant().directory.quirks.clone();
    Json(quirks).into_response()
}

/// `POST /_emulator/quirks`: changes the fields sent, returns all of them.
pub async fn quirks_set(State(state): State<AppState>, body: Bytes) -> Result<Response, Problem> {
    let patch: QuirksPatch = parse_body(&body)?;
    if patch
        .delta_page_size
        .is_some_and(|n| !(1..=999).contains(&n))
    {
        return Err(bad_request("delta_page_size must be 1..=999"));
    }
    let mut tenant = state.tenant();
    let quirks = &mut tenant.directory.quirks;
    if let Some(v) = patch.delta_replays {
        quirks.delta_replays = v;
    }
    if let Some(v) = patch.empty_pages {
        quirks.empty_pages = v;
    }
    if let Some(v) = patch.delta_page_size {
        quirks.delta_page_size = v;
    }
    Ok(Json(quirks.clone()).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockChange {
    advance_seconds: Option<i64>,
    now: Option<String>,
    #[serde(default)]
    reset: bool,
}

fn clock_view(state: &AppState) -> Response {
    let clock = state.clock();
    Json(json!({
        "now": clock.now().to_string(),
        "offset_seconds": clock.offset().as_secs(),
    }))
    .into_response()
}

pub async fn clock_get(State(state): State<AppState>) -> Response {
    clock_view(&state)
}

pub async fn clock_set(State(state): State<AppState>, body: Bytes) -> Result<Response, Problem> {
    let change: ClockChange = parse_body(&body)?;
    let given = usize::from(change.advance_seconds.is_some())
        + usize::from(change.now.is_some())
        + usize::from(change.reset);
    if given != 1 {
        return Err(bad_request(
            "send exactly one of {\"advance_seconds\": n}, {\"now\": \"RFC 3339\"}, {\"reset\": true}",
        ));
    }
    {
        let mut clock = state.clock();
        if let Some(seconds) = change.advance_seconds {
            clock.advance(seconds).map_err(bad_request)?;
        } else if let Some(now) = change.now {
            let t = now.parse::<Timestamp>().map_err(|e| {
                bad_request(format!(
                    "now '{now}' is not an RFC 3339 timestamp with offset: {e}"
                ))
            })?;
            clock.set(t);
        } else {
            clock.reset();
        }
    }
    Ok(clock_view(&state))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFault {
    path_prefix: String,
    status: u16,
    retry_after: Option<Value>,
    #[serde(default)]
    latency_ms: u64,
    count: Option<u64>,
    method: Option<String>,
    body: Option<Value>,
}

pub async fn faults_add(State(state): State<AppState>, body: Bytes) -> Result<Response, Problem> {
    let new: NewFault = parse_body(&body)?;
    if !new.path_prefix.starts_with('/') {
        return Err(bad_request(
            "path_prefix must start with '/', e.g. \"/v1.0/users\"",
        ));
    }
    if new.path_prefix.starts_with("/_emulator") {
        return Err(bad_request("faults never apply to /_emulator/* paths"));
    }
    if new.status != 0 && !(100..=599).contains(&new.status) {
        return Err(bad_request(
            "status must be an HTTP status (100-599), or 0 for latency only",
        ));
    }
    if new.status == 0 && new.latency_ms == 0 {
        return Err(bad_request(
            "status 0 means 'delay only': give latency_ms > 0",
        ));
    }
    let retry_after = match new.retry_after {
        None | Some(Value::Null) => None,
        // Kept verbatim: "2.128" stays "2.128" (§6.2 fractional Retry-After).
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(bad_request("retry_after must be a string or a number")),
    };
    if let Some(r) = &retry_after {
        HeaderValue::from_str(r)
            .map_err(|_| bad_request("retry_after is not a valid header value"))?;
    }
    let count = new.count.unwrap_or(1);
    if count == 0 {
        return Err(bad_request("count must be at least 1"));
    }
    let method = match new.method {
        Some(m) if m.trim().is_empty() || !m.chars().all(|c| c.is_ascii_alphabetic()) => {
            return Err(bad_request(format!("method '{m}' is not an HTTP method")));
        }
        m => m.map(|m| m.to_ascii_uppercase()),
    };
    let fault = state.faults().add(Fault {
        id: 0,
        path_prefix: new.path_prefix,
        method,
        status: new.status,
        retry_after,
        latency_ms: new.latency_ms,
        remaining: count,
        body: new.body,
    });
    Ok((StatusCode::CREATED, Json(fault)).into_response())
}

pub async fn faults_list(State(state): State<AppState>) -> Response {
    let faults = state.faults().queue.clone();
    Json(json!({ "value": faults })).into_response()
}

pub async fn faults_clear(State(state): State<AppState>) -> Response {
    state.faults().queue.clear();
    StatusCode::NO_CONTENT.into_response()
}

pub async fn stats_get(State(state): State<AppState>) -> Response {
    let stats = state.stats().clone();
    Json(stats).into_response()
}

pub async fn stats_reset(State(state): State<AppState>) -> Response {
    *state.stats() = Default::default();
    StatusCode::NO_CONTENT.into_response()
}
