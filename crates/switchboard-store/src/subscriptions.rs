//! Microsoft Graph subscriptions (`graph_subscriptions`) and the notifications received for them
//! (`graph_notifications`, kept for a week to drop Graph's repeated deliveries).

use crate::support::{column, db_error, millis, timestamp_column};
use sqlx::AnyPool;
use sqlx::any::AnyRow;
use switchboard_core::ports::{ReceivedNotification, StoreError, SubscriptionRecord};

const TABLE: &str = "graph_subscriptions";

/// How long (in milliseconds: 7 days) a notification is remembered for deduplication; older
/// ones are purged on insert. Graph retries a delivery for up to 4 hours, so a week is plenty.
pub(crate) const NOTIFICATION_RETENTION_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// The columns every subscription query selects.
const COLUMNS: &str = "id, resource, expires_at, client_state_sha256, created_at, renewed_at";

fn decode(row: &AnyRow) -> Result<SubscriptionRecord, StoreError> {
    Ok(SubscriptionRecord {
        id: column(row, TABLE, "id")?,
        resource: column(row, TABLE, "resource")?,
        expires_at: timestamp_column(row, TABLE, "expires_at")?,
        client_state_sha256: column(row, TABLE, "client_state_sha256")?,
        created_at: timestamp_column(row, TABLE, "created_at")?,
        renewed_at: timestamp_column(row, TABLE, "renewed_at")?,
    })
}

/// Insert or update by id (every other column is overwritten).
pub(crate) async fn save(pool: &AnyPool, s: &SubscriptionRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO graph_subscriptions \
                (id, resource, expires_at, client_state_sha256, created_at, renewed_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET \
                resource = excluded.resource, \
                expires_at = excluded.expires_at, \
                client_state_sha256 = excluded.client_state_sha256, \
                created_at = excluded.created_at, \
                renewed_at = excluded.renewed_at",
    )
    .bind(s.id.as_str())
    .bind(s.resource.as_str())
    .bind(millis(s.expires_at))
    .bind(s.client_state_sha256.as_str())
    .bind(millis(s.created_at))
    .bind(millis(s.renewed_at))
    .execute(pool)
    .await
    .map_err(|e| db_error("saving a Graph subscription", e))?;
    Ok(())
}

/// Every subscription, the one expiring first first (ties by id, so both engines agree).
pub(crate) async fn list(pool: &AnyPool) -> Result<Vec<SubscriptionRecord>, StoreError> {
    let sql = select("ORDER BY expires_at, id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .map_err(|e| db_error("listing Graph subscriptions", e))?;
    rows.iter().map(decode).collect()
}

pub(crate) async fn find(
    pool: &AnyPool,
    id: &str,
) -> Result<Option<SubscriptionRecord>, StoreError> {
    let sql = select("WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(|e| db_error("finding a Graph subscription", e))?;
    row.as_ref().map(decode).transpose()
}

/// Deleting a subscription that is not there is fine. Its notifications are left to the purge.
pub(crate) async fn delete(pool: &AnyPool, id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM graph_subscriptions WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map_err(|e| db_error("deleting a Graph subscription", e))?;
    Ok(())
}

/// `SELECT <columns> FROM graph_subscriptions <tail>`; `tail` is a fixed fragment, never data.
fn select(tail: &'static str) -> String {
    format!("SELECT {COLUMNS} FROM {TABLE} {tail}")
}

/// Stores the notification unless the same one (subscription, change type, resource id,
/// sequence) is already stored; true when it was new. Notifications older than
/// [`NOTIFICATION_RETENTION_MS`] before this one are purged first (an index range scan that
/// usually finds nothing).
///
/// An absent resource id or sequence is stored as `''` (NULLs are distinct in a UNIQUE
/// constraint, so lifecycle events would never be recognised as duplicates); whoever reads the
/// rows maps `''` back to `None`. So `Some("")` and `None` are the same notification.
pub(crate) async fn record_notification(
    pool: &AnyPool,
    n: &ReceivedNotification,
) -> Result<bool, StoreError> {
    let received_at = millis(n.received_at);
    let cutoff = received_at.saturating_sub(NOTIFICATION_RETENTION_MS);
    // Opportunistic: a failed purge must not lose the notification.
    if let Err(e) = sqlx::query("DELETE FROM graph_notifications WHERE received_at < $1")
        .bind(cutoff)
        .execute(pool)
        .await
    {
        tracing::warn!("purging old Graph notifications: {e}");
    }
    let done = sqlx::query(
        "INSERT INTO graph_notifications \
                (subscription_id, change_type, resource_id, sequence, received_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT DO NOTHING",
    )
    .bind(n.subscription_id.as_str())
    .bind(n.change_type.as_str())
    .bind(n.resource_id.as_deref().unwrap_or(""))
    .bind(n.sequence.as_deref().unwrap_or(""))
    .bind(received_at)
    .execute(pool)
    .await
    .map_err(|e| db_error("recording a Graph notification", e))?;
    Ok(done.rows_affected() == 1)
}
