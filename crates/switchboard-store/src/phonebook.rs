//! Phonebooks: the entries contact sync writes (one transaction per applied page, together with
//! the folder's new sync state), what the API, CardDAV and the caller-ID index read, where the
//! sync of each mailbox and folder stands, book versions and per-extension phonebook secrets.
//!
//! Rules:
//! - Entries made on the PBX side (origin `local`) are never overwritten or deleted here.
//! - A book's version is bumped in the transaction that changes one of its entries, and only
//!   then: CardDAV clients use it as their ctag. An upsert equal to the stored entry (apart from
//!   `updated_at`) writes nothing but, in a whole-folder round, the round number, so replaying a
//!   page changes nothing.
//! - A removal removes the entry only while it is still in the write's folder: a contact moved to
//!   another folder whose page was applied first stays. An id both upserted and removed by one
//!   write is upserted.
//! - A write is checked before anything is written, and an upsert of another mailbox is refused.
//!
//! Writes are multi-row statements, each kept small (see [`STATEMENT_BYTES`]): the stored rows a
//! page names are read (and locked on PostgreSQL) in one `IN (…)` query per 50 ids, and the new
//! or changed ones written up to 16 per `INSERT … ON CONFLICT`, so a page of 100 new contacts is
//! about a dozen statements.

use crate::extensions::escape_like;
use crate::open::Engine;
use crate::support::{
    IN_CHUNK, begin_write, cache_statement, column, commit, count, db_error,
    is_foreign_key_violation, millis, optional_timestamp_column, placeholders, timestamp_column,
};
use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe};
use std::collections::{BTreeSet, HashMap};
use switchboard_core::contacts::{
    Book, EntryOrigin, FolderSyncState, MailboxSyncState, PhoneNumber, PhonebookEntry,
    PhonebookQuery, PhonebookWrite,
};
use switchboard_core::ports::StoreError;

const TABLE: &str = "phonebook_entries";

/// The columns every entry read selects.
const COLUMNS: &str = "mailbox_id, contact_id, book, folder_id, display_name, first_name, \
     last_name, company, department, job_title, emails, phones, origin, updated_at";

/// Entries per multi-row insert: at most 16 rows (2 shared and 14 per-row parameters, far under
/// SQLite's historical limit of 999; statements of up to 16 rows stay prepared) and about 12 KiB
/// of values. sqlx 0.9.0 does not set `TCP_NODELAY` (transact-rs/sqlx#4335): on PostgreSQL over
/// TCP, a statement larger than the socket's send buffer (16 KiB by default on Linux) stalls
/// about 40 ms on a delayed ACK, so a page of 100 contacts sent as two 64-row statements took
/// 90 ms instead of 3 ms.
const ENTRY_ROWS: usize = 16;
const STATEMENT_BYTES: usize = 12 * 1024;
const PER_ROW: usize = 14;
/// Contact ids per `IN (…)` list: Graph's ids are about 150 characters, so 50 of them stay
/// under the same 12 KiB.
const ID_CHUNK: usize = 50;

fn origin_str(origin: EntryOrigin) -> &'static str {
    match origin {
        EntryOrigin::Outlook => "outlook",
        EntryOrigin::Local => "local",
    }
}

fn parse_origin(s: &str) -> Option<EntryOrigin> {
    match s {
        "outlook" => Some(EntryOrigin::Outlook),
        "local" => Some(EntryOrigin::Local),
        _ => None,
    }
}

fn decode(row: &AnyRow) -> Result<PhonebookEntry, StoreError> {
    let text = |name: &str| column::<String>(row, TABLE, name);
    let mailbox_id = text("mailbox_id")?;
    let contact_id = text("contact_id")?;
    let whose = || format!("contact {contact_id} of mailbox {mailbox_id}");
    let origin = text("origin")?;
    let origin = parse_origin(&origin).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{TABLE}.origin of {}: unknown origin \"{origin}\"",
            whose()
        ))
    })?;
    let emails: Vec<String> = serde_json::from_str(&text("emails")?).map_err(|e| {
        StoreError::Corrupt(format!(
            "{TABLE}.emails of {}: not a JSON list of strings: {e}",
            whose()
        ))
    })?;
    let phones: Vec<PhoneNumber> = serde_json::from_str(&text("phones")?).map_err(|e| {
        StoreError::Corrupt(format!(
            "{TABLE}.phones of {}: not a JSON list of {{type, raw, e164}}: {e}",
            whose()
        ))
    })?;
    Ok(PhonebookEntry {
        book: Book::from_key(&text("book")?),
        folder_id: text("folder_id")?,
        display_name: text("display_name")?,
        first_name: text("first_name")?,
        last_name: text("last_name")?,
        company: text("company")?,
        department: text("department")?,
        job_title: text("job_title")?,
        emails,
        phones,
        origin,
        updated_at: timestamp_column(row, TABLE, "updated_at")?,
        mailbox_id,
        contact_id,
    })
}

