//! Users in the emulated tenant: `/_emulator/users[/{id}[/restore]]`. Bodies are Graph user
//! JSON with Graph property names (DESIGN.md §6).

use axum::body::Bytes;
use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Problem, bad_request, parse_body, problem};
use crate::directory::generate::ascii_fold;
use crate::directory::packed::MAX_VALUE_LEN;
use crate::directory::props::{self, Kind, LIST_SEPARATOR, slot};
use crate::directory::{Change, DirError, Life, NewUser, User, json};
use crate::outlook::tz::Zone;
use crate::state::{AppState, Tenant};
use crate::subscriptions::{UserEvent, user_changed};

/// Longest string the control API accepts for one property [inf: Graph's own limits are
/// 64–256 for most user strings].
const MAX_LEN: usize = 1024;

impl From<DirError> for Problem {
    fn from(e: DirError) -> Problem {
        match e {
            DirError::NotFound(m) => problem(StatusCode::NOT_FOUND, "not_found", m),
            DirError::Conflict(m) => problem(StatusCode::CONFLICT, "conflict", m),
            DirError::Invalid(m) => bad_request(m),
        }
    }
}

fn user_not_found(id: &str) -> Problem {
    problem(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no user with id or userPrincipalName '{id}'"),
    )
}

fn json_text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The control view of a user: every modelled property, `softDeleted`, `mailboxEnabled`.
fn push_user(out: &mut String, tenant: &Tenant, idx: u32, user: &User) {
    json::push_control_user(out, user);
    // `mailboxEnabled` is the emulator's, not a Graph property: it goes last.
    out.pop();
    out.push_str(",\"mailboxEnabled\":");
    out.push_str(if tenant.mailboxes.enabled(idx) {
        "true}"
    } else {
        "false}"
    });
}

fn user_response(tenant: &Tenant, idx: u32, status: StatusCode) -> Response {
    let mut out = String::new();
    if let Some(user) = tenant.directory.user(idx) {
        push_user(&mut out, tenant, idx, user);
    }
    json_text(status, out)
}

/// The validated content of a user body.
#[derive(Debug, Default)]
struct UserBody {
    id: Option<Uuid>,
    /// The emulator's own switch: whether the user has an Exchange mailbox.
    mailbox_enabled: Option<bool>,
    /// `mailboxSettings/timeZone`: `Some(None)` clears it (back to the usageLocation zone).
    mailbox_time_zone: Option<Option<String>>,
    created: Option<i64>,
    changes: Vec<Change>,
}

fn text_value(name: &str, value: &Value) -> Result<Option<String>, Problem> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => {
            if s.is_empty() {
                return Err(bad_request(format!(
                    "{name}: an empty string is not a value; send null to clear it"
                )));
            }
            if s.chars().count() > MAX_LEN {
                return Err(bad_request(format!(
                    "{name}: longer than {MAX_LEN} characters"
                )));
            }
            if s.contains(LIST_SEPARATOR) {
                return Err(bad_request(format!("{name}: control character U+001F")));
            }
            Ok(Some(s.clone()))
        }
        other => Err(bad_request(format!(
            "{name}: expected a string or null, got {other}"
        ))),
    }
}

fn check_upn(upn: &str) -> Result<(), Problem> {
    let ok = upn.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !upn.chars().any(char::is_whitespace)
    });
    if ok {
        Ok(())
    } else {
        Err(bad_request(format!(
            "userPrincipalName '{upn}' is not of the form alias@domain (no spaces)"
        )))
    }
}

