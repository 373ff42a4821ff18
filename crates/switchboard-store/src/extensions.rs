//! Extensions: the rows, their groups and tombstones, and what the API and a sync run read.
//! Writes shared by sync batches (`user_batch.rs`) and console changes (`local_changes.rs`) are
//! here too, each taking the connection of an open transaction.

use crate::open::Engine;
use crate::support::{
    IN_CHUNK, cache_statement, column, count, db_error, flag_column, millis,
    optional_timestamp_column, placeholders, timestamp_column,
};
use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe};
use std::collections::{BTreeMap, HashMap, HashSet};
use switchboard_core::ports::StoreError;
use switchboard_core::users::DEPARTMENT_GROUP_PREFIX;
use switchboard_core::users::{
    Extension, ExtensionQuery, ExtensionRecord, Origin, PlanningSnapshot, SyncedFields,
};

const TABLE: &str = "extensions";

/// The most rows one `list` call returns.
pub(crate) const MAX_PAGE: u32 = 1000;

/// The columns every extension query selects, from `extensions e`.
macro_rules! columns {
    () => {
        "e.number, e.origin, e.graph_user_id, e.first_name, e.last_name, e.display_name, \
         e.email, e.upn, e.mobile, e.business_phone, e.job_title, e.department, e.office, \
         e.usage_location, e.enabled, e.excluded, e.created_at, e.updated_at, e.synced_at"
    };
}

/// An extension row as stored (without its groups).
#[derive(Debug, Clone)]
pub(crate) struct StoredExtension {
    pub ext: Extension,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub synced_at: Option<Timestamp>,
}

impl StoredExtension {
    fn into_record(self, groups: Vec<String>) -> ExtensionRecord {
        ExtensionRecord {
            number: self.ext.number,
            origin: self.ext.origin,
            graph_user_id: self.ext.graph_user_id,
            fields: self.ext.fields,
            enabled: self.ext.enabled,
            excluded: self.ext.excluded,
            groups,
            created_at: self.created_at,
            updated_at: self.updated_at,
            synced_at: self.synced_at,
        }
    }
}

pub(crate) fn origin_str(origin: Origin) -> &'static str {
    match origin {
        Origin::AzureAd => "azure_ad",
        Origin::Local => "local",
    }
}

fn parse_origin(s: &str) -> Option<Origin> {
    match s {
        "azure_ad" => Some(Origin::AzureAd),
        "local" => Some(Origin::Local),
        _ => None,
    }
}

fn decode(row: &AnyRow) -> Result<StoredExtension, StoreError> {
    let text = |name: &str| column::<String>(row, TABLE, name);
    let origin = text("origin")?;
    let origin = parse_origin(&origin).ok_or_else(|| {
        StoreError::Corrupt(format!("{TABLE}.origin: unknown origin \"{origin}\""))
    })?;
    let ext = Extension {
        number: text("number")?,
        origin,
        graph_user_id: column(row, TABLE, "graph_user_id")?,
        fields: SyncedFields {
            first_name: text("first_name")?,
            last_name: text("last_name")?,
            display_name: text("display_name")?,
            email: text("email")?,
            upn: text("upn")?,
            mobile: text("mobile")?,
            business_phone: text("business_phone")?,
            job_title: text("job_title")?,
            department: text("department")?,
            office: text("office")?,
            usage_location: text("usage_location")?,
        },
        enabled: flag_column(row, TABLE, "enabled")?,
        excluded: flag_column(row, TABLE, "excluded")?,
    };
    Ok(StoredExtension {
        ext,
        created_at: timestamp_column(row, TABLE, "created_at")?,
        updated_at: timestamp_column(row, TABLE, "updated_at")?,
        synced_at: optional_timestamp_column(row, TABLE, "synced_at")?,
    })
}

/// The field of `fields` a [`FieldChange`](switchboard_core::users::FieldChange) names. A fixed
/// match: field names never reach SQL.
pub(crate) fn field_mut<'a>(
    fields: &'a mut SyncedFields,
    name: &str,
) -> Result<&'a mut String, StoreError> {
    fields
        .field_mut(name)
        .ok_or_else(|| StoreError::Database(format!("unknown extension field \"{name}\"")))
}

// --- reads -------------------------------------------------------------------------------------

