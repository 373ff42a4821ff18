//! Integration tests: every request goes over HTTP to `RunningEmulator::start` on port 0.

mod batch;
mod calendar;
mod common;
mod consent;
mod contacts;
mod control;
mod delta;
mod directory;
mod faults;
mod graph;
mod groups;
mod subscriptions;
mod token;
mod users;
