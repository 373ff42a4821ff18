//! The core's [`CalendarSource`] on Graph: calendarView pages of many mailboxes
//! (graph-protocol.md §4.1), read through the same `$batch` machinery and limits as contacts
//! (`batch.rs`); implemented by [`GraphMailboxes`] so one value serves both ports.
//!
//! Only what presence needs is selected: never subject, body or attendees.

use crate::batch::{BatchRead, PageBody, relative_link, user_path};
use crate::config::GraphConfig;
use crate::mailboxes::GraphMailboxes;
use async_trait::async_trait;
use jiff::civil::DateTime;
use jiff::{RoundMode, Timestamp, TimestampRound, Unit};
use serde::Deserialize;
use switchboard_core::ports::{
    CalendarPage, CalendarRead, CalendarSource, DirectoryError, MailboxError, SourceEvent,
};
use switchboard_core::presence::ShowAs;

/// `$select` of every calendarView read. `type` lets series masters be dropped should one
/// appear; `sensitivity` is selected although [`SourceEvent`] has no field for it yet (so it is
/// not decoded). Subject, body and attendees stay in Exchange (privacy), and
/// `createdDateTime`/`lastModifiedDateTime` cannot be selected on calendarView (§4.1).
pub const EVENT_SELECT: &str = "showAs,start,end,isAllDay,isCancelled,type,sensitivity";

/// `$top` of every first calendarView read. calendarView pages hold 10 events unless `$top`
/// says otherwise, and `odata.maxpagesize` is documented for its delta only (§4.1, §4.2). No
/// maximum is documented for calendarView (1000 is, for messages on the same Outlook backend,
/// §3); 100 events cover a presence window of a day or two of a busy calendar in one page while
/// a full batch answer (20 × 100 small events) stays far from the large-page 504s (§6.1).
/// nextLinks keep the `$top`.
pub const CALENDAR_PAGE_SIZE: u32 = 100;

/// Advice for a 403 on a calendar.
const CALENDARS_PERMISSION: &str = "grant the app the Calendars.Read application permission \
with admin consent in Microsoft Entra ID (and check that no Exchange application access policy \
excludes this mailbox), then reconnect Office 365";

/// The `Prefer` value of every calendar read, first pages and nextLinks alike: start/end in UTC
/// (§4.1; the default too, but then a mailbox setting cannot change it) and immutable ids, so an
/// event keeps its id when moved (§3). One value, since a batch item's headers are a JSON object.
fn prefer_header() -> String {
    "outlook.timezone=\"UTC\", IdType=\"ImmutableId\"".to_owned()
}

/// `2025-06-02T00:00:00Z`: RFC 3339 in UTC, whole seconds, the window widened outwards (start
/// down, end up) so that rounding never drops an event at its edge.
fn window_edge(at: Timestamp, mode: RoundMode) -> String {
    let round = TimestampRound::new().smallest(Unit::Second).mode(mode);
    // Only the extremes of jiff's range fail to round; they are then sent as they are.
    at.round(round).unwrap_or(at).to_string()
}

fn protocol(message: String) -> MailboxError {
    MailboxError::Graph(DirectoryError::Protocol(message))
}

/// The batch item `url` of a read: relative to the version root (§6.3).
fn item_url(config: &GraphConfig, read: &CalendarRead) -> Result<String, MailboxError> {
    if let Some(link) = &read.link {
        return relative_link(config, link).map_err(MailboxError::Graph);
    }
    let user = user_path(&read.mailbox)?;
    if read.end <= read.start {
        return Err(protocol(format!(
            "a calendar read must end after it starts ({} .. {})",
            read.start, read.end
        )));
    }
    let start = window_edge(read.start, RoundMode::Floor);
    let end = window_edge(read.end, RoundMode::Ceil);
    Ok(format!(
        "{user}/calendarView?startDateTime={start}&endDateTime={end}\
         &$top={CALENDAR_PAGE_SIZE}&$select={EVENT_SELECT}"
    ))
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// A calendarView page or an error body; unknown properties are skipped.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CalendarBody {
    #[serde(default)]
    value: Option<Vec<EventItem>>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    /// Kept as JSON for [`ApiError::from_response`]; small.
    #[serde(default)]
    error: Option<serde_json::Value>,
}

