//! The Microsoft Graph v1.0 half.

pub mod auth;
pub mod batch;
pub mod calendar;
pub mod contacts;
pub mod delta;
pub mod errors;
pub mod filter;
pub mod groups;
pub mod headers;
pub mod mailbox_settings;
pub mod organization;
pub mod outlook;
pub mod paging;
pub mod query;
pub mod subscriptions;
pub mod users;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware;
use axum::response::Response;
use axum::routing::{any, get, post};

use crate::state::AppState;
use headers::GraphCtx;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/v1.0/organization",
            get(organization::list).fallback(method_not_allowed),
        )
        .route("/v1.0/users", get(users::list).fallback(method_not_allowed))
        .route(
            "/v1.0/users/$count",
            get(users::count).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/delta",
            get(delta::delta).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}",
            get(users::get).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/contactFolders",
            get(contacts::folders).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/contactFolders/delta",
            get(contacts::folders_delta_route).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/contactFolders/{fid}",
            get(contacts::folder).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/contactFolders/{fid}/childFolders",
            get(contacts::child_folders).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/contactFolders/{fid}/childFolders/{*rest}",
            get(contacts::nested).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/contactFolders/{fid}/contacts",
            get(contacts::folder_contacts).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/contactFolders/{fid}/contacts/delta",
            get(contacts::folder_contacts_delta).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/contactFolders/{fid}/contacts/{cid}",
            get(contacts::folder_contact).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/contacts",
            get(contacts::contacts).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/contacts/delta",
            get(contacts::contacts_delta_route).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/contacts/{cid}",
            get(contacts::contact).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/calendarView",
            get(calendar::view).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/calendarView/delta",
            get(calendar::view_delta).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/calendar/calendarView",
            get(calendar::view).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/calendar/calendarView/delta",
            get(calendar::view_delta).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/mailboxSettings",
            get(mailbox_settings::settings).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/mailboxSettings/timeZone",
            get(mailbox_settings::time_zone).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/events",
            get(calendar::events).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/calendar/events",
            get(calendar::events).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/events/{eid}",
            get(calendar::event).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/users/{id}/calendar/events/{eid}",
            get(calendar::event).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/$batch",
            post(batch::batch).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/groups",
            get(groups::list).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/groups/{id}",
            get(groups::get).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/groups/{id}/members",
            get(groups::members).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/groups/{id}/members/microsoft.graph.user",
            get(groups::members_users).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/groups/{id}/members/microsoft.graph.group",
            get(groups::members_groups).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/groups/{id}/transitiveMembers",
            get(groups::transitive).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/groups/{id}/transitiveMembers/microsoft.graph.user",
            get(groups::transitive_users).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/groups/{id}/transitiveMembers/microsoft.graph.group",
            get(groups::transitive_groups).fallback(method_not_allowed),
        )
        .route(
            "/v1.0/subscriptions",
            get(subscriptions::list)
                .post(subscriptions::create)
                .fallback(method_not_allowed),
        )
        .route(
            "/v1.0/subscriptions/{id}",
            get(subscriptions::get)
                .patch(subscriptions::update)
                .delete(subscriptions::remove)
                .fallback(method_not_allowed),
        )
        .route(
            "/v1.0/subscriptions/{id}/reauthorize",
            post(subscriptions::reauthorize).fallback(method_not_allowed),
        )
        .route("/v1.0/{*rest}", any(unknown_segment))
        .fallback(unknown_version)
        .layer(middleware::from_fn_with_state(
            state,
            headers::graph_envelope,
        ))
}

/// Graph checks the token before it resolves the path, so unknown paths still need one.
async fn unknown_segment(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(e) = auth::authenticate(&state, &ctx, &headers) {
        return e.render(&ctx);
    }
    let segment = first_unknown_segment(uri.path());
    errors::error(
        &ctx,
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("Resource not found for the segment '{segment}'."),
    )
}

