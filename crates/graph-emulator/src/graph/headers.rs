//! Per-request Graph context and the response headers every Graph answer carries (§7).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use jiff::Timestamp;

use crate::clock::http_date;
use crate::state::AppState;

/// Long-form OData JSON content type Graph sends (§7).
pub const GRAPH_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

const AGS_DIAGNOSTIC: &str = r#"{"ServerInfo":{"DataCenter":"Emulator","Slice":"E","Ring":"5","ScaleUnit":"003","RoleInstance":"EMU000000000001"}}"#;

/// Identifiers and time for one Graph request.
#[derive(Debug, Clone)]
pub struct GraphCtx {
    pub request_id: String,
    /// The client's `client-request-id`, else the same as `request_id` (§7).
    pub client_request_id: String,
    pub now: Timestamp,
    /// Base for absolute URLs (`@odata.context`, later nextLink/deltaLink).
    pub base: String,
}

impl GraphCtx {
    pub fn new(state: &AppState, headers: &HeaderMap) -> GraphCtx {
        let request_id = uuid::Uuid::new_v4().to_string();
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map_or_else(|| request_id.clone(), str::to_owned);
        GraphCtx {
            request_id,
            client_request_id,
            now: state.now(),
            base: state.request_base(headers),
        }
    }
}

impl FromRequestParts<AppState> for GraphCtx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(match parts.extensions.get::<GraphCtx>() {
            Some(ctx) => ctx.clone(),
            None => GraphCtx::new(state, &parts.headers),
        })
    }
}

/// Middleware: create the context, run the handler, then stamp the §7 headers.
pub async fn graph_envelope(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let ctx = GraphCtx::new(&state, req.headers());
    req.extensions_mut().insert(ctx.clone());
    let response = next.run(req).await;
    apply_graph_headers(&ctx, response)
}

pub fn apply_graph_headers(ctx: &GraphCtx, mut response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let h = response.headers_mut();
    if is_json {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(GRAPH_JSON));
    }
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        h.insert("request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&ctx.client_request_id) {
        h.insert("client-request-id", v);
    }
    h.insert(
        "x-ms-ags-diagnostic",
        HeaderValue::from_static(AGS_DIAGNOSTIC),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    h.insert("odata-version", HeaderValue::from_static("4.0"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if let Ok(v) = HeaderValue::from_str(&http_date(ctx.now)) {
        h.insert(header::DATE, v);
    }
    response
}
