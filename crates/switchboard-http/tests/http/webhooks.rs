//! Graph webhooks: the validation handshake, clientState verification, deduplication, lifecycle
//! events, and that no secret reaches the log or the metrics.

use crate::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use switchboard_core::ports::{SubscriptionRecord, SubscriptionStore, SyncEvent};

const SUB: &str = "7f105c7d-2dc5-4530-97cd-4e7ae6534c07";
const SECRET: &str = "client-state-SECRET-b1c5e";
const USER_ID: &str = "46c4a8e3-34b1-4b77-8d4d-2d0c7bd2bc05";
const CHANGES: &str = "/webhooks/graph";
const LIFECYCLE: &str = "/webhooks/graph/lifecycle";

impl TestApp {
    /// A known subscription whose clientState is `client_state`.
    async fn subscribe(&self, id: &str, client_state: &str) {
        let now: jiff::Timestamp = "2026-11-01T08:00:00Z".parse().unwrap();
        self.subscriptions
            .save_subscription(&SubscriptionRecord {
                id: id.into(),
                resource: "users".into(),
                expires_at: now + jiff::SignedDuration::from_hours(48),
                client_state_sha256: auth::hash_token(client_state),
                created_at: now,
                renewed_at: now,
            })
            .await
            .unwrap();
    }

    /// Everything the webhooks sent to the sync side so far.
    async fn drain_events(&self) -> Vec<SyncEvent> {
        let mut rx = self.events.lock().await;
        let mut events = Vec::new();
        while let Ok(event) = rx.try_recv() {
            events.push(event);
        }
        events
    }

    async fn post_webhook(&self, path: &str, body: &Value) -> Response {
        Client::new()
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// A user change notification as Graph sends it (with a sequenceNumber above 2^53).
fn user_change(subscription: &str, client_state: &str) -> Value {
    json!({
        "subscriptionId": subscription,
        "subscriptionExpirationDateTime": "2026-11-03T08:00:00-08:00",
        "changeType": "updated",
        "resource": format!("Users/{USER_ID}"),
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.User",
            "@odata.id": format!("Users/{USER_ID}"),
            "id": USER_ID,
            "organizationId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
            "sequenceNumber": 638059995676961300u64
        },
        "clientState": client_state,
        "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
        "someFutureField": {"x": 1}
    })
}

fn batch(items: Vec<Value>) -> Value {
    json!({ "value": items })
}

/// Captures what the server logs on this thread (the test runtime is single-threaded, so the
/// server's tasks run here too).
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A process-wide metrics recorder: each counter's key (name and labels) and value.
#[derive(Debug, Default)]
struct Counters(Mutex<HashMap<String, std::sync::Arc<AtomicU64>>>);

impl metrics::Recorder for Counters {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        let mut name = key.name().to_owned();
        for label in key.labels() {
            name.push_str(&format!(",{}={}", label.key(), label.value()));
        }
        let cell = self.0.lock().unwrap().entry(name).or_default().clone();
        metrics::Counter::from_arc(cell)
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

fn counters() -> &'static Counters {
    static COUNTERS: OnceLock<&'static Counters> = OnceLock::new();
    COUNTERS.get_or_init(|| {
        let counters: &'static Counters = Box::leak(Box::default());
        metrics::set_global_recorder(counters).unwrap();
        counters
    })
}

impl Counters {
    /// Sum of the counters whose key starts with `prefix`.
    fn sum(&self, prefix: &str) -> u64 {
        let map = self.0.lock().unwrap();
        map.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.load(Ordering::Relaxed))
            .sum()
    }
    fn keys(&self) -> Vec<String> {
        self.0.lock().unwrap().keys().cloned().collect()
    }
}

