//! Compact string storage for one directory object: every present value in a single
//! allocation, so 100,000 users cost one small heap block each instead of twenty `String`s.
//!
//! Layout of the `Box<str>`: a run of entries `[tag][len][value]`. `tag` is the slot (bits
//! 0–5) plus bit 6 for "interned"; `len` is one byte below 0x7f, or 0x7f and three more
//! bytes (7 bits each). Every header byte is ASCII, so the buffer stays valid UTF-8 and
//! values are sliced out with checked `str::get`. An interned entry has no value bytes: its
//! `len` is an index into [`WORDS`], the vocabulary the generator repeats (departments, job
//! titles, cities, `Member`…), so a department costs two bytes. A value that occurs inside an
//! earlier value of the same object (mail = UPN, mailNickname = the UPN's alias, UPN inside
//! `SMTP:{upn}`) is a reference `[offset][len]` into the buffer instead. Absent (null) values
//! have no entry; lookups scan the entries (a user has about twenty).

use std::collections::HashMap;
use std::sync::LazyLock;

/// Index of a stored string property (see `props::slot`); below 64.
pub type Slot = u8;

/// Longest value one entry can hold.
pub const MAX_VALUE_LEN: usize = (1 << 21) - 1;

/// Tag bit: the entry is a word index (`len` even: index × 2) or a back-reference (`len`
/// odd: offset × 2 + 1, then the length).
const INDIRECT: u8 = 0x40;
const SLOT_MASK: u8 = 0x3f;
const LONG: u8 = 0x7f;

/// Slots whose values often repeat one another (addresses and aliases): only these are
/// searched for back-references, longest first.
const SHARED: &[Slot] = &[3, 4, 5, 24, 25, 26];

/// Strings stored by reference.
pub static WORDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut words = super::generate::vocabulary();
    words.sort_unstable();
    words.dedup();
    words
});

static WORD_INDEX: LazyLock<HashMap<&'static str, usize>> =
    LazyLock::new(|| WORDS.iter().enumerate().map(|(i, w)| (*w, i)).collect());

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Packed(Box<str>);

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

fn push_len(out: &mut String, n: usize) {
    if n < usize::from(LONG) {
        out.push(char::from(n as u8));
    } else {
        out.push(char::from(LONG));
        out.push(char::from((n & 0x7f) as u8));
        out.push(char::from(((n >> 7) & 0x7f) as u8));
        out.push(char::from(((n >> 14) & 0x7f) as u8));
    }
}

/// Appends a raw entry; returns the byte offset of its value.
fn push_raw(out: &mut String, slot: Slot, value: &str) -> usize {
    out.push(char::from(slot));
    push_len(out, value.len());
    let at = out.len();
    out.push_str(value);
    at
}

impl Packed {
    /// Packs `(slot, value)` pairs; a later pair for the same slot is ignored, and values
    /// longer than [`MAX_VALUE_LEN`] are cut at a char boundary (callers validate first).
    pub fn build<'a>(values: impl IntoIterator<Item = (Slot, &'a str)>) -> Packed {
        let mut buf = String::new();
        Self::build_into(&mut buf, values)
    }

    /// Like [`Packed::build`], reusing `scratch` as the work buffer.
    pub fn build_into<'a>(
        scratch: &mut String,
        values: impl IntoIterator<Item = (Slot, &'a str)>,
    ) -> Packed {
        scratch.clear();
        let mut seen: u64 = 0;
        let mut shared: Vec<(Slot, &str)> = Vec::new();
        for (slot, value) in values {
            if slot > SLOT_MASK || seen & (1u64 << slot) != 0 {
                continue;
            }
            seen |= 1u64 << slot;
            let value = truncate(value);
            if SHARED.contains(&slot) {
                shared.push((slot, value));
            } else if let Some(i) = WORD_INDEX.get(value) {
                scratch.push(char::from(slot | INDIRECT));
                push_len(scratch, *i << 1);
            } else {
                push_raw(scratch, slot, value);
            }
        }
        // Longest first, so shorter ones can point into them.
        shared.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        let mut raw: Vec<(usize, &str)> = Vec::new();
        for (slot, value) in shared {
            let found = (value.len() >= 4)
                .then(|| {
                    raw.iter()
                        .find_map(|(at, r)| r.find(value).map(|pos| at + pos))
                })
                .flatten();
            match found {
                Some(offset) => {
                    scratch.push(char::from(slot | INDIRECT));
                    push_len(scratch, (offset << 1) | 1);
                    push_len(scratch, value.len());
                }
                None => {
                    let at = push_raw(scratch, slot, value);
                    raw.push((at, value));
                }
            }
        }
        Packed(scratch.as_str().into())
    }
    pub fn get(&self, slot: Slot) -> Option<&str> {
        self.iter().find(|(s, _)| *s == slot).map(|(_, v)| v)
    }

    /// Present values in storage order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            text: &self.0,
            pos: 0,
        }
    }

    /// A copy with `slot` set to `value` (`None` removes it); the order of other slots stays.
    pub fn with(&self, slot: Slot, value: Option<&str>) -> Packed {
        let mut replaced = false;
        let mut pairs: Vec<(Slot, &str)> = Vec::new();
        for (s, v) in self.iter() {
            if s == slot {
                replaced = true;
                if let Some(new) = value {
                    pairs.push((s, new));
                }
            } else {
                pairs.push((s, v));
            }
        }
        if !replaced && let Some(new) = value {
            pairs.push((slot, new));
        }
        Packed::build(pairs)
    }

    /// Heap bytes held (the allocation itself, not allocator overhead).
    pub fn heap_bytes(&self) -> usize {
        self.0.len()
    }
}

