//! One extension's day as a picture: its calendar entries over 24 hours (local midnight to
//! midnight in the Calendar Sync time zone) and the statuses they produce, with a "now" line.
//!
//! Pure: the page passes in the stored entries, the mapping, the presence now and the time.
//! From now on the statuses come from stepping core's state machine across the rest of the
//! day, so Business Trip, the user's own change and the status that returns at a block's end
//! show as they will happen. Nothing records what happened earlier, so before now the status
//! lane shows what the entries asked for (the mapping of the entry in charge).

use crate::calendar_sync::{show_as_label, status_label};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use switchboard_core::calendar::PresenceView;
use switchboard_core::presence::{
    Block, CalendarEntry, PresenceState, Remembered, Schedule, ShowAs, ShowAsMapping, Status,
    StatusSource, TransitionReason,
};

/// Overlapping entries are drawn in up to this many rows; more share the last one.
const MAX_ROWS: usize = 4;
/// Percent of the day a label needs per character (11 px bold text on a picture about 840 px
/// wide); a bar too narrow for its label shows it only in its tooltip, since SVG text is not
/// clipped to its bar.
const PCT_PER_CHAR: f64 = 0.8;

/// `label` if it fits a bar `width` percent wide, else nothing.
fn fitting(label: &str, width: f64) -> String {
    let needs = label.chars().count() as f64 * PCT_PER_CHAR + 1.0;
    if width >= needs {
        label.to_owned()
    } else {
        String::new()
    }
}

/// "Show as" in a word or two, for inside a bar.
fn short_show_as(show_as: ShowAs) -> &'static str {
    match show_as {
        ShowAs::Oof => "Out of office",
        ShowAs::WorkingElsewhere => "Elsewhere",
        other => show_as_label(other),
    }
}

/// Vertical layout of the picture, in pixels.
const AXIS_H: u32 = 20;
const ROW_H: u32 = 24;
const ROW_GAP: u32 = 4;
const LANE_GAP: u32 = 26;

#[derive(Debug)]
pub(crate) struct Tick {
    pub(crate) x: String,
    pub(crate) label: String,
}

/// A calendar entry's bar.
#[derive(Debug)]
pub(crate) struct EntryBar {
    pub(crate) x: String,
    pub(crate) width: String,
    pub(crate) y: u32,
    pub(crate) text_x: String,
    pub(crate) text_y: u32,
    /// Graph's spelling, for the colour class.
    pub(crate) show_as: &'static str,
    /// The entry sets no status (its "Show as" maps to no change): drawn faint.
    pub(crate) unmapped: bool,
    /// Shown in the bar when it is wide enough.
    pub(crate) text: String,
    /// The tooltip: times, "Show as" and the status it sets.
    pub(crate) title: String,
}

/// A stretch of one status.
#[derive(Debug)]
pub(crate) struct StatusBar {
    pub(crate) x: String,
    pub(crate) width: String,
    pub(crate) text_x: String,
    /// JSON spelling for the colour class; `none` for "no entry" before now.
    pub(crate) status: &'static str,
    pub(crate) past: bool,
    pub(crate) text: String,
    pub(crate) title: String,
}

/// A change still to come today.
#[derive(Debug)]
pub(crate) struct Change {
    pub(crate) at: String,
    pub(crate) status: &'static str,
    pub(crate) label: &'static str,
    pub(crate) why: String,
}

#[derive(Debug)]
pub(crate) struct Timeline {
    /// `Sunday 1 November 2026`
    pub(crate) date: String,
    pub(crate) zone: String,
    pub(crate) day_start: Timestamp,
    pub(crate) day_end: Timestamp,
    pub(crate) now_x: String,
    pub(crate) now_label: String,
    pub(crate) ticks: Vec<Tick>,
    pub(crate) entries: Vec<EntryBar>,
    pub(crate) statuses: Vec<StatusBar>,
    pub(crate) changes: Vec<Change>,
    /// Layout (pixels).
    pub(crate) height: u32,
    pub(crate) status_y: u32,
    pub(crate) status_text_y: u32,
    pub(crate) entries_label_y: u32,
    pub(crate) status_label_y: u32,
    pub(crate) row_h: u32,
    /// Entries that overlap today (the rest of the stored window is later).
    pub(crate) entry_count: usize,
    /// A sentence for screen readers and the picture's title.
    pub(crate) summary: String,
}

