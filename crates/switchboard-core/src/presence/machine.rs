//! The state machine: replaying calendar boundaries and user actions in time order.

use super::{
    Block, CalendarEntry, PresenceState, Remembered, ShowAs, ShowAsMapping, Status, StatusSource,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::ops::{Bound, RangeBounds};

/// Why the status changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionReason {
    /// The first entry of a block began.
    BlockStarted,
    /// Within a block, the entry in charge changed (an entry of another `showAs` began or
    /// ended, or the entries or the mapping were edited).
    BlockChanged,
    /// The last entry of a block ended (or was cancelled, moved or unmapped): the remembered
    /// status returned.
    BlockEnded,
    /// The user set a status.
    UserSet,
}

/// One change of status or source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// When it was due. Earlier than the `to` of the call that reports it when the call caught
    /// up (after a restart, or after an entry was edited into the past).
    pub at: Timestamp,
    pub from: Status,
    pub to: Status,
    /// Who set `to`.
    pub source: StatusSource,
    pub reason: TransitionReason,
    /// The entry in charge after the change, while the calendar sets the status.
    pub entry_id: Option<String>,
}

/// The outcome of a step: the new state to store and the changes on the way, in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advance {
    pub state: PresenceState,
    pub transitions: Vec<Transition>,
}

/// An entry that takes part: not cancelled, not empty, mapped to a status.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scheduled {
    start: Timestamp,
    end: Timestamp,
    id: String,
    show_as: ShowAs,
    status: Status,
}

impl Scheduled {
    /// Rule 1's winner among active entries: highest `showAs` priority, then the one that began
    /// first, then the smaller id, so the outcome never depends on the order entries arrive in.
    fn outranks(&self, other: &Scheduled) -> Ordering {
        self.show_as
            .priority()
            .cmp(&other.show_as.priority())
            .then_with(|| other.start.cmp(&self.start))
            .then_with(|| other.id.cmp(&self.id))
    }
}

/// One user's entries under a mapping, prepared for the machine. Build it once per
/// (entries, mapping) and use it for any number of steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Sorted by start (then end, id, showAs) so a scan can stop at the first future start.
    entries: Vec<Scheduled>,
    /// Every start and end, sorted, without repeats: the only instants the calendar acts at.
    boundaries: Vec<Timestamp>,
}

impl Schedule {
    /// Cancelled entries, entries with `end <= start` and entries whose `showAs` maps to "no
    /// change" are left out: they neither start nor extend a block.
    pub fn new(entries: &[CalendarEntry], mapping: &ShowAsMapping) -> Self {
        let mut scheduled: Vec<Scheduled> = entries
            .iter()
            .filter(|entry| !entry.is_cancelled && entry.start < entry.end)
            .filter_map(|entry| {
                Some(Scheduled {
                    start: entry.start,
                    end: entry.end,
                    id: entry.id.clone(),
                    show_as: entry.show_as,
                    status: mapping.get(entry.show_as)?,
                })
            })
            .collect();
        scheduled.sort_by(|a, b| {
            (a.start, a.end, &a.id, a.show_as.priority()).cmp(&(
                b.start,
                b.end,
                &b.id,
                b.show_as.priority(),
            ))
        });
        let mut boundaries: Vec<Timestamp> = scheduled
            .iter()
            .flat_map(|entry| [entry.start, entry.end])
            .collect();
        boundaries.sort_unstable();
        boundaries.dedup();
        Self {
            entries: scheduled,
            boundaries,
        }
    }

    /// No entry that could change a status.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The state at `to`: every boundary from `state.as_of` up to and including `to` is
    /// applied in time order, then the state is reconciled with the entries at `to` itself (an
    /// entry cancelled, moved or unmapped since the last step marks no boundary, yet may end or
    /// start a block now). A boundary at `as_of` itself is applied again: that changes nothing
    /// for a state a step produced, and lets a fresh [`PresenceState::new`] take in an entry
    /// starting at that very instant.
    ///
    /// Idempotent: advancing the result to the same `to` again changes nothing and reports
    /// nothing, and stepping through any intermediate instants yields the same state and the
    /// same transitions as one step. A `to` before `state.as_of` is taken as `state.as_of`:
    /// time never runs backwards.
    pub fn advance(&self, state: &PresenceState, to: Timestamp) -> Advance {
        let to = to.max(state.as_of);
        let mut next = state.clone();
        let mut transitions = Vec::new();
        for &at in self.boundaries_in(state.as_of..=to) {
            transitions.extend(self.evaluate(&mut next, at));
        }
        transitions.extend(self.evaluate(&mut next, to));
        next.as_of = to;
        next.until = self.until(&next);
        Advance {
            state: next,
            transitions,
        }
    }

    /// The user sets `status` at `at`: first everything due up to `at` is applied (so at the
    /// very instant a block starts, the calendar goes first and the user's choice wins), then
    /// the user's status. During a block it stays for the rest of the block and is not undone
    /// at its end; the next block applies again. An `at` before `state.as_of` is taken as
    /// `state.as_of`.
    pub fn user_sets(&self, state: &PresenceState, status: Status, at: Timestamp) -> Advance {
        let mut advance = self.advance(state, at);
        let next = &mut advance.state;
        let at = next.as_of;
        let (from, from_source) = (next.status, next.source);
        next.status = status;
        next.source = StatusSource::Manual;
        if let Some(block) = &mut next.block {
            block.overridden_at.get_or_insert(at);
        }
        if (from, from_source) != (status, StatusSource::Manual) {
            advance.transitions.push(Transition {
                at,
                from,
                to: status,
                source: StatusSource::Manual,
                reason: TransitionReason::UserSet,
                entry_id: None,
            });
        }
        next.until = self.until(next);
        advance
    }

