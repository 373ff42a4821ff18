//! A stub Graph `$batch` host for the mailbox adapters (tokens come from the emulator, whose
//! Outlook routes do not cover calendars yet): it records every inner request, tracks how many
//! of each mailbox are in flight, and answers through a per-test responder.

use crate::common::*;
use async_trait::async_trait;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_core::office365::SigningAlgorithm;
use switchboard_core::ports::{CredentialSource, DirectoryError, OwnedAppCredentials};
use switchboard_graph::{GraphConfig, GraphMailboxes, RetryPolicy, TokenProvider};
use url::Url;

#[derive(Debug)]
pub struct FixedCredentials(OwnedAppCredentials);

#[async_trait]
impl CredentialSource for FixedCredentials {
    async fn app_credentials(&self) -> Result<OwnedAppCredentials, DirectoryError> {
        Ok(self.0.clone())
    }
}

#[derive(Debug)]
pub struct NoConnection;

#[async_trait]
impl CredentialSource for NoConnection {
    async fn app_credentials(&self) -> Result<OwnedAppCredentials, DirectoryError> {
        Err(DirectoryError::NotConnected(
            "connect Office 365 first (Settings → Office 365)".into(),
        ))
    }
}

/// One inner request as the stub saw it.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub url: String,
    pub prefer: Option<String>,
    pub mailbox: String,
}

/// `(base, item, times this url was seen before)` → the inner answer (without its id).
pub type Responder = Arc<dyn Fn(&str, &Item, usize) -> Value + Send + Sync>;

#[derive(Clone)]
pub struct Stub {
    pub base: Arc<Mutex<String>>,
    pub responder: Responder,
    pub delay: Duration,
    pub outer_status: Arc<Mutex<Option<u16>>>,
    pub batches: Arc<Mutex<Vec<Vec<Item>>>>,
    pub seen: Arc<Mutex<HashMap<String, usize>>>,
    pub in_flight: Arc<Mutex<HashMap<String, usize>>>,
    pub max_in_flight: Arc<Mutex<HashMap<String, usize>>>,
    /// (batches now, most at once)
    pub concurrent: Arc<Mutex<(usize, usize)>>,
}

impl Stub {
    pub fn batches(&self) -> Vec<Vec<Item>> {
        self.batches.lock().expect("lock").clone()
    }
    pub fn max_in_flight(&self, mailbox: &str) -> usize {
        self.max_in_flight
            .lock()
            .expect("lock")
            .get(mailbox)
            .copied()
            .unwrap_or(0)
    }
    pub fn max_concurrent_batches(&self) -> usize {
        self.concurrent.lock().expect("lock").1
    }
    pub fn items_for(&self, mailbox: &str) -> usize {
        self.batches()
            .iter()
            .flatten()
            .filter(|i| i.mailbox == mailbox)
            .count()
    }
}

pub fn mailbox_of(url: &str) -> String {
    url.strip_prefix("/users/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_owned()
}

pub async fn batch(
    State(stub): State<Stub>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    assert!(
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.starts_with("Bearer ")),
        "no bearer token"
    );
    if let Some(status) = *stub.outer_status.lock().expect("lock") {
        let code = StatusCode::from_u16(status).expect("status");
        return (
            code,
            Json(json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}})),
        )
            .into_response();
    }
    let requests = body["requests"].as_array().cloned().unwrap_or_default();
    assert!(requests.len() <= 20, "a batch of {}", requests.len());
    let items: Vec<Item> = requests
        .iter()
        .map(|r| {
            assert_eq!(r["method"], "GET");
            let url = r["url"].as_str().expect("url").to_owned();
            Item {
                id: r["id"].as_str().expect("id").to_owned(),
                mailbox: mailbox_of(&url),
                prefer: r["headers"]["Prefer"].as_str().map(str::to_owned),
                url,
            }
        })
        .collect();
    stub.batches.lock().expect("lock").push(items.clone());
    {
        let mut c = stub.concurrent.lock().expect("lock");
        c.0 += 1;
        c.1 = c.1.max(c.0);
    }
    {
        let mut now = stub.in_flight.lock().expect("lock");
        let mut max = stub.max_in_flight.lock().expect("lock");
        for item in &items {
            let n = now.entry(item.mailbox.clone()).or_insert(0);
            *n += 1;
            let m = max.entry(item.mailbox.clone()).or_insert(0);
            *m = (*m).max(*n);
        }
    }
    tokio::time::sleep(stub.delay).await;
    let base = stub.base.lock().expect("lock").clone();
    let mut responses = Vec::new();
    for item in &items {
        let times = {
            let mut seen = stub.seen.lock().expect("lock");
            let n = seen.entry(item.url.clone()).or_insert(0);
            *n += 1;
            *n - 1
        };
        let mut answer = (stub.responder)(&base, item, times);
        answer["id"] = json!(item.id);
        responses.push(answer);
    }
    // Graph does not promise the order (§6.3): answer backwards.
    responses.reverse();
    {
        let mut now = stub.in_flight.lock().expect("lock");
        for item in &items {
            if let Some(n) = now.get_mut(&item.mailbox) {
                *n -= 1;
            }
        }
        stub.concurrent.lock().expect("lock").0 -= 1;
    }
    Json(json!({ "responses": responses })).into_response()
}

