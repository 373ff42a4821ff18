#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! Only one instance leads the syncs on a shared PostgreSQL database; SQLite has one node.

use switchboard_core::ports::Leadership;
use switchboard_store::SqlLeadership;
use switchboard_store::testing::{fresh_database, fresh_sqlite};

#[tokio::test]
async fn sqlite_always_leads() {
    let db = fresh_sqlite().unwrap();
    let store = switchboard_store::open(&db.url).await.unwrap();
    assert!(SqlLeadership::new(store).try_lead().await.unwrap());
}

#[tokio::test]
async fn one_leader_on_postgres_and_a_successor_when_it_goes() {
    let Some(server) = switchboard_store::testing::postgres_url_from_env() else {
        eprintln!("SWITCHBOARD_TEST_POSTGRES not set: PostgreSQL leadership not tested");
        return;
    };
    let db = fresh_database(Some(&server)).await.unwrap();
    let first = SqlLeadership::new(switchboard_store::open(&db.url).await.unwrap());
    let second_store = switchboard_store::open(&db.url).await.unwrap();
    let second = SqlLeadership::new(second_store.clone());
    assert!(first.try_lead().await.unwrap());
    assert!(
        first.try_lead().await.unwrap(),
        "the leader stays the leader"
    );
    assert!(!second.try_lead().await.unwrap(), "only one leader");
    drop(first); // the instance goes away: its connection, and the lock, close
    let mut led = false;
    for _ in 0..50 {
        if second.try_lead().await.unwrap() {
            led = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(led, "the other instance takes over");
}
