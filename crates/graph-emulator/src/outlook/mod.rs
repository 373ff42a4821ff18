//! Exchange mailboxes: contact folders and personal contacts (graph-protocol.md §3).
//!
//! A user's mailbox exists unless it was generated or created without one. Generated
//! mailboxes cost nothing until first touched: then their layout (folders, and which folder
//! each contact is in) is derived from the seed and the user's index and kept, 16 bytes per
//! contact. An unchanged generated contact's data is rebuilt from the seed whenever it is
//! read; only contacts written through the control API keep their data.
//!
//! Changes take the next value of one tenant-wide Outlook sequence (everything generated is
//! at [`GENESIS`]). A folder or contact remembers the sequence of its last change, a deleted
//! one stays as a tombstone, and a contact moved out of a folder leaves a departure record
//! there, so a contacts delta round is "what in this folder changed in `(lower, upper]`"
//! without any snapshot per delta token.

pub mod calendar;
pub mod calgen;
pub mod contact;
pub mod event;
pub mod generate;
pub mod ids;
pub mod limits;
pub mod recurrence;
pub mod tz;

use std::borrow::Cow;
use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::Value;
use uuid::Uuid;

use crate::directory::props::slot;
use crate::directory::{DirError, Directory, User};
use calendar::{Calendar, CalendarMut};
use contact::{Contact, ContactData, PropId, prop};
use ids::{DEFAULT_FOLDER, IdKind, IdProblem, ROOT_FOLDER};

/// The sequence of everything generated: older than any change.
pub const GENESIS: u64 = 1;

/// Every user's mailbox state, keyed by the user's arena index.
#[derive(Debug)]
pub struct Mailboxes {
    seed: u64,
    /// Users at an arena index below this were generated: their mailbox content is derived.
    generated: u32,
    /// Only users whose mailbox differs from the default (generated and enabled) have one.
    entries: HashMap<u32, Entry>,
    seq: u64,
    /// `mailboxSettings/timeZone` set through the control API; others follow usageLocation.
    time_zones: HashMap<u32, String>,
}

#[derive(Debug)]
struct Entry {
    enabled: bool,
    content: Content,
}

#[derive(Debug)]
enum Content {
    /// Still as the generator would make it; nothing stored.
    Generated,
    /// A created user's: the default folder only; nothing stored yet.
    Empty,
    Open(Box<Mailbox>),
}

impl Mailboxes {
    /// The mailboxes of a freshly generated directory: guests and a few members have none.
    pub fn new(seed: u64, dir: &Directory) -> Mailboxes {
        let generated = u32::try_from(dir.users().len()).unwrap_or(u32::MAX);
        let mut entries = HashMap::new();
        for (i, user) in dir.users().iter().enumerate() {
            let Ok(idx) = u32::try_from(i) else { break };
            let guest = user.text(slot::USER_TYPE) == Some("Guest");
            if !generate::has_mailbox(seed, idx, guest) {
                entries.insert(
                    idx,
                    Entry {
                        enabled: false,
                        content: Content::Generated,
                    },
                );
            }
        }
        Mailboxes {
            seed,
            generated,
            entries,
            seq: GENESIS,
            time_zones: HashMap::new(),
        }
    }

    pub fn enabled(&self, idx: u32) -> bool {
        self.entries.get(&idx).is_none_or(|e| e.enabled)
    }

    /// Turns a user's mailbox on or off; its content is kept for when it comes back.
    pub fn set_enabled(&mut self, idx: u32, enabled: bool) {
        let generated = idx < self.generated;
        self.entries
            .entry(idx)
            .or_insert_with(|| Entry {
                enabled,
                content: if generated {
                    Content::Generated
                } else {
                    Content::Empty
                },
            })
            .enabled = enabled;
    }

    /// The time zone set for the mailbox with [`Self::set_time_zone`], if any.
    pub fn time_zone(&self, idx: u32) -> Option<&str> {
        self.time_zones.get(&idx).map(String::as_str)
    }

