//! Keeping the Graph change-notification subscriptions alive (create, renew at half of the
//! *granted* lifetime, reauthorize, recreate) — graph-protocol.md §5.1, §5.4, §8 item 6.
//!
//! One `users` subscription ([`SubscriptionKeeper::maintain`]), and per mailbox one
//! `users/{id}/contacts` and one `users/{id}/events` subscription for the mailboxes the contact
//! and calendar syncs cover ([`SubscriptionKeeper::maintain_mailboxes`]): Outlook subscriptions
//! exist per mailbox only (§5.1).

use crate::clock::Clock;
use crate::ports::{
    DirectoryError, NewSubscription, StoreError, SubscriptionApi, SubscriptionRecord,
    SubscriptionStore,
};
use jiff::{SignedDuration, Timestamp};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

/// The users resource (change types `updated,deleted`: users have no `created`, §9).
pub const USERS_RESOURCE: &str = "users";
const USERS_CHANGE_TYPES: &str = "updated,deleted";
/// Graph's maximum for users is 41,760 minutes (§5.1); ask for an hour less. Graph may grant
/// less: we renew from what it granted.
const USERS_LIFETIME: SignedDuration = SignedDuration::from_mins(41_760 - 60);
/// The reachability self-test's subscription lives only long enough to be deleted again.
const SELF_TEST_CHANGE_TYPE: &str = "updated";
const SELF_TEST_LIFETIME: SignedDuration = SignedDuration::from_mins(45);
/// Outlook contacts and events: all three change types exist.
const MAILBOX_CHANGE_TYPES: &str = "created,updated,deleted";
/// Outlook's maximum is 10,080 minutes in the current docs (4,230 in older ones, §5.1, §9); ask
/// for an hour less. A tenant that grants less is fine: we renew from what it granted.
const MAILBOX_LIFETIME: SignedDuration = SignedDuration::from_mins(10_080 - 60);
/// If Graph refuses the longer lifetime (older limit), ask for this instead.
const MAILBOX_FALLBACK_LIFETIME: SignedDuration = SignedDuration::from_mins(4_230 - 60);
/// Creations per [`SubscriptionKeeper::maintain_mailboxes`] round, so that a large tenant does
/// not send thousands of creations (each one a validation handshake) in one burst.
pub const MAILBOX_CREATIONS_PER_ROUND: usize = 200;
/// A mailbox whose subscription could not be created or renewed is tried again after this.
const MAILBOX_RETRY: SignedDuration = SignedDuration::from_mins(5);
/// When to look again while creations wait for the next round.
const MAILBOX_NEXT_ROUND: SignedDuration = SignedDuration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum KeeperError {
    #[error(transparent)]
    Graph(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a lifecycle event asks of the sync side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleOutcome {
    /// Notifications may have been lost: run a delta sync now.
    RunDelta,
    /// Notifications for this mailbox may have been lost: sync it now.
    ResyncMailbox {
        kind: MailboxKind,
        mailbox: String,
    },
    Handled,
}

/// Which Outlook data of a mailbox a subscription watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MailboxKind {
    /// `users/{id}/contacts` → contact sync.
    Contacts,
    /// `users/{id}/events` → calendar sync.
    Calendar,
}

impl MailboxKind {
    fn segment(self) -> &'static str {
        match self {
            Self::Contacts => "contacts",
            Self::Calendar => "events",
        }
    }
}

/// The subscription resource for a mailbox: `users/{id}/contacts` or `users/{id}/events`.
pub fn mailbox_resource(kind: MailboxKind, mailbox: &str) -> String {
    format!("users/{mailbox}/{}", kind.segment())
}

/// The kind and mailbox of a `users/{id}/contacts|events` resource (case-insensitive, leading
/// `/` allowed); None for anything else, `users` included.
pub fn parse_mailbox_resource(resource: &str) -> Option<(MailboxKind, String)> {
    let mut parts = resource.trim_start_matches('/').split('/');
    let (Some(users), Some(mailbox), Some(what), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if !users.eq_ignore_ascii_case("users") || mailbox.is_empty() {
        return None;
    }
    let kind = if what.eq_ignore_ascii_case("contacts") {
        MailboxKind::Contacts
    } else if what.eq_ignore_ascii_case("events") {
        MailboxKind::Calendar
    } else {
        return None;
    };
    Some((kind, mailbox.to_owned()))
}

/// The mailboxes that should have a subscription, per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredMailboxes {
    pub contacts: BTreeSet<String>,
    pub calendar: BTreeSet<String>,
}

