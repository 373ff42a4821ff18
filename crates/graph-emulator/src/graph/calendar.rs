//! Calendars (graph-protocol.md §4): `/users/{id}/calendarView` (series expanded, paged with
//! `$skip`), its delta, `/users/{id}/events` and `/events/{id}`, with `Prefer:
//! outlook.timezone` and the all-day quirk. Also the event JSON the control API returns.

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse as _, Response};
use jiff::Timestamp;
use jiff::civil::DateTime;
use serde_json::{Value, json};
use uuid::Uuid;

use super::errors::GraphError;
use super::headers::GraphCtx;
use super::outlook::{
    self, BatchWave, CALENDAR_ROLES, Fail, add_applied, id_error, invalid_url_query, item_not_found,
};
use super::paging;
use super::query::Query;
use crate::clock::dotnet_round_trip;
use crate::directory::json::{push_key, push_str};
use crate::directory::props::slot;
use crate::directory::{Directory, ExpireMode};
use crate::outlook::MailboxMut;
use crate::outlook::calendar::{Calendar, DeltaItem, Instance, Kind, Unit};
use crate::outlook::ids::{self, EventRef, IdKind, mix};
use crate::outlook::tz::{Zone, format_date_time};
use crate::state::AppState;

/// Outlook pages hold 10 items unless asked otherwise; `$top` goes up to 1000 (§3, §4.1).
const DEFAULT_TOP: usize = 10;
const MAX_TOP: usize = 1000;
/// "Maximum number of days: 1825" (§4.1).
const MAX_WINDOW_DAYS: i64 = 1825;
/// Token kinds of calendarView delta: inside a round / between rounds.
const DELTA_SKIP: u8 = b'E';
const DELTA_NEXT: u8 = b'V';

/// Every v1.0 event property the emulator writes, in Graph's order.
const PROPS: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "transactionId",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "iCalUId",
    "reminderMinutesBeforeStart",
    "isReminderOn",
    "hasAttachments",
    "subject",
    "bodyPreview",
    "importance",
    "sensitivity",
    "isAllDay",
    "isCancelled",
    "isOrganizer",
    "responseRequested",
    "seriesMasterId",
    "showAs",
    "type",
    "webLink",
    "onlineMeetingUrl",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "allowNewTimeProposals",
    "isDraft",
    "hideAttendees",
    "originalStart",
    "responseStatus",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "recurrence",
    "attendees",
    "organizer",
    "onlineMeeting",
];

const P_ORIGINAL_START: usize = 30;

type Mask = u64;

fn has(mask: Mask, i: usize) -> bool {
    mask == 0 || mask & (1 << i) != 0
}

/// The mailbox owner, as organizer of their own events and for the generator.
pub(crate) struct Owner {
    pub name: String,
    pub address: String,
    pub country: Option<String>,
    pub domain: String,
}

impl Owner {
    pub(crate) fn of(dir: &Directory, idx: u32) -> Option<Owner> {
        let u = dir.user(idx)?;
        let upn = u.text(slot::USER_PRINCIPAL_NAME).unwrap_or_default();
        Some(Owner {
            name: u.text(slot::DISPLAY_NAME).unwrap_or(upn).to_owned(),
            address: u.text(slot::MAIL).unwrap_or(upn).to_owned(),
            country: u.text(slot::USAGE_LOCATION).map(str::to_owned),
            domain: upn.rsplit_once('@').map_or("", |(_, d)| d).to_owned(),
        })
    }

    /// The owner's calendar, built on first use.
    pub(crate) fn calendar<'a>(
        &self,
        mb: &'a mut MailboxMut<'_>,
        now: Timestamp,
    ) -> crate::outlook::calendar::CalendarMut<'a> {
        mb.calendar(self.country.as_deref(), &self.domain, now)
    }
}

/// The REST id of an event, occurrence or exception.
pub(crate) fn event_id(guid: &Uuid, r: EventRef) -> String {
    match r {
        EventRef::Stored(k) => ids::encode(guid, IdKind::Event, k),
        EventRef::Occurrence(k, d) => ids::encode_occurrence(guid, k, d),
    }
}