fn parse_user_body(body: &Map<String, Value>, creating: bool) -> Result<UserBody, Problem> {
    let mut out = UserBody::default();
    for (key, value) in body {
        if key.starts_with('@') || key == "passwordProfile" {
            // OData annotations and the password a real create needs: accepted, unused.
            continue;
        }
        match key.as_str() {
            "mailboxEnabled" => {
                let v = value
                    .as_bool()
                    .ok_or_else(|| bad_request("mailboxEnabled: expected true or false"))?;
                out.mailbox_enabled = Some(v);
                continue;
            }
            "mailboxTimeZone" => {
                let zone = text_value(key, value)?;
                if let Some(name) = &zone
                    && Zone::parse(name).is_none()
                {
                    return Err(bad_request(format!(
                        "mailboxTimeZone: '{name}' is not a Windows or IANA time zone name"
                    )));
                }
                out.mailbox_time_zone = Some(zone);
                continue;
            }
            "id" => {
                let text = value
                    .as_str()
                    .ok_or_else(|| bad_request("id: expected a GUID string"))?;
                let id = Uuid::parse_str(text)
                    .map_err(|_| bad_request(format!("id '{text}' is not a GUID")))?;
                out.id = Some(id);
                continue;
            }
            "createdDateTime" if creating => {
                let text = value
                    .as_str()
                    .ok_or_else(|| bad_request("createdDateTime: expected an RFC 3339 string"))?;
                let t = text.parse::<Timestamp>().map_err(|e| {
                    bad_request(format!("createdDateTime '{text}' is not RFC 3339: {e}"))
                })?;
                out.created = Some(t.as_second());
                continue;
            }
            _ => {}
        }
        let Some(id) = props::PROPS.iter().position(|p| p.name == key.as_str()) else {
            return Err(match props::by_name(key) {
                Some(p) => bad_request(format!(
                    "unknown property '{key}'; did you mean '{}'? (names are case-sensitive)",
                    props::prop(p).name
                )),
                None => bad_request(format!("unknown property '{key}' on microsoft.graph.user")),
            });
        };
        let prop = &props::PROPS[id];
        match prop.kind {
            Kind::Text(s) => {
                let v = text_value(key, value)?;
                if s == slot::USER_PRINCIPAL_NAME {
                    let upn = v
                        .as_deref()
                        .ok_or_else(|| bad_request("userPrincipalName cannot be null"))?;
                    check_upn(upn)?;
                }
                if s == slot::USER_TYPE && !matches!(v.as_deref(), Some("Member" | "Guest")) {
                    return Err(bad_request("userType: \"Member\" or \"Guest\""));
                }
                if s == slot::MAIL && v.as_deref().is_some_and(|m| !m.contains('@')) {
                    return Err(bad_request("mail: an e-mail address or null"));
                }
                if s == slot::DISPLAY_NAME && v.is_none() {
                    return Err(bad_request("displayName cannot be null"));
                }
                out.changes.push(Change::Text(s, v));
            }
            Kind::List(s) => {
                let items = match value {
                    Value::Null => Vec::new(),
                    Value::Array(items) => items
                        .iter()
                        .map(|i| {
                            text_value(key, i)?
                                .ok_or_else(|| bad_request(format!("{key}: null inside the list")))
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    other => {
                        return Err(bad_request(format!(
                            "{key}: expected an array of strings or null, got {other}"
                        )));
                    }
                };
                if s == slot::BUSINESS_PHONES && items.len() > 1 {
                    // "Only one number can be set for this property" (resources/user.md).
                    return Err(bad_request("businessPhones: only one number can be set"));
                }
                let joined = items.join(&LIST_SEPARATOR.to_string());
                if joined.len() > MAX_VALUE_LEN {
                    return Err(bad_request(format!("{key}: too long")));
                }
                out.changes
                    .push(Change::Text(s, (!items.is_empty()).then_some(joined)));
            }
            Kind::AccountEnabled => {
                let v = value
                    .as_bool()
                    .ok_or_else(|| bad_request("accountEnabled: expected true or false"))?;
                out.changes.push(Change::AccountEnabled(v));
            }
            Kind::ExtensionAttributes => {
                let Some(map) = value.as_object() else {
                    return Err(bad_request(
                        "onPremisesExtensionAttributes: expected an object of extensionAttribute1…15",
                    ));
                };
                for (k, v) in map {
                    let n = k
                        .strip_prefix("extensionAttribute")
                        .and_then(|n| n.parse::<u8>().ok())
                        .filter(|n| (1..=15).contains(n))
                        .ok_or_else(|| {
                            bad_request(format!(
                                "onPremisesExtensionAttributes: unknown key '{k}' (extensionAttribute1…15)"
                            ))
                        })?;
                    let text = text_value(k, v)?;
                    out.changes
                        .push(Change::Text(slot::EXTENSION_ATTRIBUTE_1 + n - 1, text));
                }
            }
            Kind::Id | Kind::CreatedDateTime | Kind::DeletedDateTime => {
                return Err(bad_request(format!(
                    "{key} is read-only here (deletedDateTime: use DELETE /_emulator/users/{{id}})"
                )));
            }
            Kind::Fixed(v) => {
                return Err(bad_request(format!(
                    "{key} is not modelled by the emulator (it always reads as {v})"
                )));
            }
            Kind::NotInCollection => {
                return Err(bad_request(format!(
                    "{key} is not modelled by the emulator (it reads as null)"
                )));
            }
        }
    }
    Ok(out)
}

fn body_object(body: &[u8]) -> Result<Map<String, Value>, Problem> {
    match parse_body::<Value>(body)? {
        Value::Object(map) => Ok(map),
        _ => Err(bad_request(
            "a JSON object with Graph user properties is expected",
        )),
    }
}

/// `POST /_emulator/users` → 201 with the user.
pub async fn create(State(state): State<AppState>, body: Bytes) -> Result<Response, Problem> {
    let map = body_object(&body)?;
    let parsed = parse_user_body(&map, true)?;
    let now = state.now().as_second();
    let mut tenant = state.tenant();
    let mut values: Vec<(u8, String)> = Vec::new();
    let mut enabled = true;
    for change in parsed.changes {
        match change {
            Change::Text(s, Some(v)) => {
                values.retain(|(x, _)| *x != s);
                values.push((s, v));
            }
            Change::Text(s, None) => values.retain(|(x, _)| *x != s),
            Change::AccountEnabled(v) => enabled = v,
        }
    }
    let has = |values: &[(u8, String)], s: u8| values.iter().any(|(x, _)| *x == s);
    let get = |values: &[(u8, String)], s: u8| {
        values.iter().find(|(x, _)| *x == s).map(|(_, v)| v.clone())
    };
    let display = match get(&values, slot::DISPLAY_NAME) {
        Some(d) => d,
        None => {
            let joined = [slot::GIVEN_NAME, slot::SURNAME]
                .iter()
                .filter_map(|s| get(&values, *s))
                .collect::<Vec<_>>()
                .join(" ");
            if joined.is_empty() {
                return Err(bad_request(
                    "displayName is required (or givenName/surname to build it from)",
                ));
            }
            values.push((slot::DISPLAY_NAME, joined.clone()));
            joined
        }
    };
    if !has(&values, slot::USER_PRINCIPAL_NAME) {
        let base = get(&values, slot::MAIL_NICKNAME)
            .map(|n| ascii_fold(&n))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| {
                let parts: Vec<String> = display.split_whitespace().map(ascii_fold).collect();
                parts.join(".")
            });
        let base = if base.is_empty() {
            "user".to_owned()
        } else {
            base
        };
        let domain = tenant.domain.clone();
        let mut upn = format!("{base}@{domain}");
        let mut n = 2;
        while tenant.directory.find_upn(&upn).is_some() {
            upn = format!("{base}{n}@{domain}");
            n += 1;
        }
        values.push((slot::USER_PRINCIPAL_NAME, upn));
    }
    if !has(&values, slot::MAIL_NICKNAME)
        && let Some(upn) = get(&values, slot::USER_PRINCIPAL_NAME)
    {
        let local = upn.split('@').next().unwrap_or_default().to_owned();
        values.push((slot::MAIL_NICKNAME, local));
    }
    if !has(&values, slot::USER_TYPE) {
        values.push((slot::USER_TYPE, "Member".to_owned()));
    }
    let id = match parsed.id {
        Some(id) => id,
        None => Uuid::parse_str(&tenant.new_guid()).unwrap_or_else(|_| Uuid::new_v4()),
    };
    let idx = tenant.directory.create(NewUser {
        id,
        created: parsed.created.unwrap_or(now),
        account_enabled: enabled,
        values,
    })?;
    tenant
        .mailboxes
        .reset(idx, parsed.mailbox_enabled.unwrap_or(true));
    if let Some(zone) = parsed.mailbox_time_zone {
        tenant.mailboxes.set_time_zone(idx, zone);
    }
    user_changed(&state, &mut tenant, id, UserEvent::Upserted);
    Ok(user_response(&tenant, idx, StatusCode::CREATED))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    offset: Option<usize>,
    limit: Option<usize>,
}

const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = 100_000;

/// `GET /_emulator/users[?offset=&limit=]`: the whole tenant, soft-deleted users included
/// (`softDeleted: true`), in pages of `limit` (default 1000, at most 100,000) with a
/// `nextLink` while more remain. `offset` is a position in the tenant, not a count.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<QueryParams<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let QueryParams(params) =
        params.map_err(|e| bad_request(format!("query: {e} (offset, limit)")))?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad_request(format!("limit must be 1..={MAX_LIMIT}")));
    }
    let base = state.request_base(&headers);
    let tenant = state.tenant();
    let dir = &tenant.directory;
    let (live, soft, _) = dir.counts();
    let users = dir.users();
    let mut out = String::with_capacity(limit.min(users.len()) * 900 + 128);
    out.push_str("{\"total\":");
    out.push_str(&(live + soft).to_string());
    out.push_str(",\"value\":[");
    let mut taken = 0;
    let mut next = None;
    for (pos, user) in users.iter().enumerate().skip(params.offset.unwrap_or(0)) {
        if user.life == Life::Purged {
            continue;
        }
        if taken == limit {
            next = Some(pos);
            break;
        }
        if taken > 0 {
            out.push(',');
        }
        push_user(
            &mut out,
            &tenant,
            u32::try_from(pos).unwrap_or(u32::MAX),
            user,
        );
        taken += 1;
    }
    out.push(']');
    if let Some(pos) = next {
        out.push_str(",\"nextLink\":");
        json::push_str(
            &mut out,
            &format!("{base}/_emulator/users?offset={pos}&limit={limit}"),
        );
    }
    out.push('}');
    Ok(json_text(StatusCode::OK, out))
}

