//! A user sync run, written against the ports: stream pages from the directory, plan each page
//! against what is stored, apply it in one transaction, then plan removals. Resumable: every
//! page is committed on its own and the delta link is saved only after the last one, so a crash
//! replays (idempotently) instead of losing changes.

use super::ids::IdSet;
use super::{
    Action, DirectoryUser, Extension, PlanContext, RunCounts, RunMode, Scope, SyncRunRecord,
    SyncState, UserSyncBatch, UserSyncSettings, plan_removals, plan_user,
};
use crate::clock::Clock;
use crate::ports::{
    DirectoryChange, DirectoryCursor, DirectoryError, DirectorySource, ExtensionStore, StoreError,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Settings key of [`UserSyncConfig`].
pub const USER_SYNC_SETTINGS_KEY: &str = "user_sync";
/// Stored (user, number) pairs read per query when a full run looks for users who are gone.
const SYNCED_IDS_PAGE: u32 = 5_000;

/// Sync-state key of the users delta link.
pub const USER_SYNC_STATE_KEY: &str = "users";

/// The User Sync tab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserSyncConfig {
    pub enabled: bool,
    #[serde(flatten)]
    pub plan: UserSyncSettings,
    /// Delta polling interval when change notifications are not available.
    pub poll_interval_secs: u32,
    /// Daily full sync, local time `HH:MM` in `time_zone`.
    pub daily_full_sync_at: String,
    pub time_zone: String,
}

impl Default for UserSyncConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            plan: UserSyncSettings::default(),
            poll_interval_secs: 60,
            daily_full_sync_at: "02:00".into(),
            time_zone: "UTC".into(),
        }
    }
}

impl UserSyncConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(10..=86_400).contains(&self.poll_interval_secs) {
            return Err(format!(
                "poll_interval_secs must be between 10 and 86400 seconds, got {}",
                self.poll_interval_secs
            ));
        }
        if parse_hh_mm(&self.daily_full_sync_at).is_none() {
            return Err(format!(
                "daily_full_sync_at must be a time like 02:00, got \"{}\"",
                self.daily_full_sync_at
            ));
        }
        if !(1..=99_999_999).contains(&self.plan.numbering_start) {
            return Err(format!(
                "numbering_start must be between 1 and 99999999, got {}",
                self.plan.numbering_start
            ));
        }
        match &self.plan.scope {
            super::Scope::Only(ids) | super::Scope::Groups(ids) if ids.is_empty() => {
                return Err("this scope needs at least one Entra object id; with none, every user would leave the sync".into());
            }
            super::Scope::AllExcept(ids) | super::Scope::Only(ids) | super::Scope::Groups(ids) => {
                if let Some(bad) = ids
                    .iter()
                    .find(|id| uuid::Uuid::try_parse(id).is_err() || id.len() != 36)
                {
                    return Err(format!(
                        "\"{bad}\" is not an Entra object id (a GUID such as 1b3c5d7e-0000-4000-8000-1234567890ab)"
                    ));
                }
            }
            super::Scope::All => {}
        }
        if self.time_zone.trim().is_empty() {
            return Err("time_zone must be an IANA name such as Europe/Berlin or UTC".into());
        }
        Ok(())
    }
}

/// `HH:MM` → (hour, minute).
pub fn parse_hh_mm(s: &str) -> Option<(i8, i8)> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m) && s.trim().len() == 5).then_some((h, m))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreshnessMode {
    Notifications,
    Polling,
}

