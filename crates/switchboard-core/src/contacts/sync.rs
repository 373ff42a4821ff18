//! A contact sync run, written against the ports.
//!
//! In scope: the synced extensions (origin `azure_ad`, enabled, with an Entra id) that pass the
//! contact scope, each into its own phonebook, and the configured company mailboxes into the
//! company phonebook. Mailboxes are read in waves of [`WAVE`] so memory stays bounded: per
//! wave, the folder-tree delta of every mailbox together with its default folder's contacts
//! delta, then every folder's contacts delta, page by page, many mailboxes in one
//! [`MailboxSource::read`] (that is what the adapter batches).
//!
//! Every answered page is ONE [`PhonebookStore::apply_phonebook_write`] carrying the folder's
//! new link, so a crash leaves the page and its link or neither, and the next run repeats from
//! the stored link (idempotently). The folder-tree deltaLink is saved only once every folder it
//! named has been dealt with. A folder read without a delta token ("whole-folder round") marks
//! the entries it writes with a round number; at its end the store removes the folder's entries
//! the round did not see. `--full` restarts every folder that way, repairing anything a missed
//! notification or an expired token left behind.

use super::phone::{entry_from_contact, is_region};
use super::{
    Book, CONTACT_SYNC_SETTINGS_KEY, ContactChange, ContactFolder, ContactSyncConfig,
    DEFAULT_FOLDER, EntryOrigin, FolderChange, FolderSyncState, IndexedExtension, MailboxAnswer,
    MailboxRead, MailboxSyncState, PhonebookEntry, PhonebookIndex, PhonebookQuery, PhonebookWrite,
};
use crate::clock::Clock;
use crate::ports::{
    DirectoryError, DirectorySource, ExtensionStore, MailboxError, MailboxSource, PhonebookStore,
    StoreError,
};
use crate::users::{
    ExtensionQuery, FreshnessMode, Origin, RunCounts, RunMode, RunRequest, Scope, SyncRunRecord,
};
use jiff::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// `SyncRunRecord::kind` of contact sync runs.
pub const CONTACT_SYNC_KIND: &str = "contacts";
/// Mailboxes read together: bounds what a run holds (their folder states and counting data).
pub const WAVE: usize = 100;
/// Reads handed to the mailbox source at once (about ten `$batch` requests): bounds the pages
/// held in memory at a time.
const READS_PER_CALL: usize = 200;
/// Reads of one mailbox in one call: Outlook serves few concurrent requests per mailbox.
const READS_PER_MAILBOX: usize = 4;
const EXTENSIONS_PAGE: u32 = 1_000;
const ENTRIES_PAGE: u32 = 1_000;
const INDEX_PAGE: u32 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum ContactSyncError {
    #[error("a contact sync is already running; wait for it to finish")]
    AlreadyRunning,
    #[error("invalid contact sync settings: {0}")]
    InvalidSettings(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(
        "{failed} of {total} mailboxes could not be synced (the others were; these are tried \
         again at the next run). First: mailbox {first_mailbox}: {first_reason}"
    )]
    MailboxesFailed {
        failed: u64,
        total: u64,
        first_mailbox: String,
        first_reason: String,
    },
}

/// What `GET /api/v1/sync` shows for contacts.
#[derive(Debug, Clone, Serialize)]
pub struct ContactSyncStatus {
    pub enabled: bool,
    pub mode: FreshnessMode,
    pub running: Option<SyncRunRecord>,
    pub last_run: Option<SyncRunRecord>,
    pub next_run: Option<Timestamp>,
    /// Start of the last full run that finished without an error.
    pub last_full_sync: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactRunOutcome {
    /// Counts: created/updated/removed are phonebook entries, skipped are mailboxes skipped
    /// (no Exchange mailbox); processed is mailboxes dealt with.
    pub run: SyncRunRecord,
}

/// A mailbox the sync skips, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedMailbox {
    pub mailbox_id: String,
    /// The extension whose phonebook it feeds (none for a company mailbox).
    pub extension: Option<String>,
    pub name: String,
    pub reason: String,
}

/// One mailbox to sync and where its contacts go.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    mailbox_id: String,
    book: Book,
    /// The region numbers without a country code are read in.
    region: String,
}

#[derive(Debug)]
pub struct ContactSync {
    extensions: Arc<dyn ExtensionStore>,
    phonebooks: Arc<dyn PhonebookStore>,
    mailboxes: Arc<dyn MailboxSource>,
    directory: Arc<dyn DirectorySource>,
    index: Arc<PhonebookIndex>,
    clock: Arc<dyn Clock>,
    mode: FreshnessMode,
    running: tokio::sync::Mutex<()>,
    progress: Mutex<Option<SyncRunRecord>>,
    next_run: Mutex<Option<Timestamp>>,
    /// A run could not bring the index in step with what it wrote: the next run rebuilds it.
    index_stale: AtomicBool,
}

impl ContactSync {
    pub fn new(
        extensions: Arc<dyn ExtensionStore>,
        phonebooks: Arc<dyn PhonebookStore>,
        mailboxes: Arc<dyn MailboxSource>,
        directory: Arc<dyn DirectorySource>,
        index: Arc<PhonebookIndex>,
        clock: Arc<dyn Clock>,
        mode: FreshnessMode,
    ) -> Self {
        Self {
            extensions,
            phonebooks,
            mailboxes,
            directory,
            index,
            clock,
            mode,
            running: tokio::sync::Mutex::new(()),
            progress: Mutex::new(None),
            next_run: Mutex::new(None),
            index_stale: AtomicBool::new(false),
        }
    }

