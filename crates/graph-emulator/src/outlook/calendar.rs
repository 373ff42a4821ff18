//! A mailbox's calendar (graph-protocol.md §4): single events, series masters with their
//! changed (exception) and deleted occurrences, expansion into instances for a time window,
//! and the change units calendarView delta is built from.
//!
//! Items are keyed by number. A generated calendar's week events have numbers derived from
//! their week (`week × 64 + i`) and are rebuilt from the seed whenever they are read, like
//! generated contacts: only its few series, and events changed or deleted through the control
//! API, are stored. Control-API items count up from 2^31. An occurrence is (master, day in
//! the series' zone) and is computed, never stored, unless it was changed (exception) or
//! deleted.
//!
//! Every change takes the next tenant-wide Outlook sequence, like contacts: an item records
//! the sequence of its last change (deleted ones stay as tombstones), and so does each
//! exception or deletion of an occurrence. A series master also keeps its earlier versions,
//! so a delta round can tell which occurrences a change removed.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::GENESIS;
use super::calgen::{self, Profile};
use super::event::{self, Event, EventPatch};
use super::ids::EventRef;
use super::recurrence::{day_number, from_day_number};
use crate::directory::DirError;

/// Generated items per week at most.
const PER_WEEK: u32 = 64;
/// Numbers of a generated calendar's series.
const SERIES_BASE: u32 = 0x7fff_ff00;
/// Numbers of control-API items.
const CUSTOM_BASE: u32 = 0x8000_0000;
/// Weeks one window rebuilds at most (1825 days are 261 weeks).
const MAX_WEEKS: i32 = 300;

/// `type` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SingleInstance,
    Occurrence,
    Exception,
    SeriesMaster,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SingleInstance => "singleInstance",
            Kind::Occurrence => "occurrence",
            Kind::Exception => "exception",
            Kind::SeriesMaster => "seriesMaster",
        }
    }
}

/// How one occurrence differs from its series.
#[derive(Debug, Clone)]
pub enum Occ {
    Exception {
        seq: u64,
        event: Box<Event>,
    },
    /// Deleted from the calendar: absent from every view.
    Cancelled {
        seq: u64,
    },
}

impl Occ {
    fn seq(&self) -> u64 {
        match self {
            Occ::Exception { seq, .. } | Occ::Cancelled { seq } => *seq,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Item {
    pub seq: u64,
    pub alive: bool,
    pub event: Event,
    /// Exceptions and deleted occurrences of a series, by day.
    pub occurrences: BTreeMap<i32, Occ>,
    /// Earlier versions of a series master: (the sequence that replaced it, the version).
    history: Vec<(u64, Event)>,
}

#[derive(Debug)]
struct Origin {
    seed: u64,
    idx: u32,
    profile: Profile,
}

#[derive(Debug)]
pub struct Calendar {
    origin: Option<Origin>,
    /// Generated weeks a request has touched: what `/events` lists. Their events are rebuilt
    /// on every read (any week can be, so views do not depend on this).
    weeks: BTreeSet<i32>,
    items: BTreeMap<u32, Item>,
    next_custom: u32,
}

/// One event as a view shows it.
#[derive(Debug, Clone)]
pub struct Instance<'a> {
    pub kind: Kind,
    pub key: u32,
    /// The occurrence's day (occurrences and exceptions).
    pub day: Option<i32>,
    pub event: Cow<'a, Event>,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Where the occurrence was by its series (occurrences and exceptions).
    pub original_start: Option<Timestamp>,
    /// Version for the changeKey.
    pub seq: u64,
}

impl Instance<'_> {
    pub fn reference(&self) -> EventRef {
        match self.day {
            Some(day) => EventRef::Occurrence(self.key, day),
            None => EventRef::Stored(self.key),
        }
    }
}

/// One change a delta round reports: an item (`day: None`) or an occurrence of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unit {
    pub seq: u64,
    pub key: u32,
    pub day: Option<i32>,
}

/// What a delta round says about a unit.
#[derive(Debug, Clone)]
pub enum DeltaItem<'a> {
    Full(Box<Instance<'a>>),
    Removed(EventRef),
}

