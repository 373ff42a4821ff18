//! Graph subscriptions and the deduplication of received notifications.

use crate::{Ctx, ts};
use switchboard_core::ports::{ReceivedNotification, SubscriptionRecord};

fn subscription(id: &str, expires_at: &str) -> SubscriptionRecord {
    SubscriptionRecord {
        id: id.into(),
        resource: "users".into(),
        expires_at: ts(expires_at),
        client_state_sha256: format!("{:0>64}", id.len()),
        created_at: ts("2026-05-01T08:00:00.001Z"),
        renewed_at: ts("2026-05-01T08:00:00.001Z"),
    }
}

fn change(sequence: &str, received_at: &str) -> ReceivedNotification {
    ReceivedNotification {
        subscription_id: "sub-1".into(),
        change_type: "updated".into(),
        resource_id: Some("user-1".into()),
        sequence: Some(sequence.into()),
        received_at: ts(received_at),
    }
}

fn lifecycle(event: &str, received_at: &str) -> ReceivedNotification {
    ReceivedNotification {
        subscription_id: "sub-1".into(),
        change_type: event.into(),
        resource_id: None,
        sequence: None,
        received_at: ts(received_at),
    }
}

async fn stored_notifications(ctx: &Ctx<'_>) -> Vec<(String, String, String, i64)> {
    let mut raw = ctx.raw().await;
    sqlx::query_as(
        "SELECT change_type, resource_id, sequence, received_at FROM graph_notifications \
         ORDER BY id",
    )
    .fetch_all(&mut raw)
    .await
    .unwrap()
}

