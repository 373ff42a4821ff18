//! Bearer tokens for `/api/v1` (stored as hashes).

use crate::support::{
    column, db_error, is_foreign_key_violation, is_unique_violation, millis, timestamp_column,
};
use sqlx::AnyPool;
use switchboard_core::auth::ApiTokenRecord;
use switchboard_core::ports::StoreError;

const TABLE: &str = "api_tokens";

pub(crate) async fn create(pool: &AnyPool, t: &ApiTokenRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_tokens (token_hash, name, username, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(t.token_hash.as_str())
    .bind(t.name.as_str())
    .bind(t.username.as_str())
    .bind(millis(t.created_at))
    .execute(pool)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::Conflict("API token".into())
        } else if is_foreign_key_violation(&e) {
            StoreError::Database(format!(
                "creating an API token: there is no admin \"{}\"",
                t.username
            ))
        } else {
            db_error("creating an API token", e)
        }
    })?;
    Ok(())
}

pub(crate) async fn find(
    pool: &AnyPool,
    token_hash: &str,
) -> Result<Option<ApiTokenRecord>, StoreError> {
    let row = sqlx::query(
        "SELECT token_hash, name, username, created_at FROM api_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await
    .map_err(|e| db_error("finding an API token", e))?;
    row.map(|row| {
        Ok(ApiTokenRecord {
            token_hash: column(&row, TABLE, "token_hash")?,
            name: column(&row, TABLE, "name")?,
            username: column(&row, TABLE, "username")?,
            created_at: timestamp_column(&row, TABLE, "created_at")?,
        })
    })
    .transpose()
}