    /// Sets (`Some`) or clears the mailbox's `mailboxSettings/timeZone`.
    pub fn set_time_zone(&mut self, idx: u32, zone: Option<String>) {
        match zone {
            Some(zone) => {
                self.time_zones.insert(idx, zone);
            }
            None => {
                self.time_zones.remove(&idx);
            }
        }
    }

    /// A user was created (possibly reusing a purged user's index): an empty mailbox.
    pub fn reset(&mut self, idx: u32, enabled: bool) {
        self.time_zones.remove(&idx);
        self.entries.insert(
            idx,
            Entry {
                enabled,
                content: Content::Empty,
            },
        );
    }

    /// Mailboxes whose layout is held in memory.
    pub fn materialised(&self) -> usize {
        self.entries
            .values()
            .filter(|e| matches!(e.content, Content::Open(_)))
            .count()
    }

    /// Rough heap use of the materialised mailboxes.
    pub fn approx_heap_bytes(&self) -> usize {
        self.entries
            .values()
            .map(|e| match &e.content {
                Content::Open(mb) => mb.approx_heap_bytes(),
                _ => 0,
            })
            .sum::<usize>()
            + self.entries.capacity() * 48
    }

    /// The mailbox of `user` (at arena index `idx`), materialised on first use; `None` when
    /// the user has no mailbox.
    pub fn open(&mut self, idx: u32, user: &User) -> Option<MailboxMut<'_>> {
        let generated = idx < self.generated;
        let seed = self.seed;
        let entry = self.entries.entry(idx).or_insert_with(|| Entry {
            enabled: true,
            content: if generated {
                Content::Generated
            } else {
                Content::Empty
            },
        });
        if !entry.enabled {
            return None;
        }
        if !matches!(entry.content, Content::Open(_)) {
            let mb = match entry.content {
                Content::Generated => Mailbox::generated(seed, idx, user),
                _ => Mailbox::empty(user.id),
            };
            entry.content = Content::Open(Box::new(mb));
        }
        match &mut entry.content {
            Content::Open(mb) => Some(MailboxMut {
                mb,
                seq: &mut self.seq,
            }),
            _ => None,
        }
    }
}

/// A folder (number = its index in the mailbox).
#[derive(Debug, Clone)]
pub struct Folder {
    pub name: String,
    pub parent: u32,
    pub seq: u64,
    pub alive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Generated,
    Custom,
    Deleted,
}

/// A contact's place in the mailbox (number = its index).
#[derive(Debug, Clone, Copy)]
struct Item {
    seq: u64,
    folder: u32,
    state: State,
}

/// A contact left `folder` (moved elsewhere) at `seq`.
#[derive(Debug, Clone, Copy)]
struct Departure {
    num: u32,
    folder: u32,
    seq: u64,
}

/// Where generated contacts come from.
#[derive(Debug, Clone)]
struct Origin {
    seed: u64,
    idx: u32,
    country: String,
}

/// One delta entry: the object's number and whether it is gone from the scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub seq: u64,
    pub num: u32,
    pub removed: bool,
}

