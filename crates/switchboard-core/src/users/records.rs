//! What the store keeps about extensions and sync runs, as the API and console show it.

use super::{Action, Extension, Origin, SyncedFields};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The group every synced extension belongs to.
pub const AZURE_AD_GROUP: &str = "Azure AD";

/// The prefix of the department groups the sync keeps (option `department_groups`): a group
/// whose name starts with it belongs to the sync, which adds and removes its members.
pub const DEPARTMENT_GROUP_PREFIX: &str = "Department: ";

/// The group of a department ("Sales" → "Department: Sales"); none for an empty department.
pub fn department_group(department: &str) -> Option<String> {
    let department = department.trim();
    (!department.is_empty()).then(|| format!("{DEPARTMENT_GROUP_PREFIX}{department}"))
}

/// A stored extension with everything the API shows (DESIGN §6 field names, flattened).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionRecord {
    pub number: String,
    pub origin: Origin,
    pub graph_user_id: Option<String>,
    #[serde(flatten)]
    pub fields: SyncedFields,
    pub enabled: bool,
    pub excluded: bool,
    pub groups: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub synced_at: Option<Timestamp>,
}

impl ExtensionRecord {
    pub fn planning_view(&self) -> Extension {
        Extension {
            number: self.number.clone(),
            origin: self.origin,
            graph_user_id: self.graph_user_id.clone(),
            fields: self.fields.clone(),
            enabled: self.enabled,
            excluded: self.excluded,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionQuery {
    /// Only members of this group.
    pub group: Option<String>,
    /// Case-insensitive substring of number, names, email or UPN.
    pub q: Option<String>,
    /// Numbers greater than this (keyset paging, ordered by number as text).
    pub after: Option<String>,
    pub limit: u32,
}

/// What a run needs to know before looking at any user, without loading every extension.
#[derive(Debug, Clone, Default)]
pub struct PlanningSnapshot {
    pub used_numbers: Vec<String>,
    /// Local extensions with an email: candidates for adoption.
    pub adoptable: Vec<Extension>,
    /// Graph user id → number of synced extensions that were deleted (tombstones).
    pub remembered: HashMap<String, String>,
}

/// One transaction's worth of sync work: the actions for a page of users, with their audit trail.
#[derive(Debug, Clone)]
pub struct UserSyncBatch {
    pub run_id: String,
    /// Who made the change, for the audit log: `sync:users`, `admin:alice`…
    pub actor: String,
    pub at: Timestamp,
    pub actions: Vec<Action>,
    /// The `department_groups` setting: each extension the batch creates, adopts or updates is
    /// put in the group of its department (and out of other "Department: …" groups); when off,
    /// it is taken out of every "Department: …" group.
    pub department_groups: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: Timestamp,
    pub actor: String,
    /// `create`, `adopt`, `update`, `enable`, `disable`, `delete`, `local_edit`, `exclude`…
    pub action: String,
    pub number: Option<String>,
    pub graph_user_id: Option<String>,
    /// Before → after, or the reason.
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    Full,
    Delta,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    pub created: u64,
    pub updated: u64,
    pub disabled: u64,
    pub enabled: u64,
    pub removed: u64,
    pub skipped: u64,
}

impl RunCounts {
    pub fn add(&mut self, action: &Action) {
        match action {
            Action::Create { .. } | Action::Adopt { .. } => self.created += 1,
            Action::Update { .. } => self.updated += 1,
            Action::SetEnabled { enabled: true, .. } => self.enabled += 1,
            Action::SetEnabled { enabled: false, .. } => self.disabled += 1,
            Action::Delete { .. } => self.removed += 1,
            Action::Skip { .. } => self.skipped += 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRunRecord {
    pub id: String,
    /// `users`, later `contacts`, `calendar`.
    pub kind: String,
    pub mode: RunMode,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub counts: RunCounts,
    /// Users looked at so far (progress of a running job).
    pub processed: u64,
    pub error: Option<String>,
}

/// Where incremental sync resumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncState {
    pub delta_link: Option<String>,
    pub last_full_sync: Option<Timestamp>,
    pub last_error: Option<String>,
}