    pub fn index(&self) -> &Arc<PhonebookIndex> {
        &self.index
    }

    pub async fn config(&self) -> Result<ContactSyncConfig, ContactSyncError> {
        match self
            .extensions
            .load_setting(CONTACT_SYNC_SETTINGS_KEY)
            .await?
        {
            None => Ok(ContactSyncConfig::default()),
            Some(v) => serde_json::from_value(v).map_err(|e| {
                ContactSyncError::Store(StoreError::Corrupt(format!(
                    "setting {CONTACT_SYNC_SETTINGS_KEY}: {e}"
                )))
            }),
        }
    }

    /// Validates and saves the settings; a new default region applies to lookups at once.
    pub async fn save_config(&self, config: &ContactSyncConfig) -> Result<(), ContactSyncError> {
        config
            .validate()
            .map_err(ContactSyncError::InvalidSettings)?;
        let value = serde_json::to_value(config)
            .map_err(|e| ContactSyncError::InvalidSettings(e.to_string()))?;
        self.extensions
            .save_setting(CONTACT_SYNC_SETTINGS_KEY, &value)
            .await?;
        self.index.set_default_region(&config.default_region);
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

    pub async fn status(&self) -> Result<ContactSyncStatus, ContactSyncError> {
        let config = self.config().await?;
        let runs = self
            .extensions
            .recent_sync_runs(CONTACT_SYNC_KIND, 50)
            .await?;
        let last_run = runs.iter().find(|r| r.finished_at.is_some()).cloned();
        let last_full_sync = runs
            .iter()
            .find(|r| r.mode == RunMode::Full && r.finished_at.is_some() && r.error.is_none())
            .map(|r| r.started_at);
        Ok(ContactSyncStatus {
            enabled: config.enabled,
            mode: self.mode,
            running: self.progress.lock().ok().and_then(|p| p.clone()),
            last_run,
            next_run: self.next_run.lock().ok().and_then(|n| *n),
            last_full_sync,
        })
    }

    /// The mailboxes the sync skips (e.g. users without an Exchange mailbox), with the
    /// extension and name of their users.
    pub async fn skipped(&self) -> Result<Vec<SkippedMailbox>, ContactSyncError> {
        let skipped: Vec<(String, String, String)> = self
            .phonebooks
            .list_mailboxes()
            .await?
            .into_iter()
            .filter_map(|(id, book, reason)| Some((id, book, reason?)))
            .collect();
        let ids: Vec<String> = skipped.iter().map(|(id, ..)| id.clone()).collect();
        let mut names: HashMap<String, String> = HashMap::new();
        for chunk in ids.chunks(500) {
            for e in self.extensions.extensions_for_users(chunk).await? {
                if let Some(id) = e.graph_user_id {
                    let name = if e.fields.display_name.is_empty() {
                        e.fields.email
                    } else {
                        e.fields.display_name
                    };
                    names.insert(id, name);
                }
            }
        }
        Ok(skipped
            .into_iter()
            .map(|(mailbox_id, book, reason)| {
                let extension = match Book::from_key(&book) {
                    Book::Extension(n) => Some(n),
                    Book::Company => None,
                };
                let name = names
                    .get(&mailbox_id)
                    .cloned()
                    .unwrap_or_else(|| mailbox_id.clone());
                SkippedMailbox {
                    mailbox_id,
                    extension,
                    name,
                    reason,
                }
            })
            .collect())
    }

    /// One run now over every mailbox in scope; `full` restarts every folder from scratch.
    pub async fn run(&self, request: RunRequest) -> Result<ContactRunOutcome, ContactSyncError> {
        let Ok(_guard) = self.running.try_lock() else {
            return Err(ContactSyncError::AlreadyRunning);
        };
        let _progress = ClearOnDrop(&self.progress);
        if self.index_stale.swap(false, Ordering::Relaxed)
            && let Err(e) = self.rebuild_index().await
        {
            self.index_stale.store(true, Ordering::Relaxed);
            return Err(e);
        }
        let config = self.config().await?;
        let mut job = Job::new(self, config, request);
        let result = job.everything().await;
        job.finish(result.err()).await
    }

    /// A delta run for these mailboxes only (Entra user ids or company mailboxes), e.g. after
    /// change notifications for their contacts. Ids no longer in scope lose their phonebook.
    pub async fn run_for_mailboxes(
        &self,
        ids: &[String],
    ) -> Result<ContactRunOutcome, ContactSyncError> {
        let Ok(_guard) = self.running.try_lock() else {
            return Err(ContactSyncError::AlreadyRunning);
        };
        let _progress = ClearOnDrop(&self.progress);
        if self.index_stale.swap(false, Ordering::Relaxed)
            && let Err(e) = self.rebuild_index().await
        {
            self.index_stale.store(true, Ordering::Relaxed);
            return Err(e);
        }
        let config = self.config().await?;
        let request = RunRequest {
            full: false,
            dry_run: false,
            actor: format!("sync:{CONTACT_SYNC_KIND}"),
        };
        let mut job = Job::new(self, config, request);
        let only: HashSet<String> = ids.iter().map(|i| i.trim().to_owned()).collect();
        let result = job.some(&only).await;
        job.finish(result.err()).await
    }

    /// The mailboxes a run would read (Entra ids and company mailboxes), minus those skipped
    /// for having no mailbox. Empty while the sync is disabled. Changes nothing.
    pub async fn in_scope_mailboxes(&self) -> Result<BTreeSet<String>, ContactSyncError> {
        let config = self.config().await?;
        if !config.enabled {
            return Ok(BTreeSet::new());
        }
        let request = RunRequest {
            full: false,
            // Dry: working out the targets then leaves the caller-ID index alone.
            dry_run: true,
            actor: format!("sync:{CONTACT_SYNC_KIND}"),
        };
        let mut job = Job::new(self, config, request);
        let no_mailbox: HashSet<String> = self
            .phonebooks
            .list_mailboxes()
            .await?
            .into_iter()
            .filter_map(|(id, _, skipped)| skipped.map(|_| id))
            .collect();
        Ok(job
            .targets()
            .await?
            .into_iter()
            .map(|t| t.mailbox_id)
            .filter(|m| !no_mailbox.contains(m))
            .collect())
    }

    /// Fills the caller-ID index from the store (at start): the extensions, then every entry,
    /// a page at a time. Mailboxes the store no longer has leave the index. Returns the number
    /// of entries indexed.
    pub async fn rebuild_index(&self) -> Result<usize, ContactSyncError> {
        let config = self.config().await?;
        self.index.set_default_region(&config.default_region);
        self.refresh_extensions().await?;
        let mut stale: HashSet<String> = self.index.mailbox_ids().into_iter().collect();
        let mut after: Option<(String, String)> = None;
        let mut current: Option<String> = None;
        let mut batch: Vec<PhonebookEntry> = Vec::new();
        loop {
            let page = self
                .phonebooks
                .phonebook_entries_page(
                    after.as_ref().map(|(m, c)| (m.as_str(), c.as_str())),
                    INDEX_PAGE,
                )
                .await?;
            let full_page = page.len() >= INDEX_PAGE as usize;
            after = page
                .last()
                .map(|e| (e.mailbox_id.clone(), e.contact_id.clone()));
            for e in page {
                if current.as_deref() != Some(e.mailbox_id.as_str()) {
                    if let Some(m) = current.take() {
                        self.index.replace_mailbox(&m, &batch);
                        stale.remove(&m);
                        batch.clear();
                    }
                    current = Some(e.mailbox_id.clone());
                }
                batch.push(e);
            }
            if !full_page || after.is_none() {
                break;
            }
        }
        if let Some(m) = current {
            self.index.replace_mailbox(&m, &batch);
            stale.remove(&m);
        }
        for m in stale {
            self.index.remove_mailbox(&m);
        }
        Ok(self.index.len())
    }

    /// Gives the index the current extensions (after a user sync changed them).
    pub async fn refresh_extensions(&self) -> Result<(), ContactSyncError> {
        let mut all = Vec::new();
        self.each_extension(|e| {
            if let Some(x) = indexed_extension(e) {
                all.push(x);
            }
        })
        .await?;
        self.index.set_extensions(all);
        Ok(())
    }

    async fn each_extension(
        &self,
        mut f: impl FnMut(&crate::users::ExtensionRecord),
    ) -> Result<(), ContactSyncError> {
        let mut after: Option<String> = None;
        loop {
            let page = self
                .extensions
                .list_extensions(&ExtensionQuery {
                    group: None,
                    q: None,
                    after: after.clone(),
                    limit: EXTENSIONS_PAGE,
                })
                .await?;
            let full_page = page.len() >= EXTENSIONS_PAGE as usize;
            after = page.last().map(|e| e.number.clone());
            page.iter().for_each(&mut f);
            if !full_page || after.is_none() {
                return Ok(());
            }
        }
    }
}

fn indexed_extension(e: &crate::users::ExtensionRecord) -> Option<IndexedExtension> {
    e.enabled.then(|| IndexedExtension {
        number: e.number.clone(),
        display_name: e.fields.display_name.clone(),
        region: e.fields.usage_location.clone(),
        numbers: [&e.fields.mobile, &e.fields.business_phone]
            .into_iter()
            .filter(|n| !n.trim().is_empty())
            .cloned()
            .collect(),
    })
}

struct ClearOnDrop<'a>(&'a Mutex<Option<SyncRunRecord>>);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        if let Ok(mut p) = self.0.lock() {
            *p = None;
        }
    }
}