impl PageBody for CalendarBody {
    fn into_error(self) -> Option<serde_json::Value> {
        self.error
    }
}

/// One event as selected. Absent and `null` read as `None` (§7).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventItem {
    id: Option<String>,
    show_as: Option<String>,
    start: Option<DateTimeTimeZone>,
    end: Option<DateTimeTimeZone>,
    is_all_day: Option<bool>,
    is_cancelled: Option<bool>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `{"dateTime":"2025-06-02T09:00:00.0000000","timeZone":"UTC"}` (§4.1).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DateTimeTimeZone {
    date_time: Option<String>,
    time_zone: Option<String>,
}

/// A `dateTime` as wall-clock time: no offset and 7 fractional digits as Graph sends it, or
/// fewer digits, none, or a `Z`. An offset is refused rather than dropped, which a civil
/// parse would do silently.
fn parse_wall_clock(text: &str) -> Result<DateTime, String> {
    let trimmed = text.trim();
    let local = trimmed.strip_suffix(['Z', 'z']).unwrap_or(trimmed);
    let time = local
        .split_once(['T', 't', ' '])
        .map_or("", |(_, time)| time);
    if time.contains(['+', '-', '[']) {
        return Err(format!("{text:?} carries an offset or a zone"));
    }
    local
        .parse::<DateTime>()
        .map_err(|e| format!("{text:?} is not a date and time: {e}"))
}

/// We ask for UTC; Graph labels it "UTC". A missing label contradicts nothing.
fn is_utc(zone: Option<&str>) -> bool {
    zone.map(str::trim)
        .is_none_or(|z| z.is_empty() || z.eq_ignore_ascii_case("UTC") || z == "Etc/UTC")
}

/// `start` or `end` of an event. Timed events must be in UTC; all-day events are floating
/// dates labelled with whatever zone (§4.1 all-day quirk), so their label is not checked.
fn event_time(
    id: &str,
    which: &str,
    value: Option<DateTimeTimeZone>,
    all_day: bool,
) -> Result<DateTime, MailboxError> {
    let Some(value) = value else {
        return Err(protocol(format!("calendar event {id} has no {which}")));
    };
    let Some(text) = value.date_time.as_deref() else {
        return Err(protocol(format!(
            "calendar event {id} has no {which}.dateTime"
        )));
    };
    if !all_day && !is_utc(value.time_zone.as_deref()) {
        return Err(protocol(format!(
            "calendar event {id}: {which} is in time zone {:?}, not the UTC asked for with \
             Prefer: outlook.timezone",
            value.time_zone.as_deref().unwrap_or_default()
        )));
    }
    parse_wall_clock(text)
        .map_err(|e| protocol(format!("calendar event {id}: {which}.dateTime {e}")))
}

/// An event as the core's [`SourceEvent`]; `None` for what is skipped (series masters, items
/// without an id).
fn source_event(item: EventItem) -> Result<Option<SourceEvent>, MailboxError> {
    // calendarView expands series and should never return a master (§4.1); its start/end would
    // be the first occurrence's, not an instance.
    if item
        .kind
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case("seriesMaster"))
    {
        tracing::debug!("calendarView returned a series master; skipped");
        return Ok(None);
    }
    let Some(id) = item.id.filter(|id| !id.trim().is_empty()) else {
        tracing::warn!("Microsoft Graph returned a calendar event without an id; skipped");
        return Ok(None);
    };
    let is_all_day = item.is_all_day.unwrap_or(false);
    let start = event_time(&id, "start", item.start, is_all_day)?;
    let end = event_time(&id, "end", item.end, is_all_day)?;
    Ok(Some(SourceEvent {
        show_as: item
            .show_as
            .as_deref()
            .map_or(ShowAs::Unknown, ShowAs::from_graph),
        is_cancelled: item.is_cancelled.unwrap_or(false),
        id,
        start,
        end,
        is_all_day,
    }))
}

/// A 2xx calendarView page. One unreadable event fails the page: presence computed from a
/// calendar with a hole in it would be wrong without anyone noticing.
fn page_answer(body: CalendarBody) -> Result<CalendarPage, MailboxError> {
    let Some(items) = body.value else {
        // An empty calendar would end every block; an answer that is not a page must not.
        return Err(protocol("a calendarView answer without value".into()));
    };
    let mut events = Vec::with_capacity(items.len());
    for item in items {
        if let Some(event) = source_event(item)? {
            events.push(event);
        }
    }
    Ok(CalendarPage {
        events,
        next: body.next_link,
    })
}

