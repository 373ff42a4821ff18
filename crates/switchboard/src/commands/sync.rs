//! `switchboard sync <users|contacts|calendar|all> [--full] [--dry-run]`: one run from the
//! shell, with a summary.

use crate::app::Services;
use std::fmt::Write as _;
use switchboard_core::users::{Action, RunMode, RunOutcome, RunRequest, SyncRunRecord};

fn cli_request(kind: &str, full: bool, dry_run: bool) -> RunRequest {
    RunRequest {
        full,
        dry_run,
        actor: format!("sync:{kind} (started by cli)"),
    }
}

pub async fn contacts(
    services: &Services,
    full: bool,
    dry_run: bool,
) -> anyhow::Result<SyncRunRecord> {
    let outcome = services
        .contact_sync
        .run(cli_request("contacts", full, dry_run))
        .await?;
    Ok(outcome.run)
}

pub async fn calendar(
    services: &Services,
    full: bool,
    dry_run: bool,
) -> anyhow::Result<SyncRunRecord> {
    let outcome = services
        .calendar_sync
        .run(cli_request("calendar", full, dry_run))
        .await?;
    Ok(outcome.run)
}

/// The counts of a contact or calendar run, one line.
pub fn run_summary(what: &str, run: &SyncRunRecord, dry_run: bool) -> String {
    let c = &run.counts;
    format!(
        "{} {what} sync{}: {} mailboxes; {} created, {} updated, {} removed, {} skipped{}",
        match run.mode {
            RunMode::Full => "Full",
            RunMode::Delta => "Incremental",
        },
        if dry_run {
            " (dry run, nothing changed)"
        } else {
            ""
        },
        run.processed,
        c.created,
        c.updated,
        c.removed,
        c.skipped,
        run.error
            .as_deref()
            .map(|e| format!("\n  problem: {e}"))
            .unwrap_or_default()
    )
}

pub async fn users(services: &Services, full: bool, dry_run: bool) -> anyhow::Result<RunOutcome> {
    let outcome = services
        .user_sync
        .run(cli_request("users", full, dry_run))
        .await?;
    Ok(outcome)
}

/// One line per planned action, then the counts.
pub fn summary(outcome: &RunOutcome) -> String {
    let mut out = String::new();
    for action in &outcome.plan {
        let _ = writeln!(out, "{}", describe(action));
    }
    let c = &outcome.run.counts;
    let _ = write!(
        out,
        "{} user sync{}: {} users looked at; {} created, {} updated, {} disabled, {} enabled, {} removed, {} skipped",
        match outcome.run.mode {
            RunMode::Full => "Full",
            RunMode::Delta => "Incremental",
        },
        if outcome.plan.is_empty() {
            ""
        } else {
            " (dry run, nothing changed)"
        },
        outcome.run.processed,
        c.created,
        c.updated,
        c.disabled,
        c.enabled,
        c.removed,
        c.skipped
    );
    out
}

pub fn describe(action: &Action) -> String {
    match action {
        Action::Create {
            number,
            fields,
            enabled,
            ..
        } => format!(
            "create  {number:>6}  {} <{}>{}",
            fields.display_name,
            fields.email,
            if *enabled { "" } else { " (disabled)" }
        ),
        Action::Adopt {
            number, user_id, ..
        } => format!("adopt   {number:>6}  local extension becomes user {user_id}"),
        Action::Update {
            number, changes, ..
        } => format!(
            "update  {number:>6}  {}",
            changes
                .iter()
                .map(|c| format!("{}: \"{}\" → \"{}\"", c.field, c.before, c.after))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Action::SetEnabled {
            number,
            enabled: true,
            ..
        } => format!("enable  {number:>6}"),
        Action::SetEnabled { number, reason, .. } => format!("disable {number:>6}  {reason:?}"),
        Action::Delete { number, reason } => format!("delete  {number:>6}  {reason:?}"),
        Action::Skip { label, reason, .. } => format!("skip            {label}: {reason}"),
    }
}
