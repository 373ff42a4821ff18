//! Presence: each extension's calendar entries (`calendar_entries`, only what the presence
//! machine needs: never a subject or body) and its presence state (`presence`, the block in
//! progress as columns).
//!
//! Rules:
//! - `save_calendar` replaces an extension's entries and upserts its state in one transaction:
//!   after a crash the state always matches the entries it was computed from.
//! - Both tables belong to an extension (foreign key, `ON DELETE CASCADE`): saving for a number
//!   that is not an extension is refused, and deleting an extension forgets its presence.
//! - Timestamps are kept to the millisecond. Graph's event times are whole seconds, so every
//!   boundary the machine replays stays on the same side of a truncated `as_of`.

use crate::open::{Engine, SqlStore};
use crate::support::{
    begin_write, cache_statement, column, commit, db_error, flag_column, is_foreign_key_violation,
    millis, optional_timestamp_column, placeholders, timestamp_column,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe};
use std::collections::HashSet;
use switchboard_core::ports::{PresenceStore, StoreError};
use switchboard_core::presence::{
    Block, CalendarEntry, PresenceState, Remembered, ShowAs, Status, StatusSource,
};

const ENTRIES: &str = "calendar_entries";
const PRESENCE: &str = "presence";

/// Entries per multi-row insert: at most 16 rows (1 shared and 6 per-row parameters; statements
/// of up to 16 rows stay prepared, see `cache_statement`) and, past the first row, about 12 KiB
/// of values. Bigger statements stall on PostgreSQL over TCP (see `phonebook::ENTRY_ROWS`);
/// with Graph's ids of about 150 bytes a statement is about 3 KiB, so only unusually long ids
/// ever split earlier.
const ENTRY_ROWS: usize = 16;
const STATEMENT_BYTES: usize = 12 * 1024;
const PER_ROW: usize = 6;

const PRESENCE_COLUMNS: &str = "number, status, source, until_at, as_of, block_started_at, \
     block_ends_at, restore_status, restore_source, block_entry_id, overridden_at";

#[async_trait]
impl PresenceStore for SqlStore {
    async fn save_calendar(
        &self,
        number: &str,
        entries: &[CalendarEntry],
        state: &PresenceState,
    ) -> Result<(), StoreError> {
        save_calendar(&self.pool, self.engine(), number, entries, state).await
    }

    async fn calendar_entries(&self, number: &str) -> Result<Vec<CalendarEntry>, StoreError> {
        calendar_entries(&self.pool, number).await
    }

    async fn load_presence(&self, number: &str) -> Result<Option<PresenceState>, StoreError> {
        load_presence(&self.pool, number).await
    }

    async fn save_presence(&self, number: &str, state: &PresenceState) -> Result<(), StoreError> {
        save_presence(&self.pool, number, state).await
    }

    async fn list_presence(&self) -> Result<Vec<(String, PresenceState)>, StoreError> {
        list_presence(&self.pool).await
    }

    async fn remove_calendar(&self, number: &str) -> Result<(), StoreError> {
        remove_calendar(&self.pool, number).await
    }
}

// --- decoding ----------------------------------------------------------------------------------

fn parse_show_as(s: &str) -> Option<ShowAs> {
    // Strict, unlike `ShowAs::from_graph`: the store only ever writes Graph's exact spelling.
    ShowAs::ALL.into_iter().find(|v| v.as_graph_str() == s)
}

fn decode_entry(row: &AnyRow, number: &str) -> Result<CalendarEntry, StoreError> {
    let id: String = column(row, ENTRIES, "event_id")?;
    let show_as: String = column(row, ENTRIES, "show_as")?;
    let show_as = parse_show_as(&show_as).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{ENTRIES}.show_as of entry {id} of extension {number}: unknown showAs \"{show_as}\""
        ))
    })?;
    Ok(CalendarEntry {
        start: timestamp_column(row, ENTRIES, "start_at")?,
        end: timestamp_column(row, ENTRIES, "end_at")?,
        show_as,
        is_all_day: flag_column(row, ENTRIES, "is_all_day")?,
        is_cancelled: flag_column(row, ENTRIES, "is_cancelled")?,
        id,
    })
}

fn status_column(row: &AnyRow, name: &str, number: &str) -> Result<Option<Status>, StoreError> {
    let text: Option<String> = column(row, PRESENCE, name)?;
    text.map(|s| {
        s.parse().map_err(|e| {
            StoreError::Corrupt(format!("{PRESENCE}.{name} of extension {number}: {e}"))
        })
    })
    .transpose()
}

fn source_column(
    row: &AnyRow,
    name: &str,
    number: &str,
) -> Result<Option<StatusSource>, StoreError> {
    let text: Option<String> = column(row, PRESENCE, name)?;
    text.map(|s| {
        s.parse().map_err(|_| {
            StoreError::Corrupt(format!(
                "{PRESENCE}.{name} of extension {number}: unknown source \"{s}\" \
                 (expected manual, calendar or default)"
            ))
        })
    })
    .transpose()
}

