//! Groups in the emulated tenant: `/_emulator/groups[/{id}[/members/{memberId}]]`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Problem, bad_request, parse_body, problem};
use crate::clock::graph_date_time;
use crate::directory::generate::ascii_fold;
use crate::directory::{Directory, Group, Life, Member};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewGroup {
    id: Option<String>,
    display_name: String,
    description: Option<String>,
    mail_nickname: Option<String>,
    mail: Option<String>,
    #[serde(default)]
    mail_enabled: bool,
    security_enabled: Option<bool>,
    #[serde(default)]
    group_types: Vec<String>,
    /// Ids of users or groups.
    #[serde(default)]
    members: Vec<String>,
}

fn group_not_found(id: &str) -> Problem {
    problem(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no group with id '{id}'"),
    )
}

fn view(dir: &Directory, g: &Group) -> Value {
    let members: Vec<Value> = g
        .members
        .iter()
        .filter_map(|m| match *m {
            Member::User(u) => dir.user(u).map(|u| {
                json!({
                    "@odata.type": "#microsoft.graph.user",
                    "id": u.id.to_string(),
                    "softDeleted": u.life == Life::SoftDeleted,
                })
            }),
            Member::Group(x) => dir
                .group(x)
                .map(|x| json!({"@odata.type": "#microsoft.graph.group", "id": x.id.to_string()})),
        })
        .collect();
    json!({
        "id": g.id.to_string(),
        "displayName": g.display_name,
        "description": g.description,
        "mailNickname": g.mail_nickname,
        "mail": g.mail,
        "mailEnabled": g.mail_enabled,
        "securityEnabled": g.security_enabled,
        "groupTypes": g.group_types,
        "createdDateTime": jiff::Timestamp::from_second(g.created).map(graph_date_time).ok(),
        "members": members,
    })
}

/// A user (live or soft-deleted) or a group, by id.
fn resolve_member(dir: &Directory, id: &str) -> Result<Member, Problem> {
    if let Some(g) = dir.find_group(id) {
        return Ok(Member::Group(g));
    }
    dir.find(id)
        .filter(|u| dir.user(*u).is_some_and(|u| u.life != Life::Purged))
        .map(Member::User)
        .ok_or_else(|| {
            problem(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no user or group with id '{id}'"),
            )
        })
}

/// `POST /_emulator/groups` → 201.
pub async fn create(State(state): State<AppState>, body: Bytes) -> Result<Response, Problem> {
    let new: NewGroup = parse_body(&body)?;
    if new.display_name.trim().is_empty() {
        return Err(bad_request("displayName must not be empty"));
    }
    let now = state.now().as_second();
    let mut tenant = state.tenant();
    let id = match new.id {
        Some(text) => Uuid::parse_str(text.trim())
            .map_err(|_| bad_request(format!("id '{text}' is not a GUID")))?,
        None => Uuid::parse_str(&tenant.new_guid()).unwrap_or_else(|_| Uuid::new_v4()),
    };
    let dir = &mut tenant.directory;
    let mut members = Vec::new();
    for m in &new.members {
        let member = resolve_member(dir, m)?;
        if !members.contains(&member) {
            members.push(member);
        }
    }
    let nickname = new
        .mail_nickname
        .unwrap_or_else(|| ascii_fold(&new.display_name.replace(' ', "")));
    let group = Group {
        id,
        display_name: new.display_name,
        description: new.description,
        mail_nickname: nickname,
        mail: new.mail,
        mail_enabled: new.mail_enabled,
        security_enabled: new.security_enabled.unwrap_or(!new.mail_enabled),
        group_types: new.group_types,
        created: now,
        members,
    };
    let idx = dir.add_group(group)?;
    let body = dir.group(idx).map(|g| view(dir, g)).unwrap_or(Value::Null);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn list(State(state): State<AppState>) -> Response {
    let tenant = state.tenant();
    let dir = &tenant.directory;
    let value: Vec<Value> = dir.groups().iter().map(|g| view(dir, g)).collect();
    Json(json!({ "value": value })).into_response()
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let tenant = state.tenant();
    let dir = &tenant.directory;
    let g = dir
        .find_group(&id)
        .and_then(|i| dir.group(i))
        .ok_or_else(|| group_not_found(&id))?;
    Ok(Json(view(dir, g)).into_response())
}

pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let mut tenant = state.tenant();
    let dir = &mut tenant.directory;
    let idx = dir.find_group(&id).ok_or_else(|| group_not_found(&id))?;
    dir.remove_group(idx)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /_emulator/groups/{id}/members/{memberId}` → 204; 409 when already a member.
pub async fn add_member(
    State(state): State<AppState>,
    Path((id, member_id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let mut tenant = state.tenant();
    let dir = &mut tenant.directory;
    let idx = dir.find_group(&id).ok_or_else(|| group_not_found(&id))?;
    let member = resolve_member(dir, &member_id)?;
    if member == Member::Group(idx) {
        return Err(bad_request("a group cannot be a member of itself"));
    }
    let group = dir.group_mut(idx).ok_or_else(|| group_not_found(&id))?;
    if group.members.contains(&member) {
        return Err(problem(
            StatusCode::CONFLICT,
            "conflict",
            format!("'{member_id}' is already a member of group '{id}'"),
        ));
    }
    group.members.push(member);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /_emulator/groups/{id}/members/{memberId}` → 204; 404 when not a member.
pub async fn remove_member(
    State(state): State<AppState>,
    Path((id, member_id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let mut tenant = state.tenant();
    let dir = &mut tenant.directory;
    let idx = dir.find_group(&id).ok_or_else(|| group_not_found(&id))?;
    let member = resolve_member(dir, &member_id)?;
    let group = dir.group_mut(idx).ok_or_else(|| group_not_found(&id))?;
    let before = group.members.len();
    group.members.retain(|m| *m != member);
    if group.members.len() == before {
        return Err(problem(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("'{member_id}' is not a direct member of group '{id}'"),
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