/// Static path segments the Graph routes use, in their canonical case.
const KNOWN_SEGMENTS: &[&str] = &[
    "$batch",
    "calendar",
    "calendarView",
    "events",
    "contactFolders",
    "childFolders",
    "contacts",
    "organization",
    "users",
    "groups",
    "delta",
    "$count",
    "members",
    "transitiveMembers",
    "microsoft.graph.user",
    "microsoft.graph.group",
    "subscriptions",
    "reauthorize",
    "mailboxSettings",
    "timeZone",
];

/// Other spellings of a segment: `/delta` is short for `/microsoft.graph.delta`, and the
/// SDKs call functions with parentheses (`delta()`).
const SEGMENT_ALIASES: &[(&str, &str)] = &[
    ("microsoft.graph.delta", "delta"),
    ("microsoft.graph.delta()", "delta"),
    ("delta()", "delta"),
    ("%24count", "$count"),
    ("%24batch", "$batch"),
];

/// Segments after which the next one is an object id, not a resource name.
const COLLECTIONS: &[&str] = &[
    "users",
    "groups",
    "subscriptions",
    "contactFolders",
    "childFolders",
    "contacts",
    "events",
];

fn canonical_segment(seg: &str) -> Option<&'static str> {
    KNOWN_SEGMENTS
        .iter()
        .find(|k| k.eq_ignore_ascii_case(seg))
        .copied()
        .or_else(|| {
            SEGMENT_ALIASES
                .iter()
                .find(|(alias, _)| alias.eq_ignore_ascii_case(seg))
                .map(|(_, canonical)| *canonical)
        })
}

/// Graph resolves path segments case-insensitively (`/calendarview` works like
/// `/calendarView`) and ignores one trailing slash, while the router is exact: rewrite
/// `/v1.0/…` paths to the canonical spelling before routing.
pub fn canonicalize_request(mut req: Request) -> Request {
    let path = req.uri().path();
    let Some(rest) = path
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("/v1.0/"))
        .map(|_| &path[6..])
    else {
        return req;
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let mut after_collection = false;
    let segments: Vec<&str> = rest
        .split('/')
        .map(|seg| {
            // `/users/{id}`: an id is kept as sent, even one that spells "delta" oddly.
            let canonical = if after_collection {
                canonical_segment(seg).filter(|c| matches!(*c, "delta" | "$count"))
            } else {
                canonical_segment(seg)
            };
            after_collection = canonical.is_some_and(|c| COLLECTIONS.contains(&c));
            canonical.unwrap_or(seg)
        })
        .collect();
    let canonical = format!("/v1.0/{}", segments.join("/"));
    if canonical == path {
        return req;
    }
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{canonical}?{q}"),
        None => canonical,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// The first segment no route knows, for the "Resource not found" message: known names and
/// the id after a collection are skipped.
fn first_unknown_segment(path: &str) -> String {
    let rest = path.strip_prefix("/v1.0/").unwrap_or(path);
    let mut id_next = false;
    let mut last = "";
    for seg in rest.split('/').filter(|s| !s.is_empty()) {
        last = seg;
        if id_next {
            id_next = false;
            continue;
        }
        match canonical_segment(seg) {
            Some(known) => id_next = COLLECTIONS.contains(&known),
            None => return percent_decode(seg),
        }
    }
    percent_decode(last)
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

async fn method_not_allowed(ctx: GraphCtx) -> Response {
    // [obs] directory endpoints answer 405 with this code and message.
    errors::error(
        &ctx,
        StatusCode::METHOD_NOT_ALLOWED,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request target.",
    )
}

/// Anything outside `/v1.0/…`, `/_emulator/…` and the login paths, e.g. `/beta/…`.
async fn unknown_version(ctx: GraphCtx, uri: Uri) -> Response {
    let first = uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    errors::error(
        &ctx,
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("Invalid version: {}", percent_decode(first)),
    )
}
