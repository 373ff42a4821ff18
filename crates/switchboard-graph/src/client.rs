//! The Graph request pipeline: base URL, bearer token, `client-request-id`, throttling retries
//! (§6.2), token refresh on 401 (§1.3), typed errors (§6.1) and `@odata.nextLink` paging (§7).

pub use crate::config::{GraphConfig, RetryPolicy};

use crate::auth::{AccessToken, AppCredential, TokenError, TokenProvider, snippet};
use crate::config::host_port;
use crate::retry::{RetryBudget, is_retryable_status, parse_retry_after};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The one HTTP client for Entra and Graph: rustls (aws-lc-rs), gzip, timeouts from the config.
pub fn http_client(config: &GraphConfig) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
        .timeout(config.timeout)
        .connect_timeout(config.connect_timeout)
        .build()
}

/// "client error (Connect): tcp connect error: Connection refused (os error 111)": the sources of
/// a reqwest error, which say what went wrong (the top level only says "error sending request for
/// url (…)", and the caller names the host already).
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = error.source().or(Some(error));
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// A Graph error response (§6.1), with what is needed to quote it to Microsoft support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    /// `error.code`, e.g. `Authorization_RequestDenied`; the status reason if the body had none.
    pub code: String,
    pub message: String,
    /// The innermost `innerError.code`, when it differs from `code`.
    pub inner_code: Option<String>,
    /// The `request-id` response header, else `innerError.request-id`.
    pub request_id: Option<String>,
    pub client_request_id: Option<String>,
    /// `innerError.date` (UTC, no zone suffix).
    pub date: Option<String>,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// Reads an error response; the body need not be JSON (a proxy may answer HTML).
    pub fn from_response(
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        client_request_id: Option<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let mut error = ApiError {
            status,
            code: String::new(),
            message: String::new(),
            inner_code: None,
            request_id: header("request-id"),
            client_request_id,
            date: None,
            retry_after,
        };
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        match parsed.as_ref().and_then(|v| v.get("error")) {
            Some(serde_json::Value::Object(e)) => {
                error.code = json_text(e.get("code")).unwrap_or_default();
                error.message = json_text(e.get("message")).unwrap_or_default();
                // The schema says `innererror`, real responses say `innerError`; it may nest.
                let mut inner = e.get("innerError").or_else(|| e.get("innererror"));
                while let Some(serde_json::Value::Object(i)) = inner {
                    if error.request_id.is_none() {
                        error.request_id = json_text(i.get("request-id"));
                    }
                    if error.client_request_id.is_none() {
                        error.client_request_id = json_text(i.get("client-request-id"));
                    }
                    if error.date.is_none() {
                        error.date = json_text(i.get("date"));
                    }
                    if let Some(code) = json_text(i.get("code"))
                        && code != error.code
                        && code != status.to_string()
                    {
                        error.inner_code = Some(code);
                    }
                    inner = i.get("innerError").or_else(|| i.get("innererror"));
                }
            }
            _ => {
                if !body.is_empty() {
                    error.message = snippet(body);
                }
            }
        }
        if error.code.is_empty() {
            error.code = StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Unknown")
                .replace(' ', "");
        }
        error
    }

    /// What the operator can do about it. Branches on status and `code`, never on the message
    /// (§6.1: "branch on code only").
    pub fn hint(&self) -> &'static str {
        match (self.status, self.code.as_str()) {
            (_, "MailboxNotEnabledForRESTAPI") => {
                "The user has no Exchange Online mailbox (no licence, or on-premises); skip them."
            }
            (_, "syncStateNotFound" | "resyncRequired") | (410, _) => {
                "The delta token is no longer valid; a full resynchronisation is needed."
            }
            (401, _) => {
                "The access token was rejected; check the app registration, its certificate and this server's clock."
            }
            (403, _) => {
                "The app lacks an application permission for this call, or admin consent was not granted; grant the permissions and consent again."
            }
            (404, _) => "The object does not exist (any more).",
            (429, _) => "Microsoft Graph is throttling this app; it will be retried later.",
            (500..=599, _) => {
                "Microsoft Graph is having trouble; try again later and check Microsoft 365 service health if it persists."
            }
            _ => "The request was not accepted as sent.",
        }
    }
}

