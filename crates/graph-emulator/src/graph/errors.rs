//! Graph error bodies (graph-protocol.md §6.1, §6.2).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use serde::Serialize;

use super::headers::GraphCtx;
use crate::clock::inner_error_date;

#[derive(Serialize)]
struct Envelope<E> {
    error: E,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(rename = "innerError")]
    inner_error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    date: String,
    #[serde(rename = "request-id")]
    request_id: &'a str,
    #[serde(rename = "client-request-id")]
    client_request_id: &'a str,
}

/// The documented 429 sample body, key order included (§6.2).
#[derive(Serialize)]
struct ThrottleBody<'a> {
    code: &'a str,
    #[serde(rename = "innerError")]
    inner_error: ThrottleInner<'a>,
    message: &'a str,
}

#[derive(Serialize)]
struct ThrottleInner<'a> {
    code: &'a str,
    date: String,
    message: &'a str,
    #[serde(rename = "request-id")]
    request_id: &'a str,
    status: &'a str,
}

/// A Graph failure not yet rendered (rendering needs the request's [`GraphCtx`]).
#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> GraphError {
        GraphError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> GraphError {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> GraphError {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    /// 403 for a directory call without a suitable role (§1.6).
    pub fn insufficient_privileges() -> GraphError {
        Self::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    pub fn render(&self, ctx: &GraphCtx) -> Response {
        if self.status == StatusCode::UNAUTHORIZED {
            unauthenticated(ctx, &self.message)
        } else {
            error(ctx, self.status, self.code, &self.message)
        }
    }
}

fn json(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// `{"error":{"code","message","innerError":{date,request-id,client-request-id}}}`.
pub fn error(ctx: &GraphCtx, status: StatusCode, code: &str, message: &str) -> Response {
    let body = Envelope {
        error: ErrorBody {
            code,
            message,
            inner_error: Inner {
                date: inner_error_date(ctx.now),
                request_id: &ctx.request_id,
                client_request_id: &ctx.client_request_id,
            },
        },
    };
    json(status, serde_json::to_string(&body).unwrap_or_default())
}

/// 401 with the `WWW-Authenticate` challenge Graph sends (§6.1), pointing at this emulator's
/// login host instead of login.microsoftonline.com [inf].
pub fn unauthenticated(ctx: &GraphCtx, message: &str) -> Response {
    let mut response = error(
        ctx,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
    );
    let challenge = format!(
        "Bearer realm=\"\", authorization_uri=\"{}/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
        ctx.base
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

pub fn throttled(ctx: &GraphCtx) -> Response {
    let body = Envelope {
        error: ThrottleBody {
            code: "TooManyRequests",
            inner_error: ThrottleInner {
                code: "429",
                date: inner_error_date(ctx.now),
                message: "Please retry after",
                request_id: &ctx.request_id,
                status: "429",
            },
            message: "Please retry again later.",
        },
    };
    json(
        StatusCode::TOO_MANY_REQUESTS,
        serde_json::to_string(&body).unwrap_or_default(),
    )
}

/// Protocol-shaped body for a scripted fault with this status.
pub fn for_status(ctx: &GraphCtx, status: StatusCode) -> Response {
    // Messages for 503/504/others are the emulator's own [inf]; codes are from errors.md.
    let (code, message) = match status.as_u16() {
        429 => return throttled(ctx),
        401 => {
            return unauthenticated(ctx, "Access token has expired or is not yet valid.");
        }
        403 => return GraphError::insufficient_privileges().render(ctx),
        503 => (
            "serviceNotAvailable",
            "The service is temporarily unavailable. Please retry later.",
        ),
        504 => ("gatewayTimeout", "The request timed out."),
        400 => ("BadRequest", "The request is malformed or incorrect."),
        404 => ("itemNotFound", "The requested resource does not exist."),
        409 => (
            "conflict",
            "The current state conflicts with what the request expects.",
        ),
        s if s >= 500 => ("generalException", "An unspecified error has occurred."),
        _ => ("invalidRequest", "The request is malformed or incorrect."),
    };
    error(ctx, status, code, message)
}
