//! What every Outlook route shares (graph-protocol.md §3, §6): the Contacts.Read check, the
//! user and mailbox lookup, the per-mailbox concurrency limit, Outlook's error bodies, and
//! the `Prefer` preferences.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};

use super::auth;
use super::errors::GraphError;
use super::headers::GraphCtx;
use super::users::user_not_found;
use crate::directory::Directory;
use crate::outlook::MailboxMut;
use crate::outlook::ids::IdProblem;
use crate::outlook::limits::{self, Slot};
use crate::state::{AppState, Tenant, lock};

/// Application permissions that read contacts (§3).
pub const READ_ROLES: &[&str] = &["Contacts.Read", "Contacts.ReadWrite"];
/// Application permissions that read calendars (§4.1).
pub const CALENDAR_ROLES: &[&str] = &["Calendars.Read", "Calendars.ReadWrite"];

/// 403 for an app without a contacts role: Outlook's code, not the directory's.
pub fn access_denied() -> GraphError {
    GraphError::new(
        StatusCode::FORBIDDEN,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
    )
}

/// 404 for a user without an Exchange Online mailbox (§3) [obs].
pub fn mailbox_not_enabled() -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "MailboxNotEnabledForRESTAPI",
        "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
    )
}

pub fn item_not_found() -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

pub fn invalid_url_query(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "ErrorInvalidUrlQuery", message)
}

/// A string that is no Exchange id at all is a 400; a well-formed id of nothing here a 404.
pub fn id_error(problem: IdProblem) -> GraphError {
    match problem {
        IdProblem::Malformed => GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidIdMalformed",
            "Id is malformed.",
        ),
        IdProblem::Foreign => item_not_found(),
    }
}

/// Why an Outlook request fails.
#[derive(Debug)]
pub enum Fail {
    Graph(GraphError),
    /// The mailbox concurrency 429: Outlook's body has no innerError (§6.1, §6.2).
    Throttled {
        retry_after: String,
    },
    /// 410 with a `Location` that restarts the delta round (§2.3).
    Gone {
        location: String,
    },
}

impl From<GraphError> for Fail {
    fn from(e: GraphError) -> Fail {
        Fail::Graph(e)
    }
}

impl Fail {
    pub fn render(self, ctx: &GraphCtx) -> Response {
        match self {
            Fail::Graph(e) => e.render(ctx),
            Fail::Throttled { retry_after } => {
                let body = r#"{"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit."}}"#;
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&retry_after) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
            Fail::Gone { location } => {
                let mut r = GraphError::new(
                    StatusCode::GONE,
                    "resyncRequired",
                    "The delta token is no longer valid, and the app must reset the sync state.",
                )
                .render(ctx);
                if let Ok(v) = HeaderValue::from_str(&location) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
        }
    }
}

/// Set on requests that run inside a `$batch`: the items of one wave run side by side, so
/// the mailbox slots they take are all held until the whole wave is answered; a batch with
/// more than 4 items for one mailbox therefore sees the extra ones throttled, as Graph does.
#[derive(Debug, Clone, Default)]
pub struct BatchWave(Arc<Mutex<Vec<Slot>>>);

impl BatchWave {
    fn hold(&self, slot: Slot) {
        lock(&self.0).push(slot);
    }

    /// Frees the slots of the wave.
    pub fn release(&self) {
        lock(&self.0).clear();
    }
}

/// The `Prefer` preferences as (lower-case name, value without quotes), in order.
pub fn prefer(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|item| {
            let (k, v) = item.split_once('=').unwrap_or((item, ""));
            (
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            )
        })
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// Adds one preference to `Preference-Applied`.
pub fn add_applied(response: &mut Response, preference: &str) {
    let value = match response
        .headers()
        .get("preference-applied")
        .and_then(|v| v.to_str().ok())
    {
        Some(old) if !old.is_empty() => format!("{old}, {preference}"),
        _ => preference.to_owned(),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert("preference-applied", v);
    }
}

/// Runs `work` on the mailbox of `user_key` after the checks every Outlook route makes, in
/// Graph's order: token, role, user, mailbox, concurrency.
pub async fn serve(
    state: &AppState,
    ctx: &GraphCtx,
    headers: &HeaderMap,
    user_key: &str,
    wave: Option<&BatchWave>,
    work: impl FnOnce(&mut MailboxMut<'_>, &Directory) -> Result<Response, Fail>,
) -> Response {
    serve_for(state, ctx, headers, user_key, wave, READ_ROLES, work).await
}

/// [`serve`] for a resource that needs one of `roles` (calendars: [`CALENDAR_ROLES`]). The
/// concurrency slots are per mailbox, whatever the resource (§6.2).
pub async fn serve_for(
    state: &AppState,
    ctx: &GraphCtx,
    headers: &HeaderMap,
    user_key: &str,
    wave: Option<&BatchWave>,
    roles: &[&str],
    work: impl FnOnce(&mut MailboxMut<'_>, &Directory) -> Result<Response, Fail>,
) -> Response {
    let mut held: Option<Slot> = None;
    let result = enter(state, ctx, headers, user_key, roles, &mut held).await;
    let result = result.and_then(|idx| {
        let mut tenant = state.tenant();
        let Tenant {
            directory,
            mailboxes,
            ..
        } = &mut *tenant;
        // The user may have gone while the request waited.
        let user = directory
            .find_live(user_key)
            .filter(|i| *i == idx)
            .and_then(|i| directory.user(i))
            .ok_or_else(|| user_not_found(user_key))?;
        let mut mb = mailboxes.open(idx, user).ok_or_else(mailbox_not_enabled)?;
        work(&mut mb, directory)
    });
    if let Some(slot) = held {
        match wave {
            Some(w) => w.hold(slot),
            None => drop(slot),
        }
    }
    let mut response = result.unwrap_or_else(|f| f.render(ctx));
    // Ids never change in the emulator, so immutable ids are simply confirmed (§3).
    if prefer(headers)
        .iter()
        .any(|(k, v)| k == "idtype" && v.eq_ignore_ascii_case("ImmutableId"))
    {
        add_applied(&mut response, "IdType=\"ImmutableId\"");
    }
    response
}

async fn enter(
    state: &AppState,
    ctx: &GraphCtx,
    headers: &HeaderMap,
    user_key: &str,
    roles: &[&str],
    held: &mut Option<Slot>,
) -> Result<u32, Fail> {
    let claims = auth::authenticate(state, ctx, headers)?;
    if !claims.has_any_role(roles) {
        return Err(access_denied().into());
    }
    let idx = {
        let tenant = state.tenant();
        let idx = tenant
            .directory
            .find_live(user_key)
            .ok_or_else(|| user_not_found(user_key))?;
        if !tenant.mailboxes.enabled(idx) {
            return Err(mailbox_not_enabled().into());
        }
        idx
    };
    let Some(slot) = limits::acquire(state, &claims.appid, idx) else {
        let retry_after = state.limits().config.retry_after.clone();
        return Err(Fail::Throttled { retry_after });
    };
    *held = Some(slot);
    let latency = state.limits().config.latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    Ok(idx)
}
