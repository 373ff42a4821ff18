//! In-memory fakes of core's ports.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use secrecy::SecretString;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use switchboard_core::Clock;
use switchboard_core::auth::{AdminUser, ApiTokenRecord, SessionRecord};
use switchboard_core::office365::{
    CertificateInfo, ConnectFailure, Connection, GeneratedCredential,
};
use switchboard_core::ports::{
    AppCredentials, AppToken, CertificateError, CertificateFactory, DirectoryChange,
    DirectoryCursor, DirectoryError, DirectoryPage, DirectorySource, GrantedSubscription, KeyVault,
    NewSubscription, Organization, ReceivedNotification, Store, StoreError, SubscriptionApi,
    SubscriptionRecord, SubscriptionStore, TenantGateway, VaultError,
};
use switchboard_core::users::{DirectoryGroup, DirectoryUser};
use tokio::sync::Semaphore;

pub const CERT_PEM: &str =
    "-----BEGIN CERTIFICATE-----\nMIIBfakeCERTIFICATEbody0123456789\n-----END CERTIFICATE-----\n";
/// Must never appear in any HTTP response.
pub const KEY_MARKER: &str = "TOP-SECRET-KEY-MATERIAL";
pub const KEY_PEM: &str =
    "-----BEGIN PRIVATE KEY-----\nTOP-SECRET-KEY-MATERIAL\n-----END PRIVATE KEY-----\n";

#[derive(Debug, Default)]
pub struct MemStore {
    inner: Mutex<MemInner>,
}

#[derive(Debug, Default)]
struct MemInner {
    connection: Connection,
    states: HashMap<String, Timestamp>,
    admins: HashMap<String, AdminUser>,
    sessions: HashMap<String, SessionRecord>,
    tokens: HashMap<String, ApiTokenRecord>,
    /// `find_api_token` calls so far (the token cache should keep this low).
    token_lookups: u32,
    /// Makes `find_api_token` fail, as a database that went away would.
    fail_token_lookups: bool,
}

impl MemStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn connection(&self) -> Connection {
        self.lock().connection.clone()
    }
    pub fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }
    pub fn token_lookups(&self) -> u32 {
        self.lock().token_lookups
    }
    pub fn fail_token_lookups(&self, fail: bool) {
        self.lock().fail_token_lookups = fail;
    }
    /// Deletes an API token, as `switchboard admin token` revoking it in another process would.
    pub fn revoke_api_token(&self, token_hash: &str) -> bool {
        self.lock().tokens.remove(token_hash).is_some()
    }
}

#[async_trait]
impl Store for MemStore {
    async fn load_connection(&self) -> Result<Connection, StoreError> {
        Ok(self.lock().connection.clone())
    }
    async fn save_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        self.lock().connection = connection.clone();
        Ok(())
    }
    async fn put_consent_state(
        &self,
        state: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.lock().states.insert(state.to_owned(), expires_at);
        Ok(())
    }
    async fn take_consent_state(&self, state: &str, now: Timestamp) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .states
            .remove(state)
            .is_some_and(|exp| now < exp))
    }
    async fn create_admin(&self, admin: &AdminUser) -> Result<(), StoreError> {
        self.lock()
            .admins
            .insert(admin.username.clone(), admin.clone());
        Ok(())
    }
    async fn find_admin(&self, username: &str) -> Result<Option<AdminUser>, StoreError> {
        Ok(self.lock().admins.get(username).cloned())
    }
    async fn set_admin_password(&self, username: &str, hash: &str) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .admins
            .get_mut(username)
            .map(|a| a.password_hash = hash.to_owned())
            .is_some())
    }
    async fn count_admins(&self) -> Result<u64, StoreError> {
        Ok(self.lock().admins.len() as u64)
    }
    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.lock()
            .sessions
            .insert(session.id_hash.clone(), session.clone());
        Ok(())
    }
    async fn find_session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self
            .lock()
            .sessions
            .get(id_hash)
            .filter(|s| now < s.expires_at)
            .cloned())
    }
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        self.lock().sessions.remove(id_hash);
        Ok(())
    }
    async fn delete_sessions_of(&self, username: &str) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let before = inner.sessions.len();
        inner.sessions.retain(|_, s| s.username != username);
        Ok((before - inner.sessions.len()) as u64)
    }
    async fn create_api_token(&self, token: &ApiTokenRecord) -> Result<(), StoreError> {
        self.lock()
            .tokens
            .insert(token.token_hash.clone(), token.clone());
        Ok(())
    }
    async fn find_api_token(&self, token_hash: &str) -> Result<Option<ApiTokenRecord>, StoreError> {
        let mut inner = self.lock();
        inner.token_lookups += 1;
        if inner.fail_token_lookups {
            return Err(StoreError::Database("the test database is down".into()));
        }
        Ok(inner.tokens.get(token_hash).cloned())
    }
}

