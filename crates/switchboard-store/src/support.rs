//! What the aggregate modules share: error mapping, row decoding and timestamp conversion.

use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{Any, Decode, Row, Type};
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
