//! A compact set of Entra object ids for a run that must remember every user it listed.

use std::collections::HashSet;

/// Ids in the canonical GUID form Graph uses (lower-case, hyphenated) are kept as 16 bytes
/// instead of a 36-byte string on the heap; any other id is kept as it is, so membership is
/// exact for every string.
#[derive(Debug, Default)]
pub(crate) struct IdSet {
    guids: HashSet<u128>,
    other: HashSet<String>,
}

fn guid(id: &str) -> Option<u128> {
    if id.len() != 36 {
        return None;
    }
    let parsed = uuid::Uuid::try_parse(id).ok()?;
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    (parsed.hyphenated().encode_lower(&mut buf) == id).then(|| parsed.as_u128())
}

impl IdSet {
    /// Adds the id; false when it was already there.
    pub(crate) fn insert(&mut self, id: &str) -> bool {
        match guid(id) {
            Some(g) => self.guids.insert(g),
            None if self.other.contains(id) => false,
            None => self.other.insert(id.to_owned()),
        }
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        match guid(id) {
            Some(g) => self.guids.contains(&g),
            None => self.other.contains(id),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.guids.is_empty() && self.other.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_and_other_ids_are_exact() {
        let mut ids = IdSet::default();
        assert!(ids.is_empty());
        let g = "1b3c5d7e-0000-4000-8000-1234567890ab";
        assert!(ids.insert(g));
        assert!(!ids.insert(g));
        assert!(ids.contains(g));
        assert!(!ids.contains("1B3C5D7E-0000-4000-8000-1234567890AB"));
        assert!(!ids.contains("1b3c5d7e000040008000-1234567890ab"));
        assert!(!ids.contains("1b3c5d7e00004000800012345678 90ab"));
        assert!(ids.insert("1B3C5D7E-0000-4000-8000-1234567890AB"));
        assert!(ids.contains("1B3C5D7E-0000-4000-8000-1234567890AB"));
        assert!(ids.insert("u-ada"));
        assert!(!ids.insert("u-ada"));
        assert!(ids.contains("u-ada"));
        assert!(!ids.contains("u-grace"));
        assert!(!ids.contains("{1b3c5d7e-0000-4000-8000-1234567890ab}"));
        assert!(!ids.is_empty());
    }
}
