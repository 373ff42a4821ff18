//! Microsoft Graph + Entra ID adapter: the certificate the admin uploads, app-only tokens signed
//! with it, a Graph client that honours throttling, and the core's [`TenantGateway`],
//! [`DirectorySource`], [`MailboxSource`] and [`CalendarSource`] on top ([`GraphMailboxes`]
//! serves the last two, sharing one set of per-mailbox limits).
//!
//! Protocol facts cited as §n refer to `graph-protocol.md` in the project's shared notes.
//!
//! [`TenantGateway`]: switchboard_core::ports::TenantGateway
//! [`DirectorySource`]: switchboard_core::ports::DirectorySource
//! [`MailboxSource`]: switchboard_core::ports::MailboxSource
//! [`CalendarSource`]: switchboard_core::ports::CalendarSource

pub mod auth;
mod batch;
pub mod calendars;
pub mod certificates;
pub mod client;
pub mod config;
pub mod directory;
pub mod gateway;
pub mod mailboxes;
mod retry;
pub mod subscriptions;

pub use auth::{AccessToken, AppCredential, TokenError, TokenProvider};
pub use certificates::{RcgenCertificateFactory, inspect_certificate};
pub use client::{
    ApiError, GraphClient, GraphError, GraphRequest, GraphResponse, Page, Pager, http_client,
};
pub use config::{GraphConfig, RetryPolicy};
pub use directory::{GraphDirectory, USER_SELECT};
pub use gateway::EntraGateway;
pub use mailboxes::GraphMailboxes;
pub use subscriptions::GraphSubscriptions;
