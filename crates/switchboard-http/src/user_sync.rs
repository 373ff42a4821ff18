//! What the API and the console share about user sync: background runs, the plan with a human
//! reason per step, settings checks and the mapping of sync errors.

use crate::state::AppState;
use axum::http::StatusCode;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::notifications::KeeperError;
use switchboard_core::ports::DirectoryError;
use switchboard_core::users::{
    Action, DisableReason, RemovalPolicy, RunOutcome, RunRequest, Scope, SkipReason, SyncError,
    SyncRunRecord, UserSync, UserSyncConfig, UserSyncStatus,
};

/// One step of a plan as the API returns it: core's action plus a sentence for people.
#[derive(Debug, Serialize)]
pub(crate) struct PlanStep {
    #[serde(flatten)]
    pub(crate) action: Action,
    pub(crate) reason_text: String,
}

/// `POST /api/v1/sync/users` answer: the run, and for a dry run the plan.
#[derive(Debug, Serialize)]
pub(crate) struct OutcomeView {
    pub(crate) run: SyncRunRecord,
    pub(crate) plan: Vec<PlanStep>,
}

impl From<RunOutcome> for OutcomeView {
    fn from(o: RunOutcome) -> Self {
        Self {
            run: o.run,
            plan: o
                .plan
                .into_iter()
                .map(|action| PlanStep {
                    reason_text: reason_text(&action),
                    action,
                })
                .collect(),
        }
    }
}

/// The name of an action as the API spells it (`create`, `adopt`, `update`, `set_enabled`,
/// `delete`, `skip`).
pub(crate) fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Create { .. } => "create",
        Action::Adopt { .. } => "adopt",
        Action::Update { .. } => "update",
        Action::SetEnabled { .. } => "set_enabled",
        Action::Delete { .. } => "delete",
        Action::Skip { .. } => "skip",
    }
}

fn disable_reason(r: DisableReason) -> &'static str {
    match r {
        DisableReason::AccountDisabled => "the account is disabled in Microsoft 365",
        DisableReason::RemovedFromTenant => "the user was removed from Microsoft 365",
        DisableReason::LeftScope => "the user left the sync scope",
    }
}

/// Why a step happens, in words.
pub(crate) fn reason_text(a: &Action) -> String {
    match a {
        Action::Create { number, .. } => {
            format!("New user in Microsoft 365: gets extension {number}")
        }
        Action::Adopt {
            number, changes, ..
        } => format!(
            "Same email as local extension {number}: it becomes this user's synced extension ({} field{} change)",
            changes.len(),
            if changes.len() == 1 { "" } else { "s" }
        ),
        Action::Update { changes, .. } => format!(
            "Changed in Microsoft 365: {}",
            changes
                .iter()
                .map(|c| format!("{} \"{}\" → \"{}\"", c.field, c.before, c.after))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Action::SetEnabled {
            enabled: true,
            reason,
            ..
        } => match reason {
            Some(r) => format!("Enabled: {}", disable_reason(*r)),
            None => "Enabled: the account is enabled again in Microsoft 365".to_owned(),
        },
        Action::SetEnabled {
            enabled: false,
            reason,
            ..
        } => match reason {
            Some(DisableReason::AccountDisabled) | None => {
                "Disabled: the account is disabled in Microsoft 365".to_owned()
            }
            Some(r) => format!(
                "Disabled (removal policy \"disable\"): {}",
                disable_reason(*r)
            ),
        },
        Action::Delete { reason, .. } => {
            format!(
                "Deleted (removal policy \"delete\"): {}",
                disable_reason(*reason)
            )
        }
        Action::Skip { reason, .. } => {
            let hint = match reason {
                SkipReason::Guest => "guests are synced only with \"Include guests\" on",
                SkipReason::DisabledMember => "the account is disabled, so no extension is made",
                SkipReason::OutOfScope => "the sync scope does not include this user",
                SkipReason::Excluded => "an admin excluded the extension from sync",
                SkipReason::NumberConflict { .. } => {
                    "the number from the user's attribute belongs to another extension; the user is not renumbered"
                }
                SkipReason::NoFreeNumber => "every number from the numbering start is taken",
            };
            format!("Skipped ({reason}): {hint}")
        }
    }
}

/// The status and message of a failed run; store failures are logged and not described.
pub(crate) fn error_status(e: &SyncError) -> (StatusCode, String) {
    match e {
        SyncError::AlreadyRunning => (StatusCode::CONFLICT, e.to_string()),
        SyncError::Directory(_) => (StatusCode::BAD_GATEWAY, e.to_string()),
        SyncError::InvalidSettings(_) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        SyncError::Store(_) => {
            tracing::error!(error = %e, "user sync failed in the store");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error: the server log has the details. Try again, and report it if it persists.".to_owned(),
            )
        }
    }
}

