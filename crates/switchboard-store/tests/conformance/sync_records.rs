//! Sync state, sync runs and runtime settings.

use crate::{Ctx, ts};
use serde_json::json;
use switchboard_core::ports::StoreError;
use switchboard_core::users::{RunCounts, RunMode, SyncRunRecord, SyncState};

pub async fn sync_state_round_trips(ctx: &Ctx<'_>) {
    assert_eq!(
        ctx.ext.load_sync_state("users").await.unwrap(),
        SyncState::default()
    );
    let state = SyncState {
        delta_link: Some(
            "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=abc%3D&x='y'".into(),
        ),
        last_full_sync: Some(ts("2026-05-01T02:00:00.5Z")),
        last_error: None,
    };
    ctx.ext.save_sync_state("users", &state).await.unwrap();
    assert_eq!(ctx.ext.load_sync_state("users").await.unwrap(), state);
    assert_eq!(
        ctx.ext.load_sync_state("contacts:u1").await.unwrap(),
        SyncState::default(),
        "keys are separate"
    );

    // An upsert overwrites every field, including with nothing.
    let next = SyncState {
        delta_link: None,
        last_full_sync: None,
        last_error: Some("the delta token expired".into()),
    };
    ctx.ext.save_sync_state("users", &next).await.unwrap();
    assert_eq!(ctx.ext.load_sync_state("users").await.unwrap(), next);
    let mut raw = ctx.raw().await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sync_state")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

fn run(id: &str, kind: &str, started: &str) -> SyncRunRecord {
    SyncRunRecord {
        id: id.into(),
        kind: kind.into(),
        mode: RunMode::Full,
        started_at: ts(started),
        finished_at: None,
        counts: RunCounts::default(),
        processed: 0,
        error: None,
    }
}

pub async fn sync_runs_round_trip(ctx: &Ctx<'_>) {
    assert!(
        ctx.ext
            .recent_sync_runs("users", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let mut first = run("r1", "users", "2026-05-01T02:00:00Z");
    ctx.ext.save_sync_run(&first).await.unwrap();
    // The same run, finished: updated in place.
    first.finished_at = Some(ts("2026-05-01T02:01:00.250Z"));
    first.counts = RunCounts {
        created: 1,
        updated: 2,
        disabled: 3,
        enabled: 4,
        removed: 5,
        skipped: u64::from(u32::MAX) + 6,
    };
    first.processed = 21;
    first.error = Some("Microsoft Graph is unavailable: 503".into());
    ctx.ext.save_sync_run(&first).await.unwrap();

    let mut second = run("r2", "users", "2026-05-01T03:00:00Z");
    second.mode = RunMode::Delta;
    ctx.ext.save_sync_run(&second).await.unwrap();
    let third = run("r3", "users", "2026-05-01T04:00:00Z");
    ctx.ext.save_sync_run(&third).await.unwrap();
    ctx.ext
        .save_sync_run(&run("c1", "contacts", "2026-05-01T05:00:00Z"))
        .await
        .unwrap();

    let recent = ctx.ext.recent_sync_runs("users", 10).await.unwrap();
    assert_eq!(recent, [third.clone(), second.clone(), first.clone()]);
    assert_eq!(
        ctx.ext.recent_sync_runs("users", 2).await.unwrap(),
        [third, second]
    );
    let contacts = ctx.ext.recent_sync_runs("contacts", 10).await.unwrap();
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].id, "c1");
    assert!(
        ctx.ext
            .recent_sync_runs("calendar", 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Counts beyond what BIGINT holds are refused, not wrapped.
    let mut huge = run("r4", "users", "2026-05-01T06:00:00Z");
    huge.processed = u64::MAX;
    assert!(ctx.ext.save_sync_run(&huge).await.is_err());
    assert_eq!(
        ctx.ext.recent_sync_runs("users", 10).await.unwrap().len(),
        3
    );
}

pub async fn settings_round_trip(ctx: &Ctx<'_>) {
    assert_eq!(ctx.ext.load_setting("user_sync").await.unwrap(), None);
    let value = json!({
        "scope": { "kind": "groups", "ids": ["g1", "g2"] },
        "include_guests": false,
        "numbering_start": 100,
        "note": "ünïcode \"quoted\" 'single'",
    });
    ctx.ext.save_setting("user_sync", &value).await.unwrap();
    assert_eq!(
        ctx.ext.load_setting("user_sync").await.unwrap(),
        Some(value)
    );
    ctx.ext
        .save_setting("user_sync", &json!([1, 2.5, null]))
        .await
        .unwrap();
    assert_eq!(
        ctx.ext.load_setting("user_sync").await.unwrap(),
        Some(json!([1, 2.5, null]))
    );
    ctx.ext.save_setting("flag", &json!(true)).await.unwrap();
    assert_eq!(
        ctx.ext.load_setting("flag").await.unwrap(),
        Some(json!(true))
    );

    let mut raw = ctx.raw().await;
    sqlx::query("UPDATE settings SET value = '{broken' WHERE key = 'user_sync'")
        .execute(&mut raw)
        .await
        .unwrap();
    let err = ctx.ext.load_setting("user_sync").await.unwrap_err();
    match &err {
        StoreError::Corrupt(message) => {
            assert!(message.contains("\"user_sync\""), "{message}");
            assert!(message.contains("settings.value"), "{message}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(
        ctx.ext.load_setting("flag").await.unwrap(),
        Some(json!(true)),
        "other keys still load"
    );
}
