use crate::admins::admin;
use crate::{Ctx, ts};
use switchboard_core::auth::ApiTokenRecord;
use switchboard_core::ports::StoreError;

fn token(hash: &str, user: &str) -> ApiTokenRecord {
    ApiTokenRecord {
        token_hash: hash.into(),
        name: format!("token {hash} for the desk phone"),
        username: user.into(),
        created_at: ts("2026-04-01T09:00:00.250Z"),
    }
}

pub async fn create_and_find(ctx: &Ctx<'_>) {
    ctx.store.create_admin(&admin("admin")).await.unwrap();
    assert_eq!(ctx.store.find_api_token("t1").await.unwrap(), None);
    ctx.store
        .create_api_token(&token("t1", "admin"))
        .await
        .unwrap();
    ctx.store
        .create_api_token(&token("t2", "admin"))
        .await
        .unwrap();
    assert_eq!(
        ctx.store.find_api_token("t1").await.unwrap(),
        Some(token("t1", "admin"))
    );
    assert_eq!(
        ctx.store.find_api_token("t2").await.unwrap(),
        Some(token("t2", "admin"))
    );
    assert_eq!(ctx.store.find_api_token("T1").await.unwrap(), None);
}

pub async fn duplicate_token_conflicts(ctx: &Ctx<'_>) {
    ctx.store.create_admin(&admin("admin")).await.unwrap();
    ctx.store
        .create_api_token(&token("t1", "admin"))
        .await
        .unwrap();
    let err = ctx
        .store
        .create_api_token(&token("t1", "admin"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

pub async fn token_needs_an_existing_admin(ctx: &Ctx<'_>) {
    let err = ctx
        .store
        .create_api_token(&token("t1", "ghost"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Database(m) if m.contains("ghost")),
        "{err:?}"
    );
    assert_eq!(ctx.store.find_api_token("t1").await.unwrap(), None);
}
