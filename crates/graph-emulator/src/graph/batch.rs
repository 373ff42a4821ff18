//! `POST /v1.0/$batch` (graph-protocol.md §6.3): up to 20 requests, each run through the
//! same routes, scripted faults and counters as a direct request, side by side (`dependsOn`
//! orders them in waves). The outer answer is 200 whenever the batch itself parses.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use super::auth;
use super::errors::GraphError;
use super::headers::GraphCtx;
use super::outlook::BatchWave;
use crate::faults;
use crate::outlook::ids::mix;
use crate::state::AppState;
use crate::stats::{BatchItem, FAILED_DEPENDENCY, REJECTED};

/// "JSON batch requests are currently limited to 20 individual requests" (§6.3).
pub const MAX_REQUESTS: usize = 20;

/// Largest inner response body read back into the batch answer.
const MAX_INNER_BODY: usize = 64 * 1024 * 1024;

/// One validated request of the batch.
#[derive(Debug)]
struct Item {
    id: String,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
    depends_on: Vec<String>,
}

/// An inner answer: status, headers as Graph names them, and the body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Map<String, Value>,
    body: Option<Body64>,
}

/// An inner body as it goes into the batch answer.
#[derive(Debug)]
enum Body64 {
    /// A JSON body, embedded as it is (a contacts page is large: no parse and re-serialise).
    Json(String),
    /// Text or base64.
    Text(String),
}

fn invalid(message: impl Into<String>) -> GraphError {
    GraphError::bad_request(message)
}

fn parse(body: &[u8]) -> Result<Vec<Item>, GraphError> {
    // [inf] wording of the batch parser's refusals.
    let format = || invalid("Invalid batch payload format.");
    let root: Value = serde_json::from_slice(body).map_err(|_| format())?;
    let requests = root
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(format)?;
    if requests.is_empty() {
        return Err(invalid("The batch contains no requests."));
    }
    if requests.len() > MAX_REQUESTS {
        return Err(invalid(format!(
            "The batch contains {} requests; at most {MAX_REQUESTS} are allowed in one batch.",
            requests.len()
        )));
    }
    let mut items: Vec<Item> = Vec::with_capacity(requests.len());
    for r in requests {
        let obj = r.as_object().ok_or_else(format)?;
        let text = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_owned);
        let id = text("id")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid("Every request in a batch needs a string 'id'."))?;
        if items.iter().any(|i| i.id == id) {
            return Err(invalid(format!(
                "Request ids must be unique within a batch; '{id}' appears more than once."
            )));
        }
        let method_text =
            text("method").ok_or_else(|| invalid(format!("Request '{id}' has no 'method'.")))?;
        let method = match method_text.to_ascii_uppercase().as_str() {
            "GET" => Method::GET,
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            "DELETE" => Method::DELETE,
            _ => {
                return Err(invalid(format!(
                    "Request '{id}' has an unsupported method '{method_text}'."
                )));
            }
        };
        let url = text("url").ok_or_else(|| invalid(format!("Request '{id}' has no 'url'.")))?;
        let headers = match obj.get("headers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(h)) => h
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k.clone(), s.clone()),
                    other => (k.clone(), other.to_string()),
                })
                .collect(),
            Some(_) => return Err(format()),
        };
        let depends_on = match obj.get("dependsOn") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ids)) => ids
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(format))
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(format()),
        };
        items.push(Item {
            id,
            method,
            url,
            headers,
            body: obj.get("body").filter(|b| !b.is_null()).cloned(),
            depends_on,
        });
    }
    for item in &items {
        for dep in &item.depends_on {
            if *dep == item.id || !items.iter().any(|i| i.id == *dep) {
                return Err(invalid(format!(
                    "Request '{}' depends on '{dep}', which is not another request of this batch.",
                    item.id
                )));
            }
        }
    }
    Ok(items)
}

/// Groups the requests in waves: a request runs in the wave after its last dependency.
fn waves(items: &[Item]) -> Result<Vec<Vec<usize>>, GraphError> {
    let index: HashMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, it)| (it.id.as_str(), i))
        .collect();
    let mut level: Vec<Option<usize>> = vec![None; items.len()];
    for _ in 0..items.len() {
        for (i, item) in items.iter().enumerate() {
            if level[i].is_some() {
                continue;
            }
            let deps: Option<Vec<usize>> = item
                .depends_on
                .iter()
                .map(|d| index.get(d.as_str()).and_then(|j| level[*j]))
                .collect();
            if let Some(deps) = deps {
                level[i] = Some(deps.into_iter().max().map_or(0, |m| m + 1));
            }
        }
    }
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (i, l) in level.iter().enumerate() {
        let l = l.ok_or_else(|| invalid("The dependsOn references of the batch form a cycle."))?;
        if out.len() <= l {
            out.resize_with(l + 1, Vec::new);
        }
        out[l].push(i);
    }
    Ok(out)
}

