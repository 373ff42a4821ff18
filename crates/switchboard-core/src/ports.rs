//! The traits adapters implement. The domain and the HTTP layer see only these.

use crate::auth::{AdminUser, ApiTokenRecord, SessionRecord};
use crate::office365::{
    CertificateInfo, ClientId, ConnectFailure, Connection, GeneratedCredential, SigningAlgorithm,
    TenantRef,
};
use async_trait::async_trait;
use jiff::Timestamp;
use secrecy::SecretString;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
}

/// Persistent state. One implementation per database engine, one conformance suite for all.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    // --- Office 365 connection (a single row) ---
    async fn load_connection(&self) -> Result<Connection, StoreError>;
    async fn save_connection(&self, connection: &Connection) -> Result<(), StoreError>;

    // --- admin-consent `state` nonces: single use, expiring ---
    async fn put_consent_state(&self, state: &str, expires_at: Timestamp)
    -> Result<(), StoreError>;
    /// Removes the nonce and tells whether it existed and had not expired at `now`.
    async fn take_consent_state(&self, state: &str, now: Timestamp) -> Result<bool, StoreError>;

    // --- console admins ---
    async fn create_admin(&self, admin: &AdminUser) -> Result<(), StoreError>;
    async fn find_admin(&self, username: &str) -> Result<Option<AdminUser>, StoreError>;
    /// Returns false when no such admin exists.
    async fn set_admin_password(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError>;
    async fn count_admins(&self) -> Result<u64, StoreError>;

    // --- console sessions ---
    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// The session if it exists and has not expired at `now`.
    async fn find_session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError>;
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Removes every session of a user (after a password change).
    async fn delete_sessions_of(&self, username: &str) -> Result<u64, StoreError>;

    // --- API tokens ---
    async fn create_api_token(&self, token: &ApiTokenRecord) -> Result<(), StoreError>;
    async fn find_api_token(&self, token_hash: &str) -> Result<Option<ApiTokenRecord>, StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("key store I/O error: {0}")]
    Io(String),
    #[error("no private key stored under {0}")]
    NotFound(String),
}

/// Where private keys live (a directory of 0600 files). Keys never travel through the database.
#[async_trait]
pub trait KeyVault: Send + Sync + std::fmt::Debug {
    /// Stores the key and returns the reference to keep in the database.
    async fn put(&self, private_key_pem: &SecretString) -> Result<String, VaultError>;
    async fn get(&self, key_ref: &str) -> Result<SecretString, VaultError>;
    async fn delete(&self, key_ref: &str) -> Result<(), VaultError>;
}

#[derive(Debug, thiserror::Error)]
#[error("could not create the certificate: {0}")]
pub struct CertificateError(pub String);

/// Makes the RSA key pair and self-signed certificate the admin uploads to the app registration.
#[async_trait]
pub trait CertificateFactory: Send + Sync + std::fmt::Debug {
    async fn generate(
        &self,
        subject: &str,
        not_before: Timestamp,
        validity_days: u32,
    ) -> Result<GeneratedCredential, CertificateError>;
}

/// What the connection check needs to sign in as the app.
#[derive(Debug)]
pub struct AppCredentials<'a> {
    pub tenant: &'a TenantRef,
    pub client_id: &'a ClientId,
    pub algorithm: SigningAlgorithm,
    pub certificate: &'a CertificateInfo,
    pub private_key_pem: &'a SecretString,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppToken {
    pub roles: Vec<String>,
    pub tenant_id: Option<String>,
    pub expires_in_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: String,
    pub display_name: String,
    pub default_domain: Option<String>,
}

/// Microsoft Entra ID + Graph, as far as proving a connection goes.
#[async_trait]
pub trait TenantGateway: Send + Sync + std::fmt::Debug {
    /// Client-credentials token with a certificate assertion.
    async fn acquire_token(
        &self,
        credentials: &AppCredentials<'_>,
    ) -> Result<AppToken, ConnectFailure>;
    /// `GET /v1.0/organization`, proving Graph accepts the token.
    async fn organization(
        &self,
        credentials: &AppCredentials<'_>,
    ) -> Result<Organization, ConnectFailure>;
}