/// Whether `[start, end)` touches the window (a zero-length event at its start counts).
pub fn overlaps(start: Timestamp, end: Timestamp, from: Timestamp, to: Timestamp) -> bool {
    start < to && (end > from || (start == end && start >= from))
}

/// The occurrence of series `master` on `day`: the master's time of day on that date in the
/// series' zone (so DST moves the instant, not the wall clock), the master's length.
pub fn occurrence(master: &Event, day: i32) -> Option<(Event, Timestamp, Timestamp)> {
    let date = from_day_number(day)?;
    let zone = master.series_zone();
    let mut e = master.clone();
    e.recurrence = None;
    if master.all_day {
        let days = day_number(master.end.date()) - day_number(master.start.date());
        let end = from_day_number(day + days.max(1))?;
        e.start = date.at(0, 0, 0, 0);
        e.end = end.at(0, 0, 0, 0);
    } else {
        let local_start = master.start_zone.convert(master.start, &zone);
        let local_end = master.end_zone.convert(master.end, &zone);
        let length = local_end.duration_since(local_start);
        e.start = date.to_datetime(local_start.time());
        e.end = e.start.checked_add(length).ok()?;
    }
    e.start_zone = zone.clone();
    e.end_zone = zone;
    let (s, t) = (e.start_instant(), e.end_instant());
    Some((e, s, t))
}

/// The day range that can hold occurrences of `master` touching the window.
fn day_range(master: &Event, from: Timestamp, to: Timestamp) -> (i32, i32) {
    let zone = master.series_zone();
    let length = master.end_instant().duration_since(master.start_instant());
    let span = i32::try_from(length.as_secs() / 86_400).unwrap_or(0).max(0) + 2;
    (
        day_number(zone.civil(from).date()) - span,
        day_number(zone.civil(to).date()) + 1,
    )
}

/// The first number of a generated week's events.
fn week_base(week: i32) -> Option<u32> {
    u32::try_from(week)
        .ok()
        .and_then(|w| w.checked_mul(PER_WEEK))
        .filter(|b| b.saturating_add(PER_WEEK) <= SERIES_BASE)
}

fn not_found() -> DirError {
    DirError::NotFound("no such event in this calendar".to_owned())
}

impl Calendar {
    /// An empty calendar, or for a generated mailbox (`Some((seed, index))`) its series and
    /// the week of `now` in the user's zone.
    pub fn new(generated: Option<(u64, u32)>, profile: Profile, now: Timestamp) -> Calendar {
        let mut cal = Calendar {
            origin: None,
            weeks: BTreeSet::new(),
            items: BTreeMap::new(),
            next_custom: 0,
        };
        let Some((seed, idx)) = generated else {
            return cal;
        };
        let anchor = calgen::week_of(day_number(profile.zone.civil(now).date()));
        for (i, s) in calgen::series(seed, idx, &profile, anchor)
            .into_iter()
            .enumerate()
        {
            let occurrences = s
                .changes
                .into_iter()
                .map(|(day, change)| {
                    let occ = match change {
                        Some(event) => Occ::Exception {
                            seq: GENESIS,
                            event: Box::new(event),
                        },
                        None => Occ::Cancelled { seq: GENESIS },
                    };
                    (day, occ)
                })
                .collect();
            cal.items.insert(
                SERIES_BASE + u32::try_from(i).unwrap_or(0),
                Item {
                    seq: GENESIS,
                    alive: true,
                    event: s.master,
                    occurrences,
                    history: Vec::new(),
                },
            );
        }
        cal.origin = Some(Origin { seed, idx, profile });
        cal.weeks.insert(anchor);
        cal
    }

    /// The generated weeks a window touches (a day of margin each side, at most
    /// [`MAX_WEEKS`]); empty for calendars that are not generated.
    fn window_weeks(&self, from: Timestamp, to: Timestamp) -> std::ops::Range<i32> {
        let Some(o) = &self.origin else {
            return 0..0;
        };
        let zone = &o.profile.zone;
        let a = calgen::week_of(day_number(zone.civil(from).date()) - 1);
        let b = calgen::week_of(day_number(zone.civil(to).date()) + 1);
        a..b.min(a.saturating_add(MAX_WEEKS)).saturating_add(1)
    }

