#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! All-day entries in the mailbox's zone (DST days of 23 and 25 hours) and timed entries given
//! in zones other than UTC.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use switchboard_core::presence::*;

fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap()
}

/// Graph's floating form, 7 fractional digits and all.
fn floating(date: &str) -> DateTime {
    format!("{date}T00:00:00.0000000").parse().unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn day(date: &str, next: &str, tz: &str) -> (Timestamp, Timestamp) {
    all_day_span(floating(date), floating(next), &zone(tz)).unwrap()
}

fn hours(span: (Timestamp, Timestamp)) -> i64 {
    span.1.duration_since(span.0).as_hours()
}

#[test]
fn an_all_day_entry_covers_the_local_day_in_berlin() {
    let span = day("2025-06-02", "2025-06-03", "Europe/Berlin");
    assert_eq!(
        span,
        (ts("2025-06-01T22:00:00Z"), ts("2025-06-02T22:00:00Z"))
    );
    assert_eq!(hours(span), 24);
}

#[test]
fn berlin_dst_days_last_23_and_25_hours() {
    let spring = day("2025-03-30", "2025-03-31", "Europe/Berlin");
    assert_eq!(
        spring,
        (ts("2025-03-29T23:00:00Z"), ts("2025-03-30T22:00:00Z"))
    );
    assert_eq!(hours(spring), 23);
    let autumn = day("2025-10-26", "2025-10-27", "Europe/Berlin");
    assert_eq!(
        autumn,
        (ts("2025-10-25T22:00:00Z"), ts("2025-10-26T23:00:00Z"))
    );
    assert_eq!(hours(autumn), 25);
}

#[test]
fn new_york_dst_days_last_23_and_25_hours() {
    let spring = day("2025-03-09", "2025-03-10", "America/New_York");
    assert_eq!(
        spring,
        (ts("2025-03-09T05:00:00Z"), ts("2025-03-10T04:00:00Z"))
    );
    assert_eq!(hours(spring), 23);
    let autumn = day("2025-11-02", "2025-11-03", "America/New_York");
    assert_eq!(
        autumn,
        (ts("2025-11-02T04:00:00Z"), ts("2025-11-03T05:00:00Z"))
    );
    assert_eq!(hours(autumn), 25);
}

#[test]
fn a_multi_day_entry_across_a_dst_change() {
    // Saturday to Monday inclusive: 24 + 23 + 24 hours.
    let span = day("2025-03-29", "2025-04-01", "Europe/Berlin");
    assert_eq!(hours(span), 71);
}

#[test]
fn where_dst_skips_midnight_the_day_starts_at_the_first_instant_that_exists() {
    // Chile moves its clocks from 00:00 to 01:00 on the first Sunday of September.
    let span = day("2025-09-07", "2025-09-08", "America/Santiago");
    assert_eq!(
        span,
        (ts("2025-09-07T04:00:00Z"), ts("2025-09-08T03:00:00Z"))
    );
    assert_eq!(hours(span), 23);
}

#[test]
fn all_day_values_that_are_not_midnight_to_midnight_are_refused() {
    let tz = zone("Europe/Berlin");
    let morning: DateTime = "2025-06-02T09:00:00".parse().unwrap();
    assert_eq!(
        all_day_span(morning, floating("2025-06-03"), &tz),
        Err(DateError::NotMidnight(morning))
    );
    assert!(matches!(
        all_day_span(floating("2025-06-03"), floating("2025-06-03"), &tz),
        Err(DateError::Empty { .. })
    ));
    assert!(matches!(
        all_day_span(floating("2025-06-04"), floating("2025-06-03"), &tz),
        Err(DateError::Empty { .. })
    ));
}

fn all_day(id: &str, date: &str, next: &str, tz: &str, show_as: ShowAs) -> CalendarEntry {
    let (start, end) = day(date, next, tz);
    CalendarEntry {
        id: id.into(),
        start,
        end,
        show_as,
        is_all_day: true,
        is_cancelled: false,
    }
}

/// The status after stepping through `times` (UTC) in order.
fn statuses(entries: &[CalendarEntry], times: &[&str]) -> Vec<Status> {
    let mapping = ShowAsMapping::default();
    let mut state = PresenceState::initial(ts("2025-01-01T00:00:00Z"));
    times
        .iter()
        .map(|time| {
            state = advance(&state, entries, &mapping, ts(time)).state;
            state.status
        })
        .collect()
}

#[test]
fn an_all_day_out_of_office_on_the_berlin_spring_dst_day() {
    let entries = [all_day(
        "holiday",
        "2025-03-30",
        "2025-03-31",
        "Europe/Berlin",
        ShowAs::Oof,
    )];
    assert_eq!(
        statuses(
            &entries,
            &[
                "2025-03-29T22:59:59Z",
                "2025-03-29T23:00:00Z",
                "2025-03-30T21:59:59Z",
                "2025-03-30T22:00:00Z",
            ]
        ),
        [
            Status::Available,
            Status::DoNotDisturb,
            Status::DoNotDisturb,
            Status::Available
        ]
    );
}

#[test]
fn an_all_day_out_of_office_on_the_new_york_autumn_dst_day() {
    let entries = [all_day(
        "trip",
        "2025-11-02",
        "2025-11-03",
        "America/New_York",
        ShowAs::Oof,
    )];
    assert_eq!(
        statuses(
            &entries,
            &[
                "2025-11-02T03:59:59Z",
                "2025-11-02T04:00:00Z",
                "2025-11-03T04:59:59Z",
                "2025-11-03T05:00:00Z",
            ]
        ),
        [
            Status::Available,
            Status::DoNotDisturb,
            Status::DoNotDisturb,
            Status::Available
        ]
    );
}

#[test]
fn an_all_day_entry_left_at_outlooks_default_free_changes_nothing() {
    let entries = [all_day(
        "birthday",
        "2025-06-02",
        "2025-06-03",
        "Europe/Berlin",
        ShowAs::Free,
    )];
    assert_eq!(
        statuses(&entries, &["2025-06-01T22:00:00Z", "2025-06-02T12:00:00Z"]),
        [Status::Available, Status::Available]
    );
}

#[test]
fn a_timed_entry_given_in_los_angeles_time() {
    let tz = zone("America/Los_Angeles");
    let local = |s: &str| resolve_local(s.parse().unwrap(), &tz).unwrap();
    let entry = CalendarEntry {
        id: "standup".into(),
        start: local("2025-06-02T09:00:00.0000000"),
        end: local("2025-06-02T09:30:00.0000000"),
        show_as: ShowAs::Busy,
        is_all_day: false,
        is_cancelled: false,
    };
    assert_eq!(entry.start, ts("2025-06-02T16:00:00Z"));
    assert_eq!(
        entry.end.duration_since(entry.start),
        SignedDuration::from_mins(30)
    );
    assert_eq!(
        statuses(
            &[entry],
            &[
                "2025-06-02T15:59:59Z",
                "2025-06-02T16:00:00Z",
                "2025-06-02T16:30:00Z"
            ]
        ),
        [Status::Available, Status::Away, Status::Available]
    );
}

#[test]
fn local_times_in_a_dst_gap_or_fold_resolve_like_rfc_5545() {
    let tz = zone("America/New_York");
    // 02:30 does not exist on 9 March 2025: it reads as 03:30 EDT.
    assert_eq!(
        resolve_local("2025-03-09T02:30:00".parse().unwrap(), &tz).unwrap(),
        ts("2025-03-09T07:30:00Z")
    );
    // 01:30 happens twice on 2 November 2025: the first, in EDT.
    assert_eq!(
        resolve_local("2025-11-02T01:30:00".parse().unwrap(), &tz).unwrap(),
        ts("2025-11-02T05:30:00Z")
    );
}

#[test]
fn the_stored_state_round_trips_through_json() {
    let entries = [all_day(
        "holiday",
        "2025-06-02",
        "2025-06-03",
        "Europe/Berlin",
        ShowAs::Oof,
    )];
    let mapping = ShowAsMapping::default();
    let state = advance(
        &PresenceState::initial(ts("2025-06-01T00:00:00Z")),
        &entries,
        &mapping,
        ts("2025-06-02T08:00:00.123456789Z"),
    )
    .state;
    assert!(state.block.is_some());
    let json = serde_json::to_value(&state).unwrap();
    assert_eq!(json["status"], "do_not_disturb");
    assert_eq!(json["source"], "calendar");
    assert_eq!(json["block"]["restore"]["status"], "available");
    assert_eq!(json["until"], "2025-06-02T22:00:00Z");
    let back: PresenceState = serde_json::from_value(json).unwrap();
    assert_eq!(back, state);
}
