use crate::admins::admin;
use crate::{Ctx, ts};
use switchboard_core::auth::SessionRecord;
use switchboard_core::ports::StoreError;

fn session(id: &str, user: &str, expires_at: &str) -> SessionRecord {
    SessionRecord {
        id_hash: id.into(),
        username: user.into(),
        csrf_token: format!("csrf-{id}"),
        created_at: ts("2026-05-01T08:00:00.001Z"),
        expires_at: ts(expires_at),
    }
}

pub async fn find_live_session(ctx: &Ctx<'_>) {
    ctx.store.create_admin(&admin("admin")).await.unwrap();
    let s = session("h1", "admin", "2026-05-01T20:00:00Z");
    ctx.store.create_session(&s).await.unwrap();
    let now = ts("2026-05-01T12:00:00Z");
    assert_eq!(
        ctx.store.find_session("h1", now).await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(ctx.store.find_session("h2", now).await.unwrap(), None);
    let err = ctx.store.create_session(&s).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

pub async fn expired_session_is_not_found_and_is_deleted(ctx: &Ctx<'_>) {
    ctx.store.create_admin(&admin("admin")).await.unwrap();
    ctx.store
        .create_session(&session("old", "admin", "2026-05-01T10:00:00Z"))
        .await
        .unwrap();
    ctx.store
        .create_session(&session("older", "admin", "2026-05-01T09:00:00Z"))
        .await
        .unwrap();
    let live = session("live", "admin", "2026-05-02T10:00:00Z");
    ctx.store.create_session(&live).await.unwrap();

    assert_eq!(
        ctx.store
            .find_session("old", ts("2026-05-01T10:00:00Z"))
            .await
            .unwrap(),
        None,
        "a session has expired at exactly expires_at"
    );
    // It was deleted, together with every other expired session: an earlier `now` cannot bring
    // them back.
    let earlier = ts("2026-05-01T08:30:00Z");
    assert_eq!(ctx.store.find_session("old", earlier).await.unwrap(), None);
    assert_eq!(
        ctx.store.find_session("older", earlier).await.unwrap(),
        None
    );
    assert_eq!(
        ctx.store.find_session("live", earlier).await.unwrap(),
        Some(live)
    );
}

pub async fn delete_one_and_all_of_a_user(ctx: &Ctx<'_>) {
    ctx.store.create_admin(&admin("a")).await.unwrap();
    ctx.store.create_admin(&admin("b")).await.unwrap();
    let until = "2026-06-01T00:00:00Z";
    for (id, user) in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b")] {
        ctx.store
            .create_session(&session(id, user, until))
            .await
            .unwrap();
    }
    let now = ts("2026-05-01T12:00:00Z");

    ctx.store.delete_session("a1").await.unwrap();
    assert_eq!(ctx.store.find_session("a1", now).await.unwrap(), None);
    ctx.store.delete_session("a1").await.unwrap(); // deleting again is fine
    assert!(ctx.store.find_session("a2", now).await.unwrap().is_some());

    assert_eq!(ctx.store.delete_sessions_of("a").await.unwrap(), 2);
    assert_eq!(ctx.store.find_session("a2", now).await.unwrap(), None);
    assert_eq!(ctx.store.find_session("a3", now).await.unwrap(), None);
    assert_eq!(
        ctx.store.find_session("b1", now).await.unwrap(),
        Some(session("b1", "b", until)),
        "other users keep their sessions"
    );
    assert_eq!(ctx.store.delete_sessions_of("a").await.unwrap(), 0);
    assert_eq!(ctx.store.delete_sessions_of("nobody").await.unwrap(), 0);
}

pub async fn session_needs_an_existing_admin(ctx: &Ctx<'_>) {
    let err = ctx
        .store
        .create_session(&session("h", "ghost", "2026-06-01T00:00:00Z"))
        .await
        .unwrap_err();
    match err {
        StoreError::Database(message) => assert!(message.contains("ghost"), "{message}"),
        other => panic!("expected a Database error, got {other:?}"),
    }
    assert_eq!(
        ctx.store
            .find_session("h", ts("2026-05-01T00:00:00Z"))
            .await
            .unwrap(),
        None
    );
}

/// Schema: removing an admin row removes their sessions and API tokens (ON DELETE CASCADE).
pub async fn deleting_an_admin_cascades(ctx: &Ctx<'_>) {
    ctx.store.create_admin(&admin("gone")).await.unwrap();
    ctx.store.create_admin(&admin("kept")).await.unwrap();
    let until = "2026-06-01T00:00:00Z";
    ctx.store
        .create_session(&session("g1", "gone", until))
        .await
        .unwrap();
    ctx.store
        .create_session(&session("k1", "kept", until))
        .await
        .unwrap();
    let token = |hash: &str, user: &str| switchboard_core::auth::ApiTokenRecord {
        token_hash: hash.into(),
        name: "t".into(),
        username: user.into(),
        created_at: ts("2026-05-01T00:00:00Z"),
    };
    ctx.store
        .create_api_token(&token("tg", "gone"))
        .await
        .unwrap();
    ctx.store
        .create_api_token(&token("tk", "kept"))
        .await
        .unwrap();

    let mut raw = ctx.raw().await;
    sqlx::query("DELETE FROM admins WHERE username = 'gone'")
        .execute(&mut raw)
        .await
        .unwrap();
    let now = ts("2026-05-01T12:00:00Z");
    assert_eq!(ctx.store.find_session("g1", now).await.unwrap(), None);
    assert_eq!(ctx.store.find_api_token("tg").await.unwrap(), None);
    assert!(ctx.store.find_session("k1", now).await.unwrap().is_some());
    assert!(ctx.store.find_api_token("tk").await.unwrap().is_some());
}