#[derive(Debug, Default)]
pub struct FakeVault {
    keys: Mutex<HashMap<String, String>>,
    next: AtomicU32,
}

#[async_trait]
impl KeyVault for FakeVault {
    async fn put(&self, key: &SecretString) -> Result<String, VaultError> {
        use secrecy::ExposeSecret;
        let r = format!("key-{}", self.next.fetch_add(1, Ordering::SeqCst));
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(r.clone(), key.expose_secret().to_owned());
        Ok(r)
    }
    async fn get(&self, key_ref: &str) -> Result<SecretString, VaultError> {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key_ref)
            .map(|k| SecretString::from(k.clone()))
            .ok_or_else(|| VaultError::NotFound(key_ref.to_owned()))
    }
    async fn delete(&self, key_ref: &str) -> Result<(), VaultError> {
        self.keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key_ref);
        Ok(())
    }
}

/// Returns the fixed PEMs; thumbprints count up so rotations are distinguishable.
#[derive(Debug, Default)]
pub struct FakeFactory {
    generated: AtomicU32,
}

#[async_trait]
impl CertificateFactory for FakeFactory {
    async fn generate(
        &self,
        subject: &str,
        not_before: Timestamp,
        validity_days: u32,
    ) -> Result<GeneratedCredential, CertificateError> {
        let n = self.generated.fetch_add(1, Ordering::SeqCst);
        Ok(GeneratedCredential {
            certificate_pem: CERT_PEM.to_owned(),
            private_key_pem: SecretString::from(KEY_PEM.to_owned()),
            info: CertificateInfo {
                subject: subject.to_owned(),
                thumbprint_sha1: format!("{n:02X}{}", "AB".repeat(19)),
                thumbprint_sha256: format!("{n:02X}{}", "CD".repeat(31)),
                x5t: "x5t".into(),
                x5t_s256: "x5tS256".into(),
                not_before,
                not_after: not_before + SignedDuration::from_hours(24 * i64::from(validity_days)),
            },
        })
    }
}

/// Answers what the test set: by default a token with every required role.
#[derive(Debug)]
pub struct FakeGateway {
    pub token: Mutex<Result<AppToken, ConnectFailure>>,
}

impl Default for FakeGateway {
    fn default() -> Self {
        Self {
            token: Mutex::new(Ok(AppToken {
                roles: switchboard_core::office365::REQUIRED_PERMISSIONS
                    .iter()
                    .map(|p| p.name.to_owned())
                    .collect(),
                tenant_id: Some("72f988bf-86f1-41af-91ab-2d7cd011db47".into()),
                expires_in_secs: 3600,
            })),
        }
    }
}

