#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! The subscription keeper against in-memory ports: create once, renew at half of what Graph
//! granted, recreate when renewing fails or Graph removed it.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use secrecy::ExposeSecret;
use std::sync::{Arc, Mutex};
use switchboard_core::Clock;
use switchboard_core::notifications::{LifecycleOutcome, SubscriptionKeeper, client_state_digest};
use switchboard_core::ports::*;

#[derive(Debug, Default)]
struct Calls {
    log: Vec<String>,
    fail_renew: bool,
    /// What Graph grants, at most.
    max_lifetime: Option<SignedDuration>,
    last_client_state: String,
    last_request: Option<NewSubscription>,
    fail_delete: bool,
}

#[derive(Debug)]
struct FakeGraph {
    calls: Mutex<Calls>,
    clock: Arc<TestClock>,
    next: Mutex<u32>,
}

#[async_trait]
impl SubscriptionApi for FakeGraph {
    async fn create(&self, r: &NewSubscription) -> Result<GrantedSubscription, DirectoryError> {
        let mut n = self.next.lock().unwrap();
        *n += 1;
        let mut calls = self.calls.lock().unwrap();
        calls.log.push(format!("create {}", r.resource));
        calls.last_request = Some(r.clone());
        calls.last_client_state = r.client_state.expose_secret().to_owned();
        let max = calls
            .max_lifetime
            .unwrap_or(SignedDuration::from_hours(10_000));
        let expires = r.expiration.min(self.clock.now() + max);
        Ok(GrantedSubscription {
            id: format!("sub-{n}"),
            resource: r.resource.clone(),
            expires_at: expires,
        })
    }
    async fn renew(&self, id: &str, at: Timestamp) -> Result<GrantedSubscription, DirectoryError> {
        let mut calls = self.calls.lock().unwrap();
        calls.log.push(format!("renew {id}"));
        if calls.fail_renew {
            return Err(DirectoryError::Protocol("404 not found".into()));
        }
        let max = calls
            .max_lifetime
            .unwrap_or(SignedDuration::from_hours(10_000));
        Ok(GrantedSubscription {
            id: id.into(),
            resource: "users".into(),
            expires_at: at.min(self.clock.now() + max),
        })
    }
    async fn reauthorize(&self, id: &str) -> Result<(), DirectoryError> {
        self.calls
            .lock()
            .unwrap()
            .log
            .push(format!("reauthorize {id}"));
        Ok(())
    }
    async fn delete(&self, id: &str) -> Result<(), DirectoryError> {
        let mut calls = self.calls.lock().unwrap();
        calls.log.push(format!("delete {id}"));
        if calls.fail_delete {
            return Err(DirectoryError::Protocol("503 service unavailable".into()));
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct MemSubs(Mutex<Vec<SubscriptionRecord>>);

#[async_trait]
impl SubscriptionStore for MemSubs {
    async fn save_subscription(&self, s: &SubscriptionRecord) -> Result<(), StoreError> {
        let mut v = self.0.lock().unwrap();
        v.retain(|x| x.id != s.id);
        v.push(s.clone());
        Ok(())
    }
    async fn list_subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn find_subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        Ok(self.0.lock().unwrap().iter().find(|s| s.id == id).cloned())
    }
    async fn delete_subscription(&self, id: &str) -> Result<(), StoreError> {
        self.0.lock().unwrap().retain(|s| s.id != id);
        Ok(())
    }
    async fn record_notification(&self, _: &ReceivedNotification) -> Result<bool, StoreError> {
        Ok(true)
    }
}

#[derive(Debug)]
struct TestClock(Mutex<Timestamp>);
impl TestClock {
    fn advance(&self, d: SignedDuration) {
        let mut t = self.0.lock().unwrap();
        *t += d;
    }
}
impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

fn world() -> (
    SubscriptionKeeper,
    Arc<FakeGraph>,
    Arc<MemSubs>,
    Arc<TestClock>,
) {
    let clock = Arc::new(TestClock(Mutex::new(
        "2026-11-28T00:00:00Z".parse().unwrap(),
    )));
    let graph = Arc::new(FakeGraph {
        calls: Mutex::default(),
        clock: clock.clone(),
        next: Mutex::new(0),
    });
    let store = Arc::new(MemSubs::default());
    let keeper = SubscriptionKeeper::new(
        graph.clone(),
        store.clone(),
        clock.clone(),
        "https://pbx.example.com/",
    );
    (keeper, graph, store, clock)
}

fn log(g: &FakeGraph) -> Vec<String> {
    std::mem::take(&mut g.calls.lock().unwrap().log)
}

#[tokio::test]
async fn creates_once_then_renews_at_half_of_the_granted_lifetime() {
    let (keeper, graph, store, clock) = world();
    graph.calls.lock().unwrap().max_lifetime = Some(SignedDuration::from_hours(4));
    let next = keeper.maintain().await.unwrap();
    assert_eq!(log(&graph), ["create users"]);
    assert_eq!(
        next,
        clock.now() + SignedDuration::from_hours(2),
        "half of the 4 h Graph granted"
    );
    let stored = store.0.lock().unwrap()[0].clone();
    assert_eq!(
        stored.client_state_sha256,
        client_state_digest(&graph.calls.lock().unwrap().last_client_state)
    );
    assert!(
        !stored
            .client_state_sha256
            .contains(&graph.calls.lock().unwrap().last_client_state),
        "only a digest is stored"
    );

    clock.advance(SignedDuration::from_mins(90));
    keeper.maintain().await.unwrap();
    assert!(log(&graph).is_empty(), "nothing to do before half-time");
    clock.advance(SignedDuration::from_mins(31));
    keeper.maintain().await.unwrap();
    assert_eq!(log(&graph), ["renew sub-1"]);
    assert_eq!(
        store.0.lock().unwrap()[0].expires_at,
        clock.now() + SignedDuration::from_hours(4)
    );
}

#[tokio::test]
async fn a_failed_renewal_or_a_removal_recreates() {
    let (keeper, graph, store, clock) = world();
    keeper.maintain().await.unwrap();
    log(&graph);
    graph.calls.lock().unwrap().fail_renew = true;
    clock.advance(SignedDuration::from_hours(24 * 20));
    keeper.maintain().await.unwrap();
    assert_eq!(log(&graph), ["renew sub-1", "create users"]);
    assert_eq!(store.0.lock().unwrap().len(), 1);

    let outcome = keeper
        .on_lifecycle("sub-2", "subscriptionRemoved")
        .await
        .unwrap();
    assert_eq!(outcome, LifecycleOutcome::RunDelta);
    assert_eq!(log(&graph), ["create users"]);
    assert_eq!(store.0.lock().unwrap()[0].id, "sub-3");

    assert_eq!(
        keeper.on_lifecycle("sub-3", "missed").await.unwrap(),
        LifecycleOutcome::RunDelta
    );
    assert_eq!(
        keeper
            .on_lifecycle("sub-3", "reauthorizationRequired")
            .await
            .unwrap(),
        LifecycleOutcome::RunDelta
    );
    assert_eq!(log(&graph), ["reauthorize sub-3"]);
}

#[tokio::test]
async fn an_expired_subscription_is_replaced() {
    let (keeper, graph, store, clock) = world();
    graph.calls.lock().unwrap().max_lifetime = Some(SignedDuration::from_hours(1));
    keeper.maintain().await.unwrap();
    clock.advance(SignedDuration::from_hours(2));
    keeper.maintain().await.unwrap();
    assert_eq!(
        log(&graph),
        ["create users", "delete sub-1", "create users"]
    );
    assert_eq!(store.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn self_test_creates_and_deletes_and_leaves_the_store_alone() {
    let (keeper, graph, store, clock) = world();
    keeper.maintain().await.unwrap();
    log(&graph);
    let before = store.0.lock().unwrap().clone();

    keeper.self_test().await.unwrap();
    assert_eq!(log(&graph), ["create users", "delete sub-2"]);
    let request = graph.calls.lock().unwrap().last_request.clone().unwrap();
    assert_eq!(request.change_type, "updated");
    assert_eq!(
        request.notification_url,
        "https://pbx.example.com/webhooks/graph"
    );
    assert_eq!(
        request.lifecycle_notification_url,
        "https://pbx.example.com/webhooks/graph/lifecycle"
    );
    assert_eq!(
        request.expiration,
        clock.now() + SignedDuration::from_mins(45)
    );
    let state = request.client_state.expose_secret().to_owned();
    assert_eq!(state.len(), 64);
    assert_ne!(
        client_state_digest(&state),
        before[0].client_state_sha256,
        "a fresh clientState, not the live subscription's"
    );
    assert_eq!(*store.0.lock().unwrap(), before, "the store is untouched");

    // A failed delete is only logged.
    graph.calls.lock().unwrap().fail_delete = true;
    keeper.self_test().await.unwrap();
    assert_eq!(log(&graph), ["create users", "delete sub-3"]);
    assert_eq!(*store.0.lock().unwrap(), before);
}
