//! The plan: what a user sync run will do to the extensions, each step with its reason.
//! `plan_user` looks at one user at a time so a run can stream pages of users; removals of
//! users no longer in the tenant are planned once the full list (or a delta `@removed`) is known.

use super::numbering::number_from_attribute;
use super::{
    DirectoryUser, Extension, FieldChange, NumberPool, NumberingRule, Origin, Scope, SyncedFields,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalPolicy {
    Keep,
    #[default]
    Disable,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSyncSettings {
    pub scope: Scope,
    pub include_guests: bool,
    pub numbering_start: u32,
    pub numbering: NumberingRule,
    pub removal: RemovalPolicy,
    /// Every synced extension is also in the group of its department ("Department: Sales",
    /// see [`department_group`](super::department_group)); off by default.
    #[serde(default)]
    pub department_groups: bool,
    /// The outbound caller ID of a synced extension is the user's business phone; off by
    /// default. Derived when an extension is shown, never stored.
    #[serde(default)]
    pub business_phone_as_caller_id: bool,
}

impl Default for UserSyncSettings {
    fn default() -> Self {
        Self {
            scope: Scope::All,
            include_guests: false,
            numbering_start: 100,
            numbering: NumberingRule::FirstFree,
            removal: RemovalPolicy::Disable,
            department_groups: false,
            business_phone_as_caller_id: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    Guest,
    DisabledMember,
    OutOfScope,
    Excluded,
    NumberConflict { number: String },
    NoFreeNumber,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Guest => f.write_str("guest"),
            Self::DisabledMember => f.write_str("disabled member"),
            Self::OutOfScope => f.write_str("out of scope"),
            Self::Excluded => f.write_str("excluded from sync"),
            Self::NumberConflict { number } => write!(f, "number conflict with {number}"),
            Self::NoFreeNumber => f.write_str("no free extension number"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisableReason {
    AccountDisabled,
    RemovedFromTenant,
    LeftScope,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Create {
        user_id: String,
        number: String,
        fields: Box<SyncedFields>,
        enabled: bool,
    },
    /// A local extension with the user's email becomes the user's synced extension.
    Adopt {
        user_id: String,
        number: String,
        changes: Vec<FieldChange>,
        enabled: bool,
    },
    Update {
        user_id: String,
        number: String,
        changes: Vec<FieldChange>,
    },
    SetEnabled {
        number: String,
        enabled: bool,
        reason: Option<DisableReason>,
    },
    Delete {
        number: String,
        reason: DisableReason,
    },
    Skip {
        user_id: String,
        label: String,
        reason: SkipReason,
    },
}

impl Action {
    pub fn changes_anything(&self) -> bool {
        !matches!(self, Action::Skip { .. })
    }
}

/// What a run knows besides the user at hand.
#[derive(Debug)]
pub struct PlanContext {
    pub settings: UserSyncSettings,
    pool: NumberPool,
    /// Local extensions by lower-case email, candidates for adoption.
    local_by_email: HashMap<String, (String, SyncedFields)>,
    /// Numbers of deleted synced extensions, so a restored user gets its number back.
    remembered: HashMap<String, String>,
    /// Remembered numbers nobody holds now: kept out of the pool for their owners.
    reserved: HashSet<String>,
}

impl PlanContext {
    pub fn new<'a>(
        settings: UserSyncSettings,
        stored: impl IntoIterator<Item = &'a Extension>,
        remembered: HashMap<String, String>,
    ) -> Self {
        let mut used = Vec::new();
        let mut local_by_email = HashMap::new();
        for e in stored {
            used.push(e.number.clone());
            if e.origin == Origin::Local && !e.excluded && !e.fields.email.is_empty() {
                local_by_email.insert(
                    e.fields.email.to_lowercase(),
                    (e.number.clone(), e.fields.clone()),
                );
            }
        }
        let held: HashSet<&String> = used.iter().collect();
        let reserved: HashSet<String> = remembered
            .values()
            .filter(|n| !held.contains(n))
            .cloned()
            .collect();
        let pool = NumberPool::new(
            settings.numbering_start,
            used.iter().chain(reserved.iter()).cloned(),
        );
        Self {
            settings,
            pool,
            local_by_email,
            remembered,
            reserved,
        }
    }

    /// The context for a run that streams users: numbers in use, adoption candidates and
    /// tombstones come from the store instead of every extension.
    pub fn from_snapshot(settings: UserSyncSettings, snapshot: super::PlanningSnapshot) -> Self {
        let mut ctx = Self::new(settings, snapshot.adoptable.iter(), snapshot.remembered);
        for n in snapshot.used_numbers {
            ctx.pool.claim(&n);
            ctx.reserved.remove(&n);
        }
        ctx
    }

    fn removal(&self, ext: &Extension, reason: DisableReason) -> Option<Action> {
        match self.settings.removal {
            RemovalPolicy::Keep => None,
            RemovalPolicy::Disable if ext.enabled => Some(Action::SetEnabled {
                number: ext.number.clone(),
                enabled: false,
                reason: Some(reason),
            }),
            RemovalPolicy::Disable => None,
            RemovalPolicy::Delete => Some(Action::Delete {
                number: ext.number.clone(),
                reason,
            }),
        }
    }

    fn allocate(&mut self, user: &DirectoryUser) -> Result<String, SkipReason> {
        if let Some(n) = self.remembered.get(&user.id)
            && self.reserved.remove(n)
        {
            return Ok(n.clone());
        }
        if let NumberingRule::FromAttribute(source) = self.settings.numbering
            && let Some(n) = number_from_attribute(user, source)
        {
            // Never silently renumber: a taken number is reported, not replaced.
            return if self.pool.claim(&n) {
                Ok(n)
            } else {
                Err(SkipReason::NumberConflict { number: n })
            };
        }
        self.pool.take_first_free().ok_or(SkipReason::NoFreeNumber)
    }
}

/// The actions for one user. `stored` is the extension synced from this user, if any;
/// `in_selected_groups` matters only for a group scope.
pub fn plan_user(
    user: &DirectoryUser,
    stored: Option<&Extension>,
    in_selected_groups: bool,
    ctx: &mut PlanContext,
) -> Vec<Action> {
    let skip = |reason| {
        vec![Action::Skip {
            user_id: user.id.clone(),
            label: user.label(),
            reason,
        }]
    };
    if stored.is_some_and(|e| e.excluded) {
        return skip(SkipReason::Excluded);
    }
    let unwanted = if user.is_guest() && !ctx.settings.include_guests {
        Some(SkipReason::Guest)
    } else if !ctx.settings.scope.includes(&user.id, in_selected_groups) {
        Some(SkipReason::OutOfScope)
    } else {
        None
    };
    if let Some(reason) = unwanted {
        return match stored.and_then(|e| ctx.removal(e, DisableReason::LeftScope)) {
            Some(a) => vec![a],
            None => skip(reason),
        };
    }
    let desired = SyncedFields::from_user(user);
    let enabled = user.is_enabled();
    if let Some(ext) = stored {
        let mut actions = Vec::new();
        let changes = ext.fields.changes_to(&desired);
        if !changes.is_empty() {
            actions.push(Action::Update {
                user_id: user.id.clone(),
                number: ext.number.clone(),
                changes,
            });
        }
        if ext.enabled != enabled {
            let reason = (!enabled).then_some(DisableReason::AccountDisabled);
            actions.push(Action::SetEnabled {
                number: ext.number.clone(),
                enabled,
                reason,
            });
        }
        return actions;
    }
    if !enabled {
        return skip(SkipReason::DisabledMember);
    }
    if let Some(email) = user.email().map(str::to_lowercase)
        && let Some((number, fields)) = ctx.local_by_email.remove(&email)
    {
        return vec![Action::Adopt {
            user_id: user.id.clone(),
            number,
            changes: fields.changes_to(&desired),
            enabled,
        }];
    }
    match ctx.allocate(user) {
        Ok(number) => vec![Action::Create {
            user_id: user.id.clone(),
            number,
            fields: Box::new(desired),
            enabled,
        }],
        Err(reason) => skip(reason),
    }
}

/// Removal-policy actions for synced extensions whose users are gone from the tenant.
pub fn plan_removals<'a>(
    gone: impl IntoIterator<Item = &'a Extension>,
    ctx: &PlanContext,
) -> Vec<Action> {
    gone.into_iter()
        .filter(|e| e.origin == Origin::AzureAd && !e.excluded)
        .filter_map(|e| ctx.removal(e, DisableReason::RemovedFromTenant))
        .collect()
}

/// A whole run over an in-memory tenant: the reference the streaming run must agree with.
pub fn plan_full_sync(
    users: &[(DirectoryUser, bool)],
    stored: &[Extension],
    settings: UserSyncSettings,
    remembered: HashMap<String, String>,
) -> Vec<Action> {
    let by_user: HashMap<&str, &Extension> = stored
        .iter()
        .filter_map(|e| e.graph_user_id.as_deref().map(|id| (id, e)))
        .collect();
    let mut ctx = PlanContext::new(settings, stored, remembered);
    let mut actions = Vec::new();
    let mut seen = HashSet::new();
    for (user, in_groups) in users {
        if !seen.insert(user.id.as_str()) {
            continue; // Graph may repeat an object; the first occurrence wins.
        }
        actions.extend(plan_user(
            user,
            by_user.get(user.id.as_str()).copied(),
            *in_groups,
            &mut ctx,
        ));
    }
    let gone = stored.iter().filter(|e| {
        e.graph_user_id
            .as_deref()
            .is_some_and(|id| !seen.contains(id))
    });
    actions.extend(plan_removals(gone, &ctx));
    actions
}

/// Applies actions to an in-memory set of extensions keyed by number (the store does the same
/// in SQL). Returns the graph user ids of deleted extensions with their numbers, to remember.
pub fn apply(
    extensions: &mut BTreeMap<String, Extension>,
    actions: &[Action],
) -> Vec<(String, String)> {
    let mut deleted = Vec::new();
    for action in actions {
        match action {
            Action::Create {
                user_id,
                number,
                fields,
                enabled,
            } => {
                extensions.insert(
                    number.clone(),
                    Extension {
                        number: number.clone(),
                        origin: Origin::AzureAd,
                        graph_user_id: Some(user_id.clone()),
                        fields: (**fields).clone(),
                        enabled: *enabled,
                        excluded: false,
                    },
                );
            }
            Action::Adopt {
                user_id,
                number,
                changes,
                enabled,
            } => {
                if let Some(e) = extensions.get_mut(number) {
                    e.origin = Origin::AzureAd;
                    e.graph_user_id = Some(user_id.clone());
                    apply_changes(&mut e.fields, changes);
                    e.enabled = *enabled;
                }
            }
            Action::Update {
                number, changes, ..
            } => {
                if let Some(e) = extensions.get_mut(number) {
                    apply_changes(&mut e.fields, changes);
                }
            }
            Action::SetEnabled {
                number, enabled, ..
            } => {
                if let Some(e) = extensions.get_mut(number) {
                    e.enabled = *enabled;
                }
            }
            Action::Delete { number, .. } => {
                if let Some(e) = extensions.remove(number)
                    && let Some(id) = e.graph_user_id
                {
                    deleted.push((id, e.number));
                }
            }
            Action::Skip { .. } => {}
        }
    }
    deleted
}

fn apply_changes(fields: &mut SyncedFields, changes: &[FieldChange]) {
    for c in changes {
        if let Some(slot) = fields.field_mut(c.field) {
            slot.clone_from(&c.after);
        }
    }
}