#[async_trait]
impl TenantGateway for FakeGateway {
    async fn acquire_token(&self, _: &AppCredentials<'_>) -> Result<AppToken, ConnectFailure> {
        self.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    async fn organization(&self, _: &AppCredentials<'_>) -> Result<Organization, ConnectFailure> {
        Ok(Organization {
            id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            display_name: "Contoso".into(),
            default_domain: Some("contoso.onmicrosoft.com".into()),
        })
    }
}

#[derive(Debug)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// Microsoft 365 users for `UserSync`: the full list is `users` in one page; every delta round
/// returns the next scripted `deltas` entry (or nothing). With `block()`, every call waits
/// until `release()`, so a run can be held in flight.
#[derive(Debug, Default)]
pub struct FakeDirectory {
    pub users: Mutex<Vec<DirectoryUser>>,
    pub deltas: Mutex<VecDeque<Vec<DirectoryChange>>>,
    pub error: Mutex<Option<DirectoryError>>,
    /// What `search_groups` looks through.
    pub groups: Mutex<Vec<DirectoryGroup>>,
    /// Every search as `(kind, query, limit)`, kind `users` or `groups`.
    pub searches: Mutex<Vec<(&'static str, String, u32)>>,
    gate: Mutex<Option<std::sync::Arc<Semaphore>>>,
    rounds: AtomicU32,
    pub calls: AtomicU32,
}

impl FakeDirectory {
    pub fn set_users(&self, users: Vec<DirectoryUser>) {
        *self.users.lock().unwrap_or_else(|e| e.into_inner()) = users;
    }
    pub fn fail_with(&self, error: Option<DirectoryError>) {
        *self.error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }
    pub fn block(&self) {
        *self.gate.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(std::sync::Arc::new(Semaphore::new(0)));
    }
    pub fn release(&self) {
        if let Some(gate) = self.gate.lock().unwrap_or_else(|e| e.into_inner()).take() {
            gate.add_permits(1);
        }
    }
}

#[async_trait]
impl DirectorySource for FakeDirectory {
    async fn users_page(&self, cursor: &DirectoryCursor) -> Result<DirectoryPage, DirectoryError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let gate = self.gate.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(gate) = gate {
            let _permit = gate.acquire().await;
        }
        if let Some(e) = self.error.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(e);
        }
        let round = self.rounds.fetch_add(1, Ordering::SeqCst);
        Ok(match cursor {
            DirectoryCursor::FullList { .. } => DirectoryPage {
                changes: self
                    .users
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .cloned()
                    .map(DirectoryChange::Upsert)
                    .collect(),
                next: None,
                delta_link: None,
            },
            DirectoryCursor::LatestDelta => DirectoryPage {
                changes: Vec::new(),
                next: None,
                delta_link: Some(format!("https://graph.test/v1.0/users/delta?round={round}")),
            },
            DirectoryCursor::Link(_) => DirectoryPage {
                changes: self
                    .deltas
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .pop_front()
                    .unwrap_or_default(),
                next: None,
                delta_link: Some(format!("https://graph.test/v1.0/users/delta?round={round}")),
            },
        })
    }

    async fn group_member_ids(&self, _group_id: &str) -> Result<Vec<String>, DirectoryError> {
        Ok(Vec::new())
    }

    async fn users_by_ids(&self, ids: &[String]) -> Result<Vec<DirectoryUser>, DirectoryError> {
        Ok(self
            .users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|u| ids.contains(&u.id))
            .cloned()
            .collect())
    }

    /// Like Graph's `$search`: a word of the name, UPN or mail starts with the query.
    async fn search_users(
        &self,
        query: &str,
        limit: u32,
    ) -> Result<Vec<DirectoryUser>, DirectoryError> {
        self.record_search("users", query, limit)?;
        if query.trim().is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|u| {
                [&u.display_name, &u.user_principal_name, &u.mail]
                    .into_iter()
                    .flatten()
                    .any(|text| word_prefix(text, query))
            })
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn search_groups(
        &self,
        query: &str,
        limit: u32,
    ) -> Result<Vec<DirectoryGroup>, DirectoryError> {
        self.record_search("groups", query, limit)?;
        if query.trim().is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|g| {
                word_prefix(&g.display_name, query)
                    || g.mail.as_deref().is_some_and(|m| word_prefix(m, query))
            })
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

