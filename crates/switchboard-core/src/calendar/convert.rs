//! Graph's events → the machine's [`CalendarEntry`]s.

use crate::ports::SourceEvent;
use crate::presence::{CalendarEntry, DateError, all_day_span, resolve_local};
use jiff::tz::TimeZone;

/// Finds an IANA zone by name. The binary passes `|name| TimeZone::get(name).ok()` (the system
/// tz database); tests pass fixed zones, since the pure core reads no files.
pub type ZoneLookup = fn(&str) -> Option<TimeZone>;

/// The zone `name`, with UTC known without any database.
pub fn resolve_zone(lookup: ZoneLookup, name: &str) -> Option<TimeZone> {
    if name.eq_ignore_ascii_case("UTC") {
        return Some(TimeZone::UTC);
    }
    lookup(name)
}

/// One event as an entry: timed events are UTC wall-clock times (the read asks for
/// `Prefer: outlook.timezone="UTC"`), all-day ones are whole days in `all_day_zone`. `None` for a
/// cancelled event: it never affects presence, so it is not kept either.
pub fn entry_from_event(
    event: &SourceEvent,
    all_day_zone: &TimeZone,
) -> Result<Option<CalendarEntry>, DateError> {
    if event.is_cancelled {
        return Ok(None);
    }
    let (start, end) = if event.is_all_day {
        all_day_span(event.start, event.end, all_day_zone)?
    } else {
        (
            resolve_local(event.start, &TimeZone::UTC)?,
            resolve_local(event.end, &TimeZone::UTC)?,
        )
    };
    Ok(Some(CalendarEntry {
        id: event.id.clone(),
        start,
        end,
        show_as: event.show_as,
        is_all_day: event.is_all_day,
        is_cancelled: false,
    }))
}

/// A mailbox's events as entries, one per id (a page boundary shifting under a paged read can
/// repeat an event; the last copy wins), ordered by start then id. Events that cannot be
/// placed in time are left out and reported by id.
pub fn entries_from_events(
    events: &[SourceEvent],
    all_day_zone: &TimeZone,
) -> (Vec<CalendarEntry>, Vec<(String, DateError)>) {
    let mut by_id = std::collections::HashMap::new();
    let mut unreadable = Vec::new();
    for event in events {
        match entry_from_event(event, all_day_zone) {
            Ok(Some(entry)) => {
                by_id.insert(entry.id.clone(), Some(entry));
            }
            // A later copy saying "cancelled" wins over an earlier live one.
            Ok(None) => {
                by_id.insert(event.id.clone(), None);
            }
            Err(e) => unreadable.push((event.id.clone(), e)),
        }
    }
    let mut entries: Vec<CalendarEntry> = by_id.into_values().flatten().collect();
    sort_entries(&mut entries);
    (entries, unreadable)
}

/// The order entries are stored and compared in.
pub(crate) fn sort_entries(entries: &mut [CalendarEntry]) {
    entries.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
}
