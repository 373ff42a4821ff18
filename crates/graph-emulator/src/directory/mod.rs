//! The emulated directory: users and groups, plus the change log that users delta reads.
//!
//! Users live in one arena (`Vec<User>`, never shrunk, so an index is stable) with each
//! user's strings packed into a single allocation. Every change takes the next value of a
//! tenant-wide sequence; a user remembers the sequence of its last change, of its creation
//! (or restore), and of the last change of each property changed since. A delta token is
//! then just a sequence number: "changed since S" is a range of the append-only change log,
//! and no per-token snapshot is ever kept (§2.3).

pub mod generate;
pub mod json;
pub(crate) mod names;
pub mod packed;
pub mod props;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use packed::{Packed, Slot};
use props::{PropId, PropMask};

/// Where a user is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    Live,
    /// In deleted items: restorable, invisible to `/users`, `@removed: changed` in delta.
    SoftDeleted,
    /// Permanently deleted: a tombstone kept for delta (`@removed: deleted`).
    Purged,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    /// `createdDateTime`, Unix seconds.
    pub created: i64,
    /// Unix seconds of the soft deletion (meaningful while [`Life::SoftDeleted`]).
    pub deleted_at: i64,
    pub life: Life,
    pub account_enabled: bool,
    /// Sequence of the last change of any kind: the user's key in the change log.
    pub seq: u64,
    /// Sequence of the creation or of the last restore.
    pub born: u64,
    /// Properties changed after `born`, with the sequence of their last change. Usually empty.
    pub changed: Box<[(PropId, u64)]>,
    pub data: Packed,
}

impl User {
    pub fn text(&self, slot: Slot) -> Option<&str> {
        self.data.get(slot)
    }

    pub fn is_live(&self) -> bool {
        self.life == Life::Live
    }

    /// Sequence of the last change of `prop` (its creation/restore when unchanged since).
    pub fn prop_seq(&self, prop: PropId) -> u64 {
        self.changed
            .iter()
            .find(|(p, _)| *p == prop)
            .map_or(self.born, |(_, s)| *s)
    }

    /// Whether any property in `mask` changed after sequence `since`.
    pub fn changed_in(&self, mask: PropMask, since: u64) -> bool {
        self.born > since
            || self
                .changed
                .iter()
                .any(|(p, s)| *s > since && mask & (1u128 << p) != 0)
    }

    /// Whether `prop` was ever written after creation (delta returns such a property even
    /// when it is now null; a never-set one is left out, §2.3).
    pub fn was_changed(&self, prop: PropId) -> bool {
        self.changed.iter().any(|(p, _)| *p == prop)
    }
}

/// A member of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    /// Index into the user arena.
    User(u32),
    /// Index into the group list.
    Group(u32),
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: Uuid,
    pub display_name: String,
    pub description: Option<String>,
    pub mail_nickname: String,
    pub mail: Option<String>,
    pub mail_enabled: bool,
    pub security_enabled: bool,
    pub group_types: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    /// Direct members in insertion order.
    pub members: Vec<Member>,
}

/// How previously issued delta tokens fail after `POST /_emulator/delta/expire`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpireMode {
    /// 410 Gone with a `Location` to restart from.
    #[serde(rename = "gone")]
    Gone,
    /// 400 `syncStateNotFound`.
    #[serde(rename = "syncStateNotFound")]
    SyncStateNotFound,
}

/// Opt-in misbehaviour that real Graph shows now and then (§7), off by default so tests
/// stay deterministic.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quirks {
    /// Each users-delta page repeats its first item at its end (a replay, §2.3).
    #[serde(default)]
    pub delta_replays: bool,
    /// The first page of every `/users`, `/groups` and users-delta walk is empty but has a
    /// nextLink (§2.1 "A page may contain zero results").
    #[serde(default)]
    pub empty_pages: bool,
    /// Users-delta page size (Graph picks it; 200 is the observed cap, §2.3).
    #[serde(default = "default_delta_page_size")]
    pub delta_page_size: u32,
}

fn default_delta_page_size() -> u32 {
    200
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            delta_replays: false,
            empty_pages: false,
            delta_page_size: default_delta_page_size(),
        }
    }
}

/// A directory-level refusal, mapped to a control-API 400/404/409 by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirError {
    NotFound(String),
    Conflict(String),
    Invalid(String),
}

