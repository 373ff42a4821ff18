//! Opening databases: URL forms, migrations, SQLite settings, redaction of passwords.

use crate::Ctx;
use crate::admins::admin;
use std::str::FromStr;
use switchboard_core::ports::{Store, StoreError};
use switchboard_store::testing::{fresh_database, fresh_sqlite, postgres_url_from_env};
use switchboard_store::{Engine, open};

async fn applied_migrations(ctx: &Ctx<'_>) -> Vec<i64> {
    let mut raw = ctx.raw().await;
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut raw)
        .await
        .unwrap()
}

/// Conformance case: opening an already migrated database again (twice at once, even) changes
/// nothing and loses nothing.
pub async fn migrations_are_idempotent(ctx: &Ctx<'_>) {
    let before = applied_migrations(ctx).await;
    assert!(!before.is_empty());
    ctx.store.create_admin(&admin("admin")).await.unwrap();

    let (again, third) = tokio::join!(open(&ctx.db.url), open(&ctx.db.url));
    let (again, third) = (again.unwrap(), third.unwrap());
    assert_eq!(again.engine(), ctx.engine());
    assert_eq!(applied_migrations(ctx).await, before);
    assert_eq!(
        again.find_admin("admin").await.unwrap(),
        Some(admin("admin"))
    );
    assert_eq!(third.count_admins().await.unwrap(), 1);
    again.close().await;
    third.close().await;
}

#[tokio::test]
async fn sqlite_url_forms_create_the_file_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("data/nested/switchboard.db");
    let flat = dir.path().join("flat.db");
    for url in [
        format!("sqlite://{}", nested.display()),
        format!("sqlite:{}", flat.display()),
    ] {
        let store = open(&url).await.unwrap();
        assert_eq!(store.engine(), Engine::Sqlite);
        store.create_admin(&admin("admin")).await.unwrap();
        store.close().await;
    }
    assert!(nested.is_file());
    assert!(flat.is_file());

    for path in [&nested, &flat] {
        let url = format!("sqlite://{}", path.display());
        let store = open(&url).await.unwrap();
        assert_eq!(store.count_admins().await.unwrap(), 1, "{url}");
        store.close().await;
        let mut raw = raw_connection(&url).await;
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut raw)
            .await
            .unwrap();
        assert_eq!(mode, "wal", "{url}");
    }
}

async fn raw_connection(url: &str) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url).await.unwrap()
}

#[tokio::test]
async fn sqlite_memory_keeps_its_data_for_the_life_of_the_store() {
    let store = open("sqlite::memory:").await.unwrap();
    store.create_admin(&admin("a")).await.unwrap();
    // Concurrent use shares the one connection rather than opening a new (empty) database.
    let b = admin("b");
    let (found, created) = tokio::join!(store.find_admin("a"), store.create_admin(&b));
    assert_eq!(found.unwrap(), Some(admin("a")));
    created.unwrap();
    assert_eq!(store.clone().count_admins().await.unwrap(), 2);

    // Two memory stores are two databases.
    let other = open("sqlite::memory:").await.unwrap();
    assert_eq!(other.count_admins().await.unwrap(), 0);
}

