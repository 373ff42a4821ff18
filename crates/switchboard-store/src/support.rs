//! What the aggregate modules share: error mapping, row decoding, timestamp conversion, `IN`
//! lists and write transactions.

use crate::open::Engine;
use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Decode, Row, Transaction, Type};
use switchboard_core::ports::StoreError;

/// A failed statement, described by what was being done ("saving the connection").
pub(crate) fn db_error(doing: &str, error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt(format!("{doing}: {error}"))
        }
        other => StoreError::Database(format!("{doing}: {other}")),
    }
}

/// Whether the statement failed on a unique or primary-key constraint.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// Whether the statement failed on a foreign-key constraint.
pub(crate) fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_foreign_key_violation())
}

/// Reads one column; a value of the wrong type is `Corrupt`, naming `table.column`.
pub(crate) fn column<'r, T>(row: &'r AnyRow, table: &str, name: &str) -> Result<T, StoreError>
where
    T: Decode<'r, Any> + Type<Any>,
{
    row.try_get::<T, _>(name)
        .map_err(|e| StoreError::Corrupt(format!("{table}.{name}: {e}")))
}

pub(crate) fn millis(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

/// Reads a Unix-milliseconds column back into a timestamp.
pub(crate) fn timestamp_column(
    row: &AnyRow,
    table: &str,
    name: &str,
) -> Result<Timestamp, StoreError> {
    let ms: i64 = column(row, table, name)?;
    from_millis(ms, table, name)
}

pub(crate) fn optional_timestamp_column(
    row: &AnyRow,
    table: &str,
    name: &str,
) -> Result<Option<Timestamp>, StoreError> {
    let ms: Option<i64> = column(row, table, name)?;
    ms.map(|ms| from_millis(ms, table, name)).transpose()
}

pub(crate) fn from_millis(ms: i64, table: &str, name: &str) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms)
        .map_err(|e| StoreError::Corrupt(format!("{table}.{name}: {ms} is not a timestamp: {e}")))
}

/// A row count from the database as the unsigned number the ports use.
pub(crate) fn count(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what}: negative count {n}")))
}

/// Reads a flag: `BOOLEAN` on PostgreSQL, `INTEGER` 0/1 on SQLite (the Any driver maps SQLite
/// integers to integers, never to bool).
pub(crate) fn flag_column(row: &AnyRow, table: &str, name: &str) -> Result<bool, StoreError> {
    if let Ok(flag) = row.try_get::<bool, _>(name) {
        return Ok(flag);
    }
    match column::<i64>(row, table, name)? {
        0 => Ok(false),
        1 => Ok(true),
        n => Err(StoreError::Corrupt(format!(
            "{table}.{name}: {n} is not a flag (0 or 1)"
        ))),
    }
}

/// An unsigned count as the signed BIGINT the database stores.
pub(crate) fn to_bigint(n: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Database(format!("{what}: {n} is too large to store")))
}

/// A JSON document as stored in a TEXT column.
pub(crate) fn json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

/// Parses a JSON TEXT column; invalid JSON is `Corrupt`, naming `table.column` and `whose`.
pub(crate) fn json_column(
    row: &AnyRow,
    table: &str,
    name: &str,
    whose: &str,
) -> Result<serde_json::Value, StoreError> {
    let text: String = column(row, table, name)?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("{table}.{name} of {whose}: invalid JSON: {e}")))
}

/// The most bind parameters one `IN (…)` list gets; longer lists are split into several queries.
pub(crate) const IN_CHUNK: usize = 500;

/// Whether a statement built for `rows` rows (or `IN` values) of at most `full` per statement
/// is kept prepared in the connection's statement cache: full chunks and short ones are, the
/// odd-sized rest of a long list is not. Each cached statement holds its compiled program on its
/// connection (a multi-row insert or a 500-value `IN` list is tens of KiB), and a remainder
/// differs from page to page, so caching those would fill every connection's cache with
/// statements that are never reused.
pub(crate) fn cache_statement(rows: usize, full: usize) -> bool {
    rows == full || rows <= 16
}

/// `$first, $first+1, …` for `count` parameters: the placeholders of an `IN (…)` list. Built
/// from numbers only, never from data, so SQL made with it is safe to assert as such.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Begins a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), so reading first and writing later cannot fail on a lock upgrade (the
/// busy timeout applies instead); PostgreSQL transactions lock rows with `SELECT … FOR UPDATE`.
pub(crate) async fn begin_write(
    pool: &AnyPool,
    engine: Engine,
    doing: &str,
) -> Result<Transaction<'static, Any>, StoreError> {
    let begun = match engine {
        Engine::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Engine::Postgres => pool.begin().await,
    };
    begun.map_err(|e| db_error(doing, e))
}

/// Commits, describing a failure by what was being done.
pub(crate) async fn commit(tx: Transaction<'static, Any>, doing: &str) -> Result<(), StoreError> {
    tx.commit().await.map_err(|e| db_error(doing, e))
}
