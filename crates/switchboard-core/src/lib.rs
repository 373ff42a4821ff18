//! Switchboard's domain. Everything here is pure: no database, no HTTP, no wall clock.
//! Adapters (Graph, store, HTTP, SIP) implement the [`ports`] and the binary wires them together.

pub mod auth;
pub mod calendar;
pub mod clock;
pub mod contacts;
pub mod notifications;
pub mod office365;
pub mod ports;
pub mod presence;
pub mod users;

pub use clock::{Clock, SystemClock};
pub use jiff::Timestamp;
