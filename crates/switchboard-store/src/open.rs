//! Opening a database from its URL: engine detection, pool settings per engine, migrations.

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{MigrateError, Migrator};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use switchboard_core::ports::StoreError;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Run on every new SQLite connection: enforce foreign keys, and wait up to 5 s for a lock held
/// by another connection instead of failing at once.
/// `synchronous = NORMAL` is SQLite's advice for WAL: a commit no longer waits for an fsync
/// (the WAL is synced at checkpoints), so a power cut may lose the last transactions but never
/// corrupts the file or splits one. Everything here is re-read from Microsoft 365 by the next
/// run anyway; with FULL, a sync writing thousands of pages spent most of its time in fsync.
const SQLITE_CONNECTION_PRAGMAS: &str =
    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;";
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

const ACCEPTED_FORMS: &str = "sqlite://PATH, sqlite:PATH, sqlite::memory:, \
     postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE or postgresql://…";

/// The database engine behind a [`SqlStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    /// The engine a database URL names, if it is one this crate accepts.
    pub fn from_url(database_url: &str) -> Option<Self> {
        let url = database_url.trim();
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The [`Store`](switchboard_core::ports::Store) on SQLite or PostgreSQL. Cheap to clone (it is a
/// connection pool); `Debug` shows the URL with any password replaced by `***`.
#[derive(Clone)]
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    engine: Engine,
    redacted_url: String,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("engine", &self.engine)
            .field("url", &self.redacted_url)
            .finish_non_exhaustive()
    }
}

impl SqlStore {
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The database URL with any password replaced by `***`, for logs and diagnostics.
    pub fn redacted_url(&self) -> &str {
        &self.redacted_url
    }

    /// Closes every connection of the pool and waits for them to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Opens (and for SQLite, creates) the database at `database_url` and brings its schema up to
/// date. Accepted: `sqlite://PATH`, `sqlite:PATH`, `sqlite::memory:`, `postgres://…`,
/// `postgresql://…`.
///
/// SQLite files are opened in WAL mode with foreign keys on and a busy timeout; a missing file
/// (and its directory) is created. `sqlite::memory:` lives as long as the returned store (one
/// connection that is never recycled).
pub async fn open(database_url: &str) -> Result<SqlStore, StoreError> {
    sqlx::any::install_default_drivers();
    let url = database_url.trim();
    let redacted_url = redact_url(url);
    let secret = url_password(url);
    let scrub = |message: String| match &secret {
        Some(p) => message.replace(p.as_str(), "***"),
        None => message,
    };
    let engine = Engine::from_url(url).ok_or_else(|| {
        StoreError::Database(format!(
            "unsupported database URL \"{redacted_url}\": use {ACCEPTED_FORMS}"
        ))
    })?;
    let result = match engine {
        Engine::Sqlite => open_sqlite(url, &redacted_url).await,
        Engine::Postgres => open_postgres(url, &redacted_url).await,
    };
    let pool = result.map_err(|e| match e {
        StoreError::Database(m) => StoreError::Database(scrub(m)),
        StoreError::Corrupt(m) => StoreError::Corrupt(scrub(m)),
        StoreError::Conflict(m) => StoreError::Conflict(scrub(m)),
    })?;
    tracing::info!(engine = engine.as_str(), url = %redacted_url, "database opened and migrated");
    Ok(SqlStore {
        pool,
        engine,
        redacted_url,
    })
}

async fn open_sqlite(url: &str, redacted: &str) -> Result<AnyPool, StoreError> {
    let target = SqliteTarget::parse(url).ok_or_else(|| {
        StoreError::Database(format!(
            "the SQLite URL \"{redacted}\" names no file: use {ACCEPTED_FORMS}"
        ))
    })?;
    let mut options = AnyPoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                sqlx::raw_sql(SQLITE_CONNECTION_PRAGMAS)
                    .execute(conn)
                    .await?;
                Ok(())
            })
        });
    let connect_url = match &target {
        SqliteTarget::Memory => {
            // Every new connection would be a new, empty in-memory database: keep exactly one.
            options = options
                .min_connections(1)
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
            url.to_owned()
        }
        SqliteTarget::File { path, has_mode } => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
                && !tokio::fs::try_exists(dir).await.unwrap_or(false)
            {
                tokio::fs::create_dir_all(dir).await.map_err(|e| {
                    StoreError::Database(format!(
                        "creating the directory {} for the SQLite database: {e}",
                        dir.display()
                    ))
                })?;
            }
            options = options.max_connections(8);
            if *has_mode {
                url.to_owned()
            } else {
                // `mode=rwc`: create the file when it is missing.
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
        }
    };
    let open_error =
        |e| StoreError::Database(format!("opening the SQLite database \"{redacted}\": {e}"));
    probe(&connect_url).await.map_err(open_error)?;
    let pool = options.connect(&connect_url).await.map_err(open_error)?;
    let file = matches!(target, SqliteTarget::File { .. });
    let mut attempt = 1;
    loop {
        match prepare_sqlite(&pool, file, redacted).await {
            Ok(()) => return Ok(pool),
            Err((error, transient)) if transient && attempt < SQLITE_SETUP_ATTEMPTS => {
                tracing::debug!(
                    attempt,
                    "SQLite setup raced another opener, retrying: {error}"
                );
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err((error, _)) => {
                pool.close().await;
                return Err(error);
            }
        }
    }
}

