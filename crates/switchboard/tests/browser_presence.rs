#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! The Presence board, Calendar Sync tab and a user's timeline in a real browser (headless
//! Chromium via chromedriver), against the emulated tenant: the board follows status changes
//! live from the stream (a change through the API, then a calendar entry starting), without a
//! reload; an admin sets a status on the board; the "Show as" mapping is changed and saved; the
//! timeline draws the day's entry. Screenshots are kept under target/screenshots/presence-*.png.

mod common;

use common::browser::{
    browser, click, click_and_wait_for_navigation, exists, set_field, shot, text_of, wait_for,
};
use common::{ADMIN, PASSWORD, TestApp, spawn_app};
use fantoccini::{Client, Locator};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ADA: &str = "Ada Lovelace";
const BOB: &str = "Bob Babbage";

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

fn number_of(extensions: &[Value], id: &str) -> String {
    extensions
        .iter()
        .find(|e| e["graph_user_id"] == id)
        .expect("a synced extension")["number"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Graph's dateTimeTimeZone for an instant `secs` from now, in UTC.
fn at(secs: f64) -> (jiff::Timestamp, Value) {
    let t = jiff::Timestamp::now() + jiff::SignedDuration::from_secs_f64(secs);
    let text = t.strftime("%Y-%m-%dT%H:%M:%S.%f").to_string();
    (t, json!({"dateTime": text, "timeZone": "UTC"}))
}

/// "Sync now" through the API; waits while a scheduled run holds the lock (409).
async fn sync_calendar(app: &TestApp) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = app
            .api(Method::POST, "/api/v1/sync/calendar")
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        if status == 409 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
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

/// One row of the board as the page shows it now.
async fn board_row(c: &Client, number: &str) -> Value {
    c.execute(
        "const row = document.getElementById('ext-' + arguments[0]);
         if (!row) { return null; }
         const f = name => row.querySelector('[data-field=\"' + name + '\"]');
         return {
             status: f('status').getAttribute('data-status'),
             label: f('status').textContent.trim(),
             source: f('source').textContent.trim(),
             until: f('until').getAttribute('datetime'),
             until_text: f('until').textContent.trim(),
             restores: f('restores').getAttribute('data-status'),
             restores_label: f('restores').textContent.trim(),
         };",
        vec![json!(number)],
    )
    .await
    .unwrap()
}

/// Polls the page (never reloading it) until the row shows `status`; returns the row, or panics
/// with what the page showed after `secs`.
async fn wait_for_badge(c: &Client, number: &str, status: &str, secs: f64) -> Value {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        let row = board_row(c, number).await;
        if row["status"] == status {
            return row;
        }
        assert!(
            Instant::now() < deadline,
            "extension {number} did not show {status} within {secs} s: {row}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn same_page(c: &Client) -> bool {
    c.execute("return window.sbSamePage === true;", vec![])
        .await
        .unwrap()
        == json!(true)
}

async fn selected(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on page"))
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

#[tokio::test]
async fn the_presence_board_follows_changes_live_and_calendar_sync_is_set_up_in_the_browser() {
    let app = spawn_app().await;
    app.connect().await;
    let ada = app.add_user(member(ADA)).await;
    let bob = app.add_user(member(BOB)).await;
    app.sync("").await;
    let extensions = app.extensions().await;
    let ada_number = number_of(&extensions, &ada);
    let bob_number = number_of(&extensions, &bob);
    // The scheduler and the presence timer, which starts and ends calendar entries.
    app.start_background();

    let (_driver, c) = browser().await;

    // 1. Log in; the board lists both, Available, connected to the live stream.
    c.goto(&format!("{}/presence", app.url)).await.unwrap();
    assert!(
        c.current_url().await.unwrap().path().starts_with("/login"),
        "login first"
    );
    set_field(&c, "#login-username", ADMIN).await;
    set_field(&c, "#login-password", PASSWORD).await;
    click(&c, "#login-submit").await;
    wait_for(&c, "#presence-board", 10).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/presence");
    wait_for(&c, "#live-status[data-state='live']", 20).await;
    assert_eq!(text_of(&c, "#live-status").await, "Live");
    for (number, name) in [(&ada_number, ADA), (&bob_number, BOB)] {
        let row = board_row(&c, number).await;
        assert_eq!(row["status"], "available", "{number}: {row}");
        assert_eq!(row["label"], "Available");
        assert_eq!(row["source"], "default");
        assert_eq!(
            text_of(&c, &format!("#ext-{number} td:nth-child(2)")).await,
            name
        );
    }
    // Anything that reloads the page forgets this.
    c.execute("window.sbSamePage = true;", vec![])
        .await
        .unwrap();

    // 2. A status changed through the API shows on the open board within 3 s.
    let r = app
        .api(
            Method::PUT,
            &format!("/api/v1/extensions/{ada_number}/status"),
        )
        .json(&json!({"status": "lunch"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let row = wait_for_badge(&c, &ada_number, "lunch", 3.0).await;
    assert_eq!(row["label"], "Lunch", "{row}");
    assert_eq!(row["source"], "manual", "{row}");
    assert!(
        exists(
            &c,
            &format!("#ext-{ada_number} .presence-badge.presence-lunch")
        )
        .await,
        "the badge's colour follows"
    );
    assert!(same_page(&c).await, "updated in place, not reloaded");
    let offered = c
        .execute(
            &format!("return document.getElementById('set-{ada_number}').value"),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        offered, "lunch",
        "the Set form offers the status shown, not a stale one"
    );
    assert_eq!(
        board_row(&c, &bob_number).await["status"],
        "available",
        "only Ada's row changed"
    );
    shot(&c, "presence-01-board-live").await;

    // 3. A calendar entry starting in 2 s flips Bob's badge when it starts, still without a
    // reload. Busy maps to Away by default.
    let (start, s) = at(2.0);
    let (end, e) = at(1800.0);
    app.emulator_post(
        &format!("/_emulator/users/{bob}/events"),
        json!({"subject": "Design review", "start": s, "end": e, "showAs": "busy"}),
    )
    .await;
    sync_calendar(&app).await;
    let row = wait_for_badge(&c, &bob_number, "away", 20.0).await;
    let seen = jiff::Timestamp::now();
    assert!(
        seen >= start - jiff::SignedDuration::from_secs(1),
        "the status changed before the entry started ({seen} < {start})"
    );
    assert_eq!(row["label"], "Away", "{row}");
    assert_eq!(row["source"], "calendar", "{row}");
    assert_eq!(
        row["restores"], "available",
        "then back to Available: {row}"
    );
    assert_eq!(row["restores_label"], "Available", "{row}");
    let until: jiff::Timestamp = row["until"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|e| panic!("until is a time: {row}: {e}"));
    assert!(
        until.duration_since(end).abs() < jiff::SignedDuration::from_secs(1),
        "until the entry ends: {until} vs {end}"
    );
    assert!(!row["until_text"].as_str().unwrap().is_empty(), "{row}");
    assert!(same_page(&c).await, "updated in place, not reloaded");
    assert_eq!(board_row(&c, &ada_number).await["status"], "lunch");
    let api = presence(&app, &bob_number).await;
    assert_eq!(
        (&api["status"], &api["source"]),
        (&json!("away"), &json!("calendar")),
        "the API agrees: {api}"
    );
    shot(&c, "presence-02-board-calendar").await;

    // 4. An admin sets a status on the board.
    c.find(Locator::Css(&format!("#set-{ada_number}")))
        .await
        .unwrap()
        .select_by_value("do_not_disturb")
        .await
        .unwrap();
    click_and_wait_for_navigation(&c, &format!("#ext-{ada_number} form.set-status button")).await;
    wait_for(&c, "#presence-board", 10).await;
    wait_for(&c, "#notice", 10).await;
    let row = board_row(&c, &ada_number).await;
    assert_eq!(row["status"], "do_not_disturb", "{row}");
    assert_eq!(row["label"], "Do not disturb", "{row}");
    assert_eq!(row["source"], "manual", "{row}");
    let api = presence(&app, &ada_number).await;
    assert_eq!(api["status"], "do_not_disturb", "{api}");

    // 5. Calendar Sync: the last run is shown; change the mapping of one "Show as" and save.
    click_and_wait_for_navigation(&c, ".mainnav a[href='/sync/calendar']").await;
    wait_for(&c, "#calendar-sync-settings", 10).await;
    assert!(
        !text_of(&c, "#last-run").await.starts_with("never"),
        "the sync that ran is shown"
    );
    assert_eq!(text_of(&c, "#calendar-sync-enabled").await, "on");
    assert_eq!(selected(&c, "#map_busy").await, "away");
    assert_eq!(
        selected(&c, "#map_tentative").await,
        "",
        "No change by default"
    );
    c.find(Locator::Id("map_tentative"))
        .await
        .unwrap()
        .select_by_value("lunch")
        .await
        .unwrap();
    click_and_wait_for_navigation(&c, "#save-calendar-sync").await;
    wait_for(&c, "#notice", 10).await;
    assert!(
        text_of(&c, "#notice")
            .await
            .starts_with("Calendar sync settings saved"),
    );
    assert!(!exists(&c, "#mapping-error").await);
    c.goto(&format!("{}/sync/calendar", app.url)).await.unwrap();
    wait_for(&c, "#calendar-sync-settings", 10).await;
    assert_eq!(
        selected(&c, "#map_tentative").await,
        "lunch",
        "the mapping persists"
    );
    assert_eq!(
        selected(&c, "#map_busy").await,
        "away",
        "the others are kept"
    );
    let saved: Value = app
        .api(Method::GET, "/api/v1/settings/calendar-sync")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(saved["mapping"]["tentative"], "lunch", "{saved}");
    assert_eq!(saved["mapping"]["busy"], "away", "{saved}");
    assert_eq!(saved["enabled"], true, "{saved}");
    c.execute(
        "document.getElementById('mapping-table').scrollIntoView({block: 'center'});",
        vec![],
    )
    .await
    .unwrap();
    shot(&c, "presence-03-calendar-sync").await;

    // 6. Bob's day: the entry is a block on the timeline, his status now is Away.
    click_and_wait_for_navigation(&c, ".mainnav a[href='/presence']").await;
    wait_for(&c, "#presence-board", 10).await;
    click_and_wait_for_navigation(&c, &format!("#ext-{bob_number} a.number")).await;
    wait_for(&c, "svg#timeline", 10).await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        format!("/extensions/{bob_number}/presence")
    );
    assert_eq!(text_of(&c, "#extension-number").await, bob_number);
    assert_eq!(
        c.find(Locator::Id("current-status"))
            .await
            .unwrap()
            .attr("data-status")
            .await
            .unwrap()
            .as_deref(),
        Some("away")
    );
    let blocks = c
        .execute(
            "return Array.from(document.querySelectorAll('#timeline g.tl-entry')).map(g => {
                 const r = g.querySelector('rect').getBoundingClientRect();
                 return {show_as: g.getAttribute('data-show-as'), width: r.width, height: r.height};
             });",
            vec![],
        )
        .await
        .unwrap();
    let blocks = blocks.as_array().unwrap();
    assert!(!blocks.is_empty(), "at least one entry block");
    assert!(
        blocks
            .iter()
            .any(|b| b["show_as"] == "busy" && b["width"].as_f64().unwrap() > 0.0),
        "the busy entry is drawn: {blocks:?}"
    );
    let statuses = c
        .find_all(Locator::Css("#timeline g.tl-status[data-status='away']"))
        .await
        .unwrap();
    assert!(!statuses.is_empty(), "the status lane shows Away");
    assert!(!exists(&c, "#no-entries").await);
    assert!(
        !c.source().await.unwrap().contains("Design review"),
        "subjects are never shown"
    );
    shot(&c, "presence-04-timeline").await;

    c.close().await.ok();
}