/// `changeKey` of an instance; the etag is `W/"{changeKey}"`.
pub(crate) fn change_key(guid: &Uuid, i: &Instance<'_>) -> String {
    let salt = i.day.map_or(0, |d| d.cast_unsigned() | 0x8000_0000);
    ids::change_key(guid, i.seq, i.key ^ salt)
}

/// How events are written.
pub(crate) struct Render<'a> {
    pub guid: &'a Uuid,
    pub owner: &'a Owner,
    /// `Prefer: outlook.timezone` (default UTC); `None` = each event's own zone (control API).
    pub zone: Option<&'a Zone>,
    /// `$select` (0 = everything).
    pub mask: Mask,
    /// Delta items carry `@odata.type`.
    pub delta: bool,
    /// calendarView cannot `$select` these: their values read as .NET's `DateTime.MinValue`
    /// [obs, msgraph-sdk-dotnet#1655] (§4.1).
    pub min_times: bool,
}

/// iCalUId: Outlook's GlobalObjectId in hex; occurrences carry their date in it (§4.1:
/// "differs per occurrence").
fn ical_uid(guid: &Uuid, i: &Instance<'_>) -> String {
    let date = i
        .day
        .and_then(crate::outlook::recurrence::from_day_number)
        .map_or_else(
            || "00000000".to_owned(),
            |d| format!("{:04X}{:02X}{:02X}", d.year(), d.month(), d.day()),
        );
    let (hi, lo) = guid.as_u64_pair();
    let a = mix(&[hi, lo, u64::from(i.key), 0x1ca1]);
    let b = mix(&[lo, hi, u64::from(i.key), 0x1ca1]);
    format!(
        "040000008200E00074C5B7101A82E008{date}{}{}10000000{a:016X}{b:016X}",
        "0".repeat(16),
        "0".repeat(16)
    )
}

fn date_time_json(dt: DateTime, zone: &str) -> Value {
    json!({ "dateTime": format_date_time(dt), "timeZone": zone })
}

fn push_value(out: &mut String, v: &Value) {
    out.push_str(&serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned()));
}

