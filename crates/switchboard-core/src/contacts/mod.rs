//! Contact sync: each in-scope user's Outlook contacts (every folder) become that user's
//! phonebook; shared mailboxes can feed a company phonebook. Numbers are normalised to E.164
//! ([`phone`]) and indexed in memory for caller-ID lookup ([`lookup`]).

mod config;
pub mod lookup;
mod model;
pub mod phone;
mod sync;

pub use config::{COMPANY_BOOK, CONTACT_SYNC_SETTINGS_KEY, ContactSyncConfig};
pub use lookup::{IndexedExtension, LookupHit, LookupSource, PhonebookIndex};
pub use model::{
    Book, ContactChange, ContactFolder, ContactPage, DEFAULT_FOLDER, EntryOrigin, FolderChange,
    FolderPage, FolderSyncState, MailboxAnswer, MailboxContact, MailboxRead, MailboxSyncState,
    PhoneKind, PhoneNumber, PhonebookEntry, PhonebookQuery, PhonebookWrite,
};
pub use sync::{
    CONTACT_SYNC_KIND, ContactRunOutcome, ContactSync, ContactSyncError, ContactSyncStatus,
    SkippedMailbox, WAVE,
};
