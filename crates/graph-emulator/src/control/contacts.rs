//! Mailboxes in the emulated tenant: `/_emulator/users/{id}/contacts[/{cid}]`,
//! `/_emulator/users/{id}/contactFolders[/{fid}]` (bodies are Graph contact and contactFolder
//! JSON, DESIGN.md §6), and `/_emulator/outlook` (the per-mailbox concurrency limit).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Problem, bad_request, parse_body, problem};
use crate::directory::Life;
use crate::graph::contacts::{contact_json, folder_json};
use crate::outlook::ids::DEFAULT_FOLDER;
use crate::outlook::{self, MailboxMut, contact, limits};
use crate::state::{AppState, Tenant};
use crate::subscriptions::{ContactEvent, contact_changed};

fn json_text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The mailbox of a live user, materialised.
fn open<'a>(tenant: &'a mut Tenant, key: &str) -> Result<(MailboxMut<'a>, Uuid), Problem> {
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
    let mb = mailboxes.open(idx, user).ok_or_else(|| {
        problem(
            StatusCode::CONFLICT,
            "conflict",
            format!("user '{key}' has no mailbox (PATCH it with \"mailboxEnabled\": true)"),
        )
    })?;
    Ok((mb, id))
}

fn contact_not_found(cid: &str) -> Problem {
    problem(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no contact '{cid}' in this mailbox"),
    )
}

fn folder_not_found(fid: &str) -> Problem {
    problem(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no contact folder '{fid}' in this mailbox"),
    )
}

fn body_object(body: &[u8]) -> Result<Map<String, Value>, Problem> {
    match parse_body::<Value>(body)? {
        Value::Object(map) => Ok(map),
        _ => Err(bad_request(
            "a JSON object with Graph contact properties is expected",
        )),
    }
}

/// A folder id from a body: it must name a live folder of this mailbox.
fn body_folder(mb: &MailboxMut<'_>, id: &str) -> Result<u32, Problem> {
    mb.folder_num(id).map_err(|_| {
        bad_request(format!(
            "parentFolderId '{id}' is not a folder of this mailbox"
        ))
    })
}

fn etag(mb: &MailboxMut<'_>, num: u32) -> String {
    format!("W/\"{}\"", mb.change_key(num))
}

/// `POST /_emulator/users/{id}/contacts` → 201 with the contact (Graph JSON, with its id).
/// `parentFolderId` puts it in that folder (default: the Contacts folder); `displayName` is
/// built from the name parts when absent.
pub async fn create_contact(
    State(state): State<AppState>,
    Path(user): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let patch = contact::parse_patch(&body_object(&body)?).map_err(bad_request)?;
    let now = state.now().as_second();
    let mut tenant = state.tenant();
    let (text, cid, tag, folder, user_id) = {
        let (mut mb, user_id) = open(&mut tenant, &user)?;
        let folder = match &patch.parent_folder_id {
            Some(f) => body_folder(&mb, f)?,
            None => DEFAULT_FOLDER,
        };
        let num = mb.create_contact(folder, outlook::new_contact(&patch.values, now))?;
        (
            contact_json(&mb, num),
            mb.contact_id(num),
            etag(&mb, num),
            folder,
            user_id,
        )
    };
    contact_changed(
        &state,
        &tenant,
        user_id,
        &cid,
        &tag,
        ContactEvent::Created { folder },
    );
    Ok(json_text(StatusCode::CREATED, text))
}

