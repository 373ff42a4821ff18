//! [`PresenceService`]: the one place statuses change, and the plan of when they change next.

use super::convert::sort_entries;
use super::due::DueIndex;
use crate::clock::Clock;
use crate::ports::{ExtensionStore, PresenceSink, PresenceStore, StoreError};
use crate::presence::{
    CalendarEntry, PresenceState, Schedule, ShowAsMapping, Status, StatusSource,
};
use crate::users::{ExtensionQuery, ExtensionRecord};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::{Notify, broadcast};

/// Changes a slow subscriber may fall behind by before it misses some (it then sees
/// `RecvError::Lagged` and should reload the board).
pub const PRESENCE_EVENTS_CAPACITY: usize = 1024;
/// When a due transition could not be stored, it is tried again this much later rather than at
/// once, so a failing database does not turn the timer into a busy loop.
const FIRE_RETRY: SignedDuration = SignedDuration::from_secs(5);
/// Extensions read per query when listing them all.
pub(super) const LIST_PAGE: u32 = 1000;

/// A status change as boards and the SIP engine see it: only net changes are published, so a
/// catch-up that goes Away and back within the past publishes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceChange {
    pub number: String,
    pub status: Status,
    pub source: StatusSource,
    /// When the calendar will change the status next, if it will.
    pub until: Option<Timestamp>,
    /// When the change was due (a transition's time, or the moment the user acted).
    pub at: Timestamp,
}

/// One extension's presence for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceView {
    pub number: String,
    pub status: Status,
    pub source: StatusSource,
    pub until: Option<Timestamp>,
    /// The status that comes back when the current calendar block ends, if one will.
    pub restores: Option<Status>,
    /// The calendar entry (Graph event id) that set the status, while the calendar sets it.
    pub entry_id: Option<String>,
}

impl PresenceView {
    fn new(number: &str, state: &PresenceState) -> Self {
        Self {
            number: number.to_owned(),
            status: state.status,
            source: state.source,
            until: state.until,
            restores: state.will_restore().map(|r| r.status),
            entry_id: state
                .block
                .as_ref()
                .filter(|_| state.source == StatusSource::Calendar)
                .map(|block| block.entry_id.clone()),
        }
    }
}

/// What [`PresenceService::apply_entries`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// The stored entries differ from before.
    pub entries_changed: bool,
    /// The net change of status, if any.
    pub change: Option<PresenceChange>,
}

