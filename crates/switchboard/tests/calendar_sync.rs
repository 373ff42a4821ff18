#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! Calendar → presence against the emulated tenant, in real time with entries a few seconds
//! long: the status follows "Show as" within a second of the entry's start and returns at its
//! end; Business Trip and the user's own change win. SQLite, and PostgreSQL with
//! SWITCHBOARD_TEST_POSTGRES.

mod common;

use common::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn member(name: &str) -> Value {
    let upn = format!(
        "{}@contoso.onmicrosoft.com",
        name.to_lowercase().replace(' ', ".")
    );
    json!({
        "displayName": name,
        "givenName": name.split(' ').next().unwrap(),
        "surname": name.split(' ').nth(1).unwrap_or(""),
        "userPrincipalName": upn,
        "mail": upn,
        "accountEnabled": true,
        "userType": "Member",
        "usageLocation": "GB",
    })
}

async fn connected() -> TestApp {
    let app = spawn_app().await;
    app.connect().await;
    app
}

async fn synced_user(app: &TestApp, name: &str) -> (String, String) {
    let id = app.add_user(member(name)).await;
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

/// Graph's dateTimeTimeZone for an instant `secs` from now, in UTC.
fn at(secs: f64) -> (jiff::Timestamp, Value) {
    let t = jiff::Timestamp::now() + jiff::SignedDuration::from_secs_f64(secs);
    let text = t.strftime("%Y-%m-%dT%H:%M:%S.%f").to_string();
    (t, json!({"dateTime": text, "timeZone": "UTC"}))
}

/// An entry from `from` to `to` seconds from now; returns its id and start/end instants.
async fn entry(
    app: &TestApp,
    user: &str,
    from: f64,
    to: f64,
    show_as: &str,
) -> (String, jiff::Timestamp, jiff::Timestamp) {
    let (start, s) = at(from);
    let (end, e) = at(to);
    let created = app
        .emulator_post(
            &format!("/_emulator/users/{user}/events"),
            json!({"subject": "Private matter", "start": s, "end": e, "showAs": show_as,
                   "sensitivity": "private"}),
        )
        .await;
    (created["id"].as_str().unwrap().to_owned(), start, end)
}

/// "Sync now"; waits while a scheduled run is in progress (409), as an admin would.
async fn sync_calendar(app: &TestApp) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app
            .api(Method::POST, "/api/v1/sync/calendar")
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        if status == 409 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        assert_eq!(status, 200, "{body}");
        return body;
    }
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