#[derive(Debug)]
pub struct Mailbox {
    /// Exchange's mailbox GUID, embedded in every id.
    pub guid: Uuid,
    origin: Option<Origin>,
    /// Index 0 is the default Contacts folder.
    folders: Vec<Folder>,
    contacts: Vec<Item>,
    custom: HashMap<u32, Box<Contact>>,
    departures: Vec<Departure>,
    /// Built on the first calendar request (it needs the clock and the owner's location).
    calendar: Option<Box<Calendar>>,
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Mailbox {
    fn empty(user: Uuid) -> Mailbox {
        Mailbox {
            guid: ids::mailbox_guid(user),
            origin: None,
            folders: vec![Folder {
                name: generate::DEFAULT_FOLDER_NAME.to_owned(),
                parent: ROOT_FOLDER,
                seq: GENESIS,
                alive: true,
            }],
            contacts: Vec::new(),
            custom: HashMap::new(),
            departures: Vec::new(),
            calendar: None,
        }
    }

    fn generated(seed: u64, idx: u32, user: &User) -> Mailbox {
        let country = user.text(slot::USAGE_LOCATION).unwrap_or("US").to_owned();
        let layout = generate::layout(seed, idx, &country);
        let mut mb = Mailbox::empty(user.id);
        mb.folders = layout
            .folders
            .into_iter()
            .map(|(name, parent)| Folder {
                name,
                parent,
                seq: GENESIS,
                alive: true,
            })
            .collect();
        mb.contacts = layout
            .contacts
            .into_iter()
            .map(|folder| Item {
                seq: GENESIS,
                folder,
                state: State::Generated,
            })
            .collect();
        mb.origin = Some(Origin { seed, idx, country });
        mb
    }

    fn approx_heap_bytes(&self) -> usize {
        std::mem::size_of::<Mailbox>()
            + self.folders.capacity() * std::mem::size_of::<Folder>()
            + self
                .folders
                .iter()
                .map(|f| f.name.capacity())
                .sum::<usize>()
            + self.contacts.capacity() * std::mem::size_of::<Item>()
            + self.departures.capacity() * std::mem::size_of::<Departure>()
            + self.custom.len() * (std::mem::size_of::<Contact>() + 40 * 32)
            + self.calendar.as_ref().map_or(0, |c| {
                std::mem::size_of::<Calendar>() + c.item_count() * 480
            })
    }

    pub fn folder_id(&self, num: u32) -> String {
        ids::encode(&self.guid, IdKind::Folder, num)
    }

    pub fn contact_id(&self, num: u32) -> String {
        ids::encode(&self.guid, IdKind::Contact, num)
    }

    /// A live folder.
    pub fn folder(&self, num: u32) -> Option<&Folder> {
        self.folders.get(num as usize).filter(|f| f.alive)
    }

    /// The live folder an id names.
    pub fn folder_num(&self, id: &str) -> Result<u32, IdProblem> {
        let num = ids::decode(id, &self.guid, IdKind::Folder)?;
        self.folder(num).map(|_| num).ok_or(IdProblem::Foreign)
    }

    /// The live contact an id names.
    pub fn contact_num(&self, id: &str) -> Result<u32, IdProblem> {
        let num = ids::decode(id, &self.guid, IdKind::Contact)?;
        self.item(num).map(|_| num).ok_or(IdProblem::Foreign)
    }

    fn item(&self, num: u32) -> Option<&Item> {
        self.contacts
            .get(num as usize)
            .filter(|i| i.state != State::Deleted)
    }

    /// The folder a live contact is in.
    pub fn contact_folder(&self, num: u32) -> Option<u32> {
        self.item(num).map(|i| i.folder)
    }

    /// `changeKey` of a live contact; the etag is `W/"{changeKey}"`.
    pub fn change_key(&self, num: u32) -> String {
        let seq = self.contacts.get(num as usize).map_or(GENESIS, |i| i.seq);
        ids::change_key(&self.guid, seq, num)
    }

    /// Live folders directly under `parent`, oldest first.
    pub fn children(&self, parent: u32) -> Vec<u32> {
        (0..self.folders.len())
            .map(to_u32)
            .filter(|n| self.folder(*n).is_some_and(|f| f.parent == parent))
            .collect()
    }

    /// Every live folder but the default one, oldest first.
    pub fn all_folders(&self) -> Vec<u32> {
        (1..self.folders.len())
            .map(to_u32)
            .filter(|n| self.folder(*n).is_some())
            .collect()
    }

    /// Live contacts in `folder`, oldest first.
    pub fn contacts_in(&self, folder: u32) -> Vec<u32> {
        self.contacts
            .iter()
            .enumerate()
            .filter(|(_, i)| i.state != State::Deleted && i.folder == folder)
            .map(|(n, _)| to_u32(n))
            .collect()
    }

    /// Every live contact, oldest first.
    pub fn all_contacts(&self) -> Vec<u32> {
        self.contacts
            .iter()
            .enumerate()
            .filter(|(_, i)| i.state != State::Deleted)
            .map(|(n, _)| to_u32(n))
            .collect()
    }

    /// A live contact's data: generated ones are rebuilt from the seed.
    pub fn contact(&self, num: u32) -> Option<Cow<'_, Contact>> {
        match self.item(num)?.state {
            State::Custom => self.custom.get(&num).map(|c| Cow::Borrowed(&**c)),
            State::Generated => {
                let o = self.origin.as_ref()?;
                Some(Cow::Owned(generate::contact(
                    o.seed, o.idx, num, &o.country,
                )))
            }
            State::Deleted => None,
        }
    }