/// `PATCH /_emulator/users/{id}/contacts/{cid}`: only the properties sent change (`null`
/// clears); a new `parentFolderId` moves the contact. A write that changes nothing is
/// invisible to delta and notifications.
pub async fn update_contact(
    State(state): State<AppState>,
    Path((user, cid)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Problem> {
    let patch = contact::parse_patch(&body_object(&body)?).map_err(bad_request)?;
    let now = state.now().as_second();
    let mut tenant = state.tenant();
    let (text, tag, updated, user_id) = {
        let (mut mb, user_id) = open(&mut tenant, &user)?;
        let num = mb.contact_num(&cid).map_err(|_| contact_not_found(&cid))?;
        let to = patch
            .parent_folder_id
            .as_deref()
            .map(|f| body_folder(&mb, f))
            .transpose()?;
        let updated = mb.update_contact(num, &patch.values, to, now)?;
        (contact_json(&mb, num), etag(&mb, num), updated, user_id)
    };
    if updated.changed {
        let event = ContactEvent::Updated {
            from: updated.from,
            to: updated.to,
        };
        contact_changed(&state, &tenant, user_id, &cid, &tag, event);
    }
    Ok(json_text(StatusCode::OK, text))
}

/// `DELETE /_emulator/users/{id}/contacts/{cid}` → 204; delta shows `@removed`.
pub async fn delete_contact(
    State(state): State<AppState>,
    Path((user, cid)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let mut tenant = state.tenant();
    let (tag, folder, user_id) = {
        let (mut mb, user_id) = open(&mut tenant, &user)?;
        let num = mb.contact_num(&cid).map_err(|_| contact_not_found(&cid))?;
        let folder = mb.delete_contact(num)?;
        (etag(&mb, num), folder, user_id)
    };
    contact_changed(
        &state,
        &tenant,
        user_id,
        &cid,
        &tag,
        ContactEvent::Deleted { folder },
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /_emulator/users/{id}/contacts/{cid}`.
pub async fn show_contact(
    State(state): State<AppState>,
    Path((user, cid)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let mut tenant = state.tenant();
    let (mb, _) = open(&mut tenant, &user)?;
    let num = mb.contact_num(&cid).map_err(|_| contact_not_found(&cid))?;
    Ok(json_text(StatusCode::OK, contact_json(&mb, num)))
}

fn folders_json(mb: &MailboxMut<'_>) -> String {
    let mut out = String::from("[");
    out.push_str(&folder_json(mb, DEFAULT_FOLDER));
    for f in mb.all_folders() {
        out.push(',');
        out.push_str(&folder_json(mb, f));
    }
    out.push(']');
    out
}

/// `GET /_emulator/users/{id}/contacts`: every contact of the mailbox, all folders, oldest
/// first, plus `folders` (the default Contacts folder first).
pub async fn list_contacts(
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, Problem> {
    let mut tenant = state.tenant();
    let (mb, _) = open(&mut tenant, &user)?;
    let nums = mb.all_contacts();
    let mut out = String::with_capacity(nums.len() * 900 + 512);
    out.push_str("{\"folders\":");
    out.push_str(&folders_json(&mb));
    out.push_str(",\"value\":[");
    for (i, n) in nums.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&contact_json(&mb, *n));
    }
    out.push_str("]}");
    Ok(json_text(StatusCode::OK, out))
}

/// `GET /_emulator/users/{id}/contactFolders`: every folder, the default one first.
pub async fn list_folders(
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, Problem> {
    let mut tenant = state.tenant();
    let (mb, _) = open(&mut tenant, &user)?;
    Ok(json_text(
        StatusCode::OK,
        format!("{{\"value\":{}}}", folders_json(&mb)),
    ))
}

/// `GET /_emulator/users/{id}/contactFolders/{fid}`.
pub async fn show_folder(
    State(state): State<AppState>,
    Path((user, fid)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let mut tenant = state.tenant();
    let (mb, _) = open(&mut tenant, &user)?;
    let num = mb.folder_num(&fid).map_err(|_| folder_not_found(&fid))?;
    Ok(json_text(StatusCode::OK, folder_json(&mb, num)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FolderBody {
    display_name: Option<String>,
    parent_folder_id: Option<String>,
    #[serde(rename = "@odata.type", default)]
    _odata_type: Option<String>,
}

fn folder_name(name: Option<&str>) -> Result<Option<&str>, Problem> {
    match name.map(str::trim) {
        Some("") => Err(bad_request("displayName cannot be empty")),
        Some(n) if n.chars().count() > 255 => {
            Err(bad_request("displayName: at most 255 characters"))
        }
        n => Ok(n),
    }
}

/// `POST /_emulator/users/{id}/contactFolders {"displayName", "parentFolderId"?}` → 201 with
/// the folder; without `parentFolderId` it goes under the default Contacts folder.
pub async fn create_folder(
    State(state): State<AppState>,
    Path(user): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let b: FolderBody = parse_body(&body)?;
    let name = folder_name(b.display_name.as_deref())?
        .ok_or_else(|| bad_request("displayName is required"))?;
    let mut tenant = state.tenant();
    let (mut mb, _) = open(&mut tenant, &user)?;
    let parent = match &b.parent_folder_id {
        Some(f) => body_folder(&mb, f)?,
        None => DEFAULT_FOLDER,
    };
    let num = mb.create_folder(name, parent)?;
    Ok(json_text(StatusCode::CREATED, folder_json(&mb, num)))
}

/// `PATCH /_emulator/users/{id}/contactFolders/{fid} {"displayName"?, "parentFolderId"?}`:
/// rename and/or move.
pub async fn update_folder(
    State(state): State<AppState>,
    Path((user, fid)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Problem> {
    let b: FolderBody = parse_body(&body)?;
    let name = folder_name(b.display_name.as_deref())?;
    let mut tenant = state.tenant();
    let (mut mb, _) = open(&mut tenant, &user)?;
    let num = mb.folder_num(&fid).map_err(|_| folder_not_found(&fid))?;
    let parent = b
        .parent_folder_id
        .as_deref()
        .map(|f| body_folder(&mb, f))
        .transpose()?;
    mb.update_folder(num, name, parent)?;
    Ok(json_text(StatusCode::OK, folder_json(&mb, num)))
}

/// `DELETE /_emulator/users/{id}/contactFolders/{fid}` → 204: the folder, its subfolders and
/// all their contacts go (delta shows each as `@removed`).
pub async fn delete_folder(
    State(state): State<AppState>,
    Path((user, fid)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let mut tenant = state.tenant();
    let (removed, user_id) = {
        let (mut mb, user_id) = open(&mut tenant, &user)?;
        let num = mb.folder_num(&fid).map_err(|_| folder_not_found(&fid))?;
        let removed: Vec<(String, String, u32)> = mb
            .delete_folder(num)?
            .into_iter()
            .map(|(c, folder)| (mb.contact_id(c), etag(&mb, c), folder))
            .collect();
        (removed, user_id)
    };
    for (cid, tag, folder) in removed {
        contact_changed(
            &state,
            &tenant,
            user_id,
            &cid,
            &tag,
            ContactEvent::Deleted { folder },
        );
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn outlook_view(state: &AppState) -> Response {
    let materialised = state.tenant().mailboxes.materialised();
    let config = state.limits().config.clone();
    Json(json!({
        "concurrency_limit": config.concurrency_limit,
        "latency_ms": config.latency_ms,
        "retry_after": config.retry_after,
        "in_flight": limits::in_flight(state),
        "materialised_mailboxes": materialised,
    }))
    .into_response()
}

pub async fn outlook_get(State(state): State<AppState>) -> Response {
    outlook_view(&state)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlookPatch {
    concurrency_limit: Option<u32>,
    latency_ms: Option<u64>,
    retry_after: Option<Value>,
}

/// `POST /_emulator/outlook {"concurrency_limit"?, "latency_ms"?, "retry_after"?}`: the
/// per-(app, mailbox) limit (Graph: 4), a delay every Outlook request spends holding its
/// slot (to make concurrency observable), and the 429's `Retry-After`.
pub async fn outlook_set(State(state): State<AppState>, body: Bytes) -> Result<Response, Problem> {
    let patch: OutlookPatch = parse_body(&body)?;
    if patch
        .concurrency_limit
        .is_some_and(|n| !(1..=1000).contains(&n))
    {
        return Err(bad_request("concurrency_limit must be 1..=1000"));
    }
    if patch.latency_ms.is_some_and(|n| n > 60_000) {
        return Err(bad_request("latency_ms must be at most 60000"));
    }
    let retry_after = match patch.retry_after {
        None => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(bad_request("retry_after must be a string or a number")),
    };
    if let Some(r) = &retry_after {
        HeaderValue::from_str(r)
            .map_err(|_| bad_request("retry_after is not a valid header value"))?;
    }
    {
        let mut l = state.limits();
        if let Some(n) = patch.concurrency_limit {
            l.config.concurrency_limit = n;
        }
        if let Some(n) = patch.latency_ms {
            l.config.latency_ms = n;
        }
        if let Some(r) = retry_after {
            l.config.retry_after = r;
        }
    }
    Ok(outlook_view(&state))
}
