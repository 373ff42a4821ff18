//! What the API and the console share about contact sync: checking and normalising its
//! settings (field by field, so the form can place each message), reading and saving them,
//! errors in words, and runs started in the background.

use crate::state::AppState;
use crate::user_sync::{ScopeError, check_scope_value};
use axum::http::StatusCode;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::contacts::{
    CONTACT_SYNC_KIND, ContactSync, ContactSyncConfig, ContactSyncError, phone,
};
use switchboard_core::users::RunRequest;

/// Shared mailboxes of the company phonebook, at most.
pub(crate) const MAX_COMPANY_MAILBOXES: usize = 50;

pub(crate) use crate::sync_settings::Invalid;
use crate::sync_settings::{check_schedule, entered};

/// The scope in words for a message.
pub(crate) fn scope_problem(e: &ScopeError) -> String {
    match e {
        ScopeError::NotIds { what, bad } => format!(
            "each scope entry must be the Object ID of a {what} (a GUID such as 3f2c9a4e-5b1d-4c8e-9f0a-1b2c3d4e5f60), from its Overview page in Microsoft Entra ID or picked with the search; not an Object ID: {}",
            bad.join(", ")
        ),
        ScopeError::Empty { what, .. } => format!(
            "this scope needs at least one {what} Object ID: with none, no user's contacts would be synced (turn the sync off instead)"
        ),
    }
}

/// A mailbox of the company phonebook: an Entra object id (lower-cased, as Graph spells it) or
/// an address such as `contacts@contoso.com` (lower-cased: Graph matches UPNs regardless of case).
fn mailbox(s: &str) -> Option<String> {
    if let Ok(id) = uuid::Uuid::try_parse(s) {
        return Some(id.hyphenated().to_string());
    }
    let (local, domain) = s.split_once('@')?;
    let ok = !local.is_empty()
        && s.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"(),;:[]\\".contains(c))
        && !domain.contains('@');
    ok.then(|| s.to_ascii_lowercase())
}