impl FakeDirectory {
    fn record_search(
        &self,
        kind: &'static str,
        query: &str,
        limit: u32,
    ) -> Result<(), DirectoryError> {
        self.searches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((kind, query.to_owned(), limit));
        match self.error.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A word of `text` (split at non-alphanumerics) starts with `query`, ignoring case.
fn word_prefix(text: &str, query: &str) -> bool {
    let text = text.to_lowercase();
    let query = query.trim().to_lowercase();
    let mut boundary = true;
    for (i, c) in text.char_indices() {
        if boundary && text[i..].starts_with(&query) {
            return true;
        }
        boundary = !c.is_alphanumeric();
    }
    false
}

/// A member of the tenant with the usual attributes.
pub fn member(n: u32, first: &str, last: &str) -> DirectoryUser {
    let upn = format!(
        "{}.{}@contoso.com",
        first.to_lowercase(),
        last.to_lowercase()
    );
    DirectoryUser {
        id: user_id(n),
        display_name: Some(format!("{first} {last}")),
        given_name: Some(first.into()),
        surname: Some(last.into()),
        mail: Some(upn.clone()),
        user_principal_name: Some(upn),
        mobile_phone: Some(format!("+1 425 555 01{n:02}")),
        business_phones: Vec::new(),
        job_title: Some("Engineer".into()),
        department: Some("Sales".into()),
        office_location: Some("Building 1".into()),
        account_enabled: Some(true),
        user_type: Some("Member".into()),
        employee_id: None,
        usage_location: None,
    }
}

/// A guest: skipped unless guests are included.
pub fn guest(n: u32, name: &str) -> DirectoryUser {
    DirectoryUser {
        user_type: Some("Guest".into()),
        display_name: Some(name.into()),
        ..member(n, name, "Guest")
    }
}

/// The Entra object id of test user `n`.
pub fn user_id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// Starts at a fixed instant and moves one second on every reading, so runs have distinct
/// start times (the sync's clock; sessions and certificates keep the fixed one).
#[derive(Debug)]
pub struct SteppingClock {
    start: Timestamp,
    ticks: AtomicU32,
}

impl SteppingClock {
    pub fn new(start: Timestamp) -> Self {
        Self {
            start,
            ticks: AtomicU32::new(0),
        }
    }
}

impl Clock for SteppingClock {
    fn now(&self) -> Timestamp {
        let n = self.ticks.fetch_add(1, Ordering::SeqCst);
        self.start + SignedDuration::from_secs(i64::from(n))
    }
}

/// Graph subscriptions and received notifications, in memory. Deduplicates notifications on
/// (subscription, resource id, change type, sequence), like the real store.
#[derive(Debug, Default)]
pub struct MemSubscriptions {
    subscriptions: Mutex<HashMap<String, SubscriptionRecord>>,
    notifications: Mutex<Vec<ReceivedNotification>>,
}

impl MemSubscriptions {
    pub fn notifications(&self) -> Vec<ReceivedNotification> {
        self.notifications
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait]
impl SubscriptionStore for MemSubscriptions {
    async fn save_subscription(&self, subscription: &SubscriptionRecord) -> Result<(), StoreError> {
        self.subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(subscription.id.clone(), subscription.clone());
        Ok(())
    }
    async fn list_subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError> {
        let subscriptions = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        Ok(subscriptions.values().cloned().collect())
    }
    async fn find_subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        let subscriptions = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        Ok(subscriptions.get(id).cloned())
    }
    async fn delete_subscription(&self, id: &str) -> Result<(), StoreError> {
        self.subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        Ok(())
    }
    async fn record_notification(
        &self,
        notification: &ReceivedNotification,
    ) -> Result<bool, StoreError> {
        let mut notifications = self.notifications.lock().unwrap_or_else(|e| e.into_inner());
        let duplicate = notifications.iter().any(|n| {
            n.subscription_id == notification.subscription_id
                && n.resource_id == notification.resource_id
                && n.change_type == notification.change_type
                && n.sequence == notification.sequence
        });
        if !duplicate {
            notifications.push(notification.clone());
        }
        Ok(!duplicate)
    }
}

/// Microsoft Graph's `/subscriptions`, in memory: logs every call; `fail_create` (Graph's error
/// message) makes creations fail, e.g. with [`FakeSubscriptionApi::HANDSHAKE_FAILURE`].
#[derive(Debug, Default)]
pub struct FakeSubscriptionApi {
    pub log: Mutex<Vec<String>>,
    pub created: Mutex<Vec<NewSubscription>>,
    pub fail_create: Mutex<Option<String>>,
    next: AtomicU32,
}

impl FakeSubscriptionApi {
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// What Graph answers when the notification endpoint fails the validation handshake.
    pub const HANDSHAKE_FAILURE: &str = "400 ValidationError: Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.";
}

#[async_trait]
impl SubscriptionApi for FakeSubscriptionApi {
    async fn create(&self, r: &NewSubscription) -> Result<GrantedSubscription, DirectoryError> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("create {} {}", r.resource, r.change_type));
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(r.clone());
        if let Some(message) = self
            .fail_create
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Err(DirectoryError::Protocol(message));
        }
        let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(GrantedSubscription {
            id: format!("test-sub-{n}"),
            resource: r.resource.clone(),
            expires_at: r.expiration,
        })
    }
    async fn renew(&self, id: &str, at: Timestamp) -> Result<GrantedSubscription, DirectoryError> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("renew {id}"));
        Ok(GrantedSubscription {
            id: id.into(),
            resource: "users".into(),
            expires_at: at,
        })
    }
    async fn reauthorize(&self, id: &str) -> Result<(), DirectoryError> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("reauthorize {id}"));
        Ok(())
    }
    async fn delete(&self, id: &str) -> Result<(), DirectoryError> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("delete {id}"));
        Ok(())
    }
}

