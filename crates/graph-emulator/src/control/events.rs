//! Calendars in the emulated tenant: `/_emulator/users/{id}/events[/{eid}]` (bodies are
//! Graph event JSON, DESIGN.md §6). Changes notify subscriptions on `/users/{id}/events`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Problem, bad_request, parse_body, problem};
use crate::directory::Life;
use crate::graph::calendar::{Owner, change_key, control_json, event_id};
use crate::outlook::MailboxMut;
use crate::outlook::event::{self, parse_patch};
use crate::outlook::ids::{self, EventRef};
use crate::state::{AppState, Tenant};
use crate::subscriptions::{ChangeType, event_changed};

fn json_text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The mailbox and owner of a live user.
fn open<'a>(tenant: &'a mut Tenant, key: &str) -> Result<(MailboxMut<'a>, Uuid, Owner), Problem> {
    let Tenant {
        directory,
        mailboxes,
        ..
    } = tenant;
    let idx = directory.find(key).ok_or_else(|| {
        problem(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no user with id or userPrincipalName '{key}'"),
        )
    })?;
    let user = directory
        .user(idx)
        .filter(|u| u.life == Life::Live)
        .ok_or_else(|| {
            problem(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("user '{key}' is deleted; restore it first"),
            )
        })?;
    let id = user.id;
    let owner = Owner::of(directory, idx).ok_or_else(|| bad_request("user without a record"))?;
    let mb = mailboxes.open(idx, user).ok_or_else(|| {
        problem(
            StatusCode::CONFLICT,
            "conflict",
            format!("user '{key}' has no mailbox (PATCH it with \"mailboxEnabled\": true)"),
        )
    })?;
    Ok((mb, id, owner))
}

fn event_not_found(eid: &str) -> Problem {
    problem(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no event '{eid}' in this mailbox"),
    )
}

fn body_object(body: &[u8]) -> Result<Map<String, Value>, Problem> {
    match parse_body::<Value>(body)? {
        Value::Object(map) => Ok(map),
        _ => Err(bad_request(
            "a JSON object with Graph event properties is expected",
        )),
    }
}

fn reference(mb: &MailboxMut<'_>, eid: &str) -> Result<EventRef, Problem> {
    ids::decode_event(eid, &mb.guid).map_err(|_| event_not_found(eid))
}

/// `GET /_emulator/users/{id}/events`: every stored event (singles, series masters with
/// `cancelledOccurrences`, exceptions), start and end in their own zones.
pub async fn list_events(
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, Problem> {
    let now = state.now();
    let mut tenant = state.tenant();
    let (mut mb, _, owner) = open(&mut tenant, &user)?;
    let guid = mb.guid;
    let cal = owner.calendar(&mut mb, now);
    let mut out = String::from("{\"value\":[");
    for (n, i) in cal.stored().iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(&control_json(&guid, &owner, &cal, i));
    }
    out.push_str("]}");
    Ok(json_text(StatusCode::OK, out))
}

/// `POST /_emulator/users/{id}/events` → 201 with the event (Graph JSON, with its id).
/// `start` and `end` are required; `recurrence` makes a series.
pub async fn create_event(
    State(state): State<AppState>,
    Path(user): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let patch = parse_patch(&body_object(&body)?).map_err(bad_request)?;
    let now = state.now();
    let e = event::new_event(&patch, now).map_err(bad_request)?;
    let mut tenant = state.tenant();
    let (text, eid, tag, user_id) = {
        let (mut mb, user_id, owner) = open(&mut tenant, &user)?;
        let guid = mb.guid;
        let mut cal = owner.calendar(&mut mb, now);
        let key = cal.create(e);
        let i = cal
            .get(EventRef::Stored(key))
            .ok_or_else(|| event_not_found("new"))?;
        (
            control_json(&guid, &owner, &cal, &i),
            event_id(&guid, EventRef::Stored(key)),
            format!("W/\"{}\"", change_key(&guid, &i)),
            user_id,
        )
    };
    event_changed(&state, &tenant, user_id, &eid, &tag, ChangeType::Created);
    Ok(json_text(StatusCode::CREATED, text))
}

