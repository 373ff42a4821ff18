//! The binary's side of change notifications: keep the subscription alive, and turn what the
//! webhook passes on into (coalesced) delta runs.

use crate::app::Services;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::Clock;
use switchboard_core::notifications::{LifecycleOutcome, SubscriptionKeeper};
use switchboard_core::ports::{Leadership, SyncEvent};
use switchboard_core::users::{RunRequest, SyncError};
use tokio::sync::mpsc::UnboundedReceiver;

/// Notifications arriving within this window are answered by one delta run.
const COALESCE: Duration = Duration::from_millis(200);
const RETRY: Duration = Duration::from_secs(60);

/// Creates and renews the users subscription while this instance leads.
pub async fn keep_subscriptions(
    keeper: Arc<SubscriptionKeeper>,
    clock: Arc<dyn Clock>,
    leadership: Arc<dyn Leadership>,
) {
    loop {
        let wait = match leadership.try_lead().await {
            Ok(true) => match keeper.maintain().await {
                Ok(next) => Duration::try_from(next.duration_since(clock.now()))
                    .unwrap_or(Duration::ZERO)
                    .clamp(Duration::from_secs(30), Duration::from_secs(6 * 3600)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot keep the Graph change-notification subscription; changes arrive by polling meanwhile");
                    RETRY
                }
            },
            _ => RETRY,
        };
        tokio::time::sleep(wait).await;
    }
}

/// One delta run per burst of notifications; lifecycle events go to the keeper.
pub async fn react_to_events(services: Services, mut events: UnboundedReceiver<SyncEvent>) {
    while let Some(first) = events.recv().await {
        tokio::time::sleep(COALESCE).await;
        let mut batch = vec![first];
        while let Ok(e) = events.try_recv() {
            batch.push(e);
        }
        let mut run = false;
        for event in batch {
            match event {
                SyncEvent::UsersChanged => run = true,
                SyncEvent::Lifecycle {
                    subscription_id,
                    event,
                } => match &services.keeper {
                    Some(keeper) => match keeper.on_lifecycle(&subscription_id, &event).await {
                        Ok(LifecycleOutcome::RunDelta) => run = true,
                        Ok(LifecycleOutcome::Handled) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, event = %event, "lifecycle event not handled");
                            run = true;
                        }
                    },
                    None => run = true,
                },
            }
        }
        if !run || !matches!(services.leadership.try_lead().await, Ok(true)) {
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
