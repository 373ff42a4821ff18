//! Microsoft Graph + Entra ID adapter: the certificate the admin uploads, app-only tokens signed
//! with it, a Graph client that honours throttling, and the core's [`TenantGateway`] and
//! [`DirectorySource`] on top.
//!
//! Protocol facts cited as §n refer to `graph-protocol.md` in the project's shared notes.
//!
//! [`TenantGateway`]: switchboard_core::ports::TenantGateway
//! [`DirectorySource`]: switchboard_core::ports::DirectorySource

pub mod auth;
pub mod certificates;
pub mod client;
pub mod config;
pub mod directory;
pub mod gateway;
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
pub use subscriptions::GraphSubscriptions;