pub(crate) async fn list(
    pool: &AnyPool,
    query: &ExtensionQuery,
) -> Result<Vec<ExtensionRecord>, StoreError> {
    const DOING: &str = "listing extensions";
    // Assembled from fixed fragments; every value is a bind parameter.
    let mut sql = String::from(concat!("SELECT ", columns!(), " FROM extensions e"));
    let mut binds: Vec<String> = Vec::new();
    if let Some(group) = &query.group {
        binds.push(group.clone());
        sql.push_str(&format!(
            " JOIN extension_groups g ON g.number = e.number AND g.group_name = ${}",
            binds.len()
        ));
    }
    let mut conditions = Vec::new();
    if let Some(after) = &query.after {
        binds.push(after.clone());
        // Numbers are digits: shorter first, then by text, is numeric order (99 < 100 < 1000).
        let p = binds.len();
        conditions.push(format!(
            "(LENGTH(e.number) > LENGTH(${p}) OR (LENGTH(e.number) = LENGTH(${p}) AND e.number > ${p}))"
        ));
    }
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        binds.push(format!("%{}%", escape_like(&q.to_lowercase())));
        let p = binds.len();
        let any_column = [
            "e.number",
            "e.first_name",
            "e.last_name",
            "e.display_name",
            "e.email",
            "e.upn",
        ]
        .map(|c| format!("LOWER({c}) LIKE ${p} ESCAPE '\\'"))
        .join(" OR ");
        conditions.push(format!("({any_column})"));
    }
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(&format!(
        " ORDER BY LENGTH(e.number), e.number LIMIT ${}",
        binds.len() + 1
    ));

    let limit = i64::from(query.limit.clamp(1, MAX_PAGE));
    let mut statement = sqlx::query(AssertSqlSafe(sql));
    for value in binds {
        statement = statement.bind(value);
    }
    let rows = statement
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(|e| db_error(DOING, e))?;
    let stored = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
    let numbers: Vec<String> = stored.iter().map(|s| s.ext.number.clone()).collect();
    let mut groups = groups_of(pool, &numbers).await?;
    Ok(stored
        .into_iter()
        .map(|s| {
            let g = groups.remove(&s.ext.number).unwrap_or_default();
            s.into_record(g)
        })
        .collect())
}

/// `%`, `_` and the escape character itself match literally (`ESCAPE '\'`).
pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Group names by number, each list sorted (in Rust, so both engines agree).
async fn groups_of(
    pool: &AnyPool,
    numbers: &[String],
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in numbers.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT number, group_name FROM extension_groups WHERE number IN ({})",
            placeholders(1, chunk.len())
        );
        let mut statement =
            sqlx::query(AssertSqlSafe(sql)).persistent(cache_statement(chunk.len(), IN_CHUNK));
        for n in chunk {
            statement = statement.bind(n.as_str());
        }
        let rows = statement
            .fetch_all(pool)
            .await
            .map_err(|e| db_error("reading extension groups", e))?;
        for row in &rows {
            let number: String = column(row, "extension_groups", "number")?;
            let group: String = column(row, "extension_groups", "group_name")?;
            out.entry(number).or_default().push(group);
        }
    }
    for groups in out.values_mut() {
        groups.sort();
    }
    Ok(out)
}

pub(crate) async fn get(
    pool: &AnyPool,
    number: &str,
) -> Result<Option<ExtensionRecord>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM extensions e WHERE e.number = $1"
    ))
    .bind(number)
    .fetch_optional(pool)
    .await
    .map_err(|e| db_error("reading an extension", e))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let stored = decode(&row)?;
    let mut groups = groups_of(pool, std::slice::from_ref(&stored.ext.number)).await?;
    let g = groups.remove(&stored.ext.number).unwrap_or_default();
    Ok(Some(stored.into_record(g)))
}

pub(crate) async fn count_all(pool: &AnyPool) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM extensions")
        .fetch_one(pool)
        .await
        .map_err(|e| db_error("counting extensions", e))?;
    count(n, "counting extensions")
}