fn json_text(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Microsoft Graph answered {} {}", self.status, self.code)?;
        if let Some(inner) = &self.inner_code {
            write!(f, " ({inner})")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        write!(f, ". {}", self.hint())?;
        match (&self.request_id, &self.date) {
            (Some(id), Some(date)) => write!(f, " [request-id {id}, date {date}]"),
            (Some(id), None) => write!(f, " [request-id {id}]"),
            _ => Ok(()),
        }
    }
}

/// Why a Graph request failed. Never contains a token or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Graph answered with an error status.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// Still throttled or unavailable when the retry budget ran out.
    #[error("gave up after {attempts} attempts and {waited:?} of waiting: {last}")]
    RetriesExhausted {
        attempts: u32,
        waited: Duration,
        last: Box<ApiError>,
    },
    /// No HTTP answer: DNS, refused connection, TLS failure, timeout.
    #[error("cannot reach Microsoft Graph at {host}: {detail}")]
    Unreachable { host: String, detail: String },
    #[error("could not get an access token: {0}")]
    Token(#[from] TokenError),
    /// The connection broke after the request was sent, or similar.
    #[error("request to Microsoft Graph failed: {0}")]
    Transport(String),
    /// A success answer whose body is not what was expected.
    #[error("unexpected response from Microsoft Graph: {detail}{}", .request_id.as_deref().map(|id| format!(" [request-id {id}]")).unwrap_or_default())]
    Decode {
        detail: String,
        request_id: Option<String>,
    },
    /// The request itself is invalid (bad path, or a link to another host).
    #[error("invalid Graph request: {0}")]
    InvalidRequest(String),
}

impl GraphError {
    /// The HTTP status Graph answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(e) => Some(e.status),
            Self::RetriesExhausted { last, .. } => Some(last.status),
            _ => None,
        }
    }

    /// The Graph error body, if there was one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            Self::RetriesExhausted { last, .. } => Some(last),
            _ => None,
        }
    }
}

/// One Graph call: method, path (`/users?...`, relative to `/v1.0`) or absolute Graph URL, extra
/// headers (`ConsistencyLevel`, `Prefer`) and an optional JSON body.
#[derive(Debug, Clone)]
pub struct GraphRequest {
    method: Method,
    target: String,
    headers: HeaderMap,
    body: Option<serde_json::Value>,
}

impl GraphRequest {
    pub fn new(method: Method, target: impl Into<String>) -> Self {
        Self {
            method,
            target: target.into(),
            headers: HeaderMap::new(),
            body: None,
        }
    }
    pub fn get(target: impl Into<String>) -> Self {
        Self::new(Method::GET, target)
    }
    pub fn post(target: impl Into<String>, body: serde_json::Value) -> Self {
        Self::new(Method::POST, target).json(body)
    }
    pub fn patch(target: impl Into<String>, body: serde_json::Value) -> Self {
        Self::new(Method::PATCH, target).json(body)
    }
    pub fn delete(target: impl Into<String>) -> Self {
        Self::new(Method::DELETE, target)
    }
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }
    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }
    pub fn method(&self) -> &Method {
        &self.method
    }
    pub fn target(&self) -> &str {
        &self.target
    }
}

/// A successful (2xx) Graph answer.
#[derive(Debug, Clone)]
pub struct GraphResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub request_id: Option<String>,
}

impl GraphResponse {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, GraphError> {
        serde_json::from_slice(&self.body).map_err(|e| GraphError::Decode {
            detail: format!("{e} in {}", snippet(&self.body)),
            request_id: self.request_id.clone(),
        })
    }
}

/// Graph as one app in one tenant. Cheap to clone; clones share the HTTP client and token cache.
#[derive(Clone)]
pub struct GraphClient {
    tokens: TokenProvider,
    credential: Arc<AppCredential>,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_url", &self.tokens.config().graph_url.as_str())
            .field("tenant", &self.credential.tenant.as_str())
            .field("client_id", &self.credential.client_id.as_str())
            .finish_non_exhaustive()
    }
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    )
}

impl GraphClient {
    pub fn new(tokens: TokenProvider, credential: AppCredential) -> Self {
        Self {
            tokens,
            credential: Arc::new(credential),
        }
    }