fn hash_of(value: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// What a reader of an entry sees (`updated_at` aside), as one number: tells an update from a
/// replay of the same contact.
fn content_hash(e: &PhonebookEntry) -> u64 {
    let mut h = DefaultHasher::new();
    (
        e.book.as_key(),
        &e.folder_id,
        &e.display_name,
        &e.first_name,
        &e.last_name,
        &e.company,
        &e.department,
        &e.job_title,
        &e.emails,
    )
        .hash(&mut h);
    for p in &e.phones {
        (p.kind, &p.raw, &p.e164).hash(&mut h);
    }
    h.finish()
}

/// A mailbox's synced entries as they were before this run wrote, for counting created,
/// updated and removed entries: contact id hash → what is known of it.
type Known = HashMap<u64, KnownEntry>;

#[derive(Debug, Clone, Copy)]
struct KnownEntry {
    folder: u64,
    content: u64,
    /// A dry run would have removed it (a moved contact comes back as an update).
    gone: bool,
}

#[derive(Debug)]
enum Outcome {
    Active,
    Skipped(String),
    Failed(String),
}

/// The folder-tree delta of one mailbox in this run.
#[derive(Debug, Default)]
struct Tree {
    /// The read to make next (`Some(None)`: list every folder).
    pending: Option<Option<String>>,
    /// Listing every folder (no delta token): stored folders it does not name are gone.
    listing: bool,
    seen: HashSet<String>,
    restarted: bool,
    delta_link: Option<String>,
    done: bool,
}

/// One folder of a mailbox in this run.
#[derive(Debug)]
struct FolderJob {
    /// As it stands in this run.
    state: FolderSyncState,
    /// As stored.
    saved: Option<FolderSyncState>,
    /// The read to make next (`Some(None)`: read the whole folder).
    pending: Option<Option<String>>,
    started: bool,
    restarted: bool,
    /// A page of the current round was written: its end must be written too.
    wrote_in_round: bool,
    /// The link a delta round started from.
    round_link: Option<String>,
    /// Contacts a dry run saw in a whole-folder round, to count what its end would remove.
    seen: HashSet<u64>,
}

impl FolderJob {
    fn stored(state: FolderSyncState) -> Self {
        Self {
            saved: Some(state.clone()),
            state,
            pending: None,
            started: false,
            restarted: false,
            wrote_in_round: false,
            round_link: None,
            seen: HashSet::new(),
        }
    }

    fn new(folder: &ContactFolder) -> Self {
        Self {
            state: FolderSyncState {
                folder_id: folder.id.clone(),
                display_name: folder.display_name.clone(),
                parent_folder_id: folder.parent_folder_id.clone(),
                link: None,
                full_round: None,
            },
            saved: None,
            pending: None,
            started: false,
            restarted: false,
            wrote_in_round: false,
            round_link: None,
            seen: HashSet::new(),
        }
    }
}

/// One mailbox in this run.
#[derive(Debug)]
struct MailboxJob {
    target: Target,
    stored: Option<MailboxSyncState>,
    tree: Tree,
    folders: BTreeMap<String, FolderJob>,
    outcome: Outcome,
    /// Entries were removed here (pages, folders, round ends): the index takes the mailbox
    /// from the store again at the end, which is exact whatever moved where.
    needs_reload: bool,
    wrote: bool,
    known: Option<Known>,
}

impl MailboxJob {
    fn active(&self) -> bool {
        matches!(self.outcome, Outcome::Active)
    }

    fn fail(&mut self, reason: String) {
        if self.active() {
            self.outcome = Outcome::Failed(reason);
        }
    }
}

/// Which read an answer belongs to.
#[derive(Debug)]
enum Owner {
    Tree(Option<String>),
    Folder(String, Option<String>),
}

fn same_except_link(a: &FolderSyncState, b: &FolderSyncState) -> bool {
    a.folder_id == b.folder_id
        && a.display_name == b.display_name
        && a.parent_folder_id == b.parent_folder_id
        && a.full_round == b.full_round
}

/// The state of one run.
struct Job<'a> {
    sync: &'a ContactSync,
    config: ContactSyncConfig,
    request: RunRequest,
    record: SyncRunRecord,
    /// Round numbers: the run's start in ms, shifted, plus a counter, so they differ between
    /// runs (the clock moves on) and within one.
    rounds: i64,
    failures: Vec<(String, String)>,
}

