//! Deterministic calendars for generated mailboxes: a realistic working week (from the seed,
//! the user's index and the week), plus a few series anchored on the week the calendar was
//! first touched. Times are wall-clock times in the user's zone (from usageLocation).
//!
//! A week holds 1–5 meetings a weekday (30–60 min, some back to back, some overlapping),
//! lunch now and then, and occasionally working elsewhere, out of office, all-day entries,
//! focus time, private appointments and a meeting the organizer cancelled. Every `showAs`
//! value occurs; `unknown` is rare, as with items imported from other calendars.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use rand::Rng;
use serde_json::json;

use super::event::{Event, Importance, Response, Sensitivity, ShowAs};
use super::ids::{Mix64, mix};
use super::recurrence::{Recurrence, day_number, from_day_number, weekday};
use super::tz::Zone;
use crate::directory::generate::ascii_fold;
use crate::directory::names::{GIVEN_NAMES, SURNAMES};

const WEEK_SALT: u64 = 0x00ca_1e0d_a700_0001;
const SERIES_SALT: u64 = 0x00ca_1e0d_a700_0002;

/// Weeks are numbered from Monday 1970-01-05 (week 0), the first Monday after day 0.
pub fn week_of(day: i32) -> i32 {
    (day - 4).div_euclid(7)
}

pub fn monday(week: i32) -> i32 {
    week * 7 + 4
}

/// The mailbox owner as the generator needs them.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The user's zone, named the way Outlook stores it (a Windows id where one fits).
    pub zone: Zone,
    /// For colleagues' addresses.
    pub domain: String,
}

/// The user's time zone from usageLocation: GB → Europe/London, US → America/New_York,
/// DE → Europe/Berlin, …; unknown or unset → UTC.
pub fn zone_for(country: Option<&str>) -> Zone {
    let name = match country.map(str::to_ascii_uppercase).as_deref() {
        Some("GB" | "IE") => "GMT Standard Time",
        Some("US" | "CA") => "Eastern Standard Time",
        Some("DE" | "NL" | "CH" | "AT" | "IT" | "SE" | "NO" | "DK") => "W. Europe Standard Time",
        Some("FR" | "BE" | "ES") => "Romance Standard Time",
        Some("AU") => "AUS Eastern Standard Time",
        Some("JP") => "Tokyo Standard Time",
        Some("IN") => "India Standard Time",
        Some("RU") => "Russian Standard Time",
        _ => "UTC",
    };
    Zone::parse(name).unwrap_or_else(Zone::utc)
}

pub fn profile(country: Option<&str>, domain: &str) -> Profile {
    Profile {
        zone: zone_for(country),
        domain: domain.to_owned(),
    }
}

const MEETINGS: &[&str] = &[
    "Team sync",
    "1:1",
    "Project review",
    "Customer call",
    "Planning",
    "Interview",
    "Design review",
    "Budget review",
    "Sprint demo",
    "Vendor meeting",
    "Training",
    "Quarterly review",
    "Check-in",
    "Workshop",
];

fn at(date: Date, minutes: i32) -> DateTime {
    let h = i8::try_from(minutes / 60).unwrap_or(0);
    let m = i8::try_from(minutes % 60).unwrap_or(0);
    date.at(h, m, 0, 0)
}

fn pick<'a>(rng: &mut Mix64, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// Builds events of one profile with sensible defaults.
struct Maker<'a> {
    p: &'a Profile,
    created: Timestamp,
}