/// One property write (already validated).
#[derive(Debug, Clone)]
pub enum Change {
    Text(Slot, Option<String>),
    AccountEnabled(bool),
}

/// Everything a new user starts with.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: Uuid,
    pub created: i64,
    pub account_enabled: bool,
    pub values: Vec<(Slot, String)>,
}

#[derive(Debug, Default)]
pub struct Directory {
    users: Vec<User>,
    by_id: HashMap<Uuid, u32>,
    /// Hash of the lower-case UPN → user; live and soft-deleted users hold their UPN.
    by_upn: HashMap<u64, u32>,
    /// Users whose UPN hash collided with another UPN (practically never).
    upn_overflow: Vec<u32>,
    /// `(seq, user)` in increasing `seq`; an entry is stale once the user changed again.
    log: Vec<(u64, u32)>,
    stale: usize,
    seq: u64,
    groups: Vec<Group>,
    group_by_id: HashMap<Uuid, u32>,
    /// Generation of delta tokens; tokens of an older generation are expired.
    pub delta_epoch: u32,
    /// How tokens of generation `i` fail, for every `i < delta_epoch`.
    pub expired_epochs: Vec<ExpireMode>,
    pub quirks: Quirks,
}

/// FNV-1a over the lower-cased UPN.
fn upn_hash(upn: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    for c in upn.chars() {
        if c.is_ascii() {
            feed(c.to_ascii_lowercase() as u8);
        } else {
            for l in c.to_lowercase() {
                let mut buf = [0u8; 4];
                for b in l.encode_utf8(&mut buf).bytes() {
                    feed(b);
                }
            }
        }
    }
    h
}

pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

impl Directory {
    pub fn new() -> Directory {
        Directory::default()
    }

    pub fn users(&self) -> &[User] {
        &self.users
    }

    pub fn user(&self, idx: u32) -> Option<&User> {
        self.users.get(idx as usize)
    }

    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    pub fn group(&self, idx: u32) -> Option<&Group> {
        self.groups.get(idx as usize)
    }