    /// Contacts of `folder` changed in `(lower, upper]`, in (sequence, number) order. A round
    /// without a previous state (`initial`) leaves removed ones out: they never existed for
    /// that client.
    pub fn contact_changes(
        &self,
        folder: u32,
        lower: u64,
        upper: u64,
        initial: bool,
    ) -> Vec<Change> {
        let in_range = |seq: u64| seq > lower && seq <= upper;
        let mut out: Vec<Change> = self
            .contacts
            .iter()
            .enumerate()
            .filter(|(_, i)| i.folder == folder && in_range(i.seq))
            .filter(|(_, i)| !(initial && i.state == State::Deleted))
            .map(|(n, i)| Change {
                seq: i.seq,
                num: to_u32(n),
                removed: i.state == State::Deleted,
            })
            .collect();
        if !initial {
            // Latest departure first, so a contact that left twice shows once.
            for d in self.departures.iter().rev() {
                if d.folder != folder || !in_range(d.seq) || out.iter().any(|c| c.num == d.num) {
                    continue;
                }
                // Back in this folder within the round: it shows as changed instead.
                if self
                    .contacts
                    .get(d.num as usize)
                    .is_some_and(|i| i.folder == folder && i.seq <= upper)
                {
                    continue;
                }
                out.push(Change {
                    seq: d.seq,
                    num: d.num,
                    removed: true,
                });
            }
        }
        out.sort_unstable_by_key(|c| (c.seq, c.num));
        out
    }

    /// Folders (the default one excepted) changed in `(lower, upper]`.
    pub fn folder_changes(&self, lower: u64, upper: u64, initial: bool) -> Vec<Change> {
        let mut out: Vec<Change> = self
            .folders
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, f)| f.seq > lower && f.seq <= upper && (f.alive || !initial))
            .map(|(n, f)| Change {
                seq: f.seq,
                num: to_u32(n),
                removed: !f.alive,
            })
            .collect();
        out.sort_unstable_by_key(|c| (c.seq, c.num));
        out
    }

    /// Whether `folder` is `ancestor` or lies below it.
    fn is_within(&self, mut folder: u32, ancestor: u32) -> bool {
        for _ in 0..=self.folders.len() {
            if folder == ancestor {
                return true;
            }
            match self.folders.get(folder as usize) {
                Some(f) => folder = f.parent,
                None => return false,
            }
        }
        false
    }
}

/// A mailbox open for changes (each takes the next tenant-wide sequence).
pub struct MailboxMut<'a> {
    mb: &'a mut Mailbox,
    seq: &'a mut u64,
}

impl std::ops::Deref for MailboxMut<'_> {
    type Target = Mailbox;

    fn deref(&self) -> &Mailbox {
        self.mb
    }
}

/// What a contact update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Updated {
    pub changed: bool,
    pub from: u32,
    pub to: u32,
}

fn not_found(what: &str) -> DirError {
    DirError::NotFound(format!("no such {what} in this mailbox"))
}