impl Maker<'_> {
    fn timed(&self, subject: &str, date: Date, start_min: i32, minutes: i32) -> Event {
        let start = at(date, start_min);
        let end = start
            .checked_add(jiff::SignedDuration::from_mins(i64::from(minutes)))
            .unwrap_or(start);
        self.event(subject, start, end, false)
    }

    fn all_day(&self, subject: &str, date: Date, days: i32) -> Event {
        let end = from_day_number(day_number(date) + days).unwrap_or(date);
        self.event(subject, date.at(0, 0, 0, 0), end.at(0, 0, 0, 0), true)
    }

    fn event(&self, subject: &str, start: DateTime, end: DateTime, all_day: bool) -> Event {
        Event {
            subject: subject.to_owned(),
            body: String::new(),
            location: String::new(),
            categories: Vec::new(),
            start,
            start_zone: self.p.zone.clone(),
            end,
            end_zone: self.p.zone.clone(),
            all_day,
            show_as: if all_day { ShowAs::Free } else { ShowAs::Busy },
            sensitivity: Sensitivity::Normal,
            importance: Importance::Normal,
            cancelled: false,
            is_organizer: true,
            organizer: None,
            response: Response::Organizer,
            recurrence: None,
            created: self.created,
            modified: self.created,
        }
    }

    /// A meeting someone else organised.
    fn invite(&self, rng: &mut Mix64, e: &mut Event) {
        let given = pick(rng, GIVEN_NAMES);
        let surname = pick(rng, SURNAMES);
        let address = format!(
            "{}.{}@{}",
            ascii_fold(given),
            ascii_fold(surname),
            self.p.domain
        );
        e.organizer = Some((format!("{given} {surname}"), address));
        e.is_organizer = false;
        e.response = match e.show_as {
            ShowAs::Tentative => Response::TentativelyAccepted,
            ShowAs::Free if rng.random_bool(0.5) => Response::NotResponded,
            _ => Response::Accepted,
        };
    }
}

fn meeting_show_as(rng: &mut Mix64) -> ShowAs {
    match rng.random_range(0..100) {
        0..74 => ShowAs::Busy,
        74..90 => ShowAs::Tentative,
        90..97 => ShowAs::Free,
        _ => ShowAs::Unknown,
    }
}

fn sensitivity(rng: &mut Mix64) -> Sensitivity {
    match rng.random_range(0..100) {
        0..88 => Sensitivity::Normal,
        88..96 => Sensitivity::Private,
        96..98 => Sensitivity::Personal,
        _ => Sensitivity::Confidential,
    }
}

