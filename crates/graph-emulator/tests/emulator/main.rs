//! Integration tests: every request goes over HTTP to `RunningEmulator::start` on port 0.

mod common;
mod consent;
mod control;
mod faults;
mod graph;
mod token;