impl<'a> Job<'a> {
    fn new(sync: &'a ContactSync, config: ContactSyncConfig, request: RunRequest) -> Self {
        let now = sync.clock.now();
        Self {
            sync,
            config,
            record: SyncRunRecord {
                id: uuid::Uuid::new_v4().to_string(),
                kind: CONTACT_SYNC_KIND.into(),
                mode: if request.full {
                    RunMode::Full
                } else {
                    RunMode::Delta
                },
                started_at: now,
                finished_at: None,
                counts: RunCounts::default(),
                processed: 0,
                error: None,
            },
            request,
            rounds: now.as_millisecond().clamp(0, i64::MAX >> 21) << 20,
            failures: Vec::new(),
        }
    }

    fn new_round(&mut self) -> i64 {
        self.rounds += 1;
        self.rounds
    }

    fn dry(&self) -> bool {
        self.request.dry_run
    }

    async fn publish(&self) -> Result<(), ContactSyncError> {
        if let Ok(mut p) = self.sync.progress.lock() {
            *p = Some(self.record.clone());
        }
        if !self.dry() {
            self.sync.extensions.save_sync_run(&self.record).await?;
        }
        Ok(())
    }

    async fn finish(
        mut self,
        error: Option<ContactSyncError>,
    ) -> Result<ContactRunOutcome, ContactSyncError> {
        self.record.finished_at = Some(self.sync.clock.now());
        self.record.error = error.as_ref().map(ToString::to_string);
        if !self.dry() {
            self.sync.extensions.save_sync_run(&self.record).await?;
        }
        match error {
            Some(e) => Err(e),
            None => Ok(ContactRunOutcome { run: self.record }),
        }
    }

    fn failures_result(&self) -> Result<(), ContactSyncError> {
        match self.failures.first() {
            None => Ok(()),
            Some((mailbox, reason)) => Err(ContactSyncError::MailboxesFailed {
                failed: self.failures.len() as u64,
                total: self.record.processed,
                first_mailbox: mailbox.clone(),
                first_reason: reason.clone(),
            }),
        }
    }

    async fn everything(&mut self) -> Result<(), ContactSyncError> {
        self.publish().await?;
        let targets = self.targets().await?;
        self.remove_stale(&targets, None).await?;
        for wave in targets.chunks(WAVE) {
            self.wave(wave).await?;
            self.publish().await?;
        }
        self.failures_result()
    }

