//! Sync leadership: on PostgreSQL a session-level advisory lock held on a dedicated connection
//! (lost with the connection, so a dead leader frees it); on SQLite there is only one node.

use crate::{Engine, SqlStore};
use async_trait::async_trait;
use sqlx::{AnyConnection, Connection};
use switchboard_core::ports::{Leadership, StoreError};
use tokio::sync::Mutex;

/// The advisory-lock key: "SWBD" in ASCII, so other applications on the database are unlikely
/// to collide with it.
const LOCK_KEY: i64 = 0x5357_4244;

#[derive(Debug)]
pub struct SqlLeadership {
    store: SqlStore,
    held: Mutex<Option<AnyConnection>>,
}

impl SqlLeadership {
    pub fn new(store: SqlStore) -> Self {
        Self {
            store,
            held: Mutex::new(None),
        }
    }
}

fn db(what: &str, e: sqlx::Error) -> StoreError {
    StoreError::Database(format!("{what}: {e}"))
}

#[async_trait]
impl Leadership for SqlLeadership {
    async fn try_lead(&self) -> Result<bool, StoreError> {
        if self.store.engine() == Engine::Sqlite {
            return Ok(true);
        }
        let mut held = self.held.lock().await;
        if let Some(conn) = held.as_mut() {
            if conn.ping().await.is_ok() {
                return Ok(true);
            }
            // The connection died, and the lock with it: another instance may lead now.
            tracing::warn!("lost the sync leadership connection; trying to lead again");
            *held = None;
        }
        let mut conn = self
            .store
            .pool
            .acquire()
            .await
            .map_err(|e| db("taking a connection for the sync leadership lock", e))?
            .detach();
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LOCK_KEY)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| db("asking for the sync leadership lock", e))?;
        if got {
            tracing::info!("this instance now runs the syncs (leader)");
            *held = Some(conn);
        }
        Ok(got)
    }
}
