//! User sync: Microsoft 365 users → PBX extensions. Pure rules; the run that feeds them pages of
//! users and applies the resulting actions lives with the adapters.

mod ids;
mod model;
mod numbering;
mod plan;
mod records;
mod scope;
mod sync;

pub use model::{DirectoryGroup, DirectoryUser, Extension, FieldChange, Origin, SyncedFields};
pub use numbering::{NumberPool, NumberSource, NumberingRule};
pub use plan::{
    Action, DisableReason, PlanContext, RemovalPolicy, SkipReason, UserSyncSettings, apply,
    plan_full_sync, plan_removals, plan_user,
};
pub use records::{
    AZURE_AD_GROUP, AuditEntry, DEPARTMENT_GROUP_PREFIX, ExtensionQuery, ExtensionRecord,
    PlanningSnapshot, RunCounts, RunMode, SyncRunRecord, SyncState, UserSyncBatch,
    department_group,
};
pub use scope::Scope;
pub use sync::{
    FreshnessMode, RunOutcome, RunRequest, SyncError, USER_SYNC_SETTINGS_KEY, USER_SYNC_STATE_KEY,
    UserSync, UserSyncConfig, UserSyncStatus, parse_hh_mm,
};
