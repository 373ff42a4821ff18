//! The audit log: one row per change to an extension, never updated or deleted by the store.
//! Sync batches also record their run id (`run_id`), which console and API changes leave NULL.

use crate::support::{
    cache_statement, column, db_error, json_column, json_text, millis, timestamp_column,
};
use jiff::Timestamp;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe};
use switchboard_core::ports::StoreError;
use switchboard_core::users::AuditEntry;

const TABLE: &str = "audit_log";

/// A console or API change to write; the database assigns the id.
#[derive(Debug)]
pub(crate) struct NewEntry<'a> {
    pub at: Timestamp,
    pub actor: &'a str,
    pub action: &'a str,
    pub number: &'a str,
    pub graph_user_id: Option<&'a str>,
    pub detail: serde_json::Value,
}

pub(crate) async fn write(conn: &mut AnyConnection, e: &NewEntry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, number, graph_user_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(millis(e.at))
    .bind(e.actor)
    .bind(e.action)
    .bind(e.number)
    .bind(e.graph_user_id)
    .bind(json_text(&e.detail))
    .execute(conn)
    .await?;
    Ok(())
}

/// Entries that share their time, actor and run (one sync batch), written in order.
#[derive(Debug)]
pub(crate) struct BatchEntry {
    pub action: &'static str,
    pub number: String,
    pub graph_user_id: Option<String>,
    pub detail: serde_json::Value,
}

/// Rows per statement (3 shared and 4 per-row parameters stay under 999).
const BATCH_ROWS: usize = 200;

/// Writes the entries in order (ids ascending), up to 200 per statement.
pub(crate) async fn write_batch(
    conn: &mut AnyConnection,
    at: Timestamp,
    actor: &str,
    run_id: &str,
    entries: &[BatchEntry],
) -> Result<(), sqlx::Error> {
    for chunk in entries.chunks(BATCH_ROWS) {
        // $1 = at, $2 = actor, $3 = run id, then 4 per entry.
        let values = (0..chunk.len())
            .map(|i| {
                let n = 4 + i * 4;
                format!("($1, $2, ${n}, ${}, ${}, $3, ${})", n + 1, n + 2, n + 3)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO audit_log (at, actor, action, number, graph_user_id, run_id, detail) \
             VALUES {values}"
        );
        let mut statement = sqlx::query(AssertSqlSafe(sql))
            .persistent(cache_statement(chunk.len(), BATCH_ROWS))
            .bind(millis(at))
            .bind(actor)
            .bind(run_id);
        for e in chunk {
            statement = statement
                .bind(e.action)
                .bind(e.number.as_str())
                .bind(e.graph_user_id.as_deref())
                .bind(json_text(&e.detail));
        }
        statement.execute(&mut *conn).await?;
    }
    Ok(())
}

pub(crate) async fn list(
    pool: &AnyPool,
    number: Option<&str>,
    limit: u32,
) -> Result<Vec<AuditEntry>, StoreError> {
    const DOING: &str = "reading the audit log";
    let limit = i64::from(limit);
    let rows = match number {
        Some(number) => {
            sqlx::query(
                "SELECT id, at, actor, action, number, graph_user_id, detail FROM audit_log \
                 WHERE number = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(number)
            .bind(limit)
            .fetch_all(pool)
            .await
        }
        None => {
            sqlx::query(
                "SELECT id, at, actor, action, number, graph_user_id, detail FROM audit_log \
                 ORDER BY id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await
        }
    }
    .map_err(|e| db_error(DOING, e))?;
    rows.iter()
        .map(|row| {
            let id: i64 = column(row, TABLE, "id")?;
            Ok(AuditEntry {
                id,
                at: timestamp_column(row, TABLE, "at")?,
                actor: column(row, TABLE, "actor")?,
                action: column(row, TABLE, "action")?,
                number: column(row, TABLE, "number")?,
                graph_user_id: column(row, TABLE, "graph_user_id")?,
                detail: json_column(row, TABLE, "detail", &format!("entry {id}"))?,
            })
        })
        .collect()
}
