//! In-memory ports for the calendar tests: an extension store, a presence store, a calendar
//! source, a directory, a sink and a settable clock.
#![allow(dead_code)] // each test file uses a different part

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use switchboard_core::Clock;
use switchboard_core::calendar::PresenceService;
use switchboard_core::ports::*;
use switchboard_core::presence::*;
use switchboard_core::users::*;

/// `HH:MM` or `HH:MM:SS` on 2 June 2025, UTC.
pub fn t(time: &str) -> Timestamp {
    let time = if time.len() == 5 {
        format!("{time}:00")
    } else {
        time.to_owned()
    };
    format!("2025-06-02T{time}Z").parse().unwrap()
}

pub fn entry(id: &str, start: &str, end: &str, show_as: ShowAs) -> CalendarEntry {
    CalendarEntry {
        id: id.into(),
        start: t(start),
        end: t(end),
        show_as,
        is_all_day: false,
        is_cancelled: false,
    }
}

pub fn busy(id: &str, start: &str, end: &str) -> CalendarEntry {
    entry(id, start, end, ShowAs::Busy)
}

/// The Entra id of the user behind extension `number`.
pub fn user_id(number: &str) -> String {
    format!("00000000-0000-4000-8000-{number:0>12}")
}

/// A timed Graph event on 2 June 2025 (UTC wall-clock, as asked for with `Prefer`).
pub fn event(id: &str, start: &str, end: &str, show_as: ShowAs) -> SourceEvent {
    SourceEvent {
        id: id.into(),
        start: civil(&format!("2025-06-02T{start}")),
        end: civil(&format!("2025-06-02T{end}")),
        show_as,
        is_all_day: false,
        is_cancelled: false,
    }
}

pub fn civil(s: &str) -> DateTime {
    s.parse().unwrap()
}

/// The zones the tests know (no tz database needed).
pub fn zones(name: &str) -> Option<TimeZone> {
    match name {
        "Europe/Berlin" => TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").ok(),
        _ => None,
    }
}

#[derive(Debug)]
pub struct TestClock(Mutex<Timestamp>);