#[tokio::test]
async fn unsupported_urls_are_refused_naming_the_accepted_forms() {
    for url in [
        "mysql://root:hunter2@db/switchboard",
        "switchboard.db",
        "",
        "sqlite://",
    ] {
        let err = open(url).await.expect_err(url);
        let StoreError::Database(message) = &err else {
            panic!("{url}: expected a Database error, got {err:?}");
        };
        assert!(message.contains("sqlite://PATH"), "{message}");
        assert!(message.contains("sqlite::memory:"), "{message}");
        assert!(message.contains("postgres://"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}

#[tokio::test]
async fn connection_errors_never_show_the_password() {
    // Nothing listens on port 1.
    let err = open("postgres://switchboard:hunter2@127.0.0.1:1/switchboard")
        .await
        .expect_err("nothing listens on port 1");
    let message = err.to_string();
    assert!(
        !message.contains("timed out"),
        "the cause must show: {message}"
    );
    assert!(message.contains("connecting to PostgreSQL"), "{message}");
    assert!(message.contains("switchboard:***@127.0.0.1:1"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn debug_shows_the_url_without_its_password() {
    let db = fresh_sqlite().unwrap();
    let store = db.open().await.unwrap();
    let shown = format!("{store:?}");
    assert!(shown.contains("Sqlite"), "{shown}");
    assert!(shown.contains("switchboard.db"), "{shown}");
    store.close().await;

    let Some(server) = postgres_url_from_env() else {
        eprintln!("PostgreSQL part skipped: SWITCHBOARD_TEST_POSTGRES is not set");
        return;
    };
    let db = fresh_database(Some(&server)).await.unwrap();
    // The test server trusts local connections, so any password is accepted.
    let mut options = sqlx::any::AnyConnectOptions::from_str(&db.url).unwrap();
    options.database_url.set_password(Some("hunter2")).unwrap();
    let url = options.database_url.to_string();
    assert!(url.contains("hunter2"));
    let store = open(&url).await.unwrap();
    let shown = format!("{store:?}");
    assert!(shown.contains("Postgres"), "{shown}");
    assert!(shown.contains(":***@"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!store.redacted_url().contains("hunter2"));
    store.close().await;
    db.drop_database().await;
}

#[tokio::test]
async fn test_databases_are_separate_and_removed() {
    let a = fresh_sqlite().unwrap();
    let b = fresh_sqlite().unwrap();
    assert_ne!(a.url, b.url);
    let store = a.open().await.unwrap();
    store.create_admin(&admin("admin")).await.unwrap();
    store.close().await;
    let path = a.url.trim_start_matches("sqlite://").to_owned();
    assert!(std::path::Path::new(&path).is_file());
    drop(a);
    assert!(
        !std::path::Path::new(&path).exists(),
        "dropped with the TestDatabase"
    );

    let Some(server) = postgres_url_from_env() else {
        return;
    };
    let db = fresh_database(Some(&server)).await.unwrap();
    assert_eq!(db.engine(), Engine::Postgres);
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    assert!(name.starts_with("sb_test_"), "{name}");
    let store = db.open().await.unwrap();
    store.close().await;
    let exists = || async {
        let mut raw = raw_connection(&server).await;
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
            .bind(name.clone())
            .fetch_one(&mut raw)
            .await
            .unwrap()
    };
    assert_eq!(exists().await, 1);
    db.drop_database().await;
    assert_eq!(exists().await, 0);

    // Dropping without `drop_database` (a panicking test) removes it too, even with a store
    // still connected.
    let db = fresh_database(Some(&server)).await.unwrap();
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let store = db.open().await.unwrap();
    let count = || async {
        let mut raw = raw_connection(&server).await;
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
            .bind(name.clone())
            .fetch_one(&mut raw)
            .await
            .unwrap()
    };
    assert_eq!(count().await, 1);
    drop(db);
    assert_eq!(count().await, 0);
    drop(store);
}

#[tokio::test]
async fn concurrent_sqlite_writers_wait_instead_of_failing() {
    let db = fresh_sqlite().unwrap();
    let (a, b) = tokio::join!(db.open(), db.open());
    let (a, b) = (a.unwrap(), b.unwrap());
    let writes = (0..40).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            store.create_admin(&admin(&format!("user{i}"))).await?;
            store
                .set_admin_password(&format!("user{i}"), "$argon2id$changed")
                .await
        })
    });
    for write in writes.collect::<Vec<_>>() {
        assert!(write.await.unwrap().unwrap());
    }
    assert_eq!(a.count_admins().await.unwrap(), 40);
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_opens_of_a_new_sqlite_file_all_succeed() {
    for _ in 0..10 {
        let db = fresh_sqlite().unwrap();
        let opened = futures_join_all(&db.url, 4).await;
        for store in &opened {
            let store = store.as_ref().unwrap();
            assert_eq!(store.count_admins().await.unwrap(), 0);
        }
        for store in opened.into_iter().flatten() {
            store.close().await;
        }
    }
}

async fn futures_join_all(
    url: &str,
    n: usize,
) -> Vec<Result<switchboard_store::SqlStore, StoreError>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let url = url.to_owned();
            tokio::spawn(async move { open(&url).await })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test]
async fn sqlite_open_errors_show_their_cause() {
    let dir = tempfile::tempdir().unwrap();
    // A directory is not a database file.
    let url = format!("sqlite://{}", dir.path().display());
    let started = std::time::Instant::now();
    let err = open(&url).await.expect_err("a directory cannot be opened");
    let message = err.to_string();
    assert!(message.contains("opening the SQLite database"), "{message}");
    assert!(
        !message.contains("timed out"),
        "the cause must show: {message}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