/// What search matches, lower-cased here (SQLite's `LOWER` knows only ASCII): names, company,
/// emails, and each number raw, in E.164 and as bare digits (so "02079460958" finds
/// "020 7946 0958"). One field per line: a search word never contains a line break, so it
/// cannot match across two fields.
fn search_text(e: &PhonebookEntry) -> String {
    let mut parts: Vec<String> = [&e.display_name, &e.first_name, &e.last_name, &e.company]
        .into_iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();
    parts.extend(e.emails.iter().cloned());
    for phone in &e.phones {
        parts.push(phone.raw.clone());
        parts.extend(phone.e164.clone());
        let digits: String = phone.raw.chars().filter(char::is_ascii_digit).collect();
        if !digits.is_empty() && digits != phone.raw {
            parts.push(digits);
        }
    }
    parts.join("\n").to_lowercase()
}

// --- applying a page -----------------------------------------------------------------------------

/// An upsert as it will be stored.
struct NewRow<'a> {
    entry: &'a PhonebookEntry,
    emails: String,
    phones: String,
    search: String,
}

impl<'a> NewRow<'a> {
    fn new(entry: &'a PhonebookEntry) -> Result<Self, StoreError> {
        let json = |e: serde_json::Error| {
            StoreError::Database(format!(
                "encoding contact {} of mailbox {}: {e}",
                entry.contact_id, entry.mailbox_id
            ))
        };
        Ok(Self {
            emails: serde_json::to_string(&entry.emails).map_err(json)?,
            phones: serde_json::to_string(&entry.phones).map_err(json)?,
            search: search_text(entry),
            entry,
        })
    }
}

/// A stored entry as the write compares it (JSON kept as text: what would be written is
/// compared with what is there, so a row written differently is simply rewritten).
struct StoredRow {
    book: String,
    folder_id: String,
    fields: [String; 6],
    emails: String,
    phones: String,
    origin: String,
    round: Option<i64>,
}

impl StoredRow {
    fn decode(row: &AnyRow) -> Result<(String, Self), StoreError> {
        let text = |name: &str| column::<String>(row, TABLE, name);
        Ok((
            text("contact_id")?,
            Self {
                book: text("book")?,
                folder_id: text("folder_id")?,
                fields: [
                    text("display_name")?,
                    text("first_name")?,
                    text("last_name")?,
                    text("company")?,
                    text("department")?,
                    text("job_title")?,
                ],
                emails: text("emails")?,
                phones: text("phones")?,
                origin: text("origin")?,
                round: column(row, TABLE, "round")?,
            },
        ))
    }

    fn is_local(&self) -> bool {
        self.origin != origin_str(EntryOrigin::Outlook)
    }

    /// Whether writing `new` would change what a reader sees (`updated_at` aside).
    fn same_as(&self, new: &NewRow<'_>) -> bool {
        let e = new.entry;
        let fields = [
            &e.display_name,
            &e.first_name,
            &e.last_name,
            &e.company,
            &e.department,
            &e.job_title,
        ];
        self.book == e.book.as_key()
            && self.folder_id == e.folder_id
            && self.fields.iter().zip(fields).all(|(a, b)| a == b)
            && self.emails == new.emails
            && self.phones == new.phones
            && self.origin == origin_str(e.origin)
    }
}

