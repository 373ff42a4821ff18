//! The Outlook concurrency limit (graph-protocol.md §6.2): at most 4 requests in flight per
//! (app, mailbox); the next one is answered 429 `ApplicationThrottled` at once.

use std::collections::HashMap;

use serde::Serialize;

use crate::state::AppState;

/// Settings the control API changes (`POST /_emulator/outlook`).
#[derive(Debug, Clone, Serialize)]
pub struct OutlookConfig {
    /// Concurrent requests per (app, mailbox) before 429 (Graph: 4).
    pub concurrency_limit: u32,
    /// Time every Outlook request spends holding its slot, so tests can overlap requests.
    pub latency_ms: u64,
    /// `Retry-After` of the concurrency 429, in seconds (sent verbatim) [inf].
    pub retry_after: String,
}

impl Default for OutlookConfig {
    fn default() -> Self {
        OutlookConfig {
            concurrency_limit: 4,
            latency_ms: 0,
            retry_after: "1".to_owned(),
        }
    }
}

/// In-flight Outlook requests per (lower-case appId, user index).
#[derive(Debug, Default)]
pub struct Limits {
    in_flight: HashMap<(String, u32), u32>,
    pub config: OutlookConfig,
}

/// A held slot; dropping it releases the slot.
#[derive(Debug)]
pub struct Slot {
    state: AppState,
    key: (String, u32),
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut limits = self.state.limits();
        if let Some(n) = limits.in_flight.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                limits.in_flight.remove(&self.key);
            }
        }
    }
}

/// Takes a slot for `app` on the mailbox of user `idx`, or `None` when the limit is reached.
pub fn acquire(state: &AppState, app: &str, idx: u32) -> Option<Slot> {
    let key = (app.to_ascii_lowercase(), idx);
    let mut limits = state.limits();
    let limit = limits.config.concurrency_limit;
    let n = limits.in_flight.entry(key.clone()).or_default();
    if *n >= limit {
        return None;
    }
    *n += 1;
    drop(limits);
    Some(Slot {
        state: state.clone(),
        key,
    })
}

/// Requests in flight right now, for `/_emulator/outlook`.
pub fn in_flight(state: &AppState) -> u32 {
    state.limits().in_flight.values().sum()
}
