//! Where sync runs resume (`sync_state`), what each run did (`sync_runs`) and the runtime
//! settings edited in the console (`settings`, JSON documents by key).

use crate::support::{
    column, count, db_error, json_column, json_text, millis, optional_timestamp_column,
    timestamp_column, to_bigint,
};
use jiff::Timestamp;
use sqlx::AnyPool;
use sqlx::any::AnyRow;
use switchboard_core::ports::StoreError;
use switchboard_core::users::{RunCounts, RunMode, SyncRunRecord, SyncState};

// --- sync state ---------------------------------------------------------------------------------

pub(crate) async fn load_state(pool: &AnyPool, key: &str) -> Result<SyncState, StoreError> {
    const TABLE: &str = "sync_state";
    let row =
        sqlx::query("SELECT delta_link, last_full_sync, last_error FROM sync_state WHERE key = $1")
            .bind(key)
            .fetch_optional(pool)
            .await
            .map_err(|e| db_error("loading the sync state", e))?;
    let Some(row) = row else {
        return Ok(SyncState::default());
    };
    Ok(SyncState {
        delta_link: column(&row, TABLE, "delta_link")?,
        last_full_sync: optional_timestamp_column(&row, TABLE, "last_full_sync")?,
        last_error: column(&row, TABLE, "last_error")?,
    })
}

pub(crate) async fn save_state(
    pool: &AnyPool,
    key: &str,
    state: &SyncState,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sync_state (key, delta_link, last_full_sync, last_error) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (key) DO UPDATE SET \
                delta_link = excluded.delta_link, \
                last_full_sync = excluded.last_full_sync, \
                last_error = excluded.last_error",
    )
    .bind(key)
    .bind(state.delta_link.as_deref())
    .bind(state.last_full_sync.map(millis))
    .bind(state.last_error.as_deref())
    .execute(pool)
    .await
    .map_err(|e| db_error("saving the sync state", e))?;
    Ok(())
}

// --- sync runs ----------------------------------------------------------------------------------

fn mode_str(mode: RunMode) -> &'static str {
    match mode {
        RunMode::Full => "full",
        RunMode::Delta => "delta",
    }
}

fn parse_mode(s: &str) -> Option<RunMode> {
    match s {
        "full" => Some(RunMode::Full),
        "delta" => Some(RunMode::Delta),
        _ => None,
    }
}

pub(crate) async fn save_run(pool: &AnyPool, run: &SyncRunRecord) -> Result<(), StoreError> {
    const DOING: &str = "saving a sync run";
    let c = &run.counts;
    let n = |value: u64| to_bigint(value, DOING);
    sqlx::query(
        "INSERT INTO sync_runs (id, kind, mode, started_at, finished_at, created, updated, \
                disabled, enabled, removed, skipped, processed, error) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (id) DO UPDATE SET \
                kind = excluded.kind, \
                mode = excluded.mode, \
                started_at = excluded.started_at, \
                finished_at = excluded.finished_at, \
                created = excluded.created, \
                updated = excluded.updated, \
                disabled = excluded.disabled, \
                enabled = excluded.enabled, \
                removed = excluded.removed, \
                skipped = excluded.skipped, \
                processed = excluded.processed, \
                error = excluded.error",
    )
    .bind(run.id.as_str())
    .bind(run.kind.as_str())
    .bind(mode_str(run.mode))
    .bind(millis(run.started_at))
    .bind(run.finished_at.map(millis))
    .bind(n(c.created)?)
    .bind(n(c.updated)?)
    .bind(n(c.disabled)?)
    .bind(n(c.enabled)?)
    .bind(n(c.removed)?)
    .bind(n(c.skipped)?)
    .bind(n(run.processed)?)
    .bind(run.error.as_deref())
    .execute(pool)
    .await
    .map_err(|e| db_error(DOING, e))?;
    Ok(())
}

pub(crate) async fn recent_runs(
    pool: &AnyPool,
    kind: &str,
    limit: u32,
) -> Result<Vec<SyncRunRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, kind, mode, started_at, finished_at, created, updated, disabled, enabled, \
                removed, skipped, processed, error \
         FROM sync_runs WHERE kind = $1 ORDER BY started_at DESC, id DESC LIMIT $2",
    )
    .bind(kind)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(|e| db_error("reading sync runs", e))?;
    rows.iter().map(decode_run).collect()
}

fn decode_run(row: &AnyRow) -> Result<SyncRunRecord, StoreError> {
    const TABLE: &str = "sync_runs";
    let n = |name: &str| -> Result<u64, StoreError> {
        let value: i64 = column(row, TABLE, name)?;
        count(value, &format!("{TABLE}.{name}"))
    };
    let mode: String = column(row, TABLE, "mode")?;
    let mode = parse_mode(&mode)
        .ok_or_else(|| StoreError::Corrupt(format!("{TABLE}.mode: unknown run mode \"{mode}\"")))?;
    Ok(SyncRunRecord {
        id: column(row, TABLE, "id")?,
        kind: column(row, TABLE, "kind")?,
        mode,
        started_at: timestamp_column(row, TABLE, "started_at")?,
        finished_at: optional_timestamp_column(row, TABLE, "finished_at")?,
        counts: RunCounts {
            created: n("created")?,
            updated: n("updated")?,
            disabled: n("disabled")?,
            enabled: n("enabled")?,
            removed: n("removed")?,
            skipped: n("skipped")?,
        },
        processed: n("processed")?,
        error: column(row, TABLE, "error")?,
    })
}

// --- settings -----------------------------------------------------------------------------------

pub(crate) async fn load_setting(
    pool: &AnyPool,
    key: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(|e| db_error("loading a setting", e))?;
    row.map(|row| json_column(&row, "settings", "value", &format!("setting \"{key}\"")))
        .transpose()
}

pub(crate) async fn save_setting(
    pool: &AnyPool,
    key: &str,
    value: &serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(json_text(value))
    .bind(millis(Timestamp::now()))
    .execute(pool)
    .await
    .map_err(|e| db_error("saving a setting", e))?;
    Ok(())
}