impl DesiredMailboxes {
    fn resources(&self) -> BTreeSet<String> {
        let contacts = self
            .contacts
            .iter()
            .map(|m| mailbox_resource(MailboxKind::Contacts, m));
        let calendar = self
            .calendar
            .iter()
            .map(|m| mailbox_resource(MailboxKind::Calendar, m));
        contacts.chain(calendar).collect()
    }
}

/// What one [`SubscriptionKeeper::maintain_mailboxes`] round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxRound {
    pub created: usize,
    pub renewed: usize,
    pub deleted: usize,
    /// Missing subscriptions left for a later round (creation limit, or a recent failure).
    pub deferred: usize,
    /// `(resource, error)` for creations and renewals that failed this round.
    pub failed: Vec<(String, String)>,
    /// When to run the next round.
    pub next: Option<Timestamp>,
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
    max_creations: usize,
    /// Resource → not before: mailboxes whose creation or renewal failed recently.
    retry_after: Arc<Mutex<HashMap<String, Timestamp>>>,
    /// One mailbox round (or mailbox lifecycle action) at a time, so none creates duplicates.
    mailbox_turn: Arc<tokio::sync::Mutex<()>>,
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
            max_creations: MAILBOX_CREATIONS_PER_ROUND,
            retry_after: Arc::default(),
            mailbox_turn: Arc::default(),
        }
    }

    /// At most `n` mailbox subscriptions created per round (default
    /// [`MAILBOX_CREATIONS_PER_ROUND`]).
    #[must_use]
    pub fn with_creation_limit(mut self, n: usize) -> Self {
        self.max_creations = n.max(1);
        self
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

    /// Brings the mailbox subscriptions in line with `desired`: deletes expired, duplicate and
    /// no longer wanted ones, renews those past half of their granted lifetime, and creates
    /// missing ones, at most the creation limit per round. A failure for one mailbox is
    /// recorded in the result and retried after a pause; it does not stop the others. Only a
    /// store failure ends the round early. The `users` subscription is left alone.
    pub async fn maintain_mailboxes(
        &self,
        desired: &DesiredMailboxes,
    ) -> Result<MailboxRound, KeeperError> {
        let _turn = self.mailbox_turn.lock().await;
        let now = self.clock.now();
        let wanted = desired.resources();
        let mut round = MailboxRound::default();
        let mut live: BTreeMap<String, SubscriptionRecord> = BTreeMap::new();
        for record in self.store.list_subscriptions().await? {
            if parse_mailbox_resource(&record.resource).is_none() {
                continue;
            }
            let key = canonical(&record.resource);
            if record.expires_at <= now || live.contains_key(&key) || !wanted.contains(&key) {
                // Graph has no use for it either; if the delete fails it expires on its own.
                if let Err(e) = self.api.delete(&record.id).await {
                    tracing::debug!(subscription = %record.id, error = %e, "deleting a mailbox subscription failed");
                }
                self.store.delete_subscription(&record.id).await?;
                round.deleted += 1;
            } else {
                live.insert(key, record);
            }
        }

        let mut next: Option<Timestamp> = None;
        let mut missing: Vec<String> = wanted
            .iter()
            .filter(|r| !live.contains_key(*r))
            .cloned()
            .collect();
        for (resource, record) in live {
            let due = renewal_due(&record);
            if now < due {
                next = earliest(next, due);
                continue;
            }
            match self.api.renew(&record.id, now + MAILBOX_LIFETIME).await {
                Ok(granted) => {
                    let renewed = SubscriptionRecord {
                        expires_at: granted.expires_at,
                        renewed_at: now,
                        ..record
                    };
                    self.store.save_subscription(&renewed).await?;
                    round.renewed += 1;
                    next = earliest(next, renewal_due(&renewed));
                }
                Err(e) => {
                    // Removed on Graph's side, or an ExtensionError: recreate (§5.4).
                    tracing::warn!(subscription = %record.id, %resource, error = %e, "renewing a mailbox subscription failed; recreating");
                    let _ = self.api.delete(&record.id).await;
                    self.store.delete_subscription(&record.id).await?;
                    round.failed.push((resource.clone(), e.to_string()));
                    missing.push(resource);
                }
            }
        }

        let mut budget = self.max_creations;
        for resource in missing {
            if self.backing_off(&resource, now) || budget == 0 {
                round.deferred += 1;
                continue;
            }
            budget -= 1;
            match self.create_mailbox(&resource).await {
                Ok(record) => {
                    self.clear_backoff(&resource);
                    round.created += 1;
                    next = earliest(next, renewal_due(&record));
                }
                Err(KeeperError::Graph(e)) => {
                    tracing::warn!(%resource, error = %e, "creating a mailbox subscription failed; retrying later");
                    self.back_off(&resource, now + MAILBOX_RETRY);
                    round.failed.push((resource, e.to_string()));
                    round.deferred += 1;
                }
                Err(e) => return Err(e),
            }
        }
        if round.deferred > 0 {
            next = earliest(next, now + MAILBOX_NEXT_ROUND);
        }
        round.next = next;
        if round.created + round.renewed + round.deleted + round.failed.len() > 0 {
            tracing::info!(
                created = round.created,
                renewed = round.renewed,
                deleted = round.deleted,
                deferred = round.deferred,
                failed = round.failed.len(),
                "mailbox subscriptions maintained"
            );
        }
        Ok(round)
    }

    /// Creates and stores a subscription for a mailbox resource, falling back to the older
    /// Outlook maximum lifetime if Graph refuses the longer one.
    async fn create_mailbox(&self, resource: &str) -> Result<SubscriptionRecord, KeeperError> {
        let now = self.clock.now();
        let client_state = fresh_client_state();
        let mut request = NewSubscription {
            resource: resource.to_owned(),
            change_type: MAILBOX_CHANGE_TYPES.into(),
            notification_url: self.notification_url.clone(),
            lifecycle_notification_url: self.lifecycle_url.clone(),
            expiration: now + MAILBOX_LIFETIME,
            client_state: client_state.clone(),
        };
        let granted = match self.api.create(&request).await {
            Ok(granted) => granted,
            Err(DirectoryError::Protocol(message)) if message.contains("expiration") => {
                request.expiration = now + MAILBOX_FALLBACK_LIFETIME;
                self.api.create(&request).await?
            }
            Err(e) => return Err(e.into()),
        };
        let record = SubscriptionRecord {
            id: granted.id,
            resource: resource.to_owned(),
            expires_at: granted.expires_at,
            client_state_sha256: client_state_digest(client_state.expose_secret()),
            created_at: now,
            renewed_at: now,
        };
        if let Err(e) = self.store.save_subscription(&record).await {
            // Unknown to the webhook, it would only be rejected: remove it again.
            let _ = self.api.delete(&record.id).await;
            return Err(e.into());
        }
        tracing::debug!(subscription = %record.id, resource, "mailbox subscription created");
        Ok(record)
    }

    fn backing_off(&self, resource: &str, now: Timestamp) -> bool {
        self.retry_after
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(resource)
            .is_some_and(|after| now < *after)
    }

    fn back_off(&self, resource: &str, until: Timestamp) {
        self.retry_after
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(resource.to_owned(), until);
    }

    fn clear_backoff(&self, resource: &str) {
        self.retry_after
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(resource);
    }

    /// Lifecycle events of a mailbox subscription: reauthorize (else recreate), recreate after
    /// a removal, and in every case a resync of that mailbox.
    async fn on_mailbox_lifecycle(
        &self,
        record: SubscriptionRecord,
        kind: MailboxKind,
        mailbox: String,
        event: &str,
    ) -> Result<LifecycleOutcome, KeeperError> {
        let _turn = self.mailbox_turn.lock().await;
        let recreate = match event {
            "reauthorizationRequired" => match self.api.reauthorize(&record.id).await {
                Ok(()) => false,
                Err(e) => {
                    tracing::warn!(subscription = %record.id, error = %e, "reauthorize failed; recreating");
                    true
                }
            },
            "subscriptionRemoved" => true,
            "missed" => false,
            other => {
                tracing::warn!(event = %other, "unknown lifecycle event ignored");
                return Ok(LifecycleOutcome::Handled);
            }
        };
        if recreate {
            self.store.delete_subscription(&record.id).await?;
            let resource = canonical(&record.resource);
            if let Err(e) = self.create_mailbox(&resource).await {
                // The next maintenance round tries again.
                tracing::warn!(%resource, error = %e, "recreating a mailbox subscription failed");
            }
        }
        Ok(LifecycleOutcome::ResyncMailbox { kind, mailbox })
    }

    /// `reauthorizationRequired` → reauthorize (and renew); `subscriptionRemoved` → create a new
    /// one; `missed` → a delta run. For a mailbox subscription the same, and a resync of that
    /// mailbox instead of a users delta run.
    pub async fn on_lifecycle(
        &self,
        subscription_id: &str,
        event: &str,
    ) -> Result<LifecycleOutcome, KeeperError> {
        if let Some(record) = self.store.find_subscription(subscription_id).await?
            && let Some((kind, mailbox)) = parse_mailbox_resource(&record.resource)
        {
            return self
                .on_mailbox_lifecycle(record, kind, mailbox, event)
                .await;
        }
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

fn earliest(a: Option<Timestamp>, b: Timestamp) -> Option<Timestamp> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// A mailbox resource in the form we create it (`users/{id}/contacts|events`), whatever the
/// case or leading slash of a stored one.
fn canonical(resource: &str) -> String {
    parse_mailbox_resource(resource).map_or_else(
        || resource.to_owned(),
        |(kind, mailbox)| mailbox_resource(kind, &mailbox),
    )
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

    mod mailboxes {
        #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
        use super::super::*;
        use crate::ports::{GrantedSubscription, ReceivedNotification};
        use async_trait::async_trait;

        #[derive(Debug)]
        struct Graph {
            log: Mutex<Vec<String>>,
            fail_create: Mutex<BTreeSet<String>>,
            fail_renew: Mutex<bool>,
            next: Mutex<u32>,
            now: Arc<TestClock>,
        }

        #[async_trait]
        impl SubscriptionApi for Graph {
            async fn create(
                &self,
                r: &NewSubscription,
            ) -> Result<GrantedSubscription, DirectoryError> {
                self.log
                    .lock()
                    .unwrap()
                    .push(format!("create {}", r.resource));
                if self.fail_create.lock().unwrap().contains(&r.resource) {
                    return Err(DirectoryError::Denied("MailboxNotEnabledForRESTAPI".into()));
                }
                let mut n = self.next.lock().unwrap();
                *n += 1;
                // Graph grants at most 4 h here.
                let expires_at = r
                    .expiration
                    .min(self.now.now() + SignedDuration::from_hours(4));
                Ok(GrantedSubscription {
                    id: format!("sub-{n}"),
                    resource: r.resource.clone(),
                    expires_at,
                })
            }
            async fn renew(
                &self,
                id: &str,
                at: Timestamp,
            ) -> Result<GrantedSubscription, DirectoryError> {
                self.log.lock().unwrap().push(format!("renew {id}"));
                if *self.fail_renew.lock().unwrap() {
                    return Err(DirectoryError::Protocol("ExtensionError NotFound".into()));
                }
                Ok(GrantedSubscription {
                    id: id.into(),
                    resource: String::new(),
                    expires_at: at.min(self.now.now() + SignedDuration::from_hours(4)),
                })
            }
            async fn reauthorize(&self, id: &str) -> Result<(), DirectoryError> {
                self.log.lock().unwrap().push(format!("reauthorize {id}"));
                Ok(())
            }
            async fn delete(&self, id: &str) -> Result<(), DirectoryError> {
                self.log.lock().unwrap().push(format!("delete {id}"));
                Ok(())
            }
        }

        #[derive(Debug, Default)]
        struct Store(Mutex<Vec<SubscriptionRecord>>);

        #[async_trait]
        impl SubscriptionStore for Store {
            async fn save_subscription(&self, s: &SubscriptionRecord) -> Result<(), StoreError> {
                let mut v = self.0.lock().unwrap();
                v.retain(|x| x.id != s.id);
                v.push(s.clone());
                Ok(())
            }
            async fn list_subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError> {
                Ok(self.0.lock().unwrap().clone())
            }
            async fn find_subscription(
                &self,
                id: &str,
            ) -> Result<Option<SubscriptionRecord>, StoreError> {
                Ok(self.0.lock().unwrap().iter().find(|s| s.id == id).cloned())
            }
            async fn delete_subscription(&self, id: &str) -> Result<(), StoreError> {
                self.0.lock().unwrap().retain(|s| s.id != id);
                Ok(())
            }
            async fn record_notification(
                &self,
                _: &ReceivedNotification,
            ) -> Result<bool, StoreError> {
                Ok(true)
            }
        }

        #[derive(Debug)]
        struct TestClock(Mutex<Timestamp>);
        impl TestClock {
            fn advance(&self, d: SignedDuration) {
                *self.0.lock().unwrap() += d;
            }
        }
        impl Clock for TestClock {
            fn now(&self) -> Timestamp {
                *self.0.lock().unwrap()
            }
        }

        fn world(limit: usize) -> (SubscriptionKeeper, Arc<Graph>, Arc<Store>, Arc<TestClock>) {
            let clock = Arc::new(TestClock(Mutex::new(
                "2026-11-28T00:00:00Z".parse().unwrap(),
            )));
            let graph = Arc::new(Graph {
                log: Mutex::default(),
                fail_create: Mutex::default(),
                fail_renew: Mutex::default(),
                next: Mutex::default(),
                now: clock.clone(),
            });
            let store = Arc::new(Store::default());
            let keeper = SubscriptionKeeper::new(
                graph.clone(),
                store.clone(),
                clock.clone(),
                "https://pbx/",
            )
            .with_creation_limit(limit);
            (keeper, graph, store, clock)
        }

        fn log(g: &Graph) -> Vec<String> {
            std::mem::take(&mut *g.log.lock().unwrap())
        }

        fn desired(contacts: &[&str], calendar: &[&str]) -> DesiredMailboxes {
            DesiredMailboxes {
                contacts: contacts.iter().map(|s| (*s).to_owned()).collect(),
                calendar: calendar.iter().map(|s| (*s).to_owned()).collect(),
            }
        }

        fn resources(store: &Store) -> BTreeSet<String> {
            store
                .0
                .lock()
                .unwrap()
                .iter()
                .map(|r| r.resource.clone())
                .collect()
        }

        #[test]
        fn mailbox_resources_parse_both_ways() {
            assert_eq!(
                parse_mailbox_resource("/Users/abc/Contacts"),
                Some((MailboxKind::Contacts, "abc".into()))
            );
            assert_eq!(
                parse_mailbox_resource(&mailbox_resource(MailboxKind::Calendar, "x")),
                Some((MailboxKind::Calendar, "x".into()))
            );
            for other in [
                "users",
                "users/abc",
                "users//events",
                "users/a/events/e",
                "groups/a/events",
            ] {
                assert_eq!(parse_mailbox_resource(other), None, "{other}");
            }
        }

        #[tokio::test]
        async fn creates_renews_and_deletes_to_match_the_desired_set() {
            let (keeper, graph, store, clock) = world(200);
            let round = keeper
                .maintain_mailboxes(&desired(&["a", "b"], &["a"]))
                .await
                .unwrap();
            assert_eq!(round.created, 3);
            assert_eq!(
                round.next,
                Some(clock.now() + SignedDuration::from_hours(2))
            );
            assert_eq!(
                log(&graph),
                [
                    "create users/a/contacts",
                    "create users/a/events",
                    "create users/b/contacts"
                ]
            );
            let request_lifetime = store.0.lock().unwrap()[0].clone();
            assert_eq!(request_lifetime.renewed_at, clock.now());

            // Before half-time nothing happens; b leaves the contact scope at once.
            clock.advance(SignedDuration::from_mins(90));
            let round = keeper
                .maintain_mailboxes(&desired(&["a"], &["a"]))
                .await
                .unwrap();
            assert_eq!((round.created, round.renewed, round.deleted), (0, 0, 1));
            assert_eq!(log(&graph), ["delete sub-3"]);

            clock.advance(SignedDuration::from_mins(31));
            let round = keeper
                .maintain_mailboxes(&desired(&["a"], &["a"]))
                .await
                .unwrap();
            assert_eq!(round.renewed, 2);
            assert_eq!(log(&graph), ["renew sub-1", "renew sub-2"]);
            assert!(
                store
                    .0
                    .lock()
                    .unwrap()
                    .iter()
                    .all(|r| r.expires_at == clock.now() + SignedDuration::from_hours(4))
            );

            // A failed renewal recreates; an empty set removes everything mailbox-related.
            *graph.fail_renew.lock().unwrap() = true;
            clock.advance(SignedDuration::from_hours(3));
            let round = keeper
                .maintain_mailboxes(&desired(&["a"], &[]))
                .await
                .unwrap();
            assert_eq!(
                (round.created, round.deleted, round.failed.len()),
                (1, 1, 1)
            );
            assert_eq!(
                resources(&store),
                BTreeSet::from(["users/a/contacts".to_owned()])
            );
            log(&graph);
            keeper
                .maintain_mailboxes(&DesiredMailboxes::default())
                .await
                .unwrap();
            assert!(resources(&store).is_empty());
        }

        #[tokio::test]
        async fn the_users_subscription_is_left_alone() {
            let (keeper, graph, store, _) = world(200);
            keeper.maintain().await.unwrap();
            keeper
                .maintain_mailboxes(&desired(&["a"], &[]))
                .await
                .unwrap();
            keeper
                .maintain_mailboxes(&DesiredMailboxes::default())
                .await
                .unwrap();
            assert_eq!(
                resources(&store),
                BTreeSet::from([USERS_RESOURCE.to_owned()])
            );
            assert_eq!(
                log(&graph),
                ["create users", "create users/a/contacts", "delete sub-2"]
            );
        }

        #[tokio::test]
        async fn creations_are_rate_limited_per_round() {
            let (keeper, graph, store, _) = world(2);
            let many: Vec<String> = (0..5).map(|i| format!("m{i}")).collect();
            let refs: Vec<&str> = many.iter().map(String::as_str).collect();
            let want = desired(&refs, &[]);
            let round = keeper.maintain_mailboxes(&want).await.unwrap();
            assert_eq!((round.created, round.deferred), (2, 3));
            assert!(round.next.is_some());
            let round = keeper.maintain_mailboxes(&want).await.unwrap();
            assert_eq!((round.created, round.deferred), (2, 1));
            let round = keeper.maintain_mailboxes(&want).await.unwrap();
            assert_eq!((round.created, round.deferred), (1, 0));
            assert_eq!(store.0.lock().unwrap().len(), 5);
            assert_eq!(log(&graph).len(), 5);
        }

        #[tokio::test]
        async fn one_failing_mailbox_does_not_stop_the_others_and_is_retried_later() {
            let (keeper, graph, store, clock) = world(200);
            graph
                .fail_create
                .lock()
                .unwrap()
                .insert("users/b/events".into());
            let want = desired(&[], &["a", "b", "c"]);
            let round = keeper.maintain_mailboxes(&want).await.unwrap();
            assert_eq!(round.created, 2);
            assert_eq!(round.failed.len(), 1);
            assert_eq!(round.failed[0].0, "users/b/events");
            assert_eq!(store.0.lock().unwrap().len(), 2);
            log(&graph);

            // Not hammered every round...
            let round = keeper.maintain_mailboxes(&want).await.unwrap();
            assert_eq!((round.created, round.deferred), (0, 1));
            assert!(log(&graph).is_empty());
            // ...but tried again after the pause.
            graph.fail_create.lock().unwrap().clear();
            clock.advance(SignedDuration::from_mins(6));
            let round = keeper.maintain_mailboxes(&want).await.unwrap();
            assert_eq!(round.created, 1);
            assert_eq!(log(&graph), ["create users/b/events"]);
        }

        #[tokio::test]
        async fn lifecycle_of_a_mailbox_subscription_resyncs_that_mailbox() {
            let (keeper, graph, store, _) = world(200);
            keeper
                .maintain_mailboxes(&desired(&["a"], &[]))
                .await
                .unwrap();
            log(&graph);
            let outcome = keeper
                .on_lifecycle("sub-1", "subscriptionRemoved")
                .await
                .unwrap();
            assert_eq!(
                outcome,
                LifecycleOutcome::ResyncMailbox {
                    kind: MailboxKind::Contacts,
                    mailbox: "a".into()
                }
            );
            assert_eq!(log(&graph), ["create users/a/contacts"]);
            assert_eq!(store.0.lock().unwrap()[0].id, "sub-2");
            let outcome = keeper.on_lifecycle("sub-2", "missed").await.unwrap();
            assert!(matches!(outcome, LifecycleOutcome::ResyncMailbox { .. }));
            assert!(log(&graph).is_empty());
        }
    }
}
