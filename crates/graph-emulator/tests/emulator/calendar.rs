//! Calendars (graph-protocol.md §4): calendarView with series expanded in their own zone,
//! exceptions and deleted occurrences, `Prefer: outlook.timezone` and the all-day quirk,
//! paging and window errors, calendarView delta, `$batch`, event subscriptions, the control
//! API and the generated calendars.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode as AxumStatus;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use graph_emulator::EmulatorConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

const CALENDAR_ROLES: &[&str] = &["Calendars.Read", "User.Read.All"];
const BERLIN: &str = "W. Europe Standard Time";

/// An empty tenant, one user in Germany, a calendar token.
async fn setup() -> (Emu, String, String) {
    let emu = start().await;
    let user = emu
        .create_user(json!({"displayName": "Ada Lovelace", "usageLocation": "DE"}))
        .await;
    let app = emu.app(CALENDAR_ROLES, true).await;
    let token = emu.access_token(&app).await;
    (emu, user, token)
}

fn when(date_time: &str, zone: &str) -> Value {
    json!({"dateTime": date_time, "timeZone": zone})
}

fn timed(subject: &str, start: &str, end: &str, zone: &str) -> Value {
    json!({"subject": subject, "start": when(start, zone), "end": when(end, zone)})
}

impl Emu {
    async fn create_event(&self, user: &str, body: Value) -> Value {
        let r = self
            .post_json(&format!("/_emulator/users/{user}/events"), body)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json()
    }

    async fn view(&self, user: &str, token: &str, query: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(
            Method::GET,
            &format!("/v1.0/users/{user}/calendarView?{query}"),
            token,
            None,
            headers,
        )
        .await
    }

    async fn view_ok(&self, user: &str, token: &str, query: &str) -> Vec<Value> {
        let r = self.view(user, token, query, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json()["value"].as_array().cloned().unwrap_or_default()
    }
}

fn starts(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| {
            i["start"]["dateTime"]
                .as_str()
                .expect("dateTime")
                .to_owned()
        })
        .collect()
}

/// `2025-06-02T09:00:00.0000000`: no offset, 7 fractional digits (§4.1).
fn is_graph_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 27
        && b[10] == b'T'
        && b[19] == b'.'
        && b[20..].iter().all(u8::is_ascii_digit)
        && s[..19].parse::<jiff::civil::DateTime>().is_ok()
}

fn weekly(day: &str, start_date: &str) -> Value {
    json!({
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [day], "firstDayOfWeek": "sunday"},
        "range": {"type": "noEnd", "startDate": start_date, "recurrenceTimeZone": BERLIN},
    })
}