#[tokio::test]
async fn validation_token_is_echoed_verbatim_on_both_routes() {
    let app = TestApp::spawn().await;
    let token = "Validation: Testing client application reachability for subscription Request-Id: 3d4a1c1e-9b2a a+b c&d=é%20<b>";
    for path in [CHANGES, LIFECYCLE] {
        let started = Instant::now();
        let r = Client::new()
            .post(app.url(path))
            .query(&[("validationToken", token)])
            .header("content-type", "text/plain; charset=utf-8")
            .body("whatever { not json")
            .send()
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        assert_eq!(r.text().await.unwrap(), token, "{path}");
        assert!(elapsed < Duration::from_millis(500), "{path}: {elapsed:?}");
    }
    // A hand-encoded query with other parameters: %2B is '+', '+' and %20 are spaces.
    let r = Client::new()
        .post(app.url("/webhooks/graph?tenant=x&validationToken=a%2Bb+c%20d%3A%26"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "a+b c d:&");
    assert!(app.drain_events().await.is_empty());
    assert!(app.subscriptions.notifications().is_empty());
}

#[tokio::test]
async fn a_verified_user_notification_is_recorded_once_and_triggers_one_sync() {
    let app = TestApp::spawn().await;
    app.subscribe(SUB, SECRET).await;
    let body = batch(vec![user_change(SUB, SECRET)]);

    let started = Instant::now();
    let r = app.post_webhook(CHANGES, &body).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.text().await.unwrap(), "");
    assert_eq!(app.drain_events().await, vec![SyncEvent::UsersChanged]);
    let stored = app.subscriptions.notifications();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].subscription_id, SUB);
    assert_eq!(stored[0].change_type, "updated");
    assert_eq!(stored[0].resource_id.as_deref(), Some(USER_ID));
    // Above 2^53: every digit kept.
    assert_eq!(stored[0].sequence.as_deref(), Some("638059995676961300"));

    // Graph delivers at least once: the replay is accepted but acts on nothing.
    let r = app.post_webhook(CHANGES, &body).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(app.drain_events().await.is_empty());
    assert_eq!(app.subscriptions.notifications().len(), 1);
}

#[tokio::test]
async fn forged_and_unknown_notifications_are_accepted_but_ignored_without_leaking_the_secret() {
    let counters = counters();
    let app = TestApp::spawn().await;
    app.subscribe(SUB, SECRET).await;
    let logs = LogBuffer::default();
    let _guard = logs.capture();
    let rejected_before = counters.sum("switchboard_webhook_rejected_total");

    let forged = "FORGED-client-state-guess";
    let wrong_state = batch(vec![user_change(SUB, forged)]);
    let unknown = batch(vec![user_change(
        "00000000-0000-0000-0000-000000000000",
        SECRET,
    )]);
    let mut missing_state = user_change(SUB, "");
    missing_state.as_object_mut().unwrap().remove("clientState");
    for body in [wrong_state, unknown, batch(vec![missing_state])] {
        let r = app.post_webhook(CHANGES, &body).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{body}");
        assert_eq!(r.text().await.unwrap(), "");
    }
    assert!(app.drain_events().await.is_empty());
    assert!(app.subscriptions.notifications().is_empty());

    let log = logs.text();
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains("client_state_mismatch"), "{log}");
    assert!(log.contains("unknown_subscription"), "{log}");
    assert!(!log.contains(SECRET), "{log}");
    assert!(!log.contains(forged), "{log}");
    assert!(!log.contains(&auth::hash_token(SECRET)), "{log}");

    assert!(counters.sum("switchboard_webhook_rejected_total") >= rejected_before + 3);
    for key in counters.keys() {
        assert!(!key.contains(SECRET) && !key.contains(forged), "{key}");
    }
}

#[tokio::test]
async fn malformed_bodies_get_400_and_act_on_nothing() {
    let app = TestApp::spawn().await;
    app.subscribe(SUB, SECRET).await;
    for body in [
        "{\"value\": [".to_owned(),
        "not json".to_owned(),
        json!({"items": [user_change(SUB, SECRET)]}).to_string(),
        json!({"value": {"not": "an array"}}).to_string(),
    ] {
        let r = Client::new()
            .post(app.url(CHANGES))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = r.json().await.unwrap();
        assert!(error["error"].is_string(), "{error}");
    }
    // Over the 1 MiB limit.
    let huge = format!(
        "{{\"value\":[],\"pad\":\"{}\"}}",
        "x".repeat(1024 * 1024 + 1)
    );
    let r = Client::new()
        .post(app.url(CHANGES))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(app.drain_events().await.is_empty());
    assert!(app.subscriptions.notifications().is_empty());
}

#[tokio::test]
async fn lifecycle_events_are_recorded_and_forwarded() {
    let app = TestApp::spawn().await;
    app.subscribe(SUB, SECRET).await;
    let body = batch(vec![json!({
        "subscriptionId": SUB,
        "subscriptionExpirationDateTime": "2026-11-03T08:00:00+05:30",
        "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
        "clientState": SECRET,
        "lifecycleEvent": "reauthorizationRequired"
    })]);
    let r = app.post_webhook(LIFECYCLE, &body).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        app.drain_events().await,
        vec![SyncEvent::Lifecycle {
            subscription_id: SUB.into(),
            event: "reauthorizationRequired".into()
        }]
    );
    let stored = app.subscriptions.notifications();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].change_type, "reauthorizationRequired");
    assert_eq!(stored[0].resource_id, None);
    assert_eq!(stored[0].sequence, None);

    // A forged lifecycle event does nothing.
    let mut forged = body.clone();
    forged["value"][0]["clientState"] = json!("nope");
    forged["value"][0]["lifecycleEvent"] = json!("subscriptionRemoved");
    let r = app.post_webhook(LIFECYCLE, &forged).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(app.drain_events().await.is_empty());
    assert_eq!(app.subscriptions.notifications().len(), 1);
}

