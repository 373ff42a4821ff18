//! Cross-cutting HTTP concerns: security headers, body limit, panic catching, request tracing
//! without query strings or secrets, request counters, health and metrics endpoints.

use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, body::Body};
use std::any::Any;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// Largest request body accepted (forms and JSON here are tiny). Enforced by the body
/// extractors, so an oversized API body gets a JSON 413 like every other API error.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// `form-action 'self'`: the "Sign in to Office 365" button is a same-origin link, not a form,
/// so the redirect to Microsoft's login host is a navigation that form-action does not govern.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'";

/// Wraps the router in the layers every response goes through.
pub(crate) fn apply(router: Router) -> Router {
    let header_layer = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    router
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(header_layer(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_layer(header::REFERRER_POLICY, "same-origin"))
        .layer(header_layer(header::X_FRAME_OPTIONS, "DENY"))
        .layer(SetSensitiveResponseHeadersLayer::new([header::SET_COOKIE]))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
                // The path only: query strings carry consent states and CSRF tokens.
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
            HeaderName::from_static(crate::auth::csrf::HEADER),
        ]))
        .layer(CatchPanicLayer::custom(panic_response))
}

fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Internal error: the server log has the details.",
    )
        .into_response()
}

/// Counts every request by matched route (not raw path, to bound the label set) and status.
pub(crate) async fn count_requests(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let response = next.run(req).await;
    metrics::counter!(
        "switchboard_http_requests_total",
        "route" => route,
        "method" => method,
        "status" => response.status().as_u16().to_string(),
    )
    .increment(1);
    response
}

/// `GET /healthz`: liveness, no authentication.
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /metrics`: Prometheus text, no authentication (scrapers do not log in). It carries
/// counts and durations only, no names, ids or secrets. This crate's own counters
/// (`switchboard_http_requests_total`) go through the `metrics` facade, so they appear here when
/// the binary's renderer is the installed Prometheus recorder.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.render_metrics(),
    )
        .into_response()
}

/// Unknown paths: JSON under `/api/`, a page elsewhere.
pub(crate) async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        crate::error::ApiError::new(
            StatusCode::NOT_FOUND,
            "No such API route: /api/v1/openapi.json lists them all.",
        )
        .into_response()
    } else {
        crate::console::error_page(
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is no page at this address.",
        )
    }
}

/// A known path with the wrong method: JSON under `/api/`, a page elsewhere.
pub(crate) async fn method_not_allowed(req: Request) -> Response {
    let message = format!("{} is not supported here.", req.method());
    if req.uri().path().starts_with("/api/") {
        crate::error::ApiError::new(StatusCode::METHOD_NOT_ALLOWED, message).into_response()
    } else {
        crate::console::error_page(StatusCode::METHOD_NOT_ALLOWED, "Not supported", &message)
    }
}