/// Core's status, with `last_run` filled in while a run is going (core looks only at the newest
/// run, which is then the unfinished one).
pub(crate) async fn users_status(state: &AppState) -> Result<UserSyncStatus, SyncError> {
    let mut status = state.user_sync().status().await?;
    if status.last_run.is_none() {
        status.last_run = state
            .extensions()
            .recent_sync_runs("users", 5)
            .await?
            .into_iter()
            .find(|r| r.finished_at.is_some());
    }
    Ok(status)
}

/// Starts a run in a background task. Returns once the run holds the sync lock (or has
/// already ended), so a status read right after shows it; `AlreadyRunning` when one is going.
pub(crate) async fn start_in_background(
    sync: &Arc<UserSync>,
    request: RunRequest,
) -> Result<(), SyncError> {
    if sync.is_running() {
        return Err(SyncError::AlreadyRunning);
    }
    let job = Arc::clone(sync);
    let actor = request.actor.clone();
    let handle = tokio::spawn(async move {
        match job.run(request).await {
            Ok(outcome) => tracing::info!(
                actor = %actor,
                run = %outcome.run.id,
                processed = outcome.run.processed,
                "user sync finished"
            ),
            Err(SyncError::AlreadyRunning) => {
                tracing::info!(actor = %actor, "user sync not started: another run is going")
            }
            Err(e) => tracing::warn!(actor = %actor, error = %e, "user sync failed"),
        }
    });
    for _ in 0..100 {
        if sync.is_running() || handle.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// `idle`, `running` or `error` (the last run failed).
pub(crate) fn status_badge(status: &UserSyncStatus) -> &'static str {
    if status.running.is_some() {
        "running"
    } else if status.last_run.as_ref().is_some_and(|r| r.error.is_some()) {
        "error"
    } else {
        "idle"
    }
}

/// Why scope ids were refused, so the API and the console can each word it their own way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScopeError {
    /// Entries that are not GUIDs (quoted, at most 80 characters each).
    NotIds {
        what: &'static str,
        bad: Vec<String>,
    },
    /// `only`/`groups` with an empty list.
    Empty {
        what: &'static str,
        mode: &'static str,
    },
}

impl std::fmt::Display for ScopeError {
    /// The API's wording.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotIds { what, bad } => write!(
                f,
                "scope ids must be Microsoft Entra object ids (GUIDs such as 3f2c9a4e-5b1d-4c8e-9f0a-1b2c3d4e5f60), one per {what}; not ids: {}. Copy the Object ID from the {what}'s Overview page in Microsoft Entra ID.",
                bad.join(", ")
            ),
            Self::Empty { what, mode } => write!(
                f,
                "scope \"{mode}\" needs at least one {what} object id: an empty list would take every user out of the sync."
            ),
        }
    }
}

/// Checks what core leaves to the caller: scope ids must be Entra object ids (normalised to
/// lower-case, as Graph spells them, so they match), and `only`/`groups` need at least one,
/// since an empty list would take every user out of the sync.
pub(crate) fn check_scope_ids(config: &mut UserSyncConfig) -> Result<(), ScopeError> {
    check_scope_value(&mut config.plan.scope)
}

