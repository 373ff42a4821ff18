//! Contact sync: each in-scope user's Outlook contacts (every folder) become that user's
//! phonebook; shared mailboxes can feed a company phonebook. Numbers are normalised to E.164
//! ([`phone`]) and indexed in memory for caller-ID lookup ([`lookup`]).

mod config;
mod model;

pub use config::{COMPANY_BOOK, CONTACT_SYNC_SETTINGS_KEY, ContactSyncConfig};
pub use model::{
    Book, ContactChange, ContactFolder, ContactPage, EntryOrigin, FolderChange, FolderPage,
    FolderSyncState, MailboxAnswer, MailboxContact, MailboxRead, MailboxSyncState, PhoneKind,
    PhoneNumber, PhonebookEntry, PhonebookQuery, PhonebookWrite, DEFAULT_FOLDER,
};
