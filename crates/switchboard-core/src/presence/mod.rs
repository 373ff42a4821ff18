//! Presence: a user's status follows the "Show as" of their calendar (DESIGN §5). Pure: the
//! entries, the mapping and the time are passed in.
//!
//! # The model
//!
//! - A [`CalendarEntry`] is active on `start..end` (half-open). Through the admin's
//!   [`ShowAsMapping`] its `showAs` maps to a [`Status`] or to "no change"; cancelled entries and
//!   entries mapped to no change are ignored entirely.
//! - A **block** is a maximal stretch of time during which at least one mapped entry is active.
//!   Overlapping, nested and back-to-back entries (one ends when the next starts) are one block,
//!   so the status never flickers back in between.
//! - Everything happens at **boundaries** (an entry's start or end) and at user actions. At each
//!   one the machine looks at the entry in charge (highest priority: oof > busy >
//!   workingElsewhere > tentative, then earliest start, then smallest id) and applies one of four
//!   cases: a block starts (the current status and its source are remembered, then the entry's
//!   status applies), a block goes on (the status follows the entry in charge), a block ends (the
//!   remembered status returns), or there is no block (nothing happens).
//! - The calendar never touches [`Status::BusinessTrip`], neither to replace it nor to restore
//!   over it. A status the user sets during a block stays for the rest of that block and is not
//!   undone at its end; the next block applies again.
//!
//! # Steps, restarts and edits
//!
//! A [`PresenceState`] is complete as of its `as_of`. [`Schedule::advance`] replays the
//! boundaries from `as_of` up to `to` in time order and then reconciles with the entries at
//! `to`, returning the new state and the [`Transition`]s on the way (each at its due time).
//! There is no separate `from`: it is the stored `as_of`. Because only boundaries change
//! anything, one step to `to` and many small steps (a restart anywhere in between, the state
//! stored and loaded) give the same state and the same transitions, and repeating a step reports
//! nothing twice. User actions go through [`Schedule::user_sets`], which advances first.
//!
//! The entry list passed in is the truth from then on. An entry edited or cancelled before it
//! starts simply behaves as edited. One changed while active is reconciled by the next step:
//! cancelled, moved later or unmapped, its block ends there (at the step's `to`, or at an
//! earlier boundary the step replays) and the remembered status returns; shortened into the
//! past, its new end is replayed. A store may drop an entry once the state's
//! `as_of` has reached its end, not before.
//!
//! A scheduler keeps one timer at the earliest [`Schedule::next_transition`] over all users and
//! calls `advance` when it fires and whenever entries or the mapping change (then re-plans the
//! timer), storing the state each time. All-day entries come as floating dates: [`all_day_span`] turns them into instants in
//! the mailbox's zone.

mod dates;
mod machine;
mod mapping;
mod model;
mod state;

pub use dates::{DateError, all_day_span, resolve_local};
pub use machine::{
    Advance, Schedule, Transition, TransitionReason, advance, next_transition, user_sets,
};
pub use mapping::{MappingError, ShowAsMapping};
pub use model::{CalendarEntry, ShowAs, Status, StatusSource, UnknownStatus};
pub use state::{Block, PresenceState, Remembered};
