//! Switchboard's persistent state: one [`Store`](switchboard_core::ports::Store) implementation
//! over `sqlx::AnyPool` that runs the same SQL on SQLite and PostgreSQL, the migrations for both
//! engines, and [`FileKeyVault`], the directory of 0600 files that holds private keys.
//!
//! Layout: [`open()`] parses the database URL, connects and migrates; `store.rs` maps the `Store`
//! trait onto one module per aggregate (`connection`, `consent`, `admins`, `sessions`,
//! `api_tokens`); `support.rs` holds what they share (error mapping, row decoding, timestamps).
//!
//! Stored representation: timestamps are `BIGINT` Unix milliseconds (sub-millisecond precision is
//! dropped), structured values are JSON in `TEXT` columns, enums are their `as_str()` spelling.

mod admins;
mod api_tokens;
mod connection;
mod consent;
mod open;
mod sessions;
mod store;
mod support;
pub mod testing;
mod vault;

pub use open::{Engine, SqlStore, open};
pub use switchboard_core::ports::{StoreError, VaultError};
pub use vault::FileKeyVault;
