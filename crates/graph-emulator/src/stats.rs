//! Request counts per method + route pattern + status, for `GET /_emulator/stats`.
//!
//! `total` and `routes` count HTTP requests as they arrive (a `$batch` is one
//! `POST /v1.0/$batch`); the requests inside batches are counted apart, in `batch_total` and
//! `batch_routes`, so a test can tell round trips from Graph operations.

use std::collections::BTreeMap;

use serde::Serialize;

/// Request extension marking a request that runs inside a `$batch`.
#[derive(Debug, Clone, Copy)]
pub struct BatchItem;

/// Route label of batch items refused before routing (bad url, header or body).
pub const REJECTED: &str = "(rejected)";
/// Route label of batch items not run because a `dependsOn` request failed (424).
pub const FAILED_DEPENDENCY: &str = "(failed dependency)";

#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub total: u64,
    /// `"GET /v1.0/organization"` → `"200"` → count.
    pub routes: BTreeMap<String, BTreeMap<String, u64>>,
    /// Requests inside `$batch` bodies.
    pub batch_total: u64,
    /// The same shape as `routes`, for requests inside `$batch` bodies.
    pub batch_routes: BTreeMap<String, BTreeMap<String, u64>>,
}

fn bump(map: &mut BTreeMap<String, BTreeMap<String, u64>>, method: &str, route: &str, status: u16) {
    *map.entry(format!("{method} {route}"))
        .or_default()
        .entry(status.to_string())
        .or_default() += 1;
}

impl Stats {
    pub fn record(&mut self, method: &str, route: &str, status: u16) {
        self.total += 1;
        bump(&mut self.routes, method, route, status);
    }

    pub fn record_batch_item(&mut self, method: &str, route: &str, status: u16) {
        self.batch_total += 1;
        bump(&mut self.batch_routes, method, route, status);
    }
}