// ---------------------------------------------------------------------------------------------
// User sync
// ---------------------------------------------------------------------------------------------

use crate::users::{
    AuditEntry, DirectoryGroup, DirectoryUser, Extension, ExtensionQuery, ExtensionRecord,
    PlanningSnapshot, SyncRunRecord, SyncState, SyncedFields, UserSyncBatch,
};

/// Extensions, their groups, the audit log, sync runs and runtime settings. Implemented by the
/// same SQL store as [`Store`] and covered by the same conformance suite.
#[async_trait]
pub trait ExtensionStore: Send + Sync + std::fmt::Debug {
    // --- what the API and console read ---
    async fn list_extensions(
        &self,
        query: &ExtensionQuery,
    ) -> Result<Vec<ExtensionRecord>, StoreError>;
    async fn get_extension(&self, number: &str) -> Result<Option<ExtensionRecord>, StoreError>;
    async fn count_extensions(&self) -> Result<u64, StoreError>;

    // --- local changes (admin or API), each audited with `actor` ---
    /// A local extension (origin `local`). `Conflict` when the number is taken.
    async fn create_local_extension(
        &self,
        number: &str,
        fields: &SyncedFields,
        actor: &str,
        at: jiff::Timestamp,
    ) -> Result<(), StoreError>;
    /// Overwrites the fields; false when no such extension.
    async fn edit_extension(
        &self,
        number: &str,
        fields: &SyncedFields,
        actor: &str,
        at: jiff::Timestamp,
    ) -> Result<bool, StoreError>;
    async fn set_excluded(
        &self,
        number: &str,
        excluded: bool,
        actor: &str,
        at: jiff::Timestamp,
    ) -> Result<bool, StoreError>;
    /// Deleting a synced extension keeps a tombstone so a restored user gets its number back.
    async fn delete_extension(
        &self,
        number: &str,
        actor: &str,
        at: jiff::Timestamp,
    ) -> Result<bool, StoreError>;

    // --- what a sync run reads and writes ---
    async fn planning_snapshot(&self) -> Result<PlanningSnapshot, StoreError>;
    /// The synced extensions of these Entra users (at most one each).
    async fn extensions_for_users(
        &self,
        graph_user_ids: &[String],
    ) -> Result<Vec<Extension>, StoreError>;
    /// One page of the synced extensions as (graph user id, number), ordered by graph user id:
    /// the first `limit` ids greater than `after` (from the start when `None`). A full run
    /// compares the tenant with these page by page instead of holding every pair at once.
    async fn synced_user_ids_page(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, String)>, StoreError>;
    /// Puts every synced extension in the group of its department (`enabled`), or takes them
    /// all out of department groups; one transaction. Returns the memberships written.
    async fn rebuild_department_groups(&self, enabled: bool) -> Result<u64, StoreError>;
    /// Entra ids of synced extensions an admin deleted (not the sync: audit actors that do not
    /// start with `sync:`) whose users have not got them back yet, at most `limit`.
    async fn admin_deleted_synced_users(&self, limit: u32) -> Result<Vec<String>, StoreError>;
    /// Entra ids of synced extensions changed locally since the sync last wrote them (a console
    /// or API edit), at most `limit`: the next run re-reads these users so the edit is reverted.
    async fn locally_edited_synced_users(&self, limit: u32) -> Result<Vec<String>, StoreError>;
    /// Applies the actions in ONE transaction, with an audit entry per change and the group
    /// "Azure AD" kept in step; a crash leaves either all or none of the batch.
    async fn apply_user_batch(&self, batch: &UserSyncBatch) -> Result<(), StoreError>;

