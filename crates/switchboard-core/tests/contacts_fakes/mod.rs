//! In-memory ports for contact sync tests: an Outlook model with a change log (delta links,
//! paging, expiry), a phonebook store with the SQL store's rules (rounds, removals only from
//! the write's folder, local entries untouched) and failure injection, extensions and a clock.

#![allow(clippy::unwrap_used, dead_code)] // test code: a panic is the failure report

use async_trait::async_trait;
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use switchboard_core::Clock;
use switchboard_core::contacts::*;
use switchboard_core::ports::*;
use switchboard_core::users::*;

// ---------------------------------------------------------------------------------------------
// Clock
// ---------------------------------------------------------------------------------------------

/// Moves one second on at every reading, like time during a run.
#[derive(Debug)]
pub struct TickingClock(AtomicI64);

impl Default for TickingClock {
    fn default() -> Self {
        Self(AtomicI64::new(1_700_000_000))
    }
}

impl Clock for TickingClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_second(self.0.fetch_add(1, Ordering::Relaxed)).unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// Outlook
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Folder {
    name: String,
    parent: Option<String>,
    alive: bool,
    seq: u64,
}

#[derive(Debug, Clone)]
struct Contact {
    folder: String,
    data: MailboxContact,
    alive: bool,
    seq: u64,
}

#[derive(Debug, Default)]
struct Mailbox {
    folders: BTreeMap<String, Folder>,
    contacts: BTreeMap<String, Contact>,
    /// (folder, contact id, seq): the contact left that folder (moved or deleted).
    departures: Vec<(String, String, u64)>,
}

#[derive(Debug, Default)]
struct OutlookState {
    seq: u64,
    epoch: u64,
    page_size: usize,
    mailboxes: BTreeMap<String, Mailbox>,
    /// Every read answered, in order.
    reads: Vec<MailboxRead>,
    /// Reads per call.
    calls: Vec<usize>,
    /// (mailbox, n): the nth read of that mailbox from now fails as Graph being unavailable.
    fail: Option<(String, usize)>,
}

/// Mailboxes with folders and contacts, and their delta queries.
#[derive(Debug)]
pub struct FakeOutlook {
    state: Mutex<OutlookState>,
}

const TREE: &str = "#tree";

impl FakeOutlook {
    pub fn new(page_size: usize) -> Self {
        Self {
            state: Mutex::new(OutlookState {
                page_size,
                ..OutlookState::default()
            }),
        }
    }

    pub fn add_mailbox(&self, mailbox: &str) {
        self.state
            .lock()
            .unwrap()
            .mailboxes
            .entry(mailbox.into())
            .or_default();
    }

    pub fn add_folder(&self, mailbox: &str, id: &str, name: &str, parent: Option<&str>) {
        let mut s = self.state.lock().unwrap();
        s.seq += 1;
        let seq = s.seq;
        s.mailboxes.get_mut(mailbox).unwrap().folders.insert(
            id.into(),
            Folder {
                name: name.into(),
                parent: parent.map(Into::into),
                alive: true,
                seq,
            },
        );
    }

    pub fn rename_folder(&self, mailbox: &str, id: &str, name: &str) {
        let mut s = self.state.lock().unwrap();
        s.seq += 1;
        let seq = s.seq;
        let f = s
            .mailboxes
            .get_mut(mailbox)
            .unwrap()
            .folders
            .get_mut(id)
            .unwrap();
        f.name = name.into();
        f.seq = seq;
    }

