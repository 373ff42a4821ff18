//! A calendar sync run, written against the ports: read each in-scope mailbox's calendarView
//! for the window ahead, in waves, and hand the entries to the [`PresenceService`].

use super::config::{CALENDAR_SYNC_SETTINGS_KEY, CALENDAR_SYNC_STATE_KEY, CalendarSyncConfig};
use super::convert::{ZoneLookup, entries_from_events, resolve_zone};
use super::service::{PresenceError, PresenceService, all_extensions};
use super::windows_zones::{iana_name, renamed_zone};
use crate::clock::Clock;
use crate::ports::{
    CalendarRead, CalendarSource, DirectoryError, DirectorySource, ExtensionStore, MailboxError,
    SourceEvent, StoreError,
};
use crate::users::{FreshnessMode, RunCounts, RunMode, RunRequest, Scope, SyncRunRecord};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Mailboxes read together: one `read_calendars` call (the adapter batches and throttles it),
/// then their entries are applied before the next wave is read.
pub const CALENDAR_WAVE: usize = 100;
/// A mailbox whose calendarView needs more pages than this within one window is given up on
/// for the run: a nextLink that never ends must not stall the sync.
const MAX_PAGES: usize = 1000;
/// Why a mailbox without Exchange is skipped (shown in the console's skipped list).
pub const NO_MAILBOX_REASON: &str = "no mailbox (plan without Exchange)";

/// An in-scope user whose calendar cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedMailbox {
    pub number: String,
    /// The Entra object id.
    pub mailbox: String,
    pub reason: String,
}

