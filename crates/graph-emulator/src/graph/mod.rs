//! The Microsoft Graph v1.0 half.

pub mod auth;
pub mod errors;
pub mod headers;
pub mod organization;
pub mod query;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware;
use axum::response::Response;
use axum::routing::{any, get};

use crate::state::AppState;
use headers::GraphCtx;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/v1.0/organization",
            get(organization::list).fallback(method_not_allowed),
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

/// Static path segments the Graph routes use, in their canonical case. Later resources
/// (users, delta, contactFolders, calendarView, subscriptions, $batch…) are added here.
const KNOWN_SEGMENTS: &[&str] = &["organization"];

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
    let segments: Vec<&str> = rest
        .split('/')
        .map(|seg| {
            KNOWN_SEGMENTS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(seg))
                .copied()
                .unwrap_or(seg)
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

/// The first segment no route knows, for the "Resource not found" message.
fn first_unknown_segment(path: &str) -> String {
    let rest = path.strip_prefix("/v1.0/").unwrap_or(path);
    let mut segments = rest.split('/').filter(|s| !s.is_empty());
    let first = segments.next().unwrap_or("");
    let seg = if KNOWN_SEGMENTS.contains(&first) {
        segments.next().unwrap_or(first)
    } else {
        first
    };
    percent_decode(seg)
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
