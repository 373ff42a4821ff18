//! The composition root: configuration, wiring of the adapters around the core, and the commands.
//! `main.rs` is only the command line on top of this library, so integration tests can start the
//! same application in-process.

pub mod app;
pub mod bench;
pub mod commands;
pub mod config;
pub mod demo;
pub mod notifications;
pub mod presence;
pub mod scheduler;
pub mod telemetry;
