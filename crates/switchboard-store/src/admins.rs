//! Console admins.

use crate::support::{column, count, db_error, is_unique_violation, millis, timestamp_column};
use sqlx::AnyPool;
use switchboard_core::auth::AdminUser;
use switchboard_core::ports::StoreError;

const TABLE: &str = "admins";

pub(crate) async fn create(pool: &AnyPool, admin: &AdminUser) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO admins (username, password_hash, created_at) VALUES ($1, $2, $3)")
        .bind(admin.username.as_str())
        .bind(admin.password_hash.as_str())
        .bind(millis(admin.created_at))
        .execute(pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("admin \"{}\"", admin.username))
            } else {
                db_error("creating an admin", e)
            }
        })?;
    Ok(())
}

pub(crate) async fn find(pool: &AnyPool, username: &str) -> Result<Option<AdminUser>, StoreError> {
    let row =
        sqlx::query("SELECT username, password_hash, created_at FROM admins WHERE username = $1")
            .bind(username)
            .fetch_optional(pool)
            .await
            .map_err(|e| db_error("finding an admin", e))?;
    row.map(|row| {
        Ok(AdminUser {
            username: column(&row, TABLE, "username")?,
            password_hash: column(&row, TABLE, "password_hash")?,
            created_at: timestamp_column(&row, TABLE, "created_at")?,
        })
    })
    .transpose()
}

pub(crate) async fn set_password(
    pool: &AnyPool,
    username: &str,
    password_hash: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE admins SET password_hash = $1 WHERE username = $2")
        .bind(password_hash)
        .bind(username)
        .execute(pool)
        .await
        .map_err(|e| db_error("changing an admin's password", e))?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn count_all(pool: &AnyPool) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admins")
        .fetch_one(pool)
        .await
        .map_err(|e| db_error("counting admins", e))?;
    count(n, "counting admins")
}