#[derive(Debug, Clone)]
pub struct RunRequest {
    pub full: bool,
    pub dry_run: bool,
    /// Audit actor: `sync:users` for scheduled runs, `admin:NAME` for "Sync now".
    pub actor: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    pub run: SyncRunRecord,
    /// The whole plan of a dry run (empty for a real run: see the audit log).
    pub plan: Vec<Action>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("a user sync is already running; wait for it to finish")]
    AlreadyRunning,
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("invalid user sync settings: {0}")]
    InvalidSettings(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct UserSyncStatus {
    pub enabled: bool,
    pub mode: FreshnessMode,
    pub running: Option<SyncRunRecord>,
    pub last_run: Option<SyncRunRecord>,
    pub next_run: Option<Timestamp>,
    pub last_full_sync: Option<Timestamp>,
}

#[derive(Debug)]
pub struct UserSync {
    source: Arc<dyn DirectorySource>,
    store: Arc<dyn ExtensionStore>,
    clock: Arc<dyn Clock>,
    mode: FreshnessMode,
    /// Where live change-notification subscriptions are kept: "notifications" is reported
    /// only while one is alive.
    subscriptions: Option<Arc<dyn crate::ports::SubscriptionStore>>,
    running: tokio::sync::Mutex<()>,
    progress: Mutex<Option<SyncRunRecord>>,
    next_run: Mutex<Option<Timestamp>>,
    /// Counts finished runs (dry runs excluded), so what derives from extensions (the
    /// caller-ID index, the calendar and contact scopes) can follow without polling the store.
    finished: tokio::sync::watch::Sender<u64>,
}

impl UserSync {
    pub fn new(
        source: Arc<dyn DirectorySource>,
        store: Arc<dyn ExtensionStore>,
        clock: Arc<dyn Clock>,
        mode: FreshnessMode,
    ) -> Self {
        Self {
            source,
            store,
            clock,
            mode,
            subscriptions: None,
            running: tokio::sync::Mutex::new(()),
            progress: Mutex::new(None),
            next_run: Mutex::new(None),
            finished: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Changes after every finished run that may have written extensions.
    pub fn finished_runs(&self) -> tokio::sync::watch::Receiver<u64> {
        self.finished.subscribe()
    }

    /// The directory the runs read: also what the console's user and group picker searches.
    pub fn directory(&self) -> &Arc<dyn DirectorySource> {
        &self.source
    }

    /// Lets the status tell whether notifications are really flowing.
    pub fn with_subscriptions(mut self, store: Arc<dyn crate::ports::SubscriptionStore>) -> Self {
        self.subscriptions = Some(store);
        self
    }

    /// Notifications only when configured AND a users subscription is alive; otherwise changes
    /// arrive by polling.
    async fn effective_mode(&self) -> Result<FreshnessMode, SyncError> {
        let (FreshnessMode::Notifications, Some(store)) = (self.mode, &self.subscriptions) else {
            return Ok(self.mode);
        };
        let now = self.clock.now();
        let alive = store
            .list_subscriptions()
            .await?
            .iter()
            .any(|s| s.resource == crate::notifications::USERS_RESOURCE && s.expires_at > now);
        Ok(if alive {
            FreshnessMode::Notifications
        } else {
            FreshnessMode::Polling
        })
    }

    pub async fn config(&self) -> Result<UserSyncConfig, SyncError> {
        match self.store.load_setting(USER_SYNC_SETTINGS_KEY).await? {
            None => Ok(UserSyncConfig::default()),
            Some(v) => serde_json::from_value(v).map_err(|e| {
                SyncError::Store(StoreError::Corrupt(format!(
                    "setting {USER_SYNC_SETTINGS_KEY}: {e}"
                )))
            }),
        }
    }

    pub async fn save_config(&self, config: &UserSyncConfig) -> Result<(), SyncError> {
        config.validate().map_err(SyncError::InvalidSettings)?;
        let value =
            serde_json::to_value(config).map_err(|e| SyncError::InvalidSettings(e.to_string()))?;
        let before = self.config().await?;
        self.store
            .save_setting(USER_SYNC_SETTINGS_KEY, &value)
            .await?;
        // Unchanged users produce no sync action, so apply the switch to everyone now.
        if before.plan.department_groups != config.plan.department_groups {
            self.store
                .rebuild_department_groups(config.plan.department_groups)
                .await?;
        }
        Ok(())
    }

    pub fn set_next_run(&self, at: Option<Timestamp>) {
        if let Ok(mut n) = self.next_run.lock() {
            *n = at;
        }
    }

    pub fn is_running(&self) -> bool {
        self.running.try_lock().is_err()
    }

    pub async fn status(&self) -> Result<UserSyncStatus, SyncError> {
        let config = self.config().await?;
        let last_run = self
            .store
            .recent_sync_runs("users", 5)
            .await?
            .into_iter()
            .find(|r| r.finished_at.is_some());
        let state = self.store.load_sync_state(USER_SYNC_STATE_KEY).await?;
        Ok(UserSyncStatus {
            enabled: config.enabled,
            mode: self.effective_mode().await?,
            running: self.progress.lock().ok().and_then(|p| p.clone()),
            last_run,
            next_run: self.next_run.lock().ok().and_then(|n| *n),
            last_full_sync: state.last_full_sync,
        })
    }

    /// One run now. A delta run when a delta link is stored and `full` is not asked for.
    pub async fn run(&self, request: RunRequest) -> Result<RunOutcome, SyncError> {
        let Ok(_guard) = self.running.try_lock() else {
            return Err(SyncError::AlreadyRunning);
        };
        // Clears the progress even when the run is dropped half-way.
        let _progress = ClearOnDrop(&self.progress);
        let config = self.config().await?;
        let state = self.store.load_sync_state(USER_SYNC_STATE_KEY).await?;
        let mut job = Job::new(self, &config.plan, &request);
        let result = match (&state.delta_link, request.full) {
            (Some(link), false) => match job.delta(link.clone(), state.clone()).await {
                Err(SyncError::Directory(DirectoryError::DeltaExpired)) => {
                    tracing::warn!("the users delta token expired; running a full sync instead");
                    job = Job::new(self, &config.plan, &request);
                    job.full(state).await
                }
                other => other,
            },
            _ => job.full(state).await,
        };
        let outcome = job.finish(result.err()).await;
        if !request.dry_run {
            self.finished.send_modify(|n| *n += 1);
        }
        outcome
    }
}

struct ClearOnDrop<'a>(&'a Mutex<Option<SyncRunRecord>>);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        if let Ok(mut p) = self.0.lock() {
            *p = None;
        }
    }
}

