use crate::{Ctx, ts};
use switchboard_core::auth::AdminUser;
use switchboard_core::ports::StoreError;

pub fn admin(name: &str) -> AdminUser {
    AdminUser {
        username: name.into(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt${name}"),
        created_at: ts("2026-02-03T04:05:06.789Z"),
    }
}

pub async fn create_find_and_count(ctx: &Ctx<'_>) {
    assert_eq!(ctx.store.count_admins().await.unwrap(), 0);
    assert_eq!(ctx.store.find_admin("admin").await.unwrap(), None);

    ctx.store.create_admin(&admin("admin")).await.unwrap();
    ctx.store
        .create_admin(&admin("jane.doe@contoso.com"))
        .await
        .unwrap();
    assert_eq!(ctx.store.count_admins().await.unwrap(), 2);
    assert_eq!(
        ctx.store.find_admin("admin").await.unwrap(),
        Some(admin("admin"))
    );
    assert_eq!(
        ctx.store.find_admin("jane.doe@contoso.com").await.unwrap(),
        Some(admin("jane.doe@contoso.com"))
    );
    assert_eq!(
        ctx.store.find_admin("Admin").await.unwrap(),
        None,
        "usernames are case-sensitive on every engine"
    );
}

pub async fn duplicate_username_conflicts(ctx: &Ctx<'_>) {
    ctx.store.create_admin(&admin("x")).await.unwrap();
    let mut again = admin("x");
    again.password_hash = "other".into();
    let err = ctx.store.create_admin(&again).await.unwrap_err();
    match &err {
        StoreError::Conflict(what) => assert_eq!(what, "admin \"x\""),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(err.to_string(), "admin \"x\" already exists");
    // The first one is untouched.
    assert_eq!(ctx.store.find_admin("x").await.unwrap(), Some(admin("x")));
    assert_eq!(ctx.store.count_admins().await.unwrap(), 1);
}

pub async fn password_change(ctx: &Ctx<'_>) {
    ctx.store.create_admin(&admin("admin")).await.unwrap();
    ctx.store.create_admin(&admin("other")).await.unwrap();
    assert!(
        ctx.store
            .set_admin_password("admin", "$argon2id$new")
            .await
            .unwrap()
    );
    let found = ctx.store.find_admin("admin").await.unwrap().unwrap();
    assert_eq!(found.password_hash, "$argon2id$new");
    assert_eq!(found.created_at, admin("admin").created_at);
    assert_eq!(
        ctx.store.find_admin("other").await.unwrap(),
        Some(admin("other")),
        "only the named admin changes"
    );
    assert!(
        !ctx.store
            .set_admin_password("nobody", "$argon2id$x")
            .await
            .unwrap()
    );
    assert_eq!(ctx.store.count_admins().await.unwrap(), 2);
}