/// The local day containing `now`: its start and end (23 or 25 hours long on DST days).
fn day_of(now: Timestamp, zone: &TimeZone) -> (Date, Timestamp, Timestamp) {
    let date = now.to_zoned(zone.clone()).date();
    let start = date
        .to_zoned(zone.clone())
        .map(|z| z.timestamp())
        .unwrap_or(now);
    let end = date
        .tomorrow()
        .and_then(|d| d.to_zoned(zone.clone()))
        .map(|z| z.timestamp())
        .unwrap_or(start + jiff::SignedDuration::from_hours(24));
    (date, start, end)
}

struct Scale {
    start: Timestamp,
    end: Timestamp,
}

impl Scale {
    fn pct(&self, t: Timestamp) -> f64 {
        let total = self.end.duration_since(self.start).as_secs_f64();
        if total <= 0.0 {
            return 0.0;
        }
        let t = t.clamp(self.start, self.end);
        t.duration_since(self.start).as_secs_f64() / total * 100.0
    }
    fn clamp(&self, t: Timestamp) -> Timestamp {
        t.clamp(self.start, self.end)
    }
}

fn pct(v: f64) -> String {
    format!("{v:.3}%")
}

fn hh_mm(t: Timestamp, zone: &TimeZone) -> String {
    t.to_zoned(zone.clone()).strftime("%H:%M").to_string()
}

/// `09:00–10:30`, with `24:00` for an end at the close of the day.
fn span(from: Timestamp, to: Timestamp, day_end: Timestamp, zone: &TimeZone) -> String {
    let end = if to >= day_end {
        "24:00".to_owned()
    } else {
        hh_mm(to, zone)
    };
    format!("{}–{end}", hh_mm(from, zone))
}

/// The mapped entry in charge at `at`: DESIGN §5 rule 1 (priority, then the earlier start,
/// then the smaller id), as the machine decides it.
fn in_charge<'a>(
    entries: &'a [CalendarEntry],
    mapping: &ShowAsMapping,
    at: Timestamp,
) -> Option<(&'a CalendarEntry, Status)> {
    entries
        .iter()
        .filter(|e| e.is_active_at(at) && e.start < e.end)
        .filter_map(|e| Some((e, mapping.get(e.show_as)?)))
        .max_by(|(a, _), (b, _)| {
            a.show_as
                .priority()
                .cmp(&b.show_as.priority())
                .then_with(|| b.start.cmp(&a.start))
                .then_with(|| b.id.cmp(&a.id))
        })
}

/// The machine's state at `now`, rebuilt from what the service shows. The view carries no
/// block, so one is made when a mapped entry is active: it remembers `restores`, and counts as
/// taken over by the user when someone other than the calendar set the status (Business Trip
/// aside, which the calendar leaves alone anyway). Enough to step the rest of the day; the
/// remembered status's source is not shown, so any will do.
pub(crate) fn state_now(
    view: &PresenceView,
    entries: &[CalendarEntry],
    mapping: &ShowAsMapping,
    now: Timestamp,
) -> PresenceState {
    let mut state = PresenceState::new(view.status, view.source, now);
    if let Some((entry, _)) = in_charge(entries, mapping, now) {
        let taken_over =
            view.source != StatusSource::Calendar && view.status != Status::BusinessTrip;
        state.block = Some(Block {
            started_at: now,
            ends_at: now,
            restore: Remembered {
                status: view.restores.unwrap_or(view.status),
                source: StatusSource::Manual,
            },
            entry_id: view.entry_id.clone().unwrap_or_else(|| entry.id.clone()),
            overridden_at: taken_over.then_some(now),
        });
    }
    state
}

/// Greedy rows: each entry goes into the first row free at its start.
fn rows_for(entries: &[&CalendarEntry]) -> Vec<usize> {
    let mut ends: Vec<Timestamp> = Vec::new();
    entries
        .iter()
        .map(|e| match ends.iter().position(|&end| end <= e.start) {
            Some(row) => {
                ends[row] = e.end;
                row
            }
            None if ends.len() < MAX_ROWS => {
                ends.push(e.end);
                ends.len() - 1
            }
            None => {
                let last = MAX_ROWS - 1;
                ends[last] = ends[last].max(e.end);
                last
            }
        })
        .collect()
}