    pub fn credential(&self) -> &AppCredential {
        &self.credential
    }

    pub fn tokens(&self) -> &TokenProvider {
        &self.tokens
    }

    pub fn config(&self) -> &GraphConfig {
        self.tokens.config()
    }

    /// `GET {graph_url}/v1.0{path}` decoded as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, GraphError> {
        self.execute(&GraphRequest::get(path)).await?.json()
    }

    /// A pager over a collection, starting at `path` (relative to `/v1.0`) or an absolute Graph
    /// URL such as a stored `@odata.deltaLink`.
    pub fn pages<T: DeserializeOwned>(&self, path: impl Into<String>) -> Pager<T> {
        Pager::new(self.clone(), GraphRequest::get(path))
    }

    /// Like [`Self::pages`] with extra headers (e.g. `Prefer: odata.maxpagesize=…`) sent on every page.
    pub fn pages_of<T: DeserializeOwned>(&self, first: GraphRequest) -> Pager<T> {
        Pager::new(self.clone(), first)
    }

    /// Absolute URLs (nextLink, deltaLink) are used verbatim, but only on the configured Graph
    /// origin: the bearer token must never go to another host.
    fn resolve(&self, target: &str) -> Result<Url, GraphError> {
        let config = self.config();
        if target.starts_with("https://") || target.starts_with("http://") {
            let url = Url::parse(target)
                .map_err(|e| GraphError::InvalidRequest(format!("{target}: {e}")))?;
            if url.origin() != config.graph_url.origin() {
                return Err(GraphError::InvalidRequest(format!(
                    "refusing to follow a link to {} (not the configured Graph host {})",
                    host_port(&url),
                    host_port(&config.graph_url)
                )));
            }
            Ok(url)
        } else {
            let endpoint = config.graph_endpoint(target);
            Url::parse(&endpoint)
                .map_err(|e| GraphError::InvalidRequest(format!("{endpoint}: {e}")))
        }
    }

    /// Sends a request; retries throttling (429/503/504) and connection failures within the
    /// budget of [`RetryPolicy`], and refreshes the token once after a 401.
    pub async fn execute(&self, request: &GraphRequest) -> Result<GraphResponse, GraphError> {
        let url = self.resolve(&request.target)?;
        let config = self.config();
        let clock = self.tokens.clock().clone();
        let http = self.tokens.http().clone();
        let method_label = request.method.as_str().to_owned();
        let mut budget = RetryBudget::new(&config.retry);
        let mut token: AccessToken = self.tokens.token(&self.credential).await?;
        let mut refreshed = false;
        loop {
            budget.start_attempt();
            let client_request_id = uuid::Uuid::new_v4().to_string();
            let mut builder = http
                .request(request.method.clone(), url.clone())
                .headers(request.headers.clone())
                .bearer_auth(token.secret().expose_secret())
                .header("client-request-id", &client_request_id)
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(body) = &request.body {
                builder = builder.json(body);
            }
            let response = match builder.send().await {
                Ok(r) => r,
                Err(e) => {
                    metrics::counter!("switchboard_graph_requests_total", "method" => method_label.clone(), "status" => "error").increment(1);
                    let detail = error_chain(&e);
                    // A refused connection never reached Graph; a timed-out write may have.
                    let retryable =
                        e.is_connect() || (e.is_timeout() && is_idempotent(&request.method));
                    if retryable && let Ok(delay) = budget.next_connect_delay() {
                        metrics::counter!("switchboard_graph_retries_total", "status" => "error")
                            .increment(1);
                        tracing::debug!(method = %request.method, %url, %detail, ?delay, "Graph unreachable; retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(if e.is_connect() || e.is_timeout() {
                        GraphError::Unreachable {
                            host: host_port(&config.graph_url),
                            detail,
                        }
                    } else {
                        GraphError::Transport(detail)
                    });
                }
            };
            let status = response.status();
            metrics::counter!("switchboard_graph_requests_total", "method" => method_label.clone(), "status" => status.as_u16().to_string()).increment(1);
            let headers = response.headers().clone();
            let request_id = header_text(&headers, "request-id");
            // Microsoft support asks for request-id, client-request-id, Date and the diagnostic (§7).
            tracing::debug!(
                method = %request.method,
                %url,
                status = status.as_u16(),
                request_id = request_id.as_deref().unwrap_or("-"),
                client_request_id = %client_request_id,
                date = header_text(&headers, "date").as_deref().unwrap_or("-"),
                diagnostic = header_text(&headers, "x-ms-ags-diagnostic").as_deref().unwrap_or("-"),
                "Graph answered"
            );
            let body = match response.bytes().await {
                Ok(b) => b.to_vec(),
                Err(e) => return Err(GraphError::Transport(error_chain(&e))),
            };
            if status.is_success() {
                return Ok(GraphResponse {
                    status: status.as_u16(),
                    headers,
                    body,
                    request_id,
                });
            }
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                // Expired or revoked token (InvalidAuthenticationToken): one new token, one retry.
                refreshed = true;
                metrics::counter!("switchboard_graph_retries_total", "status" => "401")
                    .increment(1);
                tracing::debug!(
                    request_id = request_id.as_deref().unwrap_or("-"),
                    "Graph rejected the token; refreshing it"
                );
                token = self
                    .tokens
                    .refresh_after_rejection(&self.credential, &token)
                    .await?;
                continue;
            }
            let retry_after = parse_retry_after(&headers, clock.now());
            let error = ApiError::from_response(
                status.as_u16(),
                &headers,
                &body,
                Some(client_request_id),
                retry_after,
            );
            if is_retryable_status(status) {
                match budget.next_delay(retry_after) {
                    Ok(delay) => {
                        metrics::counter!("switchboard_graph_retries_total", "status" => status.as_u16().to_string()).increment(1);
                        tracing::info!(status = status.as_u16(), code = %error.code, ?delay, attempt = budget.attempts, "Graph throttled the request; waiting");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    Err(reason) if budget.attempts > 1 => {
                        tracing::warn!(
                            status = status.as_u16(),
                            ?reason,
                            attempts = budget.attempts,
                            "Graph retry budget exhausted"
                        );
                        return Err(GraphError::RetriesExhausted {
                            attempts: budget.attempts,
                            waited: budget.waited,
                            last: Box::new(error),
                        });
                    }
                    Err(_) => return Err(GraphError::Api(Box::new(error))),
                }
            }
            return Err(GraphError::Api(Box::new(error)));
        }
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// One page of a collection.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// `@odata.nextLink`: more pages follow.
    pub next_link: Option<String>,
    /// `@odata.deltaLink`: on the last page of a delta round; store it for the next round.
    pub delta_link: Option<String>,
}

