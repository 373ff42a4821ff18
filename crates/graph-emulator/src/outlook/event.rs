//! The `microsoft.graph.event` values the emulator keeps (graph-protocol.md §4.1), and the
//! control API's event bodies (Graph property names, validated).

use jiff::Timestamp;
use jiff::civil::{DateTime, Time};
use serde_json::{Map, Value};

use super::recurrence::Recurrence;
use super::tz::{Zone, format_date_time, parse_date_time};

macro_rules! graph_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            /// Graph's spelling, any case.
            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(s))
            }

            fn names() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }
    };
}

graph_enum! {
    /// `showAs`.
    ShowAs {
        Free = "free",
        Tentative = "tentative",
        Busy = "busy",
        Oof = "oof",
        WorkingElsewhere = "workingElsewhere",
        Unknown = "unknown",
    }
}

graph_enum! {
    /// `sensitivity`.
    Sensitivity {
        Normal = "normal",
        Personal = "personal",
        Private = "private",
        Confidential = "confidential",
    }
}

graph_enum! {
    /// `importance`.
    Importance {
        Low = "low",
        Normal = "normal",
        High = "high",
    }
}

graph_enum! {
    /// `responseStatus.response`.
    Response {
        None = "none",
        Organizer = "organizer",
        TentativelyAccepted = "tentativelyAccepted",
        Accepted = "accepted",
        Declined = "declined",
        NotResponded = "notResponded",
    }
}

/// One calendar item: a single event, a series master (with `recurrence`), or an exception.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub subject: String,
    /// Plain text; `body` is written as HTML around it, `bodyPreview` from it.
    pub body: String,
    pub location: String,
    pub categories: Vec<String>,
    /// Wall-clock start in `start_zone` (midnight for all-day events).
    pub start: DateTime,
    pub start_zone: Zone,
    pub end: DateTime,
    pub end_zone: Zone,
    pub all_day: bool,
    pub show_as: ShowAs,
    pub sensitivity: Sensitivity,
    pub importance: Importance,
    pub cancelled: bool,
    pub is_organizer: bool,
    /// (name, address); `None` = the mailbox owner.
    pub organizer: Option<(String, String)>,
    pub response: Response,
    pub recurrence: Option<Recurrence>,
    pub created: Timestamp,
    pub modified: Timestamp,
}

impl Event {
    pub fn start_instant(&self) -> Timestamp {
        self.start_zone.instant(self.start)
    }

    pub fn end_instant(&self) -> Timestamp {
        self.end_zone.instant(self.end)
    }

    /// The zone a series expands in: `recurrenceTimeZone`, else the start's.
    pub fn series_zone(&self) -> Zone {
        self.recurrence
            .as_ref()
            .and_then(|r| r.zone.as_deref())
            .and_then(Zone::parse)
            .unwrap_or_else(|| self.start_zone.clone())
    }
}

/// What a control-API body sets; absent = unchanged.
#[derive(Debug, Default, Clone)]
pub struct EventPatch {
    pub subject: Option<String>,
    pub body: Option<String>,
    pub location: Option<String>,
    pub categories: Option<Vec<String>>,
    pub start: Option<(DateTime, Zone)>,
    pub end: Option<(DateTime, Zone)>,
    pub all_day: Option<bool>,
    pub show_as: Option<ShowAs>,
    pub sensitivity: Option<Sensitivity>,
    pub importance: Option<Importance>,
    pub cancelled: Option<bool>,
    pub is_organizer: Option<bool>,
    pub organizer: Option<Option<(String, String)>>,
    pub response: Option<Response>,
    /// `Some(None)` = `"recurrence": null`.
    pub recurrence: Option<Option<Value>>,
}

/// Properties a control-API body may set.
const WRITABLE: &[&str] = &[
    "subject",
    "body",
    "location",
    "categories",
    "start",
    "end",
    "isAllDay",
    "showAs",
    "sensitivity",
    "importance",
    "isCancelled",
    "isOrganizer",
    "organizer",
    "responseStatus",
    "recurrence",
];

