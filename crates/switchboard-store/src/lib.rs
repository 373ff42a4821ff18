//! Switchboard's persistent state: one implementation of the [`Store`], [`ExtensionStore`],
//! [`SubscriptionStore`] and [`PhonebookStore`] ports over `sqlx::AnyPool` that runs the same SQL
//! on SQLite and PostgreSQL, the migrations for both engines, and [`FileKeyVault`], the directory
//! of 0600 files that holds private keys.
//!
//! Layout: [`open()`] parses the database URL, connects and migrates; `store.rs` maps the ports
//! onto one module per aggregate (`connection`, `consent`, `admins`, `sessions`, `api_tokens`;
//! `extensions` with `user_batch` and `local_changes` writing them, `audit`, `sync_records`,
//! `subscriptions`, `phonebook`); `support.rs` holds what they share (error mapping, row
//! decoding, timestamps, `IN` lists, write transactions).
//!
//! Stored representation: timestamps are `BIGINT` Unix milliseconds (sub-millisecond precision is
//! dropped), structured values are JSON in `TEXT` columns, enums are their `as_str()` spelling,
//! flags are `BOOLEAN` on PostgreSQL and `INTEGER` 0/1 on SQLite.
//!
//! [`Store`]: switchboard_core::ports::Store
//! [`ExtensionStore`]: switchboard_core::ports::ExtensionStore
//! [`SubscriptionStore`]: switchboard_core::ports::SubscriptionStore
//! [`PhonebookStore`]: switchboard_core::ports::PhonebookStore

mod admins;
mod api_tokens;
mod audit;
mod connection;
mod consent;
mod extensions;
mod leader;
mod local_changes;
mod open;
mod phonebook;
mod presence;
mod sessions;
mod store;
mod subscriptions;
mod support;
mod sync_records;
pub mod testing;
mod user_batch;
mod vault;

pub use leader::SqlLeadership;
pub use open::{Engine, SqlStore, open};
pub use switchboard_core::ports::{StoreError, VaultError};
pub use vault::FileKeyVault;