    /// The earliest instant at which advancing `state` changes it (status, source or block),
    /// for a scheduler that keeps one timer across all users.
    ///
    /// `Some(t)` with `t <= now` means a change is due already: the state is behind (a restart)
    /// or the entries or mapping changed since it was computed. `None`: nothing will change
    /// with the entries known, until the user acts or the entries change.
    pub fn next_transition(&self, state: &PresenceState, now: Timestamp) -> Option<Timestamp> {
        let now = now.max(state.as_of);
        let mut sim = state.clone();
        let due = self.boundaries_in(state.as_of..=now).iter().copied();
        let later = self
            .boundaries_in((Bound::Excluded(now), Bound::Unbounded))
            .iter()
            .copied();
        for at in due.chain([now]).chain(later) {
            // The transition itself is not wanted here, only whether anything changed.
            let _ = self.evaluate(&mut sim, at);
            if !sim.same_presence(state) {
                return Some(at);
            }
        }
        None
    }

    fn boundaries_in(&self, range: impl RangeBounds<Timestamp>) -> &[Timestamp] {
        let from = match range.start_bound() {
            Bound::Included(&t) => self.boundaries.partition_point(|&b| b < t),
            Bound::Excluded(&t) => self.boundaries.partition_point(|&b| b <= t),
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(&t) => self.boundaries.partition_point(|&b| b <= t),
            Bound::Excluded(&t) => self.boundaries.partition_point(|&b| b < t),
            Bound::Unbounded => self.boundaries.len(),
        };
        self.boundaries.get(from..to).unwrap_or_default()
    }

    /// The highest-priority entry active at `at`.
    fn in_charge_at(&self, at: Timestamp) -> Option<&Scheduled> {
        self.entries
            .iter()
            .take_while(|entry| entry.start <= at)
            .filter(|entry| at < entry.end)
            .max_by(|a, b| a.outranks(b))
    }

    /// The end of the block containing `at`: entries that overlap or touch (one ends when the
    /// next begins) are chained.
    fn block_end(&self, at: Timestamp) -> Timestamp {
        // Sorted by start and `end` only grows, so one pass chains every link.
        let mut end = at;
        for entry in &self.entries {
            if entry.start > end {
                break;
            }
            end = end.max(entry.end);
        }
        end
    }

    /// Applies the calendar at one instant. The four cases are the whole rule set: outside a
    /// block nothing happens; a block starts (remember, then follow the calendar unless on
    /// Business Trip); a block goes on (follow the entry in charge unless overridden or on
    /// Business Trip); a block ends (give back what was remembered, same exceptions).
    fn evaluate(&self, state: &mut PresenceState, at: Timestamp) -> Option<Transition> {
        let before = (state.status, state.source);
        let in_charge = self.in_charge_at(at);
        let reason = match (in_charge, state.block.as_mut()) {
            (None, None) => return None,
            (Some(entry), None) => {
                state.block = Some(Block {
                    started_at: at,
                    ends_at: self.block_end(at),
                    restore: Remembered {
                        status: state.status,
                        source: state.source,
                    },
                    entry_id: entry.id.clone(),
                    overridden_at: None,
                });
                if state.status != Status::BusinessTrip {
                    state.status = entry.status;
                    state.source = StatusSource::Calendar;
                }
                TransitionReason::BlockStarted
            }
            (Some(entry), Some(block)) => {
                block.ends_at = self.block_end(at);
                block.entry_id.clone_from(&entry.id);
                if block.overridden_at.is_none() && state.status != Status::BusinessTrip {
                    state.status = entry.status;
                    state.source = StatusSource::Calendar;
                }
                TransitionReason::BlockChanged
            }
            (None, Some(block)) => {
                if block.overridden_at.is_none() && state.status != Status::BusinessTrip {
                    state.status = block.restore.status;
                    state.source = block.restore.source;
                }
                state.block = None;
                TransitionReason::BlockEnded
            }
        };
        ((state.status, state.source) != before).then(|| Transition {
            at,
            from: before.0,
            to: state.status,
            source: state.source,
            reason,
            entry_id: in_charge
                .filter(|_| state.source == StatusSource::Calendar)
                .map(|entry| entry.id.clone()),
        })
    }

    /// When the calendar will next change the status of `state` (at `state.as_of`).
    fn until(&self, state: &PresenceState) -> Option<Timestamp> {
        let mut sim = state.clone();
        self.boundaries_in((Bound::Excluded(state.as_of), Bound::Unbounded))
            .iter()
            .copied()
            .find(|&at| {
                let _ = self.evaluate(&mut sim, at);
                sim.status != state.status
            })
    }
}

/// [`Schedule::advance`] for a one-off call.
pub fn advance(
    state: &PresenceState,
    entries: &[CalendarEntry],
    mapping: &ShowAsMapping,
    to: Timestamp,
) -> Advance {
    Schedule::new(entries, mapping).advance(state, to)
}

/// [`Schedule::user_sets`] for a one-off call.
pub fn user_sets(
    state: &PresenceState,
    entries: &[CalendarEntry],
    mapping: &ShowAsMapping,
    status: Status,
    at: Timestamp,
) -> Advance {
    Schedule::new(entries, mapping).user_sets(state, status, at)
}

/// [`Schedule::next_transition`] for a one-off call.
pub fn next_transition(
    state: &PresenceState,
    entries: &[CalendarEntry],
    mapping: &ShowAsMapping,
    now: Timestamp,
) -> Option<Timestamp> {
    Schedule::new(entries, mapping).next_transition(state, now)
}