fn decode_presence(row: &AnyRow) -> Result<(String, PresenceState), StoreError> {
    let number: String = column(row, PRESENCE, "number")?;
    let missing = |name: &str| {
        StoreError::Corrupt(format!("{PRESENCE}.{name} of extension {number} is NULL"))
    };
    let status = status_column(row, "status", &number)?.ok_or_else(|| missing("status"))?;
    let source = source_column(row, "source", &number)?.ok_or_else(|| missing("source"))?;
    let started_at = optional_timestamp_column(row, PRESENCE, "block_started_at")?;
    let ends_at = optional_timestamp_column(row, PRESENCE, "block_ends_at")?;
    let restore_status = status_column(row, "restore_status", &number)?;
    let restore_source = source_column(row, "restore_source", &number)?;
    let entry_id: Option<String> = column(row, PRESENCE, "block_entry_id")?;
    let overridden_at = optional_timestamp_column(row, PRESENCE, "overridden_at")?;
    let block = match (
        started_at,
        ends_at,
        restore_status,
        restore_source,
        entry_id,
    ) {
        (Some(started_at), Some(ends_at), Some(status), Some(source), Some(entry_id)) => {
            Some(Block {
                started_at,
                ends_at,
                restore: Remembered { status, source },
                entry_id,
                overridden_at,
            })
        }
        (None, None, None, None, None) if overridden_at.is_none() => None,
        _ => {
            return Err(StoreError::Corrupt(format!(
                "{PRESENCE} of extension {number}: the block columns are only partly set"
            )));
        }
    };
    let state = PresenceState {
        status,
        source,
        block,
        until: optional_timestamp_column(row, PRESENCE, "until_at")?,
        as_of: timestamp_column(row, PRESENCE, "as_of")?,
    };
    Ok((number, state))
}

// --- writing -----------------------------------------------------------------------------------

/// Replaces the extension's entries and upserts its state in one transaction. A list naming an
/// event id twice is refused before anything is written (`Conflict`), as is a number that is not
/// an extension (`Database`).
async fn save_calendar(
    pool: &AnyPool,
    engine: Engine,
    number: &str,
    entries: &[CalendarEntry],
    state: &PresenceState,
) -> Result<(), StoreError> {
    let doing = || format!("saving the calendar of extension {number}");
    let mut seen = HashSet::with_capacity(entries.len());
    if let Some(twice) = entries.iter().find(|e| !seen.insert(e.id.as_str())) {
        return Err(StoreError::Conflict(format!(
            "calendar entry {} (listed twice for extension {number})",
            twice.id
        )));
    }
    let mut tx = begin_write(pool, engine, &doing()).await?;
    let written = async {
        // The state first: its row lock makes a concurrent save of the same extension wait
        // here on PostgreSQL (SQLite's write lock already does), so the two never interleave
        // their deletes and inserts.
        upsert_presence(&mut tx, number, state).await?;
        sqlx::query("DELETE FROM calendar_entries WHERE number = $1")
            .bind(number)
            .execute(&mut *tx)
            .await?;
        insert_entries(&mut tx, number, entries).await
    }
    .await;
    // Dropping `tx` on an error rolls everything back.
    written.map_err(|e| write_error(&doing(), number, e))?;
    commit(tx, &doing()).await
}

/// Saves the state alone.
async fn save_presence(
    pool: &AnyPool,
    number: &str,
    state: &PresenceState,
) -> Result<(), StoreError> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| db_error("saving a presence", e))?;
    upsert_presence(&mut conn, number, state)
        .await
        .map_err(|e| {
            write_error(
                &format!("saving the presence of extension {number}"),
                number,
                e,
            )
        })
}

fn write_error(doing: &str, number: &str, error: sqlx::Error) -> StoreError {
    if is_foreign_key_violation(&error) {
        StoreError::Database(format!("{doing}: there is no extension {number}"))
    } else {
        db_error(doing, error)
    }
}

/// What a row adds to a statement's bind data: its values and a length per parameter.
fn row_bytes(entry: &CalendarEntry) -> usize {
    entry.id.len() + entry.show_as.as_graph_str().len() + PER_ROW * 8
}