impl BatchRead for CalendarRead {
    type Body = CalendarBody;
    type Answer = CalendarPage;
    const KIND: &'static str = "calendar";
    const PERMISSION: &'static str = CALENDARS_PERMISSION;

    fn mailbox(&self) -> &str {
        &self.mailbox
    }
    fn url(&self, config: &GraphConfig) -> Result<String, MailboxError> {
        item_url(config, self)
    }
    fn prefer(&self) -> String {
        prefer_header()
    }
    fn answer(&self, body: CalendarBody) -> Result<CalendarPage, MailboxError> {
        page_answer(body)
    }
}

// ---------------------------------------------------------------------------------------------
// Mailbox time zones
// ---------------------------------------------------------------------------------------------

/// Advice for a 403 on a mailbox's settings.
const MAILBOX_SETTINGS_PERMISSION: &str = "grant the app the MailboxSettings.Read application permission with admin consent in Microsoft Entra ID, then reconnect Office 365";

/// `GET /users/{id}/mailboxSettings/timeZone`: the zone the mailbox's owner chose in Outlook,
/// which all-day events are meant in (§4.1 all-day quirk).
#[derive(Debug, Clone)]
pub(crate) struct TimeZoneRead {
    mailbox: String,
}

/// `{"value":"W. Europe Standard Time"}` (the property read on its own), or the
/// `{"timeZone": …}` of a whole mailboxSettings object.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TimeZoneBody {
    #[serde(default)]
    value: Option<serde_json::Value>,
    #[serde(rename = "timeZone", default)]
    time_zone: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

impl PageBody for TimeZoneBody {
    fn into_error(self) -> Option<serde_json::Value> {
        self.error
    }
}

/// The zone name of an answer; `None` for a missing, `null` or empty one.
fn time_zone_answer(body: TimeZoneBody) -> Result<Option<String>, MailboxError> {
    match body.value.or(body.time_zone) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(name)) => {
            let name = name.trim();
            Ok((!name.is_empty()).then(|| name.to_owned()))
        }
        Some(other) => Err(protocol(format!(
            "a mailboxSettings/timeZone answer that is not a name: {other}"
        ))),
    }
}

impl BatchRead for TimeZoneRead {
    type Body = TimeZoneBody;
    type Answer = Option<String>;
    const KIND: &'static str = "mailbox time zone";
    const PERMISSION: &'static str = MAILBOX_SETTINGS_PERMISSION;

    fn mailbox(&self) -> &str {
        &self.mailbox
    }
    fn url(&self, _config: &GraphConfig) -> Result<String, MailboxError> {
        Ok(format!(
            "{}/mailboxSettings/timeZone",
            user_path(&self.mailbox)?
        ))
    }
    fn prefer(&self) -> String {
        String::new()
    }
    fn answer(&self, body: TimeZoneBody) -> Result<Option<String>, MailboxError> {
        time_zone_answer(body)
    }
}

#[async_trait]
impl CalendarSource for GraphMailboxes {
    async fn read_calendars(
        &self,
        reads: Vec<CalendarRead>,
    ) -> Vec<Result<CalendarPage, MailboxError>> {
        self.batches.read(&reads).await
    }

