//! `switchboard sync users [--full] [--dry-run]`: one run from the shell, with a summary.

use crate::app::Services;
use std::fmt::Write as _;
use switchboard_core::users::{Action, RunOutcome, RunRequest};

pub async fn users(services: &Services, full: bool, dry_run: bool) -> anyhow::Result<RunOutcome> {
    let outcome = services
        .user_sync
        .run(RunRequest {
            full,
            dry_run,
            actor: "sync:users (started by cli)".into(),
        })
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
            switchboard_core::users::RunMode::Full => "Full",
            switchboard_core::users::RunMode::Delta => "Incremental",
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