#[derive(Debug, thiserror::Error)]
pub enum PresenceError {
    #[error("there is no extension {0}")]
    UnknownExtension(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every status change goes through here: it stores the new state, keeps the plan of the next
/// due transitions, and publishes net changes to subscribers and sinks.
///
/// Steps for the same or different extensions are serialised (each one is load, compute,
/// save), so a transition firing while the user sets a status cannot lose either.
///
/// # One timer for everyone
///
/// Every stored state carries `until`, its next calendar change. The service keeps those in an
/// ordered index (rebuilt by [`Self::rebuild_plan`] at start, updated on every save), so the
/// binary needs a single timer:
///
/// ```ignore
/// loop {
///     let wake = presence.next_due();
///     tokio::select! {
///         _ = sleep_until_or_forever(wake) => { presence.fire_due(clock.now()).await; }
///         _ = presence.replanned() => {} // an earlier transition appeared: plan again
///     }
/// }
/// ```
#[derive(Debug)]
pub struct PresenceService {
    store: Arc<dyn PresenceStore>,
    extensions: Arc<dyn ExtensionStore>,
    clock: Arc<dyn Clock>,
    sinks: Vec<Arc<dyn PresenceSink>>,
    mapping: Mutex<ShowAsMapping>,
    events: broadcast::Sender<PresenceChange>,
    due: Mutex<DueIndex>,
    replanned: Notify,
    writes: tokio::sync::Mutex<()>,
}

impl PresenceService {
    /// Call [`Self::rebuild_plan`] once before relying on [`Self::next_due`].
    pub fn new(
        store: Arc<dyn PresenceStore>,
        extensions: Arc<dyn ExtensionStore>,
        clock: Arc<dyn Clock>,
        mapping: ShowAsMapping,
    ) -> Self {
        Self {
            store,
            extensions,
            clock,
            sinks: Vec::new(),
            mapping: Mutex::new(mapping),
            events: broadcast::channel(PRESENCE_EVENTS_CAPACITY).0,
            due: Mutex::new(DueIndex::default()),
            replanned: Notify::new(),
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// Also tells `sink` every status change. Sinks are called in order while the change is
    /// being made, so they should hand it on quickly (queue it) rather than wait on the network.
    pub fn with_sink(mut self, sink: Arc<dyn PresenceSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    pub fn mapping(&self) -> ShowAsMapping {
        *lock(&self.mapping)
    }

    /// Net changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<PresenceChange> {
        self.events.subscribe()
    }

    /// The earliest time any extension's status is due to change.
    pub fn next_due(&self) -> Option<Timestamp> {
        lock(&self.due).earliest()
    }

    /// Completes when the earliest due time moved earlier than it was: a timer set for the old
    /// one would fire late. Meant for one timer loop: a notice given while the loop is busy is
    /// kept until it waits again, so none is missed.
    pub async fn replanned(&self) {
        self.replanned.notified().await;
    }

    /// Reloads the plan from the store: at start, and when another instance may have stored
    /// states (it does not share this one's plan).
    pub async fn rebuild_plan(&self) -> Result<(), PresenceError> {
        let _writes = self.writes.lock().await;
        let stored = self.store.list_presence().await?;
        let earlier = lock(&self.due).replace(
            stored
                .into_iter()
                .filter_map(|(number, state)| Some((number, state.until?))),
        );
        if earlier {
            self.replanned.notify_one();
        }
        Ok(())
    }

    /// The extension's presence now, for display; nothing is stored.
    pub async fn presence(&self, number: &str) -> Result<PresenceView, PresenceError> {
        self.require_extension(number).await?;
        let now = self.clock.now();
        let entries = self.store.calendar_entries(number).await?;
        let state = self
            .store
            .load_presence(number)
            .await?
            .unwrap_or_else(|| PresenceState::initial(now));
        let step = self.schedule(&entries).advance(&state, now);
        Ok(PresenceView::new(number, &step.state))
    }

    /// Every extension's presence (ordered like the extension list); an extension nothing has
    /// acted on yet shows Available by default.
    pub async fn list(&self) -> Result<Vec<PresenceView>, PresenceError> {
        let now = self.clock.now();
        let mut stored: HashMap<String, PresenceState> =
            self.store.list_presence().await?.into_iter().collect();
        let mut views = Vec::new();
        for extension in all_extensions(self.extensions.as_ref()).await? {
            let number = extension.number;
            let state = match stored.remove(&number) {
                // A transition due this very second may not have fired yet.
                Some(state) if state.until.is_some_and(|until| until <= now) => {
                    let entries = self.store.calendar_entries(&number).await?;
                    self.schedule(&entries).advance(&state, now).state
                }
                Some(state) => state,
                None => PresenceState::initial(now),
            };
            views.push(PresenceView::new(&number, &state));
        }
        Ok(views)
    }

    /// The stored calendar entries of an extension (start order).
    pub async fn entries(&self, number: &str) -> Result<Vec<CalendarEntry>, PresenceError> {
        let mut entries = self.store.calendar_entries(number).await?;
        sort_entries(&mut entries);
        Ok(entries)
    }

    /// Numbers that have calendar entries stored (one read per stored presence: for the
    /// calendar sync's clean-up, not for frequent use).
    pub async fn numbers_with_entries(&self) -> Result<Vec<String>, PresenceError> {
        let mut numbers = Vec::new();
        for (number, _) in self.store.list_presence().await? {
            if !self.store.calendar_entries(&number).await?.is_empty() {
                numbers.push(number);
            }
        }
        Ok(numbers)
    }

    /// The user's own change (phone, console, API). It wins over the calendar for the rest of
    /// the current block and is not undone at its end.
    pub async fn user_sets(
        &self,
        number: &str,
        status: Status,
    ) -> Result<PresenceView, PresenceError> {
        let _writes = self.writes.lock().await;
        self.require_extension(number).await?;
        let now = self.clock.now();
        let entries = self.store.calendar_entries(number).await?;
        let before = self
            .store
            .load_presence(number)
            .await?
            .unwrap_or_else(|| PresenceState::initial(now));
        let step = self.schedule(&entries).user_sets(&before, status, now);
        self.store.save_presence(number, &step.state).await?;
        let last = step.transitions.last().map(|t| t.at);
        self.settle(number, &before, &step.state, last).await;
        Ok(PresenceView::new(number, &step.state))
    }

    /// New entries for an extension (from a calendar read). The stored state is first advanced
    /// to now with the entries it was planned with, so transitions that fell due meanwhile
    /// happen as they should; then the new entries take over. Entries and state are saved
    /// together, and not at all when neither changed.
    pub async fn apply_entries(
        &self,
        number: &str,
        mut entries: Vec<CalendarEntry>,
    ) -> Result<ApplyOutcome, PresenceError> {
        let _writes = self.writes.lock().await;
        let now = self.clock.now();
        entries.retain(|entry| !entry.is_cancelled);
        sort_entries(&mut entries);
        let mut old = self.store.calendar_entries(number).await?;
        sort_entries(&mut old);
        let stored = self.store.load_presence(number).await?;
        let before = stored
            .clone()
            .unwrap_or_else(|| PresenceState::initial(now));
        let caught_up = self.schedule(&old).advance(&before, now);
        let step = self.schedule(&entries).advance(&caught_up.state, now);
        let entries_changed = old != entries;
        let state_changed = match &stored {
            Some(stored) => !same_plan(stored, &step.state),
            None => !same_plan(&before, &step.state),
        };
        if entries_changed || state_changed {
            self.store
                .save_calendar(number, &entries, &step.state)
                .await?;
        }
        let last = caught_up
            .transitions
            .iter()
            .chain(&step.transitions)
            .last()
            .map(|t| t.at);
        let change = self.settle(number, &before, &step.state, last).await;
        Ok(ApplyOutcome {
            entries_changed,
            change,
        })
    }

    /// Forgets an extension's entries (it left the calendar sync, or its mailbox is gone): what
    /// fell due is applied first, then a status the calendar set gives way to the remembered one.
    /// Entries and state are replaced in one save, so a crash cannot keep one without the other.
    pub async fn clear_entries(
        &self,
        number: &str,
    ) -> Result<Option<PresenceChange>, PresenceError> {
        let _writes = self.writes.lock().await;
        let now = self.clock.now();
        let old = self.store.calendar_entries(number).await?;
        let Some(before) = self.store.load_presence(number).await? else {
            if !old.is_empty() {
                self.store.remove_calendar(number).await?;
            }
            return Ok(None);
        };
        let caught_up = self.schedule(&old).advance(&before, now);
        let step = self.schedule(&[]).advance(&caught_up.state, now);
        self.store.save_calendar(number, &[], &step.state).await?;
        let last = caught_up
            .transitions
            .iter()
            .chain(&step.transitions)
            .last()
            .map(|t| t.at);
        Ok(self.settle(number, &before, &step.state, last).await)
    }

    /// Applies every transition due at or before `now` and returns the net changes. A failure
    /// for one extension is logged and retried a few seconds later; the others go ahead.
    pub async fn fire_due(&self, now: Timestamp) -> Vec<PresenceChange> {
        let _writes = self.writes.lock().await;
        let due = lock(&self.due).due(now);
        let mut changes = Vec::new();
        for number in due {
            match self.fire_one(&number, now).await {
                Ok(change) => changes.extend(change),
                Err(e) => {
                    tracing::warn!(extension = %number, error = %e, "could not apply a due presence change; retrying shortly");
                    lock(&self.due).set(&number, Some(now + FIRE_RETRY));
                }
            }
        }
        changes
    }

    async fn fire_one(
        &self,
        number: &str,
        now: Timestamp,
    ) -> Result<Option<PresenceChange>, PresenceError> {
        let Some(before) = self.store.load_presence(number).await? else {
            // The extension was deleted since the plan was made.
            lock(&self.due).set(number, None);
            return Ok(None);
        };
        let entries = self.store.calendar_entries(number).await?;
        let step = self.schedule(&entries).advance(&before, now);
        self.store.save_presence(number, &step.state).await?;
        let last = step.transitions.last().map(|t| t.at);
        Ok(self.settle(number, &before, &step.state, last).await)
    }

    /// Switches the mapping and re-plans every extension with entries or a calendar block:
    /// first what fell due under the old mapping, then the new one applies from now.
    pub async fn set_mapping(
        &self,
        mapping: ShowAsMapping,
    ) -> Result<Vec<PresenceChange>, PresenceError> {
        let _writes = self.writes.lock().await;
        let old_mapping = std::mem::replace(&mut *lock(&self.mapping), mapping);
        if old_mapping == mapping {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let mut changes = Vec::new();
        for (number, before) in self.store.list_presence().await? {
            let entries = self.store.calendar_entries(&number).await?;
            if entries.is_empty() && before.block.is_none() {
                continue;
            }
            let caught_up = Schedule::new(&entries, &old_mapping).advance(&before, now);
            let step = Schedule::new(&entries, &mapping).advance(&caught_up.state, now);
            if !same_plan(&before, &step.state) {
                self.store.save_presence(&number, &step.state).await?;
            }
            let last = caught_up
                .transitions
                .iter()
                .chain(&step.transitions)
                .last()
                .map(|t| t.at);
            changes.extend(self.settle(&number, &before, &step.state, last).await);
        }
        Ok(changes)
    }

    fn schedule(&self, entries: &[CalendarEntry]) -> Schedule {
        Schedule::new(entries, &self.mapping())
    }

    async fn require_extension(&self, number: &str) -> Result<(), PresenceError> {
        match self.extensions.get_extension(number).await? {
            Some(_) => Ok(()),
            None => Err(PresenceError::UnknownExtension(number.to_owned())),
        }
    }

    /// After a save: re-plans the extension's next transition and publishes the net change.
    async fn settle(
        &self,
        number: &str,
        before: &PresenceState,
        after: &PresenceState,
        last_transition: Option<Timestamp>,
    ) -> Option<PresenceChange> {
        if lock(&self.due).set(number, after.until) {
            self.replanned.notify_one();
        }
        if (before.status, before.source) == (after.status, after.source) {
            return None;
        }
        let change = PresenceChange {
            number: number.to_owned(),
            status: after.status,
            source: after.source,
            until: after.until,
            at: last_transition.unwrap_or(after.as_of),
        };
        // No subscriber is not an error: nobody is watching a board right now.
        let _ = self.events.send(change.clone());
        if before.status != after.status {
            for sink in &self.sinks {
                if let Err(e) = sink.publish(number, after.status).await {
                    tracing::warn!(extension = %number, error = %e, "a presence sink refused a status change");
                }
            }
        }
        Some(change)
    }
}

/// Same presence and same next change: storing the newer one would only move `as_of`.
fn same_plan(a: &PresenceState, b: &PresenceState) -> bool {
    a.same_presence(b) && a.until == b.until
}

/// A poisoned lock only means another task panicked mid-update of plain data; carry on.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every extension, a page at a time, in the store's order.
pub(super) async fn all_extensions(
    store: &dyn ExtensionStore,
) -> Result<Vec<ExtensionRecord>, StoreError> {
    let mut all: Vec<ExtensionRecord> = Vec::new();
    loop {
        let query = ExtensionQuery {
            after: all.last().map(|e| e.number.clone()),
            limit: LIST_PAGE,
            ..Default::default()
        };
        let page = store.list_extensions(&query).await?;
        let done = page.len() < LIST_PAGE as usize;
        let before = all.len();
        all.extend(page);
        if done || all.len() == before {
            return Ok(all);
        }
    }
}