    async fn mailbox_time_zones(
        &self,
        mailboxes: Vec<String>,
    ) -> Vec<Result<Option<String>, MailboxError>> {
        let reads: Vec<TimeZoneRead> = mailboxes
            .into_iter()
            .map(|mailbox| TimeZoneRead { mailbox })
            .collect();
        self.batches.read(&reads).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{InnerAnswer, InnerBody, inner_api_error, inner_headers};
    use crate::client::ApiError;
    use jiff::civil::date;
    use url::Url;

    fn config() -> GraphConfig {
        GraphConfig::with_urls(
            Url::parse("https://graph.example.com").expect("url"),
            Url::parse("https://login.example.com").expect("url"),
        )
    }

    fn read(mailbox: &str, start: &str, end: &str) -> CalendarRead {
        CalendarRead {
            mailbox: mailbox.into(),
            start: start.parse().expect("start"),
            end: end.parse().expect("end"),
            link: None,
        }
    }

    fn body(json: &str) -> CalendarBody {
        let answer: InnerAnswer<CalendarBody> =
            serde_json::from_str(&format!(r#"{{"id":"1","status":200,"body":{json}}}"#))
                .expect("inner answer");
        match answer.body {
            Some(InnerBody::Json(b)) => *b,
            other => panic!("{other:?}"),
        }
    }

    fn page(events: &str) -> Result<CalendarPage, MailboxError> {
        page_answer(body(&format!(r#"{{"value":[{events}]}}"#)))
    }

    /// What the (default) error mapping makes of an inner error on a calendar.
    fn calendar_error(read: &CalendarRead, e: &ApiError) -> MailboxError {
        read.error(e)
    }

    fn protocol_message(result: Result<CalendarPage, MailboxError>) -> String {
        match result {
            Err(MailboxError::Graph(DirectoryError::Protocol(m))) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn first_reads_select_only_presence_fields_in_a_utc_window() {
        let c = config();
        let url = item_url(
            &c,
            &read(
                "adele@contoso.com",
                "2025-06-02T00:00:00Z",
                "2025-06-04T00:00:00Z",
            ),
        )
        .expect("url");
        assert_eq!(
            url,
            "/users/adele@contoso.com/calendarView?startDateTime=2025-06-02T00:00:00Z\
             &endDateTime=2025-06-04T00:00:00Z&$top=100\
             &$select=showAs,start,end,isAllDay,isCancelled,type,sensitivity"
        );
        for private in ["subject", "body", "attendees", "organizer", "location"] {
            assert!(!EVENT_SELECT.to_lowercase().contains(private), "{private}");
        }
        // Offsets and fractions become whole UTC seconds, widened outwards.
        let url = item_url(
            &c,
            &read(
                "u",
                "2025-06-02T09:30:15.7+02:00",
                "2025-06-02T12:00:00.001Z",
            ),
        )
        .expect("url");
        assert!(
            url.contains("startDateTime=2025-06-02T07:30:15Z&endDateTime=2025-06-02T12:00:01Z&"),
            "{url}"
        );
        assert_eq!(
            prefer_header(),
            "outlook.timezone=\"UTC\", IdType=\"ImmutableId\""
        );
    }

    #[test]
    fn bad_reads_are_never_sent() {
        let c = config();
        assert!(
            protocol_message(
                item_url(
                    &c,
                    &read("u", "2025-06-02T00:00:00Z", "2025-06-02T00:00:00Z")
                )
                .map(|_| CalendarPage::default())
            )
            .contains("end after it starts")
        );
        assert!(matches!(
            item_url(
                &c,
                &read(" ", "2025-06-02T00:00:00Z", "2025-06-03T00:00:00Z")
            ),
            Err(MailboxError::Graph(DirectoryError::Protocol(_)))
        ));
        let mut next = read("u", "2025-06-02T00:00:00Z", "2025-06-03T00:00:00Z");
        next.link = Some(
            "https://graph.example.com/v1.0/users/u/calendarView?startDateTime=x&$skip=100".into(),
        );
        assert_eq!(
            item_url(&c, &next).expect("url"),
            "/users/u/calendarView?startDateTime=x&$skip=100"
        );
        next.link = Some("https://evil.example.com/v1.0/users/u/calendarView".into());
        assert!(matches!(
            item_url(&c, &next),
            Err(MailboxError::Graph(DirectoryError::Protocol(_)))
        ));
    }

    #[test]
    fn wall_clock_times_with_seven_fewer_or_no_fraction_digits() {
        let nine = date(2025, 6, 2).at(9, 0, 0, 0);
        for text in [
            "2025-06-02T09:00:00.0000000",
            "2025-06-02T09:00:00.000",
            "2025-06-02T09:00:00",
            "2025-06-02T09:00",
            "2025-06-02T09:00:00Z",
        ] {
            assert_eq!(parse_wall_clock(text), Ok(nine), "{text}");
        }
        assert_eq!(
            parse_wall_clock("2025-06-02T09:00:00.1234567"),
            Ok(date(2025, 6, 2).at(9, 0, 0, 123_456_700))
        );
        assert_eq!(
            parse_wall_clock("2025-06-02T09:00:00.5"),
            Ok(date(2025, 6, 2).at(9, 0, 0, 500_000_000))
        );
        for bad in [
            "2025-06-02T09:00:00+02:00",
            "2025-06-02T09:00:00-00:00",
            "2025-06-02T09:00:00[Europe/Zurich]",
            "02.06.2025 09:00",
            "2025-06-31T09:00:00",
            "",
        ] {
            assert!(parse_wall_clock(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timed_and_all_day_events() {
        let p = page(
            r##"{"@odata.etag":"W/\"x\"","id":"e1","showAs":"busy","type":"singleInstance","sensitivity":"private",
                 "isAllDay":false,"isCancelled":false,"newThing":{"a":1},
                 "start":{"dateTime":"2025-06-02T09:00:00.0000000","timeZone":"UTC"},
                 "end":{"dateTime":"2025-06-02T10:30:00.0000000","timeZone":"UTC"}},
                {"id":"e2","showAs":"oof","isAllDay":true,"type":"occurrence",
                 "start":{"dateTime":"2025-06-03T00:00:00.0000000","timeZone":"W. Europe Standard Time"},
                 "end":{"dateTime":"2025-06-04T00:00:00.0000000","timeZone":"W. Europe Standard Time"}},
                {"id":"e3","isCancelled":true,"showAs":"WorkingElsewhere",
                 "start":{"dateTime":"2025-06-02T11:00:00","timeZone":"utc"},
                 "end":{"dateTime":"2025-06-02T12:00:00.5","timeZone":"UTC"}},
                {"id":"e4","showAs":null,"isAllDay":null,"isCancelled":null,
                 "start":{"dateTime":"2025-06-02T13:00:00.0000000","timeZone":"UTC"},
                 "end":{"dateTime":"2025-06-02T14:00:00.0000000","timeZone":"UTC"}},
                {"id":"e5","showAs":"somethingNew",
                 "start":{"dateTime":"2025-06-02T15:00:00.0000000","timeZone":"UTC"},
                 "end":{"dateTime":"2025-06-02T16:00:00.0000000","timeZone":"UTC"}}"##,
        )
        .expect("page");
        assert_eq!(
            p.events,
            [
                SourceEvent {
                    id: "e1".into(),
                    start: date(2025, 6, 2).at(9, 0, 0, 0),
                    end: date(2025, 6, 2).at(10, 30, 0, 0),
                    show_as: ShowAs::Busy,
                    is_all_day: false,
                    is_cancelled: false,
                },
                SourceEvent {
                    id: "e2".into(),
                    start: date(2025, 6, 3).at(0, 0, 0, 0),
                    end: date(2025, 6, 4).at(0, 0, 0, 0),
                    show_as: ShowAs::Oof,
                    is_all_day: true,
                    is_cancelled: false,
                },
                SourceEvent {
                    id: "e3".into(),
                    start: date(2025, 6, 2).at(11, 0, 0, 0),
                    end: date(2025, 6, 2).at(12, 0, 0, 500_000_000),
                    show_as: ShowAs::WorkingElsewhere,
                    is_all_day: false,
                    is_cancelled: true,
                },
                SourceEvent {
                    id: "e4".into(),
                    start: date(2025, 6, 2).at(13, 0, 0, 0),
                    end: date(2025, 6, 2).at(14, 0, 0, 0),
                    show_as: ShowAs::Unknown,
                    is_all_day: false,
                    is_cancelled: false,
                },
                SourceEvent {
                    id: "e5".into(),
                    start: date(2025, 6, 2).at(15, 0, 0, 0),
                    end: date(2025, 6, 2).at(16, 0, 0, 0),
                    show_as: ShowAs::Unknown,
                    is_all_day: false,
                    is_cancelled: false,
                },
            ]
        );
        assert_eq!(p.next, None);
    }

    #[test]
    fn masters_and_items_without_ids_are_skipped_and_next_links_kept() {
        let p = page_answer(body(
            r#"{"value":[
                {"id":"m","type":"seriesMaster","showAs":"busy",
                 "start":{"dateTime":"2020-01-01T09:00:00.0000000","timeZone":"Pacific Standard Time"},
                 "end":{"dateTime":"2020-01-01T10:00:00.0000000","timeZone":"Pacific Standard Time"}},
                {"showAs":"busy","start":{"dateTime":"2025-06-02T09:00:00","timeZone":"UTC"},
                 "end":{"dateTime":"2025-06-02T10:00:00","timeZone":"UTC"}},
                {"id":"o","type":"occurrence","showAs":"tentative",
                 "start":{"dateTime":"2025-06-02T09:00:00","timeZone":"UTC"},
                 "end":{"dateTime":"2025-06-02T10:00:00","timeZone":"UTC"}}
            ],"@odata.nextLink":"https://graph.example.com/v1.0/users/u/calendarView?$skip=100"}"#,
        ))
        .expect("page");
        assert_eq!(p.events.len(), 1);
        assert_eq!(p.events[0].id, "o");
        assert_eq!(p.events[0].show_as, ShowAs::Tentative);
        assert_eq!(
            p.next.as_deref(),
            Some("https://graph.example.com/v1.0/users/u/calendarView?$skip=100")
        );
        assert_eq!(
            page_answer(body(r#"{"value":[]}"#)),
            Ok(CalendarPage::default())
        );
    }

    #[test]
    fn unreadable_events_fail_the_page() {
        let m = protocol_message(page(
            r#"{"id":"e1","start":{"dateTime":"2025-06-02T09:00:00.0000000","timeZone":"Pacific Standard Time"},
                "end":{"dateTime":"2025-06-02T10:00:00.0000000","timeZone":"Pacific Standard Time"}}"#,
        ));
        assert!(
            m.contains("e1") && m.contains("\"Pacific Standard Time\"") && m.contains("UTC"),
            "{m}"
        );
        let m = protocol_message(page(
            r#"{"id":"e2","start":{"dateTime":"2025-06-02T09:00:00.0000000","timeZone":"UTC"}}"#,
        ));
        assert!(m.contains("e2") && m.contains("no end"), "{m}");
        let m = protocol_message(page(
            r#"{"id":"e3","start":{"dateTime":"2025-06-02T09:00:00+02:00","timeZone":"UTC"},
                "end":{"dateTime":"2025-06-02T10:00:00","timeZone":"UTC"}}"#,
        ));
        assert!(m.contains("e3") && m.contains("offset"), "{m}");
        let m = protocol_message(page(
            r#"{"id":"e4","start":{"timeZone":"UTC"},"end":{"dateTime":"2025-06-02T10:00:00","timeZone":"UTC"}}"#,
        ));
        assert!(m.contains("start.dateTime"), "{m}");
        let m = protocol_message(page_answer(body(r#"{"@odata.context":"x"}"#)));
        assert!(m.contains("without value"), "{m}");
    }

    #[test]
    fn inner_errors_of_a_calendar_read() {
        let r = read("u", "2025-06-02T00:00:00Z", "2025-06-03T00:00:00Z");
        let error = |status: u16, code: &str, message: &str| {
            let a: InnerAnswer<CalendarBody> = serde_json::from_str(&format!(
                r#"{{"id":"1","status":{status},"body":{{"error":{{"code":"{code}","message":"{message}"}}}}}}"#
            ))
            .expect("answer");
            inner_api_error(a.status, &inner_headers(a.headers), a.body, None)
        };
        assert_eq!(
            calendar_error(
                &r,
                &error(
                    404,
                    "MailboxNotEnabledForRESTAPI",
                    "REST API is not yet supported for this mailbox."
                )
            ),
            MailboxError::NoMailbox
        );
        match calendar_error(&r, &error(403, "ErrorAccessDenied", "Access is denied.")) {
            MailboxError::Graph(DirectoryError::Denied(m)) => {
                assert!(m.contains("Calendars.Read"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        match calendar_error(
            &r,
            &error(
                400,
                "ErrorInvalidRequest",
                "The range between the start and end dates is greater than the allowed range. Maximum number of days: 1825",
            ),
        ) {
            MailboxError::Graph(DirectoryError::Protocol(m)) => {
                assert!(m.contains("1825"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        // Not a folder read: an item that is not found is no "folder gone".
        assert!(matches!(
            calendar_error(&r, &error(404, "ErrorItemNotFound", "x")),
            MailboxError::Graph(DirectoryError::Protocol(_))
        ));
    }
}