/// One event as Graph writes it.
pub(crate) fn push_event(out: &mut String, r: &Render<'_>, i: &Instance<'_>) {
    let e = &*i.event;
    let id = event_id(r.guid, i.reference());
    let key = change_key(r.guid, i);
    out.push('{');
    if r.delta {
        out.push_str("\"@odata.type\":\"#microsoft.graph.event\",");
    }
    push_key(out, "@odata.etag");
    push_str(out, &format!("W/\"{key}\""));
    for (p, name) in PROPS.iter().enumerate() {
        if !has(r.mask, p) && p != 0 {
            continue;
        }
        if p == P_ORIGINAL_START && i.original_start.is_none() && r.mask == 0 {
            // Only occurrences and exceptions have it (§4.1).
            continue;
        }
        out.push(',');
        push_key(out, name);
        let time = |t: Timestamp| {
            if r.min_times {
                "0001-01-01T00:00:00Z".to_owned()
            } else {
                dotnet_round_trip(t)
            }
        };
        let zone = |own: &Zone| r.zone.map_or_else(|| own.name.clone(), |z| z.name.clone());
        let v: Value = match *name {
            "id" => Value::String(id.clone()),
            "createdDateTime" => Value::String(time(e.created)),
            "lastModifiedDateTime" => Value::String(time(e.modified)),
            "changeKey" => Value::String(key.clone()),
            "categories" => json!(e.categories),
            "originalStartTimeZone" => Value::String(e.start_zone.name.clone()),
            "originalEndTimeZone" => Value::String(e.end_zone.name.clone()),
            "iCalUId" => Value::String(ical_uid(r.guid, i)),
            // Outlook's default reminders: 15 minutes, 18 hours before an all-day event.
            "reminderMinutesBeforeStart" => json!(if e.all_day { 1080 } else { 15 }),
            "isReminderOn" => json!(!e.cancelled),
            "subject" => Value::String(e.subject.clone()),
            "bodyPreview" => Value::String(e.body.chars().take(255).collect()),
            "importance" => json!(e.importance.as_str()),
            "sensitivity" => json!(e.sensitivity.as_str()),
            "isAllDay" => json!(e.all_day),
            "isCancelled" => json!(e.cancelled),
            "isOrganizer" => json!(e.is_organizer),
            "responseRequested" | "allowNewTimeProposals" => json!(true),
            "hasAttachments" | "isOnlineMeeting" | "isDraft" | "hideAttendees" => json!(false),
            "seriesMasterId" => match i.kind {
                Kind::Occurrence | Kind::Exception => {
                    Value::String(event_id(r.guid, EventRef::Stored(i.key)))
                }
                _ => Value::Null,
            },
            "showAs" => json!(e.show_as.as_str()),
            "type" => json!(i.kind.as_str()),
            "webLink" => Value::String(format!(
                "https://outlook.office365.com/owa/?itemid={}&exvsurl=1&path=/calendar/item",
                url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
            )),
            "onlineMeetingProvider" => json!("unknown"),
            "originalStart" => i.original_start.map_or(Value::Null, |t| {
                Value::String(crate::clock::graph_date_time(t))
            }),
            "responseStatus" => json!({
                "response": e.response.as_str(),
                "time": "0001-01-01T00:00:00Z",
            }),
            "body" => json!({
                "contentType": "html",
                "content": if e.body.is_empty() {
                    String::new()
                } else {
                    format!("<html><body>{}</body></html>", html_escape(&e.body))
                },
            }),
            // All-day events are floating dates: never converted, only labelled (§4.1).
            "start" if e.all_day => date_time_json(e.start, &zone(&e.start_zone)),
            "end" if e.all_day => date_time_json(e.end, &zone(&e.start_zone)),
            "start" => {
                let z = r.zone.unwrap_or(&e.start_zone);
                date_time_json(z.civil(i.start), &z.name)
            }
            "end" => {
                let z = r.zone.unwrap_or(&e.end_zone);
                date_time_json(z.civil(i.end), &z.name)
            }
            "location" => json!({
                "displayName": e.location,
                "locationType": "default",
                "uniqueIdType": "unknown",
                "address": {},
                "coordinates": {},
            }),
            "locations" if e.location.is_empty() => json!([]),
            "locations" => json!([{
                "displayName": e.location,
                "locationType": "default",
                "uniqueIdType": "unknown",
            }]),
            "recurrence" => match (&e.recurrence, i.kind) {
                (Some(rule), Kind::SeriesMaster) => rule.to_json(&e.start_zone.name),
                _ => Value::Null,
            },
            "attendees" => json!([]),
            "organizer" => {
                let (name, address) = e
                    .organizer
                    .clone()
                    .unwrap_or_else(|| (r.owner.name.clone(), r.owner.address.clone()));
                json!({ "emailAddress": { "name": name, "address": address } })
            }
            _ => Value::Null,
        };
        push_value(out, &v);
    }
    out.push('}');
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An event as the control API shows it: Graph JSON with start and end in the event's own
/// zones, plus `cancelledOccurrences` (ids) on series masters.
pub(crate) fn control_json(guid: &Uuid, owner: &Owner, cal: &Calendar, i: &Instance<'_>) -> String {
    let mut out = String::new();
    let r = Render {
        guid,
        owner,
        zone: None,
        mask: 0,
        delta: false,
        min_times: false,
    };
    push_event(&mut out, &r, i);
    if i.kind == Kind::SeriesMaster {
        let cancelled: Vec<String> = cal
            .cancelled_days(i.key)
            .into_iter()
            .map(|d| event_id(guid, EventRef::Occurrence(i.key, d)))
            .collect();
        out.pop();
        out.push_str(",\"cancelledOccurrences\":");
        push_value(&mut out, &json!(cancelled));
        out.push('}');
    }
    out
}

// ---- requests --------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Target {
    View,
    Delta,
    Events,
    Event(String),
}

type Wave = Option<Extension<BatchWave>>;

struct Req<'a> {
    ctx: &'a GraphCtx,
    raw: Option<&'a str>,
    headers: &'a HeaderMap,
    path: &'a str,
    user: &'a str,
}

impl Req<'_> {
    fn context(&self, rest: &str) -> String {
        format!(
            "{}/v1.0/$metadata#users('{}')/{rest}",
            self.ctx.base,
            self.user.replace('\'', "''")
        )
    }
}