#[tokio::test]
async fn in_a_mixed_batch_only_the_verified_item_acts() {
    let app = TestApp::spawn().await;
    app.subscribe(SUB, SECRET).await;
    let mut forged = user_change(SUB, "guess");
    forged["resourceData"]["id"] = json!("other-user");
    forged["resource"] = json!("Users/other-user");
    let body = batch(vec![forged, json!("junk"), user_change(SUB, SECRET)]);
    let r = app.post_webhook(CHANGES, &body).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(app.drain_events().await, vec![SyncEvent::UsersChanged]);
    let stored = app.subscriptions.notifications();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].resource_id.as_deref(), Some(USER_ID));
}

#[tokio::test]
async fn non_user_changes_are_recorded_without_a_user_sync() {
    let app = TestApp::spawn().await;
    app.subscribe(SUB, SECRET).await;
    let body = batch(vec![json!({
        "subscriptionId": SUB,
        "changeType": "created",
        "resource": format!("Users/{USER_ID}/Events/AAMkAGI1"),
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": format!("Users/{USER_ID}/Events/AAMkAGI1"),
            "id": "AAMkAGI1"
        },
        "clientState": SECRET
    })]);
    let r = app.post_webhook(CHANGES, &body).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(app.drain_events().await.is_empty());
    let stored = app.subscriptions.notifications();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].change_type, "created");
    assert_eq!(stored[0].sequence, None);
}

#[tokio::test]
async fn mailbox_changes_name_the_mailbox_of_the_stored_subscription() {
    const CONTACTS_SUB: &str = "0b8a2f59-2a53-4b7e-9d0e-6f1f1c3f2a11";
    const EVENTS_SUB: &str = "5d7c1e0a-93c4-4d8e-8a6b-0e2a9b4c7d22";
    const OTHER: &str = "9a1f3c5e-0000-4000-8000-00000000beef";
    let app = TestApp::spawn().await;
    let now: jiff::Timestamp = "2026-11-01T08:00:00Z".parse().unwrap();
    for (id, resource) in [
        (CONTACTS_SUB, format!("users/{USER_ID}/contacts")),
        (EVENTS_SUB, format!("users/{OTHER}/events")),
    ] {
        app.subscriptions
            .save_subscription(&SubscriptionRecord {
                id: id.into(),
                resource,
                expires_at: now + jiff::SignedDuration::from_hours(48),
                client_state_sha256: auth::hash_token(SECRET),
                created_at: now,
                renewed_at: now,
            })
            .await
            .unwrap();
    }
    let item = |sub: &str, change: &str, resource: String, id: &str, secret: &str| {
        json!({
            "subscriptionId": sub,
            "changeType": change,
            "resource": resource,
            "resourceData": {"@odata.type": "#Microsoft.Graph.Contact", "id": id},
            "clientState": secret
        })
    };
    let body = batch(vec![
        // The notification's own resource names someone else: the stored one decides.
        item(
            CONTACTS_SUB,
            "created",
            format!("Users/{OTHER}/Contacts/c1"),
            "c1",
            SECRET,
        ),
        item(
            CONTACTS_SUB,
            "updated",
            format!("Users/{USER_ID}/Contacts/c2"),
            "c2",
            SECRET,
        ),
        item(
            EVENTS_SUB,
            "created",
            format!("Users/{OTHER}/Events/e1"),
            "e1",
            SECRET,
        ),
        // Shaped like a user change, but on a contacts subscription: no user sync.
        json!({
            "subscriptionId": CONTACTS_SUB,
            "changeType": "updated",
            "resource": format!("Users/{USER_ID}"),
            "resourceData": {"@odata.type": "#Microsoft.Graph.User", "id": USER_ID},
            "clientState": SECRET
        }),
        // Forged: wrong clientState, acts on nothing.
        item(
            EVENTS_SUB,
            "created",
            format!("Users/{USER_ID}/Events/e2"),
            "e2",
            "guessed",
        ),
    ]);
    let r = app.post_webhook(CHANGES, &body).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        app.drain_events().await,
        vec![
            SyncEvent::ContactsChanged {
                mailbox: USER_ID.into()
            },
            SyncEvent::CalendarChanged {
                mailbox: OTHER.into()
            },
        ]
    );
    assert_eq!(app.subscriptions.notifications().len(), 4);

    // A replay is recorded once and sends nothing.
    let r = app.post_webhook(CHANGES, &body).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(app.drain_events().await.is_empty());
    assert_eq!(app.subscriptions.notifications().len(), 4);
}