    async fn load_sync_state(&self, key: &str) -> Result<SyncState, StoreError>;
    async fn save_sync_state(&self, key: &str, state: &SyncState) -> Result<(), StoreError>;
    /// Insert or update by id.
    async fn save_sync_run(&self, run: &SyncRunRecord) -> Result<(), StoreError>;
    async fn recent_sync_runs(
        &self,
        kind: &str,
        limit: u32,
    ) -> Result<Vec<SyncRunRecord>, StoreError>;
    /// Newest first; only entries for `number` when given.
    async fn audit_log(
        &self,
        number: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    // --- runtime settings edited in the console (JSON documents by key) ---
    async fn load_setting(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError>;
    async fn save_setting(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError>;
}

/// One change from a full listing or a delta round.
// Nearly every change is an upsert: boxing it would only add an allocation per user.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryChange {
    Upsert(DirectoryUser),
    /// Delta `@removed`: `permanent` for `deleted`, false for `changed` (soft delete).
    Removed {
        id: String,
        permanent: bool,
    },
}

#[derive(Debug, Clone, Default)]
pub struct DirectoryPage {
    pub changes: Vec<DirectoryChange>,
    /// Where the next page is; None on the last page.
    pub next: Option<String>,
    /// On the last page of a delta round: where the next round starts.
    pub delta_link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryCursor {
    /// First page of the full list (`GET /users`).
    FullList { include_guests: bool },
    /// `GET /users/delta?$deltatoken=latest`: only a delta link, "sync from now".
    LatestDelta,
    /// An absolute nextLink or deltaLink, followed verbatim.
    Link(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// 410 Gone or `syncStateNotFound`/`resyncRequired`: start over with a full sync.
    #[error("the delta token expired; a full sync is needed")]
    DeltaExpired,
    #[error("Microsoft Graph refused access: {0}")]
    Denied(String),
    #[error("Microsoft Graph is unavailable: {0}")]
    Unavailable(String),
    #[error("not connected to Office 365: {0}")]
    NotConnected(String),
    #[error("unexpected answer from Microsoft Graph: {0}")]
    Protocol(String),
}

/// Microsoft 365 users, a page at a time.
#[async_trait]
pub trait DirectorySource: Send + Sync + std::fmt::Debug {
    async fn users_page(&self, cursor: &DirectoryCursor) -> Result<DirectoryPage, DirectoryError>;
    /// These users as they are now (those that no longer exist are simply absent).
    async fn users_by_ids(&self, ids: &[String]) -> Result<Vec<DirectoryUser>, DirectoryError>;
    /// Transitive user members of an Entra group (ids only).
    async fn group_member_ids(&self, group_id: &str) -> Result<Vec<String>, DirectoryError>;
    /// Users whose display name, user principal name or mail has a word starting with `query`,
    /// at most `limit` (adapters may cap it lower). A blank query finds nothing.
    async fn search_users(
        &self,
        query: &str,
        limit: u32,
    ) -> Result<Vec<DirectoryUser>, DirectoryError>;
    /// Groups whose display name or mail has a word starting with `query`, at most `limit`.
    async fn search_groups(
        &self,
        query: &str,
        limit: u32,
    ) -> Result<Vec<DirectoryGroup>, DirectoryError>;
}

/// Everything needed to sign in as the app, owned (for long-running sync jobs).
#[derive(Debug, Clone)]
pub struct OwnedAppCredentials {
    pub tenant: TenantRef,
    pub client_id: ClientId,
    pub algorithm: SigningAlgorithm,
    pub certificate: CertificateInfo,
    pub private_key_pem: SecretString,
}

impl OwnedAppCredentials {
    pub fn borrow(&self) -> AppCredentials<'_> {
        AppCredentials {
            tenant: &self.tenant,
            client_id: &self.client_id,
            algorithm: self.algorithm,
            certificate: &self.certificate,
            private_key_pem: &self.private_key_pem,
        }
    }
}

/// The credentials of the working connection (the active certificate), for Graph adapters.
#[async_trait]
pub trait CredentialSource: Send + Sync + std::fmt::Debug {
    async fn app_credentials(&self) -> Result<OwnedAppCredentials, DirectoryError>;
}

/// Which instance runs the syncs when several share one database.
#[async_trait]
pub trait Leadership: Send + Sync + std::fmt::Debug {
    /// Becomes or stays the leader if possible; false while another instance leads.
    async fn try_lead(&self) -> Result<bool, StoreError>;
}

// ---------------------------------------------------------------------------------------------
// Change notifications
// ---------------------------------------------------------------------------------------------

/// A subscription to create (`POST /subscriptions`).
#[derive(Debug, Clone)]
pub struct NewSubscription {
    /// e.g. `users`, `users/{id}/contacts`, `users/{id}/events`.
    pub resource: String,
    /// e.g. `updated,deleted` (user subscriptions support no `created`).
    pub change_type: String,
    pub notification_url: String,
    pub lifecycle_notification_url: String,
    /// What we ask for; Graph may grant less.
    pub expiration: jiff::Timestamp,
    /// Echoed in every notification; verified before acting. A secret.
    pub client_state: SecretString,
}

/// What Graph granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantedSubscription {
    pub id: String,
    pub resource: String,
    pub expires_at: jiff::Timestamp,
}

/// Microsoft Graph subscriptions (`/v1.0/subscriptions`).
#[async_trait]
pub trait SubscriptionApi: Send + Sync + std::fmt::Debug {
    async fn create(
        &self,
        request: &NewSubscription,
    ) -> Result<GrantedSubscription, DirectoryError>;
    /// `PATCH` with a new expiration; returns what Graph granted.
    async fn renew(
        &self,
        id: &str,
        expiration: jiff::Timestamp,
    ) -> Result<GrantedSubscription, DirectoryError>;
    /// `POST /subscriptions/{id}/reauthorize` after a `reauthorizationRequired` lifecycle event.
    async fn reauthorize(&self, id: &str) -> Result<(), DirectoryError>;
    async fn delete(&self, id: &str) -> Result<(), DirectoryError>;
}

/// A live Graph subscription as we keep it. Only a SHA-256 of the clientState is stored: the
/// webhook compares hashes, so a leaked database cannot forge notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    pub id: String,
    /// `users`, `users/{id}/contacts` or `users/{id}/events`.
    pub resource: String,
    pub expires_at: jiff::Timestamp,
    /// Lower-case hex SHA-256 of the clientState.
    pub client_state_sha256: String,
    pub created_at: jiff::Timestamp,
    pub renewed_at: jiff::Timestamp,
}

/// A change or lifecycle notification that passed the clientState check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedNotification {
    pub subscription_id: String,
    /// `updated`, `deleted`, … or the lifecycle event name.
    pub change_type: String,
    pub resource_id: Option<String>,
    /// Graph's `sequenceNumber` (can exceed 2^53, so kept as text); None for lifecycle events.
    pub sequence: Option<String>,
    pub received_at: jiff::Timestamp,
}