    async fn some(&mut self, only: &HashSet<String>) -> Result<(), ContactSyncError> {
        self.publish().await?;
        let targets: Vec<Target> = self
            .targets()
            .await?
            .into_iter()
            .filter(|t| only.contains(&t.mailbox_id))
            .collect();
        self.remove_stale(&targets, Some(only)).await?;
        for wave in targets.chunks(WAVE) {
            self.wave(wave).await?;
            self.publish().await?;
        }
        self.failures_result()
    }

    /// Every mailbox in scope; also hands the index the current extensions.
    async fn targets(&mut self) -> Result<Vec<Target>, ContactSyncError> {
        let mut members: HashSet<String> = HashSet::new();
        if let Scope::Groups(groups) = &self.config.scope {
            for g in groups {
                members.extend(self.sync.directory.group_member_ids(g).await?);
            }
        }
        let default_region = self.config.default_region.trim().to_ascii_uppercase();
        let mut company: Vec<String> = Vec::new();
        for m in &self.config.company_mailboxes {
            let m = m.trim().to_owned();
            if !m.is_empty() && !company.contains(&m) {
                company.push(m);
            }
        }
        let scope = self.config.scope.clone();
        let mut targets = Vec::new();
        let mut indexed = Vec::new();
        self.sync
            .each_extension(|e| {
                if let Some(x) = indexed_extension(e) {
                    indexed.push(x);
                }
                let Some(user) = e.graph_user_id.as_deref() else {
                    return;
                };
                if e.origin != Origin::AzureAd
                    || !e.enabled
                    || !scope.includes(user, members.contains(user))
                    // A company mailbox feeds the company book only.
                    || company.iter().any(|m| m == user)
                {
                    return;
                }
                let usage = e.fields.usage_location.trim();
                let region = if is_region(usage) {
                    usage.to_ascii_uppercase()
                } else {
                    default_region.clone()
                };
                targets.push(Target {
                    mailbox_id: user.to_owned(),
                    book: Book::Extension(e.number.clone()),
                    region,
                });
            })
            .await?;
        targets.extend(company.into_iter().map(|m| Target {
            mailbox_id: m,
            book: Book::Company,
            region: default_region.clone(),
        }));
        if !self.dry() {
            self.sync.index.set_default_region(&default_region);
            self.sync.index.set_extensions(indexed);
        }
        Ok(targets)
    }

    /// Mailboxes with stored state that are no longer in scope (or feed another book now) lose
    /// their synced entries; local entries stay. With `only`, just those mailboxes.
    async fn remove_stale(
        &mut self,
        targets: &[Target],
        only: Option<&HashSet<String>>,
    ) -> Result<(), ContactSyncError> {
        let wanted: HashMap<&str, &str> = targets
            .iter()
            .map(|t| (t.mailbox_id.as_str(), t.book.as_key()))
            .collect();
        for (mailbox, book, _) in self.sync.phonebooks.list_mailboxes().await? {
            if only.is_some_and(|o| !o.contains(&mailbox))
                || wanted.get(mailbox.as_str()) == Some(&book.as_str())
            {
                continue;
            }
            if self.dry() {
                let entries = self
                    .mailbox_entries(&mailbox, &Book::from_key(&book))
                    .await?;
                self.record.counts.removed += entries
                    .iter()
                    .filter(|e| e.origin == EntryOrigin::Outlook)
                    .count() as u64;
            } else {
                self.record.counts.removed += self.sync.phonebooks.remove_mailbox(&mailbox).await?;
                self.sync.index.remove_mailbox(&mailbox);
            }
        }
        Ok(())
    }

    /// The stored entries of a mailbox in its book (any origin).
    async fn mailbox_entries(
        &self,
        mailbox: &str,
        book: &Book,
    ) -> Result<Vec<PhonebookEntry>, ContactSyncError> {
        let mut out = Vec::new();
        let mut offset: u32 = 0;
        loop {
            let page = self
                .sync
                .phonebooks
                .phonebook(
                    book,
                    &PhonebookQuery {
                        search: None,
                        limit: ENTRIES_PAGE,
                        offset,
                    },
                )
                .await?;
            let full_page = page.len() >= ENTRIES_PAGE as usize;
            out.extend(page.into_iter().filter(|e| e.mailbox_id == mailbox));
            match offset.checked_add(ENTRIES_PAGE) {
                Some(next) if full_page => offset = next,
                _ => return Ok(out),
            }
        }
    }

    async fn ensure_known(&self, job: &mut MailboxJob) -> Result<(), ContactSyncError> {
        if job.known.is_some() {
            return Ok(());
        }
        // A mailbox without stored state has no synced entries (they are written together).
        let known = if job.stored.is_none() {
            Known::new()
        } else {
            self.mailbox_entries(&job.target.mailbox_id, &job.target.book)
                .await?
                .iter()
                .filter(|e| e.origin == EntryOrigin::Outlook)
                .map(|e| {
                    let known = KnownEntry {
                        folder: hash_of(&e.folder_id),
                        content: content_hash(e),
                        gone: false,
                    };
                    (hash_of(&e.contact_id), known)
                })
                .collect()
        };
        job.known = Some(known);
        Ok(())
    }