/// The generated events of `week` (weekdays in the user's zone); at most 64.
pub fn week(seed: u64, idx: u32, p: &Profile, week: i32) -> Vec<Event> {
    let mut rng = Mix64::new(mix(&[
        seed,
        u64::from(idx),
        WEEK_SALT,
        u64::from(week.cast_unsigned()),
    ]));
    let first = monday(week);
    let created_day =
        from_day_number(first - rng.random_range(1..15)).unwrap_or(Date::constant(1970, 1, 1));
    let created = p
        .zone
        .instant(at(created_day, 8 * 60 + rng.random_range(0..120)));
    let mk = Maker { p, created };
    let mut out = Vec::new();
    for offset in 0..5 {
        let Some(date) = from_day_number(first + offset) else {
            continue;
        };
        let count = rng.random_range(1..=5);
        let mut prev: Option<(i32, i32)> = None;
        for _ in 0..count {
            let minutes = [30, 30, 45, 60, 60][rng.random_range(0..5)];
            let roll = rng.random_range(0..100);
            let start = match prev {
                // Back to back with the one before.
                Some((_, end)) if roll < 30 => end,
                // Overlapping the one before.
                Some((start, _)) if roll < 45 => start + 15,
                _ => rng.random_range(18..34) * 30,
            };
            if start + minutes > 18 * 60 {
                continue;
            }
            prev = Some((start, start + minutes));
            let subject = pick(&mut rng, MEETINGS);
            let mut e = mk.timed(subject, date, start, minutes);
            e.show_as = meeting_show_as(&mut rng);
            e.sensitivity = sensitivity(&mut rng);
            if rng.random_bool(0.5) {
                mk.invite(&mut rng, &mut e);
            }
            if rng.random_bool(0.03) {
                // Cancelled by its organizer, still in this calendar (§4.1).
                mk.invite(&mut rng, &mut e);
                e.subject = format!("Canceled: {subject}");
                e.cancelled = true;
            }
            if rng.random_bool(0.1) {
                e.location = "Teams".to_owned();
            }
            out.push(e);
        }
        if rng.random_bool(0.45) {
            let mut e = mk.timed("Lunch", date, 12 * 60, [30, 60][rng.random_range(0..2)]);
            e.show_as = match rng.random_range(0..10) {
                0..6 => ShowAs::Free,
                6..9 => ShowAs::Busy,
                _ => ShowAs::Oof,
            };
            out.push(e);
        }
    }
    let day = |rng: &mut Mix64| from_day_number(first + rng.random_range(0..5));
    if rng.random_bool(0.35)
        && let Some(date) = day(&mut rng)
    {
        let mut e = if rng.random_bool(0.5) {
            mk.all_day("Working from home", date, 1)
        } else {
            mk.timed("Client site visit", date, 13 * 60, 4 * 60)
        };
        e.show_as = ShowAs::WorkingElsewhere;
        out.push(e);
    }
    if rng.random_bool(0.25)
        && let Some(date) = day(&mut rng)
    {
        let mut e = if rng.random_bool(0.5) {
            mk.all_day("Vacation", date, rng.random_range(1..4))
        } else {
            let mut e = mk.timed("Doctor's appointment", date, 14 * 60, 2 * 60);
            e.sensitivity = Sensitivity::Private;
            e
        };
        e.show_as = ShowAs::Oof;
        out.push(e);
    }
    if rng.random_bool(0.2)
        && let Some(date) = day(&mut rng)
    {
        let subject = pick(
            &mut rng,
            &["Team offsite", "Colleague's birthday", "Release day"],
        );
        // Outlook's default for all-day entries: free.
        out.push(mk.all_day(subject, date, 1));
    }
    if rng.random_bool(0.3)
        && let Some(date) = day(&mut rng)
    {
        out.push(mk.timed("Focus time", date, 15 * 60, 2 * 60));
    }
    if rng.random_bool(0.1)
        && let Some(date) = day(&mut rng)
    {
        let mut e = mk.timed("Parents' evening", date, 18 * 60 + 30, 90);
        e.sensitivity = Sensitivity::Private;
        out.push(e);
    }
    out.truncate(64);
    out
}

/// A generated series and how some of its occurrences differ.
#[derive(Debug, Clone)]
pub struct Series {
    pub master: Event,
    /// (day, `Some(exception)` | `None` = occurrence deleted).
    pub changes: Vec<(i32, Option<Event>)>,
}

fn recurrence(v: serde_json::Value, start: Date) -> Option<Recurrence> {
    Recurrence::parse(&v, start).ok()
}

/// The occurrence of `master` on `day` moved by `minutes`, or cancelled by its organizer.
fn exception(master: &Event, day: i32, minutes: i64, cancelled: bool) -> Option<Event> {
    let date = from_day_number(day)?;
    let shift = jiff::SignedDuration::from_mins(minutes);
    let mut e = master.clone();
    e.recurrence = None;
    e.start = date
        .to_datetime(master.start.time())
        .checked_add(shift)
        .ok()?;
    e.end = date
        .to_datetime(master.end.time())
        .checked_add(shift)
        .ok()?;
    e.cancelled = cancelled;
    if cancelled {
        e.subject = format!("Canceled: {}", master.subject);
    }
    Some(e)
}

