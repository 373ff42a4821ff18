#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! Per-mailbox change notifications end to end: with a public URL, Switchboard subscribes to
//! the contacts and events of every mailbox the contact and calendar syncs cover (the emulator
//! runs the validation handshake against our webhook), and a change in Outlook reaches the
//! phonebook or the presence within seconds, without a manual sync.

mod common;

use common::{TestApp, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn with_public_url() -> TestApp {
    let app = spawn_app_with(|c| {
        c.public_url = Some(format!("http://{}", c.listen).parse().unwrap());
    })
    .await;
    app.connect().await;
    app
}

fn member(name: &str) -> Value {
    let upn = format!(
        "{}@contoso.onmicrosoft.com",
        name.to_lowercase().replace(' ', ".")
    );
    json!({
        "displayName": name,
        "userPrincipalName": upn,
        "mail": upn,
        "accountEnabled": true,
        "userType": "Member",
        "usageLocation": "GB",
    })
}

/// Adds a user and syncs users, returning (Entra id, extension number).
async fn synced_user(app: &TestApp, name: &str, mailbox: bool) -> (String, String) {
    let mut body = member(name);
    if !mailbox {
        body["mailboxEnabled"] = json!(false);
    }
    let id = app.add_user(body).await;
    app.sync("").await;
    let number = app
        .extensions()
        .await
        .iter()
        .find(|e| e["graph_user_id"] == id.as_str())
        .unwrap()["number"]
        .as_str()
        .unwrap()
        .to_owned();
    (id, number)
}

/// The live subscriptions' resources, lower case without a leading slash.
async fn live_resources(app: &TestApp) -> Vec<String> {
    let v: Value = app
        .http
        .get(app.emulator_url("/_emulator/subscriptions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["value"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|s| s["expired"] != true)
        .filter_map(|s| s["resource"].as_str())
        .map(|r| r.trim_start_matches('/').to_lowercase())
        .collect()
}

async fn wait_for_subscriptions(app: &TestApp, wanted: &[String]) -> Vec<String> {
    let start = Instant::now();
    loop {
        let live = live_resources(app).await;
        if wanted.iter().all(|w| live.contains(&w.to_lowercase())) {
            return live;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not subscribed: {live:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn phonebook(app: &TestApp, number: &str) -> Vec<Value> {
    let r = app
        .api(
            Method::GET,
            &format!("/api/v1/extensions/{number}/phonebook?limit=500"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn presence(app: &TestApp, number: &str) -> Value {
    let r = app
        .api(Method::GET, "/api/v1/presence")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let all: Vec<Value> = r.json().await.unwrap();
    all.into_iter()
        .find(|p| p["extension"] == number)
        .unwrap_or(Value::Null)
}

/// Graph's dateTimeTimeZone for an instant `secs` from now, in UTC.
fn at(secs: f64) -> (jiff::Timestamp, Value) {
    let t = jiff::Timestamp::now() + jiff::SignedDuration::from_secs_f64(secs);
    let text = t.strftime("%Y-%m-%dT%H:%M:%S.%f").to_string();
    (t, json!({"dateTime": text, "timeZone": "UTC"}))
}

/// Subscribes, then waits for the scheduler's first contact and calendar runs to end, so that
/// whatever happens next can only come from a notification.
async fn subscribed(app: &TestApp, ada: &str) {
    app.start_background();
    wait_for_subscriptions(
        app,
        &[
            "users".into(),
            format!("users/{ada}/contacts"),
            format!("users/{ada}/events"),
        ],
    )
    .await;
    let start = Instant::now();
    while app.services.contact_sync.is_running() || app.services.calendar_sync.is_running() {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_new_outlook_contact_reaches_the_phonebook_by_notification() {
    let app = with_public_url().await;
    let (ada, number) = synced_user(&app, "Ada Lovelace", true).await;
    let (nora, _) = synced_user(&app, "Nora Nomail", false).await;
    subscribed(&app, &ada).await;
    assert!(phonebook(&app, &number).await.is_empty());

    let started = Instant::now();
    app.emulator_post(
        &format!("/_emulator/users/{ada}/contacts"),
        json!({"displayName": "Bob Builder", "businessPhones": ["020 7946 0123"]}),
    )
    .await;
    let took = loop {
        let book = phonebook(&app, &number).await;
        if book.iter().any(|e| e["display_name"] == "Bob Builder") {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "not in the phonebook within 2 s: {book:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("Outlook contact → phonebook: {took:?}");

    // A user skipped for having no mailbox gets no mailbox subscriptions.
    let live = live_resources(&app).await;
    let nora = nora.to_lowercase();
    assert!(
        !live.iter().any(|r| r.contains(&nora)),
        "no subscription for a user without a mailbox: {live:?}"
    );
}

#[tokio::test]
async fn a_new_calendar_entry_changes_the_presence_at_its_start_by_notification() {
    let app = with_public_url().await;
    let (ada, number) = synced_user(&app, "Ada Lovelace", true).await;
    subscribed(&app, &ada).await;
    assert_eq!(presence(&app, &number).await["status"], "available");

    let created = Instant::now();
    let (start, s) = at(2.0);
    let (_, e) = at(4.0);
    app.emulator_post(
        &format!("/_emulator/users/{ada}/events"),
        json!({"subject": "Design review", "start": s, "end": e, "showAs": "busy"}),
    )
    .await;
    // The notification's run plans the entry; the timer fires it at its start.
    let planned = loop {
        if app.services.presence.next_due().is_some() {
            break created.elapsed();
        }
        assert!(
            created.elapsed() < Duration::from_secs(2),
            "the entry was not planned within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let deadline = Instant::now() + Duration::from_secs(6);
    let late = loop {
        let p = presence(&app, &number).await;
        if p["status"] == "away" {
            let now = jiff::Timestamp::now();
            break Duration::try_from(now.duration_since(start)).unwrap_or(Duration::ZERO);
        }
        assert!(Instant::now() < deadline, "never became away: {p}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!(
        "Outlook event created → planned: {planned:?}; status change {late:?} after the start"
    );
    assert!(late < Duration::from_secs(1), "busy → away {late:?} late");
    let now = presence(&app, &number).await;
    assert_eq!(now["source"], "calendar", "{now}");
}