// --- phonebooks ---

use std::collections::BTreeMap;
use switchboard_core::contacts::{
    Book, EntryOrigin, MailboxSyncState, PhonebookEntry, PhonebookQuery, PhonebookWrite,
};
use switchboard_core::ports::PhonebookStore;

/// Phonebook entries, mailbox sync states, book versions and phonebook secrets in memory.
/// Every change to a book gives it a new version from one counter (like a database sequence).
/// Whole-folder rounds (`finish_round`) are not tracked: entries carry no round number here.
#[derive(Debug, Default)]
pub struct MemPhonebooks {
    inner: Mutex<PhonebookInner>,
}

#[derive(Debug, Default)]
struct PhonebookInner {
    /// By (mailbox id, contact id).
    entries: BTreeMap<(String, String), PhonebookEntry>,
    states: HashMap<String, MailboxSyncState>,
    /// By book key.
    versions: HashMap<String, i64>,
    secrets: HashMap<String, String>,
    counter: i64,
}

impl PhonebookInner {
    fn bump(&mut self, book: &Book) {
        self.counter += 1;
        self.versions.insert(book.as_key().to_owned(), self.counter);
    }

    fn put(&mut self, entry: PhonebookEntry) {
        let key = (entry.mailbox_id.clone(), entry.contact_id.clone());
        if let Some(old) = self.entries.get(&key) {
            if old == &entry {
                return;
            }
            let old_book = old.book.clone();
            self.bump(&old_book);
        }
        self.bump(&entry.book);
        self.entries.insert(key, entry);
    }

    fn remove_where(&mut self, keep: impl Fn(&PhonebookEntry) -> bool) -> u64 {
        let gone: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, e)| !keep(e))
            .map(|(k, e)| (k.clone(), e.book.clone()))
            .collect();
        for (key, book) in &gone {
            self.entries.remove(key);
            self.bump(book);
        }
        gone.len() as u64
    }
}

impl MemPhonebooks {
    fn lock(&self) -> std::sync::MutexGuard<'_, PhonebookInner> {
        self.inner.lock().unwrap()
    }

    /// Inserts or replaces an entry (by mailbox and contact id); an unchanged entry changes no
    /// version.
    pub fn put_entry(&self, entry: PhonebookEntry) {
        self.lock().put(entry);
    }

    pub fn remove_entry(&self, mailbox_id: &str, contact_id: &str) -> bool {
        self.lock()
            .remove_where(|e| !(e.mailbox_id == mailbox_id && e.contact_id == contact_id))
            > 0
    }

    /// Sets the phonebook password of an extension (stores its SHA-256, as the API does).
    pub fn set_password(&self, number: &str, password: &str) {
        self.lock().secrets.insert(
            number.to_owned(),
            switchboard_http::auth::hash_token(password),
        );
    }

    pub fn entries(&self) -> Vec<PhonebookEntry> {
        self.lock().entries.values().cloned().collect()
    }
}