/// Event properties the emulator writes but does not take.
const READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "type",
    "seriesMasterId",
    "originalStart",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "iCalUId",
    "webLink",
    "bodyPreview",
];

fn string(v: &Value, name: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        other => Err(format!("{name}: expected a string, got {other}")),
    }
}

fn boolean(v: &Value, name: &str) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("{name}: expected true or false, got {v}"))
}

fn enum_value<T>(
    v: &Value,
    name: &str,
    parse: fn(&str) -> Option<T>,
    names: String,
) -> Result<T, String> {
    v.as_str()
        .and_then(parse)
        .ok_or_else(|| format!("{name}: {v} is not one of {names}"))
}

/// `{"dateTime": "2025-06-02T09:00:00", "timeZone": "W. Europe Standard Time"}`.
fn date_time_time_zone(v: &Value, name: &str) -> Result<(DateTime, Zone), String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{name}: expected {{\"dateTime\", \"timeZone\"}}"))?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "dateTime" | "timeZone"))
    {
        return Err(format!(
            "{name}: unknown property '{k}' (dateTime, timeZone)"
        ));
    }
    let text = obj
        .get("dateTime")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{name}.dateTime is required"))?;
    let dt = parse_date_time(text).ok_or_else(|| {
        format!(
            "{name}.dateTime '{text}' is not a date and time without offset (2025-06-02T09:00:00)"
        )
    })?;
    let zone_name = obj.get("timeZone").and_then(Value::as_str).unwrap_or("UTC");
    let zone = Zone::parse(zone_name)
        .ok_or_else(|| format!("{name}.timeZone '{zone_name}' is not a known time zone"))?;
    Ok((dt, zone))
}

/// Validates a control-API event body (names are case-sensitive; a near miss says so).
pub fn parse_patch(body: &Map<String, Value>) -> Result<EventPatch, String> {
    let mut p = EventPatch::default();
    for (key, v) in body {
        if key.starts_with('@') {
            continue;
        }
        match key.as_str() {
            "subject" => p.subject = Some(string(v, key)?),
            "body" => {
                p.body = Some(match v {
                    Value::Object(o) => o
                        .get("content")
                        .map(|c| string(c, "body.content"))
                        .transpose()?
                        .unwrap_or_default(),
                    other => string(other, key)?,
                });
            }
            "location" => {
                p.location = Some(match v {
                    Value::Object(o) => o
                        .get("displayName")
                        .map(|c| string(c, "location.displayName"))
                        .transpose()?
                        .unwrap_or_default(),
                    other => string(other, key)?,
                });
            }
            "categories" => {
                let list = match v {
                    Value::Null => Vec::new(),
                    Value::Array(items) => items
                        .iter()
                        .map(|i| string(i, key))
                        .collect::<Result<_, _>>()?,
                    other => return Err(format!("categories: expected strings, got {other}")),
                };
                p.categories = Some(list);
            }
            "start" => p.start = Some(date_time_time_zone(v, key)?),
            "end" => p.end = Some(date_time_time_zone(v, key)?),
            "isAllDay" => p.all_day = Some(boolean(v, key)?),
            "isCancelled" => p.cancelled = Some(boolean(v, key)?),
            "isOrganizer" => p.is_organizer = Some(boolean(v, key)?),
            "showAs" => p.show_as = Some(enum_value(v, key, ShowAs::parse, ShowAs::names())?),
            "sensitivity" => {
                p.sensitivity = Some(enum_value(
                    v,
                    key,
                    Sensitivity::parse,
                    Sensitivity::names(),
                )?);
            }
            "importance" => {
                p.importance = Some(enum_value(v, key, Importance::parse, Importance::names())?);
            }
            "responseStatus" => {
                let r = v
                    .get("response")
                    .ok_or("responseStatus: {\"response\": …} expected")?;
                p.response = Some(enum_value(
                    r,
                    "responseStatus.response",
                    Response::parse,
                    Response::names(),
                )?);
            }
            "organizer" => {
                p.organizer = Some(match v {
                    Value::Null => None,
                    _ => {
                        let email = v.get("emailAddress").ok_or(
                            "organizer: {\"emailAddress\": {\"name\", \"address\"}} expected",
                        )?;
                        let address = email
                            .get("address")
                            .and_then(Value::as_str)
                            .ok_or("organizer.emailAddress.address is required")?;
                        let name = email.get("name").and_then(Value::as_str).unwrap_or(address);
                        Some((name.to_owned(), address.to_owned()))
                    }
                });
            }
            "recurrence" => {
                p.recurrence = Some(match v {
                    Value::Null => None,
                    other => Some(other.clone()),
                });
            }
            _ => {
                return Err(if READ_ONLY.contains(&key.as_str()) {
                    format!("{key} is read-only (the emulator sets it)")
                } else if let Some(near) = WRITABLE
                    .iter()
                    .chain(READ_ONLY)
                    .find(|w| w.eq_ignore_ascii_case(key))
                {
                    format!(
                        "unknown property '{key}'; did you mean '{near}'? (names are case-sensitive)"
                    )
                } else {
                    format!(
                        "unknown or unmodelled property '{key}' on microsoft.graph.event (the emulator takes {})",
                        WRITABLE.join(", ")
                    )
                });
            }
        }
    }
    Ok(p)
}