impl MailboxMut<'_> {
    /// The tenant-wide Outlook sequence now (a delta round's upper bound).
    pub fn seq(&self) -> u64 {
        *self.seq
    }

    fn next_seq(&mut self) -> u64 {
        *self.seq += 1;
        *self.seq
    }

    /// The calendar, built on first use: a generated mailbox gets its generated calendar
    /// placed on the week of `now` in the zone of `country` (the owner's usageLocation);
    /// `domain` is for the addresses of generated organizers.
    pub fn calendar(
        &mut self,
        country: Option<&str>,
        domain: &str,
        now: Timestamp,
    ) -> CalendarMut<'_> {
        let generated = self.mb.origin.as_ref().map(|o| (o.seed, o.idx));
        let cal = self.mb.calendar.get_or_insert_with(|| {
            Box::new(Calendar::new(
                generated,
                calgen::profile(country, domain),
                now,
            ))
        });
        CalendarMut {
            cal,
            seq: &mut *self.seq,
        }
    }

    /// Adds a contact to a live folder; returns its number.
    pub fn create_contact(&mut self, folder: u32, contact: Contact) -> Result<u32, DirError> {
        if self.folder(folder).is_none() {
            return Err(not_found("folder"));
        }
        let seq = self.next_seq();
        let num = to_u32(self.mb.contacts.len());
        self.mb.contacts.push(Item {
            seq,
            folder,
            state: State::Custom,
        });
        self.mb.custom.insert(num, Box::new(contact));
        Ok(num)
    }

    /// Sets `values` (`Null` clears) and moves the contact to `to`; a write that changes
    /// nothing keeps the sequence, so delta does not show it.
    pub fn update_contact(
        &mut self,
        num: u32,
        values: &[(PropId, Value)],
        to: Option<u32>,
        now: i64,
    ) -> Result<Updated, DirError> {
        let from = self
            .contact_folder(num)
            .ok_or_else(|| not_found("contact"))?;
        let to = to.unwrap_or(from);
        if self.folder(to).is_none() {
            return Err(not_found("folder"));
        }
        let mut contact = self
            .contact(num)
            .ok_or_else(|| not_found("contact"))?
            .into_owned();
        let before = contact.data.clone();
        for (p, v) in values {
            contact.data.set(*p, v.clone());
        }
        if contact.data == before && to == from {
            return Ok(Updated {
                changed: false,
                from,
                to,
            });
        }
        let seq = self.next_seq();
        contact.modified = now.max(contact.created);
        if to != from {
            self.mb.departures.push(Departure {
                num,
                folder: from,
                seq,
            });
        }
        self.mb.contacts[num as usize] = Item {
            seq,
            folder: to,
            state: State::Custom,
        };
        self.mb.custom.insert(num, Box::new(contact));
        Ok(Updated {
            changed: true,
            from,
            to,
        })
    }

    /// Deletes a contact for good (a tombstone stays for delta); returns its folder.
    pub fn delete_contact(&mut self, num: u32) -> Result<u32, DirError> {
        let folder = self
            .contact_folder(num)
            .ok_or_else(|| not_found("contact"))?;
        let seq = self.next_seq();
        self.mb.contacts[num as usize] = Item {
            seq,
            folder,
            state: State::Deleted,
        };
        self.mb.custom.remove(&num);
        Ok(folder)
    }

    fn check_name(&self, name: &str, parent: u32, except: Option<u32>) -> Result<(), DirError> {
        let clash = self.children(parent).into_iter().any(|n| {
            Some(n) != except
                && self
                    .folder(n)
                    .is_some_and(|f| f.name.eq_ignore_ascii_case(name))
        });
        if clash {
            // Exchange's ErrorFolderExists.
            Err(DirError::Conflict(format!(
                "a folder named '{name}' already exists there"
            )))
        } else {
            Ok(())
        }
    }

    /// Adds a folder under a live folder; returns its number.
    pub fn create_folder(&mut self, name: &str, parent: u32) -> Result<u32, DirError> {
        if self.folder(parent).is_none() {
            return Err(not_found("parent folder"));
        }
        self.check_name(name, parent, None)?;
        let seq = self.next_seq();
        let num = to_u32(self.mb.folders.len());
        self.mb.folders.push(Folder {
            name: name.to_owned(),
            parent,
            seq,
            alive: true,
        });
        Ok(num)
    }

    /// Renames and/or moves a folder (not the default one, not below itself).
    pub fn update_folder(
        &mut self,
        num: u32,
        name: Option<&str>,
        parent: Option<u32>,
    ) -> Result<bool, DirError> {
        let current = self
            .folder(num)
            .cloned()
            .ok_or_else(|| not_found("folder"))?;
        if num == DEFAULT_FOLDER {
            return Err(DirError::Invalid(
                "the default Contacts folder cannot be renamed or moved".to_owned(),
            ));
        }
        let parent = parent.unwrap_or(current.parent);
        if self.folder(parent).is_none() {
            return Err(not_found("parent folder"));
        }
        if self.is_within(parent, num) {
            return Err(DirError::Invalid(
                "a folder cannot move below itself".to_owned(),
            ));
        }
        let name = name.unwrap_or(&current.name).to_owned();
        if name == current.name && parent == current.parent {
            return Ok(false);
        }
        self.check_name(&name, parent, Some(num))?;
        let seq = self.next_seq();
        let f = &mut self.mb.folders[num as usize];
        f.name = name;
        f.parent = parent;
        f.seq = seq;
        Ok(true)
    }

    /// Deletes a folder with its subfolders and their contacts; returns the deleted contacts
    /// with the folder each was in.
    pub fn delete_folder(&mut self, num: u32) -> Result<Vec<(u32, u32)>, DirError> {
        if self.folder(num).is_none() {
            return Err(not_found("folder"));
        }
        if num == DEFAULT_FOLDER {
            return Err(DirError::Invalid(
                "the default Contacts folder cannot be deleted".to_owned(),
            ));
        }
        let doomed: Vec<u32> = (0..self.mb.folders.len())
            .map(to_u32)
            .filter(|f| self.folder(*f).is_some() && self.is_within(*f, num))
            .collect();
        let mut removed = Vec::new();
        for folder in &doomed {
            for c in self.contacts_in(*folder) {
                self.delete_contact(c)?;
                removed.push((c, *folder));
            }
        }
        for folder in doomed {
            let seq = self.next_seq();
            let f = &mut self.mb.folders[folder as usize];
            f.alive = false;
            f.seq = seq;
        }
        Ok(removed)
    }
}