#[allow(clippy::too_many_arguments)]
async fn dispatch(
    state: AppState,
    ctx: GraphCtx,
    headers: HeaderMap,
    raw: Option<String>,
    uri: Uri,
    wave: Wave,
    user: String,
    target: Target,
) -> Response {
    let wave = wave.map(|Extension(w)| w);
    let path = uri.path().to_owned();
    outlook::serve_for(
        &state,
        &ctx,
        &headers,
        &user,
        wave.as_ref(),
        CALENDAR_ROLES,
        |mb, dir| {
            let req = Req {
                ctx: &ctx,
                raw: raw.as_deref(),
                headers: &headers,
                path: &path,
                user: &user,
            };
            let owner = dir
                .find_live(&user)
                .and_then(|idx| Owner::of(dir, idx))
                .ok_or_else(item_not_found)?;
            match target {
                Target::View => calendar_view(mb, &owner, &req),
                Target::Delta => calendar_delta(mb, dir, &owner, &req),
                Target::Events => list_events(mb, &owner, &req),
                Target::Event(id) => get_event(mb, &owner, &req, &id),
            }
        },
    )
    .await
}

macro_rules! handlers {
    ($($name:ident($($arg:ident),*) => $target:expr;)*) => {$(
        pub async fn $name(
            State(state): State<AppState>,
            ctx: GraphCtx,
            headers: HeaderMap,
            RawQuery(raw): RawQuery,
            uri: Uri,
            wave: Wave,
            Path(($($arg,)*)): Path<($(handlers!(@string $arg),)*)>,
        ) -> Response {
            let (user, target) = $target;
            dispatch(state, ctx, headers, raw, uri, wave, user, target).await
        }
    )*};
    (@string $arg:ident) => { String };
}

handlers! {
    view(user) => (user, Target::View);
    view_delta(user) => (user, Target::Delta);
    events(user) => (user, Target::Events);
    event(user, eid) => (user, Target::Event(eid));
}

fn json_response(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

// ---- query options ---------------------------------------------------------------------

fn invalid_parameter(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "ErrorInvalidParameter", message)
}

/// One end of the window: ISO 8601; without an offset it is UTC (§4.1). A `+` that arrived
/// as a space (an unencoded offset) is taken back.
fn parse_instant(name: &str, raw: &str) -> Result<Timestamp, GraphError> {
    let text = raw.trim().replace(' ', "+");
    let parsed = text.parse::<Timestamp>().ok().or_else(|| {
        let civil = text
            .trim_end_matches(['Z', 'z'])
            .parse::<DateTime>()
            .ok()
            .or_else(|| {
                text.parse::<jiff::civil::Date>()
                    .ok()
                    .map(|d| d.at(0, 0, 0, 0))
            })?;
        jiff::tz::TimeZone::UTC.to_timestamp(civil).ok()
    });
    // [inf] wording; the code is the one Graph uses for the window parameters.
    parsed.ok_or_else(|| {
        invalid_parameter(format!(
            "The value '{raw}' of parameter '{name}' is not a valid date and time."
        ))
    })
}

/// `startDateTime` and `endDateTime` (names in any case), both required.
fn window(q: &Query) -> Result<(Timestamp, Timestamp), GraphError> {
    let (Some(s), Some(e)) = (q.option("startDateTime"), q.option("endDateTime")) else {
        // [obs] graph-docs-contrib#8385: names both, whichever is missing.
        return Err(invalid_parameter(
            "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
        ));
    };
    let from = parse_instant("StartDateTime", s)?;
    let to = parse_instant("EndDateTime", e)?;
    if to < from {
        // [inf] wording.
        return Err(invalid_parameter(
            "The value of the parameter 'EndDateTime' must be later than the value of 'StartDateTime'.",
        ));
    }
    if to.duration_since(from).as_secs() > MAX_WINDOW_DAYS * 86_400 {
        // [obs] graph-docs#6284.
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            format!(
                "Your request can't be completed. The range between the start and end dates is greater than the allowed range. Maximum number of days: {MAX_WINDOW_DAYS}"
            ),
        ));
    }
    Ok((from, to))
}

