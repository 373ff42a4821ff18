//! Throw-away databases for tests, on SQLite and (when configured) PostgreSQL, so every test of
//! the workspace can run against both engines:
//!
//! ```no_run
//! # async fn example() -> Result<(), switchboard_store::StoreError> {
//! use switchboard_store::testing::{engines_under_test, fresh_database};
//! for base in engines_under_test() {
//!     let db = fresh_database(base.as_deref()).await?;
//!     let store = db.open().await?;
//!     // … exercise `store` …
//!     store.close().await;
//!     db.drop_database().await;
//! }
//! # Ok(()) }
//! ```
//!
//! PostgreSQL runs need a server URL in `SWITCHBOARD_TEST_POSTGRES` (for example
//! `postgres://postgres@127.0.0.1:5432/postgres`); each [`TestDatabase`] is a new database
//! `sb_test_<uuid>` created through that URL and dropped afterwards (best effort, also on drop).

use crate::open::{Engine, SqlStore, open, redact_url};
use sqlx::{AnyConnection, AssertSqlSafe, Connection};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use switchboard_core::ports::StoreError;

/// The environment variable holding the PostgreSQL server URL for tests.
pub const POSTGRES_ENV: &str = "SWITCHBOARD_TEST_POSTGRES";

/// The PostgreSQL server URL from [`POSTGRES_ENV`], if set and not empty.
pub fn postgres_url_from_env() -> Option<String> {
    std::env::var(POSTGRES_ENV)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The bases a test should run on: `None` (SQLite, always) and the PostgreSQL server from
/// [`POSTGRES_ENV`] when it is set. Pass each to [`fresh_database`].
pub fn engines_under_test() -> Vec<Option<String>> {
    std::iter::once(None)
        .chain(postgres_url_from_env().map(Some))
        .collect()
}

/// A database that exists for one test. Dropping it removes it (best effort); call
/// [`TestDatabase::drop_database`] to do so explicitly.
pub struct TestDatabase {
    /// The URL to [`open`] (a file in a fresh temp directory, or the fresh PostgreSQL database).
    pub url: String,
    engine: Engine,
    cleanup: Cleanup,
}

enum Cleanup {
    Directory(PathBuf),
    Postgres { server_url: String, name: String },
    Done,
}

impl fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabase")
            .field("engine", &self.engine)
            .field("url", &redact_url(&self.url))
            .finish_non_exhaustive()
    }
}

/// A fresh, empty database: on the PostgreSQL server at `postgres_server_url`, or a SQLite file
/// in a new temp directory when it is `None`.
pub async fn fresh_database(postgres_server_url: Option<&str>) -> Result<TestDatabase, StoreError> {
    match postgres_server_url {
        Some(url) => fresh_postgres(url).await,
        None => fresh_sqlite(),
    }
}

/// A SQLite database file in a new, uniquely named temp directory (removed with the database).
pub fn fresh_sqlite() -> Result<TestDatabase, StoreError> {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-test-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| {
        StoreError::Database(format!(
            "creating the test directory {}: {e}",
            dir.display()
        ))
    })?;
    let path = dir.join("switchboard.db");
    Ok(TestDatabase {
        url: format!("sqlite://{}", path.display()),
        engine: Engine::Sqlite,
        cleanup: Cleanup::Directory(dir),
    })
}

/// A new database `sb_test_<uuid>` on the PostgreSQL server that `server_url` connects to.
pub async fn fresh_postgres(server_url: &str) -> Result<TestDatabase, StoreError> {
    sqlx::any::install_default_drivers();
    if Engine::from_url(server_url) != Some(Engine::Postgres) {
        return Err(StoreError::Database(format!(
            "{POSTGRES_ENV} must be a postgres:// URL, got \"{}\"",
            redact_url(server_url)
        )));
    }
    let name = format!("sb_test_{}", uuid::Uuid::new_v4().simple());
    let mut options = sqlx::any::AnyConnectOptions::from_str(server_url).map_err(|e| {
        StoreError::Database(format!(
            "parsing the PostgreSQL URL \"{}\": {e}",
            redact_url(server_url)
        ))
    })?;
    options.database_url.set_path(&format!("/{name}"));
    let url = options.database_url.to_string();
    // `name` is ours (letters, digits, underscore), so formatting it into the statement is safe.
    admin_statement(server_url, &format!("CREATE DATABASE \"{name}\"")).await?;
    Ok(TestDatabase {
        url,
        engine: Engine::Postgres,
        cleanup: Cleanup::Postgres {
            server_url: server_url.to_owned(),
            name,
        },
    })
}

async fn admin_statement(server_url: &str, sql: &str) -> Result<(), StoreError> {
    let redacted = redact_url(server_url);
    let mut conn = AnyConnection::connect(server_url).await.map_err(|e| {
        StoreError::Database(format!("connecting to PostgreSQL at \"{redacted}\": {e}"))
    })?;
    let result = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .map_err(|e| StoreError::Database(format!("running `{sql}` on \"{redacted}\": {e}")));
    let _ = conn.close().await;
    result.map(|_| ())
}

impl TestDatabase {
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// [`open`]s the database (connects and migrates).
    pub async fn open(&self) -> Result<SqlStore, StoreError> {
        open(&self.url).await
    }

    /// Removes the database now. Close stores opened on it first (PostgreSQL forces their
    /// connections closed anyway). Failures are logged, not returned: this is cleanup.
    pub async fn drop_database(mut self) {
        let cleanup = std::mem::replace(&mut self.cleanup, Cleanup::Done);
        if let Err(e) = run_cleanup(cleanup).await {
            tracing::warn!("removing a test database: {e}");
        }
    }
}

async fn run_cleanup(cleanup: Cleanup) -> Result<(), StoreError> {
    match cleanup {
        Cleanup::Directory(dir) => remove_dir(&dir),
        Cleanup::Postgres { server_url, name } => {
            admin_statement(
                &server_url,
                &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            )
            .await
        }
        Cleanup::Done => Ok(()),
    }
}

fn remove_dir(dir: &std::path::Path) -> Result<(), StoreError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::Database(format!(
            "removing {}: {e}",
            dir.display()
        ))),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.cleanup, Cleanup::Done) {
            Cleanup::Done => {}
            Cleanup::Directory(dir) => {
                let _ = remove_dir(&dir);
            }
            pg @ Cleanup::Postgres { .. } => {
                // Drop cannot await, and may run inside a runtime: use a thread with its own.
                let done = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    if let Ok(runtime) = runtime {
                        let _ = runtime.block_on(run_cleanup(pg));
                    }
                })
                .join();
                if done.is_err() {
                    tracing::warn!("dropping a PostgreSQL test database panicked");
                }
            }
        }
    }
}
