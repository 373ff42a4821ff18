//! The Store conformance suite: every case is written once against `&dyn Store`,
//! `&dyn ExtensionStore`, `&dyn SubscriptionStore` and `&dyn PhonebookStore` and runs on SQLite
//! (a temp file) and, when `SWITCHBOARD_TEST_POSTGRES` is set, on a fresh PostgreSQL database.
//! Key-vault tests are in `vault.rs`.

#![allow(clippy::unwrap_used)]

mod admins;
mod api_tokens;
mod connection;
mod consent;
mod extensions;
mod local_extensions;
mod opening;
mod phonebook;
mod presence;
mod sessions;
mod subscriptions;
mod sync_records;
mod vault;

use jiff::Timestamp;
use switchboard_core::ports::{
    ExtensionStore, PhonebookStore, PresenceStore, Store, SubscriptionStore,
};
use switchboard_store::testing::{TestDatabase, engines_under_test, fresh_database};
use switchboard_store::{Engine, SqlStore};

/// What a case gets: the store under test (as the ports only) and its database.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub store: &'a dyn Store,
    pub ext: &'a dyn ExtensionStore,
    pub subs: &'a dyn SubscriptionStore,
    pub books: &'a dyn PhonebookStore,
    pub presence: &'a dyn PresenceStore,
    pub db: &'a TestDatabase,
}

impl Ctx<'_> {
    pub fn engine(&self) -> Engine {
        self.db.engine()
    }

    /// A second, raw connection to the same database, for poking at rows behind the port.
    pub async fn raw(&self) -> sqlx::AnyConnection {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(&self.db.url).await.unwrap()
    }
}

/// A millisecond-precise timestamp (the precision the store keeps).
pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Runs one case on every configured engine, each time on a fresh database.
pub async fn on_every_engine<F>(case_name: &str, case: F)
where
    F: for<'a> AsyncFn(&'a Ctx<'a>),
{
    for base in engines_under_test() {
        let db = fresh_database(base.as_deref())
            .await
            .expect("a fresh test database");
        eprintln!("--- {case_name} on {}", db.engine());
        let store: SqlStore = db.open().await.expect("opening the test database");
        let ctx = Ctx {
            store: &store,
            ext: &store,
            subs: &store,
            books: &store,
            presence: &store,
            db: &db,
        };
        case(&ctx).await;
        store.close().await;
        db.drop_database().await;
    }
}

/// One `#[tokio::test]` per case, each running the case on every engine.
macro_rules! conformance {
    ($($(#[$attr:meta])* $module:ident :: $case:ident),* $(,)?) => {
        mod cases {
            $(
                $(#[$attr])*
                #[tokio::test]
                async fn $case() {
                    crate::on_every_engine(
                        concat!(stringify!($module), "::", stringify!($case)),
                        crate::$module::$case,
                    )
                    .await;
                }
            )*
        }
    };
}

conformance! {
    connection::empty_store_loads_the_default,
    connection::round_trips_every_field,
    connection::save_overwrites_the_single_row,
    connection::keeps_millisecond_precision,
    connection::corrupt_credential_json_is_reported,
    connection::corrupt_columns_are_reported,
    consent::state_is_single_use,
    consent::expired_state_is_refused_and_purged,
    consent::duplicate_state_conflicts,
    admins::create_find_and_count,
    admins::duplicate_username_conflicts,
    admins::password_change,
    sessions::find_live_session,
    sessions::expired_session_is_not_found_and_is_deleted,
    sessions::delete_one_and_all_of_a_user,
    sessions::session_needs_an_existing_admin,
    sessions::deleting_an_admin_cascades,
    api_tokens::create_and_find,
    api_tokens::duplicate_token_conflicts,
    api_tokens::token_needs_an_existing_admin,
    opening::migrations_are_idempotent,
    extensions::batch_create_then_read,
    extensions::empty_batches_write_nothing,
    extensions::update_changes_only_the_named_fields,
    extensions::disable_and_enable,
    extensions::delete_leaves_a_tombstone_and_recreating_removes_it,
    extensions::adopt_turns_a_local_extension_into_a_synced_one,
    extensions::the_same_batch_twice_is_the_same_as_once,
    extensions::a_conflicting_create_rolls_back_the_whole_batch,
    extensions::sync_leaves_excluded_extensions_alone,
    extensions::stale_actions_on_missing_extensions_do_nothing,
    extensions::list_filters_and_pages,
    extensions::extensions_for_more_than_500_users,
    extensions::a_batch_of_a_thousand,
    extensions::agrees_with_the_core_reference,
    extensions::department_groups_follow_the_department,
    local_extensions::create_a_local_extension,
    local_extensions::edit_an_extension,
    local_extensions::exclude_and_include,
    local_extensions::delete_local_and_synced_extensions,
    local_extensions::audit_log_filters_and_limits,
    sync_records::sync_state_round_trips,
    sync_records::sync_runs_round_trip,
    sync_records::settings_round_trip,
    subscriptions::subscription_round_trips,
    subscriptions::save_overwrites_expiry_and_renewal,
    subscriptions::list_is_ordered_by_expiry,
    subscriptions::delete_is_idempotent,
    subscriptions::duplicate_notifications_are_refused,
    subscriptions::lifecycle_notifications_dedupe_too,
    subscriptions::old_notifications_are_purged,
    phonebook::an_entry_round_trips_every_field,
    phonebook::mailbox_state_round_trips,
    phonebook::replaying_a_page_changes_nothing,
    phonebook::a_whole_folder_round_removes_what_it_did_not_see,
    phonebook::entries_move_between_folders_and_books,
    phonebook::remove_folder_and_mailbox,
    phonebook::search_and_paging_of_a_book,
    phonebook::keyset_pages_cover_every_entry_once,
    phonebook::phonebook_secrets,
    phonebook::a_failed_write_leaves_nothing_half_written,
    presence::calendar_and_presence_round_trip,
    presence::save_calendar_replaces_the_entries,
    presence::entries_are_ordered_by_start_then_id,
    presence::list_is_ordered_by_number,
    presence::remove_calendar_keeps_the_presence,
    presence::a_failed_save_leaves_the_previous_calendar,
    presence::concurrent_saves_do_not_mix,
    presence::corrupt_rows_are_reported,
    // A timing figure, not a check: `cargo test -p switchboard-store -- --ignored ten_thousand`.
    #[ignore = "timing; minutes on PostgreSQL"] presence::ten_thousand_calendars_of_twenty_entries,
}