/// `Prefer: outlook.timezone="…"` (Windows or IANA name); default UTC (§4.1).
fn prefer_zone(headers: &HeaderMap) -> Result<(Zone, Option<String>), GraphError> {
    let Some((_, name)) = outlook::prefer(headers)
        .into_iter()
        .find(|(k, _)| k == "outlook.timezone")
    else {
        return Ok((Zone::utc(), None));
    };
    let zone = Zone::parse(&name).ok_or_else(|| {
        // [obs] microsoft-graph-docs#6870.
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "TimeZoneNotSupportedException",
            format!(
                "A valid TimeZone value must be specified. The following TimeZone value is not supported: '{name}'."
            ),
        )
    })?;
    let applied = format!("outlook.timezone=\"{}\"", zone.name);
    Ok((zone, Some(applied)))
}

fn parse_top(q: &Query) -> Result<usize, GraphError> {
    let Some(raw) = q.option("top") else {
        return Ok(DEFAULT_TOP);
    };
    raw.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_TOP).contains(n))
        .ok_or_else(|| {
            invalid_url_query(format!(
                "The value '{raw}' of the query option '$top' is invalid. It must be an integer between 1 and {MAX_TOP}."
            ))
        })
}

fn parse_skip(q: &Query) -> Result<usize, GraphError> {
    let Some(raw) = q.option("skip") else {
        return Ok(0);
    };
    raw.trim().parse::<usize>().map_err(|_| {
        invalid_url_query(format!(
            "The value '{raw}' of the query option '$skip' is invalid. It must be a non-negative integer."
        ))
    })
}

fn refuse_unmodelled(q: &Query) -> Result<(), GraphError> {
    for name in ["expand", "search", "filter"] {
        if q.option(name).is_some() {
            return Err(invalid_url_query(format!(
                "The query option '${name}' is not supported by the emulator on this resource."
            )));
        }
    }
    Ok(())
}

/// `$select`: a mask over [`PROPS`] (names case-insensitive; `id` always) and the canonical
/// names for the context.
fn select(q: &Query) -> Result<Option<(Mask, String)>, GraphError> {
    let Some(raw) = q.option("select") else {
        return Ok(None);
    };
    let mut mask: Mask = 1;
    let mut names = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let i = PROPS
            .iter()
            .position(|p| p.eq_ignore_ascii_case(item))
            .ok_or_else(|| {
                // [obs] Outlook's answer to an unknown `$select` property.
                GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "RequestBroker--ParseUri",
                    format!(
                        "Could not find a property named '{item}' on type 'Microsoft.OutlookServices.Event'."
                    ),
                )
            })?;
        if !names.contains(&PROPS[i]) {
            mask |= 1 << i;
            names.push(PROPS[i]);
        }
    }
    Ok((!names.is_empty()).then(|| (mask, names.join(","))))
}

/// `$orderby` on `start/dateTime` or `end/dateTime`, `asc` or `desc`.
fn order(q: &Query) -> Result<Option<(bool, bool)>, GraphError> {
    let Some(text) = q.option("orderby") else {
        return Ok(None);
    };
    let mut words = text.split_whitespace();
    let by_end = match words.next().map(str::to_ascii_lowercase).as_deref() {
        Some("start/datetime") => false,
        Some("end/datetime") => true,
        _ => {
            return Err(invalid_url_query(format!(
                "The emulator sorts events by start/dateTime or end/dateTime only, not by '{text}'."
            )));
        }
    };
    let desc = match words.next().map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(invalid_url_query("The $orderby expression is invalid.")),
    };
    Ok(Some((by_end, desc)))
}

fn finish(body: String, applied: Option<&str>) -> Response {
    let mut response = json_response(body);
    if let Some(a) = applied {
        add_applied(&mut response, a);
    }
    response
}