/// Checks every setting and normalises what has one spelling (region upper-case, ids and
/// mailboxes lower-case, each once). All problems at once, so a form can mark each field.
pub(crate) fn check(config: &mut ContactSyncConfig) -> Result<(), Vec<Invalid>> {
    let mut problems = Vec::new();
    if let Err(e) = check_scope_value(&mut config.scope) {
        problems.push(Invalid {
            field: "scope",
            message: scope_problem(&e),
        });
    }
    let region = config.default_region.trim().to_ascii_uppercase();
    if phone::is_region(&region) {
        config.default_region = region;
    } else {
        problems.push(Invalid {
            field: "default_region",
            message: format!(
                "the default region must be a two-letter ISO 3166 country code such as GB, US, DE or FR ({}); numbers written without a country code are read as numbers of that country",
                entered(&config.default_region)
            ),
        });
    }
    let mut seen = BTreeSet::new();
    let mut mailboxes = Vec::new();
    let mut bad = Vec::new();
    for m in config
        .company_mailboxes
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
    {
        match mailbox(m) {
            Some(m) if seen.insert(m.clone()) => mailboxes.push(m),
            Some(_) => {}
            None => bad.push(format!("\"{}\"", m.chars().take(80).collect::<String>())),
        }
    }
    if !bad.is_empty() {
        problems.push(Invalid {
            field: "company_mailboxes",
            message: format!(
                "each company phonebook mailbox must be the address of a shared mailbox (such as contacts@contoso.com) or its Entra object id; not a mailbox: {}",
                bad.join(", ")
            ),
        });
    } else if mailboxes.len() > MAX_COMPANY_MAILBOXES {
        problems.push(Invalid {
            field: "company_mailboxes",
            message: format!(
                "at most {MAX_COMPANY_MAILBOXES} company phonebook mailboxes can be synced, got {}: collect the shared contacts in fewer mailboxes",
                mailboxes.len()
            ),
        });
    } else {
        config.company_mailboxes = mailboxes;
    }
    check_schedule(
        config.poll_interval_secs,
        &mut config.daily_full_sync_at,
        &mut config.time_zone,
        "02:30",
        &mut problems,
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The problems as one message, for the API.
pub(crate) fn describe(problems: &[Invalid]) -> String {
    crate::sync_settings::describe("contact sync", problems)
}

/// The saved settings, or the defaults when none were saved.
pub(crate) async fn load_config(state: &AppState) -> Result<ContactSyncConfig, ContactSyncError> {
    state.contact_sync().config().await
}

/// Saves settings that passed [`check`]; contact sync also gives the caller-ID index the new
/// default region at once.
pub(crate) async fn save_config(
    state: &AppState,
    config: &ContactSyncConfig,
) -> Result<(), ContactSyncError> {
    state.contact_sync().save_config(config).await
}

/// The status and message of a failed contact sync call; store failures are logged and not
/// described.
pub(crate) fn error_status(e: &ContactSyncError) -> (StatusCode, String) {
    match e {
        ContactSyncError::AlreadyRunning => (StatusCode::CONFLICT, e.to_string()),
        ContactSyncError::InvalidSettings(_) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        ContactSyncError::Directory(_) | ContactSyncError::MailboxesFailed { .. } => {
            (StatusCode::BAD_GATEWAY, e.to_string())
        }
        ContactSyncError::Store(_) => {
            tracing::error!(error = %e, "contact sync failed in the store");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error: the server log has the details. Try again, and report it if it persists.".to_owned(),
            )
        }
    }
}

/// The actor of a contact sync run someone started.
pub(crate) fn started_by(actor: &str) -> String {
    format!("sync:{CONTACT_SYNC_KIND} (started by {actor})")
}

/// Starts a run in a background task. Returns once the run holds the sync lock (or has
/// already ended), so a status read right after shows it; `AlreadyRunning` when one is going.
pub(crate) async fn start_in_background(
    sync: &Arc<ContactSync>,
    request: RunRequest,
) -> Result<(), ContactSyncError> {
    if sync.is_running() {
        return Err(ContactSyncError::AlreadyRunning);
    }
    let job = Arc::clone(sync);
    let actor = request.actor.clone();
    let handle = tokio::spawn(async move {
        match job.run(request).await {
            Ok(outcome) => tracing::info!(
                actor = %actor,
                run = %outcome.run.id,
                processed = outcome.run.processed,
                "contact sync finished"
            ),
            Err(ContactSyncError::AlreadyRunning) => {
                tracing::info!(actor = %actor, "contact sync not started: another run is going")
            }
            Err(e) => tracing::warn!(actor = %actor, error = %e, "contact sync failed"),
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

/// `PUT /api/v1/settings/contact-sync`: the given keys over the current settings; unknown keys
/// are refused.
pub(crate) fn merge_config(
    current: &ContactSyncConfig,
    patch: serde_json::Value,
) -> Result<ContactSyncConfig, String> {
    let serde_json::Value::Object(patch) = patch else {
        return Err("The body must be a JSON object of contact sync settings (see GET /api/v1/settings/contact-sync).".into());
    };
    let mut merged = match serde_json::to_value(current) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let known: Vec<String> = merged.keys().cloned().collect();
    for (key, mut value) in patch {
        if !known.contains(&key) {
            return Err(format!(
                "Unknown contact sync setting \"{key}\": the settings are {}.",
                known.join(", ")
            ));
        }
        if key == "scope"
            && let Some(obj) = value.as_object_mut()
            && obj.get("mode").and_then(|m| m.as_str()) == Some("all")
        {
            obj.remove("ids");
        }
        merged.insert(key, value);
    }
    serde_json::from_value(serde_json::Value::Object(merged))
        .map_err(|e| format!("The contact sync settings are not valid: {e}."))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchboard_core::users::Scope;

    #[test]
    fn valid_settings_are_normalised() {
        let mut c = ContactSyncConfig {
            default_region: " gb ".into(),
            company_mailboxes: vec![
                " Contacts@Contoso.com ".into(),
                "contacts@contoso.com".into(),
                "3F2C9A4E-5B1D-4C8E-9F0A-1B2C3D4E5F60".into(),
                String::new(),
            ],
            daily_full_sync_at: " 03:15 ".into(),
            ..ContactSyncConfig::default()
        };
        check(&mut c).unwrap();
        assert_eq!(c.default_region, "GB");
        assert_eq!(
            c.company_mailboxes,
            [
                "contacts@contoso.com",
                "3f2c9a4e-5b1d-4c8e-9f0a-1b2c3d4e5f60"
            ]
        );
        assert_eq!(c.daily_full_sync_at, "03:15");
    }

    #[test]
    fn every_problem_is_named() {
        let mut c = ContactSyncConfig {
            scope: Scope::Groups(BTreeSet::new()),
            default_region: "UK".into(),
            company_mailboxes: vec!["not a mailbox".into()],
            poll_interval_secs: 5,
            daily_full_sync_at: "25:00".into(),
            time_zone: "Mars/Olympus".into(),
            ..ContactSyncConfig::default()
        };
        let problems = check(&mut c).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "scope",
                "default_region",
                "company_mailboxes",
                "poll_interval_secs",
                "daily_full_sync_at",
                "time_zone"
            ]
        );
        assert!(
            problems[1].message.contains("\"UK\""),
            "{}",
            problems[1].message
        );
        assert!(problems[2].message.contains("\"not a mailbox\""));
        assert!(describe(&problems).starts_with("The contact sync settings are not valid: scope:"));
    }

    #[test]
    fn merge_keeps_what_is_not_sent() {
        let current = ContactSyncConfig::default();
        let merged = merge_config(&current, json!({"default_region": "DE"})).unwrap();
        assert_eq!(merged.default_region, "DE");
        assert_eq!(merged.poll_interval_secs, current.poll_interval_secs);
        assert!(
            merge_config(&current, json!({"colour": 1}))
                .unwrap_err()
                .contains("colour")
        );
    }
}
