//! Entra token-endpoint error bodies (graph-protocol.md §1.4) and response headers (§1.3).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse as _, Response};
use jiff::Timestamp;
use serde::Serialize;

use crate::clock::entra_timestamp;
use crate::state::AppState;

/// Per-request identifiers and time, shared by every Entra answer to one request.
#[derive(Debug, Clone)]
pub struct EntraCtx {
    pub base: String,
    pub now: Timestamp,
    pub trace_id: String,
    /// Entra echoes MSAL's `client-request-id` as the correlation id [obs]; else a new GUID.
    pub correlation_id: String,
}

impl EntraCtx {
    pub fn new(state: &AppState, headers: &HeaderMap) -> EntraCtx {
        let correlation_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| uuid::Uuid::parse_str(v.trim()).ok())
            .unwrap_or_else(uuid::Uuid::new_v4)
            .to_string();
        EntraCtx {
            base: state.request_base(headers),
            now: state.now(),
            trace_id: uuid::Uuid::new_v4().to_string(),
            correlation_id,
        }
    }

    /// Adds the token-endpoint headers observed on login.microsoftonline.com (§1.3).
    pub fn apply_headers(&self, response: &mut Response) {
        let h = response.headers_mut();
        let fixed: [(&str, &str); 7] = [
            ("cache-control", "no-store, no-cache"),
            ("pragma", "no-cache"),
            ("expires", "-1"),
            (
                "strict-transport-security",
                "max-age=31536000; includeSubDomains",
            ),
            ("x-content-type-options", "nosniff"),
            ("p3p", "CP=\"DSP CUR OTPi IND OTRi ONL FIN\""),
            ("x-ms-ests-server", "2.1.19999.5 - EMU ProdSlices"),
        ];
        for (name, value) in fixed {
            h.insert(name, HeaderValue::from_static(value));
        }
        if let Ok(v) = HeaderValue::from_str(&self.trace_id) {
            h.insert("x-ms-request-id", v);
        }
        if let Ok(v) = HeaderValue::from_str(&crate::clock::http_date(self.now)) {
            h.insert(header::DATE, v);
        }
        for cookie in [
            "fpc=emulator; path=/; secure; HttpOnly; SameSite=None",
            "x-ms-gateway-slice=estsfd; path=/; secure; samesite=none; httponly",
            "stsservicecookie=estsfd; path=/; secure; samesite=none; httponly",
        ] {
            h.append(header::SET_COOKIE, HeaderValue::from_static(cookie));
        }
    }

    /// `…\r\nTrace ID: …\r\nCorrelation ID: …\r\nTimestamp: yyyy-mm-dd hh:mm:ssZ` (§1.4).
    pub fn trailer(&self) -> String {
        format!(
            "\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {}",
            self.trace_id,
            self.correlation_id,
            entra_timestamp(self.now)
        )
    }
}

/// One AADSTS error.
#[derive(Debug, Clone)]
pub struct EntraError {
    pub error: &'static str,
    pub code: u32,
    pub message: String,
    status: StatusCode,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: String,
    error_codes: [u32; 1],
    timestamp: String,
    trace_id: &'a str,
    correlation_id: &'a str,
    error_uri: String,
}

impl EntraError {
    fn new(error: &'static str, code: u32, message: impl Into<String>) -> EntraError {
        // The service answers 401 for invalid_client, 400 for the rest (§1.4).
        let status = if error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        EntraError {
            error,
            code,
            message: message.into(),
            status,
        }
    }

    pub fn invalid_request(code: u32, message: impl Into<String>) -> EntraError {
        Self::new("invalid_request", code, message)
    }

    pub fn invalid_client(code: u32, message: impl Into<String>) -> EntraError {
        Self::new("invalid_client", code, message)
    }

    pub fn unauthorized_client(code: u32, message: impl Into<String>) -> EntraError {
        Self::new("unauthorized_client", code, message)
    }

    pub fn invalid_scope(code: u32, message: impl Into<String>) -> EntraError {
        Self::new("invalid_scope", code, message)
    }

    pub fn invalid_resource(code: u32, message: impl Into<String>) -> EntraError {
        Self::new("invalid_resource", code, message)
    }

    pub fn unsupported_grant_type(code: u32, message: impl Into<String>) -> EntraError {
        Self::new("unsupported_grant_type", code, message)
    }

    /// `AADSTS900144`: a required form parameter is absent.
    pub fn missing_parameter(name: &str) -> EntraError {
        Self::invalid_request(
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    /// Body for a scripted fault on a login path [inf: Entra's own throttling/outage bodies are
    /// not documented; these use the codes E-errors lists for those situations].
    pub fn for_status(status: StatusCode) -> EntraError {
        let (error, code, message) = match status.as_u16() {
            429 => (
                "temporarily_unavailable",
                90055,
                "There are too many incoming requests. Please try again later.",
            ),
            503 => (
                "temporarily_unavailable",
                90006,
                "The service is temporarily unavailable. Please try again.",
            ),
            504 => (
                "temporarily_unavailable",
                90012,
                "The request has timed out.",
            ),
            401 => ("invalid_client", 50012, "Authentication failed."),
            s if s >= 500 => (
                "server_error",
                50000,
                "There was an error issuing a token or an issue with our sign-in service.",
            ),
            _ => (
                "invalid_request",
                90023,
                "The authentication service request is not valid.",
            ),
        };
        EntraError {
            error,
            code,
            message: message.to_owned(),
            status,
        }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> EntraError {
        self.message = message.into();
        self
    }

    /// `AADSTS{code}: {message}{trailer}`.
    pub fn description(&self, ctx: &EntraCtx) -> String {
        format!("AADSTS{}: {}{}", self.code, self.message, ctx.trailer())
    }

    /// JSON error response with the token-endpoint headers.
    pub fn into_response(self, ctx: &EntraCtx) -> Response {
        let body = Body {
            error: self.error,
            error_description: self.description(ctx),
            error_codes: [self.code],
            timestamp: entra_timestamp(ctx.now),
            trace_id: &ctx.trace_id,
            correlation_id: &ctx.correlation_id,
            error_uri: format!("{}/error?code={}", ctx.base, self.code),
        };
        let text = serde_json::to_string(&body).unwrap_or_default();
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            text,
        )
            .into_response();
        ctx.apply_headers(&mut response);
        response
    }

    /// The HTML sign-in error page a browser shows for errors that cannot be redirected
    /// (unknown app, bad redirect URI), as on login.microsoftonline.com.
    pub fn into_html(self, ctx: &EntraCtx) -> Response {
        let message = html_escape(&format!("AADSTS{}: {}", self.code, self.message));
        let page = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in to your account</title></head>\n\
             <body><main id=\"error\"><h1>Sign in</h1>\n\
             <p>Sorry, but we’re having trouble signing you in.</p>\n\
             <p id=\"error-message\">{message}</p>\n\
             <dl><dt>Request Id</dt><dd>{trace}</dd><dt>Correlation Id</dt><dd>{corr}</dd>\
             <dt>Timestamp</dt><dd>{ts}</dd></dl></main></body></html>\n",
            trace = ctx.trace_id,
            corr = ctx.correlation_id,
            ts = crate::clock::dotnet_round_trip(ctx.now),
        );
        let mut response = (self.status_for_page(), Html(page)).into_response();
        if let Ok(v) = HeaderValue::from_str(&ctx.trace_id) {
            response.headers_mut().insert("x-ms-request-id", v);
        }
        response
    }

    fn status_for_page(&self) -> StatusCode {
        // Browser error pages come back as 400 whatever the OAuth error class is.
        StatusCode::BAD_REQUEST
    }
}

pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