/// A new contact from control-API values; `displayName` is built from the name parts when
/// absent, as Outlook does.
pub fn new_contact(values: &[(PropId, Value)], now: i64) -> Contact {
    let mut data = ContactData::default();
    for (p, v) in values {
        data.set(*p, v.clone());
    }
    if data.text(prop::DISPLAY_NAME).is_none() {
        let parts: Vec<&str> = [prop::GIVEN_NAME, prop::MIDDLE_NAME, prop::SURNAME]
            .iter()
            .filter_map(|p| data.text(*p))
            .collect();
        if !parts.is_empty() {
            data.set_text(prop::DISPLAY_NAME, parts.join(" "));
        }
    }
    Contact {
        created: now,
        modified: now,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::NewUser;

    fn setup() -> (Directory, Mailboxes) {
        let mut dir = Directory::new();
        dir.create(NewUser {
            id: Uuid::from_u128(1),
            created: 0,
            account_enabled: true,
            values: vec![(slot::USER_PRINCIPAL_NAME, "a@x.test".to_owned())],
        })
        .expect("user");
        let mb = Mailboxes::new(3, &Directory::new());
        (dir, mb)
    }

    fn named(name: &str) -> Contact {
        new_contact(&[(prop::GIVEN_NAME, Value::String(name.to_owned()))], 10)
    }

    #[test]
    fn changes_moves_and_tombstones() {
        let (dir, mut all) = setup();
        let user = dir.user(0).expect("user");
        let mut mb = all.open(0, user).expect("mailbox");
        let sub = mb
            .create_folder("Customers", DEFAULT_FOLDER)
            .expect("folder");
        let a = mb.create_contact(DEFAULT_FOLDER, named("A")).expect("a");
        let b = mb.create_contact(DEFAULT_FOLDER, named("B")).expect("b");
        let round1 = *mb.seq;
        let first = mb.contact_changes(DEFAULT_FOLDER, 0, round1, true);
        assert_eq!(first.iter().map(|c| c.num).collect::<Vec<_>>(), vec![a, b]);

        // Move A out, change B, no-op write to B.
        let moved = mb.update_contact(a, &[], Some(sub), 20).expect("move");
        assert_eq!(
            moved,
            Updated {
                changed: true,
                from: DEFAULT_FOLDER,
                to: sub
            }
        );
        let name = [(prop::SURNAME, Value::String("Bee".to_owned()))];
        assert!(
            mb.update_contact(b, &name, None, 20)
                .expect("update")
                .changed
        );
        assert!(!mb.update_contact(b, &name, None, 30).expect("same").changed);
        let round2 = *mb.seq;
        let changes = mb.contact_changes(DEFAULT_FOLDER, round1, round2, false);
        assert_eq!(
            changes
                .iter()
                .map(|c| (c.num, c.removed))
                .collect::<Vec<_>>(),
            vec![(a, true), (b, false)]
        );
        let there = mb.contact_changes(sub, round1, round2, false);
        assert_eq!(
            there.iter().map(|c| (c.num, c.removed)).collect::<Vec<_>>(),
            vec![(a, false)]
        );

        // Back and forth within a round: only the final state shows.
        mb.update_contact(a, &[], Some(DEFAULT_FOLDER), 40)
            .expect("back");
        let round3 = *mb.seq;
        let changes = mb.contact_changes(DEFAULT_FOLDER, round1, round3, false);
        assert!(changes.iter().all(|c| !c.removed), "{changes:?}");

        // Deleting the folder removes its contacts and shows in the folder delta.
        mb.update_contact(b, &[], Some(sub), 50).expect("move b");
        let removed = mb.delete_folder(sub).expect("delete");
        assert_eq!(removed, vec![(b, sub)]);
        assert!(mb.contact(b).is_none());
        let folders = mb.folder_changes(round3, *mb.seq, false);
        assert_eq!(
            folders,
            vec![Change {
                seq: *mb.seq,
                num: sub,
                removed: true
            }]
        );
        assert!(mb.folder_changes(0, *mb.seq, true).is_empty());
        assert!(mb.delete_folder(DEFAULT_FOLDER).is_err());
    }

    #[test]
    fn folder_rules() {
        let (dir, mut all) = setup();
        let user = dir.user(0).expect("user");
        let (a, b) = {
            let mut mb = all.open(0, user).expect("mailbox");
            let a = mb.create_folder("A", DEFAULT_FOLDER).expect("a");
            let b = mb.create_folder("B", a).expect("b");
            (a, b)
        };
        let mut mb = all.open(0, user).expect("mailbox");
        assert!(matches!(
            mb.create_folder("a", DEFAULT_FOLDER),
            Err(DirError::Conflict(_))
        ));
        assert!(matches!(
            mb.update_folder(a, None, Some(b)),
            Err(DirError::Invalid(_))
        ));
        assert_eq!(mb.update_folder(b, Some("B"), None), Ok(false));
        assert_eq!(
            mb.update_folder(b, Some("Bee"), Some(DEFAULT_FOLDER)),
            Ok(true)
        );
        assert_eq!(mb.children(DEFAULT_FOLDER), vec![a, b]);
        assert_eq!(mb.folder_num(&mb.folder_id(b)), Ok(b));
        all.set_enabled(0, false);
        assert!(all.open(0, user).is_none());
        all.set_enabled(0, true);
        assert_eq!(all.open(0, user).map(|m| m.all_folders()), Some(vec![a, b]));
    }
}