/// `GET /_emulator/users/{id | upn}`, soft-deleted users included.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let tenant = state.tenant();
    let dir = &tenant.directory;
    let idx = dir
        .find(&id)
        .filter(|i| dir.user(*i).is_some_and(|u| u.life != Life::Purged))
        .ok_or_else(|| user_not_found(&id))?;
    Ok(user_response(&tenant, idx, StatusCode::OK))
}

/// `PATCH /_emulator/users/{id | upn}`: only the properties sent change.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let map = body_object(&body)?;
    let parsed = parse_user_body(&map, false)?;
    let mut tenant = state.tenant();
    let dir = &mut tenant.directory;
    let idx = dir.find(&id).ok_or_else(|| user_not_found(&id))?;
    let user = dir.user(idx).ok_or_else(|| user_not_found(&id))?;
    match user.life {
        Life::Live => {}
        Life::SoftDeleted => {
            return Err(problem(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("user '{id}' is soft-deleted; POST /_emulator/users/{id}/restore first"),
            ));
        }
        Life::Purged => return Err(user_not_found(&id)),
    }
    if let Some(body_id) = parsed.id
        && body_id != user.id
    {
        return Err(bad_request("id in the body differs from the user's id"));
    }
    let user_id = user.id;
    if dir.update(idx, parsed.changes)? {
        user_changed(&state, &mut tenant, user_id, UserEvent::Upserted);
    }
    if let Some(enabled) = parsed.mailbox_enabled {
        tenant.mailboxes.set_enabled(idx, enabled);
    }
    if let Some(zone) = parsed.mailbox_time_zone {
        tenant.mailboxes.set_time_zone(idx, zone);
    }
    Ok(user_response(&tenant, idx, StatusCode::OK))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteParams {
    #[serde(default)]
    permanent: bool,
}