/// [`check_scope_ids`] for any sync's scope (contact sync has its own).
pub(crate) fn check_scope_value(scope: &mut Scope) -> Result<(), ScopeError> {
    let mode = scope_mode(scope);
    let (ids, what, needs_one) = match scope {
        Scope::All => return Ok(()),
        Scope::AllExcept(ids) => (ids, "user", false),
        Scope::Only(ids) => (ids, "user", true),
        Scope::Groups(ids) => (ids, "group", true),
    };
    let mut normalised = BTreeSet::new();
    let mut bad = Vec::new();
    for id in ids.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        match uuid::Uuid::try_parse(id) {
            Ok(u) => {
                normalised.insert(u.hyphenated().to_string());
            }
            Err(_) => bad.push(format!("\"{}\"", id.chars().take(80).collect::<String>())),
        }
    }
    if !bad.is_empty() {
        return Err(ScopeError::NotIds { what, bad });
    }
    if needs_one && normalised.is_empty() {
        return Err(ScopeError::Empty { what, mode });
    }
    *ids = normalised;
    Ok(())
}

/// [`check_scope_ids`] with the API's message.
pub(crate) fn check_scope(config: &mut UserSyncConfig) -> Result<(), String> {
    check_scope_ids(config).map_err(|e| e.to_string())
}

/// The audit actor of a user sync run that someone started: `sync:users (started by admin:NAME)`
/// or `sync:users (started by api:NAME)`, so the changes read as the sync's, not as hand edits.
pub(crate) fn started_by(actor: &str) -> String {
    format!("sync:users (started by {actor})")
}

/// The API spelling of a scope mode.
pub(crate) fn scope_mode(scope: &Scope) -> &'static str {
    match scope {
        Scope::All => "all",
        Scope::AllExcept(_) => "all_except",
        Scope::Only(_) => "only",
        Scope::Groups(_) => "groups",
    }
}

/// `PUT /api/v1/settings/user-sync`: the given keys over the current settings, so that a client
/// sending only `{"enabled": false}` does not reset everything else. Unknown keys are refused.
pub(crate) fn merge_config(
    current: &UserSyncConfig,
    patch: serde_json::Value,
) -> Result<UserSyncConfig, String> {
    let serde_json::Value::Object(patch) = patch else {
        return Err("The body must be a JSON object of user sync settings (see GET /api/v1/settings/user-sync).".into());
    };
    let mut merged = match serde_json::to_value(current) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let known: Vec<String> = merged.keys().cloned().collect();
    for (key, mut value) in patch {
        if !known.contains(&key) {
            return Err(format!(
                "Unknown user sync setting \"{key}\": the settings are {}.",
                known.join(", ")
            ));
        }
        // `{"mode": "all", "ids": []}` is what a form naturally sends for "all".
        if key == "scope"
            && let Some(obj) = value.as_object_mut()
            && obj.get("mode").and_then(|m| m.as_str()) == Some("all")
        {
            obj.remove("ids");
        }
        merged.insert(key, value);
    }
    serde_json::from_value(serde_json::Value::Object(merged))
        .map_err(|e| format!("The user sync settings are not valid: {e}."))
}