/// Splits entries into statements of at most [`ENTRY_ROWS`] rows and, past the first row, about
/// [`STATEMENT_BYTES`].
fn statements(entries: &[CalendarEntry]) -> Vec<&[CalendarEntry]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, entry) in entries.iter().enumerate() {
        let size = row_bytes(entry);
        if i > start && (i - start == ENTRY_ROWS || bytes + size > STATEMENT_BYTES) {
            out.push(&entries[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < entries.len() {
        out.push(&entries[start..]);
    }
    out
}

async fn insert_entries(
    conn: &mut AnyConnection,
    number: &str,
    entries: &[CalendarEntry],
) -> Result<(), sqlx::Error> {
    for chunk in statements(entries) {
        // $1 = number, then 6 per row.
        let values = (0..chunk.len())
            .map(|i| format!("($1, {})", placeholders(2 + i * PER_ROW, PER_ROW)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO calendar_entries \
                    (number, event_id, start_at, end_at, show_as, is_all_day, is_cancelled) \
             VALUES {values}"
        );
        let mut statement = sqlx::query(AssertSqlSafe(sql))
            .persistent(cache_statement(chunk.len(), ENTRY_ROWS))
            .bind(number);
        for e in chunk {
            statement = statement
                .bind(e.id.as_str())
                .bind(millis(e.start))
                .bind(millis(e.end))
                .bind(e.show_as.as_graph_str())
                .bind(e.is_all_day)
                .bind(e.is_cancelled);
        }
        statement.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn upsert_presence(
    conn: &mut AnyConnection,
    number: &str,
    state: &PresenceState,
) -> Result<(), sqlx::Error> {
    let block = state.block.as_ref();
    sqlx::query(
        "INSERT INTO presence (number, status, source, until_at, as_of, block_started_at, \
                block_ends_at, restore_status, restore_source, block_entry_id, overridden_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (number) DO UPDATE SET \
                status = excluded.status, \
                source = excluded.source, \
                until_at = excluded.until_at, \
                as_of = excluded.as_of, \
                block_started_at = excluded.block_started_at, \
                block_ends_at = excluded.block_ends_at, \
                restore_status = excluded.restore_status, \
                restore_source = excluded.restore_source, \
                block_entry_id = excluded.block_entry_id, \
                overridden_at = excluded.overridden_at",
    )
    .bind(number)
    .bind(state.status.as_str())
    .bind(state.source.as_str())
    .bind(state.until.map(millis))
    .bind(millis(state.as_of))
    .bind(block.map(|b| millis(b.started_at)))
    .bind(block.map(|b| millis(b.ends_at)))
    .bind(block.map(|b| b.restore.status.as_str()))
    .bind(block.map(|b| b.restore.source.as_str()))
    .bind(block.map(|b| b.entry_id.as_str()))
    .bind(block.and_then(|b| b.overridden_at).map(millis))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Forgets the extension's entries; its presence row stays.
async fn remove_calendar(pool: &AnyPool, number: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM calendar_entries WHERE number = $1")
        .bind(number)
        .execute(pool)
        .await
        .map_err(|e| db_error(&format!("removing the calendar of extension {number}"), e))?;
    Ok(())
}

// --- reading -----------------------------------------------------------------------------------

/// The extension's entries by start, then id (bytewise on both engines).
async fn calendar_entries(pool: &AnyPool, number: &str) -> Result<Vec<CalendarEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT event_id, start_at, end_at, show_as, is_all_day, is_cancelled \
         FROM calendar_entries WHERE number = $1 ORDER BY start_at, event_id",
    )
    .bind(number)
    .fetch_all(pool)
    .await
    .map_err(|e| db_error(&format!("reading the calendar of extension {number}"), e))?;
    rows.iter().map(|row| decode_entry(row, number)).collect()
}

async fn load_presence(pool: &AnyPool, number: &str) -> Result<Option<PresenceState>, StoreError> {
    let sql = format!("SELECT {PRESENCE_COLUMNS} FROM presence WHERE number = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(number)
        .fetch_optional(pool)
        .await
        .map_err(|e| db_error(&format!("loading the presence of extension {number}"), e))?;
    row.as_ref()
        .map(|row| decode_presence(row).map(|(_, state)| state))
        .transpose()
}

/// Every stored presence in extension-number order as the extension list shows it (shorter
/// numbers first, so 99 comes before 100).
async fn list_presence(pool: &AnyPool) -> Result<Vec<(String, PresenceState)>, StoreError> {
    let sql = format!("SELECT {PRESENCE_COLUMNS} FROM presence ORDER BY LENGTH(number), number");
    let rows = sqlx::query(AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .map_err(|e| db_error("listing presence", e))?;
    rows.iter().map(decode_presence).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn entry(id: String) -> CalendarEntry {
        CalendarEntry {
            id,
            start: Timestamp::UNIX_EPOCH,
            end: Timestamp::UNIX_EPOCH,
            show_as: ShowAs::Busy,
            is_all_day: false,
            is_cancelled: false,
        }
    }

    #[test]
    fn statements_are_bounded_in_rows_and_bytes() {
        let sizes = |entries: &[CalendarEntry]| {
            statements(entries)
                .iter()
                .map(|s| s.len())
                .collect::<Vec<_>>()
        };
        assert!(statements(&[]).is_empty());
        let short: Vec<_> = (0..20).map(|i| entry(format!("AAMk{i:0>148}"))).collect();
        assert_eq!(sizes(&short), [16, 4]);
        let long: Vec<_> = (0..5).map(|i| entry(format!("{i:0>5000}"))).collect();
        assert_eq!(sizes(&long), [2, 2, 1]);
        // A row bigger than the budget still gets a statement of its own.
        let huge = vec![entry("x".repeat(20_000)), entry("y".into())];
        assert_eq!(sizes(&huge), [1, 1]);
    }

    #[test]
    fn show_as_is_read_strictly() {
        for show_as in ShowAs::ALL {
            assert_eq!(parse_show_as(show_as.as_graph_str()), Some(show_as));
        }
        assert_eq!(parse_show_as("Busy"), None);
        assert_eq!(parse_show_as("somethingNew"), None);
    }
}