fn is_midnight(dt: DateTime) -> bool {
    dt.time() == Time::midnight()
}

/// A new event from a control-API body: `start` and `end` are required.
pub fn new_event(p: &EventPatch, now: Timestamp) -> Result<Event, String> {
    let (start, start_zone) = p.start.clone().ok_or("start is required")?;
    let (end, end_zone) = p.end.clone().ok_or("end is required")?;
    let all_day = p.all_day.unwrap_or(false);
    let mut e = Event {
        subject: String::new(),
        body: String::new(),
        location: String::new(),
        categories: Vec::new(),
        start,
        start_zone,
        end,
        end_zone,
        all_day,
        // Outlook's defaults: busy, but all-day events are free (§4.1, issue 5).
        show_as: if all_day { ShowAs::Free } else { ShowAs::Busy },
        sensitivity: Sensitivity::Normal,
        importance: Importance::Normal,
        cancelled: false,
        is_organizer: true,
        organizer: None,
        response: Response::Organizer,
        recurrence: None,
        created: now,
        modified: now,
    };
    apply(&mut e, p, now, true)?;
    Ok(e)
}

/// Applies a patch (the series part, `recurrence`, only when `series` allows it); checks the
/// result: end not before start, all-day events midnight to midnight in one zone.
pub fn apply(e: &mut Event, p: &EventPatch, now: Timestamp, series: bool) -> Result<(), String> {
    let before = e.clone();
    if let Some(v) = &p.subject {
        e.subject.clone_from(v);
    }
    if let Some(v) = &p.body {
        e.body.clone_from(v);
    }
    if let Some(v) = &p.location {
        e.location.clone_from(v);
    }
    if let Some(v) = &p.categories {
        e.categories.clone_from(v);
    }
    if let Some((dt, z)) = &p.start {
        e.start = *dt;
        e.start_zone = z.clone();
    }
    if let Some((dt, z)) = &p.end {
        e.end = *dt;
        e.end_zone = z.clone();
    }
    if let Some(v) = p.all_day {
        e.all_day = v;
    }
    if let Some(v) = p.show_as {
        e.show_as = v;
    }
    if let Some(v) = p.sensitivity {
        e.sensitivity = v;
    }
    if let Some(v) = p.importance {
        e.importance = v;
    }
    if let Some(v) = p.cancelled {
        e.cancelled = v;
    }
    if let Some(v) = p.is_organizer {
        e.is_organizer = v;
        if p.response.is_none() {
            e.response = if v {
                Response::Organizer
            } else {
                Response::Accepted
            };
        }
    }
    if let Some(v) = &p.organizer {
        e.organizer.clone_from(v);
    }
    if let Some(v) = p.response {
        e.response = v;
    }
    match &p.recurrence {
        None => {}
        Some(_) if !series => {
            return Err(
                "recurrence can be set on a single event or a series master only".to_owned(),
            );
        }
        Some(None) if e.recurrence.is_some() => {
            return Err(
                "a series cannot drop its recurrence; delete the series and create a single event"
                    .to_owned(),
            );
        }
        Some(None) => {}
        Some(Some(v)) => {
            let start_day = e.start_zone.convert(e.start, &e.series_zone_of(v)).date();
            e.recurrence = Some(Recurrence::parse(v, start_day)?);
        }
    }
    if e.end_instant() < e.start_instant() {
        return Err(format!(
            "end ({} {}) is before start ({} {})",
            format_date_time(e.end),
            e.end_zone.name,
            format_date_time(e.start),
            e.start_zone.name
        ));
    }
    if e.all_day {
        // Graph: all-day events run midnight to midnight, a whole number of days.
        if !is_midnight(e.start) || !is_midnight(e.end) || e.end.date() <= e.start.date() {
            return Err(
                "an all-day event starts and ends at midnight, at least one day apart".to_owned(),
            );
        }
        if e.end_zone != e.start_zone {
            return Err("an all-day event has the same time zone at start and end".to_owned());
        }
    }
    if *e != before {
        e.modified = now.max(e.created);
    }
    Ok(())
}