pub(crate) async fn apply_write(
    pool: &AnyPool,
    engine: Engine,
    write: &PhonebookWrite,
) -> Result<(), StoreError> {
    const DOING: &str = "applying a phonebook page";
    let mailbox = write.mailbox_id.as_str();
    let folder = write.folder.folder_id.as_str();
    if let Some(e) = write.upserts.iter().find(|e| e.mailbox_id != mailbox) {
        return Err(StoreError::Database(format!(
            "{DOING}: contact {} belongs to mailbox {}, not to the page's mailbox {mailbox}",
            e.contact_id, e.mailbox_id
        )));
    }
    // One row per contact id, the last upsert of it winning (a multi-row upsert may not touch
    // a row twice).
    let mut rows: Vec<NewRow<'_>> = Vec::with_capacity(write.upserts.len());
    let mut row_of: HashMap<&str, usize> = HashMap::new();
    for entry in &write.upserts {
        let row = NewRow::new(entry)?;
        match row_of.get(entry.contact_id.as_str()) {
            Some(&i) => rows[i] = row,
            None => {
                row_of.insert(entry.contact_id.as_str(), rows.len());
                rows.push(row);
            }
        }
    }
    // Entries written in a whole-folder round carry its number, also on the page that ends it.
    let round = write.folder.full_round.or(write.finish_round);

    let mut tx = begin_write(pool, engine, DOING).await?;
    ensure_mailbox(&mut tx, mailbox, write.book.as_key())
        .await
        .map_err(|e| db_error(DOING, e))?;
    // Sorted, so concurrent writers lock rows in the same order.
    let ids: Vec<&str> = row_of
        .keys()
        .copied()
        .chain(write.removals.iter().map(String::as_str))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let stored = read_for_update(&mut tx, engine, mailbox, &ids).await?;

    let mut touched: BTreeSet<String> = BTreeSet::new();
    let removed: Vec<&str> = write
        .removals
        .iter()
        .map(String::as_str)
        .filter(|id| !row_of.contains_key(id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|id| {
            stored
                .get(*id)
                .is_some_and(|s| !s.is_local() && s.folder_id == folder)
        })
        .collect();
    for id in &removed {
        if let Some(s) = stored.get(*id) {
            touched.insert(s.book.clone());
        }
    }
    delete_entries(&mut tx, mailbox, folder, &removed)
        .await
        .map_err(|e| db_error(DOING, e))?;

    let mut changed: Vec<&NewRow<'_>> = Vec::new();
    let mut reround: Vec<&str> = Vec::new();
    for row in &rows {
        let id = row.entry.contact_id.as_str();
        match stored.get(id) {
            None => {
                touched.insert(row.entry.book.as_key().to_owned());
                changed.push(row);
            }
            Some(s) if s.is_local() => {}
            Some(s) if s.same_as(row) => {
                if round.is_some() && s.round != round {
                    reround.push(id);
                }
            }
            Some(s) => {
                touched.insert(s.book.clone());
                touched.insert(row.entry.book.as_key().to_owned());
                changed.push(row);
            }
        }
    }
    upsert_entries(&mut tx, mailbox, round, &changed)
        .await
        .map_err(|e| db_error(DOING, e))?;
    if let Some(round) = round {
        set_round(&mut tx, mailbox, round, &reround)
            .await
            .map_err(|e| db_error(DOING, e))?;
    }

    let mut state = write.folder.clone();
    if let Some(finished) = write.finish_round {
        let books = sqlx::query_scalar::<_, String>(
            "DELETE FROM phonebook_entries \
             WHERE mailbox_id = $1 AND folder_id = $2 AND origin = 'outlook' \
               AND (round IS NULL OR round <> $3) \
             RETURNING book",
        )
        .bind(mailbox)
        .bind(folder)
        .bind(finished)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| db_error(DOING, e))?;
        touched.extend(books);
        state.full_round = None;
    }
    save_folder(&mut tx, mailbox, &state)
        .await
        .map_err(|e| db_error(DOING, e))?;
    bump_versions(&mut tx, &touched)
        .await
        .map_err(|e| db_error(DOING, e))?;
    commit(tx, DOING).await
}

/// Creates the mailbox's state row if missing; its book follows the latest write.
async fn ensure_mailbox(
    conn: &mut AnyConnection,
    mailbox: &str,
    book: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO contact_mailboxes (mailbox_id, book) VALUES ($1, $2) \
         ON CONFLICT (mailbox_id) DO UPDATE SET book = excluded.book \
         WHERE contact_mailboxes.book <> excluded.book",
    )
    .bind(mailbox)
    .bind(book)
    .execute(conn)
    .await?;
    Ok(())
}

