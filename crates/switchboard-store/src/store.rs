//! The `Store` port, mapped onto one module per aggregate.

use crate::open::SqlStore;
use crate::{admins, api_tokens, connection, consent, sessions};
use async_trait::async_trait;
use jiff::Timestamp;
use switchboard_core::auth::{AdminUser, ApiTokenRecord, SessionRecord};
use switchboard_core::office365::Connection;
use switchboard_core::ports::{Store, StoreError};

#[async_trait]
impl Store for SqlStore {
    async fn load_connection(&self) -> Result<Connection, StoreError> {
        connection::load(&self.pool).await
    }

    async fn save_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        connection::save(&self.pool, connection).await
    }

    async fn put_consent_state(
        &self,
        state: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        consent::put(&self.pool, state, expires_at).await
    }

    async fn take_consent_state(&self, state: &str, now: Timestamp) -> Result<bool, StoreError> {
        consent::take(&self.pool, state, now).await
    }

    async fn create_admin(&self, admin: &AdminUser) -> Result<(), StoreError> {
        admins::create(&self.pool, admin).await
    }

    async fn find_admin(&self, username: &str) -> Result<Option<AdminUser>, StoreError> {
        admins::find(&self.pool, username).await
    }

    async fn set_admin_password(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        admins::set_password(&self.pool, username, password_hash).await
    }

    async fn count_admins(&self) -> Result<u64, StoreError> {
        admins::count_all(&self.pool).await
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        sessions::create(&self.pool, session).await
    }

    async fn find_session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        sessions::find(&self.pool, id_hash, now).await
    }

    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sessions::delete(&self.pool, id_hash).await
    }

    async fn delete_sessions_of(&self, username: &str) -> Result<u64, StoreError> {
        sessions::delete_of(&self.pool, username).await
    }

    async fn create_api_token(&self, token: &ApiTokenRecord) -> Result<(), StoreError> {
        api_tokens::create(&self.pool, token).await
    }

    async fn find_api_token(&self, token_hash: &str) -> Result<Option<ApiTokenRecord>, StoreError> {
        api_tokens::find(&self.pool, token_hash).await
    }
}