/// The state of one run.
struct Job<'a> {
    sync: &'a UserSync,
    settings: UserSyncSettings,
    request: RunRequest,
    record: SyncRunRecord,
    plan: Vec<Action>,
}

impl<'a> Job<'a> {
    fn new(sync: &'a UserSync, settings: &UserSyncSettings, request: &RunRequest) -> Self {
        Self {
            sync,
            settings: settings.clone(),
            request: request.clone(),
            record: SyncRunRecord {
                id: uuid::Uuid::new_v4().to_string(),
                kind: "users".into(),
                mode: RunMode::Full,
                started_at: sync.clock.now(),
                finished_at: None,
                counts: RunCounts::default(),
                processed: 0,
                error: None,
            },
            plan: Vec::new(),
        }
    }

    async fn publish(&self) -> Result<(), SyncError> {
        if let Ok(mut p) = self.sync.progress.lock() {
            *p = Some(self.record.clone());
        }
        if !self.request.dry_run {
            self.sync.store.save_sync_run(&self.record).await?;
        }
        Ok(())
    }

    async fn finish(mut self, error: Option<SyncError>) -> Result<RunOutcome, SyncError> {
        self.record.finished_at = Some(self.sync.clock.now());
        self.record.error = error.as_ref().map(ToString::to_string);
        if !self.request.dry_run {
            self.sync.store.save_sync_run(&self.record).await?;
        }
        match error {
            Some(e) => Err(e),
            None => Ok(RunOutcome {
                run: self.record,
                plan: self.plan,
            }),
        }
    }

    async fn scope_members(&self) -> Result<HashSet<String>, SyncError> {
        let mut members = HashSet::new();
        if let Scope::Groups(groups) = &self.settings.scope {
            for g in groups {
                members.extend(self.sync.source.group_member_ids(g).await?);
            }
        }
        Ok(members)
    }