pub(crate) async fn for_users(
    pool: &AnyPool,
    graph_user_ids: &[String],
) -> Result<Vec<Extension>, StoreError> {
    let mut seen = HashSet::new();
    let ids: Vec<&str> = graph_user_ids
        .iter()
        .map(String::as_str)
        .filter(|id| seen.insert(*id))
        .collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            concat!(
                "SELECT ",
                columns!(),
                " FROM extensions e WHERE e.graph_user_id IN ({})"
            ),
            placeholders(1, chunk.len())
        );
        let mut statement =
            sqlx::query(AssertSqlSafe(sql)).persistent(cache_statement(chunk.len(), IN_CHUNK));
        for id in chunk {
            statement = statement.bind(*id);
        }
        let rows = statement
            .fetch_all(pool)
            .await
            .map_err(|e| db_error("reading the extensions of users", e))?;
        for row in &rows {
            out.push(decode(row)?.ext);
        }
    }
    out.sort_by(|a, b| a.number.cmp(&b.number));
    Ok(out)
}

/// See [`ExtensionStore::rebuild_department_groups`](switchboard_core::ports::ExtensionStore).
pub(crate) async fn rebuild_department_groups(
    pool: &AnyPool,
    enabled: bool,
) -> Result<u64, StoreError> {
    const DOING: &str = "rebuilding the department groups";
    let mut tx = pool.begin().await.map_err(|e| db_error(DOING, e))?;
    // Only the sync's own groups: exactly the prefix, on synced extensions.
    sqlx::query(
        "DELETE FROM extension_groups WHERE SUBSTR(group_name, 1, LENGTH($1)) = $1 \
         AND number IN (SELECT number FROM extensions WHERE origin = 'azure_ad')",
    )
    .bind(DEPARTMENT_GROUP_PREFIX)
    .execute(&mut *tx)
    .await
    .map_err(|e| db_error(DOING, e))?;
    let mut written = 0;
    if enabled {
        written = sqlx::query(
            "INSERT INTO extension_groups (number, group_name) \
             SELECT number, $1 || department FROM extensions \
             WHERE origin = 'azure_ad' AND department <> ''",
        )
        .bind(DEPARTMENT_GROUP_PREFIX)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error(DOING, e))?
        .rows_affected();
    }
    tx.commit().await.map_err(|e| db_error(DOING, e))?;
    Ok(written)
}

/// Tombstones left by an admin's delete (the newest delete of that number in the audit log is
/// not the sync's). Looked up by number, which the audit log is indexed on.
pub(crate) async fn admin_deleted_synced_users(
    pool: &AnyPool,
    limit: u32,
) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar(
        "SELECT t.graph_user_id FROM extension_tombstones t \
         WHERE EXISTS (SELECT 1 FROM audit_log a \
                       WHERE a.number = t.number AND a.action = 'delete' \
                         AND a.graph_user_id = t.graph_user_id AND a.at >= t.deleted_at \
                         AND SUBSTR(a.actor, 1, 5) <> 'sync:') \
         ORDER BY t.graph_user_id LIMIT $1",
    )
    .bind(i64::from(limit.max(1)))
    .fetch_all(pool)
    .await
    .map_err(|e| db_error("reading synced extensions deleted by an admin", e))
}

/// Synced extensions edited after the sync last wrote them (`updated_at > synced_at`).
pub(crate) async fn locally_edited_synced_users(
    pool: &AnyPool,
    limit: u32,
) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar(
        "SELECT graph_user_id FROM extensions \
         WHERE graph_user_id IS NOT NULL AND excluded = $1 AND synced_at IS NOT NULL \
           AND updated_at > synced_at \
         ORDER BY graph_user_id LIMIT $2",
    )
    .bind(false)
    .bind(i64::from(limit.max(1)))
    .fetch_all(pool)
    .await
    .map_err(|e| db_error("reading locally edited synced extensions", e))
}