/// SQLite has no migration lock (sqlx's is a no-op there) and switching to WAL cannot wait on
/// the busy timeout, so two processes opening a new file at once can collide. Execution errors
/// are retried this many times in all: the retry sees what the other opener committed.
const SQLITE_SETUP_ATTEMPTS: u32 = 5;

/// WAL mode (for files; persistent in the file) and migrations. The flag tells whether the
/// error may be a collision worth retrying (not a version or checksum mismatch).
async fn prepare_sqlite(
    pool: &AnyPool,
    file: bool,
    redacted: &str,
) -> Result<(), (StoreError, bool)> {
    if file {
        sqlx::raw_sql("PRAGMA journal_mode = WAL")
            .execute(pool)
            .await
            .map_err(|e| {
                let message = format!("switching \"{redacted}\" to WAL mode: {e}");
                (StoreError::Database(message), true)
            })?;
    }
    SQLITE_MIGRATIONS.run(pool).await.map_err(|e| {
        let transient = matches!(
            e,
            MigrateError::Execute(_) | MigrateError::ExecuteMigration(..)
        );
        let message = format!("migrating the SQLite database \"{redacted}\": {e}");
        (StoreError::Database(message), transient)
    })
}

async fn open_postgres(url: &str, redacted: &str) -> Result<AnyPool, StoreError> {
    probe(url).await.map_err(|e| {
        StoreError::Database(format!("connecting to PostgreSQL at \"{redacted}\": {e}"))
    })?;
    let pool = AnyPoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .max_connections(10)
        .connect(url)
        .await
        .map_err(|e| {
            StoreError::Database(format!("connecting to PostgreSQL at \"{redacted}\": {e}"))
        })?;
    POSTGRES_MIGRATIONS.run(&pool).await.map_err(|e| {
        StoreError::Database(format!(
            "migrating the PostgreSQL database \"{redacted}\": {e}"
        ))
    })?;
    Ok(pool)
}

/// One plain connection first: the pool retries failed connects until its acquire timeout and
/// then reports only "pool timed out", hiding the cause (refused, bad password, no database).
async fn probe(url: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let conn = sqlx::AnyConnection::connect(url).await?;
    conn.close().await
}

/// What a `sqlite:` URL points at.
#[derive(Debug, PartialEq, Eq)]
enum SqliteTarget {
    Memory,
    File { path: PathBuf, has_mode: bool },
}

impl SqliteTarget {
    fn parse(url: &str) -> Option<Self> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let params: Vec<(&str, &str)> = query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
            .collect();
        let mode = params.iter().find(|(k, _)| *k == "mode").map(|(_, v)| *v);
        if path == ":memory:" || mode == Some("memory") {
            return Some(Self::Memory);
        }
        if path.is_empty() {
            return None;
        }
        Some(Self::File {
            path: PathBuf::from(path),
            has_mode: mode.is_some(),
        })
    }
}

/// The password in a URL's user info or `password=` query parameter, if any.
fn url_password(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let from_userinfo = authority
        .rsplit_once('@')
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, p)| p.to_owned());
    let from_query = url.split_once('?').and_then(|(_, q)| {
        q.split(['&', '#'])
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case("password"))
            .map(|(_, v)| v.to_owned())
    });
    from_userinfo.or(from_query).filter(|p| !p.is_empty())
}

/// The URL with its password (user info or `password=` parameter) replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_from_urls() {
        assert_eq!(Engine::from_url("sqlite://a.db"), Some(Engine::Sqlite));
        assert_eq!(Engine::from_url("sqlite:a.db"), Some(Engine::Sqlite));
        assert_eq!(Engine::from_url("sqlite::memory:"), Some(Engine::Sqlite));
        assert_eq!(Engine::from_url("postgres://h/db"), Some(Engine::Postgres));
        assert_eq!(
            Engine::from_url("postgresql://h/db"),
            Some(Engine::Postgres)
        );
        assert_eq!(Engine::from_url("mysql://h/db"), None);
        assert_eq!(Engine::from_url("switchboard.db"), None);
    }

    #[test]
    fn sqlite_targets() {
        assert_eq!(
            SqliteTarget::parse("sqlite::memory:"),
            Some(SqliteTarget::Memory)
        );
        assert_eq!(
            SqliteTarget::parse("sqlite://?mode=memory"),
            Some(SqliteTarget::Memory)
        );
        assert_eq!(
            SqliteTarget::parse("sqlite://data/sb.db"),
            Some(SqliteTarget::File {
                path: "data/sb.db".into(),
                has_mode: false
            })
        );
        assert_eq!(
            SqliteTarget::parse("sqlite:/var/lib/sb.db?mode=rw"),
            Some(SqliteTarget::File {
                path: "/var/lib/sb.db".into(),
                has_mode: true
            })
        );
        assert_eq!(SqliteTarget::parse("sqlite://"), None);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://sb:hunter2@db.example:5432/sb"),
            "postgres://sb:***@db.example:5432/sb"
        );
        assert_eq!(
            redact_url("postgresql://sb@db/sb?sslmode=require&password=hunter2"),
            "postgresql://sb@db/sb?sslmode=require&password=***"
        );
        assert_eq!(redact_url("postgres://db/sb"), "postgres://db/sb");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(
            url_password("postgres://sb:p%40ss@db/sb").as_deref(),
            Some("p%40ss")
        );
        assert_eq!(
            url_password("postgres://sb@db/sb?password=x").as_deref(),
            Some("x")
        );
        assert_eq!(url_password("postgres://sb@db/sb"), None);
    }
}