/// What each removal policy does, for the settings form.
pub(crate) fn removal_help(p: RemovalPolicy) -> &'static str {
    match p {
        RemovalPolicy::Keep => {
            "Keep: the extension stays as it is (enabled) when its user is removed or leaves the scope."
        }
        RemovalPolicy::Disable => {
            "Disable (recommended): the extension stays but is disabled; it is enabled again if the user comes back."
        }
        RemovalPolicy::Delete => {
            "Delete: the extension is deleted; its number is kept for the user in case they are restored."
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scope_ids_are_guids_lower_case_and_not_empty_for_only() {
        let mut c = UserSyncConfig::default();
        c.plan.scope = Scope::Only(["  3F2C9A4E-5B1D-4C8E-9F0A-1B2C3D4E5F60 ".to_owned()].into());
        check_scope(&mut c).unwrap();
        assert_eq!(
            c.plan.scope,
            Scope::Only(["3f2c9a4e-5b1d-4c8e-9f0a-1b2c3d4e5f60".to_owned()].into())
        );
        c.plan.scope = Scope::Groups(BTreeSet::new());
        assert!(
            check_scope(&mut c)
                .unwrap_err()
                .contains("at least one group")
        );
        c.plan.scope = Scope::AllExcept(BTreeSet::new());
        assert!(check_scope(&mut c).is_ok());
        c.plan.scope = Scope::AllExcept(["ada@contoso.com".to_owned()].into());
        assert!(check_scope(&mut c).unwrap_err().contains("ada@contoso.com"));
    }

    #[test]
    fn merge_keeps_what_is_not_sent_and_refuses_unknown_keys() {
        let current = UserSyncConfig {
            poll_interval_secs: 300,
            ..UserSyncConfig::default()
        };
        let merged = merge_config(
            &current,
            json!({"enabled": false, "scope": {"mode": "all", "ids": []}}),
        )
        .unwrap();
        assert!(!merged.enabled);
        assert_eq!(merged.poll_interval_secs, 300);
        assert!(
            merge_config(&current, json!({"colour": "blue"}))
                .unwrap_err()
                .contains("colour")
        );
        assert!(merge_config(&current, json!([])).is_err());
        assert!(
            merge_config(&current, json!({"removal": "shred"}))
                .unwrap_err()
                .contains("not valid")
        );
    }

    #[test]
    fn plan_steps_carry_the_action_and_a_reason() {
        let step = PlanStep {
            reason_text: String::new(),
            action: Action::Skip {
                user_id: "u1".into(),
                label: "Guest User".into(),
                reason: SkipReason::Guest,
            },
        };
        let v = serde_json::to_value(&step).unwrap();
        assert_eq!(v["action"], "skip");
        assert_eq!(v["reason"], json!({"kind": "guest"}));
        assert!(reason_text(&step.action).starts_with("Skipped (guest)"));
    }
}

/// Why the reachability self-test cannot run: there is no address for Microsoft to call.
pub(crate) const SELF_TEST_NO_PUBLIC_URL: &str = "Set public_url (the HTTPS address Microsoft can reach) to use change notifications; without it changes arrive by polling.";

/// The answer of the reachability self-test.
#[derive(Debug, Serialize)]
pub(crate) struct SelfTestResult {
    pub(crate) reachable: bool,
    pub(crate) message: String,
}

/// Runs the reachability self-test (a short-lived test subscription: Microsoft Graph creates it
/// only after our webhook passed its validation handshake). `None` without `public_url`.
pub(crate) async fn reachability_self_test(state: &AppState) -> Option<SelfTestResult> {
    let keeper = state.keeper()?;
    let url = keeper.notification_url();
    Some(match keeper.self_test().await {
        Ok(()) => SelfTestResult {
            reachable: true,
            message: format!(
                "Microsoft Graph reached {url} and completed the validation handshake."
            ),
        },
        Err(e) => {
            tracing::warn!(url = %url, error = %e, "reachability self-test failed");
            SelfTestResult {
                reachable: false,
                message: self_test_failure(url, &e),
            }
        }
    })
}

/// The Graph error in plain words, and what to check.
fn self_test_failure(url: &str, e: &KeeperError) -> String {
    let graph = e.to_string();
    let graph = graph.trim_end_matches('.');
    match e {
        KeeperError::Graph(DirectoryError::NotConnected(_)) => format!(
            "The reachability test could not ask Microsoft Graph: {graph}. Finish the Office 365 \
             connection on the Configure page, then test again."
        ),
        KeeperError::Graph(DirectoryError::Denied(_)) => format!(
            "Microsoft Graph refused to create the test subscription: {graph}. Check that the app \
             registration has the User.Read.All application permission with admin consent."
        ),
        _ => format!(
            "Microsoft Graph could not complete the validation handshake with {url}: {graph}. \
             Microsoft creates a subscription only after it has POSTed a validation request to \
             that address and got the token back. Check that the host name in public_url \
             resolves in public DNS, that it is served over HTTPS with a valid certificate from a \
             public authority, that the firewall or reverse proxy forwards POST /webhooks/graph \
             to Switchboard, and that Switchboard answers within 10 s."
        ),
    }
}