/// One keyset page of the synced (graph user id, number) pairs, ordered by graph user id: the
/// ids after `after`.
pub(crate) async fn synced_user_ids_page(
    pool: &AnyPool,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<(String, String)>, StoreError> {
    const DOING: &str = "reading synced users";
    let limit = i64::from(limit.max(1));
    let rows = match after {
        Some(after) => {
            sqlx::query(
                "SELECT graph_user_id, number FROM extensions \
                 WHERE graph_user_id > $1 ORDER BY graph_user_id LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await
        }
        None => {
            sqlx::query(
                "SELECT graph_user_id, number FROM extensions \
                 WHERE graph_user_id IS NOT NULL ORDER BY graph_user_id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await
        }
    }
    .map_err(|e| db_error(DOING, e))?;
    rows.iter()
        .map(|row| {
            Ok((
                column(row, TABLE, "graph_user_id")?,
                column(row, TABLE, "number")?,
            ))
        })
        .collect()
}

pub(crate) async fn planning_snapshot(pool: &AnyPool) -> Result<PlanningSnapshot, StoreError> {
    const DOING: &str = "reading the planning snapshot";
    let used_numbers: Vec<String> =
        sqlx::query_scalar("SELECT number FROM extensions ORDER BY number")
            .fetch_all(pool)
            .await
            .map_err(|e| db_error(DOING, e))?;
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM extensions e WHERE e.origin = 'local' AND e.email <> '' AND e.excluded = $1 \
         ORDER BY e.number"
    ))
    .bind(false)
    .fetch_all(pool)
    .await
    .map_err(|e| db_error(DOING, e))?;
    let adoptable = rows
        .iter()
        .map(|row| decode(row).map(|s| s.ext))
        .collect::<Result<Vec<_>, _>>()?;
    let rows = sqlx::query("SELECT graph_user_id, number FROM extension_tombstones")
        .fetch_all(pool)
        .await
        .map_err(|e| db_error(DOING, e))?;
    let remembered = rows
        .iter()
        .map(|row| {
            Ok((
                column(row, "extension_tombstones", "graph_user_id")?,
                column(row, "extension_tombstones", "number")?,
            ))
        })
        .collect::<Result<HashMap<_, _>, StoreError>>()?;
    Ok(PlanningSnapshot {
        used_numbers,
        adoptable,
        remembered,
    })
}

// --- reads inside a write transaction ------------------------------------------------------------

/// One extension, locked for the rest of the transaction on PostgreSQL (SQLite's `BEGIN
/// IMMEDIATE` already holds the write lock).
pub(crate) async fn find_for_update(
    conn: &mut AnyConnection,
    engine: Engine,
    number: &str,
) -> Result<Option<StoredExtension>, StoreError> {
    let sql = match engine {
        Engine::Sqlite => concat!(
            "SELECT ",
            columns!(),
            " FROM extensions e WHERE e.number = $1"
        ),
        Engine::Postgres => concat!(
            "SELECT ",
            columns!(),
            " FROM extensions e WHERE e.number = $1 FOR UPDATE"
        ),
    };
    let row = sqlx::query(sql)
        .bind(number)
        .fetch_optional(conn)
        .await
        .map_err(|e| db_error("reading an extension", e))?;
    row.as_ref().map(decode).transpose()
}

/// The extensions with these numbers, keyed by number, locked like [`find_for_update`].
pub(crate) async fn find_many_for_update(
    conn: &mut AnyConnection,
    engine: Engine,
    numbers: &[&str],
) -> Result<BTreeMap<String, Extension>, StoreError> {
    let lock = match engine {
        Engine::Sqlite => "",
        Engine::Postgres => " FOR UPDATE",
    };
    let mut out = BTreeMap::new();
    for chunk in numbers.chunks(IN_CHUNK) {
        let sql = format!(
            concat!(
                "SELECT ",
                columns!(),
                " FROM extensions e WHERE e.number IN ({}){}"
            ),
            placeholders(1, chunk.len()),
            lock
        );
        let mut statement =
            sqlx::query(AssertSqlSafe(sql)).persistent(cache_statement(chunk.len(), IN_CHUNK));
        for n in chunk {
            statement = statement.bind(*n);
        }
        let rows = statement
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| db_error("reading extensions", e))?;
        for row in &rows {
            let ext = decode(row)?.ext;
            out.insert(ext.number.clone(), ext);
        }
    }
    Ok(out)
}

/// (graph user id, number) of the extensions these users hold, locked like [`find_for_update`].
pub(crate) async fn numbers_of_users(
    conn: &mut AnyConnection,
    engine: Engine,
    graph_user_ids: &[&str],
) -> Result<Vec<(String, String)>, StoreError> {
    let lock = match engine {
        Engine::Sqlite => "",
        Engine::Postgres => " FOR UPDATE",
    };
    let mut out = Vec::new();
    for chunk in graph_user_ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT graph_user_id, number FROM extensions WHERE graph_user_id IN ({}){}",
            placeholders(1, chunk.len()),
            lock
        );
        let mut statement =
            sqlx::query(AssertSqlSafe(sql)).persistent(cache_statement(chunk.len(), IN_CHUNK));
        for id in chunk {
            statement = statement.bind(*id);
        }
        let rows = statement
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| db_error("reading the extensions of users", e))?;
        for row in &rows {
            out.push((
                column(row, TABLE, "graph_user_id")?,
                column(row, TABLE, "number")?,
            ));
        }
    }
    Ok(out)
}