async fn set_status(app: &TestApp, number: &str, status: &str) {
    let r = app
        .api(Method::PUT, &format!("/api/v1/extensions/{number}/status"))
        .json(&json!({"status": status}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// Waits until the extension shows `status`, and says how late that was after `due`.
async fn wait_for(app: &TestApp, number: &str, status: &str, due: jiff::Timestamp) -> Duration {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let p = presence(app, number).await;
        if p["status"] == status {
            let now = jiff::Timestamp::now();
            return Duration::try_from(now.duration_since(due)).unwrap_or(Duration::ZERO);
        }
        assert!(
            Instant::now() < deadline,
            "{number} never became {status}: {p}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_status_follows_show_as_and_returns_when_the_entry_ends() {
    let app = connected().await;
    let (ada, number) = synced_user(&app, "Ada Lovelace").await;
    app.start_background();
    let (_, start, end) = entry(&app, &ada, 2.0, 4.0, "busy").await;
    sync_calendar(&app).await;
    let before = presence(&app, &number).await;
    assert_eq!(before["status"], "available", "{before}");

    let late = wait_for(&app, &number, "away", start).await;
    assert!(late < Duration::from_secs(1), "busy → away {late:?} late");
    let now = presence(&app, &number).await;
    assert_eq!(now["source"], "calendar", "{now}");

    let late = wait_for(&app, &number, "available", end).await;
    assert!(
        late < Duration::from_secs(1),
        "back to available {late:?} late"
    );
    // Privacy: the subject never reaches the logs.
    assert!(!common::captured_logs().contains("Private matter"));
}

#[tokio::test]
async fn business_trip_is_never_replaced_and_the_users_own_change_wins() {
    let app = connected().await;
    let (ada, ada_number) = synced_user(&app, "Ada Lovelace").await;
    let (bob, bob_number) = synced_user(&app, "Bob Babbage").await;
    app.start_background();
    set_status(&app, &ada_number, "business_trip").await;
    let (_, _, ada_end) = entry(&app, &ada, 1.0, 3.0, "oof").await;
    let (_, bob_start, bob_end) = entry(&app, &bob, 1.0, 3.5, "oof").await;
    sync_calendar(&app).await;

    wait_for(&app, &bob_number, "do_not_disturb", bob_start).await;
    assert_eq!(presence(&app, &ada_number).await["status"], "business_trip");
    // Bob changes his own status while the entry runs: it stays after the entry ends.
    set_status(&app, &bob_number, "lunch").await;
    let settle = Duration::try_from(bob_end.duration_since(jiff::Timestamp::now()))
        .unwrap_or(Duration::ZERO)
        + Duration::from_millis(1500);
    tokio::time::sleep(settle).await;
    let bob_now = presence(&app, &bob_number).await;
    assert_eq!(bob_now["status"], "lunch", "{bob_now}");
    assert_eq!(bob_now["source"], "manual");
    assert!(jiff::Timestamp::now() > ada_end);
    assert_eq!(presence(&app, &ada_number).await["status"], "business_trip");
}

#[tokio::test]
async fn a_cancelled_or_shortened_entry_is_replanned() {
    let app = connected().await;
    let (ada, number) = synced_user(&app, "Ada Lovelace").await;
    app.start_background();
    let (cancelled, start, _) = entry(&app, &ada, 2.0, 3.0, "busy").await;
    let (long, long_start, _) = entry(&app, &ada, 4.0, 60.0, "oof").await;
    sync_calendar(&app).await;
    // Cancelled before it starts: nothing happens at its start.
    let r = app
        .http
        .delete(app.emulator_url(&format!("/_emulator/users/{ada}/events/{cancelled}")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    sync_calendar(&app).await;
    tokio::time::sleep(
        Duration::try_from(start.duration_since(jiff::Timestamp::now())).unwrap_or_default()
            + Duration::from_millis(700),
    )
    .await;
    assert_eq!(presence(&app, &number).await["status"], "available");

    // The long entry starts, then is shortened to end in a second: the status returns then.
    wait_for(&app, &number, "do_not_disturb", long_start).await;
    let (new_end, e) = at(1.0);
    let r = app
        .http
        .patch(app.emulator_url(&format!("/_emulator/users/{ada}/events/{long}")))
        .json(&json!({"end": e}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    sync_calendar(&app).await;
    let late = wait_for(&app, &number, "available", new_end).await;
    assert!(late < Duration::from_secs(1), "{late:?} late");
}

#[tokio::test]
async fn a_user_without_a_mailbox_is_skipped_with_the_reason() {
    let app = connected().await;
    let mut nora = member("Nora Nomail");
    nora["mailboxEnabled"] = json!(false);
    app.add_user(nora).await;
    app.sync("").await;
    let run = sync_calendar(&app).await;
    assert_eq!(run["run"]["counts"]["skipped"], 1, "{run}");
    let skipped: Vec<Value> = app
        .api(Method::GET, "/api/v1/sync/calendar/skipped")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0]["reason"], "no mailbox (plan without Exchange)");
}

#[derive(Debug)]
struct Leads;

#[async_trait::async_trait]
impl switchboard_core::ports::Leadership for Leads {
    async fn try_lead(&self) -> Result<bool, switchboard_core::ports::StoreError> {
        Ok(true)
    }
}

#[tokio::test]
async fn after_a_restart_in_the_middle_of_an_entry_the_status_still_returns_at_its_end() {
    let app = connected().await;
    let (ada, number) = synced_user(&app, "Ada Lovelace").await;
    let (_, start, end) = entry(&app, &ada, 1.0, 4.0, "busy").await;
    sync_calendar(&app).await;
    app.start_background();
    wait_for(&app, &number, "away", start).await;

    // The instance stops mid-entry; a new one starts on the same database and takes over.
    app.stop_background();
    let second = switchboard::app::build(&app.config).await.unwrap();
    let presence = second.services.presence.clone();
    let view = presence.presence(&number).await.unwrap();
    assert_eq!(
        view.status.as_str(),
        "away",
        "restored from the store: {view:?}"
    );
    // The new instance's timer fires the end of the entry (not merely computed on reading).
    // It leads at once: the stopped instance still holds PostgreSQL's advisory lock here,
    // where a real stop would have closed its connection.
    let mut changes = presence.subscribe();
    let tasks = [tokio::spawn(switchboard::presence::fire_transitions(
        presence.clone(),
        second.services.clock.clone(),
        std::sync::Arc::new(Leads),
    ))];
    let change = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let c = changes.recv().await.unwrap();
            if c.number == number {
                return c;
            }
        }
    })
    .await
    .expect("the new instance fired the end of the entry");
    assert_eq!(change.status.as_str(), "available", "{change:?}");
    let late = Duration::try_from(jiff::Timestamp::now().duration_since(end)).unwrap_or_default();
    assert!(
        late < Duration::from_secs(1),
        "restored {late:?} after the end"
    );
    for t in tasks {
        t.abort();
    }
}

#[tokio::test]
async fn an_all_day_entry_runs_from_midnight_in_the_mailbox_time_zone() {
    let app = connected().await;
    // usageLocation DE: the mailbox's zone is "W. Europe Standard Time"; the configured zone
    // stays UTC.
    let mut german = member("Grete Weiss");
    german["usageLocation"] = json!("DE");
    let id = app.add_user(german).await;
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
    // Tomorrow as Berlin counts days, so that its midnight is always ahead.
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let tomorrow = jiff::Timestamp::now()
        .to_zoned(berlin.clone())
        .date()
        .tomorrow()
        .unwrap();
    let midnight = |d: jiff::civil::Date| json!({"dateTime": format!("{d}T00:00:00.0000000"), "timeZone": "UTC"});
    app.emulator_post(
        &format!("/_emulator/users/{id}/events"),
        json!({"subject": "Holiday", "isAllDay": true, "showAs": "oof",
               "start": midnight(tomorrow), "end": midnight(tomorrow.tomorrow().unwrap())}),
    )
    .await;
    sync_calendar(&app).await;
    let p = presence(&app, &number).await;
    let expected = tomorrow.to_zoned(berlin).unwrap().timestamp();
    assert_eq!(p["status"], "available", "{p}");
    assert_eq!(p["until"], json!(expected), "{p}");
}