impl Event {
    /// The zone a recurrence body would expand in (its recurrenceTimeZone, else the start's).
    fn series_zone_of(&self, recurrence: &Value) -> Zone {
        recurrence
            .get("range")
            .and_then(|r| r.get("recurrenceTimeZone"))
            .and_then(Value::as_str)
            .and_then(Zone::parse)
            .unwrap_or_else(|| self.start_zone.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(v: Value) -> Result<EventPatch, String> {
        parse_patch(v.as_object().expect("object"))
    }

    #[test]
    fn bodies_are_validated() {
        let now = Timestamp::UNIX_EPOCH;
        let p = patch(json!({
            "subject": "Review",
            "start": {"dateTime": "2025-06-02T09:00:00.0000000", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2025-06-02T10:00:00", "timeZone": "Pacific Standard Time"},
            "showAs": "oof",
            "sensitivity": "private",
            "@odata.type": "#microsoft.graph.event",
        }))
        .expect("valid");
        let e = new_event(&p, now).expect("event");
        assert_eq!(e.show_as, ShowAs::Oof);
        assert_eq!(e.start_instant().to_string(), "2025-06-02T16:00:00Z");
        for bad in [
            json!({"Subject": "x"}),
            json!({"id": "x"}),
            json!({"attendees": []}),
            json!({"showAs": "away"}),
            json!({"start": {"dateTime": "2025-06-02T09:00:00+02:00", "timeZone": "UTC"}}),
            json!({"start": {"dateTime": "2025-06-02T09:00:00", "timeZone": "Mars/Olympus"}}),
        ] {
            assert!(patch(bad.clone()).is_err(), "{bad}");
        }
        let err = patch(json!({"Subject": "x"})).expect_err("near miss");
        assert!(err.contains("did you mean 'subject'"), "{err}");
        let backwards = patch(json!({
            "start": {"dateTime": "2025-06-02T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2025-06-02T09:00:00", "timeZone": "UTC"},
        }))
        .expect("parses");
        assert!(new_event(&backwards, now).is_err());
        let all_day = patch(json!({
            "isAllDay": true,
            "start": {"dateTime": "2025-06-02T00:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2025-06-02T12:00:00", "timeZone": "UTC"},
        }))
        .expect("parses");
        assert!(new_event(&all_day, now).is_err());
    }
}