/// Which of these users have a tombstone.
pub(crate) async fn tombstoned_among(
    conn: &mut AnyConnection,
    graph_user_ids: &[&str],
) -> Result<HashSet<String>, StoreError> {
    let mut out = HashSet::new();
    for chunk in graph_user_ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT graph_user_id FROM extension_tombstones WHERE graph_user_id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut statement = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql))
            .persistent(cache_statement(chunk.len(), IN_CHUNK));
        for id in chunk {
            statement = statement.bind(*id);
        }
        let ids = statement
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| db_error("reading tombstones", e))?;
        out.extend(ids);
    }
    Ok(out)
}

// --- writes (inside a transaction) ----------------------------------------------------------

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds the eleven [`SyncedFields`] columns in the order every column list here names them:
/// `first_name` … `office`, `usage_location`.
fn bind_fields<'q>(statement: AnyQuery<'q>, f: &SyncedFields) -> AnyQuery<'q> {
    statement
        .bind(f.first_name.as_str())
        .bind(f.last_name.as_str())
        .bind(f.display_name.as_str())
        .bind(f.email.as_str())
        .bind(f.upn.as_str())
        .bind(f.mobile.as_str())
        .bind(f.business_phone.as_str())
        .bind(f.job_title.as_str())
        .bind(f.department.as_str())
        .bind(f.office.as_str())
        .bind(f.usage_location.as_str())
}

