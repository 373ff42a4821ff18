//! Contacts as Graph gives them, phonebook entries as we keep them, and the reads a sync asks of
//! a mailbox.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The folder key of a mailbox's default Contacts folder (read through `/users/{id}/contacts`).
pub const DEFAULT_FOLDER: &str = "";

/// Whose phonebook an entry is in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Book {
    /// The personal phonebook of an extension (its number).
    Extension(String),
    /// The company phonebook every extension sees (from shared mailboxes).
    Company,
}

impl Book {
    /// The text form kept in the store: the extension number, or [`super::COMPANY_BOOK`].
    pub fn as_key(&self) -> &str {
        match self {
            Book::Extension(n) => n,
            Book::Company => super::COMPANY_BOOK,
        }
    }
    pub fn from_key(key: &str) -> Self {
        if key == super::COMPANY_BOOK {
            Book::Company
        } else {
            Book::Extension(key.to_owned())
        }
    }
}

/// A contact as read from Graph (only the properties we `$select`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MailboxContact {
    pub id: String,
    pub parent_folder_id: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub company_name: Option<String>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub email_addresses: Vec<String>,
    pub business_phones: Vec<String>,
    pub home_phones: Vec<String>,
    pub mobile_phone: Option<String>,
}

// Nearly every change is an upsert: boxing it would only add an allocation per contact.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactChange {
    Upsert(MailboxContact),
    /// Delta `@removed` (deleted or moved out of the folder).
    Removed {
        id: String,
    },
}

/// One page of a folder's contacts delta.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactPage {
    pub changes: Vec<ContactChange>,
    pub next: Option<String>,
    /// On the last page of a round: where the next round starts.
    pub delta_link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactFolder {
    pub id: String,
    pub display_name: String,
    pub parent_folder_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderChange {
    Upsert(ContactFolder),
    Removed { id: String },
}

/// One page of `/users/{id}/contactFolders/delta` (every folder of the mailbox, flat).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderPage {
    pub changes: Vec<FolderChange>,
    pub next: Option<String>,
    pub delta_link: Option<String>,
}

/// A read a sync asks of a mailbox. The adapter batches many of them (`$batch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxRead {
    /// The folder tree: `/users/{mailbox}/contactFolders/delta`, or `link` (a nextLink or
    /// deltaLink from an earlier answer) followed verbatim.
    FolderDelta {
        mailbox: String,
        link: Option<String>,
    },
    /// A folder's contacts delta ([`DEFAULT_FOLDER`] for the default Contacts folder), or `link`.
    ContactsDelta {
        mailbox: String,
        folder: String,
        link: Option<String>,
    },
}

impl MailboxRead {
    pub fn mailbox(&self) -> &str {
        match self {
            MailboxRead::FolderDelta { mailbox, .. }
            | MailboxRead::ContactsDelta { mailbox, .. } => mailbox,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxAnswer {
    Folders(FolderPage),
    Contacts(ContactPage),
}

/// The kind of a phone field, as Graph names them (v1.0 contacts have no fax fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneKind {
    Business,
    Home,
    Mobile,
    Other,
}

impl PhoneKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneKind::Business => "business",
            PhoneKind::Home => "home",
            PhoneKind::Mobile => "mobile",
            PhoneKind::Other => "other",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "business" => PhoneKind::Business,
            "home" => PhoneKind::Home,
            "mobile" => PhoneKind::Mobile,
            "other" => PhoneKind::Other,
            _ => return None,
        })
    }
}

/// A number as the contact has it (`raw`) and, when it could be read, in E.164. A number that
/// cannot be read is kept raw (`e164: None`), never dropped and never guessed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumber {
    #[serde(rename = "type")]
    pub kind: PhoneKind,
    pub raw: String,
    pub e164: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryOrigin {
    /// Written by contact sync; removed by it when the contact or the user's scope goes.
    Outlook,
    /// Created on the PBX side; contact sync never touches it.
    Local,
}

/// A stored phonebook entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhonebookEntry {
    pub book: Book,
    /// Entra id of the mailbox the contact comes from.
    pub mailbox_id: String,
    /// Graph contact id (immutable id); unique within a mailbox.
    pub contact_id: String,
    /// Folder key ([`DEFAULT_FOLDER`] for the default Contacts folder).
    pub folder_id: String,
    pub display_name: String,
    pub first_name: String,
    pub last_name: String,
    pub company: String,
    pub department: String,
    pub job_title: String,
    pub emails: Vec<String>,
    pub phones: Vec<PhoneNumber>,
    pub origin: EntryOrigin,
    pub updated_at: Timestamp,
}

/// Where the sync of one folder stands.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FolderSyncState {
    /// Folder key ([`DEFAULT_FOLDER`] for the default Contacts folder).
    pub folder_id: String,
    pub display_name: String,
    pub parent_folder_id: Option<String>,
    /// The nextLink of a round in progress, or the deltaLink of the last finished round.
    pub link: Option<String>,
    /// Set while a round that lists the whole folder (no delta token) is in progress: at its
    /// end, entries of the folder that the round did not return are removed.
    pub full_round: Option<i64>,
}

/// Where the sync of one mailbox stands (one per synced user, one per company mailbox).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MailboxSyncState {
    pub mailbox_id: String,
    /// The book its contacts go to, as [`Book::as_key`].
    pub book: String,
    /// Folder-tree delta: nextLink of a round in progress or deltaLink of the last round.
    pub folder_link: Option<String>,
    pub folders: Vec<FolderSyncState>,
    /// Why the mailbox is not synced, e.g. "no mailbox (plan without Exchange)".
    pub skipped: Option<String>,
    pub last_error: Option<String>,
    pub last_synced_at: Option<Timestamp>,
}

/// One applied page: written in ONE transaction with the folder's new state, so a crash leaves
/// either the page and its link or neither (the next run repeats the page idempotently).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhonebookWrite {
    pub mailbox_id: String,
    pub book: Book,
    pub upserts: Vec<PhonebookEntry>,
    /// Contact ids of this mailbox to remove.
    pub removals: Vec<String>,
    /// The folder state after this page.
    pub folder: FolderSyncState,
    /// End of a whole-folder round: remove this folder's entries that the round did not write
    /// (entries written in the round carry its number).
    pub finish_round: Option<i64>,
}

/// What the API and console read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhonebookQuery {
    /// Words matched against names, company, emails and numbers (case-insensitive).
    pub search: Option<String>,
    pub limit: u32,
    pub offset: u32,
}
