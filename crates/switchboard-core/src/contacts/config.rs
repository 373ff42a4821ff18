//! The Contact Sync tab.

use crate::users::Scope;
use serde::{Deserialize, Serialize};

/// Settings key of [`ContactSyncConfig`].
pub const CONTACT_SYNC_SETTINGS_KEY: &str = "contact_sync";
/// How the company phonebook is named where a book is stored as text.
pub const COMPANY_BOOK: &str = "company";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactSyncConfig {
    pub enabled: bool,
    /// Which synced users' contacts become their phonebook (independent of user sync's scope).
    pub scope: Scope,
    /// ISO 3166 two-letter region numbers without a country code are read in when the user has
    /// no `usageLocation` (e.g. `GB`, `US`, `DE`).
    pub default_region: String,
    /// Shared mailboxes (Entra object id or UPN) whose contacts form the company phonebook.
    pub company_mailboxes: Vec<String>,
    /// Delta polling interval when change notifications are not available.
    pub poll_interval_secs: u32,
    /// Daily full sync, local time `HH:MM` in `time_zone`.
    pub daily_full_sync_at: String,
    pub time_zone: String,
}

impl Default for ContactSyncConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            scope: Scope::All,
            default_region: "US".into(),
            company_mailboxes: Vec::new(),
            poll_interval_secs: 300,
            daily_full_sync_at: "02:30".into(),
            time_zone: "UTC".into(),
        }
    }
}
