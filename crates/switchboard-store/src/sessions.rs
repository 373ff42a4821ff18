//! Console login sessions.

use crate::support::{
    column, db_error, is_foreign_key_violation, is_unique_violation, millis, timestamp_column,
};
use jiff::Timestamp;
use sqlx::AnyPool;
use switchboard_core::auth::SessionRecord;
use switchboard_core::ports::StoreError;

const TABLE: &str = "sessions";

pub(crate) async fn create(pool: &AnyPool, s: &SessionRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (id_hash, username, csrf_token, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(s.id_hash.as_str())
    .bind(s.username.as_str())
    .bind(s.csrf_token.as_str())
    .bind(millis(s.created_at))
    .bind(millis(s.expires_at))
    .execute(pool)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict("session".into())
        } else if is_foreign_key_violation(&e) {
            StoreError::Database(format!(
                "creating a session: there is no admin \"{}\"",
                s.username
            ))
        } else {
            db_error("creating a session", e)
        }
    })?;
    Ok(())
}

/// The session if it has not expired at `now`. Finding an expired one purges every expired
/// session, so the common (valid) path stays a read.
pub(crate) async fn find(
    pool: &AnyPool,
    id_hash: &str,
    now: Timestamp,
) -> Result<Option<SessionRecord>, StoreError> {
    let row = sqlx::query(
        "SELECT id_hash, username, csrf_token, created_at, expires_at \
         FROM sessions WHERE id_hash = $1",
    )
    .bind(id_hash)
    .fetch_optional(pool)
    .await
    .map_err(|e| db_error("finding a session", e))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let session = SessionRecord {
        id_hash: column(&row, TABLE, "id_hash")?,
        username: column(&row, TABLE, "username")?,
        csrf_token: column(&row, TABLE, "csrf_token")?,
        created_at: timestamp_column(&row, TABLE, "created_at")?,
        expires_at: timestamp_column(&row, TABLE, "expires_at")?,
    };
    if millis(now) < millis(session.expires_at) {
        return Ok(Some(session));
    }
    sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(millis(now))
        .execute(pool)
        .await
        .map_err(|e| db_error("purging expired sessions", e))?;
    Ok(None)
}

pub(crate) async fn delete(pool: &AnyPool, id_hash: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(pool)
        .await
        .map_err(|e| db_error("deleting a session", e))?;
    Ok(())
}

pub(crate) async fn delete_of(pool: &AnyPool, username: &str) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM sessions WHERE username = $1")
        .bind(username)
        .execute(pool)
        .await
        .map_err(|e| db_error("deleting an admin's sessions", e))?;
    Ok(done.rows_affected())
}