/// A page of `items` as a collection with `$skip` paging.
fn page(
    req: &Req<'_>,
    r: &Render<'_>,
    q: &Query,
    items: &[Instance<'_>],
    context: &str,
) -> Result<String, GraphError> {
    let top = parse_top(q)?;
    let skip = parse_skip(q)?;
    let mut value = String::with_capacity(top.min(items.len()) * 1600);
    for (n, i) in items.iter().skip(skip).take(top).enumerate() {
        if n > 0 {
            value.push(',');
        }
        push_event(&mut value, r, i);
    }
    let next = (skip.saturating_add(top) < items.len()).then(|| {
        paging::link_replacing(
            &req.ctx.base,
            req.path,
            req.raw,
            "skip",
            &(skip + top).to_string(),
        )
    });
    let count = q
        .option("count")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        .then_some(items.len());
    Ok(paging::collection_body(
        context,
        count,
        next.as_deref(),
        None,
        &value,
    ))
}

fn sort(items: &mut [Instance<'_>], how: Option<(bool, bool)>) {
    if let Some((by_end, desc)) = how {
        items.sort_by(|a, b| {
            let (x, y) = if by_end {
                ((a.end, a.start), (b.end, b.start))
            } else {
                ((a.start, a.end), (b.start, b.end))
            };
            if desc { y.cmp(&x) } else { x.cmp(&y) }
        });
    }
}

fn calendar_view(mb: &mut MailboxMut<'_>, owner: &Owner, req: &Req<'_>) -> Result<Response, Fail> {
    let q = Query::parse(req.raw);
    let (from, to) = window(&q)?;
    refuse_unmodelled(&q)?;
    let (zone, applied) = prefer_zone(req.headers)?;
    let sel = select(&q)?;
    let how = order(&q)?;
    let guid = mb.guid;
    let mut cal = owner.calendar(mb, req.ctx.now);
    cal.cover(from, to);
    let mut items = cal.in_window(from, to);
    sort(&mut items, how);
    let context = match &sel {
        Some((_, names)) => req.context(&format!("calendarView({names})")),
        None => req.context("calendarView"),
    };
    let mask = sel.as_ref().map_or(0, |(m, _)| *m);
    let r = Render {
        guid: &guid,
        owner,
        zone: Some(&zone),
        mask,
        delta: false,
        min_times: mask != 0,
    };
    let body = page(req, &r, &q, &items, &context)?;
    Ok(finish(body, applied.as_deref()))
}

fn list_events(mb: &mut MailboxMut<'_>, owner: &Owner, req: &Req<'_>) -> Result<Response, Fail> {
    let q = Query::parse(req.raw);
    refuse_unmodelled(&q)?;
    let (zone, applied) = prefer_zone(req.headers)?;
    let sel = select(&q)?;
    let how = order(&q)?;
    let guid = mb.guid;
    let cal = owner.calendar(mb, req.ctx.now);
    let mut items = cal.listed();
    sort(&mut items, how);
    let context = match &sel {
        Some((_, names)) => req.context(&format!("events({names})")),
        None => req.context("events"),
    };
    let r = Render {
        guid: &guid,
        owner,
        zone: Some(&zone),
        mask: sel.as_ref().map_or(0, |(m, _)| *m),
        delta: false,
        min_times: false,
    };
    let body = page(req, &r, &q, &items, &context)?;
    Ok(finish(body, applied.as_deref()))
}

fn get_event(
    mb: &mut MailboxMut<'_>,
    owner: &Owner,
    req: &Req<'_>,
    id: &str,
) -> Result<Response, Fail> {
    let q = Query::parse(req.raw);
    let (zone, applied) = prefer_zone(req.headers)?;
    let sel = select(&q)?;
    let guid = mb.guid;
    let reference = ids::decode_event(id, &guid).map_err(id_error)?;
    let cal = owner.calendar(mb, req.ctx.now);
    let i = cal.get(reference).ok_or_else(item_not_found)?;
    let context = match &sel {
        Some((_, names)) => req.context(&format!("events({names})/$entity")),
        None => req.context("events/$entity"),
    };
    let r = Render {
        guid: &guid,
        owner,
        zone: Some(&zone),
        mask: sel.as_ref().map_or(0, |(m, _)| *m),
        delta: false,
        min_times: false,
    };
    let mut out = String::new();
    out.push('{');
    push_key(&mut out, "@odata.context");
    push_str(&mut out, &context);
    let mut item = String::new();
    push_event(&mut item, &r, &i);
    out.push(',');
    out.push_str(&item[1..]);
    Ok(finish(out, applied.as_deref()))
}

// ---- delta -----------------------------------------------------------------------------

/// Everything a calendarView delta request continues from, inside its token (§4.2: the
/// tokens encode the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Round {
    epoch: u32,
    scope: u64,
    from: i64,
    to: i64,
    lower: u64,
    upper: u64,
    /// (sequence, item, day code, index within the unit) of the last item returned.
    cursor: (u64, u32, u64, u64),
    initial: bool,
}

/// `Some(day)` as a token field: 0 is "no day".
fn day_code(day: Option<i32>) -> u64 {
    day.map_or(0, |d| u64::from(d.cast_unsigned()) + 1)
}

impl Round {
    fn encode(&self, kind: u8) -> String {
        paging::encode(
            kind,
            &[
                u64::from(self.epoch),
                self.scope,
                self.from.cast_unsigned(),
                self.to.cast_unsigned(),
                self.lower,
                self.upper,
                self.cursor.0,
                u64::from(self.cursor.1),
                self.cursor.2,
                self.cursor.3,
                u64::from(self.initial),
            ],
        )
    }

    fn decode(token: &str, kind: u8) -> Option<Round> {
        match paging::decode(token, kind)?.as_slice() {
            [
                epoch,
                scope,
                from,
                to,
                lower,
                upper,
                seq,
                key,
                day,
                sub,
                initial,
            ] => Some(Round {
                epoch: u32::try_from(*epoch).ok()?,
                scope: *scope,
                from: from.cast_signed(),
                to: to.cast_signed(),
                lower: *lower,
                upper: *upper,
                cursor: (*seq, u32::try_from(*key).ok()?, *day, *sub),
                initial: *initial == 1,
            }),
            _ => None,
        }
    }

    fn window(&self) -> Option<(Timestamp, Timestamp)> {
        Some((
            Timestamp::from_second(self.from).ok()?,
            Timestamp::from_second(self.to).ok()?,
        ))
    }
}

fn sync_state_not_found() -> GraphError {
    // As contacts delta: an unknown Outlook token reads as an evicted one (§3).
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
    )
}