fn truncate(value: &str) -> &str {
    if value.len() <= MAX_VALUE_LEN {
        return value;
    }
    let mut end = MAX_VALUE_LEN;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

#[derive(Debug)]
pub struct Iter<'a> {
    text: &'a str,
    pos: usize,
}

impl Iter<'_> {
    fn read_len(&mut self) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let first = *bytes.get(self.pos)?;
        if first != LONG {
            self.pos += 1;
            return Some(usize::from(first));
        }
        let b = bytes.get(self.pos + 1..self.pos + 4)?;
        self.pos += 4;
        Some(usize::from(b[0]) | (usize::from(b[1]) << 7) | (usize::from(b[2]) << 14))
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (Slot, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let tag = *self.text.as_bytes().get(self.pos)?;
        self.pos += 1;
        let n = self.read_len()?;
        if tag & INDIRECT == 0 {
            let value = self.text.get(self.pos..self.pos + n)?;
            self.pos += n;
            return Some((tag, value));
        }
        let slot = tag & SLOT_MASK;
        if n & 1 == 0 {
            return Some((slot, WORDS.get(n >> 1).copied()?));
        }
        let offset = n >> 1;
        let len = self.read_len()?;
        Some((slot, self.text.get(offset..offset + len)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_replace() {
        let long = "x".repeat(300);
        let p = Packed::build([
            (3, "Adele Vance"),
            (0, ""),
            (9, "Zoë ☎"),
            (12, long.as_str()),
        ]);
        assert_eq!(p.get(3), Some("Adele Vance"));
        assert_eq!(p.get(0), Some(""));
        assert_eq!(p.get(9), Some("Zoë ☎"));
        assert_eq!(p.get(12), Some(long.as_str()));
        assert_eq!(p.get(4), None);
        let q = p
            .with(9, None)
            .with(4, Some("new"))
            .with(3, Some("Adele V."));
        assert_eq!(q.get(9), None);
        assert_eq!(q.get(4), Some("new"));
        assert_eq!(q.get(3), Some("Adele V."));
        assert_eq!(q.get(12), Some(long.as_str()));
        assert_eq!(q.iter().count(), 4);
    }

    #[test]
    fn vocabulary_is_stored_by_reference() {
        let word = WORDS.iter().find(|w| w.len() > 5).copied().expect("a word");
        let p = Packed::build([(7, word), (8, "not a known word at all")]);
        assert_eq!(p.get(7), Some(word));
        assert_eq!(p.get(8), Some("not a known word at all"));
        assert_eq!(p.heap_bytes(), 2 + 2 + "not a known word at all".len());
    }

    #[test]
    fn repeated_addresses_point_into_each_other() {
        let upn = "adele.vance@contoso.onmicrosoft.com";
        let proxy = format!("SMTP:{upn}");
        let p = Packed::build([
            (3, upn),
            (4, upn),
            (5, "adele.vance"),
            (24, proxy.as_str()),
            (0, "Adele"),
        ]);
        assert_eq!(p.get(3), Some(upn));
        assert_eq!(p.get(4), Some(upn));
        assert_eq!(p.get(5), Some("adele.vance"));
        assert_eq!(p.get(24), Some(proxy.as_str()));
        assert_eq!(p.get(0), Some("Adele"));
        assert!(p.heap_bytes() < proxy.len() + 25, "{}", p.heap_bytes());
        let q = p.with(24, None);
        assert_eq!(q.get(3), Some(upn));
        assert_eq!(q.get(5), Some("adele.vance"));
        assert_eq!(q.get(24), None);
        let long = "ü".repeat(200);
        let r = Packed::build([(3, long.as_str()), (4, &long[2..]), (5, "ü")]);
        assert_eq!(r.get(4), Some(&long[2..]));
        assert_eq!(r.get(5), Some("ü"));
    }

    #[test]
    fn duplicate_slots_keep_the_first() {
        let p = Packed::build([(1, "a"), (1, "b")]);
        assert_eq!(p.get(1), Some("a"));
        assert_eq!(p.iter().count(), 1);
    }
}
