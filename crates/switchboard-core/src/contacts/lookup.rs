//! The in-memory caller-ID index: E.164 number → who it is (DESIGN §6 `GET /api/v1/lookup`).
//!
//! Precedence: the callee's own phonebook (when the callee is known), then the extensions'
//! own numbers, then the company phonebook. Within one book the lowest name wins, so the
//! answer never depends on the order entries arrived in.
//!
//! Sized for a million entries: numbers are `u64` keys, names live in one text arena, contact
//! ids are kept as 64-bit hashes (per mailbox) and an entry's slot is 32 bytes. Reads take a
//! shared lock, so concurrent lookups do not wait for each other.

use super::phone::{MAX_E164_LEN, normalise};
use super::{COMPANY_BOOK, PhonebookEntry};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Longer names are cut (at a character boundary): no phone shows more.
const MAX_NAME: usize = 256;
/// Name text no entry uses any more is dropped once it is this large and half the arena.
const COMPACT_AT: usize = 1 << 20;
/// The company book's id in the index.
const COMPANY: u32 = 0;

/// An extension as the index needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexedExtension {
    pub number: String,
    pub display_name: String,
    /// Two-letter `usageLocation`, or empty: the region numbers dialled to it are read in.
    pub region: String,
    /// The extension's own numbers as stored (mobile, business phone), any format.
    pub numbers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupSource {
    Extension,
    Phonebook,
    Company,
}

/// A caller-ID answer (the `GET /api/v1/lookup` body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LookupHit {
    /// The number in E.164; an internal extension number as it was given.
    pub e164: String,
    pub name: String,
    pub source: LookupSource,
    /// The extension the number belongs to (`source` = extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// Whose phonebook answered (`source` = phonebook).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_extension: Option<String>,
}

/// Thread-safe caller-ID index. Cheap to read from many tasks at once.
pub struct PhonebookIndex {
    inner: RwLock<Inner>,
}

impl std::fmt::Debug for PhonebookIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.read();
        f.debug_struct("PhonebookIndex")
            .field("default_region", &inner.default_region)
            .field("entries", &inner.live)
            .field("extensions", &inner.extensions.list.len())
            .finish()
    }
}

impl PhonebookIndex {
    pub fn new(default_region: &str) -> Self {
        Self {
            inner: RwLock::new(Inner {
                default_region: region_code(default_region),
                extensions: ExtensionTable::default(),
                books: vec![COMPANY_BOOK.into()],
                book_ids: HashMap::from([(COMPANY_BOOK.into(), COMPANY)]),
                mailboxes: HashMap::new(),
                slots: Vec::new(),
                free: Vec::new(),
                extra_numbers: HashMap::new(),
                by_number: NumberIndex::default(),
                names: String::new(),
                garbage: 0,
                live: 0,
            }),
        }
    }

    // A panic elsewhere while holding the lock leaves consistent data (every mutation is
    // completed before the guard drops), so a poisoned lock is still usable.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The region numbers are read in when the callee has none. Extension numbers are read
    /// again with it; phonebook entries keep the E.164 forms they were stored with.
    pub fn set_default_region(&self, region: &str) {
        let region = region_code(region);
        let list = {
            let inner = self.read();
            if inner.default_region == region {
                return;
            }
            inner.extensions.list.clone()
        };
        let table = ExtensionTable::build(list, &region);
        let mut inner = self.write();
        inner.default_region = region;
        inner.extensions = table;
    }

    pub fn default_region(&self) -> String {
        self.read().default_region.clone()
    }

    /// Replaces the extensions (their numbers are normalised here, outside the lock).
    pub fn set_extensions(&self, extensions: Vec<IndexedExtension>) {
        let mut region = self.default_region();
        let mut table = ExtensionTable::build(extensions, &region);
        loop {
            let mut inner = self.write();
            if inner.default_region == region {
                inner.extensions = table;
                return;
            }
            // The default region changed meanwhile: read the numbers again with the new one.
            region = inner.default_region.clone();
            drop(inner);
            table = ExtensionTable::build(std::mem::take(&mut table.list), &region);
        }
    }

    /// Adds or replaces one entry (keyed by mailbox and contact id).
    pub fn upsert(&self, entry: &PhonebookEntry) {
        self.write().upsert(entry);
    }

