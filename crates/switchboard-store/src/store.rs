//! The `Store`, `ExtensionStore`, `SubscriptionStore` and `PhonebookStore` ports, mapped onto
//! one module per aggregate.

use crate::open::SqlStore;
use crate::{
    admins, api_tokens, audit, connection, consent, extensions, local_changes, phonebook, sessions,
    subscriptions, sync_records, user_batch,
};
use async_trait::async_trait;
use jiff::Timestamp;
use switchboard_core::auth::{AdminUser, ApiTokenRecord, SessionRecord};
use switchboard_core::contacts::{
    Book, MailboxSyncState, PhonebookEntry, PhonebookQuery, PhonebookWrite,
};
use switchboard_core::office365::Connection;
use switchboard_core::ports::{
    ExtensionStore, PhonebookStore, ReceivedNotification, Store, StoreError, SubscriptionRecord,
    SubscriptionStore,
};
use switchboard_core::users::{
    AuditEntry, Extension, ExtensionQuery, ExtensionRecord, PlanningSnapshot, SyncRunRecord,
    SyncState, SyncedFields, UserSyncBatch,
};

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

#[async_trait]
impl ExtensionStore for SqlStore {
    async fn list_extensions(
        &self,
        query: &ExtensionQuery,
    ) -> Result<Vec<ExtensionRecord>, StoreError> {
        extensions::list(&self.pool, query).await
    }

    async fn get_extension(&self, number: &str) -> Result<Option<ExtensionRecord>, StoreError> {
        extensions::get(&self.pool, number).await
    }

    async fn count_extensions(&self) -> Result<u64, StoreError> {
        extensions::count_all(&self.pool).await
    }

    async fn create_local_extension(
        &self,
        number: &str,
        fields: &SyncedFields,
        actor: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        local_changes::create(&self.pool, self.engine(), number, fields, actor, at).await
    }

    async fn edit_extension(
        &self,
        number: &str,
        fields: &SyncedFields,
        actor: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        local_changes::edit(&self.pool, self.engine(), number, fields, actor, at).await
    }

    async fn set_excluded(
        &self,
        number: &str,
        excluded: bool,
        actor: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        local_changes::set_excluded(&self.pool, self.engine(), number, excluded, actor, at).await
    }

    async fn delete_extension(
        &self,
        number: &str,
        actor: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        local_changes::delete(&self.pool, self.engine(), number, actor, at).await
    }

    async fn planning_snapshot(&self) -> Result<PlanningSnapshot, StoreError> {
        extensions::planning_snapshot(&self.pool).await
    }

    async fn extensions_for_users(
        &self,
        graph_user_ids: &[String],
    ) -> Result<Vec<Extension>, StoreError> {
        extensions::for_users(&self.pool, graph_user_ids).await
    }

    async fn rebuild_department_groups(&self, enabled: bool) -> Result<u64, StoreError> {
        extensions::rebuild_department_groups(&self.pool, enabled).await
    }

    async fn admin_deleted_synced_users(&self, limit: u32) -> Result<Vec<String>, StoreError> {
        extensions::admin_deleted_synced_users(&self.pool, limit).await
    }

    async fn locally_edited_synced_users(&self, limit: u32) -> Result<Vec<String>, StoreError> {
        extensions::locally_edited_synced_users(&self.pool, limit).await
    }

    async fn synced_user_ids_page(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<(String, String)>, StoreError> {
        extensions::synced_user_ids_page(&self.pool, after, limit).await
    }

    async fn apply_user_batch(&self, batch: &UserSyncBatch) -> Result<(), StoreError> {
        user_batch::apply(&self.pool, self.engine(), batch).await
    }

    async fn load_sync_state(&self, key: &str) -> Result<SyncState, StoreError> {
        sync_records::load_state(&self.pool, key).await
    }

    async fn save_sync_state(&self, key: &str, state: &SyncState) -> Result<(), StoreError> {
        sync_records::save_state(&self.pool, key, state).await
    }

    async fn save_sync_run(&self, run: &SyncRunRecord) -> Result<(), StoreError> {
        sync_records::save_run(&self.pool, run).await
    }

    async fn recent_sync_runs(
        &self,
        kind: &str,
        limit: u32,
    ) -> Result<Vec<SyncRunRecord>, StoreError> {
        sync_records::recent_runs(&self.pool, kind, limit).await
    }

    async fn audit_log(
        &self,
        number: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        audit::list(&self.pool, number, limit).await
    }

    async fn load_setting(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        sync_records::load_setting(&self.pool, key).await
    }

    async fn save_setting(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        sync_records::save_setting(&self.pool, key, value).await
    }
}

#[async_trait]
impl SubscriptionStore for SqlStore {
    async fn save_subscription(&self, subscription: &SubscriptionRecord) -> Result<(), StoreError> {
        subscriptions::save(&self.pool, subscription).await
    }

    async fn list_subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError> {
        subscriptions::list(&self.pool).await
    }

    async fn find_subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        subscriptions::find(&self.pool, id).await
    }

    async fn delete_subscription(&self, id: &str) -> Result<(), StoreError> {
        subscriptions::delete(&self.pool, id).await
    }

    async fn record_notification(
        &self,
        notification: &ReceivedNotification,
    ) -> Result<bool, StoreError> {
        subscriptions::record_notification(&self.pool, notification).await
    }
}

#[async_trait]
impl PhonebookStore for SqlStore {
    async fn apply_phonebook_write(&self, write: &PhonebookWrite) -> Result<(), StoreError> {
        phonebook::apply_write(&self.pool, self.engine(), write).await
    }

    async fn remove_folder(&self, mailbox_id: &str, folder_id: &str) -> Result<u64, StoreError> {
        phonebook::remove_folder(&self.pool, self.engine(), mailbox_id, folder_id).await
    }

    async fn remove_mailbox(&self, mailbox_id: &str) -> Result<u64, StoreError> {
        phonebook::remove_mailbox(&self.pool, self.engine(), mailbox_id).await
    }

    async fn load_mailbox_state(
        &self,
        mailbox_id: &str,
    ) -> Result<Option<MailboxSyncState>, StoreError> {
        phonebook::load_mailbox_state(&self.pool, mailbox_id).await
    }

    async fn save_mailbox_state(&self, state: &MailboxSyncState) -> Result<(), StoreError> {
        phonebook::save_mailbox_state(&self.pool, state).await
    }

    async fn list_mailboxes(&self) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
        phonebook::list_mailboxes(&self.pool).await
    }

    async fn phonebook(
        &self,
        book: &Book,
        query: &PhonebookQuery,
    ) -> Result<Vec<PhonebookEntry>, StoreError> {
        phonebook::phonebook(&self.pool, book, query).await
    }

    async fn count_phonebook(&self, book: &Book) -> Result<u64, StoreError> {
        phonebook::count_phonebook(&self.pool, book).await
    }

    async fn phonebook_entries_page(
        &self,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<PhonebookEntry>, StoreError> {
        phonebook::entries_page(&self.pool, after, limit).await
    }

    async fn book_version(&self, book: &Book) -> Result<i64, StoreError> {
        phonebook::book_version(&self.pool, book).await
    }

    async fn set_phonebook_secret(
        &self,
        number: &str,
        secret_sha256: Option<&str>,
    ) -> Result<bool, StoreError> {
        phonebook::set_secret(&self.pool, self.engine(), number, secret_sha256).await
    }

    async fn phonebook_secret(&self, number: &str) -> Result<Option<String>, StoreError> {
        phonebook::secret(&self.pool, number).await
    }
}