#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct RawPage<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    delta_link: Option<String>,
}

/// Walks a collection page by page, following `@odata.nextLink` verbatim (§7). Holds one page at
/// a time. After an error the same page is fetched again by the next call.
pub struct Pager<T> {
    client: GraphClient,
    next: Option<GraphRequest>,
    delta_link: Option<String>,
    pages: u64,
    _items: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Pager<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pager")
            .field("next", &self.next.as_ref().map(|r| r.target.as_str()))
            .field("delta_link", &self.delta_link)
            .field("pages", &self.pages)
            .finish()
    }
}

impl<T: DeserializeOwned> Pager<T> {
    fn new(client: GraphClient, first: GraphRequest) -> Self {
        Self {
            client,
            next: Some(first),
            delta_link: None,
            pages: 0,
            _items: PhantomData,
        }
    }

    /// The next page, or `None` once the last page was returned. Pages may be empty while more
    /// follow (§7: "paging with empty intermediate pages").
    pub async fn next_page(&mut self) -> Result<Option<Page<T>>, GraphError> {
        let Some(request) = self.next.as_ref() else {
            return Ok(None);
        };
        let response = self.client.execute(request).await?;
        let raw: RawPage<T> = response.json()?;
        // Keep the caller's headers (Prefer, ConsistencyLevel) on later pages.
        let headers = request.headers.clone();
        self.pages += 1;
        self.next = raw.next_link.as_ref().map(|link| {
            let mut next = GraphRequest::get(link.clone());
            next.headers = headers;
            next
        });
        if raw.delta_link.is_some() {
            self.delta_link = raw.delta_link.clone();
        }
        Ok(Some(Page {
            items: raw.value,
            next_link: raw.next_link,
            delta_link: raw.delta_link,
        }))
    }