fn entry_matches(entry: &PhonebookEntry, search: &str) -> bool {
    let haystack = [
        entry.display_name.as_str(),
        &entry.first_name,
        &entry.last_name,
        &entry.company,
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(entry.emails.iter().cloned())
    .chain(
        entry
            .phones
            .iter()
            .flat_map(|p| [p.raw.clone(), p.e164.clone().unwrap_or_default()]),
    )
    .collect::<Vec<_>>()
    .join("\n")
    .to_lowercase();
    search
        .split_whitespace()
        .all(|word| haystack.contains(&word.to_lowercase()))
}

#[async_trait]
impl PhonebookStore for MemPhonebooks {
    async fn apply_phonebook_write(&self, write: &PhonebookWrite) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for entry in &write.upserts {
            let mut entry = entry.clone();
            entry.book = write.book.clone();
            entry.mailbox_id = write.mailbox_id.clone();
            inner.put(entry);
        }
        for id in &write.removals {
            inner.remove_where(|e| !(e.mailbox_id == write.mailbox_id && &e.contact_id == id));
        }
        let state = inner
            .states
            .entry(write.mailbox_id.clone())
            .or_insert_with(|| MailboxSyncState {
                mailbox_id: write.mailbox_id.clone(),
                book: write.book.as_key().to_owned(),
                ..MailboxSyncState::default()
            });
        state
            .folders
            .retain(|f| f.folder_id != write.folder.folder_id);
        state.folders.push(write.folder.clone());
        Ok(())
    }

    async fn remove_folder(&self, mailbox_id: &str, folder_id: &str) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let removed = inner.remove_where(|e| {
            !(e.mailbox_id == mailbox_id
                && e.folder_id == folder_id
                && e.origin == EntryOrigin::Outlook)
        });
        if let Some(state) = inner.states.get_mut(mailbox_id) {
            state.folders.retain(|f| f.folder_id != folder_id);
        }
        Ok(removed)
    }

    async fn remove_mailbox(&self, mailbox_id: &str) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let removed = inner
            .remove_where(|e| !(e.mailbox_id == mailbox_id && e.origin == EntryOrigin::Outlook));
        inner.states.remove(mailbox_id);
        Ok(removed)
    }

    async fn load_mailbox_state(
        &self,
        mailbox_id: &str,
    ) -> Result<Option<MailboxSyncState>, StoreError> {
        Ok(self.lock().states.get(mailbox_id).cloned())
    }

    async fn save_mailbox_state(&self, state: &MailboxSyncState) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let folders = inner
            .states
            .get(&state.mailbox_id)
            .map(|s| s.folders.clone())
            .unwrap_or_default();
        inner.states.insert(
            state.mailbox_id.clone(),
            MailboxSyncState {
                folders,
                ..state.clone()
            },
        );
        Ok(())
    }

    async fn list_mailboxes(&self) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
        let mut all: Vec<_> = self
            .lock()
            .states
            .values()
            .map(|s| (s.mailbox_id.clone(), s.book.clone(), s.skipped.clone()))
            .collect();
        all.sort();
        Ok(all)
    }

    async fn phonebook(
        &self,
        book: &Book,
        query: &PhonebookQuery,
    ) -> Result<Vec<PhonebookEntry>, StoreError> {
        let mut found: Vec<PhonebookEntry> = self
            .lock()
            .entries
            .values()
            .filter(|e| &e.book == book)
            .filter(|e| query.search.as_deref().is_none_or(|s| entry_matches(e, s)))
            .cloned()
            .collect();
        found.sort_by(|a, b| {
            (&a.display_name, &a.contact_id).cmp(&(&b.display_name, &b.contact_id))
        });
        let limit = if query.limit == 0 {
            usize::MAX
        } else {
            query.limit as usize
        };
        Ok(found
            .into_iter()
            .skip(query.offset as usize)
            .take(limit)
            .collect())
    }

    async fn count_phonebook(&self, book: &Book) -> Result<u64, StoreError> {
        Ok(self
            .lock()
            .entries
            .values()
            .filter(|e| &e.book == book)
            .count() as u64)
    }

    async fn phonebook_entries_page(
        &self,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<PhonebookEntry>, StoreError> {
        Ok(self
            .lock()
            .entries
            .iter()
            .filter(|((m, c), _)| after.is_none_or(|(am, ac)| (m.as_str(), c.as_str()) > (am, ac)))
            .take(limit.max(1) as usize)
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn book_version(&self, book: &Book) -> Result<i64, StoreError> {
        Ok(self
            .lock()
            .versions
            .get(book.as_key())
            .copied()
            .unwrap_or(0))
    }

    async fn set_phonebook_secret(
        &self,
        number: &str,
        secret_sha256: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        match secret_sha256 {
            Some(secret) => inner.secrets.insert(number.to_owned(), secret.to_owned()),
            None => inner.secrets.remove(number),
        };
        Ok(true)
    }

    async fn phonebook_secret(&self, number: &str) -> Result<Option<String>, StoreError> {
        Ok(self.lock().secrets.get(number).cloned())
    }
}

// --- mailboxes (contact sync) ---

use switchboard_core::contacts::{
    ContactChange, ContactPage, FolderPage, MailboxAnswer, MailboxContact, MailboxRead,
};
use switchboard_core::ports::{MailboxError, MailboxSource};

/// Outlook as contact sync reads it: each mailbox has only its default Contacts folder. A
/// mailbox nobody set up is empty; one marked with [`FakeMailboxes::without_mailbox`] answers
/// like a user whose licence has no Exchange.
#[derive(Debug, Default)]
pub struct FakeMailboxes {
    /// Mailbox id → its contacts, or `None` for "no mailbox".
    mailboxes: Mutex<HashMap<String, Option<Vec<MailboxContact>>>>,
}

impl FakeMailboxes {
    pub fn set_contacts(&self, mailbox: &str, contacts: Vec<MailboxContact>) {
        self.mailboxes
            .lock()
            .unwrap()
            .insert(mailbox.to_owned(), Some(contacts));
    }
    pub fn without_mailbox(&self, mailbox: &str) {
        self.mailboxes
            .lock()
            .unwrap()
            .insert(mailbox.to_owned(), None);
    }
}

#[async_trait]
impl MailboxSource for FakeMailboxes {
    async fn read(&self, reads: Vec<MailboxRead>) -> Vec<Result<MailboxAnswer, MailboxError>> {
        let mailboxes = self.mailboxes.lock().unwrap();
        reads
            .into_iter()
            .map(|read| {
                let contacts = match mailboxes.get(read.mailbox()) {
                    Some(None) => return Err(MailboxError::NoMailbox),
                    Some(Some(c)) => c.clone(),
                    None => Vec::new(),
                };
                Ok(match read {
                    MailboxRead::FolderDelta { .. } => MailboxAnswer::Folders(FolderPage {
                        changes: Vec::new(),
                        next: None,
                        delta_link: Some("folders-delta".into()),
                    }),
                    // A round from scratch lists every contact; a delta round, no changes.
                    MailboxRead::ContactsDelta { link, .. } => {
                        MailboxAnswer::Contacts(ContactPage {
                            changes: if link.is_none() {
                                contacts.into_iter().map(ContactChange::Upsert).collect()
                            } else {
                                Vec::new()
                            },
                            next: None,
                            delta_link: Some("contacts-delta".into()),
                        })
                    }
                })
            })
            .collect()
    }
}

// --- calendars and presence (calendar sync) ---

use switchboard_core::ports::{
    CalendarPage, CalendarRead, CalendarSource, PresenceStore, SourceEvent,
};
use switchboard_core::presence::{CalendarEntry, PresenceState};

/// Per extension: its calendar entries and its presence state.
type PresenceRows = std::collections::BTreeMap<String, (Vec<CalendarEntry>, Option<PresenceState>)>;

/// Calendar entries and presence states in memory, as the SQL store keeps them.
#[derive(Debug, Default)]
pub struct MemPresence {
    rows: Mutex<PresenceRows>,
}

impl MemPresence {
    pub fn state(&self, number: &str) -> Option<PresenceState> {
        self.rows.lock().unwrap().get(number)?.1.clone()
    }
}

#[async_trait]
impl PresenceStore for MemPresence {
    async fn save_calendar(
        &self,
        number: &str,
        entries: &[CalendarEntry],
        state: &PresenceState,
    ) -> Result<(), StoreError> {
        self.rows
            .lock()
            .unwrap()
            .insert(number.into(), (entries.to_vec(), Some(state.clone())));
        Ok(())
    }
    async fn calendar_entries(&self, number: &str) -> Result<Vec<CalendarEntry>, StoreError> {
        Ok(self
            .rows
            .lock()
            .unwrap()
            .get(number)
            .map(|row| row.0.clone())
            .unwrap_or_default())
    }
    async fn load_presence(&self, number: &str) -> Result<Option<PresenceState>, StoreError> {
        Ok(self.state(number))
    }
    async fn save_presence(&self, number: &str, state: &PresenceState) -> Result<(), StoreError> {
        self.rows
            .lock()
            .unwrap()
            .entry(number.into())
            .or_default()
            .1 = Some(state.clone());
        Ok(())
    }
    async fn list_presence(&self) -> Result<Vec<(String, PresenceState)>, StoreError> {
        Ok(self
            .rows
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(number, (_, state))| Some((number.clone(), state.clone()?)))
            .collect())
    }
    async fn remove_calendar(&self, number: &str) -> Result<(), StoreError> {
        if let Some(row) = self.rows.lock().unwrap().get_mut(number) {
            row.0.clear();
        }
        Ok(())
    }
}

/// Outlook calendars by mailbox (Entra object id), each answered in one page. A mailbox nobody
/// set up has an empty calendar; one marked with [`FakeCalendars::without_mailbox`] answers
/// like a user whose licence has no Exchange.
#[derive(Debug, Default)]
pub struct FakeCalendars {
    calendars: Mutex<HashMap<String, Option<Vec<SourceEvent>>>>,
}

impl FakeCalendars {
    pub fn set_events(&self, mailbox: &str, events: Vec<SourceEvent>) {
        self.calendars
            .lock()
            .unwrap()
            .insert(mailbox.to_owned(), Some(events));
    }
    pub fn without_mailbox(&self, mailbox: &str) {
        self.calendars
            .lock()
            .unwrap()
            .insert(mailbox.to_owned(), None);
    }
}

#[async_trait]
impl CalendarSource for FakeCalendars {
    async fn read_calendars(
        &self,
        reads: Vec<CalendarRead>,
    ) -> Vec<Result<CalendarPage, MailboxError>> {
        let calendars = self.calendars.lock().unwrap();
        reads
            .iter()
            .map(|read| match calendars.get(&read.mailbox) {
                Some(None) => Err(MailboxError::NoMailbox),
                Some(Some(events)) => Ok(CalendarPage {
                    events: events.clone(),
                    next: None,
                }),
                None => Ok(CalendarPage::default()),
            })
            .collect()
    }
}

/// A timed Graph event (UTC wall-clock times, as asked for with `Prefer: outlook.timezone`).
pub fn calendar_event(id: &str, start: &str, end: &str, show_as: &str) -> SourceEvent {
    SourceEvent {
        id: id.into(),
        start: start.parse().unwrap(),
        end: end.parse().unwrap(),
        show_as: switchboard_core::presence::ShowAs::from_graph(show_as),
        is_all_day: false,
        is_cancelled: false,
    }
}
