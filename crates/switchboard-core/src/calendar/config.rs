//! The Calendar Sync tab.

use crate::presence::ShowAsMapping;
use crate::users::{Scope, parse_hh_mm};
use serde::{Deserialize, Serialize};

/// Settings key of [`CalendarSyncConfig`].
pub const CALENDAR_SYNC_SETTINGS_KEY: &str = "calendar_sync";
/// Sync-state key of the calendar sync (last full sync, last error).
pub const CALENDAR_SYNC_STATE_KEY: &str = "calendar";
/// The longest window an admin may choose: two weeks of entries per mailbox.
pub const MAX_WINDOW_HOURS: u32 = 336;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CalendarSyncConfig {
    pub enabled: bool,
    /// Which synced users' calendars drive their status (independent of user sync's scope).
    pub scope: Scope,
    /// `showAs` → status; the console's mapping table.
    pub mapping: ShowAsMapping,
    /// How far ahead entries are read: `[now, now + window_hours)`.
    pub window_hours: u32,
    /// IANA zone all-day entries are placed in when the mailbox's own Outlook zone is unknown
    /// (Graph sends them as floating dates), also the zone of `daily_full_sync_at`.
    pub time_zone: String,
    /// How often calendars are read again when change notifications are not available.
    pub poll_interval_secs: u32,
    /// Daily full sync, local time `HH:MM` in `time_zone`.
    pub daily_full_sync_at: String,
}

impl Default for CalendarSyncConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            scope: Scope::All,
            mapping: ShowAsMapping::default(),
            window_hours: 48,
            time_zone: "UTC".into(),
            poll_interval_secs: 300,
            daily_full_sync_at: "03:00".into(),
        }
    }
}

impl CalendarSyncConfig {
    /// The saved settings, or the defaults when none were saved. Also what the presence
    /// service starts with, so a catch-up after downtime uses the admin's mapping.
    pub async fn load(
        store: &dyn crate::ports::ExtensionStore,
    ) -> Result<Self, crate::ports::StoreError> {
        match store
            .load_setting(super::CALENDAR_SYNC_SETTINGS_KEY)
            .await?
        {
            None => Ok(Self::default()),
            Some(v) => serde_json::from_value(v).map_err(|e| {
                crate::ports::StoreError::Corrupt(format!(
                    "setting {}: {e}",
                    super::CALENDAR_SYNC_SETTINGS_KEY
                ))
            }),
        }
    }

    /// Checks everything that needs no time zone database; [`super::CalendarSync::save_config`]
    /// also checks that `time_zone` is known.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_WINDOW_HOURS).contains(&self.window_hours) {
            return Err(format!(
                "window_hours must be between 1 and {MAX_WINDOW_HOURS} hours (two weeks), got {}",
                self.window_hours
            ));
        }
        if !(10..=86_400).contains(&self.poll_interval_secs) {
            return Err(format!(
                "poll_interval_secs must be between 10 and 86400 seconds, got {}",
                self.poll_interval_secs
            ));
        }
        if parse_hh_mm(&self.daily_full_sync_at).is_none() {
            return Err(format!(
                "daily_full_sync_at must be a time like 03:00, got \"{}\"",
                self.daily_full_sync_at
            ));
        }
        validate_scope(&self.scope)?;
        let zone = self.time_zone.trim();
        if zone.is_empty() || zone != self.time_zone || zone.contains(char::is_whitespace) {
            return Err(format!(
                "time_zone must be an IANA name such as Europe/Berlin or UTC, got \"{}\"",
                self.time_zone
            ));
        }
        Ok(())
    }
}

fn validate_scope(scope: &Scope) -> Result<(), String> {
    match scope {
        Scope::Only(ids) | Scope::Groups(ids) if ids.is_empty() => Err(
            "this scope needs at least one Entra object id; with none, no calendar would be read"
                .into(),
        ),
        Scope::AllExcept(ids) | Scope::Only(ids) | Scope::Groups(ids) => {
            match ids
                .iter()
                .find(|id| id.len() != 36 || uuid::Uuid::try_parse(id).is_err())
            {
                Some(bad) => Err(format!(
                    "\"{bad}\" is not an Entra object id (a GUID such as 1b3c5d7e-0000-4000-8000-1234567890ab)"
                )),
                None => Ok(()),
            }
        }
        Scope::All => Ok(()),
    }
}