    pub fn remove(&self, mailbox_id: &str, contact_id: &str) {
        self.write().remove(mailbox_id, contact_id);
    }

    /// Makes `entries` the mailbox's whole content, in one step for readers.
    pub fn replace_mailbox(&self, mailbox_id: &str, entries: &[PhonebookEntry]) {
        let mut inner = self.write();
        inner.remove_mailbox(mailbox_id);
        for e in entries.iter().filter(|e| e.mailbox_id == mailbox_id) {
            inner.upsert(e);
        }
    }

    pub fn remove_mailbox(&self, mailbox_id: &str) {
        self.write().remove_mailbox(mailbox_id);
    }

    /// The mailboxes with at least one indexed entry.
    pub fn mailbox_ids(&self) -> Vec<String> {
        self.read()
            .mailboxes
            .keys()
            .map(|m| m.to_string())
            .collect()
    }

    /// Entries indexed: those with at least one number readable as E.164.
    pub fn len(&self) -> usize {
        self.read().live
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `number` as the index reads it: an internal extension number as it is, anything else in
    /// E.164 read in the callee's region (its `usageLocation`, else the default region).
    pub fn normalise_for(&self, number: &str, callee: Option<&str>) -> Option<String> {
        let number = number.trim();
        let inner = self.read();
        if inner.extensions.by_number.contains_key(number) {
            return Some(number.to_owned());
        }
        normalise(number, inner.region_for(callee))
    }

    /// Who is calling from `number` (any format), as `callee` (an extension number) should see
    /// it: `callee`'s own phonebook first, then the extensions, then the company phonebook.
    pub fn lookup(&self, number: &str, callee: Option<&str>) -> Option<LookupHit> {
        let number = number.trim();
        let inner = self.read();
        if let Some(&i) = inner.extensions.by_number.get(number) {
            let ext = inner.extensions.list.get(i as usize)?;
            return Some(LookupHit {
                e164: ext.number.clone(),
                name: ext.display_name.clone(),
                source: LookupSource::Extension,
                extension: Some(ext.number.clone()),
                owner_extension: None,
            });
        }
        let e164 = normalise(number, inner.region_for(callee))?;
        let key = e164_key(&e164)?;
        if let Some(callee) = callee
            .map(str::trim)
            .filter(|c| !c.is_empty() && *c != COMPANY_BOOK)
            && let Some(&book) = inner.book_ids.get(callee)
            && let Some(name) = inner.best_in_book(key, book)
        {
            return Some(LookupHit {
                e164,
                name: name.to_owned(),
                source: LookupSource::Phonebook,
                extension: None,
                owner_extension: Some(callee.to_owned()),
            });
        }
        if let Some(ext) = inner
            .extensions
            .by_e164
            .get(&key)
            .and_then(|ids| ids.first())
            .and_then(|&i| inner.extensions.list.get(i as usize))
        {
            return Some(LookupHit {
                e164,
                name: ext.display_name.clone(),
                source: LookupSource::Extension,
                extension: Some(ext.number.clone()),
                owner_extension: None,
            });
        }
        let name = inner.best_in_book(key, COMPANY)?;
        Some(LookupHit {
            e164,
            name: name.to_owned(),
            source: LookupSource::Company,
            extension: None,
            owner_extension: None,
        })
    }
}

fn region_code(region: &str) -> String {
    region.trim().to_ascii_uppercase()
}

/// `+4930123456` → 4930123456. E.164 has at most 15 digits and never starts with 0, so the
/// number is its own unique key.
fn e164_key(e164: &str) -> Option<u64> {
    let digits = e164.strip_prefix('+')?;
    if digits.is_empty()
        || e164.len() > MAX_E164_LEN
        || digits.starts_with('0')
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    digits.parse().ok()
}

/// 64-bit hash of a contact id. Within one mailbox (thousands of contacts) a collision is
/// practically impossible; it would only let one entry shadow another until the next rebuild.
fn contact_key(contact_id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    contact_id.hash(&mut h);
    h.finish()
}

/// The name a caller is shown for an entry.
fn entry_name(e: &PhonebookEntry) -> String {
    let name = e.display_name.trim();
    if !name.is_empty() {
        return name.to_owned();
    }
    let full = format!("{} {}", e.first_name.trim(), e.last_name.trim());
    let full = full.trim();
    if !full.is_empty() {
        return full.to_owned();
    }
    e.company.trim().to_owned()
}

fn cut(name: &str) -> &str {
    if name.len() <= MAX_NAME {
        return name;
    }
    let mut end = MAX_NAME;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Makes room for `more` bytes, growing by a quarter rather than doubling: at a million
/// entries doubling would waste tens of megabytes.
fn grow_by_a_quarter(s: &mut String, more: usize) {
    if s.capacity() - s.len() < more {
        s.reserve_exact((s.len() / 4).max(more).max(4096));
    }
}

#[derive(Debug, Default)]
struct ExtensionTable {
    list: Vec<IndexedExtension>,
    /// Extension number → position in `list`.
    by_number: HashMap<String, u32>,
    /// E.164 key → positions in `list`, lowest (name, number) first.
    by_e164: HashMap<u64, Vec<u32>>,
}

impl ExtensionTable {
    fn build(mut list: Vec<IndexedExtension>, default_region: &str) -> Self {
        for e in &mut list {
            e.number = e.number.trim().to_owned();
            e.display_name = e.display_name.trim().to_owned();
            e.region = region_code(&e.region);
        }
        list.retain(|e| !e.number.is_empty());
        list.sort_by(|a, b| (&a.display_name, &a.number).cmp(&(&b.display_name, &b.number)));
        let mut by_number = HashMap::with_capacity(list.len());
        let mut by_e164: HashMap<u64, Vec<u32>> = HashMap::new();
        for (i, e) in list.iter().enumerate() {
            let Ok(i) = u32::try_from(i) else { break };
            by_number.entry(e.number.clone()).or_insert(i);
            let region = if e.region.is_empty() {
                default_region
            } else {
                &e.region
            };
            let mut keys: Vec<u64> = e
                .numbers
                .iter()
                .filter_map(|n| normalise(n, region))
                .filter_map(|n| e164_key(&n))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            for k in keys {
                by_e164.entry(k).or_default().push(i);
            }
        }
        Self {
            list,
            by_number,
            by_e164,
        }
    }
}

/// (number, book, slot) triples: the entries of one book with one number are one range.
///
/// A sorted vector (16 bytes a triple, half what a B-tree takes) with the recent changes on the
/// side, merged in once they reach an eighth of it.
#[derive(Debug, Default)]
struct NumberIndex {
    base: Vec<(u64, u32, u32)>,
    added: BTreeSet<(u64, u32, u32)>,
    /// Triples of `base` removed since the last merge.
    removed: HashSet<(u64, u32, u32)>,
}

impl NumberIndex {
    fn slots(&self, number: u64, book: u32) -> impl Iterator<Item = u32> + '_ {
        let from = self.base.partition_point(|k| (k.0, k.1) < (number, book));
        let base = self.base[from..]
            .iter()
            .take_while(move |k| (k.0, k.1) == (number, book))
            .filter(|k| !self.removed.contains(k));
        let added = self
            .added
            .range((number, book, 0)..=(number, book, u32::MAX));
        base.chain(added).map(|k| k.2)
    }

    fn insert(&mut self, key: (u64, u32, u32)) {
        if self.removed.remove(&key) || self.base.binary_search(&key).is_ok() {
            return;
        }
        self.added.insert(key);
        self.maybe_merge();
    }

    fn remove(&mut self, key: (u64, u32, u32)) {
        if self.added.remove(&key) {
            return;
        }
        if self.base.binary_search(&key).is_ok() {
            self.removed.insert(key);
            self.maybe_merge();
        }
    }

    fn maybe_merge(&mut self) {
        if self.added.len() + self.removed.len() < (self.base.len() / 8).max(4096) {
            return;
        }
        let removed = std::mem::take(&mut self.removed);
        self.base.retain(|k| !removed.contains(k));
        self.base.reserve_exact(self.added.len());
        self.base.extend(std::mem::take(&mut self.added));
        // Two sorted runs: the stable sort merges them in linear time.
        self.base.sort();
        self.base.shrink_to(self.base.len() + self.base.len() / 8);
    }
}

/// One indexed entry. `numbers[0] == 0` marks a free slot; more than two numbers spill into
/// [`Inner::extra_numbers`].
#[derive(Debug, Clone, Copy)]
struct Slot {
    numbers: [u64; 2],
    name_at: u32,
    name_len: u16,
    book: u32,
}

const FREE: Slot = Slot {
    numbers: [0, 0],
    name_at: 0,
    name_len: 0,
    book: 0,
};

#[derive(Debug)]
struct Inner {
    default_region: String,
    extensions: ExtensionTable,
    /// Book keys (extension numbers, [`COMPANY_BOOK`]) by id; id 0 is the company book.
    books: Vec<Box<str>>,
    book_ids: HashMap<Box<str>, u32>,
    /// Mailbox id → contact key → slot.
    mailboxes: HashMap<Box<str>, BTreeMap<u64, u32>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    extra_numbers: HashMap<u32, Box<[u64]>>,
    by_number: NumberIndex,
    /// Every name, back to back; slots point into it.
    names: String,
    /// Bytes of `names` no slot points to any more.
    garbage: usize,
    live: usize,
}

impl Inner {
    fn region_for(&self, callee: Option<&str>) -> &str {
        callee
            .and_then(|c| self.extensions.by_number.get(c.trim()))
            .and_then(|&i| self.extensions.list.get(i as usize))
            .map(|e| e.region.as_str())
            .filter(|r| !r.is_empty())
            .unwrap_or(&self.default_region)
    }