    /// The generated events of `week` that were never changed or deleted, rebuilt.
    fn generated_week(&self, week: i32) -> Vec<(u32, Event)> {
        let Some(o) = &self.origin else {
            return Vec::new();
        };
        let Some(base) = week_base(week) else {
            return Vec::new();
        };
        calgen::week(o.seed, o.idx, &o.profile, week)
            .into_iter()
            .zip(base..)
            .map(|(e, key)| (key, e))
            .filter(|(key, _)| !self.items.contains_key(key))
            .collect()
    }

    /// A generated event that was never changed or deleted, rebuilt.
    fn generated(&self, key: u32) -> Option<Event> {
        if key >= SERIES_BASE {
            return None;
        }
        let week = i32::try_from(key / PER_WEEK).ok()?;
        self.generated_week(week)
            .into_iter()
            .find_map(|(k, e)| (k == key).then_some(e))
    }

    /// Records the generated weeks a window touches, for `/events`.
    pub fn cover(&mut self, from: Timestamp, to: Timestamp) {
        for w in self.window_weeks(from, to) {
            self.weeks.insert(w);
        }
    }

    /// Stored items and touched weeks, for the heap estimate.
    pub fn item_count(&self) -> usize {
        self.items.len() + self.weeks.len() / 8
    }

    fn generated_instance(key: u32, e: Event) -> Instance<'static> {
        let (start, end) = (e.start_instant(), e.end_instant());
        Instance {
            kind: Kind::SingleInstance,
            key,
            day: None,
            event: Cow::Owned(e),
            start,
            end,
            original_start: None,
            seq: GENESIS,
        }
    }

    /// Generated events of the touched weeks, as instances.
    fn touched(&self) -> Vec<Instance<'_>> {
        self.weeks
            .iter()
            .flat_map(|w| self.generated_week(*w))
            .map(|(k, e)| Self::generated_instance(k, e))
            .collect()
    }

    fn single(key: u32, item: &Item) -> Instance<'_> {
        Instance {
            kind: if item.event.recurrence.is_some() {
                Kind::SeriesMaster
            } else {
                Kind::SingleInstance
            },
            key,
            day: None,
            event: Cow::Borrowed(&item.event),
            start: item.event.start_instant(),
            end: item.event.end_instant(),
            original_start: None,
            seq: item.seq,
        }
    }

    fn exception<'a>(key: u32, item: &Item, day: i32, seq: u64, e: &'a Event) -> Instance<'a> {
        Instance {
            kind: Kind::Exception,
            key,
            day: Some(day),
            event: Cow::Borrowed(e),
            start: e.start_instant(),
            end: e.end_instant(),
            original_start: occurrence(&item.event, day).map(|(_, s, _)| s),
            seq,
        }
    }

    /// Occurrences of `version` (a series master) touching the window; days with an
    /// exception or deletion are left out when `skip_changed`.
    fn plain<'a>(
        key: u32,
        item: &'a Item,
        version: &Event,
        from: Timestamp,
        to: Timestamp,
        skip_changed: bool,
    ) -> Vec<Instance<'a>> {
        let Some(rule) = &version.recurrence else {
            return Vec::new();
        };
        let (a, b) = day_range(version, from, to);
        rule.dates(a, b)
            .into_iter()
            .filter(|d| !skip_changed || !item.occurrences.contains_key(d))
            .filter_map(|d| {
                let (e, s, t) = occurrence(version, d)?;
                overlaps(s, t, from, to).then(|| Instance {
                    kind: Kind::Occurrence,
                    key,
                    day: Some(d),
                    event: Cow::Owned(e),
                    start: s,
                    end: t,
                    original_start: Some(s),
                    seq: item.seq,
                })
            })
            .collect()
    }

    fn exceptions_in<'a>(
        key: u32,
        item: &'a Item,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<Instance<'a>> {
        item.occurrences
            .iter()
            .filter_map(|(day, occ)| match occ {
                Occ::Exception { seq, event } => {
                    let i = Self::exception(key, item, *day, *seq, event);
                    overlaps(i.start, i.end, from, to).then_some(i)
                }
                Occ::Cancelled { .. } => None,
            })
            .collect()
    }

    /// calendarView: single instances, occurrences and exceptions touching the window,
    /// sorted by start (then end); masters are not instances (§4.1).
    pub fn in_window(&self, from: Timestamp, to: Timestamp) -> Vec<Instance<'_>> {
        let mut out = Vec::new();
        for (key, item) in self.items.iter().filter(|(_, i)| i.alive) {
            if item.event.recurrence.is_some() {
                out.extend(Self::plain(*key, item, &item.event, from, to, true));
                out.extend(Self::exceptions_in(*key, item, from, to));
            } else if overlaps(
                item.event.start_instant(),
                item.event.end_instant(),
                from,
                to,
            ) {
                out.push(Self::single(*key, item));
            }
        }
        for w in self.window_weeks(from, to) {
            for (key, e) in self.generated_week(w) {
                let i = Self::generated_instance(key, e);
                if overlaps(i.start, i.end, from, to) {
                    out.push(i);
                }
            }
        }
        out.sort_by_key(|a| (a.start, a.end, a.key, a.day));
        out
    }

    /// `/events`: single events and series masters (of a generated calendar: those of the
    /// weeks requests have touched), oldest first.
    pub fn listed(&self) -> Vec<Instance<'_>> {
        let mut out: Vec<Instance<'_>> = self
            .items
            .iter()
            .filter(|(_, i)| i.alive)
            .map(|(k, i)| Self::single(*k, i))
            .collect();
        out.extend(self.touched());
        out.sort_by_key(|i| i.key);
        out
    }

    /// Everything in the calendar: singles, masters and their exceptions (control API).
    pub fn stored(&self) -> Vec<Instance<'_>> {
        let mut out = self.touched();
        for (key, item) in self.items.iter().filter(|(_, i)| i.alive) {
            out.push(Self::single(*key, item));
            for (day, occ) in &item.occurrences {
                if let Occ::Exception { seq, event } = occ {
                    out.push(Self::exception(*key, item, *day, *seq, event));
                }
            }
        }
        out.sort_by_key(|i| (i.key, i.day));
        out
    }

    /// Deleted occurrences of a series, by day.
    pub fn cancelled_days(&self, key: u32) -> Vec<i32> {
        self.items.get(&key).map_or_else(Vec::new, |i| {
            i.occurrences
                .iter()
                .filter(|(_, o)| matches!(o, Occ::Cancelled { .. }))
                .map(|(d, _)| *d)
                .collect()
        })
    }

    /// One event by reference: a single, a master, an occurrence or an exception.
    pub fn get(&self, r: EventRef) -> Option<Instance<'_>> {
        match r {
            EventRef::Stored(key) => match self.items.get(&key) {
                Some(item) => item.alive.then(|| Self::single(key, item)),
                None => self
                    .generated(key)
                    .map(|e| Self::generated_instance(key, e)),
            },
            EventRef::Occurrence(key, day) => {
                let item = self.items.get(&key).filter(|i| i.alive)?;
                let rule = item.event.recurrence.as_ref()?;
                match item.occurrences.get(&day) {
                    Some(Occ::Exception { seq, event }) => {
                        Some(Self::exception(key, item, day, *seq, event))
                    }
                    Some(Occ::Cancelled { .. }) => None,
                    None if rule.has(day) => {
                        let (e, s, t) = occurrence(&item.event, day)?;
                        Some(Instance {
                            kind: Kind::Occurrence,
                            key,
                            day: Some(day),
                            event: Cow::Owned(e),
                            start: s,
                            end: t,
                            original_start: Some(s),
                            seq: item.seq,
                        })
                    }
                    None => None,
                }
            }
        }
    }

    /// Units changed in `(lower, upper]`, in (sequence, item, day) order; unchanged generated
    /// events count for the window's weeks. A round without a previous state (`initial`)
    /// leaves removed ones out.
    pub fn units(
        &self,
        lower: u64,
        upper: u64,
        initial: bool,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<Unit> {
        let in_range = |seq: u64| seq > lower && seq <= upper;
        let mut out = Vec::new();
        if in_range(GENESIS) {
            for w in self.window_weeks(from, to) {
                out.extend(self.generated_week(w).into_iter().map(|(key, _)| Unit {
                    seq: GENESIS,
                    key,
                    day: None,
                }));
            }
        }
        for (key, item) in &self.items {
            if in_range(item.seq) && (item.alive || !initial) {
                out.push(Unit {
                    seq: item.seq,
                    key: *key,
                    day: None,
                });
            }
            for (day, occ) in &item.occurrences {
                let gone = matches!(occ, Occ::Cancelled { .. }) || !item.alive;
                if in_range(occ.seq()) && !(initial && gone) {
                    out.push(Unit {
                        seq: occ.seq(),
                        key: *key,
                        day: Some(*day),
                    });
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// What a unit contributes to a delta round over the window. Later rounds report what
    /// left the window or the calendar as removed (§4.2: also for changes outside the range).
    pub fn unit_items(
        &self,
        u: Unit,
        from: Timestamp,
        to: Timestamp,
        lower: u64,
        initial: bool,
    ) -> Vec<DeltaItem<'_>> {
        let Some(item) = self.items.get(&u.key) else {
            // An unchanged generated event: only a first round (from GENESIS) sees it.
            return match self.get(EventRef::Stored(u.key)) {
                Some(i) if overlaps(i.start, i.end, from, to) => {
                    vec![DeltaItem::Full(Box::new(i))]
                }
                _ => Vec::new(),
            };
        };
        if let Some(day) = u.day {
            let r = EventRef::Occurrence(u.key, day);
            return match self.get(r) {
                Some(i) if i.kind == Kind::Exception && overlaps(i.start, i.end, from, to) => {
                    vec![DeltaItem::Full(Box::new(i))]
                }
                _ if initial => Vec::new(),
                _ => vec![DeltaItem::Removed(r)],
            };
        }
        let series = item.event.recurrence.is_some();
        let mut out: Vec<DeltaItem<'_>> = Vec::new();
        if item.alive {
            if series {
                out.extend(
                    Self::plain(u.key, item, &item.event, from, to, true)
                        .into_iter()
                        .map(|i| DeltaItem::Full(Box::new(i))),
                );
            } else if overlaps(
                item.event.start_instant(),
                item.event.end_instant(),
                from,
                to,
            ) {
                out.push(DeltaItem::Full(Box::new(Self::single(u.key, item))));
            }
        }
        if initial {
            return out;
        }
        if !series {
            if out.is_empty() {
                out.push(DeltaItem::Removed(EventRef::Stored(u.key)));
            }
            return out;
        }
        // A series: what the client may hold from before this round and is gone now.
        let mut current: BTreeSet<EventRef> = out
            .iter()
            .filter_map(|d| match d {
                DeltaItem::Full(i) => Some(i.reference()),
                DeltaItem::Removed(_) => None,
            })
            .collect();
        if item.alive {
            current.extend(
                Self::exceptions_in(u.key, item, from, to)
                    .iter()
                    .map(Instance::reference),
            );
        }
        let mut versions: Vec<&Event> = item
            .history
            .iter()
            .find(|(replaced, _)| *replaced > lower)
            .map(|(_, e)| e)
            .into_iter()
            .collect();
        if !item.alive {
            versions.push(&item.event);
        }
        let mut gone = BTreeSet::new();
        for v in versions {
            if v.recurrence.is_none() {
                gone.insert(EventRef::Stored(u.key));
                continue;
            }
            for i in Self::plain(u.key, item, v, from, to, false) {
                gone.insert(i.reference());
            }
            if !item.alive {
                for i in Self::exceptions_in(u.key, item, from, to) {
                    gone.insert(i.reference());
                }
            }
        }
        out.extend(
            gone.into_iter()
                .filter(|r| !current.contains(r))
                .map(DeltaItem::Removed),
        );
        out
    }
}

/// A calendar open for changes (each takes the next tenant-wide Outlook sequence).
#[derive(Debug)]
pub struct CalendarMut<'a> {
    pub(super) cal: &'a mut Calendar,
    pub(super) seq: &'a mut u64,
}

impl std::ops::Deref for CalendarMut<'_> {
    type Target = Calendar;

    fn deref(&self) -> &Calendar {
        self.cal
    }
}

impl CalendarMut<'_> {
    fn next_seq(&mut self) -> u64 {
        *self.seq += 1;
        *self.seq
    }

    pub fn cover(&mut self, from: Timestamp, to: Timestamp) {
        self.cal.cover(from, to);
    }

    /// Stores a generated event before it changes (from then on it is not rebuilt).
    fn adopt(&mut self, key: u32) {
        if self.cal.items.contains_key(&key) {
            return;
        }
        if let Some(event) = self.cal.generated(key) {
            self.cal.items.insert(
                key,
                Item {
                    seq: GENESIS,
                    alive: true,
                    event,
                    occurrences: BTreeMap::new(),
                    history: Vec::new(),
                },
            );
        }
    }

    /// Adds an event (single or series); returns its number.
    pub fn create(&mut self, event: Event) -> u32 {
        let seq = self.next_seq();
        let key = CUSTOM_BASE.saturating_add(self.cal.next_custom);
        self.cal.next_custom = self.cal.next_custom.saturating_add(1);
        self.cal.items.insert(
            key,
            Item {
                seq,
                alive: true,
                event,
                occurrences: BTreeMap::new(),
                history: Vec::new(),
            },
        );
        key
    }

    /// Applies a patch to an item, or to one occurrence (which becomes an exception).
    /// Returns whether anything changed; an unchanged write keeps the sequence.
    pub fn update(
        &mut self,
        r: EventRef,
        p: &EventPatch,
        now: Timestamp,
    ) -> Result<bool, DirError> {
        match r {
            EventRef::Stored(key) => {
                self.adopt(key);
                let item = self
                    .cal
                    .items
                    .get(&key)
                    .filter(|i| i.alive)
                    .ok_or_else(not_found)?;
                let old = item.event.clone();
                let mut new = old.clone();
                event::apply(&mut new, p, now, true).map_err(DirError::Invalid)?;
                if new == old {
                    return Ok(false);
                }
                let seq = self.next_seq();
                let item = self.cal.items.get_mut(&key).ok_or_else(not_found)?;
                if old.recurrence.is_some() || new.recurrence.is_some() {
                    let pattern_changed = old.recurrence != new.recurrence
                        || old.start != new.start
                        || old.end != new.end
                        || old.start_zone != new.start_zone
                        || old.all_day != new.all_day;
                    // Outlook drops a series' exceptions when its pattern or times change.
                    if pattern_changed {
                        item.occurrences.clear();
                    }
                    item.history.push((seq, old));
                }
                item.event = new;
                item.seq = seq;
                Ok(true)
            }
            EventRef::Occurrence(key, day) => {
                let base = match self.get(r) {
                    Some(i) => i.event.into_owned(),
                    None => return Err(not_found()),
                };
                let mut new = base.clone();
                event::apply(&mut new, p, now, false).map_err(DirError::Invalid)?;
                if new == base {
                    return Ok(false);
                }
                let seq = self.next_seq();
                let item = self.cal.items.get_mut(&key).ok_or_else(not_found)?;
                item.occurrences.insert(
                    day,
                    Occ::Exception {
                        seq,
                        event: Box::new(new),
                    },
                );
                Ok(true)
            }
        }
    }

    /// Deletes an item (a tombstone stays for delta), or one occurrence of a series.
    pub fn delete(&mut self, r: EventRef) -> Result<(), DirError> {
        if self.get(r).is_none() {
            return Err(not_found());
        }
        let seq = self.next_seq();
        match r {
            EventRef::Stored(key) => {
                self.adopt(key);
                let item = self.cal.items.get_mut(&key).ok_or_else(not_found)?;
                item.alive = false;
                item.seq = seq;
            }
            EventRef::Occurrence(key, day) => {
                let item = self.cal.items.get_mut(&key).ok_or_else(not_found)?;
                item.occurrences.insert(day, Occ::Cancelled { seq });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outlook::event::{new_event, parse_patch};
    use serde_json::{Value, json};

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn body(v: Value) -> EventPatch {
        parse_patch(v.as_object().expect("object")).expect("valid")
    }

    fn setup() -> (Calendar, u64) {
        let cal = Calendar::new(
            None,
            calgen::profile(None, "x.test"),
            ts("2025-01-01T00:00:00Z"),
        );
        (cal, GENESIS)
    }

    #[test]
    fn weekly_berlin_series_follows_dst_and_exceptions() {
        let (mut cal, mut seq) = setup();
        let mut c = CalendarMut {
            cal: &mut cal,
            seq: &mut seq,
        };
        let e = new_event(
            &body(json!({
                "subject": "Weekly",
                "start": {"dateTime": "2025-03-17T09:00:00", "timeZone": "W. Europe Standard Time"},
                "end": {"dateTime": "2025-03-17T09:30:00", "timeZone": "W. Europe Standard Time"},
                "recurrence": {
                    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                    "range": {"type": "noEnd", "startDate": "2025-03-17"},
                },
            })),
            ts("2025-03-01T00:00:00Z"),
        )
        .expect("event");
        let key = c.create(e);
        let view = c.in_window(ts("2025-03-17T00:00:00Z"), ts("2025-04-01T00:00:00Z"));
        let days: Vec<i32> = view.iter().filter_map(|i| i.day).collect();
        let starts: Vec<String> = view.iter().map(|i| i.start.to_string()).collect();
        assert_eq!(
            starts,
            [
                "2025-03-17T08:00:00Z",
                "2025-03-24T08:00:00Z",
                "2025-03-31T07:00:00Z"
            ]
        );
        assert!(view.iter().all(|i| i.kind == Kind::Occurrence));
        let day = days[1];
        let lower = *c.seq;
        // Move one, delete another.
        assert!(
            c.update(
                EventRef::Occurrence(key, day),
                &body(json!({"end": {"dateTime": "2025-03-24T11:00:00", "timeZone": "W. Europe Standard Time"}})),
                ts("2025-03-02T00:00:00Z"),
            )
            .expect("update")
        );
        c.delete(EventRef::Occurrence(key, days[2]))
            .expect("delete");
        let view = c.in_window(ts("2025-03-17T00:00:00Z"), ts("2025-04-01T00:00:00Z"));
        assert_eq!(view.len(), 2);
        assert_eq!(view[1].kind, Kind::Exception);
        assert_eq!(view[1].end.to_string(), "2025-03-24T10:00:00Z");
        let units = c.units(
            lower,
            *c.seq,
            false,
            ts("2025-03-17T00:00:00Z"),
            ts("2025-04-01T00:00:00Z"),
        );
        assert_eq!(units.len(), 2);
        let items = c.unit_items(
            units[1],
            ts("2025-03-17T00:00:00Z"),
            ts("2025-04-01T00:00:00Z"),
            lower,
            false,
        );
        assert!(matches!(
            items[..],
            [DeltaItem::Removed(EventRef::Occurrence(_, _))]
        ));
        // Changing the series pattern reports the old occurrences as removed.
        let lower = *c.seq;
        c.update(
            EventRef::Stored(key),
            &body(json!({"recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"]},
                "range": {"type": "noEnd", "startDate": "2025-03-17"},
            }})),
            ts("2025-03-03T00:00:00Z"),
        )
        .expect("pattern");
        let units = c.units(
            lower,
            *c.seq,
            false,
            ts("2025-03-17T00:00:00Z"),
            ts("2025-04-01T00:00:00Z"),
        );
        let items = c.unit_items(
            units[0],
            ts("2025-03-17T00:00:00Z"),
            ts("2025-04-01T00:00:00Z"),
            lower,
            false,
        );
        let removed = items
            .iter()
            .filter(|i| matches!(i, DeltaItem::Removed(_)))
            .count();
        let full = items.len() - removed;
        assert_eq!((full, removed), (2, 3), "{items:?}");
    }
}