/// Inserts an extension that was never synced (`synced_at` NULL).
pub(crate) async fn insert(
    conn: &mut AnyConnection,
    ext: &Extension,
    at: Timestamp,
) -> Result<(), sqlx::Error> {
    let statement = sqlx::query(
        "INSERT INTO extensions (number, origin, graph_user_id, first_name, last_name, \
                display_name, email, upn, mobile, business_phone, job_title, department, office, \
                usage_location, enabled, excluded, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                 $17)",
    )
    .bind(ext.number.as_str())
    .bind(origin_str(ext.origin))
    .bind(ext.graph_user_id.as_deref());
    bind_fields(statement, &ext.fields)
        .bind(ext.enabled)
        .bind(ext.excluded)
        .bind(millis(at))
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes what a console or API change may change: the fields and `excluded` (origin, user,
/// `enabled` and `synced_at` belong to the sync).
pub(crate) async fn update_local(
    conn: &mut AnyConnection,
    ext: &Extension,
    at: Timestamp,
) -> Result<(), sqlx::Error> {
    let statement = sqlx::query(
        "UPDATE extensions SET first_name = $2, last_name = $3, display_name = $4, email = $5, \
                upn = $6, mobile = $7, business_phone = $8, job_title = $9, department = $10, \
                office = $11, usage_location = $12, excluded = $13, updated_at = $14 \
         WHERE number = $1",
    )
    .bind(ext.number.as_str());
    bind_fields(statement, &ext.fields)
        .bind(ext.excluded)
        .bind(millis(at))
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes the row (its groups go with it); a synced one leaves a tombstone.
pub(crate) async fn delete(
    conn: &mut AnyConnection,
    ext: &Extension,
    at: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM extensions WHERE number = $1")
        .bind(ext.number.as_str())
        .execute(&mut *conn)
        .await?;
    if let Some(user) = &ext.graph_user_id {
        sqlx::query(
            "INSERT INTO extension_tombstones (graph_user_id, number, deleted_at) \
             VALUES ($1, $2, $3) \
             ON CONFLICT (graph_user_id) DO UPDATE SET \
                    number = excluded.number, deleted_at = excluded.deleted_at",
        )
        .bind(user.as_str())
        .bind(ext.number.as_str())
        .bind(millis(at))
        .execute(conn)
        .await?;
    }
    Ok(())
}

pub(crate) async fn remove_tombstone(
    conn: &mut AnyConnection,
    graph_user_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM extension_tombstones WHERE graph_user_id = $1")
        .bind(graph_user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds these extensions to a group; already a member is fine.
pub(crate) async fn add_to_group(
    conn: &mut AnyConnection,
    numbers: &[&str],
    group: &str,
) -> Result<(), sqlx::Error> {
    for chunk in numbers.chunks(GROUP_ROWS) {
        let rows = (0..chunk.len())
            .map(|i| format!("(${}, $1)", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO extension_groups (number, group_name) VALUES {rows} \
             ON CONFLICT (number, group_name) DO NOTHING"
        );
        let mut statement = sqlx::query(AssertSqlSafe(sql))
            .persistent(cache_statement(chunk.len(), GROUP_ROWS))
            .bind(group);
        for number in chunk {
            statement = statement.bind(*number);
        }
        statement.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rows per multi-row statement: every statement stays under SQLite's historical limit of 999
/// bind parameters.
const GROUP_ROWS: usize = 500;
const SYNCED_ROWS: usize = 64;

/// Writes synced extensions, all stamped `at`: new numbers are inserted (created at `at`), the
/// others overwritten except `created_at` and `excluded`. One statement per 64 rows; `rows`
/// must not repeat a number.
pub(crate) async fn upsert_synced(
    conn: &mut AnyConnection,
    rows: &[Extension],
    at: Timestamp,
) -> Result<(), sqlx::Error> {
    const PER_ROW: usize = 15;
    for chunk in rows.chunks(SYNCED_ROWS) {
        // $1 = at, $2 = false (a new extension is not excluded), then 15 per row.
        let values = (0..chunk.len())
            .map(|i| {
                let first = 3 + i * PER_ROW;
                let own = placeholders(first, PER_ROW);
                format!("({own}, $2, $1, $1, $1)")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO extensions (number, origin, graph_user_id, first_name, last_name, \
                    display_name, email, upn, mobile, business_phone, job_title, department, \
                    office, usage_location, enabled, excluded, created_at, updated_at, \
                    synced_at) \
             VALUES {values} \
             ON CONFLICT (number) DO UPDATE SET \
                    origin = excluded.origin, \
                    graph_user_id = excluded.graph_user_id, \
                    first_name = excluded.first_name, \
                    last_name = excluded.last_name, \
                    display_name = excluded.display_name, \
                    email = excluded.email, \
                    upn = excluded.upn, \
                    mobile = excluded.mobile, \
                    business_phone = excluded.business_phone, \
                    job_title = excluded.job_title, \
                    department = excluded.department, \
                    office = excluded.office, \
                    usage_location = excluded.usage_location, \
                    enabled = excluded.enabled, \
                    updated_at = excluded.updated_at, \
                    synced_at = excluded.synced_at"
        );
        let mut statement = sqlx::query(AssertSqlSafe(sql))
            .persistent(cache_statement(chunk.len(), SYNCED_ROWS))
            .bind(millis(at))
            .bind(false);
        for ext in chunk {
            statement = statement
                .bind(ext.number.as_str())
                .bind(origin_str(ext.origin))
                .bind(ext.graph_user_id.as_deref());
            statement = bind_fields(statement, &ext.fields).bind(ext.enabled);
        }
        statement.execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_wildcards_literally() {
        assert_eq!(escape_like("100%"), "100\\%");
        assert_eq!(escape_like("a_b\\c"), "a\\_b\\\\c");
        assert_eq!(escape_like("plain"), "plain");
    }

    #[test]
    fn every_synced_field_has_a_slot() {
        let mut fields = SyncedFields::default();
        let all = SyncedFields {
            first_name: "1".into(),
            last_name: "2".into(),
            display_name: "3".into(),
            email: "4".into(),
            upn: "5".into(),
            mobile: "6".into(),
            business_phone: "7".into(),
            job_title: "8".into(),
            department: "9".into(),
            office: "10".into(),
            usage_location: "GB".into(),
        };
        for change in SyncedFields::default().changes_to(&all) {
            *field_mut(&mut fields, change.field).unwrap() = change.after;
        }
        assert_eq!(fields, all);
        assert!(field_mut(&mut fields, "number; DROP TABLE x").is_err());
    }
}