#[tokio::test]
async fn weekly_series_follows_berlin_dst() {
    let (emu, user, token) = setup().await;
    let mut body = timed(
        "Team meeting",
        "2025-03-17T09:00:00",
        "2025-03-17T09:30:00",
        BERLIN,
    );
    body["recurrence"] = weekly("monday", "2025-03-17");
    let master = emu.create_event(&user, body).await;
    let master_id = master["id"].as_str().expect("id");
    assert_eq!(master["type"], "seriesMaster");
    assert_eq!(master["start"], when("2025-03-17T09:00:00.0000000", BERLIN));

    // Winter (CET) then summer (CEST): the wall clock stays, the instant moves.
    let items = emu
        .view_ok(
            &user,
            &token,
            "startDateTime=2025-03-20T00:00:00Z&endDateTime=2025-04-10T00:00:00Z",
        )
        .await;
    assert_eq!(
        starts(&items),
        [
            "2025-03-24T08:00:00.0000000",
            "2025-03-31T07:00:00.0000000",
            "2025-04-07T07:00:00.0000000"
        ]
    );
    for i in &items {
        assert_eq!(i["type"], "occurrence");
        assert_eq!(i["seriesMasterId"], master_id);
        assert_eq!(i["start"]["timeZone"], "UTC");
        assert_eq!(i["originalStartTimeZone"], BERLIN);
        assert!(i["recurrence"].is_null());
        assert_ne!(i["id"], master_id, "masters are not returned");
    }
    assert_eq!(items[1]["originalStart"], "2025-03-31T07:00:00Z");
    assert_ne!(items[0]["iCalUId"], items[1]["iCalUId"]);
    let ids_seen: BTreeSet<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(ids_seen.len(), 3);

    // In Berlin's own time the meeting is always at 09:00 (segment names in any case).
    let r = emu
        .send(
            Method::GET,
            &format!(
                "/v1.0/users/{user}/calendarview?startDateTime=2025-03-20T00:00:00Z&endDateTime=2025-04-10T00:00:00Z"
            ),
            &token,
            None,
            &[("Prefer", "outlook.timezone=\"W. Europe Standard Time\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.header("preference-applied"),
        Some("outlook.timezone=\"W. Europe Standard Time\"")
    );
    for i in r.json()["value"].as_array().expect("value") {
        let dt = i["start"]["dateTime"].as_str().expect("dateTime");
        assert!(dt.ends_with("T09:00:00.0000000"), "{dt}");
        assert_eq!(i["start"]["timeZone"], BERLIN);
    }

    // /events lists the master (not its occurrences); /events/{occurrence} works.
    let r = emu
        .send(
            Method::GET,
            &format!("/v1.0/users/{user}/events"),
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let listed = r.json()["value"].as_array().cloned().unwrap_or_default();
    assert_eq!(ids(&listed), vec![master_id.to_owned()]);
    assert_eq!(
        listed[0]["recurrence"]["pattern"]["daysOfWeek"],
        json!(["monday"])
    );
    assert_eq!(listed[0]["recurrence"]["range"]["endDate"], "0001-01-01");
    let occ_id = items[0]["id"].as_str().expect("id");
    let r = emu
        .send(
            Method::GET,
            &format!("/v1.0/users/{user}/events/{occ_id}"),
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let one = r.json();
    assert_eq!(one["type"], "occurrence");
    assert!(
        one["@odata.context"]
            .as_str()
            .expect("context")
            .ends_with("/events/$entity")
    );
}

#[tokio::test]
async fn daily_and_monthly_rules_expand() {
    let (emu, user, token) = setup().await;
    let mut daily = timed("Gym", "2025-06-02T07:00:00", "2025-06-02T08:00:00", "UTC");
    daily["recurrence"] = json!({
        "pattern": {"type": "daily", "interval": 2},
        "range": {"type": "numbered", "startDate": "2025-06-02", "numberOfOccurrences": 4},
    });
    emu.create_event(&user, daily).await;
    let mut monthly = timed(
        "Month end",
        "2025-01-31T16:00:00",
        "2025-01-31T17:00:00",
        "UTC",
    );
    monthly["recurrence"] = json!({
        "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
        "range": {"type": "endDate", "startDate": "2025-01-31", "endDate": "2025-12-31"},
    });
    emu.create_event(&user, monthly).await;
    let mut relative = timed(
        "Board",
        "2025-01-07T10:00:00",
        "2025-01-07T11:00:00",
        "Eastern Standard Time",
    );
    relative["recurrence"] = json!({
        "pattern": {"type": "relativeMonthly", "interval": 2, "daysOfWeek": ["tuesday"], "index": "first"},
        "range": {"type": "noEnd", "startDate": "2025-01-01"},
    });
    emu.create_event(&user, relative).await;

    let items = emu
        .view_ok(
            &user,
            &token,
            "startDateTime=2025-06-01T00:00:00Z&endDateTime=2025-07-01T00:00:00Z",
        )
        .await;
    let by_subject = |s: &str| -> Vec<String> {
        starts(
            &items
                .iter()
                .filter(|i| i["subject"] == s)
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        by_subject("Gym"),
        [
            "2025-06-02T07:00:00.0000000",
            "2025-06-04T07:00:00.0000000",
            "2025-06-06T07:00:00.0000000",
            "2025-06-08T07:00:00.0000000"
        ]
    );
    // June has 30 days: the 31st falls on the 30th.
    assert_eq!(by_subject("Month end"), ["2025-06-30T16:00:00.0000000"]);
    // Every second month from January: July, not June.
    assert!(by_subject("Board").is_empty());
    let later = emu
        .view_ok(
            &user,
            &token,
            "startDateTime=2025-07-01T00:00:00Z&endDateTime=2025-08-01T00:00:00Z",
        )
        .await;
    let board: Vec<&Value> = later.iter().filter(|i| i["subject"] == "Board").collect();
    assert_eq!(board.len(), 1);
    // First Tuesday of July, 10:00 in New York (EDT).
    assert_eq!(board[0]["start"]["dateTime"], "2025-07-01T14:00:00.0000000");
    // Sorted by start.
    let all = starts(&items);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
}

#[tokio::test]
async fn patching_an_occurrence_makes_an_exception_and_deleting_cancels_it() {
    let (emu, user, token) = setup().await;
    let mut body = timed(
        "Stand-up",
        "2025-06-02T09:00:00",
        "2025-06-02T09:15:00",
        BERLIN,
    );
    body["recurrence"] = json!({
        "pattern": {"type": "weekly", "interval": 1,
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"]},
        "range": {"type": "endDate", "startDate": "2025-06-02", "endDate": "2025-06-06"},
    });
    let master = emu.create_event(&user, body).await;
    let master_id = master["id"].as_str().expect("id").to_owned();
    let window = "startDateTime=2025-06-02T00:00:00Z&endDateTime=2025-06-07T00:00:00Z";
    let items = emu.view_ok(&user, &token, window).await;
    assert_eq!(items.len(), 5);
    let tuesday = items[1]["id"].as_str().expect("id").to_owned();
    let wednesday = items[2]["id"].as_str().expect("id").to_owned();

    // Move Tuesday's to 11:00 and make it tentative: an exception with the same id.
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{user}/events/{tuesday}"),
            json!({
                "start": when("2025-06-03T11:00:00", BERLIN),
                "end": when("2025-06-03T11:30:00", BERLIN),
                "showAs": "tentative",
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let exception = r.json();
    assert_eq!(exception["id"], tuesday.as_str());
    assert_eq!(exception["type"], "exception");
    assert_eq!(exception["seriesMasterId"], master_id.as_str());
    assert_eq!(exception["originalStart"], "2025-06-03T07:00:00Z");
    // Cancel Wednesday's (delete the occurrence).
    let r = emu
        .delete(&format!("/_emulator/users/{user}/events/{wednesday}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);

    let items = emu.view_ok(&user, &token, window).await;
    assert_eq!(items.len(), 4, "{items:?}");
    let tue = items
        .iter()
        .find(|i| i["id"] == tuesday.as_str())
        .expect("exception listed");
    assert_eq!(tue["type"], "exception");
    assert_eq!(tue["showAs"], "tentative");
    assert_eq!(tue["start"]["dateTime"], "2025-06-03T09:00:00.0000000");
    assert!(items.iter().all(|i| i["id"] != wednesday.as_str()));
    let r = emu
        .send(
            Method::GET,
            &format!("/v1.0/users/{user}/events/{wednesday}"),
            &token,
            None,
            &[],
        )
        .await;
    assert_error(
        &r,
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    );

    // The control view lists the master with its deleted occurrence, and the exception.
    let all = emu
        .get(&format!("/_emulator/users/{user}/events"))
        .await
        .json();
    let all = all["value"].as_array().expect("value");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["cancelledOccurrences"], json!([wednesday]));
    assert_eq!(all[1]["type"], "exception");

    // An occurrence cannot take a recurrence; `isCancelled` keeps it in the calendar.
    let thursday = items[2]["id"].as_str().expect("id");
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{user}/events/{thursday}"),
            json!({"recurrence": weekly("monday", "2025-06-02")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{user}/events/{thursday}"),
            json!({"isCancelled": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let items = emu.view_ok(&user, &token, window).await;
    assert_eq!(items.len(), 4);
    assert!(
        items
            .iter()
            .any(|i| i["id"] == thursday && i["isCancelled"] == true)
    );
}

#[tokio::test]
async fn timezone_preference_and_the_all_day_quirk() {
    let (emu, user, token) = setup().await;
    emu.create_event(
        &user,
        timed(
            "Call",
            "2025-06-02T09:00:00",
            "2025-06-02T10:00:00",
            "Pacific Standard Time",
        ),
    )
    .await;
    emu.create_event(
        &user,
        json!({
            "subject": "Offsite",
            "isAllDay": true,
            "showAs": "oof",
            "sensitivity": "private",
            "start": when("2025-06-03T00:00:00", "Pacific Standard Time"),
            "end": when("2025-06-04T00:00:00", "Pacific Standard Time"),
        }),
    )
    .await;
    let window = "startdatetime=2025-06-01T00:00:00-07:00&ENDDATETIME=2025-06-05T00:00:00-07:00";

    // Default: UTC; the all-day event stays midnight to midnight, labelled UTC.
    let r = emu.view(&user, &token, window, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("preference-applied"), None);
    let items = r.json()["value"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0]["start"],
        when("2025-06-02T16:00:00.0000000", "UTC")
    );
    assert_eq!(items[0]["end"], when("2025-06-02T17:00:00.0000000", "UTC"));
    assert_eq!(items[1]["isAllDay"], true);
    assert_eq!(
        items[1]["start"],
        when("2025-06-03T00:00:00.0000000", "UTC")
    );
    assert_eq!(items[1]["end"], when("2025-06-04T00:00:00.0000000", "UTC"));
    assert_eq!(items[1]["showAs"], "oof");
    assert_eq!(items[1]["sensitivity"], "private");

    // Tokyo (Windows name) and London (IANA name): timed events convert, all-day ones don't.
    for (zone, start) in [
        ("Tokyo Standard Time", "2025-06-03T01:00:00.0000000"),
        ("Europe/London", "2025-06-02T17:00:00.0000000"),
    ] {
        let prefer = format!("outlook.timezone=\"{zone}\"");
        let r = emu
            .view(&user, &token, window, &[("Prefer", &prefer)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.header("preference-applied"), Some(prefer.as_str()));
        let items = r.json()["value"].as_array().cloned().unwrap_or_default();
        assert_eq!(items[0]["start"], when(start, zone));
        assert_eq!(items[1]["start"], when("2025-06-03T00:00:00.0000000", zone));
        for i in &items {
            for edge in ["start", "end"] {
                let dt = i[edge]["dateTime"].as_str().expect("dateTime");
                assert!(is_graph_date_time(dt), "{dt}");
            }
        }
    }
    // Combined with other preferences in one header, as the client sends it.
    let r = emu
        .view(
            &user,
            &token,
            window,
            &[("Prefer", "outlook.timezone=\"UTC\", IdType=\"ImmutableId\"")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let applied = r.header("preference-applied").unwrap_or_default();
    assert!(applied.contains("outlook.timezone=\"UTC\""), "{applied}");
    assert!(applied.contains("IdType=\"ImmutableId\""), "{applied}");

    let r = emu
        .view(
            &user,
            &token,
            window,
            &[(
                "Prefer",
                "outlook.timezone=\"Australia Eastern Standard Time\"",
            )],
        )
        .await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "TimeZoneNotSupportedException",
        "A valid TimeZone value must be specified. The following TimeZone value is not supported: 'Australia Eastern Standard Time'.",
    );
}

#[tokio::test]
async fn paging_window_limits_and_query_errors() {
    let (emu, user, token) = setup().await;
    for n in 0..25 {
        let start = format!("2025-06-02T{:02}:{:02}:00", 6 + n / 2, (n % 2) * 30);
        let end = format!("2025-06-02T{:02}:{:02}:00", 6 + n / 2, (n % 2) * 30 + 29);
        emu.create_event(&user, timed(&format!("E{n:02}"), &start, &end, "UTC"))
            .await;
    }
    let window = "startDateTime=2025-06-02T00:00:00Z&endDateTime=2025-06-03T00:00:00Z";
    let pages = emu
        .walk(
            &format!("/v1.0/users/{user}/calendarView?{window}"),
            &token,
            &[],
        )
        .await;
    assert_eq!(
        pages
            .iter()
            .map(|p| p["value"].as_array().map_or(0, Vec::len))
            .collect::<Vec<_>>(),
        [10, 10, 5],
        "default page of 10"
    );
    let next = pages[0]["@odata.nextLink"].as_str().expect("nextLink");
    assert!(
        next.contains("startDateTime=2025-06-02T00:00:00Z"),
        "{next}"
    );
    assert!(next.contains("$skip=10"), "{next}");
    let subjects: Vec<String> = items(&pages)
        .iter()
        .map(|i| i["subject"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(subjects.len(), 25);
    assert_eq!(subjects[0], "E00");
    assert_eq!(subjects[24], "E24");

    let pages = emu
        .walk(
            &format!(
                "/v1.0/users/{user}/calendarView?{window}&$top=7&$select=subject,showAs,createdDateTime"
            ),
            &token,
            &[],
        )
        .await;
    assert_eq!(pages.len(), 4);
    assert_eq!(
        pages[0]["@odata.context"],
        format!(
            "{}/v1.0/$metadata#users('{user}')/calendarView(subject,showAs,createdDateTime)",
            emu.base
        )
    );
    let first = &pages[0]["value"][0];
    let mut keys: Vec<&str> = first
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["@odata.etag", "createdDateTime", "id", "showAs", "subject"]
    );
    // Not selectable on calendarView (§4.1): .NET's DateTime.MinValue comes back.
    assert_eq!(first["createdDateTime"], "0001-01-01T00:00:00Z");

    let missing = "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.";
    for query in [
        "startDateTime=2025-06-02T00:00:00Z",
        "endDateTime=2025-06-02T00:00:00Z",
        "",
    ] {
        let r = emu.view(&user, &token, query, &[]).await;
        assert_error(
            &r,
            StatusCode::BAD_REQUEST,
            "ErrorInvalidParameter",
            missing,
        );
    }
    let r = emu
        .view(
            &user,
            &token,
            "startDateTime=2020-01-01T00:00:00Z&endDateTime=2025-01-01T00:00:00Z",
            &[],
        )
        .await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "ErrorInvalidRequest",
        "Your request can't be completed. The range between the start and end dates is greater than the allowed range. Maximum number of days: 1825",
    );
    let r = emu
        .view(
            &user,
            &token,
            "startDateTime=2020-01-01T00:00:00Z&endDateTime=2024-12-30T00:00:00Z",
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "1825 days exactly: {}", r.text);
    for (query, code) in [
        (
            "startDateTime=yesterday&endDateTime=2025-06-03T00:00:00Z",
            "ErrorInvalidParameter",
        ),
        (&format!("{window}&$top=0"), "ErrorInvalidUrlQuery"),
        (&format!("{window}&$top=1001"), "ErrorInvalidUrlQuery"),
        (
            &format!("{window}&$select=subject,colour"),
            "RequestBroker--ParseUri",
        ),
        (
            &format!("{window}&$filter=showAs eq 'busy'"),
            "ErrorInvalidUrlQuery",
        ),
    ] {
        let r = emu.view(&user, &token, query, &[]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.text);
        assert_eq!(r.json()["error"]["code"], code, "{query}: {}", r.text);
    }
    // A window without offset is UTC; the end is exclusive.
    let items = emu
        .view_ok(
            &user,
            &token,
            "startDateTime=2025-06-02T06:00:00&endDateTime=2025-06-02T06:30:00&$orderby=start/dateTime desc",
        )
        .await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["subject"], "E00");
}

#[tokio::test]
async fn mailboxless_users_and_missing_roles_are_refused() {
    let (emu, user, token) = setup().await;
    let none = emu
        .create_user(json!({"displayName": "No Mailbox", "mailboxEnabled": false}))
        .await;
    let window = "startDateTime=2025-06-02T00:00:00Z&endDateTime=2025-06-03T00:00:00Z";
    for path in [
        format!("/v1.0/users/{none}/calendarView?{window}"),
        format!("/v1.0/users/{none}/calendarView/delta?{window}"),
        format!("/v1.0/users/{none}/calendar/calendarView?{window}"),
        format!("/v1.0/users/{none}/events"),
        format!("/v1.0/users/{none}/events/AAMkAGI1"),
    ] {
        let r = emu.send(Method::GET, &path, &token, None, &[]).await;
        assert_error(
            &r,
            StatusCode::NOT_FOUND,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        );
    }
    let r = emu
        .post_json(
            &format!("/_emulator/users/{none}/events"),
            timed("x", "2025-06-02T09:00:00", "2025-06-02T10:00:00", "UTC"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);

    let contacts_only = emu.contacts_reader().await;
    let r = emu.view(&user, &contacts_only, window, &[]).await;
    assert_error(
        &r,
        StatusCode::FORBIDDEN,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
    );
    let r = emu
        .send(
            Method::GET,
            &format!("/v1.0/users/{user}/events/not-an-id"),
            &token,
            None,
            &[],
        )
        .await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "ErrorInvalidIdMalformed",
        "Id is malformed.",
    );
    // Control bodies are checked.
    for bad in [
        json!({"subject": "no times"}),
        json!({"Subject": "x", "start": when("2025-06-02T09:00:00", "UTC"), "end": when("2025-06-02T10:00:00", "UTC")}),
        timed(
            "backwards",
            "2025-06-02T10:00:00",
            "2025-06-02T09:00:00",
            "UTC",
        ),
        timed(
            "zone",
            "2025-06-02T09:00:00",
            "2025-06-02T10:00:00",
            "Mars Standard Time",
        ),
    ] {
        let r = emu
            .post_json(&format!("/_emulator/users/{user}/events"), bad.clone())
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
    }
}

#[tokio::test]
async fn calendar_view_runs_inside_batch_with_the_mailbox_limit() {
    let (emu, user, token) = setup().await;
    let other = emu.create_user(json!({"displayName": "Bob"})).await;
    emu.create_event(
        &user,
        timed(
            "Review",
            "2025-06-02T09:00:00",
            "2025-06-02T10:00:00",
            BERLIN,
        ),
    )
    .await;
    let url = |u: &str| {
        format!(
            "/users/{u}/calendarView?startDateTime=2025-06-02T00:00:00Z&endDateTime=2025-06-03T00:00:00Z&$select=showAs,start,end,isAllDay,isCancelled,type,sensitivity&$top=100"
        )
    };
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": url(&user),
            "headers": {"Prefer": "outlook.timezone=\"UTC\", IdType=\"ImmutableId\""}},
        {"id": "2", "method": "GET", "url": url(&other)},
    ]});
    let r = emu
        .send(Method::POST, "/v1.0/$batch", &token, Some(batch), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let body = r.json();
    let responses = body["responses"].as_array().expect("responses");
    let one = responses.iter().find(|x| x["id"] == "1").expect("1");
    assert_eq!(one["status"], 200, "{one}");
    assert_eq!(
        one["body"]["value"][0]["start"]["dateTime"],
        "2025-06-02T07:00:00.0000000"
    );
    assert!(
        one["headers"]["Preference-Applied"]
            .as_str()
            .unwrap_or_default()
            .contains("outlook.timezone")
    );
    let two = responses.iter().find(|x| x["id"] == "2").expect("2");
    assert_eq!(two["body"]["value"], json!([]));

    // Six reads of one mailbox in one wave: the fifth and sixth are throttled (§6.2).
    let r = emu
        .post_json("/_emulator/outlook", json!({"latency_ms": 200}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let requests: Vec<Value> = (0..6)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": url(&user)}))
        .collect();
    let r = emu
        .send(
            Method::POST,
            "/v1.0/$batch",
            &token,
            Some(json!({"requests": requests})),
            &[],
        )
        .await;
    let body = r.json();
    let statuses: Vec<u64> = body["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .map(|x| x["status"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn calendar_view_delta_tracks_changes_in_its_window() {
    let (emu, user, token) = setup().await;
    let inside = emu
        .create_event(
            &user,
            timed(
                "Inside",
                "2025-06-02T09:00:00",
                "2025-06-02T10:00:00",
                "UTC",
            ),
        )
        .await;
    emu.create_event(
        &user,
        timed(
            "Outside",
            "2025-07-02T09:00:00",
            "2025-07-02T10:00:00",
            "UTC",
        ),
    )
    .await;
    let mut series = timed("Daily", "2025-06-02T12:00:00", "2025-06-02T12:30:00", "UTC");
    series["recurrence"] = json!({
        "pattern": {"type": "daily", "interval": 1},
        "range": {"type": "numbered", "startDate": "2025-06-02", "numberOfOccurrences": 3},
    });
    emu.create_event(&user, series).await;
    let start = "/v1.0/users/{user}/calendarView/delta?startDateTime=2025-06-01T00:00:00Z&endDateTime=2025-06-08T00:00:00Z&$select=subject"
        .replace("{user}", &user);
    let prefer = [("Prefer", "odata.maxpagesize=2")];
    let pages = emu.walk(&start, &token, &prefer).await;
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(
        pages[0]["@odata.nextLink"]
            .as_str()
            .expect("next")
            .contains("$skiptoken=")
    );
    let delta_link = pages[1]["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_owned();
    assert!(
        !delta_link.contains("startDateTime"),
        "the window is in the token"
    );
    assert_eq!(
        pages[0]["@odata.context"],
        format!("{}/v1.0/$metadata#Collection(event)", emu.base)
    );
    let all = items(&pages);
    assert_eq!(all.len(), 4, "one single and three occurrences: {all:?}");
    assert!(
        all.iter()
            .all(|i| i["@odata.type"] == "#microsoft.graph.event")
    );
    // `$select` is not supported on delta: the full event comes back (§4.2).
    assert!(all.iter().all(|i| i.get("showAs").is_some()));

    // Nothing changed: an empty round.
    let r = emu.follow(&delta_link, &token, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["value"], json!([]));
    let delta_link = r.json()["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_owned();

    // Move the single out of the window, add one inside, change one outside.
    let inside_id = inside["id"].as_str().expect("id");
    emu.patch_json(
        &format!("/_emulator/users/{user}/events/{inside_id}"),
        json!({"start": when("2025-06-20T09:00:00", "UTC"), "end": when("2025-06-20T10:00:00", "UTC")}),
    )
    .await;
    let added = emu
        .create_event(
            &user,
            timed("Added", "2025-06-03T15:00:00", "2025-06-03T16:00:00", "UTC"),
        )
        .await;
    let r = emu.follow(&delta_link, &token, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let round = r.json();
    let value = round["value"].as_array().expect("value");
    assert_eq!(value.len(), 2, "{value:?}");
    assert_eq!(value[0]["id"], inside_id);
    assert_eq!(value[0]["@removed"], json!({"reason": "deleted"}));
    assert_eq!(value[1]["id"], added["id"]);
    assert_eq!(value[1]["subject"], "Added");
    let delta_link = round["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_owned();

    // Deleting it reports it removed.
    let added_id = added["id"].as_str().expect("id");
    emu.delete(&format!("/_emulator/users/{user}/events/{added_id}"))
        .await;
    let r = emu.follow(&delta_link, &token, &[]).await;
    assert_eq!(
        r.json()["value"],
        json!([{"@odata.type": "#microsoft.graph.event", "id": added_id, "@removed": {"reason": "deleted"}}])
    );
    let r = emu
        .follow(
            &format!(
                "{}/v1.0/users/{user}/calendarView/delta?$deltatoken=garbage",
                emu.base
            ),
            &token,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["code"], "syncStateNotFound");
}

// ---- change notifications --------------------------------------------------------------

#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<Value>>>,
}

async fn receive(
    State(rx): State<Receiver>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some(token) = query.get("validationToken") {
        return (AxumStatus::OK, token.clone()).into_response();
    }
    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
        rx.bodies.lock().expect("lock").push(v);
    }
    AxumStatus::ACCEPTED.into_response()
}

async fn receiver() -> (String, Receiver) {
    let rx = Receiver::default();
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), rx)
}

impl Receiver {
    /// Notification items so far, waiting until there are at least `n`.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            let items: Vec<Value> = self
                .bodies
                .lock()
                .expect("lock")
                .iter()
                .flat_map(|b| b["value"].as_array().cloned().unwrap_or_default())
                .collect();
            if items.len() >= n {
                return items;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("fewer than {n} notifications");
    }
}

#[tokio::test]
async fn event_subscriptions_hear_control_changes() {
    let emu = start_config(EmulatorConfig {
        seed: 7,
        handshake_timeout: Duration::from_secs(2),
        ..EmulatorConfig::default()
    })
    .await;
    let user = emu.create_user(json!({"displayName": "Ada"})).await;
    let app = emu.app(CALENDAR_ROLES, true).await;
    let token = emu.access_token(&app).await;
    let contacts_only = emu.contacts_reader().await;
    let (url, rx) = receiver().await;
    let expiry = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 20)).to_string();
    let body = json!({
        "changeType": "created,updated,deleted",
        "notificationUrl": url,
        "resource": format!("/users/{user}/events"),
        "expirationDateTime": expiry,
        "clientState": "calendar-secret",
    });
    let r = emu
        .send(
            Method::POST,
            "/v1.0/subscriptions",
            &contacts_only,
            Some(body.clone()),
            &[],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "events need Calendars.Read: {}",
        r.text
    );
    let r = emu
        .send(Method::POST, "/v1.0/subscriptions", &token, Some(body), &[])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let s = r.json();
    // Outlook lifetime: shortened to 10,080 minutes (§5.1).
    let granted: jiff::Timestamp = s["expirationDateTime"]
        .as_str()
        .expect("expiry")
        .parse()
        .expect("timestamp");
    let minutes = granted.duration_since(jiff::Timestamp::now()).as_secs() / 60;
    assert!((10_078..=10_080).contains(&minutes), "{minutes}");

    let mut series = timed(
        "Weekly",
        "2025-06-02T09:00:00",
        "2025-06-02T09:30:00",
        BERLIN,
    );
    series["recurrence"] = weekly("monday", "2025-06-02");
    let master = emu.create_event(&user, series).await;
    let master_id = master["id"].as_str().expect("id");
    let got = rx.wait_for(1).await;
    assert_eq!(got[0]["changeType"], "created");
    assert_eq!(got[0]["clientState"], "calendar-secret");
    assert_eq!(got[0]["subscriptionId"], s["id"]);
    assert_eq!(
        got[0]["resource"],
        format!("Users/{user}/Events/{master_id}")
    );
    assert_eq!(
        got[0]["resourceData"],
        json!({
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": format!("Users/{user}/Events/{master_id}"),
            "@odata.etag": master["@odata.etag"],
            "id": master_id,
        })
    );

    // Shortening one occurrence notifies the occurrence (now an exception) and its master.
    let items = emu
        .view_ok(
            &user,
            &token,
            "startDateTime=2025-06-09T00:00:00Z&endDateTime=2025-06-10T00:00:00Z",
        )
        .await;
    let occ = items[0]["id"].as_str().expect("id");
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{user}/events/{occ}"),
            json!({"end": when("2025-06-09T09:15:00", BERLIN)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let got = rx.wait_for(3).await;
    let updated: BTreeSet<&str> = got[1..]
        .iter()
        .filter(|n| n["changeType"] == "updated")
        .filter_map(|n| n["resourceData"]["id"].as_str())
        .collect();
    assert_eq!(updated, [occ, master_id].into_iter().collect());
    // A write that changes nothing notifies nothing; deleting the series does.
    emu.patch_json(
        &format!("/_emulator/users/{user}/events/{occ}"),
        json!({"end": when("2025-06-09T09:15:00", BERLIN)}),
    )
    .await;
    let r = emu
        .delete(&format!("/_emulator/users/{user}/events/{master_id}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let got = rx.wait_for(4).await;
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[3]["changeType"], "deleted");
    assert_eq!(got[3]["resourceData"]["id"], master_id);
}

// ---- generated calendars ---------------------------------------------------------------

/// A tenant of `users` generated users with the clock on Wednesday 2025-06-04, and a
/// calendar token dated in emulator time.
async fn generated(users: usize) -> (Emu, String) {
    let emu = start_users(users).await;
    let now: jiff::Timestamp = "2025-06-04T12:00:00Z".parse().expect("timestamp");
    let r = emu
        .post_json("/_emulator/clock", json!({"now": now.to_string()}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let offset = now.as_second() - jiff::Timestamp::now().as_second();
    let app = emu.app(CALENDAR_ROLES, true).await;
    let mut assertion = Assertion::new(&emu, &app);
    assertion.nbf = assertion.nbf.map(|n| n + offset);
    assertion.exp += offset;
    let r = emu.token_with(&app, &assertion.sign(&ALICE)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let token = r.json()["access_token"].as_str().expect("token").to_owned();
    (emu, token)
}

/// Ids and usageLocation of the users with a mailbox.
async fn mailbox_users(emu: &Emu) -> Vec<(String, Option<String>)> {
    let all = emu.get("/_emulator/users?limit=1000").await.json();
    all["value"]
        .as_array()
        .expect("users")
        .iter()
        .filter(|u| u["mailboxEnabled"] == true)
        .map(|u| {
            (
                u["id"].as_str().expect("id").to_owned(),
                u["usageLocation"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

const WEEK: &str = "startDateTime=2025-06-02T00:00:00Z&endDateTime=2025-06-07T00:00:00Z&$top=1000";

fn instant(v: &Value) -> jiff::Timestamp {
    let dt: jiff::civil::DateTime = v["dateTime"]
        .as_str()
        .expect("dateTime")
        .parse()
        .expect("civil");
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .expect("zoned")
        .timestamp()
}

#[tokio::test]
async fn generated_calendars_are_deterministic_and_lazy() {
    let (a, token_a) = generated(30).await;
    let (b, token_b) = generated(30).await;
    let tenant = a.get("/_emulator/tenant").await.json();
    assert_eq!(
        tenant["materialisedMailboxes"], 0,
        "nothing generated at start"
    );
    let users = mailbox_users(&a).await;
    assert_eq!(users, mailbox_users(&b).await);
    for (user, _) in users.iter().take(5) {
        let x = a.view_ok(user, &token_a, WEEK).await;
        let y = b.view_ok(user, &token_b, WEEK).await;
        assert!(!x.is_empty(), "a working week has meetings");
        assert_eq!(x, y, "same seed, same week: same calendar");
    }
    let tenant = a.get("/_emulator/tenant").await.json();
    assert_eq!(tenant["materialisedMailboxes"], 5);
    // A later week is generated on demand and differs.
    let (user, _) = &users[0];
    let next = a
        .view_ok(
            user,
            &token_a,
            "startDateTime=2025-06-09T00:00:00Z&endDateTime=2025-06-14T00:00:00Z&$top=1000",
        )
        .await;
    let this = a.view_ok(user, &token_a, WEEK).await;
    assert_ne!(
        next.iter().map(|i| &i["subject"]).collect::<Vec<_>>(),
        this.iter().map(|i| &i["subject"]).collect::<Vec<_>>()
    );
    // Generated ids resolve through /events/{id}.
    let id = this[0]["id"].as_str().expect("id");
    let r = a
        .send(
            Method::GET,
            &format!("/v1.0/users/{user}/events/{id}"),
            &token_a,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // The control API changes and deletes generated events like any other.
    let single = this
        .iter()
        .find(|i| i["type"] == "singleInstance")
        .expect("a single event");
    let single_id = single["id"].as_str().expect("id");
    let r = a
        .patch_json(
            &format!("/_emulator/users/{user}/events/{single_id}"),
            json!({"showAs": "oof"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let gone = next[0]["id"].as_str().expect("id");
    let r = a
        .delete(&format!("/_emulator/users/{user}/events/{gone}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let after = a.view_ok(user, &token_a, WEEK).await;
    assert_eq!(after.len(), this.len());
    let changed = after
        .iter()
        .find(|i| i["id"] == single_id)
        .expect("still there");
    assert_eq!(changed["showAs"], "oof");
    assert_ne!(changed["@odata.etag"], single["@odata.etag"]);
    let next_after = a
        .view_ok(
            user,
            &token_a,
            "startDateTime=2025-06-09T00:00:00Z&endDateTime=2025-06-14T00:00:00Z&$top=1000",
        )
        .await;
    assert_eq!(next_after.len() + 1, next.len());
    assert!(next_after.iter().all(|i| i["id"] != gone));
    // The other emulator, untouched, still has the original.
    let y = b.view_ok(user, &token_b, WEEK).await;
    let original = y.iter().find(|i| i["id"] == single_id).expect("there");
    assert_eq!(original["showAs"], single["showAs"]);
}

#[tokio::test]
async fn generated_calendars_look_like_real_weeks() {
    let (emu, token) = generated(100).await;
    let users = mailbox_users(&emu).await;
    assert!(users.len() > 80);
    let mut show_as = BTreeSet::new();
    let (mut overlapping, mut back_to_back, mut all_day, mut private, mut cancelled) =
        (0, 0, 0, 0, 0);
    let mut kinds = BTreeSet::new();
    for (user, country) in &users {
        let items = emu.view_ok(user, &token, WEEK).await;
        let timed: Vec<&Value> = items.iter().filter(|i| i["isAllDay"] == false).collect();
        let mut has_overlap = false;
        let mut has_b2b = false;
        for (n, x) in timed.iter().enumerate() {
            for y in &timed[n + 1..] {
                let (xs, xe) = (instant(&x["start"]), instant(&x["end"]));
                let (ys, ye) = (instant(&y["start"]), instant(&y["end"]));
                has_overlap |= xs < ye && ys < xe;
                has_b2b |= xe == ys || ye == xs;
            }
        }
        overlapping += usize::from(has_overlap);
        back_to_back += usize::from(has_b2b);
        for i in &items {
            show_as.insert(i["showAs"].as_str().unwrap_or_default().to_owned());
            kinds.insert(i["type"].as_str().unwrap_or_default().to_owned());
            all_day += usize::from(i["isAllDay"] == true);
            private += usize::from(i["sensitivity"] == "private");
            cancelled += usize::from(i["isCancelled"] == true);
            assert_ne!(i["type"], "seriesMaster");
        }
        // Meetings sit in the user's day: 07:00–21:00 in their zone.
        if country.as_deref() == Some("DE") {
            let r = emu
                .view(
                    user,
                    &token,
                    WEEK,
                    &[("Prefer", "outlook.timezone=\"Europe/Berlin\"")],
                )
                .await;
            for i in r.json()["value"].as_array().cloned().unwrap_or_default() {
                if i["isAllDay"] == true {
                    continue;
                }
                let hour: u32 = i["start"]["dateTime"].as_str().expect("dt")[11..13]
                    .parse()
                    .expect("hour");
                assert!((7..21).contains(&hour), "{i}");
                assert_eq!(i["originalStartTimeZone"], BERLIN);
            }
        }
    }
    let every: BTreeSet<String> = [
        "free",
        "tentative",
        "busy",
        "oof",
        "workingElsewhere",
        "unknown",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(show_as, every, "every showAs across the tenant");
    assert!(overlapping > 5, "{overlapping} users with overlaps");
    assert!(
        back_to_back > 5,
        "{back_to_back} users with back-to-back entries"
    );
    assert!(
        all_day > 5 && private > 5 && cancelled > 0,
        "{all_day} {private} {cancelled}"
    );
    for k in ["singleInstance", "occurrence", "exception"] {
        assert!(kinds.contains(k), "{k} in {kinds:?}");
    }
}

#[tokio::test]
async fn mailbox_settings_give_the_zone_of_the_usage_location_or_the_one_set() {
    let (emu, user, token) = setup().await;
    let get = |path: String| {
        let emu = &emu;
        let token = token.clone();
        async move { emu.send(Method::GET, &path, &token, None, &[]).await }
    };
    let r = get(format!("/v1.0/users/{user}/mailboxSettings/timeZone")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["value"], BERLIN);
    assert!(
        r.json()["@odata.context"]
            .as_str()
            .is_some_and(|c| c.ends_with("/mailboxSettings/timeZone"))
    );
    // Path segments are case-insensitive, as on Graph.
    let r = get(format!("/v1.0/users/{user}/mailboxsettings")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["timeZone"], BERLIN);
    assert_eq!(r.json()["workingHours"]["timeZone"]["name"], BERLIN);

    // Set through the control API, and cleared again.
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{user}"),
            json!({"mailboxTimeZone": "Pacific Standard Time"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = get(format!("/v1.0/users/{user}/mailboxSettings/timeZone")).await;
    assert_eq!(r.json()["value"], "Pacific Standard Time");
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{user}"),
            json!({"mailboxTimeZone": "Mars Standard Time"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{user}"),
            json!({"mailboxTimeZone": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = get(format!("/v1.0/users/{user}/mailboxSettings/timeZone")).await;
    assert_eq!(r.json()["value"], BERLIN);
    let tokyo = emu
        .create_user(json!({"displayName": "Set Zone", "mailboxTimeZone": "Asia/Tokyo"}))
        .await;
    let r = get(format!("/v1.0/users/{tokyo}/mailboxSettings/timeZone")).await;
    assert_eq!(r.json()["value"], "Asia/Tokyo");
    // No usageLocation: UTC.
    let nowhere = emu.create_user(json!({"displayName": "Nowhere"})).await;
    let r = get(format!("/v1.0/users/{nowhere}/mailboxSettings/timeZone")).await;
    assert_eq!(r.json()["value"], "UTC");

    // Through $batch, as the client reads it.
    let r = emu
        .send(
            Method::POST,
            "/v1.0/$batch",
            &token,
            Some(json!({"requests": [
                {"id": "1", "method": "GET", "url": format!("/users/{user}/mailboxSettings/timeZone")}
            ]})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let answer = &r.json()["responses"][0];
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(answer["body"]["value"], BERLIN);

    // Without a mailbox: 404 as for calendars; without a calendar or settings role: 403.
    let none = emu
        .create_user(json!({"displayName": "No Mailbox", "mailboxEnabled": false}))
        .await;
    for path in [
        format!("/v1.0/users/{none}/mailboxSettings"),
        format!("/v1.0/users/{none}/mailboxSettings/timeZone"),
    ] {
        let r = get(path).await;
        assert_error(
            &r,
            StatusCode::NOT_FOUND,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        );
    }
    let contacts_only = emu.contacts_reader().await;
    let r = emu
        .send(
            Method::GET,
            &format!("/v1.0/users/{user}/mailboxSettings/timeZone"),
            &contacts_only,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let settings_app = emu.app(&["MailboxSettings.Read"], true).await;
    let settings_token = emu.access_token(&settings_app).await;
    let r = emu
        .send(
            Method::GET,
            &format!("/v1.0/users/{user}/mailboxSettings/timeZone"),
            &settings_token,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