    /// Loads a mailbox's state and schedules its first reads.
    async fn open(&mut self, target: &Target) -> Result<MailboxJob, ContactSyncError> {
        let stored = self
            .sync
            .phonebooks
            .load_mailbox_state(&target.mailbox_id)
            .await?;
        let tree_link = match &stored {
            Some(s) if !self.request.full => s.folder_link.clone(),
            _ => None,
        };
        let mut folders: BTreeMap<String, FolderJob> = stored
            .iter()
            .flat_map(|s| s.folders.iter())
            .map(|f| (f.folder_id.clone(), FolderJob::stored(f.clone())))
            .collect();
        let default = folders
            .entry(DEFAULT_FOLDER.to_owned())
            .or_insert_with(|| FolderJob::new(&ContactFolder::default()));
        self.start(default);
        Ok(MailboxJob {
            target: target.clone(),
            stored,
            tree: Tree {
                listing: tree_link.is_none(),
                pending: Some(tree_link),
                ..Tree::default()
            },
            folders,
            outcome: Outcome::Active,
            needs_reload: false,
            wrote: false,
            known: None,
        })
    }

    /// Schedules a folder's first read: on from its stored link, or a whole-folder round (new
    /// folder, `--full`, or no link).
    fn start(&mut self, folder: &mut FolderJob) {
        folder.started = true;
        folder.wrote_in_round = false;
        folder.seen.clear();
        match (&folder.state.link, self.request.full) {
            (Some(link), false) => {
                folder.round_link = Some(link.clone());
                folder.pending = Some(Some(link.clone()));
            }
            _ => self.restart(folder),
        }
    }

    fn restart(&mut self, folder: &mut FolderJob) {
        folder.state.link = None;
        folder.round_link = None;
        folder.state.full_round = Some(self.new_round());
        folder.pending = Some(None);
        folder.wrote_in_round = false;
        folder.seen.clear();
    }

    async fn wave(&mut self, targets: &[Target]) -> Result<(), ContactSyncError> {
        let mut jobs = Vec::with_capacity(targets.len());
        for t in targets {
            jobs.push(self.open(t).await?);
        }
        if let Err(e) = self.read_wave(&mut jobs).await {
            self.reconcile(&jobs).await;
            return Err(e);
        }
        let mut jobs = jobs.into_iter();
        while let Some(job) = jobs.next() {
            if let Err(e) = self.close(job).await {
                let rest: Vec<MailboxJob> = jobs.collect();
                self.reconcile(&rest).await;
                return Err(e);
            }
        }
        Ok(())
    }