    fn name(&self, slot: &Slot) -> &str {
        let at = slot.name_at as usize;
        self.names
            .get(at..at + usize::from(slot.name_len))
            .unwrap_or_default()
    }

    /// The lowest name among the book's entries with this number.
    fn best_in_book(&self, key: u64, book: u32) -> Option<&str> {
        self.by_number
            .slots(key, book)
            .filter_map(|slot| self.slots.get(slot as usize))
            .map(|s| self.name(s))
            .min()
    }

    fn book_id(&mut self, key: &str) -> Option<u32> {
        if let Some(&id) = self.book_ids.get(key) {
            return Some(id);
        }
        let id = u32::try_from(self.books.len()).ok()?;
        self.books.push(key.into());
        self.book_ids.insert(key.into(), id);
        Some(id)
    }

    fn slot_numbers(&self, id: u32, slot: &Slot) -> Vec<u64> {
        let mut numbers: Vec<u64> = slot.numbers.iter().copied().filter(|&n| n != 0).collect();
        if let Some(more) = self.extra_numbers.get(&id) {
            numbers.extend(more.iter().copied());
        }
        numbers
    }

    fn free_slot(&mut self, id: u32) {
        let Some(slot) = self.slots.get(id as usize).copied() else {
            return;
        };
        if slot.numbers[0] == 0 {
            return;
        }
        for n in self.slot_numbers(id, &slot) {
            self.by_number.remove((n, slot.book, id));
        }
        self.extra_numbers.remove(&id);
        self.garbage += usize::from(slot.name_len);
        if let Some(s) = self.slots.get_mut(id as usize) {
            *s = FREE;
        }
        self.free.push(id);
        self.live -= 1;
    }

