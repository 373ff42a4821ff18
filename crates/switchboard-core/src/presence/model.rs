//! The vocabulary: statuses, Graph's `showAs`, and the calendar entry as the machine sees it.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A phone user's status. JSON and text spelling: `available`, `away`, `do_not_disturb`,
/// `lunch`, `business_trip` (DESIGN §5).
///
/// Custom statuses are a planned extension; when they come they will be a new variant
/// (e.g. `Custom(CustomStatusId)`), so matches on this enum should stay exhaustive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Available,
    Away,
    DoNotDisturb,
    Lunch,
    /// Only a person sets this; the calendar never replaces it (rule 3) and a mapping may not
    /// produce it ([`ShowAsMapping`](super::ShowAsMapping) rejects it).
    BusinessTrip,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Available,
        Status::Away,
        Status::DoNotDisturb,
        Status::Lunch,
        Status::BusinessTrip,
    ];

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Available => "available",
            Status::Away => "away",
            Status::DoNotDisturb => "do_not_disturb",
            Status::Lunch => "lunch",
            Status::BusinessTrip => "business_trip",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?} (expected available, away, do_not_disturb, lunch or business_trip)")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// Who set the current status. JSON spelling `manual`, `calendar`, `default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusSource {
    /// The user (their phone, the console, the API).
    Manual,
    /// A calendar entry through the `showAs` mapping.
    Calendar,
    /// Nobody yet: the status a new extension starts with.
    Default,
}

impl StatusSource {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusSource::Manual => "manual",
            StatusSource::Calendar => "calendar",
            StatusSource::Default => "default",
        }
    }
}

impl fmt::Display for StatusSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StatusSource {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            StatusSource::Manual,
            StatusSource::Calendar,
            StatusSource::Default,
        ]
        .into_iter()
        .find(|source| source.as_str() == s)
        .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// An event's "Show as" in Graph's spelling: `free`, `tentative`, `busy`, `oof`,
/// `workingElsewhere`, `unknown` (graph-protocol.md §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ShowAs {
    Free,
    Tentative,
    Busy,
    Oof,
    WorkingElsewhere,
    /// Also what a value Graph adds in the future reads as, so a new spelling cannot make a
    /// whole calendar page unreadable.
    #[serde(other)]
    Unknown,
}

impl ShowAs {
    pub const ALL: [ShowAs; 6] = [
        ShowAs::Free,
        ShowAs::Tentative,
        ShowAs::Busy,
        ShowAs::Oof,
        ShowAs::WorkingElsewhere,
        ShowAs::Unknown,
    ];

    /// Graph's spelling.
    pub fn as_graph_str(self) -> &'static str {
        match self {
            ShowAs::Free => "free",
            ShowAs::Tentative => "tentative",
            ShowAs::Busy => "busy",
            ShowAs::Oof => "oof",
            ShowAs::WorkingElsewhere => "workingElsewhere",
            ShowAs::Unknown => "unknown",
        }
    }

    /// Total: Graph's values (case-insensitively), anything else is [`ShowAs::Unknown`].
    pub fn from_graph(s: &str) -> ShowAs {
        ShowAs::ALL
            .into_iter()
            .find(|show_as| show_as.as_graph_str().eq_ignore_ascii_case(s))
            .unwrap_or(ShowAs::Unknown)
    }

    /// Rule 1's order among overlapping entries: oof > busy > workingElsewhere > tentative.
    /// `free` and `unknown` come last; they only matter when an admin maps them.
    pub fn priority(self) -> u8 {
        match self {
            ShowAs::Oof => 5,
            ShowAs::Busy => 4,
            ShowAs::WorkingElsewhere => 3,
            ShowAs::Tentative => 2,
            ShowAs::Free => 1,
            ShowAs::Unknown => 0,
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            ShowAs::Free => 0,
            ShowAs::Tentative => 1,
            ShowAs::Busy => 2,
            ShowAs::Oof => 3,
            ShowAs::WorkingElsewhere => 4,
            ShowAs::Unknown => 5,
        }
    }
}

impl fmt::Display for ShowAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_graph_str())
    }
}

/// One calendar event (an occurrence of a series is just another entry with its own id), reduced
/// to what presence needs. There is deliberately no subject, body, location or attendee: private
/// entries are handled exactly like any other, and nothing personal can be stored or logged.
///
/// `start..end` is half-open: the entry is active at `start` and no longer at `end`, so an entry
/// ending when the next begins hands over without a gap. Entries with `end <= start` are never
/// active. All-day entries arrive as floating dates; turn them into instants with
/// [`all_day_span`](super::all_day_span) before building the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarEntry {
    /// Graph's event id (distinct per occurrence).
    pub id: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub show_as: ShowAs,
    pub is_all_day: bool,
    /// Cancelled meetings can stay in an attendee's calendar; they never affect presence.
    pub is_cancelled: bool,
}

impl CalendarEntry {
    /// Whether the entry is in effect at `t` (ignoring the mapping).
    pub fn is_active_at(&self, t: Timestamp) -> bool {
        !self.is_cancelled && self.start <= t && t < self.end
    }
}