fn reason_text(reason: TransitionReason, entry: Option<&CalendarEntry>) -> String {
    let show_as = entry.map(|e| show_as_label(e.show_as).to_lowercase());
    match (reason, show_as) {
        (TransitionReason::BlockStarted | TransitionReason::BlockChanged, Some(s)) => {
            format!("calendar: a \"{s}\" entry")
        }
        (TransitionReason::BlockStarted | TransitionReason::BlockChanged, None) => {
            "calendar".to_owned()
        }
        (TransitionReason::BlockEnded, _) => {
            "the calendar block ends: the status from before returns".to_owned()
        }
        (TransitionReason::UserSet, _) => "set by the user".to_owned(),
    }
}

/// Draws today for one extension.
pub(crate) fn build(
    entries: &[CalendarEntry],
    mapping: &ShowAsMapping,
    view: &PresenceView,
    now: Timestamp,
    zone: &TimeZone,
) -> Timeline {
    let (date, day_start, day_end) = day_of(now, zone);
    let scale = Scale {
        start: day_start,
        end: day_end,
    };

    // Hour ticks every three hours, placed at the local hour (DST days stretch or shrink).
    let ticks = (0..8)
        .filter_map(|i| {
            let at = date
                .at(i * 3, 0, 0, 0)
                .to_zoned(zone.clone())
                .ok()?
                .timestamp();
            Some(Tick {
                x: pct(scale.pct(at)),
                label: format!("{:02}:00", i * 3),
            })
        })
        .collect();

    // The calendar lane.
    let mut today: Vec<&CalendarEntry> = entries
        .iter()
        .filter(|e| !e.is_cancelled && e.start < e.end && e.start < day_end && e.end > day_start)
        .collect();
    today.sort_by(|a, b| (a.start, a.end, &a.id).cmp(&(b.start, b.end, &b.id)));
    let rows = rows_for(&today);
    let row_count = rows.iter().max().map_or(1, |r| r + 1);
    let entry_bars = today
        .iter()
        .zip(&rows)
        .map(|(e, &row)| {
            let (x0, x1) = (scale.pct(e.start), scale.pct(e.end));
            let sets = mapping.get(e.show_as);
            let times = if e.is_all_day {
                "all day".to_owned()
            } else {
                span(scale.clamp(e.start), e.end, day_end, zone)
            };
            let effect = match sets {
                Some(status) => format!("sets {}", status_label(status)),
                None => "no change".to_owned(),
            };
            let y = AXIS_H + 18 + row as u32 * (ROW_H + ROW_GAP);
            EntryBar {
                x: pct(x0),
                width: pct((x1 - x0).max(0.2)),
                y,
                text_x: pct(x0 + 0.5),
                text_y: y + 16,
                show_as: e.show_as.as_graph_str(),
                unmapped: sets.is_none(),
                text: fitting(short_show_as(e.show_as), x1 - x0),
                title: format!("{times} · Show as {} · {effect}", show_as_label(e.show_as)),
            }
        })
        .collect::<Vec<_>>();

    // The status lane: before now, what the entries asked for.
    let mut segments = Vec::new();
    let mut past_marks: Vec<Timestamp> = today
        .iter()
        .flat_map(|e| [e.start, e.end])
        .map(|t| scale.clamp(t))
        .filter(|&t| t < now)
        .chain([day_start, now.clamp(day_start, day_end)])
        .collect();
    past_marks.sort();
    past_marks.dedup();
    for pair in past_marks.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        if from >= to {
            continue;
        }
        let asked = in_charge(entries, mapping, from).map(|(_, status)| status);
        push_segment(&mut segments, from, to, asked, true);
    }

    // From now on: the machine stepped across the rest of the day.
    let state = state_now(view, entries, mapping, now);
    let step = Schedule::new(entries, mapping).advance(&state, day_end);
    let mut changes = Vec::new();
    let mut from = now.clamp(day_start, day_end);
    let mut status = view.status;
    for t in step
        .transitions
        .iter()
        .filter(|t| t.at > now && t.at < day_end)
    {
        push_segment(&mut segments, from, t.at, Some(status), false);
        let entry = t
            .entry_id
            .as_deref()
            .and_then(|id| entries.iter().find(|e| e.id == id));
        changes.push(Change {
            at: hh_mm(t.at, zone),
            status: t.to.as_str(),
            label: status_label(t.to),
            why: reason_text(t.reason, entry),
        });
        from = t.at;
        status = t.to;
    }
    push_segment(&mut segments, from, day_end, Some(status), false);
    let statuses = segments
        .iter()
        .map(|segment| status_bar(segment, &scale, zone))
        .collect();

    let status_y = AXIS_H + 18 + row_count as u32 * (ROW_H + ROW_GAP) + LANE_GAP;
    let summary = format!(
        "{} calendar entr{} today; now {}{}.",
        today.len(),
        if today.len() == 1 { "y" } else { "ies" },
        status_label(view.status),
        match changes.len() {
            0 => ", no change due for the rest of the day".to_owned(),
            1 => ", 1 change due later today".to_owned(),
            n => format!(", {n} changes due later today"),
        }
    );
    Timeline {
        date: date.strftime("%A %-d %B %Y").to_string(),
        zone: zone.iana_name().unwrap_or("UTC").to_owned(),
        day_start,
        day_end,
        now_x: pct(scale.pct(now)),
        now_label: hh_mm(now, zone),
        ticks,
        entries: entry_bars,
        statuses,
        changes,
        height: status_y + ROW_H + 6,
        status_y,
        status_text_y: status_y + 16,
        entries_label_y: AXIS_H + 12,
        status_label_y: status_y - 6,
        row_h: ROW_H,
        entry_count: today.len(),
        summary,
    }
}

