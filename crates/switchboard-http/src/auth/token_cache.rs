//! Verified API tokens kept in memory, so that a bearer-token request does not wait for the
//! database: the caller-ID lookup is asked on every incoming call.
//!
//! - Keyed by the SHA-256 of the token (the token itself is never kept).
//! - An entry is trusted for `ttl` (60 s by default, [`crate::HttpConfig::api_token_cache_ttl`])
//!   after the store confirmed it; then the store is asked again. So a token revoked or changed
//!   in the store (for instance by `switchboard admin token` in another process) stops working,
//!   or takes its new owner, within that time at the latest.
//! - Unknown tokens are never remembered: guessing cannot fill the cache, and a token created a
//!   moment ago works at once.
//! - At most [`CAPACITY`] tokens are kept; when full, expired entries go first, then the entry
//!   verified longest ago.

use super::hex_sha256;
use aws_lc_rs::digest::{SHA256, digest};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use switchboard_core::ports::{Store, StoreError};

/// How many verified tokens are kept at most. Deployments have a handful; the bound only
/// protects memory.
pub(crate) const CAPACITY: usize = 1024;

/// Who a verified token belongs to. Cloning is cheap (reference counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenOwner {
    pub(crate) username: Arc<str>,
    /// The audit actor: `api:{token name}`.
    pub(crate) actor: Arc<str>,
}

#[derive(Debug)]
struct Entry {
    owner: TokenOwner,
    verified_at: Instant,
}

pub(crate) struct TokenCache {
    ttl: Duration,
    capacity: usize,
    entries: RwLock<HashMap<[u8; 32], Entry>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the size: the keys are token hashes.
        f.debug_struct("TokenCache")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl TokenCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self::with_capacity(ttl, CAPACITY)
    }

    pub(crate) fn with_capacity(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The owner of `token`: from memory when the store confirmed it less than `ttl` ago, else
    /// from the store (and remembered). `None` for an unknown or revoked token.
    pub(crate) async fn verify(
        &self,
        store: &dyn Store,
        token: &str,
    ) -> Result<Option<TokenOwner>, StoreError> {
        let key = sha256(token);
        let now = Instant::now();
        if let Some(owner) = self.fresh(&key, now) {
            return Ok(Some(owner));
        }
        let found = store.find_api_token(&hex_sha256(&key)).await?;
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(record) = found else {
            // Revoked since it was cached: forget it now rather than at the next eviction.
            entries.remove(&key);
            return Ok(None);
        };
        let owner = TokenOwner {
            username: record.username.into(),
            actor: format!("api:{}", record.name).into(),
        };
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            self.make_room(&mut entries, now);
        }
        entries.insert(
            key,
            Entry {
                owner: owner.clone(),
                verified_at: now,
            },
        );
        Ok(Some(owner))
    }

    fn fresh(&self, key: &[u8; 32], now: Instant) -> Option<TokenOwner> {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = entries.get(key)?;
        (now.saturating_duration_since(entry.verified_at) < self.ttl).then(|| entry.owner.clone())
    }

    fn make_room(&self, entries: &mut HashMap<[u8; 32], Entry>, now: Instant) {
        entries.retain(|_, e| now.saturating_duration_since(e.verified_at) < self.ttl);
        while entries.len() >= self.capacity {
            let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.verified_at)
                .map(|(k, _)| *k)
            else {
                break;
            };
            entries.remove(&oldest);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }
}

fn sha256(token: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    key
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::hash_token;

    #[test]
    fn the_key_is_the_stored_hash_in_bytes() {
        assert_eq!(hex_sha256(&sha256("abc")), hash_token("abc"));
    }

    #[test]
    fn a_full_cache_drops_expired_entries_then_the_oldest() {
        let cache = TokenCache::with_capacity(Duration::from_secs(60), 2);
        let owner = TokenOwner {
            username: "u".into(),
            actor: "api:t".into(),
        };
        let start = Instant::now();
        let mut entries = cache.entries.write().unwrap();
        for (i, age) in [(1u8, 0u64), (2, 10)] {
            entries.insert(
                [i; 32],
                Entry {
                    owner: owner.clone(),
                    verified_at: start + Duration::from_secs(age),
                },
            );
        }
        cache.make_room(&mut entries, start + Duration::from_secs(20));
        assert_eq!(entries.len(), 1, "the oldest goes");
        assert!(entries.contains_key(&[2; 32]));
        cache.make_room(&mut entries, start + Duration::from_secs(100));
        assert!(entries.is_empty(), "expired entries go first");
    }
}