/// The inner request: `url` relative to `/v1.0`, the caller's token and host, the item's
/// own headers.
fn build(item: &Item, outer: &HeaderMap, wave: &BatchWave) -> Result<Request, GraphError> {
    let url = item.url.trim();
    if url.contains("://") {
        return Err(invalid(
            "Invalid request URL: batch request URLs are relative to the version root, e.g. /users.",
        ));
    }
    let relative = url.trim_start_matches('/');
    let first = relative.split(['/', '?']).next().unwrap_or("");
    if first.eq_ignore_ascii_case("$batch") || first.eq_ignore_ascii_case("%24batch") {
        return Err(invalid("A batch cannot contain another batch."));
    }
    let uri: Uri = format!("/v1.0/{relative}")
        .parse()
        .map_err(|_| invalid(format!("Invalid request URL '{url}'.")))?;
    let mut req = Request::new(Body::empty());
    *req.method_mut() = item.method.clone();
    *req.uri_mut() = uri;
    let h = req.headers_mut();
    for name in [header::AUTHORIZATION, header::HOST] {
        if let Some(v) = outer.get(&name) {
            h.insert(name, v.clone());
        }
    }
    for (k, v) in &item.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| invalid(format!("Invalid header name '{k}'.")))?;
        let value = HeaderValue::from_str(v)
            .map_err(|_| invalid(format!("Invalid value for header '{k}'.")))?;
        h.append(name, value);
    }
    if let Some(body) = &item.body {
        if !h.contains_key(header::CONTENT_TYPE) {
            // §6.3: `headers` with Content-Type is required when a body is present.
            return Err(invalid(
                "A Content-Type header is required for a request with a body.",
            ));
        }
        let bytes = match body {
            Value::String(s) if !is_json(h) => s.clone().into_bytes(),
            other => serde_json::to_vec(other).unwrap_or_default(),
        };
        *req.body_mut() = Body::from(bytes);
    }
    req.extensions_mut().insert(BatchItem);
    req.extensions_mut().insert(wave.clone());
    Ok(super::canonicalize_request(req))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"))
}

/// Header names as Graph writes them inside batch answers (`Retry-After`, `OData-Version`).
fn header_name(name: &str) -> String {
    match name {
        "odata-version" => "OData-Version".to_owned(),
        "www-authenticate" => "WWW-Authenticate".to_owned(),
        n if n.starts_with("x-") => n.to_owned(),
        n => n
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

/// Headers that describe the transport of one HTTP response, not the inner answer.
const DROPPED: &[&str] = &[
    "request-id",
    "client-request-id",
    "x-ms-ags-diagnostic",
    "strict-transport-security",
    "date",
    "vary",
    "content-length",
    "transfer-encoding",
    "connection",
];

async fn answer(response: Response) -> Answer {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_INNER_BODY)
        .await
        .unwrap_or_default();
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        if DROPPED.contains(&name.as_str()) {
            continue;
        }
        if let Ok(v) = value.to_str() {
            headers.insert(header_name(name.as_str()), Value::String(v.to_owned()));
        }
    }
    let valid_json = || serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok();
    let body = if bytes.is_empty() {
        None
    } else if is_json(&parts.headers) && valid_json() {
        Some(Body64::Json(String::from_utf8_lossy(&bytes).into_owned()))
    } else {
        // Text stays text ($count); anything else is base64, as Graph sends binary bodies.
        Some(Body64::Text(match std::str::from_utf8(&bytes) {
            Ok(t) => t.to_owned(),
            Err(_) => STANDARD.encode(&bytes),
        }))
    };
    Answer {
        status: parts.status.as_u16(),
        headers,
        body,
    }
}

fn ok(a: &Answer) -> bool {
    (200..300).contains(&a.status)
}

fn failed_dependency(id: &str, dep: &str) -> Answer {
    let mut headers = Map::new();
    headers.insert(
        "Content-Type".to_owned(),
        Value::String(super::headers::GRAPH_JSON.to_owned()),
    );
    Answer {
        status: StatusCode::FAILED_DEPENDENCY.as_u16(),
        headers,
        body: Some(Body64::Json(
            json!({"error": {
                "code": "FailedDependency",
                "message": format!("Request '{id}' was not run: the request '{dep}' it depends on failed."),
            }})
            .to_string(),
        )),
    }
}

/// `POST /v1.0/$batch`.
pub async fn batch(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match run(&state, &ctx, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.render(&ctx),
    }
}