pub async fn subscription_round_trips(ctx: &Ctx<'_>) {
    assert_eq!(ctx.subs.find_subscription("sub-1").await.unwrap(), None);
    assert!(ctx.subs.list_subscriptions().await.unwrap().is_empty());
    let mut s = subscription("sub-1", "2026-05-03T08:00:00.250Z");
    s.resource = "users/6e7b768e-07e2-4810-8459-485f84f8f204/contacts".into();
    s.client_state_sha256 =
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into();
    ctx.subs.save_subscription(&s).await.unwrap();
    assert_eq!(
        ctx.subs.find_subscription("sub-1").await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(ctx.subs.find_subscription("sub-2").await.unwrap(), None);
    assert_eq!(ctx.subs.list_subscriptions().await.unwrap(), [s]);
}

pub async fn save_overwrites_expiry_and_renewal(ctx: &Ctx<'_>) {
    let mut s = subscription("sub-1", "2026-05-03T08:00:00Z");
    ctx.subs.save_subscription(&s).await.unwrap();
    s.expires_at = ts("2026-05-06T08:00:00.125Z");
    s.renewed_at = ts("2026-05-02T08:00:00.5Z");
    ctx.subs.save_subscription(&s).await.unwrap();
    assert_eq!(
        ctx.subs.find_subscription("sub-1").await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(ctx.subs.list_subscriptions().await.unwrap(), [s]);
}

pub async fn list_is_ordered_by_expiry(ctx: &Ctx<'_>) {
    let later = subscription("a-later", "2026-05-04T00:00:00Z");
    let first = subscription("z-first", "2026-05-02T00:00:00Z");
    let tie_b = subscription("m-tie-b", "2026-05-03T00:00:00Z");
    let tie_a = subscription("m-tie-a", "2026-05-03T00:00:00Z");
    for s in [&later, &first, &tie_b, &tie_a] {
        ctx.subs.save_subscription(s).await.unwrap();
    }
    assert_eq!(
        ctx.subs.list_subscriptions().await.unwrap(),
        [first, tie_a, tie_b, later]
    );
}

pub async fn delete_is_idempotent(ctx: &Ctx<'_>) {
    let kept = subscription("kept", "2026-05-03T00:00:00Z");
    ctx.subs.save_subscription(&kept).await.unwrap();
    ctx.subs
        .save_subscription(&subscription("gone", "2026-05-02T00:00:00Z"))
        .await
        .unwrap();
    ctx.subs.delete_subscription("gone").await.unwrap();
    assert_eq!(ctx.subs.find_subscription("gone").await.unwrap(), None);
    ctx.subs.delete_subscription("gone").await.unwrap(); // deleting again is fine
    ctx.subs.delete_subscription("never-there").await.unwrap();
    assert_eq!(ctx.subs.list_subscriptions().await.unwrap(), [kept]);
}

pub async fn duplicate_notifications_are_refused(ctx: &Ctx<'_>) {
    let at = "2026-05-01T12:00:00Z";
    // Sequence numbers can exceed 2^53: kept as text.
    let big = "18446744073709551615";
    assert!(
        ctx.subs
            .record_notification(&change(big, at))
            .await
            .unwrap()
    );
    assert!(
        !ctx.subs
            .record_notification(&change(big, "2026-05-01T12:00:05Z"))
            .await
            .unwrap(),
        "a redelivery (even later) is a duplicate"
    );
    assert!(
        ctx.subs
            .record_notification(&change("18446744073709551616", at))
            .await
            .unwrap(),
        "a different sequence is a different notification"
    );

    // Each part of the key tells notifications apart.
    let mut other = change(big, at);
    other.change_type = "deleted".into();
    assert!(ctx.subs.record_notification(&other).await.unwrap());
    let mut other = change(big, at);
    other.resource_id = Some("user-2".into());
    assert!(ctx.subs.record_notification(&other).await.unwrap());
    let mut other = change(big, at);
    other.subscription_id = "sub-2".into();
    assert!(ctx.subs.record_notification(&other).await.unwrap());
    let mut other = change(big, at);
    other.sequence = None;
    assert!(ctx.subs.record_notification(&other).await.unwrap());
    assert!(!ctx.subs.record_notification(&other).await.unwrap());

    // Concurrent deliveries of the same new notification: exactly one is new.
    let n = change("7", at);
    let (a, b, c, d) = tokio::join!(
        ctx.subs.record_notification(&n),
        ctx.subs.record_notification(&n),
        ctx.subs.record_notification(&n),
        ctx.subs.record_notification(&n),
    );
    let results = [a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()];
    assert_eq!(results.iter().filter(|new| **new).count(), 1, "{results:?}");
    assert_eq!(stored_notifications(ctx).await.len(), 7);
}

pub async fn lifecycle_notifications_dedupe_too(ctx: &Ctx<'_>) {
    let at = "2026-05-01T12:00:00Z";
    let event = lifecycle("reauthorizationRequired", at);
    assert!(ctx.subs.record_notification(&event).await.unwrap());
    assert!(
        !ctx.subs.record_notification(&event).await.unwrap(),
        "no resource id and no sequence still dedupes"
    );
    assert!(
        ctx.subs
            .record_notification(&lifecycle("missed", at))
            .await
            .unwrap()
    );
    // Absent values are stored as '' (NULLs would never collide in the UNIQUE constraint).
    assert_eq!(
        stored_notifications(ctx).await,
        [
            (
                "reauthorizationRequired".to_owned(),
                String::new(),
                String::new(),
                ts(at).as_millisecond()
            ),
            (
                "missed".to_owned(),
                String::new(),
                String::new(),
                ts(at).as_millisecond()
            ),
        ]
    );
}

pub async fn old_notifications_are_purged(ctx: &Ctx<'_>) {
    let old = change("1", "2026-05-01T00:00:00Z");
    let recent = change("2", "2026-05-03T00:00:00Z");
    assert!(ctx.subs.record_notification(&old).await.unwrap());
    assert!(ctx.subs.record_notification(&recent).await.unwrap());
    // Exactly 7 days after the old one: still remembered.
    let edge = change("3", "2026-05-08T00:00:00Z");
    assert!(ctx.subs.record_notification(&edge).await.unwrap());
    assert_eq!(stored_notifications(ctx).await.len(), 3);
    assert!(!ctx.subs.record_notification(&old).await.unwrap());

    // A notification more than 7 days after the old one purges it (and only it).
    let later = change("4", "2026-05-08T00:00:00.001Z");
    assert!(ctx.subs.record_notification(&later).await.unwrap());
    let sequences: Vec<String> = stored_notifications(ctx)
        .await
        .into_iter()
        .map(|(_, _, sequence, _)| sequence)
        .collect();
    assert_eq!(sequences, ["2", "3", "4"]);
}
