use crate::{Ctx, ts};
use switchboard_core::ports::StoreError;

pub async fn state_is_single_use(ctx: &Ctx<'_>) {
    let now = ts("2026-05-01T12:00:00Z");
    let expires = ts("2026-05-01T12:10:00Z");
    ctx.store
        .put_consent_state("nonce-a", expires)
        .await
        .unwrap();
    ctx.store
        .put_consent_state("nonce-b", expires)
        .await
        .unwrap();

    assert!(!ctx.store.take_consent_state("unknown", now).await.unwrap());
    assert!(ctx.store.take_consent_state("nonce-a", now).await.unwrap());
    assert!(
        !ctx.store.take_consent_state("nonce-a", now).await.unwrap(),
        "a nonce is good for one callback only"
    );
    // Taking one leaves the others alone.
    assert!(ctx.store.take_consent_state("nonce-b", now).await.unwrap());

    // Concurrent callbacks with the same nonce: exactly one wins.
    ctx.store
        .put_consent_state("nonce-c", expires)
        .await
        .unwrap();
    let results = futures_join(ctx, "nonce-c", now).await;
    assert_eq!(results.iter().filter(|ok| **ok).count(), 1, "{results:?}");
}

async fn futures_join(ctx: &Ctx<'_>, state: &str, now: jiff::Timestamp) -> Vec<bool> {
    let (a, b, c, d) = tokio::join!(
        ctx.store.take_consent_state(state, now),
        ctx.store.take_consent_state(state, now),
        ctx.store.take_consent_state(state, now),
        ctx.store.take_consent_state(state, now),
    );
    vec![a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()]
}

pub async fn expired_state_is_refused_and_purged(ctx: &Ctx<'_>) {
    let expires = ts("2026-05-01T12:10:00Z");
    ctx.store.put_consent_state("late", expires).await.unwrap();
    assert!(
        !ctx.store.take_consent_state("late", expires).await.unwrap(),
        "expired at exactly expires_at"
    );

    ctx.store
        .put_consent_state("old-1", ts("2026-05-01T11:00:00Z"))
        .await
        .unwrap();
    ctx.store
        .put_consent_state("old-2", ts("2026-05-01T11:30:00Z"))
        .await
        .unwrap();
    ctx.store
        .put_consent_state("fresh", ts("2026-05-01T13:00:00Z"))
        .await
        .unwrap();
    // Taking any state purges the expired ones.
    assert!(
        !ctx.store
            .take_consent_state("other", ts("2026-05-01T12:00:00Z"))
            .await
            .unwrap()
    );
    let mut raw = ctx.raw().await;
    let left: Vec<String> = sqlx::query_scalar("SELECT state FROM consent_states ORDER BY state")
        .fetch_all(&mut raw)
        .await
        .unwrap();
    assert_eq!(left, ["fresh"]);
    assert!(
        ctx.store
            .take_consent_state("fresh", ts("2026-05-01T12:59:59.999Z"))
            .await
            .unwrap()
    );
}

pub async fn duplicate_state_conflicts(ctx: &Ctx<'_>) {
    let expires = ts("2026-05-01T12:10:00Z");
    ctx.store.put_consent_state("dup", expires).await.unwrap();
    let err = ctx
        .store
        .put_consent_state("dup", expires)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}