    /// The sequence of the latest change.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn reserve(&mut self, users: usize) {
        self.users.reserve_exact(users);
        self.by_id.reserve(users);
        self.by_upn.reserve(users);
        self.log.reserve_exact(users);
    }

    /// A user by object id (any case) or by UPN, in any life state.
    pub fn find(&self, key: &str) -> Option<u32> {
        match Uuid::parse_str(key) {
            Ok(id) => self.by_id.get(&id).copied(),
            Err(_) => self.find_upn(key),
        }
    }

    /// A live or soft-deleted user holding `upn` (case-insensitive).
    pub fn find_upn(&self, upn: &str) -> Option<u32> {
        let holds = |idx: &u32| {
            self.users.get(*idx as usize).is_some_and(|u| {
                u.life != Life::Purged
                    && u.text(props::slot::USER_PRINCIPAL_NAME)
                        .is_some_and(|v| eq_ignore_case(v, upn))
            })
        };
        match self.by_upn.get(&upn_hash(upn)) {
            Some(idx) if holds(idx) => Some(*idx),
            _ => self.upn_overflow.iter().copied().find(|i| holds(i)),
        }
    }

    /// A live user by id or UPN.
    pub fn find_live(&self, key: &str) -> Option<u32> {
        self.find(key)
            .filter(|i| self.users.get(*i as usize).is_some_and(User::is_live))
    }

    fn index_upn(&mut self, idx: u32) {
        let Some(upn) = self
            .users
            .get(idx as usize)
            .and_then(|u| u.text(props::slot::USER_PRINCIPAL_NAME))
        else {
            return;
        };
        let h = upn_hash(upn);
        match self.by_upn.get(&h) {
            Some(other) if *other != idx && self.users[*other as usize].life != Life::Purged => {
                self.upn_overflow.push(idx);
            }
            _ => {
                self.by_upn.insert(h, idx);
            }
        }
    }

    fn unindex_upn(&mut self, idx: u32) {
        self.upn_overflow.retain(|i| *i != idx);
        let Some(upn) = self
            .users
            .get(idx as usize)
            .and_then(|u| u.text(props::slot::USER_PRINCIPAL_NAME))
        else {
            return;
        };
        let h = upn_hash(upn);
        if self.by_upn.get(&h) == Some(&idx) {
            self.by_upn.remove(&h);
            // A colliding user waiting in the overflow list takes the slot back.
            if let Some(pos) = self.upn_overflow.iter().position(|i| {
                self.users[*i as usize]
                    .text(props::slot::USER_PRINCIPAL_NAME)
                    .is_some_and(|u| upn_hash(u) == h)
            }) {
                let other = self.upn_overflow.remove(pos);
                self.by_upn.insert(h, other);
            }
        }
    }

    fn next_seq(&mut self, idx: u32) -> u64 {
        self.seq += 1;
        if let Some(user) = self.users.get_mut(idx as usize) {
            if user.seq != 0 {
                self.stale += 1;
            }
            user.seq = self.seq;
        }
        self.log.push((self.seq, idx));
        if self.stale > 1024 && self.stale > self.log.len() / 2 {
            let users = &self.users;
            self.log
                .retain(|(s, i)| users.get(*i as usize).is_some_and(|u| u.seq == *s));
            self.stale = 0;
        }
        self.seq
    }

    /// Adds a user; the id and UPN must be free (a purged id is reused).
    pub fn create(&mut self, new: NewUser) -> Result<u32, DirError> {
        let upn = new
            .values
            .iter()
            .find(|(s, _)| *s == props::slot::USER_PRINCIPAL_NAME)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| DirError::Invalid("userPrincipalName is required".to_owned()))?;
        if let Some(idx) = self.by_id.get(&new.id)
            && self.users[*idx as usize].life != Life::Purged
        {
            return Err(DirError::Conflict(format!(
                "a user with id '{}' already exists",
                new.id
            )));
        }
        if self.find_upn(upn).is_some() {
            return Err(DirError::Conflict(format!(
                "another user already has userPrincipalName '{upn}'"
            )));
        }
        Ok(self.insert_unchecked(new))
    }

    /// Adds a user without uniqueness checks (the generator guarantees them).
    pub(crate) fn insert_unchecked(&mut self, new: NewUser) -> u32 {
        let data = Packed::build(new.values.iter().map(|(s, v)| (*s, v.as_str())));
        self.insert_packed(new.id, new.created, new.account_enabled, data)
    }

    pub(crate) fn insert_packed(
        &mut self,
        id: Uuid,
        created: i64,
        account_enabled: bool,
        data: Packed,
    ) -> u32 {
        let user = User {
            id,
            created,
            deleted_at: 0,
            life: Life::Live,
            account_enabled,
            seq: 0,
            born: 0,
            changed: Box::new([]),
            data,
        };
        let idx = match self.by_id.get(&id) {
            Some(idx) => {
                self.users[*idx as usize] = user;
                // The tombstone's log entry is stale from now on.
                self.stale += 1;
                *idx
            }
            None => {
                let idx = u32::try_from(self.users.len()).unwrap_or(u32::MAX);
                self.users.push(user);
                self.by_id.insert(id, idx);
                idx
            }
        };
        let seq = self.next_seq(idx);
        self.users[idx as usize].born = seq;
        self.index_upn(idx);
        idx
    }

    /// Applies `changes` to a live user; returns whether anything changed (only then does the
    /// user get a new sequence, so a no-op PATCH stays invisible to delta).
    pub fn update(&mut self, idx: u32, changes: Vec<Change>) -> Result<bool, DirError> {
        let user = self
            .users
            .get(idx as usize)
            .filter(|u| u.is_live())
            .ok_or_else(|| DirError::NotFound("no such live user".to_owned()))?;
        let mut data = user.data.clone();
        let mut enabled = user.account_enabled;
        let mut touched: Vec<PropId> = Vec::new();
        let mut new_upn: Option<String> = None;
        for change in changes {
            match change {
                Change::Text(slot, value) => {
                    let old = data.get(slot);
                    if old == value.as_deref() {
                        continue;
                    }
                    if slot == props::slot::USER_PRINCIPAL_NAME {
                        let Some(upn) = value.clone() else {
                            return Err(DirError::Invalid(
                                "userPrincipalName cannot be null".to_owned(),
                            ));
                        };
                        new_upn = Some(upn);
                    }
                    data = data.with(slot, value.as_deref());
                    if let Some(p) = props::prop_of_slot(slot) {
                        touched.push(p);
                    }
                }
                Change::AccountEnabled(v) => {
                    if v != enabled {
                        enabled = v;
                        if let Some(p) = props::by_name("accountEnabled") {
                            touched.push(p);
                        }
                    }
                }
            }
        }
        if touched.is_empty() {
            return Ok(false);
        }
        if let Some(upn) = &new_upn
            && let Some(other) = self.find_upn(upn)
            && other != idx
        {
            return Err(DirError::Conflict(format!(
                "another user already has userPrincipalName '{upn}'"
            )));
        }
        if new_upn.is_some() {
            self.unindex_upn(idx);
        }
        let seq = self.next_seq(idx);
        let user = &mut self.users[idx as usize];
        user.data = data;
        user.account_enabled = enabled;
        let mut changed: Vec<(PropId, u64)> = user
            .changed
            .iter()
            .copied()
            .filter(|(p, _)| !touched.contains(p))
            .collect();
        touched.sort_unstable();
        touched.dedup();
        changed.extend(touched.into_iter().map(|p| (p, seq)));
        user.changed = changed.into_boxed_slice();
        if new_upn.is_some() {
            self.index_upn(idx);
        }
        Ok(true)
    }

    /// Moves a live user to deleted items.
    pub fn soft_delete(&mut self, idx: u32, now: i64) -> Result<(), DirError> {
        match self.users.get(idx as usize).map(|u| u.life) {
            Some(Life::Live) => {}
            Some(Life::SoftDeleted) => {
                return Err(DirError::NotFound(
                    "the user is already soft-deleted; DELETE with ?permanent=true purges it"
                        .to_owned(),
                ));
            }
            _ => return Err(DirError::NotFound("no such user".to_owned())),
        }
        self.next_seq(idx);
        let user = &mut self.users[idx as usize];
        user.life = Life::SoftDeleted;
        user.deleted_at = now;
        Ok(())
    }

    /// Deletes a live or soft-deleted user for good, leaving a tombstone for delta.
    pub fn purge(&mut self, idx: u32) -> Result<(), DirError> {
        match self.users.get(idx as usize).map(|u| u.life) {
            Some(Life::Live | Life::SoftDeleted) => {}
            _ => return Err(DirError::NotFound("no such user".to_owned())),
        }
        self.unindex_upn(idx);
        self.next_seq(idx);
        let user = &mut self.users[idx as usize];
        user.life = Life::Purged;
        user.data = Packed::default();
        user.changed = Box::new([]);
        for group in &mut self.groups {
            group.members.retain(|m| *m != Member::User(idx));
        }
        Ok(())
    }

    /// Brings a soft-deleted user back; delta shows it again in full, without annotation.
    pub fn restore(&mut self, idx: u32) -> Result<(), DirError> {
        match self.users.get(idx as usize).map(|u| u.life) {
            Some(Life::SoftDeleted) => {}
            Some(Life::Live) => {
                return Err(DirError::Invalid("the user is not deleted".to_owned()));
            }
            _ => {
                return Err(DirError::NotFound(
                    "no soft-deleted user with this id".to_owned(),
                ));
            }
        }
        let seq = self.next_seq(idx);
        let user = &mut self.users[idx as usize];
        user.life = Life::Live;
        user.deleted_at = 0;
        user.born = seq;
        user.changed = Box::new([]);
        Ok(())
    }

    /// Log entries with `after < seq <= upto` that are still current, oldest first.
    pub fn changes(&self, after: u64, upto: u64) -> impl Iterator<Item = (u64, u32)> + '_ {
        let start = self.log.partition_point(|(s, _)| *s <= after);
        self.log[start..]
            .iter()
            .copied()
            .take_while(move |(s, _)| *s <= upto)
            .filter(|(s, i)| self.users.get(*i as usize).is_some_and(|u| u.seq == *s))
    }

    pub fn add_group(&mut self, group: Group) -> Result<u32, DirError> {
        if self.group_by_id.contains_key(&group.id) {
            return Err(DirError::Conflict(format!(
                "a group with id '{}' already exists",
                group.id
            )));
        }
        let idx = u32::try_from(self.groups.len()).unwrap_or(u32::MAX);
        self.group_by_id.insert(group.id, idx);
        self.groups.push(group);
        Ok(idx)
    }

    pub fn find_group(&self, key: &str) -> Option<u32> {
        Uuid::parse_str(key)
            .ok()
            .and_then(|id| self.group_by_id.get(&id).copied())
    }

    pub fn group_mut(&mut self, idx: u32) -> Option<&mut Group> {
        self.groups.get_mut(idx as usize)
    }

    pub fn remove_group(&mut self, idx: u32) -> Result<(), DirError> {
        let id = self
            .groups
            .get(idx as usize)
            .map(|g| g.id)
            .ok_or_else(|| DirError::NotFound("no such group".to_owned()))?;
        self.groups.remove(idx as usize);
        self.group_by_id.remove(&id);
        // Later groups moved down by one; fix the index and every membership.
        for (i, g) in self.groups.iter().enumerate() {
            if let Ok(i) = u32::try_from(i) {
                self.group_by_id.insert(g.id, i);
            }
        }
        for g in &mut self.groups {
            g.members.retain(|m| *m != Member::Group(idx));
            for m in &mut g.members {
                if let Member::Group(j) = m
                    && *j > idx
                {
                    *j -= 1;
                }
            }
        }
        Ok(())
    }

    /// Members of a group, nested groups expanded (each object once, cycles tolerated), live
    /// users only: direct members first, then each nested group's, breadth first.
    pub fn transitive_members(&self, idx: u32) -> Vec<Member> {
        let mut seen_users = vec![0u64; self.users.len().div_ceil(64)];
        let mut seen_groups = vec![false; self.groups.len()];
        let mut out = Vec::new();
        let mut queue = std::collections::VecDeque::from([idx]);
        if let Some(seen) = seen_groups.get_mut(idx as usize) {
            *seen = true;
        }
        while let Some(g) = queue.pop_front() {
            let Some(group) = self.groups.get(g as usize) else {
                continue;
            };
            for m in &group.members {
                match *m {
                    Member::User(u) => {
                        let (w, b) = (u as usize / 64, u % 64);
                        let live = self.users.get(u as usize).is_some_and(User::is_live);
                        if live && seen_users[w] & (1 << b) == 0 {
                            seen_users[w] |= 1 << b;
                            out.push(*m);
                        }
                    }
                    Member::Group(n) => {
                        if let Some(seen) = seen_groups.get_mut(n as usize)
                            && !*seen
                        {
                            *seen = true;
                            out.push(*m);
                            queue.push_back(n);
                        }
                    }
                }
            }
        }
        out
    }

    /// Direct members, live users only.
    pub fn direct_members(&self, idx: u32) -> Vec<Member> {
        self.groups
            .get(idx as usize)
            .map(|g| {
                g.members
                    .iter()
                    .copied()
                    .filter(|m| match m {
                        Member::User(u) => self.users.get(*u as usize).is_some_and(User::is_live),
                        Member::Group(_) => true,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Counts for `/_emulator/tenant`.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut live = 0;
        let mut soft = 0;
        for u in &self.users {
            match u.life {
                Life::Live => live += 1,
                Life::SoftDeleted => soft += 1,
                Life::Purged => {}
            }
        }
        (live, soft, self.groups.len())
    }

    /// Rough heap use of the user half, for the benchmark report.
    pub fn approx_heap_bytes(&self) -> usize {
        let users = self.users.capacity() * std::mem::size_of::<User>()
            + self
                .users
                .iter()
                .map(|u| u.data.heap_bytes() + std::mem::size_of_val(&*u.changed))
                .sum::<usize>();
        // hashbrown: key + value + one control byte per bucket, about 8/7 buckets per entry.
        let maps = self.by_id.capacity() * (16 + 4 + 1) * 8 / 7
            + self.by_upn.capacity() * (8 + 4 + 1) * 8 / 7;
        let log = self.log.capacity() * std::mem::size_of::<(u64, u32)>();
        let groups: usize = self
            .groups
            .iter()
            .map(|g| std::mem::size_of::<Group>() + g.members.capacity() * 8)
            .sum();
        users + maps + log + groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use props::slot;

    fn new_user(n: u128, upn: &str) -> NewUser {
        NewUser {
            id: Uuid::from_u128(n),
            created: 0,
            account_enabled: true,
            values: vec![
                (slot::USER_PRINCIPAL_NAME, upn.to_owned()),
                (slot::DISPLAY_NAME, format!("User {n}")),
            ],
        }
    }

    #[test]
    fn sequence_log_and_lifecycle() {
        let mut d = Directory::new();
        let a = d.create(new_user(1, "a@x.test")).expect("a");
        let b = d.create(new_user(2, "b@x.test")).expect("b");
        assert_eq!(d.seq(), 2);
        assert!(d.create(new_user(3, "A@X.TEST")).is_err(), "UPN is unique");
        assert!(d.create(new_user(1, "c@x.test")).is_err(), "id is unique");
        assert_eq!(d.find("B@x.test"), Some(b));
        assert_eq!(
            d.find(&Uuid::from_u128(1).to_string().to_uppercase()),
            Some(a)
        );

        // No-op update: no new sequence.
        let same = vec![Change::Text(slot::DISPLAY_NAME, Some("User 1".to_owned()))];
        assert_eq!(d.update(a, same), Ok(false));
        assert_eq!(d.seq(), 2);

        let mail = props::by_name("mail").expect("mail");
        let dn = props::by_name("displayName").expect("displayName");
        assert_eq!(
            d.update(
                a,
                vec![Change::Text(slot::MAIL, Some("a@x.test".to_owned()))]
            ),
            Ok(true)
        );
        let user = d.user(a).expect("a");
        assert_eq!(user.seq, 3);
        assert_eq!(user.prop_seq(mail), 3);
        assert_eq!(user.prop_seq(dn), 1);
        assert!(user.changed_in(1u128 << mail, 2));
        assert!(!user.changed_in(1u128 << dn, 2));
        let current: Vec<_> = d.changes(0, d.seq()).collect();
        assert_eq!(current, vec![(2, b), (3, a)]);

        d.soft_delete(a, 100).expect("soft delete");
        assert_eq!(d.find_live("a@x.test"), None);
        assert_eq!(
            d.find("a@x.test"),
            Some(a),
            "soft-deleted users keep the UPN"
        );
        d.restore(a).expect("restore");
        assert_eq!(d.user(a).map(|u| u.born), Some(5));
        d.purge(a).expect("purge");
        assert_eq!(d.find("a@x.test"), None);
        assert_eq!(d.changes(4, d.seq()).collect::<Vec<_>>(), vec![(6, a)]);
        // The id and the UPN are free again.
        let again = d.create(new_user(1, "a@x.test")).expect("re-create");
        assert_eq!(again, a);
    }

    #[test]
    fn upn_change_moves_the_index() {
        let mut d = Directory::new();
        let a = d.create(new_user(1, "a@x.test")).expect("a");
        let b = d.create(new_user(2, "b@x.test")).expect("b");
        let to_b = vec![Change::Text(
            slot::USER_PRINCIPAL_NAME,
            Some("B@x.test".to_owned()),
        )];
        assert!(matches!(d.update(a, to_b), Err(DirError::Conflict(_))));
        let to_c = vec![Change::Text(
            slot::USER_PRINCIPAL_NAME,
            Some("c@x.test".to_owned()),
        )];
        assert_eq!(d.update(a, to_c), Ok(true));
        assert_eq!(d.find("a@x.test"), None);
        assert_eq!(d.find("C@X.test"), Some(a));
        assert_eq!(d.find("b@x.test"), Some(b));
    }

    #[test]
    fn transitive_members_handle_nesting_and_cycles() {
        let mut d = Directory::new();
        let u: Vec<u32> = (0..4)
            .map(|i| {
                d.create(new_user(10 + i, &format!("u{i}@x.test")))
                    .expect("user")
            })
            .collect();
        let group = |n: u128, members: Vec<Member>| Group {
            id: Uuid::from_u128(n),
            display_name: format!("G{n}"),
            description: None,
            mail_nickname: format!("g{n}"),
            mail: None,
            mail_enabled: false,
            security_enabled: true,
            group_types: vec![],
            created: 0,
            members,
        };
        let inner = d
            .add_group(group(100, vec![Member::User(u[2]), Member::User(u[0])]))
            .expect("inner");
        let outer = d
            .add_group(group(
                101,
                vec![Member::User(u[0]), Member::Group(inner), Member::User(u[1])],
            ))
            .expect("outer");
        // A cycle back to the outer group.
        if let Some(g) = d.group_mut(inner) {
            g.members.push(Member::Group(outer));
        }
        d.soft_delete(u[1], 0).expect("delete");
        assert_eq!(
            d.transitive_members(outer),
            vec![Member::User(u[0]), Member::Group(inner), Member::User(u[2])]
        );
    }
}