/// The series of a generated calendar first touched in week `anchor`.
pub fn series(seed: u64, idx: u32, p: &Profile, anchor: i32) -> Vec<Series> {
    let mut rng = Mix64::new(mix(&[
        seed,
        u64::from(idx),
        SERIES_SALT,
        u64::from(anchor.cast_unsigned()),
    ]));
    let created = p.zone.instant(at(
        from_day_number(monday(anchor - 9)).unwrap_or(Date::constant(1970, 1, 1)),
        9 * 60,
    ));
    let mk = Maker { p, created };
    let mut out = Vec::new();
    let zone = p.zone.name.clone();

    // The weekly team meeting: everyone has one.
    let dow = rng.random_range(1..=5);
    let first_day = monday(anchor - 8) + dow - 1;
    let this_week = monday(anchor) + dow - 1;
    if let Some(date) = from_day_number(first_day) {
        let start = [10 * 60, 11 * 60, 14 * 60][rng.random_range(0..3)];
        let mut master = mk.timed(
            "Team meeting",
            date,
            start,
            [30, 60][rng.random_range(0..2)],
        );
        if rng.random_bool(0.5) {
            mk.invite(&mut rng, &mut master);
        }
        master.recurrence = recurrence(
            json!({
                "pattern": {"type": "weekly", "interval": 1,
                    "daysOfWeek": [super::recurrence::WEEKDAYS[usize::from(weekday(first_day))]],
                    "firstDayOfWeek": "sunday"},
                "range": {"type": "noEnd", "startDate": date.to_string(), "recurrenceTimeZone": zone},
            }),
            date,
        );
        let mut changes = Vec::new();
        match rng.random_range(0..100) {
            // Moved an hour later this week.
            0..30 => changes
                .extend(exception(&master, this_week, 60, false).map(|e| (this_week, Some(e)))),
            // Deleted this week.
            30..45 => changes.push((this_week, None)),
            // Cancelled by the organizer this week, kept in the calendar.
            45..55 => {
                changes.extend(exception(&master, this_week, 0, true).map(|e| (this_week, Some(e))))
            }
            _ => {}
        }
        out.push(Series { master, changes });
    }

    // A stand-up on weekdays for half of the users, for a limited run.
    if rng.random_bool(0.5)
        && let Some(date) = from_day_number(monday(anchor - 4))
    {
        let mut master = mk.timed("Stand-up", date, 9 * 60 + 15, 15);
        master.recurrence = recurrence(
            json!({
                "pattern": {"type": "weekly", "interval": 1,
                    "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                    "firstDayOfWeek": "monday"},
                "range": {"type": "numbered", "startDate": date.to_string(),
                    "numberOfOccurrences": 120, "recurrenceTimeZone": zone},
            }),
            date,
        );
        let mut changes = Vec::new();
        if rng.random_bool(0.3) {
            changes.push((monday(anchor) + rng.random_range(0..5), None));
        }
        out.push(Series { master, changes });
    }

    // A monthly one-to-one for some.
    if rng.random_bool(0.4)
        && let Some(date) = from_day_number(monday(anchor - 8))
    {
        let mut master = mk.timed("1:1 with manager", date, 16 * 60, 30);
        master.sensitivity = Sensitivity::Private;
        mk.invite(&mut rng, &mut master);
        let pattern = if rng.random_bool(0.5) {
            json!({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["thursday"], "index": "first"})
        } else {
            json!({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 15})
        };
        master.recurrence = recurrence(
            json!({
                "pattern": pattern,
                "range": {"type": "noEnd", "startDate": date.to_string(), "recurrenceTimeZone": zone},
            }),
            date,
        );
        out.push(Series {
            master,
            changes: Vec::new(),
        });
    }
    out.retain(|s| s.master.recurrence.is_some());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_are_deterministic_and_on_weekdays() {
        let p = profile(Some("DE"), "contoso.test");
        for w in [2900, 2901] {
            let a = week(7, 3, &p, w);
            assert_eq!(a, week(7, 3, &p, w));
            assert!(!a.is_empty());
            for e in &a {
                let d = day_number(e.start.date());
                assert!((monday(w)..monday(w) + 5).contains(&d), "{e:?}");
                assert!(e.end_instant() >= e.start_instant());
            }
        }
        assert_ne!(week(7, 3, &p, 2900), week(7, 4, &p, 2900));
        assert_eq!(week_of(monday(2900)), 2900);
        assert_eq!(week_of(monday(2900) + 6), 2900);
        assert_eq!(weekday(monday(2900)), 1);
        let s = series(7, 3, &p, 2900);
        assert!(s.iter().any(|s| s.master.subject == "Team meeting"));
    }
}
