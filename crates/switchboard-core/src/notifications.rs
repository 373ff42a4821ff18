//! Keeping the Graph change-notification subscription alive (create, renew at half of the
//! *granted* lifetime, reauthorize, recreate) — graph-protocol.md §5.1, §5.4, §8 item 6.

use crate::clock::Clock;
use crate::ports::{
    DirectoryError, NewSubscription, StoreError, SubscriptionApi, SubscriptionRecord,
    SubscriptionStore,
};
use jiff::{SignedDuration, Timestamp};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The users resource (change types `updated,deleted`: users have no `created`, §9).
pub const USERS_RESOURCE: &str = "users";
const USERS_CHANGE_TYPES: &str = "updated,deleted";
/// Graph's maximum for users is 41,760 minutes (§5.1); ask for an hour less. Graph may grant
/// less: we renew from what it granted.
const USERS_LIFETIME: SignedDuration = SignedDuration::from_mins(41_760 - 60);
/// The reachability self-test's subscription lives only long enough to be deleted again.
const SELF_TEST_CHANGE_TYPE: &str = "updated";
const SELF_TEST_LIFETIME: SignedDuration = SignedDuration::from_mins(45);

#[derive(Debug, thiserror::Error)]
pub enum KeeperError {
    #[error(transparent)]
    Graph(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a lifecycle event asks of the sync side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleOutcome {
    /// Notifications may have been lost: run a delta sync now.
    RunDelta,
    Handled,
}

/// Lower-case hex SHA-256: what the store keeps of a clientState.
pub fn client_state_digest(client_state: &str) -> String {
    Sha256::digest(client_state.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh random clientState (two v4 UUIDs, 64 hex characters).
fn fresh_client_state() -> SecretString {
    SecretString::from(format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    ))
}

/// Renew once half of the granted lifetime has passed.
pub fn renewal_due(record: &SubscriptionRecord) -> Timestamp {
    let granted = record.expires_at.duration_since(record.renewed_at);
    record.renewed_at + granted / 2
}

#[derive(Debug, Clone)]
pub struct SubscriptionKeeper {
    api: Arc<dyn SubscriptionApi>,
    store: Arc<dyn SubscriptionStore>,
    clock: Arc<dyn Clock>,
    notification_url: String,
    lifecycle_url: String,
}

impl SubscriptionKeeper {
    /// `base_url` is the public URL Microsoft reaches: `{base}/webhooks/graph[/lifecycle]`.
    pub fn new(
        api: Arc<dyn SubscriptionApi>,
        store: Arc<dyn SubscriptionStore>,
        clock: Arc<dyn Clock>,
        base_url: &str,
    ) -> Self {
        let base = base_url.trim_end_matches('/');
        Self {
            api,
            store,
            clock,
            notification_url: format!("{base}/webhooks/graph"),
            lifecycle_url: format!("{base}/webhooks/graph/lifecycle"),
        }
    }

    /// A live users subscription afterwards; returns when to look again.
    pub async fn maintain(&self) -> Result<Timestamp, KeeperError> {
        let now = self.clock.now();
        let mut live = None;
        for record in self.store.list_subscriptions().await? {
            if record.resource != USERS_RESOURCE {
                continue;
            }
            if record.expires_at <= now || live.is_some() {
                // Expired, or a leftover duplicate: Graph has no use for it either.
                let _ = self.api.delete(&record.id).await;
                self.store.delete_subscription(&record.id).await?;
            } else {
                live = Some(record);
            }
        }
        let record = match live {
            Some(r) if now < renewal_due(&r) => r,
            Some(r) => match self.api.renew(&r.id, now + USERS_LIFETIME).await {
                Ok(granted) => {
                    let renewed = SubscriptionRecord {
                        expires_at: granted.expires_at,
                        renewed_at: now,
                        ..r
                    };
                    self.store.save_subscription(&renewed).await?;
                    tracing::info!(subscription = %renewed.id, expires_at = %renewed.expires_at, "users subscription renewed");
                    renewed
                }
                Err(e) => {
                    tracing::warn!(subscription = %r.id, error = %e, "renewing failed; creating a new subscription");
                    self.store.delete_subscription(&r.id).await?;
                    self.create().await?
                }
            },
            None => self.create().await?,
        };
        Ok(renewal_due(&record))
    }

    /// The notification URL Microsoft is asked to call (`{public_url}/webhooks/graph`).
    pub fn notification_url(&self) -> &str {
        &self.notification_url
    }

    /// Reachability self-test: creates a short-lived test subscription (Graph runs the
    /// validation handshake against our webhook before it answers, so success proves Microsoft
    /// can reach `public_url`) and deletes it right away. It is never stored: notifications for
    /// it are rejected as unknown, which is fine.
    pub async fn self_test(&self) -> Result<(), KeeperError> {
        let now = self.clock.now();
        let granted = self
            .api
            .create(&NewSubscription {
                resource: USERS_RESOURCE.into(),
                change_type: SELF_TEST_CHANGE_TYPE.into(),
                notification_url: self.notification_url.clone(),
                lifecycle_notification_url: self.lifecycle_url.clone(),
                expiration: now + SELF_TEST_LIFETIME,
                client_state: fresh_client_state(),
            })
            .await?;
        if let Err(e) = self.api.delete(&granted.id).await {
            tracing::warn!(subscription = %granted.id, error = %e, "deleting the self-test subscription failed; it expires on its own");
        }
        tracing::info!(url = %self.notification_url, "reachability self-test passed");
        Ok(())
    }

    async fn create(&self) -> Result<SubscriptionRecord, KeeperError> {
        let now = self.clock.now();
        let client_state = fresh_client_state();
        let granted = self
            .api
            .create(&NewSubscription {
                resource: USERS_RESOURCE.into(),
                change_type: USERS_CHANGE_TYPES.into(),
                notification_url: self.notification_url.clone(),
                lifecycle_notification_url: self.lifecycle_url.clone(),
                expiration: now + USERS_LIFETIME,
                client_state: client_state.clone(),
            })
            .await?;
        let record = SubscriptionRecord {
            id: granted.id,
            resource: USERS_RESOURCE.into(),
            expires_at: granted.expires_at,
            client_state_sha256: client_state_digest(client_state.expose_secret()),
            created_at: now,
            renewed_at: now,
        };
        self.store.save_subscription(&record).await?;
        tracing::info!(subscription = %record.id, expires_at = %record.expires_at, "users subscription created");
        Ok(record)
    }

    /// `reauthorizationRequired` → reauthorize (and renew); `subscriptionRemoved` → create a new
    /// one; `missed` → a delta run.
    pub async fn on_lifecycle(
        &self,
        subscription_id: &str,
        event: &str,
    ) -> Result<LifecycleOutcome, KeeperError> {
        match event {
            "reauthorizationRequired" => {
                if let Err(e) = self.api.reauthorize(subscription_id).await {
                    tracing::warn!(subscription = %subscription_id, error = %e, "reauthorize failed; recreating");
                    self.store.delete_subscription(subscription_id).await?;
                }
                self.maintain().await?;
                Ok(LifecycleOutcome::RunDelta)
            }
            "subscriptionRemoved" => {
                self.store.delete_subscription(subscription_id).await?;
                self.maintain().await?;
                Ok(LifecycleOutcome::RunDelta)
            }
            "missed" => Ok(LifecycleOutcome::RunDelta),
            other => {
                tracing::warn!(event = %other, "unknown lifecycle event ignored");
                Ok(LifecycleOutcome::Handled)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_lower_hex_sha256() {
        assert_eq!(
            client_state_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn renewal_at_half_the_granted_lifetime() {
        let renewed: Timestamp = "2026-11-28T00:00:00Z".parse().unwrap();
        let record = SubscriptionRecord {
            id: "s".into(),
            resource: USERS_RESOURCE.into(),
            expires_at: renewed + SignedDuration::from_hours(2),
            client_state_sha256: String::new(),
            created_at: renewed,
            renewed_at: renewed,
        };
        assert_eq!(renewal_due(&record).to_string(), "2026-11-28T01:00:00Z");
    }
}