/// `DELETE /_emulator/users/{id}[?permanent=true]` → 204. Soft deletion shows in delta as
/// `@removed: changed`; permanent deletion as `deleted`.
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<QueryParams<DeleteParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let QueryParams(params) =
        params.map_err(|e| bad_request(format!("query: {e} (permanent=true|false)")))?;
    let now = state.now().as_second();
    let mut tenant = state.tenant();
    let dir = &mut tenant.directory;
    let idx = dir.find(&id).ok_or_else(|| user_not_found(&id))?;
    let user_id = dir.user(idx).map(|u| u.id);
    let event = if params.permanent {
        dir.purge(idx)?;
        // A purged user's mailbox goes with it; a user re-created with this id starts empty.
        let enabled = tenant.mailboxes.enabled(idx);
        tenant.mailboxes.reset(idx, enabled);
        UserEvent::Purged
    } else {
        dir.soft_delete(idx, now)?;
        UserEvent::SoftDeleted
    };
    if let Some(user_id) = user_id {
        user_changed(&state, &mut tenant, user_id, event);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /_emulator/users/{id}/restore` → 200 with the user.
pub async fn restore(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let mut tenant = state.tenant();
    let dir = &mut tenant.directory;
    let idx = dir.find(&id).ok_or_else(|| user_not_found(&id))?;
    dir.restore(idx)?;
    if let Some(user_id) = dir.user(idx).map(|u| u.id) {
        user_changed(&state, &mut tenant, user_id, UserEvent::Upserted);
    }
    Ok(user_response(&tenant, idx, StatusCode::OK))
}
