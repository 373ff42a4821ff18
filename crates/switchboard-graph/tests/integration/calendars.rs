//! The core's CalendarSource over the stub `$batch` host: the calendarView request (window,
//! select, preferences), event parsing, paging by nextLink, error mapping, and limits shared
//! with contact reads of the same adapter.

use crate::batch_stub::*;
use crate::mailboxes::contacts;
use jiff::Timestamp;
use jiff::civil::date;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_core::ports::{
    CalendarRead, CalendarSource, DirectoryError, MailboxError, MailboxSource, SourceEvent,
};
use switchboard_core::presence::ShowAs;
use switchboard_graph::mailboxes::MAX_PER_MAILBOX;

const SELECT: &str = "$select=showAs,start,end,isAllDay,isCancelled,type,sensitivity";

fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn calendar(mailbox: &str) -> CalendarRead {
    CalendarRead {
        mailbox: mailbox.into(),
        start: ts("2025-06-02T00:00:00Z"),
        end: ts("2025-06-04T00:00:00Z"),
        link: None,
    }
}

fn only_event_id(result: &Result<switchboard_core::ports::CalendarPage, MailboxError>) -> String {
    match result.as_ref().map(|p| p.events.as_slice()) {
        Ok([event]) => event.id.clone(),
        other => panic!("{other:?}"),
    }
}

fn event(id: &str, show_as: &str, start: &str, end: &str, zone: &str) -> Value {
    json!({"id": id, "showAs": show_as, "type": "singleInstance", "isAllDay": false, "isCancelled": false,
           "start": {"dateTime": start, "timeZone": zone}, "end": {"dateTime": end, "timeZone": zone}})
}

#[tokio::test]
async fn first_reads_ask_for_presence_fields_in_utc() {
    let s = setup(Arc::new(default_answer), Duration::ZERO).await;
    let reads = vec![
        calendar("adele@contoso.com"),
        CalendarRead {
            mailbox: "6a1e0b3c-58f4-4a8e-9d1b-3c2f00a1b2c3".into(),
            // A window that is not on whole seconds is widened to them.
            start: ts("2025-06-02T07:30:15.250Z"),
            end: ts("2025-06-02T11:30:00.001+02:00"),
            link: None,
        },
    ];
    let results = s.mailboxes.read_calendars(reads).await;
    assert_eq!(only_event_id(&results[0]), "adele@contoso.com/event");
    assert_eq!(
        only_event_id(&results[1]),
        "6a1e0b3c-58f4-4a8e-9d1b-3c2f00a1b2c3/event"
    );
    let batches = s.stub.batches();
    assert_eq!(batches.len(), 1);
    let url = |m: &str| {
        batches[0]
            .iter()
            .find(|i| i.mailbox == m)
            .map(|i| i.url.clone())
            .expect("item")
    };
    assert_eq!(
        url("adele@contoso.com"),
        format!(
            "/users/adele@contoso.com/calendarView?startDateTime=2025-06-02T00:00:00Z\
             &endDateTime=2025-06-04T00:00:00Z&$top=100&{SELECT}"
        )
    );
    assert_eq!(
        url("6a1e0b3c-58f4-4a8e-9d1b-3c2f00a1b2c3"),
        format!(
            "/users/6a1e0b3c-58f4-4a8e-9d1b-3c2f00a1b2c3/calendarView?\
             startDateTime=2025-06-02T07:30:15Z&endDateTime=2025-06-02T09:30:01Z&$top=100&{SELECT}"
        )
    );
    for item in &batches[0] {
        let prefer = item.prefer.as_deref().unwrap_or_default();
        assert_eq!(prefer, "outlook.timezone=\"UTC\", IdType=\"ImmutableId\"");
        for private in ["subject", "body", "attendees"] {
            assert!(!item.url.to_lowercase().contains(private), "{}", item.url);
        }
    }
}