impl TestClock {
    pub fn at(time: &str) -> Arc<Self> {
        Arc::new(Self(Mutex::new(t(time))))
    }
    pub fn set(&self, time: &str) {
        *self.0.lock().unwrap() = t(time);
    }
    pub fn set_instant(&self, at: Timestamp) {
        *self.0.lock().unwrap() = at;
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

// --- extensions ------------------------------------------------------------------------------

#[derive(Debug, Default)]
pub struct FakeExtensions {
    pub records: Mutex<Vec<ExtensionRecord>>,
    pub settings: Mutex<HashMap<String, serde_json::Value>>,
    pub runs: Mutex<Vec<SyncRunRecord>>,
    pub states: Mutex<HashMap<String, SyncState>>,
}

impl FakeExtensions {
    /// Synced, enabled extensions for these numbers.
    pub fn with(numbers: &[&str]) -> Arc<Self> {
        let store = Self::default();
        for number in numbers {
            store.add(number, Some(user_id(number)), true);
        }
        Arc::new(store)
    }

    pub fn add(&self, number: &str, graph_user_id: Option<String>, enabled: bool) {
        let mut records = self.records.lock().unwrap();
        records.push(ExtensionRecord {
            number: number.into(),
            origin: if graph_user_id.is_some() {
                Origin::AzureAd
            } else {
                Origin::Local
            },
            graph_user_id,
            fields: SyncedFields::default(),
            enabled,
            excluded: false,
            groups: Vec::new(),
            created_at: t("00:00"),
            updated_at: t("00:00"),
            synced_at: None,
        });
        records.sort_by(|a, b| (a.number.len(), &a.number).cmp(&(b.number.len(), &b.number)));
    }

    pub fn last_run(&self) -> SyncRunRecord {
        self.runs.lock().unwrap().last().unwrap().clone()
    }
}

#[async_trait]
impl ExtensionStore for FakeExtensions {
    async fn list_extensions(
        &self,
        query: &ExtensionQuery,
    ) -> Result<Vec<ExtensionRecord>, StoreError> {
        let key = |n: &str| (n.len(), n.to_owned());
        Ok(self
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| {
                query
                    .after
                    .as_deref()
                    .is_none_or(|a| key(&r.number) > key(a))
            })
            .take(query.limit.max(1) as usize)
            .cloned()
            .collect())
    }
    async fn get_extension(&self, number: &str) -> Result<Option<ExtensionRecord>, StoreError> {
        Ok(self
            .records
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.number == number)
            .cloned())
    }
    async fn count_extensions(&self) -> Result<u64, StoreError> {
        Ok(self.records.lock().unwrap().len() as u64)
    }
    async fn create_local_extension(
        &self,
        _: &str,
        _: &SyncedFields,
        _: &str,
        _: Timestamp,
    ) -> Result<(), StoreError> {
        unreachable!("not used by the calendar")
    }
    async fn edit_extension(
        &self,
        _: &str,
        _: &SyncedFields,
        _: &str,
        _: Timestamp,
    ) -> Result<bool, StoreError> {
        unreachable!("not used by the calendar")
    }
    async fn set_excluded(
        &self,
        _: &str,
        _: bool,
        _: &str,
        _: Timestamp,
    ) -> Result<bool, StoreError> {
        unreachable!("not used by the calendar")
    }
    async fn delete_extension(&self, _: &str, _: &str, _: Timestamp) -> Result<bool, StoreError> {
        unreachable!("not used by the calendar")
    }
    async fn planning_snapshot(&self) -> Result<PlanningSnapshot, StoreError> {
        unreachable!("not used by the calendar")
    }
    async fn extensions_for_users(&self, ids: &[String]) -> Result<Vec<Extension>, StoreError> {
        Ok(self
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.graph_user_id.as_ref().is_some_and(|id| ids.contains(id)))
            .map(ExtensionRecord::planning_view)
            .collect())
    }
    async fn synced_user_ids_page(
        &self,
        _: Option<&str>,
        _: u32,
    ) -> Result<Vec<(String, String)>, StoreError> {
        unreachable!("not used by the calendar")
    }
    async fn rebuild_department_groups(&self, _: bool) -> Result<u64, StoreError> {
        unreachable!("not used by the calendar")
    }
    async fn admin_deleted_synced_users(&self, _: u32) -> Result<Vec<String>, StoreError> {
        unreachable!("not used by the calendar")
    }
    async fn locally_edited_synced_users(&self, _: u32) -> Result<Vec<String>, StoreError> {
        unreachable!("not used by the calendar")
    }
    async fn apply_user_batch(&self, _: &UserSyncBatch) -> Result<(), StoreError> {
        unreachable!("not used by the calendar")
    }
    async fn load_sync_state(&self, key: &str) -> Result<SyncState, StoreError> {
        Ok(self
            .states
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_default())
    }
    async fn save_sync_state(&self, key: &str, state: &SyncState) -> Result<(), StoreError> {
        self.states
            .lock()
            .unwrap()
            .insert(key.into(), state.clone());
        Ok(())
    }
    async fn save_sync_run(&self, run: &SyncRunRecord) -> Result<(), StoreError> {
        let mut runs = self.runs.lock().unwrap();
        match runs.iter_mut().find(|r| r.id == run.id) {
            Some(r) => *r = run.clone(),
            None => runs.push(run.clone()),
        }
        Ok(())
    }
    async fn recent_sync_runs(
        &self,
        kind: &str,
        limit: u32,
    ) -> Result<Vec<SyncRunRecord>, StoreError> {
        Ok(self
            .runs
            .lock()
            .unwrap()
            .iter()
            .rev()
            .filter(|r| r.kind == kind)
            .take(limit as usize)
            .cloned()
            .collect())
    }
    async fn audit_log(&self, _: Option<&str>, _: u32) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(Vec::new())
    }
    async fn load_setting(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self.settings.lock().unwrap().get(key).cloned())
    }
    async fn save_setting(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        self.settings
            .lock()
            .unwrap()
            .insert(key.into(), value.clone());
        Ok(())
    }
}

// --- presence --------------------------------------------------------------------------------