/// `GET /_emulator/users/{id}/events/{eid}`: a single event, master, occurrence or exception.
pub async fn show_event(
    State(state): State<AppState>,
    Path((user, eid)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let now = state.now();
    let mut tenant = state.tenant();
    let (mut mb, _, owner) = open(&mut tenant, &user)?;
    let r = reference(&mb, &eid)?;
    let guid = mb.guid;
    let cal = owner.calendar(&mut mb, now);
    let i = cal.get(r).ok_or_else(|| event_not_found(&eid))?;
    Ok(json_text(
        StatusCode::OK,
        control_json(&guid, &owner, &cal, &i),
    ))
}

/// `PATCH /_emulator/users/{id}/events/{eid}`: only the properties sent change. On an
/// occurrence the result is an exception (same id); a write that changes nothing is
/// invisible to delta and notifications.
pub async fn update_event(
    State(state): State<AppState>,
    Path((user, eid)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Problem> {
    let patch = parse_patch(&body_object(&body)?).map_err(bad_request)?;
    let now = state.now();
    let mut tenant = state.tenant();
    let (text, changes, user_id) = {
        let (mut mb, user_id, owner) = open(&mut tenant, &user)?;
        let r = reference(&mb, &eid)?;
        let guid = mb.guid;
        let mut cal = owner.calendar(&mut mb, now);
        if cal.get(r).is_none() {
            return Err(event_not_found(&eid));
        }
        let changed = cal.update(r, &patch, now)?;
        let i = cal.get(r).ok_or_else(|| event_not_found(&eid))?;
        let mut changes = Vec::new();
        if changed {
            changes.push((
                event_id(&guid, r),
                format!("W/\"{}\"", change_key(&guid, &i)),
            ));
            // An exception changes its series master too.
            if let EventRef::Occurrence(key, _) = r
                && let Some(m) = cal.get(EventRef::Stored(key))
            {
                changes.push((
                    event_id(&guid, EventRef::Stored(key)),
                    format!("W/\"{}\"", change_key(&guid, &m)),
                ));
            }
        }
        (control_json(&guid, &owner, &cal, &i), changes, user_id)
    };
    for (id, tag) in changes {
        event_changed(&state, &tenant, user_id, &id, &tag, ChangeType::Updated);
    }
    Ok(json_text(StatusCode::OK, text))
}

/// `DELETE /_emulator/users/{id}/events/{eid}` → 204: an event or a whole series; on an
/// occurrence (or exception) only that occurrence goes.
pub async fn delete_event(
    State(state): State<AppState>,
    Path((user, eid)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let now = state.now();
    let mut tenant = state.tenant();
    let (deleted, master, user_id) = {
        let (mut mb, user_id, owner) = open(&mut tenant, &user)?;
        let r = reference(&mb, &eid)?;
        let guid = mb.guid;
        let mut cal = owner.calendar(&mut mb, now);
        let i = cal.get(r).ok_or_else(|| event_not_found(&eid))?;
        let tag = format!("W/\"{}\"", change_key(&guid, &i));
        drop(i);
        cal.delete(r)?;
        let master = match r {
            EventRef::Occurrence(key, _) => cal.get(EventRef::Stored(key)).map(|m| {
                (
                    event_id(&guid, EventRef::Stored(key)),
                    format!("W/\"{}\"", change_key(&guid, &m)),
                )
            }),
            EventRef::Stored(_) => None,
        };
        ((event_id(&guid, r), tag), master, user_id)
    };
    event_changed(
        &state,
        &tenant,
        user_id,
        &deleted.0,
        &deleted.1,
        ChangeType::Deleted,
    );
    if let Some((id, tag)) = master {
        event_changed(&state, &tenant, user_id, &id, &tag, ChangeType::Updated);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
