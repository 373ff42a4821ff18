//! Calendar sync: each in-scope user's Outlook calendar drives their status (DESIGN §4–§5).
//!
//! - [`CalendarSync`] reads the window ahead (`[now, now + window_hours)`) of every in-scope
//!   mailbox in waves of [`CALENDAR_WAVE`], turns the events into
//!   [`CalendarEntry`](crate::presence::CalendarEntry)s (timed ones are UTC, all-day ones whole
//!   days in the mailbox's own zone (its Outlook setting, else the configured one), cancelled ones
//!   dropped) and hands them to the service.
//! - [`PresenceService`] is the only place a status changes: the calendar (through
//!   [`PresenceService::apply_entries`] and [`PresenceService::fire_due`]) and the user
//!   ([`PresenceService::user_sets`]). It stores each step, keeps an ordered plan of every
//!   extension's next transition so the binary needs one timer ([`PresenceService::next_due`],
//!   [`PresenceService::replanned`]), and publishes net changes to subscribers and
//!   [`PresenceSink`](crate::ports::PresenceSink)s.
//!
//! The rules themselves are the pure machine in [`crate::presence`].

mod config;
mod convert;
mod due;
mod service;
mod sync;
mod windows_zones;

pub use config::{
    CALENDAR_SYNC_SETTINGS_KEY, CALENDAR_SYNC_STATE_KEY, CalendarSyncConfig, MAX_WINDOW_HOURS,
};
pub use convert::{ZoneLookup, entries_from_events, entry_from_event, resolve_zone};
pub use service::{
    ApplyOutcome, PRESENCE_EVENTS_CAPACITY, PresenceChange, PresenceError, PresenceService,
    PresenceView,
};
pub use sync::{
    CALENDAR_WAVE, CalendarRunOutcome, CalendarSync, CalendarSyncError, CalendarSyncStatus,
    MailboxFailure, NO_MAILBOX_REASON, SkippedMailbox,
};
pub use windows_zones::{iana_name, renamed_zone, windows_to_iana};