#[async_trait]
pub trait SubscriptionStore: Send + Sync + std::fmt::Debug {
    /// Insert or update by id.
    async fn save_subscription(&self, subscription: &SubscriptionRecord) -> Result<(), StoreError>;
    async fn list_subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError>;
    async fn find_subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError>;
    async fn delete_subscription(&self, id: &str) -> Result<(), StoreError>;
    /// Persists a verified notification. False when the same one (subscription, resource id,
    /// change type, sequence) was stored before: Graph delivers at least once.
    async fn record_notification(
        &self,
        notification: &ReceivedNotification,
    ) -> Result<bool, StoreError>;
}

/// What the webhook tells the sync side; the receiver coalesces bursts into one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    /// Users changed (a delta run picks the changes up).
    UsersChanged,
    /// Outlook contacts of this mailbox (Entra id or company mailbox) changed.
    ContactsChanged { mailbox: String },
    /// Calendar events of this mailbox (Entra id) changed.
    CalendarChanged { mailbox: String },
    /// `reauthorizationRequired`, `subscriptionRemoved` or `missed` for a subscription.
    Lifecycle {
        subscription_id: String,
        event: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Contact sync
// ---------------------------------------------------------------------------------------------

use crate::contacts::{
    Book, MailboxAnswer, MailboxRead, MailboxSyncState, PhonebookEntry, PhonebookQuery,
    PhonebookWrite,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailboxError {
    /// 404 `MailboxNotEnabledForRESTAPI` (or an inactive/on-premises mailbox): skip the user.
    #[error("no mailbox (plan without Exchange)")]
    NoMailbox,
    /// 404 `ErrorItemNotFound` on a folder: it was deleted since we listed it.
    #[error("the contact folder no longer exists")]
    FolderGone,
    /// 410 or `syncStateNotFound`/`resyncRequired`: restart that delta round from scratch.
    #[error("the delta token expired; the folder is read again from the start")]
    DeltaExpired,
    #[error(transparent)]
    Graph(#[from] DirectoryError),
}

/// Outlook data of many mailboxes. Adapters batch reads (`$batch`, ≤ 20 per request), keep at
/// most 4 requests per mailbox in flight, retry throttled items after their `Retry-After`, and
/// bound the total concurrency.
#[async_trait]
pub trait MailboxSource: Send + Sync + std::fmt::Debug {
    /// One answer per read, in the order of `reads`.
    async fn read(&self, reads: Vec<MailboxRead>) -> Vec<Result<MailboxAnswer, MailboxError>>;
}

/// Phonebooks and where their sync stands. Implemented by the SQL store; same conformance
/// suite on every engine.
#[async_trait]
pub trait PhonebookStore: Send + Sync + std::fmt::Debug {
    /// Applies one page in ONE transaction together with the folder's new sync state
    /// (see [`PhonebookWrite`]). Upserts are keyed by (mailbox, contact id); an upsert moves an
    /// entry to `book`/`folder_id` when those changed.
    async fn apply_phonebook_write(&self, write: &PhonebookWrite) -> Result<(), StoreError>;
    /// Removes a folder's synced entries and its state (the folder was deleted in Outlook).
    async fn remove_folder(&self, mailbox_id: &str, folder_id: &str) -> Result<u64, StoreError>;
    /// Removes every synced entry of a mailbox and its sync state (the user left the scope, or
    /// a company mailbox was removed from the settings). Local entries are kept.
    async fn remove_mailbox(&self, mailbox_id: &str) -> Result<u64, StoreError>;
    /// `None` when the mailbox was never synced.
    async fn load_mailbox_state(
        &self,
        mailbox_id: &str,
    ) -> Result<Option<MailboxSyncState>, StoreError>;
    /// Saves the mailbox-level fields (folder link, skip reason, errors, time); the per-folder
    /// states are written by [`Self::apply_phonebook_write`] and [`Self::remove_folder`] and
    /// are left as they are.
    async fn save_mailbox_state(&self, state: &MailboxSyncState) -> Result<(), StoreError>;
    /// Every mailbox with a stored sync state, with its book (for scope clean-up and the
    /// skipped-users list): (mailbox id, book key, skipped reason).
    async fn list_mailboxes(&self) -> Result<Vec<(String, String, Option<String>)>, StoreError>;
    /// The entries of one book, ordered by display name then contact id.
    async fn phonebook(
        &self,
        book: &Book,
        query: &PhonebookQuery,
    ) -> Result<Vec<PhonebookEntry>, StoreError>;
    async fn count_phonebook(&self, book: &Book) -> Result<u64, StoreError>;
    /// One page of all entries (every book) ordered by (mailbox id, contact id), after the
    /// given key: the lookup index is rebuilt from these at start without holding two copies.
    async fn phonebook_entries_page(
        &self,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<PhonebookEntry>, StoreError>;
    /// A number that changes whenever any entry of `book` changes (CardDAV ctag / sync-token).
    async fn book_version(&self, book: &Book) -> Result<i64, StoreError>;

    // --- per-extension phonebook credentials (phones and CardDAV clients) ---
    /// Sets (or with `None` revokes) the SHA-256 (lower-case hex) of an extension's phonebook
    /// password. False when the extension does not exist.
    async fn set_phonebook_secret(
        &self,
        number: &str,
        secret_sha256: Option<&str>,
    ) -> Result<bool, StoreError>;
    async fn phonebook_secret(&self, number: &str) -> Result<Option<String>, StoreError>;
}

// ---------------------------------------------------------------------------------------------
// Calendar sync and presence
// ---------------------------------------------------------------------------------------------

use crate::presence::{CalendarEntry, PresenceState, ShowAs, Status};

/// An event as `calendarView` gives it with `Prefer: outlook.timezone="UTC"`. Timed events'
/// `start`/`end` are UTC wall-clock times; all-day events are floating dates (midnight to
/// midnight) that the core places in the mailbox's time zone (graph-protocol.md §4.1). Subject,
/// body and attendees are never read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEvent {
    pub id: String,
    pub start: jiff::civil::DateTime,
    pub end: jiff::civil::DateTime,
    pub show_as: ShowAs,
    pub is_all_day: bool,
    pub is_cancelled: bool,
}

/// A read of one mailbox's calendarView over `[start, end)`, or a nextLink from a previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarRead {
    pub mailbox: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub link: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CalendarPage {
    pub events: Vec<SourceEvent>,
    pub next: Option<String>,
}

/// Outlook calendars of many mailboxes; batched and throttled like [`MailboxSource`].
#[async_trait]
pub trait CalendarSource: Send + Sync + std::fmt::Debug {
    /// One answer per read, in the order of `reads`.
    async fn read_calendars(
        &self,
        reads: Vec<CalendarRead>,
    ) -> Vec<Result<CalendarPage, MailboxError>>;

    /// The time zone each mailbox's owner chose in Outlook (`mailboxSettings/timeZone`: a
    /// Windows name such as "W. Europe Standard Time", or an IANA name), one answer per
    /// mailbox in order. `None` when the mailbox has none set. The default knows no zones, so
    /// sources that cannot read settings fall back to the configured zone.
    async fn mailbox_time_zones(
        &self,
        mailboxes: Vec<String>,
    ) -> Vec<Result<Option<String>, MailboxError>> {
        mailboxes.iter().map(|_| Ok(None)).collect()
    }
}

/// Calendar entries and presence per extension. Implemented by the SQL store; same
/// conformance suite on every engine.
#[async_trait]
pub trait PresenceStore: Send + Sync + std::fmt::Debug {
    /// Replaces the extension's stored entries and saves its presence state in ONE transaction,
    /// so a restart never sees new entries with a state computed from old ones (or the reverse).
    async fn save_calendar(
        &self,
        number: &str,
        entries: &[CalendarEntry],
        state: &PresenceState,
    ) -> Result<(), StoreError>;
    async fn calendar_entries(&self, number: &str) -> Result<Vec<CalendarEntry>, StoreError>;
    async fn load_presence(&self, number: &str) -> Result<Option<PresenceState>, StoreError>;
    /// Saves the state alone (a transition fired, or the user set a status).
    async fn save_presence(&self, number: &str, state: &PresenceState) -> Result<(), StoreError>;
    /// Every stored presence, ordered by extension number.
    async fn list_presence(&self) -> Result<Vec<(String, PresenceState)>, StoreError>;
    /// Forgets an extension's entries (it left the calendar-sync scope); its status stays.
    async fn remove_calendar(&self, number: &str) -> Result<(), StoreError>;
}

/// Where presence changes go besides the store: the SIP engine (PIDF via the PBX), live boards.
#[async_trait]
pub trait PresenceSink: Send + Sync + std::fmt::Debug {
    async fn publish(&self, number: &str, status: Status) -> Result<(), String>;
}