/// A mailbox whose read failed in a run; the next run tries again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailboxFailure {
    pub number: String,
    pub mailbox: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CalendarRunOutcome {
    pub run: SyncRunRecord,
    pub skipped: Vec<SkippedMailbox>,
    pub failed: Vec<MailboxFailure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CalendarSyncStatus {
    pub enabled: bool,
    pub mode: FreshnessMode,
    pub running: Option<SyncRunRecord>,
    pub last_run: Option<SyncRunRecord>,
    pub next_run: Option<Timestamp>,
    pub last_full_sync: Option<Timestamp>,
    /// In-scope users without a mailbox, as of the last run.
    pub skipped: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum CalendarSyncError {
    #[error("a calendar sync is already running; wait for it to finish")]
    AlreadyRunning,
    #[error("calendar sync is disabled; enable it on the Calendar Sync tab first")]
    Disabled,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Presence(#[from] PresenceError),
    #[error("invalid calendar sync settings: {0}")]
    InvalidSettings(String),
}

#[derive(Debug)]
pub struct CalendarSync {
    source: Arc<dyn CalendarSource>,
    directory: Arc<dyn DirectorySource>,
    store: Arc<dyn ExtensionStore>,
    presence: Arc<PresenceService>,
    clock: Arc<dyn Clock>,
    zones: ZoneLookup,
    mode: FreshnessMode,
    running: tokio::sync::Mutex<()>,
    progress: Mutex<Option<SyncRunRecord>>,
    next_run: Mutex<Option<Timestamp>>,
    /// By extension number.
    skipped: Mutex<BTreeMap<String, SkippedMailbox>>,
    /// Numbers with stored entries, for finding those that left the scope without reading
    /// every extension's entries each run. `None` until the first run (or a full run) counts.
    with_entries: Mutex<Option<BTreeSet<String>>>,
}

impl CalendarSync {
    pub fn new(
        source: Arc<dyn CalendarSource>,
        directory: Arc<dyn DirectorySource>,
        store: Arc<dyn ExtensionStore>,
        presence: Arc<PresenceService>,
        clock: Arc<dyn Clock>,
        zones: ZoneLookup,
        mode: FreshnessMode,
    ) -> Self {
        Self {
            source,
            directory,
            store,
            presence,
            clock,
            zones,
            mode,
            running: tokio::sync::Mutex::new(()),
            progress: Mutex::new(None),
            next_run: Mutex::new(None),
            skipped: Mutex::new(BTreeMap::new()),
            with_entries: Mutex::new(None),
        }
    }

    pub fn presence(&self) -> &Arc<PresenceService> {
        &self.presence
    }

    pub async fn config(&self) -> Result<CalendarSyncConfig, CalendarSyncError> {
        Ok(CalendarSyncConfig::load(self.store.as_ref()).await?)
    }

    /// Validates and stores the settings. A new mapping re-plans every status at once;
    /// disabling the sync forgets every calendar, so nothing the calendar said keeps firing.
    pub async fn save_config(&self, config: &CalendarSyncConfig) -> Result<(), CalendarSyncError> {
        config
            .validate()
            .map_err(CalendarSyncError::InvalidSettings)?;
        self.zone(&config.time_zone)?;
        let value = serde_json::to_value(config)
            .map_err(|e| CalendarSyncError::InvalidSettings(e.to_string()))?;
        let before = self.config().await?;
        self.store
            .save_setting(CALENDAR_SYNC_SETTINGS_KEY, &value)
            .await?;
        if before.mapping != config.mapping {
            self.presence.set_mapping(config.mapping).await?;
        }
        if before.enabled && !config.enabled {
            // A run in progress stops after its current wave (it checks the setting).
            let _guard = self.running.lock().await;
            for number in self.presence.numbers_with_entries().await? {
                self.presence.clear_entries(&number).await?;
            }
            *lock(&self.with_entries) = Some(BTreeSet::new());
            lock(&self.skipped).clear();
        }
        Ok(())
    }

    pub fn set_next_run(&self, at: Option<Timestamp>) {
        *lock(&self.next_run) = at;
    }

    pub fn is_running(&self) -> bool {
        self.running.try_lock().is_err()
    }

    /// In-scope users without a mailbox, as of the last runs.
    pub fn skipped(&self) -> Vec<SkippedMailbox> {
        lock(&self.skipped).values().cloned().collect()
    }

    pub async fn status(&self) -> Result<CalendarSyncStatus, CalendarSyncError> {
        let config = self.config().await?;
        let last_run = self
            .store
            .recent_sync_runs("calendar", 5)
            .await?
            .into_iter()
            .find(|r| r.finished_at.is_some());
        let state = self.store.load_sync_state(CALENDAR_SYNC_STATE_KEY).await?;
        Ok(CalendarSyncStatus {
            enabled: config.enabled,
            mode: self.mode,
            running: lock(&self.progress).clone(),
            last_run,
            next_run: *lock(&self.next_run),
            last_full_sync: state.last_full_sync,
            skipped: lock(&self.skipped).len(),
        })
    }

    /// Reads every in-scope mailbox and applies what changed; extensions that left the scope
    /// lose their entries. `full` also recounts which extensions have entries stored (repairing
    /// anything another instance left behind) and marks the daily full sync as done. A dry run
    /// reads and counts but changes nothing.
    pub async fn run(&self, request: RunRequest) -> Result<CalendarRunOutcome, CalendarSyncError> {
        let Ok(_guard) = self.running.try_lock() else {
            return Err(CalendarSyncError::AlreadyRunning);
        };
        let _progress = ClearOnDrop(&self.progress);
        let mut job = self.start(&request, RunMode::Full).await?;
        let result = job.everyone().await;
        job.finish(result.err()).await
    }

    /// Reads these mailboxes (Entra object ids) now: what a change notification on their
    /// events asks for. Recorded with mode `delta` (a targeted read, not the whole scope). Waits for a run in progress instead of failing, since a notification
    /// arriving during a long run must not be lost; callers coalesce bursts.
    pub async fn run_for_mailboxes(
        &self,
        ids: &[String],
    ) -> Result<CalendarRunOutcome, CalendarSyncError> {
        let _guard = self.running.lock().await;
        let _progress = ClearOnDrop(&self.progress);
        let request = RunRequest {
            full: false,
            dry_run: false,
            actor: "sync:calendar".into(),
        };
        let mut job = self.start(&request, RunMode::Delta).await?;
        let result = job.mailboxes(ids).await;
        job.finish(result.err()).await
    }

    /// The Entra ids of the mailboxes a run would read: enabled extensions in scope, minus
    /// those the last run skipped for having no mailbox. Empty while the sync is disabled.
    pub async fn in_scope_mailboxes(&self) -> Result<BTreeSet<String>, CalendarSyncError> {
        let config = self.config().await?;
        if !config.enabled {
            return Ok(BTreeSet::new());
        }
        let mut members = HashSet::new();
        if let Scope::Groups(groups) = &config.scope {
            for group in groups {
                members.extend(self.directory.group_member_ids(group).await?);
            }
        }
        let no_mailbox: HashSet<String> = lock(&self.skipped)
            .values()
            .map(|s| s.mailbox.clone())
            .collect();
        Ok(all_extensions(self.store.as_ref())
            .await?
            .into_iter()
            .filter(|e| e.enabled)
            .filter_map(|e| e.graph_user_id)
            .filter(|m| config.scope.includes(m, members.contains(m)) && !no_mailbox.contains(m))
            .collect())
    }

    fn zone(&self, name: &str) -> Result<TimeZone, CalendarSyncError> {
        resolve_zone(self.zones, name).ok_or_else(|| {
            CalendarSyncError::InvalidSettings(format!(
                "unknown time zone \"{name}\": use an IANA name such as Europe/Berlin or UTC"
            ))
        })
    }

    async fn start(
        &self,
        request: &RunRequest,
        mode: RunMode,
    ) -> Result<Job<'_>, CalendarSyncError> {
        let config = self.config().await?;
        if !config.enabled {
            return Err(CalendarSyncError::Disabled);
        }
        let zone = self.zone(&config.time_zone)?;
        if !request.dry_run {
            if self.presence.mapping() != config.mapping {
                // Another instance saved the settings.
                self.presence.set_mapping(config.mapping).await?;
            }
            if mode == RunMode::Full {
                // States other instances stored (a user's change through them) join the plan.
                self.presence.rebuild_plan().await?;
            }
        }
        let now = self.clock.now();
        let window = SignedDuration::from_hours(i64::from(config.window_hours));
        Ok(Job {
            sync: self,
            request: request.clone(),
            window_start: now,
            window_end: now + window,
            zone,
            scope: config.scope,
            record: SyncRunRecord {
                id: uuid::Uuid::new_v4().to_string(),
                kind: "calendar".into(),
                mode,
                started_at: now,
                finished_at: None,
                counts: RunCounts::default(),
                processed: 0,
                error: None,
            },
            skipped: Vec::new(),
            failed: Vec::new(),
        })
    }
}

struct ClearOnDrop<'a>(&'a Mutex<Option<SyncRunRecord>>);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        *lock(self.0) = None;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An in-scope extension and its mailbox.
#[derive(Debug, Clone)]
struct Target {
    number: String,
    mailbox: String,
}

/// The state of one run.
struct Job<'a> {
    sync: &'a CalendarSync,
    request: RunRequest,
    window_start: Timestamp,
    window_end: Timestamp,
    zone: TimeZone,
    scope: Scope,
    record: SyncRunRecord,
    skipped: Vec<SkippedMailbox>,
    failed: Vec<MailboxFailure>,
}

