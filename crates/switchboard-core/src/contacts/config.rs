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

impl ContactSyncConfig {
    /// Checks what a run relies on; the message names the setting and what to enter instead.
    pub fn validate(&self) -> Result<(), String> {
        if !super::phone::is_region(&self.default_region) {
            return Err(format!(
                "default_region must be a two-letter ISO 3166 country code such as GB, US, DE or FR, got \"{}\"",
                self.default_region
            ));
        }
        match &self.scope {
            Scope::Only(ids) | Scope::Groups(ids) if ids.is_empty() => {
                return Err("this scope needs at least one Entra object id; with none, no user's contacts would be synced (turn the sync off instead)".into());
            }
            Scope::AllExcept(ids) | Scope::Only(ids) | Scope::Groups(ids) => {
                if let Some(bad) = ids.iter().find(|id| !is_guid(id)) {
                    return Err(format!(
                        "\"{bad}\" is not an Entra object id (a GUID such as 1b3c5d7e-0000-4000-8000-1234567890ab)"
                    ));
                }
            }
            Scope::All => {}
        }
        if let Some(bad) = self
            .company_mailboxes
            .iter()
            .find(|m| !is_guid(m) && !is_address(m))
        {
            return Err(format!(
                "company_mailboxes must hold shared mailbox addresses (such as contacts@contoso.com) or Entra object ids, got \"{bad}\""
            ));
        }
        if !(10..=86_400).contains(&self.poll_interval_secs) {
            return Err(format!(
                "poll_interval_secs must be between 10 and 86400 seconds, got {}",
                self.poll_interval_secs
            ));
        }
        if crate::users::parse_hh_mm(&self.daily_full_sync_at).is_none() {
            return Err(format!(
                "daily_full_sync_at must be a 24-hour time such as 02:30, got \"{}\"",
                self.daily_full_sync_at
            ));
        }
        if self.time_zone.trim().is_empty() {
            return Err("time_zone must be an IANA name such as Europe/Berlin or UTC".into());
        }
        Ok(())
    }
}

fn is_guid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

fn is_address(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.contains('@')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_setting() {
        assert!(ContactSyncConfig::default().validate().is_ok());
        let check = |c: ContactSyncConfig| c.validate().err().unwrap_or_default();
        assert!(
            check(ContactSyncConfig {
                default_region: "XX".into(),
                ..Default::default()
            })
            .contains("default_region")
        );
        assert!(
            check(ContactSyncConfig {
                scope: Scope::Only(["bob".to_owned()].into()),
                ..Default::default()
            })
            .contains("\"bob\"")
        );
        assert!(
            check(ContactSyncConfig {
                scope: Scope::Groups(Default::default()),
                ..Default::default()
            })
            .contains("at least one")
        );
        assert!(
            check(ContactSyncConfig {
                company_mailboxes: vec!["not a mailbox".into()],
                ..Default::default()
            })
            .contains("company_mailboxes")
        );
        let ok = ContactSyncConfig {
            company_mailboxes: vec![
                "contacts@contoso.com".into(),
                "1b3c5d7e-0000-4000-8000-1234567890ab".into(),
            ],
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        assert!(
            check(ContactSyncConfig {
                poll_interval_secs: 5,
                ..Default::default()
            })
            .contains("poll_interval_secs")
        );
        assert!(
            check(ContactSyncConfig {
                daily_full_sync_at: "25:00".into(),
                ..Default::default()
            })
            .contains("daily_full_sync_at")
        );
    }
}
