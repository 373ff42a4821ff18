//! Presence over the API (list, the user's own change, the live stream), calendar sync over the
//! API, and the console: the Presence board, an extension's timeline and the Calendar Sync tab.

use crate::fakes::{calendar_event, member, user_id};
use crate::*;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use switchboard_core::presence::{CalendarEntry, ShowAs};

/// Two synced users: Ada Lovelace on 100, Alan Turing on 101 (the clock says 08:00 UTC).
async fn app_with_users() -> TestApp {
    let app = TestApp::spawn().await;
    app.directory.set_users(vec![
        member(1, "Ada", "Lovelace"),
        member(2, "Alan", "Turing"),
    ]);
    sync_users(&app, "").await;
    app
}

async fn page(browser: &Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = browser.get(app.url(path)).send().await.unwrap();
    let status = r.status();
    (status, r.text().await.unwrap())
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn item<'a>(list: &'a Value, number: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|i| i["extension"] == number)
        .unwrap_or_else(|| panic!("{number} not in {list}"))
}

async fn put_status(app: &TestApp, number: &str, body: Value) -> (StatusCode, Value) {
    let r = app
        .api(Method::PUT, &format!("/api/v1/extensions/{number}/status"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

fn at(time: &str) -> jiff::Timestamp {
    format!("2026-11-01T{time}:00Z").parse().unwrap()
}

fn entry(id: &str, start: &str, end: &str, show_as: ShowAs) -> CalendarEntry {
    CalendarEntry {
        id: id.into(),
        start: at(start),
        end: at(end),
        show_as,
        is_all_day: false,
        is_cancelled: false,
    }
}

/// Ada has a meeting going on (07:30–09:00, busy); Alan's licence has no Exchange.
async fn run_calendar_sync(app: &TestApp) -> Value {
    app.calendars.set_events(
        &user_id(1),
        vec![calendar_event(
            "ev-1",
            "2026-11-01T07:30:00",
            "2026-11-01T09:00:00",
            "busy",
        )],
    );
    app.calendars.without_mailbox(&user_id(2));
    let r = app
        .api(Method::POST, "/api/v1/sync/calendar")
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

// ---------------------------------------------------------------------------------------------
// API
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_list_shows_every_extension_and_put_sets_the_users_status() {
    let app = app_with_users().await;
    let list = get_json(&app, "/api/v1/presence").await;
    assert_eq!(
        list,
        json!([
            {"extension": "100", "name": "Ada Lovelace", "status": "available", "source": "default"},
            {"extension": "101", "name": "Alan Turing", "status": "available", "source": "default"}
        ])
    );

    let (status, body) = put_status(&app, "101", json!({"status": "away"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"extension": "101", "name": "Alan Turing", "status": "away", "source": "manual"})
    );
    let list = get_json(&app, "/api/v1/presence").await;
    assert_eq!(item(&list, "101")["status"], "away");
    assert_eq!(item(&list, "101")["source"], "manual");
    assert_eq!(item(&list, "100")["status"], "available");

    // A bad status: 400, and the message lists the good ones.
    let (status, body) = put_status(&app, "101", json!({"status": "napping"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "\"napping\" is not a status: use one of available, away, do_not_disturb, lunch, business_trip."
    );
    let (status, body) = put_status(&app, "101", json!({"state": "away"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("Unknown field \"state\"")
    );
    let (status, body) = put_status(&app, "101", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("business_trip"));

    // An unknown extension: 404.
    let (status, body) = put_status(&app, "999", json!({"status": "away"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["error"],
        "There is no extension 999: GET /api/v1/extensions lists them."
    );
    assert!(app.presence_store.state("999").is_none());
}

type Chunks = std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Vec<u8>>> + Send>>;

/// A Server-Sent Events reader over a streamed response.
struct Events {
    chunks: Chunks,
    buffer: String,
}

impl Events {
    fn new(response: reqwest::Response) -> Self {
        Self {
            chunks: Box::pin(response.bytes_stream().map(|r| r.map(|b| b.to_vec()))),
            buffer: String::new(),
        }
    }

    /// Reads events until one named `name` arrives (within 5 s); returns its data.
    async fn next_named(&mut self, name: &str) -> Value {
        let wanted = format!("event: {name}");
        let data = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                while let Some(end) = self.buffer.find("\n\n") {
                    let event: String = self.buffer.drain(..end + 2).collect();
                    if event.lines().any(|l| l == wanted) {
                        return event
                            .lines()
                            .filter_map(|l| l.strip_prefix("data: "))
                            .collect::<String>();
                    }
                }
                let chunk = self
                    .chunks
                    .next()
                    .await
                    .expect("the stream ended")
                    .expect("the stream failed");
                self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no `{name}` event within 5 s; unread: {:?}", self.buffer));
        serde_json::from_str(&data).unwrap()
    }
}

#[tokio::test]
async fn the_stream_starts_with_a_snapshot_and_delivers_a_change_after_put() {
    let app = app_with_users().await;
    let r = app
        .api(Method::GET, "/api/v1/presence/stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(r.headers()["x-accel-buffering"], "no");
    let mut events = Events::new(r);
    let snapshot = events.next_named("snapshot").await;
    assert_eq!(snapshot, get_json(&app, "/api/v1/presence").await);

    let (status, _) = put_status(&app, "100", json!({"status": "lunch"})).await;
    assert_eq!(status, StatusCode::OK);
    let change = events.next_named("presence").await;
    assert_eq!(change["extension"], "100");
    assert_eq!(change["name"], "Ada Lovelace");
    assert_eq!(change["status"], "lunch");
    assert_eq!(change["source"], "manual");
    assert_eq!(change["at"], "2026-11-01T08:00:00Z");

    // A calendar entry starting now: the stream says Away, and what returns at its end.
    app.presence
        .apply_entries("100", vec![entry("m1", "08:00", "09:00", ShowAs::Busy)])
        .await
        .unwrap();
    let change = events.next_named("presence").await;
    assert_eq!(change["status"], "away");
    assert_eq!(change["source"], "calendar");
    assert_eq!(change["until"], "2026-11-01T09:00:00Z");
    assert_eq!(change["restores"], "lunch");
    // The same as the list says.
    let list = get_json(&app, "/api/v1/presence").await;
    for key in ["status", "source", "until", "restores"] {
        assert_eq!(change[key], item(&list, "100")[key], "{key}");
    }
}

#[tokio::test]
async fn the_console_session_opens_the_stream() {
    let app = app_with_users().await;
    let browser = app.browser();
    let r = browser
        .get(app.url("/api/v1/presence/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let csrf = app.login(&browser).await;
    let r = browser
        .get(app.url("/api/v1/presence/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut events = Events::new(r);
    assert_eq!(
        events
            .next_named("snapshot")
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Changes with the session need the CSRF header, like every other API change.
    let r = browser
        .put(app.url("/api/v1/extensions/101/status"))
        .json(&json!({"status": "do_not_disturb"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = browser
        .put(app.url("/api/v1/extensions/101/status"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"status": "do_not_disturb"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let change = events.next_named("presence").await;
    assert_eq!(
        (&change["extension"], &change["status"]),
        (&json!("101"), &json!("do_not_disturb"))
    );
}

#[tokio::test]
async fn every_presence_and_calendar_route_needs_authentication() {
    let app = TestApp::spawn().await;
    let anonymous = Client::new();
    for (method, path) in [
        (Method::GET, "/api/v1/presence"),
        (Method::GET, "/api/v1/presence/stream"),
        (Method::PUT, "/api/v1/extensions/100/status"),
        (Method::GET, "/api/v1/sync/calendar/skipped"),
        (Method::GET, "/api/v1/settings/calendar-sync"),
        (Method::PUT, "/api/v1/settings/calendar-sync"),
        (Method::POST, "/api/v1/sync/calendar"),
    ] {
        let r = anonymous
            .request(method.clone(), app.url(path))
            .json(&json!({"status": "away"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("Authentication required")
        );
    }
    for path in ["/presence", "/extensions/100/presence", "/sync/calendar"] {
        let r = app.browser().get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(location(&r).starts_with("/login?next="), "{path}");
    }
    for path in [
        "/presence/100/status",
        "/sync/calendar/run",
        "/sync/calendar/settings",
    ] {
        let r = app
            .browser()
            .post(app.url(path))
            .form(&[("status", "away")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
    }
}

#[tokio::test]
async fn calendar_sync_runs_over_the_api_and_its_json_matches_the_openapi_document() {
    let app = app_with_users().await;
    let outcome = run_calendar_sync(&app).await;
    assert_eq!(outcome["run"]["kind"], "calendar");
    assert_eq!(outcome["run"]["processed"], 1);
    assert_eq!(outcome["run"]["counts"]["updated"], 1);
    assert_eq!(outcome["run"]["counts"]["skipped"], 1);
    assert_eq!(
        outcome["skipped"],
        json!([{
            "mailbox_id": user_id(2),
            "extension": "101",
            "name": "Alan Turing",
            "reason": "no mailbox (plan without Exchange)"
        }])
    );
    assert_eq!(outcome["failed"], json!([]));

    let list = get_json(&app, "/api/v1/presence").await;
    let ada = item(&list, "100").clone();
    assert_eq!(
        ada,
        json!({
            "extension": "100", "name": "Ada Lovelace", "status": "away", "source": "calendar",
            "until": "2026-11-01T09:00:00Z", "restores": "available"
        })
    );
    assert_eq!(item(&list, "101")["status"], "available");

    let skipped = get_json(&app, "/api/v1/sync/calendar/skipped").await;
    assert_eq!(skipped, outcome["skipped"]);
    let status = get_json(&app, "/api/v1/sync").await;
    let calendar = &status["calendar"];
    assert_eq!(calendar["enabled"], true);
    assert_eq!(calendar["mode"], "polling");
    assert_eq!(calendar["skipped"], 1);
    assert_eq!(calendar["last_run"]["counts"]["updated"], 1);

    // A dry run reads but changes nothing; an unknown kind names the known ones.
    let r = app
        .api(Method::POST, "/api/v1/sync/calendar?dry_run=true&full=true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .api(Method::POST, "/api/v1/sync/weather")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("users, contacts and calendar")
    );

    // Settings over the API: partial, checked, and the mapping never sets Business Trip.
    let r = app
        .api(Method::PUT, "/api/v1/settings/calendar-sync")
        .json(&json!({"mapping": {"tentative": "lunch"}, "window_hours": 24}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let settings = get_json(&app, "/api/v1/settings/calendar-sync").await;
    assert_eq!(settings["mapping"]["tentative"], "lunch");
    assert_eq!(
        settings["mapping"]["busy"], "away",
        "rows not sent are kept"
    );
    assert_eq!(settings["window_hours"], 24);
    for (body, expected) in [
        (
            json!({"mapping": {"busy": "business_trip"}}),
            "business_trip",
        ),
        (
            json!({"window_hours": 0}),
            "window_hours: the window must be between 1 and 336",
        ),
        (
            json!({"time_zone": "Atlantis/Capital"}),
            "\"Atlantis/Capital\"",
        ),
        (
            json!({"colour": "red"}),
            "Unknown calendar sync setting \"colour\"",
        ),
    ] {
        let r = app
            .api(Method::PUT, "/api/v1/settings/calendar-sync")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let error: Value = r.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().contains(expected),
            "{error}"
        );
    }

    // Turned off: the calendar's status gives way, and runs are refused with the way out.
    let r = app
        .api(Method::PUT, "/api/v1/settings/calendar-sync")
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let list = get_json(&app, "/api/v1/presence").await;
    assert_eq!(item(&list, "100")["status"], "available");
    let r = app
        .api(Method::POST, "/api/v1/sync/calendar")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("\"enabled\": true"),
        "{body}"
    );

    // The OpenAPI schemas name exactly these fields.
    let doc = get_json(&app, "/api/v1/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(keys(&schemas["PresenceItem"]["properties"]), keys(&ada));
    assert_eq!(
        keys(&schemas["CalendarSyncStatus"]["properties"]),
        keys(calendar)
    );
    assert_eq!(keys(&schemas["SyncOverview"]["properties"]), keys(&status));
    assert_eq!(
        keys(&schemas["CalendarSyncConfig"]["properties"]),
        keys(&settings)
    );
    assert_eq!(
        keys(&schemas["ShowAsMapping"]["properties"]),
        keys(&settings["mapping"])
    );
    assert_eq!(
        keys(&schemas["SkippedMailbox"]["properties"]),
        keys(&skipped[0])
    );
    assert_eq!(
        keys(&schemas["CalendarRunOutcome"]["properties"]),
        keys(&outcome)
    );
    assert_eq!(
        keys(&schemas["SyncRun"]["properties"]),
        keys(&outcome["run"])
    );
    for path in [
        "/api/v1/presence",
        "/api/v1/presence/stream",
        "/api/v1/extensions/{number}/status",
        "/api/v1/sync/calendar/skipped",
        "/api/v1/settings/calendar-sync",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    assert_eq!(
        schemas["SyncRunResult"]["oneOf"].as_array().unwrap().len(),
        2,
        "a run answers a RunOutcome or a CalendarRunOutcome"
    );
    assert!(
        doc["paths"]["/api/v1/presence/stream"]["get"]["responses"]["200"]["content"]
            ["text/event-stream"]
            .is_object()
    );
    let put = &doc["paths"]["/api/v1/extensions/{number}/status"]["put"]["responses"];
    for code in ["200", "400", "404"] {
        assert!(put[code].is_object(), "PUT status {code}");
    }
}

// ---------------------------------------------------------------------------------------------
// Console
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_board_shows_badges_and_an_admin_sets_a_status() {
    let app = app_with_users().await;
    run_calendar_sync(&app).await;
    let browser = app.browser();
    app.login(&browser).await;
    let (status, html) = page(&browser, &app, "/presence").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<a href=\"/presence\" class=\"active\" aria-current=\"page\">Presence</a>")
    );
    assert!(html.contains("<script src=\"/static/presence.js?v="));
    assert!(!html.contains("<script>"), "no inline script");
    assert!(html.contains("<noscript><meta http-equiv=\"refresh\""));
    // Ada: Away from her calendar until 09:00, then back to Available.
    let ada = &html
        [html.find("data-presence=\"100\"").unwrap()..html.find("data-presence=\"101\"").unwrap()];
    assert!(ada.contains("class=\"presence-badge presence-away\" data-field=\"status\" data-status=\"away\">Away<"), "{ada}");
    assert!(ada.contains("data-source=\"calendar\">calendar<"));
    assert!(
        ada.contains("<time data-field=\"until\" datetime=\"2026-11-01T09:00:00Z\">09:00</time>")
    );
    assert!(ada.contains("presence-badge presence-available presence-faint\">Available<"));
    assert!(ada.contains("Ada Lovelace"));
    let alan = &html[html.find("data-presence=\"101\"").unwrap()..];
    assert!(alan.contains("presence-badge presence-available\" data-field=\"status\""));
    assert!(alan.contains("data-source=\"default\">default<"));
    // The set form offers every status, Business trip too (a person may set it).
    assert!(alan.contains("<option value=\"business_trip\">Business trip</option>"));
    assert!(alan.contains("<option value=\"available\" selected>Available</option>"));

    let csrf = hidden_csrf(&html);
    let r = browser
        .post(app.url("/presence/101/status"))
        .form(&[("csrf_token", csrf.as_str()), ("status", "business_trip")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/presence?notice=set&ext=101#ext-101");
    let (_, html) = page(&browser, &app, "/presence?notice=set&ext=101").await;
    assert!(text_of(&html, "notice").starts_with("Status of extension 101 set."));
    let alan = &html[html.find("data-presence=\"101\"").unwrap()..];
    assert!(alan.contains("presence-business_trip\" data-field=\"status\" data-status=\"business_trip\">Business trip<"));
    assert!(alan.contains("data-source=\"manual\">manual<"));
    assert_eq!(
        item(&get_json(&app, "/api/v1/presence").await, "101")["status"],
        "business_trip"
    );

    // A filter narrows the board.
    let (_, html) = page(&browser, &app, "/presence?q=turing").await;
    assert!(html.contains("data-presence=\"101\"") && !html.contains("data-presence=\"100\""));

    // Refused: a made-up status, a stale form, an unknown extension.
    let r = browser
        .post(app.url("/presence/101/status"))
        .form(&[("csrf_token", csrf.as_str()), ("status", "gone fishing")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(text_of(&html, "page-error").contains("&#34;gone fishing&#34; is not a status"));
    let r = browser
        .post(app.url("/presence/101/status"))
        .form(&[("csrf_token", "stale"), ("status", "away")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = browser
        .post(app.url("/presence/999/status"))
        .form(&[("csrf_token", csrf.as_str()), ("status", "away")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("There is no extension 999.")
    );

    // The board's own files.
    for (path, kind) in [
        ("/static/presence.js", "text/javascript"),
        ("/static/presence.css", "text/css"),
    ] {
        let r = browser.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
    }
}

#[tokio::test]
async fn the_timeline_draws_the_stored_entries_and_the_statuses_they_set() {
    let app = app_with_users().await;
    app.presence
        .apply_entries(
            "100",
            vec![
                entry("m1", "09:00", "10:00", ShowAs::Busy),
                entry("m2", "09:30", "11:00", ShowAs::Tentative),
                entry("ooo", "13:00", "15:00", ShowAs::Oof),
                CalendarEntry {
                    start: "2026-11-02T09:00:00Z".parse().unwrap(),
                    end: "2026-11-02T10:00:00Z".parse().unwrap(),
                    ..entry("tomorrow", "09:00", "10:00", ShowAs::Busy)
                },
            ],
        )
        .await
        .unwrap();
    let browser = app.browser();
    app.login(&browser).await;
    let (status, html) = page(&browser, &app, "/extensions/100/presence").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<svg id=\"timeline\""));
    assert_eq!(text_of(&html, "timeline-date"), "Sunday 1 November 2026");
    // One bar per entry of today, coloured by "Show as"; tentative sets nothing by default.
    assert_eq!(html.matches("<g class=\"tl-entry ").count(), 3);
    assert!(html.contains("<g class=\"tl-entry tl-show-busy\" data-show-as=\"busy\"><title>09:00–10:00 · Show as Busy · sets Away</title><rect x=\"37.500%\""));
    assert!(html.contains("class=\"tl-entry tl-show-tentative tl-unmapped\""));
    assert!(html.contains(
        "<title>13:00–15:00 · Show as Away (out of office) · sets Do not disturb</title>"
    ));
    // The statuses from now on, and the "now" line at 08:00.
    assert!(html.contains("<line id=\"tl-now\" class=\"tl-now\" x1=\"33.333%\""));
    assert!(html.contains("now 08:00"));
    let changes = text_of_list(&html, "timeline-changes");
    assert_eq!(
        changes,
        [
            "09:00 Away",
            "10:00 Available",
            "13:00 Do not disturb",
            "15:00 Available"
        ]
    );
    assert!(html.contains("class=\"tl-status tl-status-away\" data-status=\"away\""));
    assert!(html.contains("class=\"tl-status tl-status-do_not_disturb\""));
    assert!(html.contains("class=\"tl-status tl-status-available\""));
    assert_eq!(text_of(&html, "current-status"), "Available");

    // Set from the timeline: back to it, and the rest of the day follows the new status.
    let csrf = hidden_csrf(&html);
    let r = browser
        .post(app.url("/presence/100/status"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("status", "lunch"),
            ("back", "timeline"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/extensions/100/presence?notice=set");
    let (_, html) = page(&browser, &app, "/extensions/100/presence?notice=set").await;
    assert_eq!(text_of(&html, "current-status"), "Lunch");
    assert_eq!(text_of_list(&html, "timeline-changes")[1], "10:00 Lunch");

    // An extension without entries; an unknown one.
    let (_, html) = page(&browser, &app, "/extensions/101/presence").await;
    assert!(html.contains("id=\"no-entries\""));
    assert!(html.contains("id=\"no-changes\""));
    let (status, _) = page(&browser, &app, "/extensions/999/presence").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The extension page links here.
    let (_, html) = page(&browser, &app, "/extensions/100").await;
    assert!(html.contains("href=\"/extensions/100/presence\""));
}

/// The `<li>` texts of the list with `id`, tags removed and spaces collapsed.
fn text_of_list(html: &str, id: &str) -> Vec<String> {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("#{id} not in page"));
    let rest = &html[start..];
    let list = &rest[..rest.find("</ol>").unwrap()];
    list.split("<li>")
        .skip(1)
        .map(|li| {
            let mut text = String::new();
            let mut in_tag = false;
            for c in li.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            let text = text.split('—').next().unwrap_or_default().to_owned();
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect()
}

#[tokio::test]
async fn the_calendar_tab_saves_valid_settings_and_shows_what_is_wrong_with_bad_ones() {
    let app = app_with_users().await;
    let browser = app.browser();
    app.login(&browser).await;
    let (status, html) = page(&browser, &app, "/sync/calendar").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("class=\"active\" aria-current=\"page\">Calendar Sync</a>"));
    assert!(
        html.contains("href=\"/sync/contacts\""),
        "next to the other sync tabs"
    );
    // The mapping editor: a select per "Show as", Business trip never offered.
    for field in [
        "map_free",
        "map_tentative",
        "map_busy",
        "map_oof",
        "map_workingElsewhere",
        "map_unknown",
    ] {
        assert!(
            html.contains(&format!("<select id=\"{field}\" name=\"{field}\"")),
            "{field}"
        );
    }
    let mapping = &html[html.find("id=\"mapping-table\"").unwrap()..];
    let mapping = &mapping[..mapping.find("</table>").unwrap()];
    assert!(!mapping.contains("business_trip"));
    assert!(mapping.contains("<option value=\"away\" selected>Away</option>"));
    assert!(
        html.contains("id=\"scope-picker\""),
        "the same scope picker as user sync"
    );
    let csrf = hidden_csrf(&html);

    let valid = |changes: &[(&'static str, &'static str)]| {
        let mut form: Vec<(&str, String)> = vec![
            ("csrf_token", csrf.clone()),
            ("enabled", "on".into()),
            ("scope_mode", "all".into()),
            ("scope_ids", String::new()),
            ("map_free", String::new()),
            ("map_tentative", "lunch".into()),
            ("map_busy", "away".into()),
            ("map_oof", "do_not_disturb".into()),
            ("map_workingElsewhere", String::new()),
            ("map_unknown", String::new()),
            ("window_hours", "72".into()),
            ("time_zone", "Europe/Berlin".into()),
            ("poll_interval_secs", "120".into()),
            ("daily_full_sync_at", "04:30".into()),
        ];
        for (k, v) in changes {
            if let Some(slot) = form.iter_mut().find(|(key, _)| key == k) {
                slot.1 = (*v).to_owned();
            }
        }
        form
    };
    let r = browser
        .post(app.url("/sync/calendar/settings"))
        .form(&valid(&[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&r),
        "/sync/calendar?notice=saved#calendar-sync-settings"
    );
    let settings = get_json(&app, "/api/v1/settings/calendar-sync").await;
    assert_eq!(
        settings,
        json!({
            "enabled": true,
            "scope": {"mode": "all"},
            "mapping": {"free": null, "tentative": "lunch", "busy": "away", "oof": "do_not_disturb", "workingElsewhere": null, "unknown": null},
            "window_hours": 72,
            "time_zone": "Europe/Berlin",
            "poll_interval_secs": 120,
            "daily_full_sync_at": "04:30"
        })
    );
    // The round trip: the page shows what was saved.
    let (_, html) = page(&browser, &app, "/sync/calendar?notice=saved").await;
    assert!(text_of(&html, "notice").starts_with("Calendar sync settings saved."));
    let row = |show_as: &str| {
        let start = html
            .find(&format!("<tr data-show-as=\"{show_as}\">"))
            .unwrap();
        html[start..start + html[start..].find("</tr>").unwrap()].to_owned()
    };
    assert!(row("tentative").contains("<option value=\"lunch\" selected>Lunch</option>"));
    assert!(row("workingElsewhere").contains("<option value=\"\" selected>No change</option>"));
    assert!(
        row("workingElsewhere").contains("<td class=\"hint\">Away</td>"),
        "the default is shown"
    );
    assert!(html.contains("value=\"Europe/Berlin\""));
    assert!(html.contains("id=\"window-hours\" name=\"window_hours\" value=\"72\""));

    // Bad values: 422, each message next to its field, the values kept, nothing saved.
    let r = browser
        .post(app.url("/sync/calendar/settings"))
        .form(&valid(&[
            ("map_busy", "business_trip"),
            ("window_hours", "0"),
            ("time_zone", "Europe/Atlantis"),
            ("daily_full_sync_at", "25:00"),
            ("scope_mode", "only"),
            ("scope_ids", "not-a-guid"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert_eq!(
        text_of(&html, "page-error"),
        "Some settings are not valid: see the messages next to them."
    );
    assert_eq!(
        text_of(&html, "mapping-error"),
        "&#34;Busy&#34; cannot set Business trip: only a person sets that status, so the calendar could never give it back."
    );
    assert!(
        text_of(&html, "window-hours-error")
            .starts_with("The window must be between 1 and 336 hours")
    );
    assert!(text_of(&html, "calendar-time-zone-error").contains("&#34;Europe/Atlantis&#34;"));
    assert!(
        text_of(&html, "calendar-daily-full-sync-error")
            .starts_with("The daily full sync time must be a 24-hour time")
    );
    assert!(text_of(&html, "scope-error").contains("&#34;not-a-guid&#34;"));
    assert!(html.contains("<select id=\"map_busy\" name=\"map_busy\" aria-invalid=\"true\""));
    assert!(
        html.contains("value=\"Europe/Atlantis\""),
        "values are kept"
    );
    assert_eq!(
        get_json(&app, "/api/v1/settings/calendar-sync").await,
        settings
    );

    let r = browser
        .post(app.url("/sync/calendar/settings"))
        .form(&[("csrf_token", "stale")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_calendar_tab_runs_now_and_lists_skipped_users() {
    let app = app_with_users().await;
    app.calendars.without_mailbox(&user_id(2));
    let browser = app.browser();
    app.login(&browser).await;
    let (_, html) = page(&browser, &app, "/sync/calendar").await;
    assert!(html.contains("id=\"no-skipped\""));
    assert!(html.contains("id=\"last-run\"><span class=\"muted\">never</span>"));
    let csrf = hidden_csrf(&html);
    let r = browser
        .post(app.url("/sync/calendar/run"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/sync/calendar?notice=started");
    let mut html = String::new();
    for _ in 0..100 {
        html = page(&browser, &app, "/sync/calendar").await.1;
        if html.contains("class=\"skip-reason\"") && !html.contains("id=\"sync-progress\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        html.contains("<td class=\"skip-reason\">no mailbox (plan without Exchange)</td>"),
        "{html}"
    );
    assert!(html.contains(">Alan Turing<"));
    assert!(html.contains("href=\"/extensions/101\""));
    assert_eq!(text_of(&html, "skipped-count"), "(1)");
    assert!(text_of(&html, "last-run").contains("full"));
    assert_eq!(text_of(&html, "sync-badge"), "idle");

    // Off: "Sync now" is refused with the reason.
    let r = browser
        .post(app.url("/sync/calendar/settings"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("scope_mode", "all"),
            ("window_hours", "48"),
            ("time_zone", "UTC"),
            ("poll_interval_secs", "300"),
            ("daily_full_sync_at", "03:00"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&browser, &app, "/sync/calendar").await;
    assert!(html.contains("id=\"sync-now\" class=\"button primary\" disabled"));
    let r = browser
        .post(app.url("/sync/calendar/run"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(
        text_of(&html, "page-error")
            .contains("calendar sync is disabled; enable it on the Calendar Sync tab first")
    );
}
