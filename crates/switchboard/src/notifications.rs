//! The binary's side of change notifications: keep the subscriptions alive (users, and per
//! mailbox contacts and events for what the contact and calendar syncs cover), and turn what
//! the webhook passes on into (coalesced) runs. Polling and the daily full sync stay the safety
//! net for anything a notification misses.

use crate::app::Services;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::Clock;
use switchboard_core::calendar::{CalendarSync, CalendarSyncError};
use switchboard_core::contacts::{ContactSync, ContactSyncError};
use switchboard_core::notifications::{
    DesiredMailboxes, LifecycleOutcome, MailboxKind, SubscriptionKeeper,
};
use switchboard_core::ports::{Leadership, SyncEvent};
use switchboard_core::users::{RunRequest, SyncError, UserSync};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// Notifications arriving within this window are answered by one delta run.
const COALESCE: Duration = Duration::from_millis(200);
const RETRY: Duration = Duration::from_secs(60);
/// How long a mailbox run waits for a run in progress (e.g. the scheduled one) before giving
/// the change to polling.
const BUSY_WAIT: Duration = Duration::from_secs(600);
const BUSY_POLL: Duration = Duration::from_millis(100);

/// Creates and renews the users subscription and the mailbox subscriptions while this
/// instance leads. The desired mailbox set is recomputed every round and after each user sync
/// run (new or removed extensions).
pub async fn keep_subscriptions(
    keeper: Arc<SubscriptionKeeper>,
    clock: Arc<dyn Clock>,
    leadership: Arc<dyn Leadership>,
    user_sync: Arc<UserSync>,
    contact_sync: Arc<ContactSync>,
    calendar_sync: Arc<CalendarSync>,
) {
    let mut runs = user_sync.finished_runs();
    loop {
        let wait = match leadership.try_lead().await {
            Ok(true) => {
                let users = match keeper.maintain().await {
                    Ok(next) => Some(next),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot keep the Graph change-notification subscription; changes arrive by polling meanwhile");
                        None
                    }
                };
                let mailboxes =
                    maintain_mailboxes(&keeper, &*clock, &contact_sync, &calendar_sync).await;
                match (users, mailboxes) {
                    (Some(a), Some(b)) => until(&*clock, a.min(b)),
                    (Some(a), None) => until(&*clock, a),
                    (None, _) => RETRY,
                }
            }
            _ => RETRY,
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            changed = runs.changed() => {
                if changed.is_err() {
                    // The user sync is gone: keep the timer alone.
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// The time until `next`, within sane bounds.
fn until(clock: &dyn Clock, next: jiff::Timestamp) -> Duration {
    Duration::try_from(next.duration_since(clock.now()))
        .unwrap_or(Duration::ZERO)
        .clamp(Duration::from_secs(30), Duration::from_secs(6 * 3600))
}

/// One mailbox round; returns when the next one is due (None: retry soon).
async fn maintain_mailboxes(
    keeper: &SubscriptionKeeper,
    clock: &dyn Clock,
    contact_sync: &ContactSync,
    calendar_sync: &CalendarSync,
) -> Option<jiff::Timestamp> {
    let desired = match desired_mailboxes(contact_sync, calendar_sync).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot work out which mailboxes to subscribe to; retrying");
            return None;
        }
    };
    match keeper.maintain_mailboxes(&desired).await {
        Ok(round) => {
            for (resource, error) in &round.failed {
                tracing::debug!(%resource, %error, "mailbox subscription failed this round");
            }
            // Nothing to renew yet: look again with the users subscription (or in 6 h).
            Some(
                round
                    .next
                    .unwrap_or_else(|| clock.now() + jiff::SignedDuration::from_hours(6)),
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot keep the mailbox subscriptions; changes arrive by polling meanwhile");
            None
        }
    }
}

async fn desired_mailboxes(
    contact_sync: &ContactSync,
    calendar_sync: &CalendarSync,
) -> anyhow::Result<DesiredMailboxes> {
    Ok(DesiredMailboxes {
        contacts: contact_sync.in_scope_mailboxes().await?,
        calendar: calendar_sync.in_scope_mailboxes().await?,
    })
}

/// One delta run per burst of user notifications, one targeted run per burst of mailbox
/// notifications (per kind, for the set of mailboxes); lifecycle events go to the keeper.
pub async fn react_to_events(services: Services, events: UnboundedReceiver<SyncEvent>) {
    let (contacts_tx, contacts_rx) = unbounded_channel();
    let (calendar_tx, calendar_rx) = unbounded_channel();
    // One future: aborting this task stops all three.
    tokio::join!(
        dispatch(services.clone(), events, contacts_tx, calendar_tx),
        contact_runs(services.clone(), contacts_rx),
        calendar_runs(services, calendar_rx),
    );
}

async fn dispatch(
    services: Services,
    mut events: UnboundedReceiver<SyncEvent>,
    contacts: UnboundedSender<String>,
    calendar: UnboundedSender<String>,
) {
    while let Some(first) = events.recv().await {
        // Mailbox events go straight on (their runs coalesce per kind); a users change waits a
        // moment for the rest of its burst.
        if !handle(&services, first, &contacts, &calendar).await {
            continue;
        }
        tokio::time::sleep(COALESCE).await;
        while let Ok(e) = events.try_recv() {
            handle(&services, e, &contacts, &calendar).await;
        }
        if !matches!(services.leadership.try_lead().await, Ok(true)) {
            continue;
        }
        // A run in progress may have started before the change: wait for it, then run again.
        for _ in 0..600 {
            let request = RunRequest {
                full: false,
                dry_run: false,
                actor: "sync:users (notification)".into(),
            };
            match services.user_sync.run(request).await {
                Err(SyncError::AlreadyRunning) => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => {
                    tracing::warn!(error = %e, "user sync after a notification failed; polling will retry");
                    break;
                }
                Ok(_) => break,
            }
        }
    }
}

/// Passes mailbox changes on to their run loop; true when a users delta run is needed.
async fn handle(
    services: &Services,
    event: SyncEvent,
    contacts: &UnboundedSender<String>,
    calendar: &UnboundedSender<String>,
) -> bool {
    let forward = |kind: MailboxKind, mailbox: String| {
        let tx = match kind {
            MailboxKind::Contacts => contacts,
            MailboxKind::Calendar => calendar,
        };
        // The receivers live as long as the dispatcher.
        let _ = tx.send(mailbox);
        false
    };
    match event {
        SyncEvent::UsersChanged => true,
        SyncEvent::ContactsChanged { mailbox } => forward(MailboxKind::Contacts, mailbox),
        SyncEvent::CalendarChanged { mailbox } => forward(MailboxKind::Calendar, mailbox),
        SyncEvent::Lifecycle {
            subscription_id,
            event,
        } => match &services.keeper {
            Some(keeper) => match keeper.on_lifecycle(&subscription_id, &event).await {
                Ok(LifecycleOutcome::RunDelta) => true,
                Ok(LifecycleOutcome::ResyncMailbox { kind, mailbox }) => forward(kind, mailbox),
                Ok(LifecycleOutcome::Handled) => false,
                Err(e) => {
                    tracing::warn!(error = %e, event = %event, "lifecycle event not handled");
                    true
                }
            },
            None => true,
        },
    }
}

/// The first mailbox, plus whatever else arrives within [`COALESCE`].
async fn next_burst(rx: &mut UnboundedReceiver<String>) -> Option<BTreeSet<String>> {
    let first = rx.recv().await?;
    tokio::time::sleep(COALESCE).await;
    let mut set = BTreeSet::from([first]);
    while let Ok(m) = rx.try_recv() {
        set.insert(m);
    }
    Some(set)
}

async fn contact_runs(services: Services, mut rx: UnboundedReceiver<String>) {
    while let Some(mut mailboxes) = next_burst(&mut rx).await {
        if !matches!(services.leadership.try_lead().await, Ok(true)) {
            continue;
        }
        let started = tokio::time::Instant::now();
        loop {
            let ids: Vec<String> = mailboxes.iter().cloned().collect();
            match services.contact_sync.run_for_mailboxes(&ids).await {
                Err(ContactSyncError::AlreadyRunning) if started.elapsed() < BUSY_WAIT => {
                    // Whatever arrives meanwhile joins the run we are waiting to start.
                    tokio::time::sleep(BUSY_POLL).await;
                    while let Ok(m) = rx.try_recv() {
                        mailboxes.insert(m);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, mailboxes = ids.len(), "contact sync after a notification failed; polling will retry");
                    break;
                }
                Ok(_) => break,
            }
        }
    }
}

async fn calendar_runs(services: Services, mut rx: UnboundedReceiver<String>) {
    while let Some(mailboxes) = next_burst(&mut rx).await {
        if !matches!(services.leadership.try_lead().await, Ok(true)) {
            continue;
        }
        let ids: Vec<String> = mailboxes.into_iter().collect();
        // It waits for a run in progress itself.
        match services.calendar_sync.run_for_mailboxes(&ids).await {
            Ok(_) | Err(CalendarSyncError::Disabled) => {}
            Err(e) => {
                tracing::warn!(error = %e, mailboxes = ids.len(), "calendar sync after a notification failed; polling will retry");
            }
        }
    }
}
