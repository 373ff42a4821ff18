//! Admin-consent `state` nonces: single use, expiring.

use crate::support::{db_error, is_unique_violation, millis};
use jiff::Timestamp;
use sqlx::AnyPool;
use switchboard_core::ports::StoreError;

pub(crate) async fn put(
    pool: &AnyPool,
    state: &str,
    expires_at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO consent_states (state, expires_at) VALUES ($1, $2)")
        .bind(state)
        .bind(millis(expires_at))
        .execute(pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("consent state".into())
            } else {
                db_error("storing a consent state", e)
            }
        })?;
    Ok(())
}

/// Deletes the nonce in one statement (so two concurrent callbacks cannot both succeed) and
/// tells whether it was still valid at `now`; expired nonces are purged on the way.
pub(crate) async fn take(pool: &AnyPool, state: &str, now: Timestamp) -> Result<bool, StoreError> {
    let expires_at: Option<i64> =
        sqlx::query_scalar("DELETE FROM consent_states WHERE state = $1 RETURNING expires_at")
            .bind(state)
            .fetch_optional(pool)
            .await
            .map_err(|e| db_error("taking a consent state", e))?;
    let now = millis(now);
    sqlx::query("DELETE FROM consent_states WHERE expires_at <= $1")
        .bind(now)
        .execute(pool)
        .await
        .map_err(|e| db_error("purging expired consent states", e))?;
    Ok(expires_at.is_some_and(|expires_at| now < expires_at))
}
