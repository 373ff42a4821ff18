//! Integration tests against the project's Graph emulator (one binary, one emulator per test).

mod common;
mod directory;
mod gateway;
mod pager;
mod retries;
mod subscriptions;
mod tokens;