    /// The `@odata.deltaLink` seen so far (set by the last page of a delta round).
    pub fn delta_link(&self) -> Option<&str> {
        self.delta_link.as_deref()
    }

    pub fn is_done(&self) -> bool {
        self.next.is_none()
    }

    /// Pages fetched so far.
    pub fn pages_fetched(&self) -> u64 {
        self.pages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_with_nested_inner_error() {
        let body = br#"{"error":{"code":"TooManyRequests","innerError":{"code":"429","date":"2021-05-18T19:03:10","message":"Please retry after","request-id":"rid-1","status":"429"},"message":"Please retry again later."}}"#;
        let e = ApiError::from_response(429, &HeaderMap::new(), body, None, None);
        assert_eq!(e.code, "TooManyRequests");
        assert_eq!(e.message, "Please retry again later.");
        assert_eq!(e.request_id.as_deref(), Some("rid-1"));
        assert_eq!(e.date.as_deref(), Some("2021-05-18T19:03:10"));
        assert_eq!(e.inner_code, None);
    }

    #[test]
    fn lower_case_innererror_and_deeper_nesting() {
        let body = br#"{"error":{"code":"accessDenied","message":"No.","innererror":{"code":"x","innerError":{"code":"deepCode","request-id":"rid-2"}}}}"#;
        let mut headers = HeaderMap::new();
        headers.insert("request-id", HeaderValue::from_static("hdr-id"));
        let e = ApiError::from_response(403, &headers, body, None, None);
        assert_eq!(e.request_id.as_deref(), Some("hdr-id"));
        assert_eq!(e.inner_code.as_deref(), Some("deepCode"));
        let shown = e.to_string();
        assert!(
            shown.starts_with("Microsoft Graph answered 403 accessDenied (deepCode): No."),
            "{shown}"
        );
        assert!(shown.contains("admin consent"), "{shown}");
        assert!(shown.contains("[request-id hdr-id]"), "{shown}");
    }

    #[test]
    fn outlook_throttle_without_inner_error_and_non_json_bodies() {
        let body = br#"{"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit."}}"#;
        let e = ApiError::from_response(429, &HeaderMap::new(), body, None, None);
        assert_eq!(e.code, "ApplicationThrottled");
        let html = ApiError::from_response(
            502,
            &HeaderMap::new(),
            b"<html>bad gateway</html>",
            None,
            None,
        );
        assert_eq!(html.code, "BadGateway");
        assert_eq!(html.message, "<html>bad gateway</html>");
    }

    #[test]
    fn pages_deserialize_links() {
        let p: RawPage<serde_json::Value> = serde_json::from_str(
            r#"{"@odata.context":"x","value":[{"id":"1"}],"@odata.nextLink":"https://graph.microsoft.com/v1.0/users?$skiptoken=a"}"#,
        )
        .expect("page");
        assert_eq!(p.value.len(), 1);
        assert!(p.next_link.is_some() && p.delta_link.is_none());
        let empty: RawPage<serde_json::Value> = serde_json::from_str(
            r#"{"@odata.deltaLink":"https://graph.microsoft.com/v1.0/users/delta?$deltatoken=b"}"#,
        )
        .expect("page");
        assert!(empty.value.is_empty() && empty.delta_link.is_some());
    }

    #[test]
    fn endpoints_join_cleanly() {
        let c = GraphConfig::with_urls(
            Url::parse("http://127.0.0.1:8080/").expect("url"),
            Url::parse("http://127.0.0.1:8080").expect("url"),
        );
        assert_eq!(
            c.graph_endpoint("/organization"),
            "http://127.0.0.1:8080/v1.0/organization"
        );
        assert_eq!(
            c.graph_endpoint("users"),
            "http://127.0.0.1:8080/v1.0/users"
        );
        assert_eq!(
            c.token_endpoint("contoso.com"),
            "http://127.0.0.1:8080/contoso.com/oauth2/v2.0/token"
        );
        assert_eq!(
            GraphConfig::default().token_endpoint("t"),
            "https://login.microsoftonline.com/t/oauth2/v2.0/token"
        );
        assert_eq!(
            GraphConfig::default().graph_scope,
            "https://graph.microsoft.com/.default"
        );
    }
}
