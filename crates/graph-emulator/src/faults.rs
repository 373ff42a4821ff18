//! Scripted faults (`POST /_emulator/faults`) and the request counter, applied to every
//! Entra and Graph request (never to `/_emulator/*`), and to each request inside a `$batch`
//! (matched against its own path, counted apart).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use serde::Serialize;

use crate::entra::errors::{EntraCtx, EntraError};
use crate::graph::errors as graph_errors;
use crate::graph::headers::{GraphCtx, apply_graph_headers};
use crate::state::AppState;
use crate::stats::BatchItem;

/// One scripted fault.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub id: u64,
    pub path_prefix: String,
    /// Upper-case method, or `None` for any.
    pub method: Option<String>,
    /// 0 = delay only, then answer normally.
    pub status: u16,
    /// Sent verbatim as `Retry-After` (it may be fractional, §6.2).
    pub retry_after: Option<String>,
    pub latency_ms: u64,
    /// How many more requests this fault answers.
    pub remaining: u64,
    /// Body override: a JSON value is sent as JSON, a JSON string verbatim as text.
    pub body: Option<serde_json::Value>,
}

#[derive(Debug, Default)]
pub struct Faults {
    next_id: u64,
    pub queue: Vec<Fault>,
}

impl Faults {
    pub fn add(&mut self, mut fault: Fault) -> Fault {
        self.next_id += 1;
        fault.id = self.next_id;
        self.queue.push(fault.clone());
        fault
    }

    /// Takes one use of the first fault matching this request, oldest first.
    pub fn take(&mut self, method: &Method, path: &str) -> Option<Fault> {
        let idx = self.queue.iter().position(|f| {
            f.remaining > 0
                && starts_with_ignore_case(path, &f.path_prefix)
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
        })?;
        let fault = &mut self.queue[idx];
        fault.remaining -= 1;
        let taken = fault.clone();
        if fault.remaining == 0 {
            self.queue.remove(idx);
        }
        Some(taken)
    }
}

// Graph paths are case-insensitive, so prefixes are too.
fn starts_with_ignore_case(path: &str, prefix: &str) -> bool {
    path.len() >= prefix.len()
        && path.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Middleware: apply a matching fault, then count the request under its route pattern.
pub async fn faults_and_stats(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "(unmatched)".to_owned());
    let path = req.uri().path().to_owned();
    let batch_item = req.extensions().get::<BatchItem>().is_some();
    let fault = state.faults().take(&method, &path);
    let response = match fault {
        None => next.run(req).await,
        Some(fault) => {
            if fault.latency_ms > 0 {
                tokio::time::sleep(Duration::from_millis(fault.latency_ms)).await;
            }
            if fault.status == 0 {
                next.run(req).await
            } else {
                fault_response(&state, &fault, &path, req.headers())
            }
        }
    };
    let status = response.status().as_u16();
    if batch_item {
        state
            .stats()
            .record_batch_item(method.as_str(), &route, status);
    } else {
        state.stats().record(method.as_str(), &route, status);
    }
    response
}

fn fault_response(
    state: &AppState,
    fault: &Fault,
    path: &str,
    headers: &axum::http::HeaderMap,
) -> Response {
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let is_graph = starts_with_ignore_case(path, "/v1.0/") || path.eq_ignore_ascii_case("/v1.0");
    let mut response = if is_graph {
        let ctx = GraphCtx::new(state, headers);
        let response = match &fault.body {
            Some(body) => override_body(status, body),
            None => graph_errors::for_status(&ctx, status),
        };
        apply_graph_headers(&ctx, response)
    } else {
        let ctx = EntraCtx::new(state, headers);
        match &fault.body {
            Some(body) => override_body(status, body),
            None => EntraError::for_status(status).into_response(&ctx),
        }
    };
    if let Some(value) = fault
        .retry_after
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn override_body(status: StatusCode, body: &serde_json::Value) -> Response {
    match body {
        serde_json::Value::String(text) => (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            Body::from(text.clone()),
        )
            .into_response(),
        other => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            Body::from(other.to_string()),
        )
            .into_response(),
    }
}
