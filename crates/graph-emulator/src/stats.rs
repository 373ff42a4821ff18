//! Request counts per method + route pattern + status, for `GET /_emulator/stats`.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub total: u64,
    /// `"GET /v1.0/organization"` → `"200"` → count.
    pub routes: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Stats {
    pub fn record(&mut self, method: &str, route: &str, status: u16) {
        self.total += 1;
        *self
            .routes
            .entry(format!("{method} {route}"))
            .or_default()
            .entry(status.to_string())
            .or_default() += 1;
    }
}
