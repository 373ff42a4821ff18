//! What is persisted per extension.

use super::{Status, StatusSource};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A status together with who set it: what a block remembers and gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    pub status: Status,
    pub source: StatusSource,
}

/// A calendar block: a stretch of time during which at least one mapped entry is active.
/// Overlapping entries and entries that end exactly when the next begins form one block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub started_at: Timestamp,
    /// When the block ends as far as the entries known at `as_of` tell.
    pub ends_at: Timestamp,
    /// The status (and its source) from just before the block; it returns when the block ends
    /// unless the user set a status during the block.
    pub restore: Remembered,
    /// The highest-priority active entry: the one whose `showAs` the calendar follows now.
    pub entry_id: String,
    /// When the user first set a status during this block. From then on the calendar leaves the
    /// status alone until the block is over, and restores nothing at its end (rule 4).
    pub overridden_at: Option<Timestamp>,
}

/// One extension's presence, as stored and as the machine hands it back.
///
/// The state is complete as of `as_of`: every change the entries called for up to and
/// including that instant has been applied. The machine replays only from there on, so storing
/// this after each step is all a restart needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceState {
    pub status: Status,
    pub source: StatusSource,
    /// The calendar block in progress, if any.
    pub block: Option<Block>,
    /// When the calendar will next change `status`, given the entries known at `as_of` and no
    /// further action by the user; `None` when nothing is due.
    pub until: Option<Timestamp>,
    pub as_of: Timestamp,
}

impl PresenceState {
    /// A state nothing has acted on yet: `status` from `source`, no block.
    pub fn new(status: Status, source: StatusSource, as_of: Timestamp) -> Self {
        Self {
            status,
            source,
            block: None,
            until: None,
            as_of,
        }
    }

    /// A new extension: Available, by default.
    pub fn initial(as_of: Timestamp) -> Self {
        Self::new(Status::Available, StatusSource::Default, as_of)
    }

    /// Whether the user has taken over from the calendar for the current block.
    pub fn is_overridden(&self) -> bool {
        self.block
            .as_ref()
            .is_some_and(|block| block.overridden_at.is_some())
    }

    /// The status that returns when the current block ends, if one will (`None` outside a
    /// block, after a user override, or when Business Trip is kept).
    pub fn will_restore(&self) -> Option<Remembered> {
        let block = self.block.as_ref()?;
        (block.overridden_at.is_none() && self.status != Status::BusinessTrip)
            .then_some(block.restore)
    }

    /// The fields that describe the presence itself, leaving out the bookkeeping (`as_of`) and
    /// the forecast (`until`).
    pub(crate) fn same_presence(&self, other: &PresenceState) -> bool {
        self.status == other.status && self.source == other.source && self.block == other.block
    }
}