    /// After a failed write the run stops, but what it wrote is in the store: the index takes
    /// those mailboxes again (or is rebuilt at the next run if even that fails).
    async fn reconcile(&self, jobs: &[MailboxJob]) {
        if self.dry() {
            return;
        }
        for job in jobs.iter().filter(|j| j.needs_reload) {
            match self
                .mailbox_entries(&job.target.mailbox_id, &job.target.book)
                .await
            {
                Ok(entries) => self
                    .sync
                    .index
                    .replace_mailbox(&job.target.mailbox_id, &entries),
                Err(e) => {
                    tracing::warn!(error = %e, "the caller-ID index is rebuilt at the next contact sync run");
                    self.sync.index_stale.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
    }

    /// Reads (and writes) the wave's mailboxes until no read is left.
    async fn read_wave(&mut self, jobs: &mut [MailboxJob]) -> Result<(), ContactSyncError> {
        loop {
            let mut reads = Vec::new();
            let mut owners: Vec<(usize, Owner)> = Vec::new();
            for (i, job) in jobs.iter_mut().enumerate() {
                if reads.len() >= READS_PER_CALL {
                    break;
                }
                if !job.active() {
                    continue;
                }
                let mailbox = &job.target.mailbox_id;
                let mut n = 0;
                if let Some(link) = job.tree.pending.take() {
                    reads.push(MailboxRead::FolderDelta {
                        mailbox: mailbox.clone(),
                        link: link.clone(),
                    });
                    owners.push((i, Owner::Tree(link)));
                    n += 1;
                }
                let tree_done = job.tree.done;
                for (id, folder) in &mut job.folders {
                    if n >= READS_PER_MAILBOX || reads.len() >= READS_PER_CALL {
                        break;
                    }
                    // Other folders wait for the tree: it may say they are gone.
                    if id != DEFAULT_FOLDER && !tree_done {
                        continue;
                    }
                    if let Some(link) = folder.pending.take() {
                        reads.push(MailboxRead::ContactsDelta {
                            mailbox: mailbox.clone(),
                            folder: id.clone(),
                            link: link.clone(),
                        });
                        owners.push((i, Owner::Folder(id.clone(), link)));
                        n += 1;
                    }
                }
            }
            if reads.is_empty() {
                break;
            }
            let mut answers = self.sync.mailboxes.read(reads).await.into_iter();
            for (i, owner) in owners {
                let answer = answers.next().unwrap_or_else(|| {
                    Err(MailboxError::Graph(DirectoryError::Protocol(
                        "the mailbox source gave fewer answers than reads".into(),
                    )))
                });
                let Some(job) = jobs.get_mut(i) else { continue };
                if !job.active() {
                    continue;
                }
                match owner {
                    Owner::Tree(link) => self.on_folders(job, link, answer).await?,
                    Owner::Folder(id, link) => self.on_contacts(job, id, link, answer).await?,
                }
            }
        }
        Ok(())
    }

    async fn on_folders(
        &mut self,
        job: &mut MailboxJob,
        link: Option<String>,
        answer: Result<MailboxAnswer, MailboxError>,
    ) -> Result<(), ContactSyncError> {
        let page = match answer {
            Ok(MailboxAnswer::Folders(page)) => page,
            Ok(MailboxAnswer::Contacts(_)) => {
                job.fail("the mailbox source answered a folder read with contacts".into());
                return Ok(());
            }
            Err(MailboxError::DeltaExpired) if link.is_some() && !job.tree.restarted => {
                // List every folder again; known folders go on from their own links.
                job.tree = Tree {
                    pending: Some(None),
                    listing: true,
                    restarted: true,
                    ..Tree::default()
                };
                return Ok(());
            }
            Err(e) => {
                self.on_error(job, e);
                return Ok(());
            }
        };
        for change in page.changes {
            match change {
                FolderChange::Upsert(f) if f.id != DEFAULT_FOLDER => {
                    if job.tree.listing {
                        job.tree.seen.insert(f.id.clone());
                    }
                    match job.folders.get_mut(&f.id) {
                        // Renamed or moved: the new name is saved with its next write.
                        Some(known) => {
                            known.state.display_name = f.display_name;
                            known.state.parent_folder_id = f.parent_folder_id;
                        }
                        None => {
                            job.folders.insert(f.id.clone(), FolderJob::new(&f));
                        }
                    }
                }
                FolderChange::Upsert(_) => {}
                FolderChange::Removed { id } => {
                    job.tree.seen.remove(&id);
                    if id != DEFAULT_FOLDER {
                        self.drop_folder(job, &id).await?;
                    }
                }
            }
        }
        if let Some(next) = page.next {
            job.tree.pending = Some(Some(next));
            return Ok(());
        }
        let Some(delta_link) = page.delta_link else {
            job.fail("Microsoft Graph ended a contact folder round without a deltaLink".into());
            return Ok(());
        };
        job.tree.delta_link = Some(delta_link);
        job.tree.done = true;
        if job.tree.listing {
            let gone: Vec<String> = job
                .folders
                .keys()
                .filter(|id| id.as_str() != DEFAULT_FOLDER && !job.tree.seen.contains(*id))
                .cloned()
                .collect();
            for id in gone {
                self.drop_folder(job, &id).await?;
            }
            job.tree.seen = HashSet::new();
        }
        for folder in job.folders.values_mut() {
            if !folder.started {
                self.start(folder);
            }
        }
        Ok(())
    }

    /// The folder was deleted in Outlook: its entries and state go.
    async fn drop_folder(
        &mut self,
        job: &mut MailboxJob,
        id: &str,
    ) -> Result<(), ContactSyncError> {
        let Some(folder) = job.folders.remove(id) else {
            return Ok(());
        };
        // Entries are written together with their folder's state: none stored without it.
        if folder.saved.is_none() {
            return Ok(());
        }
        self.ensure_known(job).await?;
        if self.dry() {
            let f = hash_of(id);
            for k in job.known.iter_mut().flat_map(|k| k.values_mut()) {
                if k.folder == f {
                    k.gone = true;
                }
            }
        } else {
            self.sync
                .phonebooks
                .remove_folder(&job.target.mailbox_id, id)
                .await?;
            job.needs_reload = true;
            job.wrote = true;
        }
        Ok(())
    }

    async fn on_contacts(
        &mut self,
        job: &mut MailboxJob,
        id: String,
        link: Option<String>,
        answer: Result<MailboxAnswer, MailboxError>,
    ) -> Result<(), ContactSyncError> {
        let page = match answer {
            Ok(MailboxAnswer::Contacts(page)) => page,
            Ok(MailboxAnswer::Folders(_)) => {
                job.fail("the mailbox source answered a contacts read with folders".into());
                return Ok(());
            }
            Err(MailboxError::DeltaExpired) => {
                // Read the whole folder again, once per run.
                match job.folders.get_mut(&id) {
                    Some(folder) if link.is_some() && !folder.restarted => {
                        folder.restarted = true;
                        self.restart(folder);
                    }
                    _ => self.on_error(job, MailboxError::DeltaExpired),
                }
                return Ok(());
            }
            Err(MailboxError::FolderGone) if id != DEFAULT_FOLDER => {
                return self.drop_folder(job, &id).await;
            }
            Err(e) => {
                self.on_error(job, e);
                return Ok(());
            }
        };
        let Some(new_link) = page.next.clone().or(page.delta_link.clone()) else {
            job.fail(format!(
                "Microsoft Graph ended a page of contact folder {id:?} without a nextLink or deltaLink"
            ));
            return Ok(());
        };
        let Some(folder) = job.folders.get(&id) else {
            return Ok(());
        };
        let finishing = page.next.is_none();
        let round = folder.state.full_round;
        let finish_round = if finishing { round } else { None };
        // While a delta round is in progress its starting deltaLink stays stored: a crash
        // replays the round (idempotently), and a stored link is never a delta round's nextLink
        // that could not be told from a deltaLink. A whole-folder round is resumed instead.
        let stored_link = match (&page.next, round) {
            (None, _) | (Some(_), Some(_)) => Some(new_link),
            (Some(_), None) => folder.round_link.clone(),
        };
        let mut written = folder.state.clone();
        written.link = stored_link;
        if finishing {
            written.full_round = None;
        }
        let now = self.sync.clock.now();
        let mut upserts = Vec::new();
        let mut removals = Vec::new();
        for change in page.changes {
            match change {
                ContactChange::Upsert(c) => upserts.push(entry_from_contact(
                    &c,
                    job.target.book.clone(),
                    &job.target.mailbox_id,
                    &id,
                    &job.target.region,
                    now,
                )),
                ContactChange::Removed { id } => removals.push(id),
            }
        }
        // A delta round that found nothing leaves the stored state as it is: the stored link
        // still leads to everything after it.
        let nothing = upserts.is_empty()
            && removals.is_empty()
            && finish_round.is_none()
            && !folder.wrote_in_round
            && folder
                .saved
                .as_ref()
                .is_some_and(|s| same_except_link(s, &written));
        if !nothing {
            self.ensure_known(job).await?;
            self.count(job, &id, &upserts, &removals, round, finishing);
            if !self.dry() {
                let write = PhonebookWrite {
                    mailbox_id: job.target.mailbox_id.clone(),
                    book: job.target.book.clone(),
                    upserts,
                    removals,
                    folder: written.clone(),
                    finish_round,
                };
                self.sync.phonebooks.apply_phonebook_write(&write).await?;
                for e in &write.upserts {
                    self.sync.index.upsert(e);
                }
                if !write.removals.is_empty() || finish_round.is_some() {
                    job.needs_reload = true;
                }
                job.wrote = true;
            }
        }
        let dry = self.dry();
        let Some(folder) = job.folders.get_mut(&id) else {
            return Ok(());
        };
        if !nothing && !dry {
            folder.saved = Some(written.clone());
            folder.wrote_in_round = true;
        }
        folder.state = written;
        folder.pending = page.next.map(Some);
        Ok(())
    }

    /// Counts what a page changes, against what the mailbox held before this run.
    fn count(
        &mut self,
        job: &mut MailboxJob,
        folder_id: &str,
        upserts: &[PhonebookEntry],
        removals: &[String],
        round: Option<i64>,
        finishing: bool,
    ) {
        let dry = self.dry();
        let Some(known) = job.known.as_mut() else {
            return;
        };
        let counts = &mut self.record.counts;
        let folder_hash = hash_of(folder_id);
        for e in upserts {
            let key = hash_of(&e.contact_id);
            let content = content_hash(e);
            let now = KnownEntry {
                folder: folder_hash,
                content,
                gone: false,
            };
            match known.insert(key, now) {
                None => counts.created += 1,
                Some(before) if before.content != content => counts.updated += 1,
                Some(_) => {}
            }
        }
        // A real run counts removals exactly when the index takes the mailbox again.
        if !dry {
            return;
        }
        let Some(folder) = job.folders.get_mut(folder_id) else {
            return;
        };
        // Like the store: a removal only takes an entry still in this folder.
        for id in removals {
            if let Some(k) = known.get_mut(&hash_of(id))
                && k.folder == folder_hash
            {
                k.gone = true;
            }
        }
        if round.is_some() {
            folder
                .seen
                .extend(upserts.iter().map(|e| hash_of(&e.contact_id)));
            if finishing {
                let seen = std::mem::take(&mut folder.seen);
                for (key, k) in known.iter_mut() {
                    if k.folder == folder_hash && !seen.contains(key) {
                        k.gone = true;
                    }
                }
            }
        }
    }

    fn on_error(&self, job: &mut MailboxJob, error: MailboxError) {
        match error {
            MailboxError::NoMailbox => {
                if job.active() {
                    job.outcome = Outcome::Skipped(MailboxError::NoMailbox.to_string());
                }
            }
            e => job.fail(e.to_string()),
        }
    }

    /// The end of a mailbox in this wave: the index takes what the store has, the mailbox
    /// state is saved when it changed, and the run counts it.
    async fn close(&mut self, job: MailboxJob) -> Result<(), ContactSyncError> {
        let mailbox = job.target.mailbox_id.as_str();
        if job.needs_reload && !self.dry() {
            let entries = match self.mailbox_entries(mailbox, &job.target.book).await {
                Ok(entries) => entries,
                Err(e) => {
                    self.sync.index_stale.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            };
            if let Some(known) = &job.known {
                let now: HashSet<u64> = entries
                    .iter()
                    .filter(|e| e.origin == EntryOrigin::Outlook)
                    .map(|e| hash_of(&e.contact_id))
                    .collect();
                self.record.counts.removed +=
                    known.keys().filter(|k| !now.contains(k)).count() as u64;
            }
            self.sync.index.replace_mailbox(mailbox, &entries);
        }
        if self.dry()
            && let Some(known) = &job.known
        {
            self.record.counts.removed += known.values().filter(|k| k.gone).count() as u64;
        }
        self.record.processed += 1;
        let (skipped, last_error) = match &job.outcome {
            Outcome::Active => (None, None),
            Outcome::Skipped(reason) => {
                self.record.counts.skipped += 1;
                (Some(reason.clone()), None)
            }
            Outcome::Failed(reason) => {
                tracing::warn!(mailbox, %reason, "contact sync of a mailbox failed");
                self.failures.push((mailbox.to_owned(), reason.clone()));
                (None, Some(reason.clone()))
            }
        };
        if self.dry() {
            return Ok(());
        }
        let before = job.stored.as_ref();
        let folder_link = match (&job.outcome, job.tree.done) {
            (Outcome::Active, true) => job.tree.delta_link.clone(),
            _ => before.and_then(|s| s.folder_link.clone()),
        };
        let book = job.target.book.as_key().to_owned();
        let changed = before.is_none_or(|s| {
            s.book != book
                || s.folder_link != folder_link
                || s.skipped != skipped
                || s.last_error != last_error
        });
        if !changed && !job.wrote {
            return Ok(());
        }
        let last_synced_at = match job.outcome {
            Outcome::Active => Some(self.sync.clock.now()),
            _ => before.and_then(|s| s.last_synced_at),
        };
        self.sync
            .phonebooks
            .save_mailbox_state(&MailboxSyncState {
                mailbox_id: mailbox.to_owned(),
                book,
                folder_link,
                folders: Vec::new(),
                skipped,
                last_error,
                last_synced_at,
            })
            .await?;
        Ok(())
    }
}