/// Per extension: its entries and its state.
type PresenceRows = BTreeMap<String, (Vec<CalendarEntry>, Option<PresenceState>)>;

#[derive(Debug, Default)]
pub struct FakePresence {
    pub rows: Mutex<PresenceRows>,
    /// Every write, in order: "calendar 100", "presence 100", "remove 100".
    pub writes: Mutex<Vec<String>>,
    pub fail_saves: Mutex<bool>,
}

impl FakePresence {
    pub fn state(&self, number: &str) -> Option<PresenceState> {
        self.rows.lock().unwrap().get(number)?.1.clone()
    }
    pub fn stored_entries(&self, number: &str) -> Vec<CalendarEntry> {
        self.rows
            .lock()
            .unwrap()
            .get(number)
            .map(|r| r.0.clone())
            .unwrap_or_default()
    }
    pub fn write_count(&self) -> usize {
        self.writes.lock().unwrap().len()
    }
    fn check(&self) -> Result<(), StoreError> {
        if *self.fail_saves.lock().unwrap() {
            return Err(StoreError::Database("disk full".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl PresenceStore for FakePresence {
    async fn save_calendar(
        &self,
        number: &str,
        entries: &[CalendarEntry],
        state: &PresenceState,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.rows
            .lock()
            .unwrap()
            .insert(number.into(), (entries.to_vec(), Some(state.clone())));
        self.writes
            .lock()
            .unwrap()
            .push(format!("calendar {number}"));
        Ok(())
    }
    async fn calendar_entries(&self, number: &str) -> Result<Vec<CalendarEntry>, StoreError> {
        Ok(self.stored_entries(number))
    }
    async fn load_presence(&self, number: &str) -> Result<Option<PresenceState>, StoreError> {
        Ok(self.state(number))
    }
    async fn save_presence(&self, number: &str, state: &PresenceState) -> Result<(), StoreError> {
        self.check()?;
        self.rows
            .lock()
            .unwrap()
            .entry(number.into())
            .or_default()
            .1 = Some(state.clone());
        self.writes
            .lock()
            .unwrap()
            .push(format!("presence {number}"));
        Ok(())
    }
    async fn list_presence(&self) -> Result<Vec<(String, PresenceState)>, StoreError> {
        Ok(self
            .rows
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(n, (_, s))| Some((n.clone(), s.clone()?)))
            .collect())
    }
    async fn remove_calendar(&self, number: &str) -> Result<(), StoreError> {
        self.check()?;
        if let Some(row) = self.rows.lock().unwrap().get_mut(number) {
            row.0.clear();
        }
        self.writes.lock().unwrap().push(format!("remove {number}"));
        Ok(())
    }
}

/// What a SIP engine would have been told.
#[derive(Debug, Default)]
pub struct RecordingSink(pub Mutex<Vec<(String, Status)>>);

#[async_trait]
impl PresenceSink for RecordingSink {
    async fn publish(&self, number: &str, status: Status) -> Result<(), String> {
        self.0.lock().unwrap().push((number.into(), status));
        Ok(())
    }
}

// --- Graph -----------------------------------------------------------------------------------

/// calendarView per mailbox, served `page_size` events per page.
#[derive(Debug)]
pub struct FakeCalendars {
    pub calendars: Mutex<HashMap<String, Result<Vec<SourceEvent>, MailboxError>>>,
    pub page_size: usize,
    /// Every `read_calendars` call's reads.
    pub calls: Mutex<Vec<Vec<CalendarRead>>>,
    /// `mailboxSettings/timeZone` per mailbox; absent ones answer `None`.
    pub zones: Mutex<HashMap<String, Result<Option<String>, MailboxError>>>,
    /// Every `mailbox_time_zones` call's mailboxes.
    pub zone_calls: Mutex<Vec<Vec<String>>>,
}

impl FakeCalendars {
    pub fn new(page_size: usize) -> Arc<Self> {
        Arc::new(Self {
            calendars: Mutex::new(HashMap::new()),
            page_size,
            calls: Mutex::new(Vec::new()),
            zones: Mutex::new(HashMap::new()),
            zone_calls: Mutex::new(Vec::new()),
        })
    }
    pub fn set_zone(&self, number: &str, zone: Result<Option<String>, MailboxError>) {
        self.zones.lock().unwrap().insert(user_id(number), zone);
    }
    pub fn set(&self, number: &str, events: Vec<SourceEvent>) {
        self.calendars
            .lock()
            .unwrap()
            .insert(user_id(number), Ok(events));
    }
    pub fn fail(&self, number: &str, error: MailboxError) {
        self.calendars
            .lock()
            .unwrap()
            .insert(user_id(number), Err(error));
    }
    pub fn mailboxes_read(&self) -> Vec<String> {
        let mut read: Vec<String> = self
            .calls
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .filter(|r| r.link.is_none())
            .map(|r| r.mailbox.clone())
            .collect();
        read.sort();
        read
    }
}

#[async_trait]
impl CalendarSource for FakeCalendars {
    async fn read_calendars(
        &self,
        reads: Vec<CalendarRead>,
    ) -> Vec<Result<CalendarPage, MailboxError>> {
        self.calls.lock().unwrap().push(reads.clone());
        let calendars = self.calendars.lock().unwrap();
        reads
            .iter()
            .map(|read| {
                let events = match calendars.get(&read.mailbox) {
                    Some(Ok(events)) => events,
                    Some(Err(e)) => return Err(e.clone()),
                    None => return Ok(CalendarPage::default()),
                };
                let skip: usize = read
                    .link
                    .as_deref()
                    .and_then(|l| l.rsplit('=').next())
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let page: Vec<SourceEvent> = events
                    .iter()
                    .skip(skip)
                    .take(self.page_size)
                    .cloned()
                    .collect();
                let next = (skip + self.page_size < events.len()).then(|| {
                    format!(
                        "https://graph.example/v1.0/users/{}/calendarView?$skip={}",
                        read.mailbox,
                        skip + self.page_size
                    )
                });
                Ok(CalendarPage { events: page, next })
            })
            .collect()
    }

    async fn mailbox_time_zones(
        &self,
        mailboxes: Vec<String>,
    ) -> Vec<Result<Option<String>, MailboxError>> {
        self.zone_calls.lock().unwrap().push(mailboxes.clone());
        let zones = self.zones.lock().unwrap();
        mailboxes
            .iter()
            .map(|m| zones.get(m).cloned().unwrap_or(Ok(None)))
            .collect()
    }
}

#[derive(Debug, Default)]
pub struct FakeDirectory {
    pub groups: Mutex<HashMap<String, Vec<String>>>,
}

#[async_trait]
impl DirectorySource for FakeDirectory {
    async fn users_page(&self, _: &DirectoryCursor) -> Result<DirectoryPage, DirectoryError> {
        unreachable!("not used by the calendar")
    }
    async fn users_by_ids(&self, _: &[String]) -> Result<Vec<DirectoryUser>, DirectoryError> {
        unreachable!("not used by the calendar")
    }
    async fn group_member_ids(&self, group_id: &str) -> Result<Vec<String>, DirectoryError> {
        Ok(self
            .groups
            .lock()
            .unwrap()
            .get(group_id)
            .cloned()
            .unwrap_or_default())
    }
    async fn search_users(&self, _: &str, _: u32) -> Result<Vec<DirectoryUser>, DirectoryError> {
        Ok(Vec::new())
    }
    async fn search_groups(&self, _: &str, _: u32) -> Result<Vec<DirectoryGroup>, DirectoryError> {
        Ok(Vec::new())
    }
}

/// A presence service over the fakes, its plan loaded as at start.
pub async fn service(
    store: &Arc<FakePresence>,
    extensions: &Arc<FakeExtensions>,
    clock: &Arc<TestClock>,
    sink: Option<Arc<RecordingSink>>,
) -> PresenceService {
    let mut svc = PresenceService::new(
        store.clone(),
        extensions.clone(),
        clock.clone(),
        ShowAsMapping::default(),
    );
    if let Some(sink) = sink {
        svc = svc.with_sink(sink);
    }
    svc.rebuild_plan().await.unwrap();
    svc
}