/// A page naming what was asked, so that a mismatched answer shows.
pub fn default_answer(base: &str, item: &Item, _times: usize) -> Value {
    let m = &item.mailbox;
    if item.url.contains("/calendarView") {
        return calendar_answer(m);
    }
    if item.url.contains("/contactFolders/delta") {
        return json!({"status": 200, "headers": {"Content-Type": "application/json"}, "body": {
            "value": [{"id": format!("{m}-folder"), "displayName": m, "parentFolderId": "root"}],
            "@odata.deltaLink": format!("{base}/v1.0/users/{m}/contactFolders/delta?$deltatoken=d")
        }});
    }
    let folder = item
        .url
        .split("/contactFolders/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or("default");
    json!({"status": 200, "body": {
        "value": [{"id": format!("{m}/{folder}"), "displayName": "x", "unknown": {"a": 1}}],
        "@odata.nextLink": format!("{base}/v1.0/users/{m}/contacts/delta?$skiptoken=2")
    }})
}

/// A last calendarView page with one busy hour whose id names the mailbox (`{m}/event`).
pub fn calendar_answer(m: &str) -> Value {
    json!({"status": 200, "headers": {"Content-Type": "application/json", "Preference-Applied": "outlook.timezone=\"UTC\""}, "body": {
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{m}')/calendarView(showAs,start,end)"),
        "value": [{
            "@odata.etag": "W/\"DwAAABYAAA\"", "id": format!("{m}/event"), "showAs": "busy",
            "type": "singleInstance", "sensitivity": "normal", "isAllDay": false, "isCancelled": false,
            "start": {"dateTime": "2025-06-02T09:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2025-06-02T10:00:00.0000000", "timeZone": "UTC"}
        }]
    }})
}

pub fn error_answer(status: u16, code: &str, message: &str) -> Value {
    json!({"status": status, "headers": {"Content-Type": "application/json"}, "body": {"error": {
        "code": code, "message": message,
        "innerError": {"date": "2021-05-18T19:03:10", "request-id": "rid-1", "client-request-id": "cid-1"}
    }}})
}

pub struct Setup {
    pub _h: Harness,
    pub stub: Stub,
    pub mailboxes: GraphMailboxes,
    pub base: String,
    pub server: tokio::task::JoinHandle<()>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub async fn setup_with(responder: Responder, delay: Duration, retry: RetryPolicy) -> Setup {
    let h = Harness::start().await;
    let generated = generate().await;
    let app = h
        .register_app(&[&generated.certificate_pem], &ROLES, true)
        .await;
    let owned = Owned::new(
        h.emulator.tenant_id(),
        &app,
        SigningAlgorithm::Rs256,
        &generated,
    );
    let stub = Stub {
        base: Arc::default(),
        responder,
        delay,
        outer_status: Arc::default(),
        batches: Arc::default(),
        seen: Arc::default(),
        in_flight: Arc::default(),
        max_in_flight: Arc::default(),
        concurrent: Arc::default(),
    };
    let router = Router::new()
        .route("/v1.0/$batch", post(batch))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    *stub.base.lock().expect("lock") = base.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let config = GraphConfig {
        retry,
        ..GraphConfig::with_urls(Url::parse(&base).expect("url"), h.base())
    };
    let credentials = OwnedAppCredentials {
        tenant: owned.tenant.clone(),
        client_id: owned.client_id.clone(),
        algorithm: owned.algorithm,
        certificate: owned.certificate.clone(),
        private_key_pem: owned.key.clone(),
    };
    let tokens = TokenProvider::new(config, h.clock()).expect("tokens");
    let mailboxes = GraphMailboxes::new(tokens, Arc::new(FixedCredentials(credentials)));
    Setup {
        _h: h,
        stub,
        mailboxes,
        base,
        server,
    }
}

pub async fn setup(responder: Responder, delay: Duration) -> Setup {
    setup_with(responder, delay, fast_retry()).await
}
