//! Integration tests against the project's Graph emulator (one binary, one emulator per test).

mod batch_stub;
mod calendars;
mod common;
mod directory;
mod gateway;
mod mailboxes;
mod pager;
mod retries;
mod subscriptions;
mod tokens;