    async fn apply(&mut self, actions: Vec<Action>) -> Result<(), SyncError> {
        for a in &actions {
            self.record.counts.add(a);
        }
        if self.request.dry_run {
            self.plan.extend(actions);
        } else if actions.iter().any(Action::changes_anything) {
            let batch = UserSyncBatch {
                run_id: self.record.id.clone(),
                actor: self.request.actor.clone(),
                at: self.sync.clock.now(),
                actions,
                department_groups: self.settings.department_groups,
            };
            self.sync.store.apply_user_batch(&batch).await?;
        }
        self.publish().await
    }

    /// Plans a page of users against their stored extensions.
    async fn plan_page(
        &self,
        users: &[DirectoryUser],
        members: &HashSet<String>,
        ctx: &mut PlanContext,
    ) -> Result<Vec<Action>, SyncError> {
        let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
        let stored: HashMap<String, Extension> = self
            .sync
            .store
            .extensions_for_users(&ids)
            .await?
            .into_iter()
            .filter_map(|e| Some((e.graph_user_id.clone()?, e)))
            .collect();
        Ok(users
            .iter()
            .flat_map(|u| plan_user(u, stored.get(&u.id), members.contains(&u.id), ctx))
            .collect())
    }

    async fn full(&mut self, mut state: SyncState) -> Result<(), SyncError> {
        self.record.mode = RunMode::Full;
        self.publish().await?;
        // Take the delta token first: changes made while we list are replayed by the next delta.
        let delta_link = self.latest_delta_link().await?;
        let snapshot = self.sync.store.planning_snapshot().await?;
        let mut ctx = PlanContext::from_snapshot(self.settings.clone(), snapshot);
        let members = self.scope_members().await?;
        let mut seen = IdSet::default();
        // A preview lists guests too, so the admin sees why they get no extension; real runs
        // leave them out server-side (fewer users to read) unless they are wanted.
        let mut cursor = DirectoryCursor::FullList {
            include_guests: self.settings.include_guests || self.request.dry_run,
        };
        loop {
            let page = self.sync.source.users_page(&cursor).await?;
            let users: Vec<DirectoryUser> = page
                .changes
                .into_iter()
                .filter_map(|c| match c {
                    DirectoryChange::Upsert(u) => Some(u),
                    DirectoryChange::Removed { .. } => None,
                })
                .filter(|u| seen.insert(&u.id))
                .collect();
            self.record.processed += users.len() as u64;
            let actions = self.plan_page(&users, &members, &mut ctx).await?;
            self.apply(actions).await?;
            match page.next {
                Some(next) => cursor = DirectoryCursor::Link(next),
                None => break,
            }
        }
        // Synced users the listing did not show, a page of stored ids at a time.
        let mut gone: Vec<String> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .sync
                .store
                .synced_user_ids_page(after.as_deref(), SYNCED_IDS_PAGE)
                .await?;
            let full_page = page.len() >= SYNCED_IDS_PAGE as usize;
            after = page.last().map(|(id, _)| id.clone());
            gone.extend(
                page.into_iter()
                    .map(|(id, _)| id)
                    .filter(|id| !seen.contains(id)),
            );
            if !full_page || after.is_none() {
                break;
            }
        }
        if seen.is_empty() && !gone.is_empty() {
            // An empty tenant listing is far more likely a permission or service problem than
            // every user leaving at once: never disable or delete everything on that evidence.
            return Err(SyncError::Directory(DirectoryError::Protocol(format!(
                "Microsoft 365 listed no users, but {} extensions are synced; nothing was removed. \
                 Check the app's permissions and run a full sync again",
                gone.len()
            ))));
        }
        for chunk in gone.chunks(500) {
            let exts = self.sync.store.extensions_for_users(chunk).await?;
            let actions = plan_removals(exts.iter(), &ctx);
            self.apply(actions).await?;
        }
        if !self.request.dry_run {
            state.delta_link = Some(delta_link);
            state.last_full_sync = Some(self.sync.clock.now());
            state.last_error = None;
            self.sync
                .store
                .save_sync_state(USER_SYNC_STATE_KEY, &state)
                .await?;
        }
        Ok(())
    }

    async fn latest_delta_link(&self) -> Result<String, SyncError> {
        let mut cursor = DirectoryCursor::LatestDelta;
        loop {
            let page = self.sync.source.users_page(&cursor).await?;
            if let Some(link) = page.delta_link {
                return Ok(link);
            }
            match page.next {
                Some(next) => cursor = DirectoryCursor::Link(next),
                None => {
                    return Err(SyncError::Directory(DirectoryError::Protocol(
                        "the users delta round ended without a deltaLink".into(),
                    )));
                }
            }
        }
    }

    async fn delta(&mut self, link: String, mut state: SyncState) -> Result<(), SyncError> {
        self.record.mode = RunMode::Delta;
        self.publish().await?;
        let snapshot = self.sync.store.planning_snapshot().await?;
        let mut ctx = PlanContext::from_snapshot(self.settings.clone(), snapshot);
        let members = self.scope_members().await?;
        let mut cursor = DirectoryCursor::Link(link);
        loop {
            let page = self.sync.source.users_page(&cursor).await?;
            // Within a page the same user may appear more than once: the last one is current.
            let mut latest: Vec<DirectoryChange> = Vec::new();
            let mut index: HashMap<String, usize> = HashMap::new();
            for c in page.changes {
                let id = match &c {
                    DirectoryChange::Upsert(u) => u.id.clone(),
                    DirectoryChange::Removed { id, .. } => id.clone(),
                };
                match index.get(&id) {
                    Some(&i) => latest[i] = c,
                    None => {
                        index.insert(id, latest.len());
                        latest.push(c);
                    }
                }
            }
            self.record.processed += latest.len() as u64;
            let mut upserts = Vec::new();
            let mut removed = Vec::new();
            for c in latest {
                match c {
                    DirectoryChange::Upsert(u) => upserts.push(u),
                    DirectoryChange::Removed { id, .. } => removed.push(id),
                }
            }
            let mut actions = self.plan_page(&upserts, &members, &mut ctx).await?;
            let gone = self.sync.store.extensions_for_users(&removed).await?;
            actions.extend(plan_removals(gone.iter(), &ctx));
            self.apply(actions).await?;
            if let Some(next) = page.next {
                cursor = DirectoryCursor::Link(next);
                continue;
            }
            // One way: users whose extensions were edited locally are re-read, so the next
            // run reverts the edit even when Microsoft 365 did not change.
            let mut edited = self.sync.store.locally_edited_synced_users(1000).await?;
            edited.extend(self.sync.store.admin_deleted_synced_users(1000).await?);
            if !edited.is_empty() {
                let users = self.sync.source.users_by_ids(&edited).await?;
                self.record.processed += users.len() as u64;
                let actions = self.plan_page(&users, &members, &mut ctx).await?;
                self.apply(actions).await?;
            }
            let Some(new_link) = page.delta_link else {
                return Err(SyncError::Directory(DirectoryError::Protocol(
                    "the users delta round ended without a deltaLink".into(),
                )));
            };
            if !self.request.dry_run {
                state.delta_link = Some(new_link);
                state.last_error = None;
                self.sync
                    .store
                    .save_sync_state(USER_SYNC_STATE_KEY, &state)
                    .await?;
            }
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_hh_mm("02:00"), Some((2, 0)));
        assert_eq!(parse_hh_mm("23:59"), Some((23, 59)));
        assert_eq!(parse_hh_mm("24:00"), None);
        assert_eq!(parse_hh_mm("2:00"), None);
        assert!(UserSyncConfig::default().validate().is_ok());
        let bad = UserSyncConfig {
            poll_interval_secs: 1,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("poll_interval_secs"));
    }
}