/// The stored entries of `mailbox` with these contact ids, locked on PostgreSQL (SQLite's
/// `BEGIN IMMEDIATE` already holds the write lock).
async fn read_for_update(
    conn: &mut AnyConnection,
    engine: Engine,
    mailbox: &str,
    ids: &[&str],
) -> Result<HashMap<String, StoredRow>, StoreError> {
    let lock = match engine {
        Engine::Sqlite => "",
        Engine::Postgres => " FOR UPDATE",
    };
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(ID_CHUNK) {
        let sql = format!(
            "SELECT contact_id, book, folder_id, display_name, first_name, last_name, company, \
                    department, job_title, emails, phones, origin, round \
             FROM phonebook_entries WHERE mailbox_id = $1 AND contact_id IN ({}){lock}",
            placeholders(2, chunk.len())
        );
        let mut statement = sqlx::query(AssertSqlSafe(sql))
            .persistent(cache_statement(chunk.len(), ID_CHUNK))
            .bind(mailbox);
        for id in chunk {
            statement = statement.bind(*id);
        }
        let rows = statement
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| db_error("reading phonebook entries", e))?;
        for row in &rows {
            let (id, stored) = StoredRow::decode(row)?;
            out.insert(id, stored);
        }
    }
    Ok(out)
}

/// Deletes these synced entries of `mailbox` that are still in `folder`.
async fn delete_entries(
    conn: &mut AnyConnection,
    mailbox: &str,
    folder: &str,
    ids: &[&str],
) -> Result<(), sqlx::Error> {
    for chunk in ids.chunks(ID_CHUNK) {
        let sql = format!(
            "DELETE FROM phonebook_entries \
             WHERE mailbox_id = $1 AND folder_id = $2 AND origin = 'outlook' \
               AND contact_id IN ({})",
            placeholders(3, chunk.len())
        );
        let mut statement = sqlx::query(AssertSqlSafe(sql))
            .persistent(cache_statement(chunk.len(), ID_CHUNK))
            .bind(mailbox)
            .bind(folder);
        for id in chunk {
            statement = statement.bind(*id);
        }
        statement.execute(&mut *conn).await?;
    }
    Ok(())
}

/// What a row adds to a statement's bind data: its values and a length per parameter.
fn row_bytes(row: &NewRow<'_>) -> usize {
    let e = row.entry;
    [
        &e.contact_id,
        &e.folder_id,
        &e.display_name,
        &e.first_name,
        &e.last_name,
        &e.company,
        &e.department,
        &e.job_title,
        &row.emails,
        &row.phones,
        &row.search,
    ]
    .iter()
    .map(|s| s.len())
    .sum::<usize>()
        + e.book.as_key().len()
        + PER_ROW * 8
}