    fn remove(&mut self, mailbox_id: &str, contact_id: &str) {
        let key = contact_key(contact_id);
        let Some(contacts) = self.mailboxes.get_mut(mailbox_id) else {
            return;
        };
        let slot = contacts.remove(&key);
        if contacts.is_empty() {
            self.mailboxes.remove(mailbox_id);
        }
        if let Some(id) = slot {
            self.free_slot(id);
        }
    }

    fn remove_mailbox(&mut self, mailbox_id: &str) {
        if let Some(contacts) = self.mailboxes.remove(mailbox_id) {
            for id in contacts.into_values() {
                self.free_slot(id);
            }
        }
        self.maybe_compact_names();
    }

    fn upsert(&mut self, entry: &PhonebookEntry) {
        self.remove(&entry.mailbox_id, &entry.contact_id);
        let mut numbers: Vec<u64> = entry
            .phones
            .iter()
            .filter_map(|p| p.e164.as_deref())
            .filter_map(e164_key)
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        // Without a number an entry can never answer a lookup.
        if numbers.is_empty() {
            return;
        }
        let Some(book) = self.book_id(entry.book.as_key()) else {
            return;
        };
        let name = entry_name(entry);
        let (name_at, name_len) = self.push_name(cut(&name));
        let slot = Slot {
            numbers: [numbers[0], numbers.get(1).copied().unwrap_or(0)],
            name_at,
            name_len,
            book,
        };
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(s) = self.slots.get_mut(id as usize) {
                    *s = slot;
                }
                id
            }
            None => {
                let Ok(id) = u32::try_from(self.slots.len()) else {
                    return;
                };
                if self.slots.len() == self.slots.capacity() {
                    self.slots.reserve_exact((self.slots.len() / 4).max(1024));
                }
                self.slots.push(slot);
                id
            }
        };
        if numbers.len() > 2 {
            self.extra_numbers.insert(id, numbers[2..].into());
        }
        for &n in &numbers {
            self.by_number.insert((n, book, id));
        }
        self.live += 1;
        let key = contact_key(&entry.contact_id);
        match self.mailboxes.get_mut(entry.mailbox_id.as_str()) {
            Some(contacts) => {
                contacts.insert(key, id);
            }
            None => {
                self.mailboxes.insert(
                    entry.mailbox_id.as_str().into(),
                    BTreeMap::from([(key, id)]),
                );
            }
        }
        self.maybe_compact_names();
    }

    fn push_name(&mut self, name: &str) -> (u32, u16) {
        if u32::try_from(self.names.len() + name.len()).is_err() {
            self.compact_names();
        }
        match (u32::try_from(self.names.len()), u16::try_from(name.len())) {
            (Ok(at), Ok(len)) if u32::try_from(self.names.len() + name.len()).is_ok() => {
                grow_by_a_quarter(&mut self.names, name.len());
                self.names.push_str(name);
                (at, len)
            }
            _ => (0, 0),
        }
    }

    fn maybe_compact_names(&mut self) {
        if self.garbage >= COMPACT_AT && self.garbage * 2 >= self.names.len() {
            self.compact_names();
        }
    }

    fn compact_names(&mut self) {
        let mut names =
            String::with_capacity(self.names.len() - self.garbage.min(self.names.len()));
        for slot in &mut self.slots {
            if slot.numbers[0] == 0 {
                continue;
            }
            let at = slot.name_at as usize;
            let name = self
                .names
                .get(at..at + usize::from(slot.name_len))
                .unwrap_or_default();
            match u32::try_from(names.len()) {
                Ok(new_at) => {
                    slot.name_at = new_at;
                    names.push_str(name);
                }
                Err(_) => {
                    slot.name_at = 0;
                    slot.name_len = 0;
                }
            }
        }
        self.names = names;
        self.garbage = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(e164_key("+4930123456"), Some(4_930_123_456));
        assert_eq!(e164_key("+999999999999999"), Some(999_999_999_999_999));
        assert_eq!(e164_key("+0123"), None);
        assert_eq!(e164_key("4930123456"), None);
        assert_eq!(e164_key("+49 30"), None);
        assert_eq!(e164_key("+"), None);
        assert_eq!(e164_key("+1234567890123456"), None);
    }

    #[test]
    fn number_index_agrees_with_a_set_across_merges() {
        let mut index = NumberIndex::default();
        let mut model = BTreeSet::new();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..60_000u32 {
            let r = next();
            let key = (r % 500, ((r >> 16) % 4) as u32, ((r >> 24) % 50) as u32);
            if r >> 60 < 10 {
                index.insert(key);
                model.insert(key);
            } else {
                index.remove(key);
                model.remove(&key);
            }
            if round % 5_000 == 0 || round == 59_999 {
                for number in 0..500 {
                    for book in 0..4 {
                        let mut got: Vec<u32> = index.slots(number, book).collect();
                        got.sort_unstable();
                        let want: Vec<u32> = model
                            .range((number, book, 0)..=(number, book, u32::MAX))
                            .map(|k| k.2)
                            .collect();
                        assert_eq!(got, want, "number {number} book {book} at {round}");
                    }
                }
            }
        }
        assert!(!index.base.is_empty(), "merges happened");
    }

    #[test]
    fn slots_stay_small() {
        assert!(std::mem::size_of::<Slot>() <= 32);
    }

    #[test]
    fn names_are_cut_at_a_character_boundary() {
        let long = "é".repeat(200);
        let c = cut(&long);
        assert!(c.len() <= MAX_NAME && c.len() >= MAX_NAME - 1);
        assert!(c.chars().all(|ch| ch == 'é'));
    }
}