async fn run(
    state: &AppState,
    ctx: &GraphCtx,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GraphError> {
    auth::authenticate(state, ctx, headers)?;
    let items = parse(body)?;
    let waves = waves(&items)?;
    // The same pipeline as a direct request (routes, faults, stats), without the Entra half.
    let service = super::router(state.clone())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            faults::faults_and_stats,
        ))
        .with_state(state.clone());
    let index: HashMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, it)| (it.id.as_str(), i))
        .collect();
    let mut answers: Vec<Option<Answer>> = items.iter().map(|_| None).collect();
    for wave in waves {
        let scope = BatchWave::default();
        let mut running = JoinSet::new();
        for i in wave {
            let item = &items[i];
            let failed = item.depends_on.iter().find(|d| {
                index
                    .get(d.as_str())
                    .and_then(|j| answers[*j].as_ref())
                    .is_none_or(|a| !ok(a))
            });
            if let Some(dep) = failed {
                state.stats().record_batch_item(
                    item.method.as_str(),
                    FAILED_DEPENDENCY,
                    StatusCode::FAILED_DEPENDENCY.as_u16(),
                );
                answers[i] = Some(failed_dependency(&item.id, dep));
                continue;
            }
            match build(item, headers, &scope) {
                Ok(req) => {
                    let service = service.clone();
                    running.spawn(async move {
                        let response = match service.oneshot(req).await {
                            Ok(r) => r,
                            Err(never) => match never {},
                        };
                        (i, answer(response).await)
                    });
                }
                Err(e) => {
                    state
                        .stats()
                        .record_batch_item(item.method.as_str(), REJECTED, 400);
                    answers[i] = Some(answer(e.render(ctx)).await);
                }
            }
        }
        while let Some(done) = running.join_next().await {
            if let Ok((i, a)) = done {
                answers[i] = Some(a);
            }
        }
        scope.release();
    }
    // Graph does not keep the request order (§6.3); a fixed shuffle keeps tests repeatable.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|i| {
        let h = items[*i]
            .id
            .bytes()
            .fold(0u64, |h, b| mix(&[h, u64::from(b)]));
        (h, *i)
    });
    let mut out = String::from("{\"responses\":[");
    for (n, i) in order.into_iter().enumerate() {
        let a = answers[i].take().unwrap_or_else(|| Answer {
            // A task that died (a handler panic) reads as a server error.
            status: 500,
            headers: Map::new(),
            body: Some(Body64::Json(
                r#"{"error":{"code":"generalException","message":"An unspecified error has occurred."}}"#
                    .to_owned(),
            )),
        });
        if n > 0 {
            out.push(',');
        }
        out.push_str("{\"id\":");
        out.push_str(&Value::String(items[i].id.clone()).to_string());
        out.push_str(",\"status\":");
        out.push_str(&a.status.to_string());
        out.push_str(",\"headers\":");
        out.push_str(&Value::Object(a.headers).to_string());
        match a.body {
            Some(Body64::Json(raw)) => {
                out.push_str(",\"body\":");
                out.push_str(&raw);
            }
            Some(Body64::Text(text)) => {
                out.push_str(",\"body\":");
                out.push_str(&Value::String(text).to_string());
            }
            None => {}
        }
        out.push('}');
    }
    out.push_str("]}");
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(body: Value) -> Result<Vec<Item>, GraphError> {
        parse(body.to_string().as_bytes())
    }

    #[test]
    fn parse_and_plan() {
        let reqs: Vec<Value> = (1..=21)
            .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"}))
            .collect();
        assert!(items(json!({"requests": reqs})).is_err(), "21 requests");
        assert!(
            items(json!({"requests": reqs[..20]})).is_ok(),
            "20 requests"
        );
        assert!(
            items(json!({"requests": [reqs[0], reqs[0]]})).is_err(),
            "dup id"
        );
        assert!(items(json!({"nope": []})).is_err());
        assert!(
            items(
                json!({"requests": [{"id": "1", "method": "GET", "url": "/x", "dependsOn": ["9"]}]})
            )
            .is_err()
        );
        let chain = items(json!({"requests": [
            {"id": "c", "method": "GET", "url": "/x", "dependsOn": ["b"]},
            {"id": "a", "method": "GET", "url": "/x"},
            {"id": "b", "method": "GET", "url": "/x", "dependsOn": ["a"]},
            {"id": "d", "method": "GET", "url": "/x"},
        ]}))
        .expect("valid");
        assert_eq!(waves(&chain).ok(), Some(vec![vec![1, 3], vec![2], vec![0]]));
        let cycle = items(json!({"requests": [
            {"id": "a", "method": "GET", "url": "/x", "dependsOn": ["b"]},
            {"id": "b", "method": "GET", "url": "/x", "dependsOn": ["a"]},
        ]}))
        .expect("parses");
        assert!(waves(&cycle).is_err());
    }

    #[test]
    fn header_names_as_graph_writes_them() {
        assert_eq!(header_name("retry-after"), "Retry-After");
        assert_eq!(header_name("content-type"), "Content-Type");
        assert_eq!(header_name("odata-version"), "OData-Version");
        assert_eq!(header_name("x-ms-resource-unit"), "x-ms-resource-unit");
    }
}