#[tokio::test]
async fn timed_and_all_day_events_are_parsed() {
    let responder: Responder = Arc::new(|_, _, _| {
        json!({"status": 200, "body": {"value": [
            event("timed", "busy", "2025-06-02T09:00:00.0000000", "2025-06-02T10:30:00.0000000", "UTC"),
            event("short", "tentative", "2025-06-02T11:00:00.5", "2025-06-02T11:30:00", "UTC"),
            {"id": "holiday", "showAs": "oof", "type": "occurrence", "isAllDay": true, "isCancelled": false,
             "start": {"dateTime": "2025-06-03T00:00:00.0000000", "timeZone": "W. Europe Standard Time"},
             "end": {"dateTime": "2025-06-04T00:00:00.0000000", "timeZone": "W. Europe Standard Time"}},
            {"id": "cancelled", "showAs": "workingElsewhere", "isCancelled": true,
             "start": {"dateTime": "2025-06-02T13:00:00.0000000", "timeZone": "UTC"},
             "end": {"dateTime": "2025-06-02T14:00:00.0000000", "timeZone": "UTC"}},
            {"id": "bare",
             "start": {"dateTime": "2025-06-02T15:00:00.0000000", "timeZone": "UTC"},
             "end": {"dateTime": "2025-06-02T16:00:00.0000000", "timeZone": "UTC"}},
            {"id": "master", "showAs": "busy", "type": "seriesMaster", "isAllDay": false,
             "start": {"dateTime": "2024-01-01T09:00:00.0000000", "timeZone": "Pacific Standard Time"},
             "end": {"dateTime": "2024-01-01T10:00:00.0000000", "timeZone": "Pacific Standard Time"}}
        ]}})
    });
    let s = setup(responder, Duration::ZERO).await;
    let results = s.mailboxes.read_calendars(vec![calendar("u")]).await;
    let page = results[0].as_ref().expect("page");
    let timed = |id: &str, show_as, start, end, is_cancelled| SourceEvent {
        id: id.into(),
        start,
        end,
        show_as,
        is_all_day: false,
        is_cancelled,
    };
    assert_eq!(
        page.events,
        [
            timed(
                "timed",
                ShowAs::Busy,
                date(2025, 6, 2).at(9, 0, 0, 0),
                date(2025, 6, 2).at(10, 30, 0, 0),
                false
            ),
            timed(
                "short",
                ShowAs::Tentative,
                date(2025, 6, 2).at(11, 0, 0, 500_000_000),
                date(2025, 6, 2).at(11, 30, 0, 0),
                false
            ),
            SourceEvent {
                id: "holiday".into(),
                start: date(2025, 6, 3).at(0, 0, 0, 0),
                end: date(2025, 6, 4).at(0, 0, 0, 0),
                show_as: ShowAs::Oof,
                is_all_day: true,
                is_cancelled: false,
            },
            timed(
                "cancelled",
                ShowAs::WorkingElsewhere,
                date(2025, 6, 2).at(13, 0, 0, 0),
                date(2025, 6, 2).at(14, 0, 0, 0),
                true
            ),
            timed(
                "bare",
                ShowAs::Unknown,
                date(2025, 6, 2).at(15, 0, 0, 0),
                date(2025, 6, 2).at(16, 0, 0, 0),
                false
            ),
        ]
    );
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn pages_follow_the_next_link() {
    let responder: Responder = Arc::new(|base, item, _| {
        let m = &item.mailbox;
        let (id, next) = if item.url.contains("$skip=100") {
            ("second", Value::Null)
        } else {
            (
                "first",
                json!(format!(
                    "{base}/v1.0/users/{m}/calendarView?startDateTime=2025-06-02T00:00:00Z\
                     &endDateTime=2025-06-04T00:00:00Z&$top=100&{SELECT}&$skip=100"
                )),
            )
        };
        json!({"status": 200, "body": {
            "value": [event(id, "busy", "2025-06-02T09:00:00.0000000", "2025-06-02T10:00:00.0000000", "UTC")],
            "@odata.nextLink": next
        }})
    });
    let s = setup(responder, Duration::ZERO).await;
    let mut read = calendar("pager");
    let mut ids = Vec::new();
    loop {
        let mut results = s.mailboxes.read_calendars(vec![read.clone()]).await;
        let page = results.remove(0).expect("page");
        ids.extend(page.events.into_iter().map(|e| e.id));
        match page.next {
            Some(next) => read.link = Some(next),
            None => break,
        }
    }
    assert_eq!(ids, ["first", "second"]);
    let items: Vec<Item> = s.stub.batches().into_iter().flatten().collect();
    assert_eq!(items.len(), 2);
    // The link went as a relative batch url, verbatim, still asking for UTC.
    assert_eq!(
        items[1].url,
        format!(
            "/users/pager/calendarView?startDateTime=2025-06-02T00:00:00Z\
             &endDateTime=2025-06-04T00:00:00Z&$top=100&{SELECT}&$skip=100"
        )
    );
    assert!(
        items[1]
            .prefer
            .as_deref()
            .is_some_and(|p| p.contains("outlook.timezone=\"UTC\""))
    );

    // A link to another host never leaves.
    let results = s
        .mailboxes
        .read_calendars(vec![CalendarRead {
            link: Some("https://203.0.113.9/v1.0/users/pager/calendarView?$skip=100".into()),
            ..calendar("pager")
        }])
        .await;
    match &results[0] {
        Err(MailboxError::Graph(DirectoryError::Protocol(m))) => {
            assert!(m.contains("203.0.113.9"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.stub.batches().len(), 2);
}

#[tokio::test]
async fn errors_map_to_mailbox_errors() {
    let responder: Responder = Arc::new(|base, item, times| match item.mailbox.as_str() {
        "unlicensed" => error_answer(
            404,
            "MailboxNotEnabledForRESTAPI",
            "REST API is not yet supported for this mailbox.",
        ),
        "denied" => error_answer(
            403,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        ),
        "pacific" => json!({"status": 200, "body": {"value": [event(
            "e1", "busy", "2025-06-02T09:00:00.0000000", "2025-06-02T10:00:00.0000000", "Pacific Standard Time"
        )]}}),
        "slow" if times == 0 => {
            json!({"status": 429, "headers": {"Retry-After": "0.1"},
                   "body": {"error": {"code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit."}}})
        }
        _ => default_answer(base, item, times),
    });
    let s = setup(responder, Duration::ZERO).await;
    let started = Instant::now();
    let results = s
        .mailboxes
        .read_calendars(vec![
            calendar("unlicensed"),
            calendar("denied"),
            calendar("pacific"),
            calendar("slow"),
            calendar("fine"),
            CalendarRead {
                end: ts("2025-06-01T00:00:00Z"),
                ..calendar("backwards")
            },
        ])
        .await;
    assert_eq!(results[0], Err(MailboxError::NoMailbox));
    match &results[1] {
        Err(MailboxError::Graph(DirectoryError::Denied(m))) => {
            assert!(
                m.contains("403 ErrorAccessDenied") && m.contains("Calendars.Read"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
    match &results[2] {
        Err(MailboxError::Graph(DirectoryError::Protocol(m))) => {
            assert!(m.contains("\"Pacific Standard Time\""), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(only_event_id(&results[3]), "slow/event");
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(only_event_id(&results[4]), "fine/event");
    assert!(matches!(
        &results[5],
        Err(MailboxError::Graph(DirectoryError::Protocol(m))) if m.contains("end after it starts")
    ));
    assert_eq!(s.stub.items_for("slow"), 2);
    assert_eq!(s.stub.items_for("backwards"), 0);
}

#[tokio::test]
async fn contacts_and_calendars_share_the_per_mailbox_limit() {
    let s = setup(Arc::new(default_answer), Duration::from_millis(40)).await;
    // Wired as the composition root does: one adapter, both ports.
    let shared = Arc::new(s.mailboxes.clone());
    let contact_source: Arc<dyn MailboxSource> = shared.clone();
    let calendar_source: Arc<dyn CalendarSource> = shared;
    let contact_reads = (0..6)
        .map(|i| contacts("shared", &format!("f{i}")))
        .collect();
    let calendar_reads = (0..6)
        .map(|i| CalendarRead {
            start: ts("2025-06-02T00:00:00Z") + jiff::SignedDuration::from_hours(i),
            ..calendar("shared")
        })
        .collect();
    let (contact_results, calendar_results) = tokio::join!(
        contact_source.read(contact_reads),
        calendar_source.read_calendars(calendar_reads)
    );
    assert!(contact_results.iter().all(Result::is_ok));
    for result in &calendar_results {
        assert_eq!(only_event_id(result), "shared/event");
    }
    assert_eq!(s.stub.items_for("shared"), 12);
    assert_eq!(s.stub.max_in_flight("shared"), MAX_PER_MAILBOX);
    for batch in s.stub.batches() {
        assert!(batch.iter().filter(|i| i.mailbox == "shared").count() <= MAX_PER_MAILBOX);
    }

    // The batches-in-flight bound is shared too.
    let s = setup(Arc::new(default_answer), Duration::from_millis(20)).await;
    let one = s.mailboxes.clone().with_max_batches_in_flight(1);
    let contact_reads = (0..30).map(|i| contacts(&format!("c{i}"), "f")).collect();
    let calendar_reads = (0..30).map(|i| calendar(&format!("k{i}"))).collect();
    let (a, b) = tokio::join!(one.read(contact_reads), one.read_calendars(calendar_reads));
    assert!(a.iter().all(Result::is_ok) && b.iter().all(Result::is_ok));
    assert_eq!(s.stub.max_concurrent_batches(), 1);
    assert_eq!(s.stub.batches().len(), 4);
}

#[tokio::test]
async fn mailbox_time_zones_are_read_through_the_batch() {
    let responder: Responder = Arc::new(|_, item, _| {
        assert!(
            item.url.ends_with("/mailboxSettings/timeZone"),
            "{}",
            item.url
        );
        match item.mailbox.as_str() {
            "adele@contoso.com" => {
                json!({"status": 200, "headers": {"Content-Type": "application/json"}, "body": {
                    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('adele%40contoso.com')/mailboxSettings/timeZone",
                    "value": "W. Europe Standard Time"
                }})
            }
            "iana" => json!({"status": 200, "body": {"timeZone": "Europe/Paris"}}),
            "unset" => json!({"status": 200, "body": {"value": ""}}),
            "unlicensed" => error_answer(
                404,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            ),
            _ => error_answer(403, "ErrorAccessDenied", "Access is denied."),
        }
    });
    let s = setup(responder, Duration::ZERO).await;
    let results = s
        .mailboxes
        .mailbox_time_zones(
            ["adele@contoso.com", "iana", "unset", "unlicensed", "denied"]
                .map(String::from)
                .to_vec(),
        )
        .await;
    assert_eq!(results[0], Ok(Some("W. Europe Standard Time".into())));
    assert_eq!(results[1], Ok(Some("Europe/Paris".into())));
    assert_eq!(results[2], Ok(None));
    assert_eq!(results[3], Err(MailboxError::NoMailbox));
    match &results[4] {
        Err(MailboxError::Graph(DirectoryError::Denied(m))) => {
            assert!(m.contains("MailboxSettings.Read"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    let batches = s.stub.batches();
    assert_eq!(batches.len(), 1);
    let adele = batches[0]
        .iter()
        .find(|i| i.mailbox == "adele@contoso.com")
        .expect("item");
    assert_eq!(
        adele.url,
        "/users/adele@contoso.com/mailboxSettings/timeZone"
    );
    // A setting read has no preferences.
    assert_eq!(adele.prefer, None);
    // Nothing to ask: no batch.
    assert!(s.mailboxes.mailbox_time_zones(Vec::new()).await.is_empty());
    assert_eq!(s.stub.batches().len(), 1);
}