    /// Deletes a folder, the folders under it and every contact in them.
    pub fn delete_folder(&self, mailbox: &str, id: &str) {
        let mut s = self.state.lock().unwrap();
        let mut doomed = vec![id.to_owned()];
        let mb = s.mailboxes.get(mailbox).unwrap();
        loop {
            let more: Vec<String> = mb
                .folders
                .iter()
                .filter(|(fid, f)| {
                    f.alive
                        && !doomed.contains(fid)
                        && f.parent.as_ref().is_some_and(|p| doomed.contains(p))
                })
                .map(|(fid, _)| fid.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            doomed.extend(more);
        }
        for fid in doomed {
            s.seq += 1;
            let seq = s.seq;
            let mb = s.mailboxes.get_mut(mailbox).unwrap();
            let f = mb.folders.get_mut(&fid).unwrap();
            f.alive = false;
            f.seq = seq;
            for c in mb.contacts.values_mut() {
                if c.alive && c.folder == fid {
                    c.alive = false;
                    c.seq = seq;
                }
            }
        }
    }

    /// Adds or changes a contact (in `folder`; `""` is the default folder). A contact changed
    /// into another folder moves there.
    pub fn put_contact(&self, mailbox: &str, folder: &str, data: MailboxContact) {
        let mut s = self.state.lock().unwrap();
        s.seq += 1;
        let seq = s.seq;
        let mb = s.mailboxes.get_mut(mailbox).unwrap();
        if let Some(old) = mb.contacts.get(&data.id)
            && old.alive
            && old.folder != folder
        {
            mb.departures
                .push((old.folder.clone(), data.id.clone(), seq));
        }
        mb.contacts.insert(
            data.id.clone(),
            Contact {
                folder: folder.into(),
                data,
                alive: true,
                seq,
            },
        );
    }

    pub fn delete_contact(&self, mailbox: &str, id: &str) {
        let mut s = self.state.lock().unwrap();
        s.seq += 1;
        let seq = s.seq;
        let c = s
            .mailboxes
            .get_mut(mailbox)
            .unwrap()
            .contacts
            .get_mut(id)
            .unwrap();
        c.alive = false;
        c.seq = seq;
    }

    /// A change no delta round will report (as if a notification and a token were lost): only a
    /// whole-folder round finds it.
    pub fn vanish_contact(&self, mailbox: &str, id: &str) {
        let mut s = self.state.lock().unwrap();
        s.mailboxes.get_mut(mailbox).unwrap().contacts.remove(id);
    }

    /// The `n`th read of `mailbox` from now (1 = the next) fails.
    pub fn fail_read(&self, mailbox: &str, n: usize) {
        self.state.lock().unwrap().fail = Some((mailbox.into(), n));
    }

    /// Every delta token stops working.
    pub fn expire_tokens(&self) {
        self.state.lock().unwrap().epoch += 1;
    }

    pub fn take_reads(&self) -> (Vec<MailboxRead>, Vec<usize>) {
        let mut s = self.state.lock().unwrap();
        (std::mem::take(&mut s.reads), std::mem::take(&mut s.calls))
    }

    pub fn folder_ids(&self, mailbox: &str) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.mailboxes
            .get(mailbox)
            .map(|m| {
                m.folders
                    .iter()
                    .filter(|(_, f)| f.alive)
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What each mailbox holds now: (folder, contact) of every live contact.
    pub fn contents(&self, mailbox: &str) -> Vec<(String, MailboxContact)> {
        let s = self.state.lock().unwrap();
        let Some(mb) = s.mailboxes.get(mailbox) else {
            return Vec::new();
        };
        mb.contacts
            .values()
            .filter(|c| c.alive)
            .filter(|c| c.folder.is_empty() || mb.folders.get(&c.folder).is_some_and(|f| f.alive))
            .map(|c| (c.folder.clone(), c.data.clone()))
            .collect()
    }

    fn answer(s: &mut OutlookState, read: &MailboxRead) -> Result<MailboxAnswer, MailboxError> {
        let (mailbox, folder, link) = match read {
            MailboxRead::FolderDelta { mailbox, link } => (mailbox, TREE, link),
            MailboxRead::ContactsDelta {
                mailbox,
                folder,
                link,
            } => (mailbox, folder.as_str(), link),
        };
        let epoch = s.epoch;
        let seq = s.seq;
        let page_size = s.page_size;
        let Some(mb) = s.mailboxes.get(mailbox.as_str()) else {
            return Err(MailboxError::NoMailbox);
        };
        // (lower, upper, cursor, initial)
        let (lower, upper, cursor, initial) = match link {
            None => (0, seq, (0, String::new()), true),
            Some(link) => {
                let parts: Vec<&str> = link.split('|').collect();
                match parts.as_slice() {
                    ["delta", m, f, lower, e] if m == mailbox && *f == folder => {
                        if e.parse::<u64>().unwrap() != epoch {
                            return Err(MailboxError::DeltaExpired);
                        }
                        (lower.parse().unwrap(), seq, (0, String::new()), false)
                    }
                    ["next", m, f, lower, upper, cseq, cid, initial, e]
                        if m == mailbox && *f == folder =>
                    {
                        if e.parse::<u64>().unwrap() != epoch {
                            return Err(MailboxError::DeltaExpired);
                        }
                        (
                            lower.parse().unwrap(),
                            upper.parse().unwrap(),
                            (cseq.parse().unwrap(), (*cid).to_owned()),
                            *initial == "1",
                        )
                    }
                    _ => panic!("a link that was never given out: {link}"),
                }
            }
        };
        // (seq, id, upsert?)
        let mut changes: Vec<(u64, String, Option<MailboxAnswerItem>)> = Vec::new();
        if folder == TREE {
            for (id, f) in &mb.folders {
                if f.seq > lower && f.seq <= upper && (f.alive || !initial) {
                    let item = f.alive.then(|| {
                        MailboxAnswerItem::Folder(ContactFolder {
                            id: id.clone(),
                            display_name: f.name.clone(),
                            parent_folder_id: f.parent.clone(),
                        })
                    });
                    changes.push((f.seq, id.clone(), item));
                }
            }
        } else {
            if !folder.is_empty() && !mb.folders.get(folder).is_some_and(|f| f.alive) {
                return Err(MailboxError::FolderGone);
            }
            for (id, c) in &mb.contacts {
                if c.folder == folder && c.seq > lower && c.seq <= upper && (c.alive || !initial) {
                    let item = c
                        .alive
                        .then(|| MailboxAnswerItem::Contact(Box::new(c.data.clone())));
                    changes.push((c.seq, id.clone(), item));
                }
            }
            if !initial {
                for (f, id, dseq) in &mb.departures {
                    if f == folder && *dseq > lower && *dseq <= upper {
                        changes.push((*dseq, id.clone(), None));
                    }
                }
            }
        }
        changes.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        changes.retain(|c| (c.0, &c.1) > (cursor.0, &cursor.1));
        // A full page always has a next one, possibly empty (as Graph does).
        let more = changes.len() >= page_size;
        changes.truncate(page_size);
        let (next, delta) = if more {
            let last = changes.last().unwrap();
            (
                Some(format!(
                    "next|{mailbox}|{folder}|{lower}|{upper}|{}|{}|{}|{epoch}",
                    last.0,
                    last.1,
                    if initial { 1 } else { 0 }
                )),
                None,
            )
        } else {
            (
                None,
                Some(format!("delta|{mailbox}|{folder}|{upper}|{epoch}")),
            )
        };
        if folder == TREE {
            Ok(MailboxAnswer::Folders(FolderPage {
                changes: changes
                    .into_iter()
                    .map(|(_, id, item)| match item {
                        Some(MailboxAnswerItem::Folder(f)) => FolderChange::Upsert(f),
                        _ => FolderChange::Removed { id },
                    })
                    .collect(),
                next,
                delta_link: delta,
            }))
        } else {
            Ok(MailboxAnswer::Contacts(ContactPage {
                changes: changes
                    .into_iter()
                    .map(|(_, id, item)| match item {
                        Some(MailboxAnswerItem::Contact(c)) => ContactChange::Upsert(*c),
                        _ => ContactChange::Removed { id },
                    })
                    .collect(),
                next,
                delta_link: delta,
            }))
        }
    }
}

enum MailboxAnswerItem {
    Folder(ContactFolder),
    Contact(Box<MailboxContact>),
}

#[async_trait]
impl MailboxSource for FakeOutlook {
    async fn read(&self, reads: Vec<MailboxRead>) -> Vec<Result<MailboxAnswer, MailboxError>> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(reads.len());
        let answers = reads
            .iter()
            .map(|r| {
                if let Some((m, n)) = s.fail.as_mut()
                    && m == r.mailbox()
                {
                    *n -= 1;
                    if *n == 0 {
                        s.fail = None;
                        return Err(MailboxError::Graph(DirectoryError::Unavailable(
                            "503 Service Unavailable".into(),
                        )));
                    }
                }
                Self::answer(&mut s, r)
            })
            .collect();
        s.reads.extend(reads);
        answers
    }
}

// ---------------------------------------------------------------------------------------------
// Phonebook store
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
pub struct StoreState {
    /// (mailbox, contact) → entry and the whole-folder round that last saw it.
    pub entries: BTreeMap<(String, String), (PhonebookEntry, Option<i64>)>,
    pub mailboxes: BTreeMap<String, MailboxSyncState>,
    pub folders: BTreeMap<(String, String), FolderSyncState>,
    /// Mutating calls so far.
    pub writes: usize,
    pub phonebook_writes: usize,
    pub state_saves: usize,
    /// The mutating call (1-based, counted from now) that fails, as a crash would.
    pub fail_at: Option<usize>,
}

#[derive(Debug, Default)]
pub struct FakePhonebooks {
    pub state: Mutex<StoreState>,
}

impl FakePhonebooks {
    fn mutate(s: &mut StoreState) -> Result<(), StoreError> {
        s.writes += 1;
        if let Some(n) = s.fail_at.as_mut() {
            *n -= 1;
            if *n == 0 {
                s.fail_at = None;
                return Err(StoreError::Database("injected failure".into()));
            }
        }
        Ok(())
    }

    /// Fail the `n`th mutating call from now (1 = the next one).
    pub fn fail_at(&self, n: usize) {
        self.state.lock().unwrap().fail_at = Some(n);
    }

    pub fn reset_counters(&self) {
        let mut s = self.state.lock().unwrap();
        s.writes = 0;
        s.phonebook_writes = 0;
        s.state_saves = 0;
    }

    pub fn entries(&self) -> Vec<PhonebookEntry> {
        let s = self.state.lock().unwrap();
        s.entries.values().map(|(e, _)| e.clone()).collect()
    }

    pub fn insert_local(&self, entry: PhonebookEntry) {
        let mut s = self.state.lock().unwrap();
        s.entries.insert(
            (entry.mailbox_id.clone(), entry.contact_id.clone()),
            (entry, None),
        );
    }
}

fn same(a: &PhonebookEntry, b: &PhonebookEntry) -> bool {
    PhonebookEntry {
        updated_at: b.updated_at,
        ..a.clone()
    } == *b
}

#[async_trait]
impl PhonebookStore for FakePhonebooks {
    async fn apply_phonebook_write(&self, w: &PhonebookWrite) -> Result<(), StoreError> {
        let mut s = self.state.lock().unwrap();
        Self::mutate(&mut s)?;
        s.phonebook_writes += 1;
        let mailbox = w.mailbox_id.clone();
        let folder = w.folder.folder_id.clone();
        assert!(w.upserts.iter().all(|e| e.mailbox_id == mailbox));
        let m = s.mailboxes.entry(mailbox.clone()).or_default();
        m.mailbox_id = mailbox.clone();
        m.book = w.book.as_key().to_owned();
        let round = w.folder.full_round.or(w.finish_round);
        let upserted: Vec<&str> = w.upserts.iter().map(|e| e.contact_id.as_str()).collect();
        for id in &w.removals {
            if upserted.contains(&id.as_str()) {
                continue;
            }
            let key = (mailbox.clone(), id.clone());
            if s.entries
                .get(&key)
                .is_some_and(|(e, _)| e.origin == EntryOrigin::Outlook && e.folder_id == folder)
            {
                s.entries.remove(&key);
            }
        }
        for e in &w.upserts {
            let key = (mailbox.clone(), e.contact_id.clone());
            match s.entries.get_mut(&key) {
                Some((old, _)) if old.origin == EntryOrigin::Local => {}
                Some((old, r)) => {
                    if !same(old, e) {
                        *old = e.clone();
                    }
                    if round.is_some() {
                        *r = round;
                    }
                }
                None => {
                    s.entries.insert(key, (e.clone(), round));
                }
            }
        }
        let mut state = w.folder.clone();
        if let Some(finished) = w.finish_round {
            s.entries.retain(|(m, _), (e, r)| {
                !(*m == mailbox
                    && e.folder_id == folder
                    && e.origin == EntryOrigin::Outlook
                    && *r != Some(finished))
            });
            state.full_round = None;
        }
        s.folders.insert((mailbox, folder), state);
        Ok(())
    }

    async fn remove_folder(&self, mailbox_id: &str, folder_id: &str) -> Result<u64, StoreError> {
        let mut s = self.state.lock().unwrap();
        Self::mutate(&mut s)?;
        let before = s.entries.len();
        s.entries.retain(|(m, _), (e, _)| {
            !(m == mailbox_id && e.folder_id == folder_id && e.origin == EntryOrigin::Outlook)
        });
        let removed = (before - s.entries.len()) as u64;
        s.folders
            .remove(&(mailbox_id.to_owned(), folder_id.to_owned()));
        Ok(removed)
    }

    async fn remove_mailbox(&self, mailbox_id: &str) -> Result<u64, StoreError> {
        let mut s = self.state.lock().unwrap();
        Self::mutate(&mut s)?;
        let before = s.entries.len();
        s.entries
            .retain(|(m, _), (e, _)| !(m == mailbox_id && e.origin == EntryOrigin::Outlook));
        let removed = (before - s.entries.len()) as u64;
        s.folders.retain(|(m, _), _| m != mailbox_id);
        s.mailboxes.remove(mailbox_id);
        Ok(removed)
    }

    async fn load_mailbox_state(
        &self,
        mailbox_id: &str,
    ) -> Result<Option<MailboxSyncState>, StoreError> {
        let s = self.state.lock().unwrap();
        Ok(s.mailboxes.get(mailbox_id).map(|m| MailboxSyncState {
            folders: s
                .folders
                .iter()
                .filter(|((mm, _), _)| mm == mailbox_id)
                .map(|(_, f)| f.clone())
                .collect(),
            ..m.clone()
        }))
    }

    async fn save_mailbox_state(&self, state: &MailboxSyncState) -> Result<(), StoreError> {
        let mut s = self.state.lock().unwrap();
        Self::mutate(&mut s)?;
        s.state_saves += 1;
        s.mailboxes.insert(
            state.mailbox_id.clone(),
            MailboxSyncState {
                folders: Vec::new(),
                ..state.clone()
            },
        );
        Ok(())
    }

    async fn list_mailboxes(&self) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
        let s = self.state.lock().unwrap();
        Ok(s.mailboxes
            .values()
            .map(|m| (m.mailbox_id.clone(), m.book.clone(), m.skipped.clone()))
            .collect())
    }

    async fn phonebook(
        &self,
        book: &Book,
        query: &PhonebookQuery,
    ) -> Result<Vec<PhonebookEntry>, StoreError> {
        let s = self.state.lock().unwrap();
        let mut all: Vec<PhonebookEntry> = s
            .entries
            .values()
            .map(|(e, _)| e)
            .filter(|e| &e.book == book)
            .cloned()
            .collect();
        all.sort_by(|a, b| (&a.display_name, &a.contact_id).cmp(&(&b.display_name, &b.contact_id)));
        Ok(all
            .into_iter()
            .skip(query.offset as usize)
            .take(query.limit as usize)
            .collect())
    }

    async fn count_phonebook(&self, book: &Book) -> Result<u64, StoreError> {
        let s = self.state.lock().unwrap();
        Ok(s.entries.values().filter(|(e, _)| &e.book == book).count() as u64)
    }

    async fn phonebook_entries_page(
        &self,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<PhonebookEntry>, StoreError> {
        let s = self.state.lock().unwrap();
        Ok(s.entries
            .iter()
            .filter(|((m, c), _)| after.is_none_or(|(am, ac)| (m.as_str(), c.as_str()) > (am, ac)))
            .take(limit as usize)
            .map(|(_, (e, _))| e.clone())
            .collect())
    }

    async fn book_version(&self, _: &Book) -> Result<i64, StoreError> {
        Ok(0)
    }

    async fn set_phonebook_secret(&self, _: &str, _: Option<&str>) -> Result<bool, StoreError> {
        unreachable!("not used by contact sync")
    }

    async fn phonebook_secret(&self, _: &str) -> Result<Option<String>, StoreError> {
        unreachable!("not used by contact sync")
    }
}

// ---------------------------------------------------------------------------------------------
// Extensions, settings, runs
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
pub struct FakeExtensions {
    pub records: Mutex<Vec<ExtensionRecord>>,
    pub settings: Mutex<HashMap<String, serde_json::Value>>,
    pub runs: Mutex<Vec<SyncRunRecord>>,
}

impl FakeExtensions {
    pub fn add(&self, number: &str, user: Option<&str>, name: &str, region: &str) {
        let mut records = self.records.lock().unwrap();
        records.push(ExtensionRecord {
            number: number.into(),
            origin: if user.is_some() {
                Origin::AzureAd
            } else {
                Origin::Local
            },
            graph_user_id: user.map(Into::into),
            fields: SyncedFields {
                display_name: name.into(),
                usage_location: region.into(),
                ..SyncedFields::default()
            },
            enabled: true,
            excluded: false,
            groups: Vec::new(),
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
            synced_at: None,
        });
        records.sort_by(|a, b| a.number.cmp(&b.number));
    }

    pub fn remove(&self, number: &str) {
        self.records.lock().unwrap().retain(|r| r.number != number);
    }

    pub fn set_config(&self, config: &ContactSyncConfig) {
        self.settings.lock().unwrap().insert(
            CONTACT_SYNC_SETTINGS_KEY.into(),
            serde_json::to_value(config).unwrap(),
        );
    }
}

#[async_trait]
impl ExtensionStore for FakeExtensions {
    async fn list_extensions(
        &self,
        query: &ExtensionQuery,
    ) -> Result<Vec<ExtensionRecord>, StoreError> {
        Ok(self
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| query.after.as_deref().is_none_or(|a| r.number.as_str() > a))
            .take(query.limit as usize)
            .cloned()
            .collect())
    }
    async fn get_extension(&self, _: &str) -> Result<Option<ExtensionRecord>, StoreError> {
        unreachable!("not used by contact sync")
    }
    async fn count_extensions(&self) -> Result<u64, StoreError> {
        unreachable!("not used by contact sync")
    }
    async fn create_local_extension(
        &self,
        _: &str,
        _: &SyncedFields,
        _: &str,
        _: Timestamp,
    ) -> Result<(), StoreError> {
        unreachable!("not used by contact sync")
    }
    async fn edit_extension(
        &self,
        _: &str,
        _: &SyncedFields,
        _: &str,
        _: Timestamp,
    ) -> Result<bool, StoreError> {
        unreachable!("not used by contact sync")
    }
    async fn set_excluded(
        &self,
        _: &str,
        _: bool,
        _: &str,
        _: Timestamp,
    ) -> Result<bool, StoreError> {
        unreachable!("not used by contact sync")
    }
    async fn delete_extension(&self, _: &str, _: &str, _: Timestamp) -> Result<bool, StoreError> {
        unreachable!("not used by contact sync")
    }
    async fn planning_snapshot(&self) -> Result<PlanningSnapshot, StoreError> {
        unreachable!("not used by contact sync")
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
        unreachable!("not used by contact sync")
    }
    async fn rebuild_department_groups(&self, _: bool) -> Result<u64, StoreError> {
        unreachable!("not used by contact sync")
    }
    async fn admin_deleted_synced_users(&self, _: u32) -> Result<Vec<String>, StoreError> {
        unreachable!("not used by contact sync")
    }
    async fn locally_edited_synced_users(&self, _: u32) -> Result<Vec<String>, StoreError> {
        unreachable!("not used by contact sync")
    }
    async fn apply_user_batch(&self, _: &UserSyncBatch) -> Result<(), StoreError> {
        unreachable!("not used by contact sync")
    }
    async fn load_sync_state(&self, _: &str) -> Result<SyncState, StoreError> {
        unreachable!("contact sync keeps its state in the phonebook store")
    }
    async fn save_sync_state(&self, _: &str, _: &SyncState) -> Result<(), StoreError> {
        unreachable!("contact sync keeps its state in the phonebook store")
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
        unreachable!("not used by contact sync")
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

// ---------------------------------------------------------------------------------------------
// Directory (group members only)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
pub struct FakeDirectory {
    pub groups: Mutex<HashMap<String, Vec<String>>>,
}

#[async_trait]
impl DirectorySource for FakeDirectory {
    async fn users_page(&self, _: &DirectoryCursor) -> Result<DirectoryPage, DirectoryError> {
        unreachable!("not used by contact sync")
    }
    async fn users_by_ids(&self, _: &[String]) -> Result<Vec<DirectoryUser>, DirectoryError> {
        unreachable!("not used by contact sync")
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
        unreachable!("not used by contact sync")
    }
    async fn search_groups(&self, _: &str, _: u32) -> Result<Vec<DirectoryGroup>, DirectoryError> {
        unreachable!("not used by contact sync")
    }
}

// ---------------------------------------------------------------------------------------------
// A world to sync
// ---------------------------------------------------------------------------------------------

pub struct World {
    pub outlook: Arc<FakeOutlook>,
    pub store: Arc<FakePhonebooks>,
    pub extensions: Arc<FakeExtensions>,
    pub directory: Arc<FakeDirectory>,
    pub index: Arc<PhonebookIndex>,
    pub sync: ContactSync,
}

impl World {
    pub fn new(page_size: usize) -> Self {
        let outlook = Arc::new(FakeOutlook::new(page_size));
        let store = Arc::new(FakePhonebooks::default());
        let extensions = Arc::new(FakeExtensions::default());
        let directory = Arc::new(FakeDirectory::default());
        let index = Arc::new(PhonebookIndex::new("GB"));
        let sync = ContactSync::new(
            extensions.clone(),
            store.clone(),
            outlook.clone(),
            directory.clone(),
            index.clone(),
            Arc::new(TickingClock::default()),
            FreshnessMode::Polling,
        );
        extensions.set_config(&ContactSyncConfig {
            default_region: "GB".into(),
            ..ContactSyncConfig::default()
        });
        Self {
            outlook,
            store,
            extensions,
            directory,
            index,
            sync,
        }
    }

    /// A fresh world sharing this one's Outlook and store (a restarted process).
    pub fn restarted(&self) -> ContactSync {
        ContactSync::new(
            self.extensions.clone(),
            self.store.clone(),
            self.outlook.clone(),
            self.directory.clone(),
            self.index.clone(),
            Arc::new(TickingClock(AtomicI64::new(1_800_000_000))),
            FreshnessMode::Polling,
        )
    }

    pub fn config(&self) -> ContactSyncConfig {
        let v = self
            .extensions
            .settings
            .lock()
            .unwrap()
            .get(CONTACT_SYNC_SETTINGS_KEY)
            .cloned()
            .unwrap();
        serde_json::from_value(v).unwrap()
    }

    /// Where each in-scope mailbox's contacts should be: the Outlook model read the way the
    /// sync reads it, keyed by (mailbox, contact), `updated_at` left out.
    pub fn expected(
        &self,
        mailboxes: &[(&str, Book, &str)],
    ) -> BTreeMap<(String, String), PhonebookEntry> {
        let mut out = BTreeMap::new();
        for (mailbox, book, region) in mailboxes {
            for (folder, c) in self.outlook.contents(mailbox) {
                let e = phone::entry_from_contact(
                    &c,
                    book.clone(),
                    mailbox,
                    &folder,
                    region,
                    Timestamp::UNIX_EPOCH,
                );
                out.insert((mailbox.to_string(), c.id.clone()), e);
            }
        }
        out
    }

    /// Every stored folder of these mailboxes ended its round: a deltaLink, no round open.
    pub fn assert_rounds_ended(&self, mailboxes: &[&str]) {
        let s = self.store.state.lock().unwrap();
        for ((m, f), state) in &s.folders {
            if !mailboxes.contains(&m.as_str()) {
                continue;
            }
            let link = state.link.as_deref().unwrap_or_default();
            assert!(link.starts_with("delta|"), "folder {f:?} of {m}: {link:?}");
            assert_eq!(state.full_round, None, "folder {f:?} of {m}");
        }
        for m in mailboxes {
            if let Some(state) = s.mailboxes.get(*m) {
                let link = state.folder_link.as_deref().unwrap_or_default();
                assert!(link.starts_with("delta|"), "folder tree of {m}: {link:?}");
            }
        }
    }

    /// The synced entries the store holds, in the same form.
    pub fn synced(&self) -> BTreeMap<(String, String), PhonebookEntry> {
        self.store
            .entries()
            .into_iter()
            .filter(|e| e.origin == EntryOrigin::Outlook)
            .map(|e| {
                (
                    (e.mailbox_id.clone(), e.contact_id.clone()),
                    PhonebookEntry {
                        updated_at: Timestamp::UNIX_EPOCH,
                        ..e
                    },
                )
            })
            .collect()
    }

    /// The index answers every stored number as an index rebuilt from the store would.
    pub fn assert_index_agrees(&self) {
        let fresh = PhonebookIndex::new(&self.index.default_region());
        let exts: Vec<IndexedExtension> = self
            .extensions
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.enabled)
            .map(|r| IndexedExtension {
                number: r.number.clone(),
                display_name: r.fields.display_name.clone(),
                region: r.fields.usage_location.clone(),
                numbers: [r.fields.mobile.clone(), r.fields.business_phone.clone()]
                    .into_iter()
                    .filter(|n| !n.is_empty())
                    .collect(),
            })
            .collect();
        fresh.set_extensions(exts.clone());
        let entries = self.store.entries();
        for e in &entries {
            fresh.upsert(e);
        }
        assert_eq!(self.index.len(), fresh.len(), "entries indexed");
        let mut callees: Vec<Option<String>> = vec![None];
        callees.extend(exts.iter().map(|x| Some(x.number.clone())));
        for e in &entries {
            for p in &e.phones {
                let Some(n) = &p.e164 else { continue };
                for callee in &callees {
                    assert_eq!(
                        self.index.lookup(n, callee.as_deref()),
                        fresh.lookup(n, callee.as_deref()),
                        "lookup of {n} as {callee:?}"
                    );
                }
            }
        }
    }
}

pub fn contact(id: &str, name: &str, number: &str) -> MailboxContact {
    MailboxContact {
        id: id.into(),
        display_name: Some(name.into()),
        business_phones: vec![number.into()],
        ..MailboxContact::default()
    }
}