fn calendar_delta(
    mb: &mut MailboxMut<'_>,
    dir: &Directory,
    owner: &Owner,
    req: &Req<'_>,
) -> Result<Response, Fail> {
    let q = Query::parse(req.raw);
    for unsupported in ["top", "skip", "filter", "orderby", "expand", "search"] {
        if q.option(unsupported).is_some() {
            // §4.2; `$select` is accepted and ignored (the full event comes back).
            return Err(invalid_url_query(
                "The following parameters are not supported with change tracking over the 'Events' resource: '$orderby, $filter, $expand, $search, $top, $skip'.",
            )
            .into());
        }
    }
    let (zone, applied) = prefer_zone(req.headers)?;
    let guid = mb.guid;
    let scope = {
        let (hi, lo) = guid.as_u64_pair();
        mix(&[hi, lo, 0xca1e_7da7])
    };
    let seq = mb.seq();
    let check = |r: Round| -> Result<Round, Fail> {
        if r.scope != scope || r.window().is_none() {
            return Err(sync_state_not_found().into());
        }
        if r.epoch < dir.delta_epoch {
            let mode = dir
                .expired_epochs
                .get(r.epoch as usize)
                .copied()
                .unwrap_or(ExpireMode::SyncStateNotFound);
            return Err(match mode {
                ExpireMode::SyncStateNotFound => sync_state_not_found().into(),
                ExpireMode::Gone => {
                    let (from, to) = r.window().unwrap_or_default();
                    Fail::Gone {
                        location: paging::link_with(
                            &req.ctx.base,
                            req.path,
                            &[
                                ("startDateTime", &from.to_string()),
                                ("endDateTime", &to.to_string()),
                            ],
                        ),
                    }
                }
            });
        }
        Ok(r)
    };
    let round = if let Some(t) = q.option("skiptoken") {
        check(Round::decode(t.trim(), DELTA_SKIP).ok_or_else(sync_state_not_found)?)?
    } else if let Some(t) = q
        .option("deltatoken")
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let r = check(Round::decode(t, DELTA_NEXT).ok_or_else(sync_state_not_found)?)?;
        Round {
            upper: seq,
            cursor: (0, 0, 0, 0),
            initial: false,
            ..r
        }
    } else {
        let (from, to) = window(&q)?;
        Round {
            epoch: dir.delta_epoch,
            scope,
            from: from.as_second(),
            to: to.as_second(),
            lower: 0,
            upper: seq,
            cursor: (0, 0, 0, 0),
            initial: true,
        }
    };
    let (from, to) = round.window().ok_or_else(sync_state_not_found)?;
    let asked = outlook::prefer(req.headers)
        .into_iter()
        .filter(|(k, _)| k == "odata.maxpagesize")
        .find_map(|(_, v)| v.parse::<usize>().ok().filter(|n| *n > 0));
    let page_size = asked.map_or(DEFAULT_TOP, |n| n.min(MAX_TOP));

    let mut cal = owner.calendar(mb, req.ctx.now);
    cal.cover(from, to);
    let units: Vec<Unit> = cal.units(round.lower, round.upper, round.initial, from, to);
    let mut rows: Vec<((u64, u32, u64, u64), DeltaItem<'_>)> = Vec::new();
    let mut more = false;
    'units: for u in units {
        let pos = (u.seq, u.key, day_code(u.day));
        if (pos.0, pos.1, pos.2, u64::MAX) <= round.cursor {
            continue;
        }
        for (sub, item) in cal
            .unit_items(u, from, to, round.lower, round.initial)
            .into_iter()
            .enumerate()
        {
            let at = (pos.0, pos.1, pos.2, sub as u64);
            if at <= round.cursor {
                continue;
            }
            if rows.len() == page_size {
                more = true;
                break 'units;
            }
            rows.push((at, item));
        }
    }
    let r = Render {
        guid: &guid,
        owner,
        zone: Some(&zone),
        mask: 0,
        delta: true,
        min_times: false,
    };
    let mut value = String::with_capacity(rows.len() * 1600);
    for (n, (_, item)) in rows.iter().enumerate() {
        if n > 0 {
            value.push(',');
        }
        match item {
            DeltaItem::Full(i) => push_event(&mut value, &r, i),
            DeltaItem::Removed(reference) => {
                // The Outlook shape (§4.2).
                value.push_str("{\"@odata.type\":\"#microsoft.graph.event\",");
                push_key(&mut value, "id");
                push_str(&mut value, &event_id(&guid, *reference));
                value.push_str(",\"@removed\":{\"reason\":\"deleted\"}}");
            }
        }
    }
    let (next, delta) = if more {
        let cursor = rows.last().map_or(round.cursor, |(at, _)| *at);
        let token = Round { cursor, ..round }.encode(DELTA_SKIP);
        (
            Some(format!("{}{}?$skiptoken={token}", req.ctx.base, req.path)),
            None,
        )
    } else {
        let token = Round {
            epoch: dir.delta_epoch,
            lower: round.upper,
            upper: 0,
            cursor: (0, 0, 0, 0),
            initial: false,
            ..round
        }
        .encode(DELTA_NEXT);
        (
            None,
            Some(format!("{}{}?$deltatoken={token}", req.ctx.base, req.path)),
        )
    };
    let context = format!("{}/v1.0/$metadata#Collection(event)", req.ctx.base);
    let mut response = json_response(paging::collection_body(
        &context,
        None,
        next.as_deref(),
        delta.as_deref(),
        &value,
    ));
    if let Some(a) = applied {
        add_applied(&mut response, &a);
    }
    if let Some(n) = asked {
        add_applied(
            &mut response,
            &format!("odata.maxpagesize={}", n.min(MAX_TOP)),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_round_trip() {
        let r = Round {
            epoch: 1,
            scope: 99,
            from: -5,
            to: 1_750_000_000,
            lower: 3,
            upper: 40,
            cursor: (7, 0x8000_0001, day_code(Some(-2)), 4),
            initial: false,
        };
        assert_eq!(Round::decode(&r.encode(DELTA_SKIP), DELTA_SKIP), Some(r));
        assert_eq!(Round::decode(&r.encode(DELTA_SKIP), DELTA_NEXT), None);
    }

    #[test]
    fn props_fit_a_mask() {
        assert!(PROPS.len() <= 64);
        assert_eq!(PROPS[P_ORIGINAL_START], "originalStart");
    }
}