/// A stretch of the status lane before it is drawn.
struct Segment {
    from: Timestamp,
    to: Timestamp,
    /// `None`: no entry asked for anything (before now only).
    status: Option<Status>,
    past: bool,
}

/// Adds a stretch, joined to the previous one when it just continues it (one bar, one label).
fn push_segment(
    segments: &mut Vec<Segment>,
    from: Timestamp,
    to: Timestamp,
    status: Option<Status>,
    past: bool,
) {
    if from >= to {
        return;
    }
    if let Some(last) = segments.last_mut()
        && last.to == from
        && last.status == status
        && last.past == past
    {
        last.to = to;
        return;
    }
    segments.push(Segment {
        from,
        to,
        status,
        past,
    });
}

fn status_bar(segment: &Segment, scale: &Scale, zone: &TimeZone) -> StatusBar {
    let Segment {
        from,
        to,
        status,
        past,
    } = *segment;
    let (x0, x1) = (scale.pct(from), scale.pct(to));
    let times = span(from, to, scale.end, zone);
    let (class, label, title) = match status {
        Some(s) => (
            s.as_str(),
            status_label(s),
            if past {
                format!("{times} · the calendar asked for {}", status_label(s))
            } else {
                format!("{times} · {}", status_label(s))
            },
        ),
        None => ("none", "", format!("{times} · no calendar entry")),
    };
    StatusBar {
        x: pct(x0),
        width: pct(x1 - x0),
        text_x: pct(x0 + 0.5),
        status: class,
        past,
        text: fitting(label, x1 - x0),
        title,
    }
}