impl Job<'_> {
    async fn publish(&self) -> Result<(), CalendarSyncError> {
        *lock(&self.sync.progress) = Some(self.record.clone());
        if !self.request.dry_run {
            self.sync.store.save_sync_run(&self.record).await?;
        }
        Ok(())
    }

    async fn finish(
        mut self,
        error: Option<CalendarSyncError>,
    ) -> Result<CalendarRunOutcome, CalendarSyncError> {
        let now = self.sync.clock.now();
        self.record.finished_at = Some(now);
        let partial = self.failed.first().map(|first| {
            format!(
                "{} mailbox(es) could not be read and keep their previous entries until the next run; first: extension {}: {}",
                self.failed.len(),
                first.number,
                first.error
            )
        });
        self.record.error = error.as_ref().map(ToString::to_string).or(partial);
        if !self.request.dry_run {
            self.sync.store.save_sync_run(&self.record).await?;
            let mut state = self
                .sync
                .store
                .load_sync_state(CALENDAR_SYNC_STATE_KEY)
                .await?;
            if error.is_none() && self.request.full && self.record.mode == RunMode::Full {
                state.last_full_sync = Some(now);
            }
            state.last_error.clone_from(&self.record.error);
            self.sync
                .store
                .save_sync_state(CALENDAR_SYNC_STATE_KEY, &state)
                .await?;
        }
        match error {
            Some(e) => Err(e),
            None => Ok(CalendarRunOutcome {
                run: self.record,
                skipped: self.skipped,
                failed: self.failed,
            }),
        }
    }

    /// Members of the scope's groups; empty for other scopes.
    async fn group_members(&self) -> Result<HashSet<String>, CalendarSyncError> {
        let mut members = HashSet::new();
        if let Scope::Groups(groups) = &self.scope {
            for group in groups {
                members.extend(self.sync.directory.group_member_ids(group).await?);
            }
        }
        Ok(members)
    }

    fn in_scope(&self, mailbox: &str, members: &HashSet<String>) -> bool {
        self.scope.includes(mailbox, members.contains(mailbox))
    }

    /// Numbers with stored entries; recounted from the store when unknown or on a full run.
    async fn with_entries(&self) -> Result<BTreeSet<String>, CalendarSyncError> {
        if !self.request.full
            && let Some(known) = lock(&self.sync.with_entries).clone()
        {
            return Ok(known);
        }
        let counted: BTreeSet<String> = self
            .sync
            .presence
            .numbers_with_entries()
            .await?
            .into_iter()
            .collect();
        *lock(&self.sync.with_entries) = Some(counted.clone());
        Ok(counted)
    }

    /// The whole scope.
    async fn everyone(&mut self) -> Result<(), CalendarSyncError> {
        self.publish().await?;
        let members = self.group_members().await?;
        let targets: Vec<Target> = all_extensions(self.sync.store.as_ref())
            .await?
            .into_iter()
            .filter(|e| e.enabled)
            .filter_map(|e| {
                let mailbox = e.graph_user_id?;
                Some(Target {
                    number: e.number,
                    mailbox,
                })
            })
            .filter(|t| self.in_scope(&t.mailbox, &members))
            .collect();
        let in_scope: HashSet<&str> = targets.iter().map(|t| t.number.as_str()).collect();
        let leavers: Vec<String> = self
            .with_entries()
            .await?
            .into_iter()
            .filter(|number| !in_scope.contains(number.as_str()))
            .collect();
        self.leave(&leavers).await?;
        self.read_all(&targets).await?;
        if !self.request.dry_run {
            // Everyone in scope was just looked at: the list is exactly this run's.
            *lock(&self.sync.skipped) = self
                .skipped
                .iter()
                .map(|s| (s.number.clone(), s.clone()))
                .collect();
        }
        Ok(())
    }

    /// Only these mailboxes.
    async fn mailboxes(&mut self, ids: &[String]) -> Result<(), CalendarSyncError> {
        self.publish().await?;
        let members = self.group_members().await?;
        let mut targets = Vec::new();
        let mut leavers = Vec::new();
        for extension in self.sync.store.extensions_for_users(ids).await? {
            let Some(mailbox) = extension.graph_user_id else {
                continue;
            };
            if extension.enabled && self.in_scope(&mailbox, &members) {
                targets.push(Target {
                    number: extension.number,
                    mailbox,
                });
            } else {
                leavers.push(extension.number);
            }
        }
        let known = self.with_entries().await?;
        leavers.retain(|number| known.contains(number));
        self.leave(&leavers).await?;
        self.read_all(&targets).await
    }

    /// Extensions that left the scope: their entries go, a calendar-set status gives way.
    async fn leave(&mut self, numbers: &[String]) -> Result<(), CalendarSyncError> {
        for number in numbers {
            self.record.counts.removed += 1;
            if self.request.dry_run {
                continue;
            }
            self.sync.presence.clear_entries(number).await?;
            if let Some(known) = lock(&self.sync.with_entries).as_mut() {
                known.remove(number);
            }
            lock(&self.sync.skipped).remove(number);
        }
        Ok(())
    }

    async fn read_all(&mut self, targets: &[Target]) -> Result<(), CalendarSyncError> {
        for wave in targets.chunks(CALENDAR_WAVE) {
            if !self.request.dry_run && !self.sync.config().await?.enabled {
                return Err(CalendarSyncError::Disabled);
            }
            let answers = self.read_wave(wave).await;
            let zones = self.all_day_zones(wave, &answers).await;
            for ((target, answer), zone) in wave.iter().zip(answers).zip(zones) {
                self.take(target, answer, zone.as_ref()).await?;
            }
            self.publish().await?;
        }
        Ok(())
    }

    /// The zone each mailbox's all-day entries are placed in: its owner's Outlook setting,
    /// asked for in one call for the mailboxes that have all-day events. `None` (the configured
    /// zone) for the others and whenever the setting is missing, unknown or unreadable: a
    /// mailbox is never failed for its zone.
    async fn all_day_zones(
        &self,
        wave: &[Target],
        answers: &[Result<Vec<SourceEvent>, MailboxError>],
    ) -> Vec<Option<TimeZone>> {
        let mut zones = vec![None; wave.len()];
        let asking: Vec<usize> = answers
            .iter()
            .enumerate()
            .filter(|(_, a)| a.as_ref().is_ok_and(|e| e.iter().any(|e| e.is_all_day)))
            .map(|(i, _)| i)
            .collect();
        if asking.is_empty() {
            return zones;
        }
        let mailboxes = asking.iter().map(|&i| wave[i].mailbox.clone()).collect();
        let names = self.sync.source.mailbox_time_zones(mailboxes).await;
        if names.len() != asking.len() {
            tracing::warn!(
                answers = names.len(),
                asked = asking.len(),
                "mailbox time zones did not match the mailboxes asked for; using the configured zone"
            );
            return zones;
        }
        for (i, name) in asking.into_iter().zip(names) {
            match name {
                Ok(Some(name)) => {
                    let iana = iana_name(&name);
                    zones[i] = resolve_zone(self.sync.zones, iana).or_else(|| {
                        renamed_zone(iana)
                            .and_then(|current| resolve_zone(self.sync.zones, current))
                    });
                    if zones[i].is_none() {
                        tracing::debug!(extension = %wave[i].number, zone = %name, "unknown mailbox time zone; using the configured zone");
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(extension = %wave[i].number, error = %e, "could not read the mailbox time zone; using the configured zone");
                }
            }
        }
        zones
    }

    /// One mailbox's answer; all-day entries go in `all_day_zone`, else the configured zone.
    async fn take(
        &mut self,
        target: &Target,
        answer: Result<Vec<SourceEvent>, MailboxError>,
        all_day_zone: Option<&TimeZone>,
    ) -> Result<(), CalendarSyncError> {
        let events = match answer {
            Ok(events) => events,
            Err(MailboxError::NoMailbox) => {
                self.record.counts.skipped += 1;
                let skipped = SkippedMailbox {
                    number: target.number.clone(),
                    mailbox: target.mailbox.clone(),
                    reason: NO_MAILBOX_REASON.into(),
                };
                self.skipped.push(skipped.clone());
                if !self.request.dry_run {
                    lock(&self.sync.skipped).insert(target.number.clone(), skipped);
                    // The mailbox is gone (e.g. the licence changed): so are its entries.
                    let had_entries = lock(&self.sync.with_entries)
                        .as_ref()
                        .is_none_or(|known| known.contains(&target.number));
                    if had_entries {
                        self.sync.presence.clear_entries(&target.number).await?;
                        if let Some(known) = lock(&self.sync.with_entries).as_mut() {
                            known.remove(&target.number);
                        }
                    }
                }
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(extension = %target.number, error = %e, "could not read a calendar");
                self.failed.push(MailboxFailure {
                    number: target.number.clone(),
                    mailbox: target.mailbox.clone(),
                    error: e.to_string(),
                });
                return Ok(());
            }
        };
        self.record.processed += 1;
        let (entries, unreadable) =
            entries_from_events(&events, all_day_zone.unwrap_or(&self.zone));
        for (event_id, error) in unreadable {
            tracing::warn!(extension = %target.number, event = %event_id, %error, "a calendar entry was left out");
        }
        if self.request.dry_run {
            if self.sync.presence.entries(&target.number).await? != entries {
                self.record.counts.updated += 1;
            }
            return Ok(());
        }
        let has_entries = !entries.is_empty();
        let outcome = self
            .sync
            .presence
            .apply_entries(&target.number, entries)
            .await?;
        if outcome.entries_changed {
            self.record.counts.updated += 1;
        }
        lock(&self.sync.skipped).remove(&target.number);
        if let Some(known) = lock(&self.sync.with_entries).as_mut() {
            if has_entries {
                known.insert(target.number.clone());
            } else {
                known.remove(&target.number);
            }
        }
        Ok(())
    }

    /// Every page of each mailbox's calendarView for the window: one `read_calendars` call per
    /// round, nextLinks followed until every mailbox is done. One answer per target.
    async fn read_wave(&self, wave: &[Target]) -> Vec<Result<Vec<SourceEvent>, MailboxError>> {
        let mut events: Vec<Vec<SourceEvent>> = vec![Vec::new(); wave.len()];
        let mut done: Vec<Option<MailboxError>> = vec![None; wave.len()];
        let mut pending: Vec<(usize, Option<String>)> =
            (0..wave.len()).map(|i| (i, None)).collect();
        let mut rounds = 0;
        while !pending.is_empty() {
            if rounds == MAX_PAGES {
                for (i, _) in pending {
                    done[i] = Some(MailboxError::Graph(DirectoryError::Protocol(format!(
                        "the calendar still had more pages after {MAX_PAGES}"
                    ))));
                }
                break;
            }
            rounds += 1;
            let reads: Vec<CalendarRead> = pending
                .iter()
                .map(|(i, link)| CalendarRead {
                    mailbox: wave[*i].mailbox.clone(),
                    start: self.window_start,
                    end: self.window_end,
                    link: link.clone(),
                })
                .collect();
            let answers = self.sync.source.read_calendars(reads).await;
            if answers.len() != pending.len() {
                let error = MailboxError::Graph(DirectoryError::Protocol(format!(
                    "{} answers for {} calendar reads",
                    answers.len(),
                    pending.len()
                )));
                for (i, _) in pending {
                    done[i] = Some(error.clone());
                }
                break;
            }
            let mut next = Vec::new();
            for ((i, _), answer) in pending.into_iter().zip(answers) {
                match answer {
                    Ok(page) => {
                        events[i].extend(page.events);
                        if let Some(link) = page.next {
                            next.push((i, Some(link)));
                        }
                    }
                    Err(e) => done[i] = Some(e),
                }
            }
            pending = next;
        }
        // A mailbox is applied only when every page arrived: a partial calendar would drop
        // entries that are still there.
        events
            .into_iter()
            .zip(done)
            .map(|(events, error)| match error {
                Some(e) => Err(e),
                None => Ok(events),
            })
            .collect()
    }
}
