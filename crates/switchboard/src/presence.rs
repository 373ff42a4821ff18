//! The timers that make presence follow the calendar, and what keeps derived state in step
//! with the extensions.

use std::sync::Arc;
use std::time::Duration;
use switchboard_core::Clock;
use switchboard_core::calendar::PresenceService;
use switchboard_core::contacts::ContactSync;
use switchboard_core::ports::Leadership;
use switchboard_core::users::UserSync;

/// How long to sleep when nothing is due: a re-plan wakes the loop earlier anyway.
const IDLE: Duration = Duration::from_secs(3600);
/// How often a follower asks whether it leads now.
const FOLLOWER_RETRY: Duration = Duration::from_secs(5);
/// Local edits (console, API) do not pass through a sync run: refresh the index this often.
const EXTENSION_REFRESH: Duration = Duration::from_secs(60);

/// One timer for the earliest due transition over every extension (no per-user task, no
/// per-second polling), re-planned whenever an earlier one appears. Only the leader fires.
pub async fn fire_transitions(
    presence: Arc<PresenceService>,
    clock: Arc<dyn Clock>,
    leadership: Arc<dyn Leadership>,
) {
    let mut leading = false;
    loop {
        let wait = presence.next_due().map_or(IDLE, |due| {
            Duration::try_from(due.duration_since(clock.now())).unwrap_or(Duration::ZERO)
        });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = presence.replanned() => continue,
        }
        match leadership.try_lead().await {
            Ok(true) => {
                if !leading {
                    // States another instance saved while it led join this instance's plan.
                    if let Err(e) = presence.rebuild_plan().await {
                        tracing::warn!(error = %e, "cannot load the stored presence; retrying");
                        tokio::time::sleep(FOLLOWER_RETRY).await;
                        continue;
                    }
                    leading = true;
                }
            }
            Ok(false) | Err(_) => {
                leading = false;
                tokio::time::sleep(FOLLOWER_RETRY).await;
                continue;
            }
        }
        let changes = presence.fire_due(clock.now()).await;
        for c in &changes {
            tracing::debug!(extension = %c.number, status = %c.status, "calendar transition");
        }
    }
}

/// Keeps the caller-ID index's extension numbers in step: after every user sync run, and
/// periodically for local edits.
pub async fn follow_extensions(user_sync: Arc<UserSync>, contact_sync: Arc<ContactSync>) {
    let mut runs = user_sync.finished_runs();
    loop {
        tokio::select! {
            changed = runs.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(EXTENSION_REFRESH) => {}
        }
        if let Err(e) = contact_sync.refresh_extensions().await {
            tracing::warn!(error = %e, "cannot refresh the extensions in the caller-ID index");
        }
    }
}