/// Splits rows into statements of at most [`ENTRY_ROWS`] rows and, past the first row, about
/// [`STATEMENT_BYTES`].
fn statements<'r, 'e>(rows: &'r [&'r NewRow<'e>]) -> Vec<&'r [&'r NewRow<'e>]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        let size = row_bytes(row);
        if i > start && (i - start == ENTRY_ROWS || bytes + size > STATEMENT_BYTES) {
            out.push(&rows[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

/// Inserts or overwrites entries of `mailbox`, a few per statement ([`statements`]). A stored
/// round is kept when `round` is `None`; a local entry is never overwritten.
async fn upsert_entries(
    conn: &mut AnyConnection,
    mailbox: &str,
    round: Option<i64>,
    rows: &[&NewRow<'_>],
) -> Result<(), sqlx::Error> {
    for chunk in statements(rows) {
        // $1 = mailbox, $2 = round, then 14 per row.
        let values = (0..chunk.len())
            .map(|i| format!("($1, {}, $2)", placeholders(3 + i * PER_ROW, PER_ROW)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO phonebook_entries (mailbox_id, contact_id, book, folder_id, \
                    display_name, first_name, last_name, company, department, job_title, emails, \
                    phones, search_text, origin, updated_at, round) \
             VALUES {values} \
             ON CONFLICT (mailbox_id, contact_id) DO UPDATE SET \
                    book = excluded.book, \
                    folder_id = excluded.folder_id, \
                    display_name = excluded.display_name, \
                    first_name = excluded.first_name, \
                    last_name = excluded.last_name, \
                    company = excluded.company, \
                    department = excluded.department, \
                    job_title = excluded.job_title, \
                    emails = excluded.emails, \
                    phones = excluded.phones, \
                    search_text = excluded.search_text, \
                    origin = excluded.origin, \
                    updated_at = excluded.updated_at, \
                    round = COALESCE(excluded.round, phonebook_entries.round) \
             WHERE phonebook_entries.origin = 'outlook'"
        );
        let mut statement = sqlx::query(AssertSqlSafe(sql))
            .persistent(cache_statement(chunk.len(), ENTRY_ROWS))
            .bind(mailbox)
            .bind(round);
        for row in chunk {
            let e = row.entry;
            statement = statement
                .bind(e.contact_id.as_str())
                .bind(e.book.as_key())
                .bind(e.folder_id.as_str())
                .bind(e.display_name.as_str())
                .bind(e.first_name.as_str())
                .bind(e.last_name.as_str())
                .bind(e.company.as_str())
                .bind(e.department.as_str())
                .bind(e.job_title.as_str())
                .bind(row.emails.as_str())
                .bind(row.phones.as_str())
                .bind(row.search.as_str())
                .bind(origin_str(e.origin))
                .bind(millis(e.updated_at));
        }
        statement.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Marks unchanged entries as seen by the whole-folder round `round`.
async fn set_round(
    conn: &mut AnyConnection,
    mailbox: &str,
    round: i64,
    ids: &[&str],
) -> Result<(), sqlx::Error> {
    for chunk in ids.chunks(ID_CHUNK) {
        let sql = format!(
            "UPDATE phonebook_entries SET round = $2 \
             WHERE mailbox_id = $1 AND origin = 'outlook' AND contact_id IN ({})",
            placeholders(3, chunk.len())
        );
        let mut statement = sqlx::query(AssertSqlSafe(sql))
            .persistent(cache_statement(chunk.len(), ID_CHUNK))
            .bind(mailbox)
            .bind(round);
        for id in chunk {
            statement = statement.bind(*id);
        }
        statement.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn save_folder(
    conn: &mut AnyConnection,
    mailbox: &str,
    folder: &FolderSyncState,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO contact_folders \
                (mailbox_id, folder_id, display_name, parent_folder_id, link, full_round) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (mailbox_id, folder_id) DO UPDATE SET \
                display_name = excluded.display_name, \
                parent_folder_id = excluded.parent_folder_id, \
                link = excluded.link, \
                full_round = excluded.full_round",
    )
    .bind(mailbox)
    .bind(folder.folder_id.as_str())
    .bind(folder.display_name.as_str())
    .bind(folder.parent_folder_id.as_deref())
    .bind(folder.link.as_deref())
    .bind(folder.full_round)
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds one to the version of each book (sorted: concurrent writers lock in the same order).
async fn bump_versions(
    conn: &mut AnyConnection,
    books: &BTreeSet<String>,
) -> Result<(), sqlx::Error> {
    let books: Vec<&str> = books.iter().map(String::as_str).collect();
    for chunk in books.chunks(IN_CHUNK) {
        let values = (0..chunk.len())
            .map(|i| format!("(${}, 1)", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO phonebook_versions (book, version) VALUES {values} \
             ON CONFLICT (book) DO UPDATE SET version = phonebook_versions.version + 1"
        );
        let mut statement =
            sqlx::query(AssertSqlSafe(sql)).persistent(cache_statement(chunk.len(), IN_CHUNK));
        for book in chunk {
            statement = statement.bind(*book);
        }
        statement.execute(&mut *conn).await?;
    }
    Ok(())
}

// --- removing folders and mailboxes ----------------------------------------------------------

pub(crate) async fn remove_folder(
    pool: &AnyPool,
    engine: Engine,
    mailbox: &str,
    folder: &str,
) -> Result<u64, StoreError> {
    const DOING: &str = "removing a contact folder";
    let mut tx = begin_write(pool, engine, DOING).await?;
    let books = sqlx::query_scalar::<_, String>(
        "DELETE FROM phonebook_entries \
         WHERE mailbox_id = $1 AND folder_id = $2 AND origin = 'outlook' RETURNING book",
    )
    .bind(mailbox)
    .bind(folder)
    .fetch_all(&mut *tx)
    .await
    .map_err(|e| db_error(DOING, e))?;
    sqlx::query("DELETE FROM contact_folders WHERE mailbox_id = $1 AND folder_id = $2")
        .bind(mailbox)
        .bind(folder)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error(DOING, e))?;
    let removed = books.len() as u64;
    bump_versions(&mut tx, &books.into_iter().collect())
        .await
        .map_err(|e| db_error(DOING, e))?;
    commit(tx, DOING).await?;
    Ok(removed)
}

pub(crate) async fn remove_mailbox(
    pool: &AnyPool,
    engine: Engine,
    mailbox: &str,
) -> Result<u64, StoreError> {
    const DOING: &str = "removing a mailbox's phonebook";
    let mut tx = begin_write(pool, engine, DOING).await?;
    let books = sqlx::query_scalar::<_, String>(
        "DELETE FROM phonebook_entries WHERE mailbox_id = $1 AND origin = 'outlook' \
         RETURNING book",
    )
    .bind(mailbox)
    .fetch_all(&mut *tx)
    .await
    .map_err(|e| db_error(DOING, e))?;
    for sql in [
        "DELETE FROM contact_folders WHERE mailbox_id = $1",
        "DELETE FROM contact_mailboxes WHERE mailbox_id = $1",
    ] {
        sqlx::query(sql)
            .bind(mailbox)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(DOING, e))?;
    }
    let removed = books.len() as u64;
    bump_versions(&mut tx, &books.into_iter().collect())
        .await
        .map_err(|e| db_error(DOING, e))?;
    commit(tx, DOING).await?;
    Ok(removed)
}

// --- sync state ----------------------------------------------------------------------------------

/// The mailbox and its folders in one query (a consistent snapshot on both engines).
pub(crate) async fn load_mailbox_state(
    pool: &AnyPool,
    mailbox: &str,
) -> Result<Option<MailboxSyncState>, StoreError> {
    const M: &str = "contact_mailboxes";
    const F: &str = "contact_folders";
    let rows = sqlx::query(
        "SELECT m.mailbox_id, m.book, m.folder_link, m.skipped, m.last_error, m.last_synced_at, \
                f.folder_id AS f_folder_id, f.display_name AS f_display_name, \
                f.parent_folder_id AS f_parent_folder_id, f.link AS f_link, \
                f.full_round AS f_full_round \
         FROM contact_mailboxes m \
         LEFT JOIN contact_folders f ON f.mailbox_id = m.mailbox_id \
         WHERE m.mailbox_id = $1 ORDER BY f.folder_id",
    )
    .bind(mailbox)
    .fetch_all(pool)
    .await
    .map_err(|e| db_error("reading a mailbox's contact sync state", e))?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut state = MailboxSyncState {
        mailbox_id: column(first, M, "mailbox_id")?,
        book: column(first, M, "book")?,
        folder_link: column(first, M, "folder_link")?,
        folders: Vec::new(),
        skipped: column(first, M, "skipped")?,
        last_error: column(first, M, "last_error")?,
        last_synced_at: optional_timestamp_column(first, M, "last_synced_at")?,
    };
    for row in &rows {
        // No folder: the one row of the LEFT JOIN has NULL folder columns.
        let Some(folder_id) = column::<Option<String>>(row, F, "f_folder_id")? else {
            continue;
        };
        state.folders.push(FolderSyncState {
            folder_id,
            display_name: column(row, F, "f_display_name")?,
            parent_folder_id: column(row, F, "f_parent_folder_id")?,
            link: column(row, F, "f_link")?,
            full_round: column(row, F, "f_full_round")?,
        });
    }
    Ok(Some(state))
}

pub(crate) async fn save_mailbox_state(
    pool: &AnyPool,
    state: &MailboxSyncState,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO contact_mailboxes \
                (mailbox_id, book, folder_link, skipped, last_error, last_synced_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (mailbox_id) DO UPDATE SET \
                book = excluded.book, \
                folder_link = excluded.folder_link, \
                skipped = excluded.skipped, \
                last_error = excluded.last_error, \
                last_synced_at = excluded.last_synced_at",
    )
    .bind(state.mailbox_id.as_str())
    .bind(state.book.as_str())
    .bind(state.folder_link.as_deref())
    .bind(state.skipped.as_deref())
    .bind(state.last_error.as_deref())
    .bind(state.last_synced_at.map(millis))
    .execute(pool)
    .await
    .map_err(|e| db_error("saving a mailbox's contact sync state", e))?;
    Ok(())
}

pub(crate) async fn list_mailboxes(
    pool: &AnyPool,
) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
    const M: &str = "contact_mailboxes";
    let rows =
        sqlx::query("SELECT mailbox_id, book, skipped FROM contact_mailboxes ORDER BY mailbox_id")
            .fetch_all(pool)
            .await
            .map_err(|e| db_error("listing contact mailboxes", e))?;
    rows.iter()
        .map(|row| {
            Ok((
                column(row, M, "mailbox_id")?,
                column(row, M, "book")?,
                column(row, M, "skipped")?,
            ))
        })
        .collect()
}

// --- reading phonebooks --------------------------------------------------------------------------

/// One book in display order. Every word of the search must occur in the entry's names,
/// company, emails or numbers (case-insensitive). `limit` is taken as given (0 reads nothing).
pub(crate) async fn phonebook(
    pool: &AnyPool,
    book: &Book,
    query: &PhonebookQuery,
) -> Result<Vec<PhonebookEntry>, StoreError> {
    const DOING: &str = "reading a phonebook";
    let words: Vec<String> = query
        .search
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(|w| format!("%{}%", escape_like(&w.to_lowercase())))
        .collect();
    // Assembled from fixed fragments; every value is a bind parameter.
    let mut sql = format!("SELECT {COLUMNS} FROM phonebook_entries WHERE book = $1");
    for i in 0..words.len() {
        sql.push_str(&format!(" AND search_text LIKE ${} ESCAPE '\\'", i + 2));
    }
    sql.push_str(&format!(
        " ORDER BY display_name, contact_id, mailbox_id LIMIT ${} OFFSET ${}",
        words.len() + 2,
        words.len() + 3
    ));
    let mut statement = sqlx::query(AssertSqlSafe(sql)).bind(book.as_key());
    for word in words {
        statement = statement.bind(word);
    }
    let rows = statement
        .bind(i64::from(query.limit))
        .bind(i64::from(query.offset))
        .fetch_all(pool)
        .await
        .map_err(|e| db_error(DOING, e))?;
    rows.iter().map(decode).collect()
}

pub(crate) async fn count_phonebook(pool: &AnyPool, book: &Book) -> Result<u64, StoreError> {
    const DOING: &str = "counting a phonebook";
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM phonebook_entries WHERE book = $1")
        .bind(book.as_key())
        .fetch_one(pool)
        .await
        .map_err(|e| db_error(DOING, e))?;
    count(n, DOING)
}

/// One keyset page over every entry, in one query.
pub(crate) async fn entries_page(
    pool: &AnyPool,
    after: Option<(&str, &str)>,
    limit: u32,
) -> Result<Vec<PhonebookEntry>, StoreError> {
    const DOING: &str = "reading a page of phonebook entries";
    let limit = i64::from(limit);
    let rows = match after {
        Some((mailbox, contact)) => {
            // A row-value comparison: both engines walk the primary key from there.
            let sql = format!(
                "SELECT {COLUMNS} FROM phonebook_entries \
                 WHERE (mailbox_id, contact_id) > ($1, $2) \
                 ORDER BY mailbox_id, contact_id LIMIT $3"
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(mailbox)
                .bind(contact)
                .bind(limit)
                .fetch_all(pool)
                .await
        }
        None => {
            let sql = format!(
                "SELECT {COLUMNS} FROM phonebook_entries ORDER BY mailbox_id, contact_id LIMIT $1"
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(limit)
                .fetch_all(pool)
                .await
        }
    }
    .map_err(|e| db_error(DOING, e))?;
    rows.iter().map(decode).collect()
}

pub(crate) async fn book_version(pool: &AnyPool, book: &Book) -> Result<i64, StoreError> {
    let version: Option<i64> =
        sqlx::query_scalar("SELECT version FROM phonebook_versions WHERE book = $1")
            .bind(book.as_key())
            .fetch_optional(pool)
            .await
            .map_err(|e| db_error("reading a phonebook version", e))?;
    Ok(version.unwrap_or(0))
}

// --- phonebook secrets -----------------------------------------------------------------------------

/// Only a SHA-256 in lower-case hex is stored: anything else (a password passed by mistake)
/// is refused, without repeating it in the error.
fn check_sha256(hex: &str) -> Result<(), StoreError> {
    let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if valid {
        Ok(())
    } else {
        Err(StoreError::Database(
            "setting a phonebook secret: the value is not a lower-case hex SHA-256".into(),
        ))
    }
}

pub(crate) async fn set_secret(
    pool: &AnyPool,
    engine: Engine,
    number: &str,
    secret_sha256: Option<&str>,
) -> Result<bool, StoreError> {
    const DOING: &str = "setting a phonebook secret";
    if let Some(hex) = secret_sha256 {
        check_sha256(hex)?;
    }
    let mut tx = begin_write(pool, engine, DOING).await?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM extensions WHERE number = $1")
        .bind(number)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| db_error(DOING, e))?;
    if exists.is_none() {
        commit(tx, DOING).await?;
        return Ok(false);
    }
    let written = match secret_sha256 {
        Some(hex) => {
            sqlx::query(
                "INSERT INTO phonebook_secrets (number, secret_sha256, created_at) \
                 VALUES ($1, $2, $3) \
                 ON CONFLICT (number) DO UPDATE SET \
                        secret_sha256 = excluded.secret_sha256, created_at = excluded.created_at",
            )
            .bind(number)
            .bind(hex)
            .bind(millis(Timestamp::now()))
            .execute(&mut *tx)
            .await
        }
        None => {
            sqlx::query("DELETE FROM phonebook_secrets WHERE number = $1")
                .bind(number)
                .execute(&mut *tx)
                .await
        }
    };
    match written {
        Ok(_) => {}
        // Deleted by a concurrent transaction since the check (PostgreSQL).
        Err(e) if is_foreign_key_violation(&e) => return Ok(false),
        Err(e) => return Err(db_error(DOING, e)),
    }
    commit(tx, DOING).await?;
    Ok(true)
}

pub(crate) async fn secret(pool: &AnyPool, number: &str) -> Result<Option<String>, StoreError> {
    sqlx::query_scalar("SELECT secret_sha256 FROM phonebook_secrets WHERE number = $1")
        .bind(number)
        .fetch_optional(pool)
        .await
        .map_err(|e| db_error("reading a phonebook secret", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::contacts::PhoneKind;

    #[test]
    fn search_text_holds_every_searchable_field_lower_cased() {
        let entry = PhonebookEntry {
            book: Book::Company,
            mailbox_id: "m".into(),
            contact_id: "c".into(),
            folder_id: String::new(),
            display_name: "Émile Zola".into(),
            first_name: "Émile".into(),
            last_name: "Zola".into(),
            company: "ACME".into(),
            department: "hidden dept".into(),
            job_title: "hidden title".into(),
            emails: vec!["E.Zola@Example.com".into()],
            phones: vec![PhoneNumber {
                kind: PhoneKind::Business,
                raw: "020 7946 0958".into(),
                e164: Some("+442079460958".into()),
            }],
            origin: EntryOrigin::Outlook,
            updated_at: Timestamp::UNIX_EPOCH,
        };
        let text = search_text(&entry);
        for needle in [
            "émile zola",
            "acme",
            "e.zola@example.com",
            "020 7946",
            "+4420",
        ] {
            assert!(text.contains(needle), "{needle} in {text:?}");
        }
        assert!(text.contains("02079460958"));
        assert!(
            !text.contains("hidden"),
            "department and title are not searched"
        );
    }

    #[test]
    fn statements_are_bounded_in_rows_and_bytes() {
        let small = PhonebookEntry {
            book: Book::Company,
            mailbox_id: "m".into(),
            contact_id: "c".into(),
            folder_id: String::new(),
            display_name: "Ada".into(),
            first_name: String::new(),
            last_name: String::new(),
            company: String::new(),
            department: String::new(),
            job_title: String::new(),
            emails: Vec::new(),
            phones: Vec::new(),
            origin: EntryOrigin::Outlook,
            updated_at: Timestamp::UNIX_EPOCH,
        };
        let big = PhonebookEntry {
            company: "x".repeat(5000),
            ..small.clone()
        };
        let sizes = |entries: &[PhonebookEntry]| -> Vec<usize> {
            let rows: Vec<NewRow<'_>> = entries.iter().map(|e| NewRow::new(e).unwrap()).collect();
            let refs: Vec<&NewRow<'_>> = rows.iter().collect();
            statements(&refs).iter().map(|s| s.len()).collect()
        };
        assert_eq!(
            sizes(&vec![small.clone(); 100]),
            [16, 16, 16, 16, 16, 16, 4]
        );
        assert_eq!(sizes(&vec![small.clone(); 16]), [16]);
        assert_eq!(sizes(&[]), Vec::<usize>::new());
        // Company and search text: about 10 KB a row, one row per statement.
        assert_eq!(sizes(&vec![big.clone(); 3]), [1, 1, 1]);
        assert_eq!(sizes(&[small.clone(), big.clone(), small.clone()]), [3]);
        let huge = PhonebookEntry {
            company: "x".repeat(20_000),
            ..small.clone()
        };
        assert_eq!(
            sizes(&[huge, small.clone(), small]),
            [1, 2],
            "a huge row goes alone"
        );
    }

    #[test]
    fn only_lower_case_hex_sha256_is_stored() {
        assert!(check_sha256(&"a1".repeat(32)).is_ok());
        assert!(check_sha256(&"A1".repeat(32)).is_err());
        assert!(check_sha256("hunter2").is_err());
        let err = check_sha256("hunter2").unwrap_err().to_string();
        assert!(!err.contains("hunter2"));
    }
}