/// For the legend: every "Show as" with its label.
pub(crate) fn show_as_legend() -> Vec<(&'static str, &'static str)> {
    ShowAs::ALL
        .iter()
        .map(|s| (s.as_graph_str(), show_as_label(*s)))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        format!("2026-11-01T{s}:00Z").parse().unwrap()
    }

    fn entry(id: &str, start: &str, end: &str, show_as: ShowAs) -> CalendarEntry {
        CalendarEntry {
            id: id.into(),
            start: t(start),
            end: t(end),
            show_as,
            is_all_day: false,
            is_cancelled: false,
        }
    }

    fn view(status: Status, source: StatusSource, restores: Option<Status>) -> PresenceView {
        PresenceView {
            number: "101".into(),
            status,
            source,
            until: None,
            restores,
            entry_id: None,
        }
    }

    #[test]
    fn the_rest_of_the_day_follows_the_machine() {
        let entries = [
            entry("a", "09:00", "10:00", ShowAs::Busy),
            entry("b", "09:30", "11:00", ShowAs::Oof),
            entry("c", "13:00", "14:00", ShowAs::Free),
        ];
        let tl = build(
            &entries,
            &ShowAsMapping::default(),
            &view(Status::Lunch, StatusSource::Manual, None),
            t("08:00"),
            &TimeZone::UTC,
        );
        assert_eq!(tl.entry_count, 3);
        assert_eq!(tl.entries[0].x, "37.500%");
        assert_eq!(tl.entries[0].show_as, "busy");
        assert!(tl.entries[2].unmapped, "free maps to no change");
        // The overlapping entry goes into a second row.
        assert!(tl.entries[1].y > tl.entries[0].y);
        let changes: Vec<(&str, &str)> = tl
            .changes
            .iter()
            .map(|c| (c.at.as_str(), c.status))
            .collect();
        assert_eq!(
            changes,
            [
                ("09:00", "away"),
                ("09:30", "do_not_disturb"),
                ("11:00", "lunch")
            ]
        );
        assert!(tl.changes[2].why.contains("returns"));
        assert_eq!(tl.now_x, "33.333%");
        assert_eq!(tl.date, "Sunday 1 November 2026");
        let past: Vec<&str> = tl
            .statuses
            .iter()
            .filter(|s| s.past)
            .map(|s| s.status)
            .collect();
        assert_eq!(past, ["none"]);
    }

    #[test]
    fn an_active_block_restores_what_the_view_remembers() {
        let entries = [entry("a", "07:00", "09:00", ShowAs::Busy)];
        let mapping = ShowAsMapping::default();
        let tl = build(
            &entries,
            &mapping,
            &view(Status::Away, StatusSource::Calendar, Some(Status::Lunch)),
            t("08:00"),
            &TimeZone::UTC,
        );
        assert_eq!(tl.changes.len(), 1);
        assert_eq!(
            (tl.changes[0].at.as_str(), tl.changes[0].status),
            ("09:00", "lunch")
        );
        let past: Vec<&str> = tl
            .statuses
            .iter()
            .filter(|s| s.past)
            .map(|s| s.status)
            .collect();
        assert_eq!(past, ["none", "away"]);

        // The user took over: nothing changes at the end of the block.
        let tl = build(
            &entries,
            &mapping,
            &view(Status::Available, StatusSource::Manual, None),
            t("08:00"),
            &TimeZone::UTC,
        );
        assert!(tl.changes.is_empty());

        // Business Trip is never replaced.
        let later = [entry("b", "10:00", "11:00", ShowAs::Oof)];
        let tl = build(
            &later,
            &mapping,
            &view(Status::BusinessTrip, StatusSource::Manual, None),
            t("08:00"),
            &TimeZone::UTC,
        );
        assert!(tl.changes.is_empty());
    }

    #[test]
    fn stretches_of_one_status_are_one_bar() {
        // An unmapped entry before now splits nothing: 00:00–08:00 is one "no entry" bar.
        let entries = [
            entry("f", "02:00", "03:00", ShowAs::Free),
            entry("a", "09:00", "10:00", ShowAs::Busy),
            entry("b", "10:00", "11:00", ShowAs::WorkingElsewhere),
        ];
        let tl = build(
            &entries,
            &ShowAsMapping::default(),
            &view(Status::Available, StatusSource::Default, None),
            t("08:00"),
            &TimeZone::UTC,
        );
        let bars: Vec<(&str, bool, &str)> = tl
            .statuses
            .iter()
            .map(|s| (s.status, s.past, s.width.as_str()))
            .collect();
        assert_eq!(
            bars,
            [
                ("none", true, "33.333%"),
                ("available", false, "4.167%"),
                ("away", false, "8.333%"),
                ("available", false, "54.167%"),
            ]
        );
    }

    #[test]
    fn the_day_is_local_and_may_be_short() {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        // 29 March 2026: clocks go from 02:00 to 03:00, a 23-hour day.
        let now: Timestamp = "2026-03-29T10:00:00Z".parse().unwrap();
        let tl = build(
            &[],
            &ShowAsMapping::default(),
            &view(Status::Available, StatusSource::Default, None),
            now,
            &zone,
        );
        assert_eq!(tl.day_start.to_string(), "2026-03-28T23:00:00Z");
        assert_eq!(tl.day_end.to_string(), "2026-03-29T22:00:00Z");
        assert_eq!(tl.now_label, "12:00");
        // 11 of 23 hours have passed.
        assert_eq!(tl.now_x, format!("{:.3}%", 11.0 / 23.0 * 100.0));
        assert_eq!(tl.zone, "Europe/Berlin");
    }
}
