//! Outlook ids and change keys, computed instead of stored.
//!
//! Exchange REST ids are URL-safe base64 of an entry id that embeds the mailbox GUID as text
//! ("AAMkAD…" / "AAMkAG…", about 120 characters, `=` padded). The emulator builds the same
//! shape from (mailbox GUID, kind, number), so an id is decoded back to a folder or contact
//! number without any lookup table, and it is stable for a seed because the mailbox GUID
//! follows from the user's id.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use uuid::Uuid;

/// What an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Folder = 1,
    Contact = 2,
    /// A stored calendar item: single event or series master.
    Event = 3,
    /// An occurrence of a series (or the exception that replaced it): master + date.
    Occurrence = 4,
}

/// The folder number of the default Contacts folder.
pub const DEFAULT_FOLDER: u32 = 0;
/// The folder number of the mailbox root ("Top of Information Store"), the default Contacts
/// folder's parent; never listed or addressable.
pub const ROOT_FOLDER: u32 = u32::MAX;

const PREFIX: [u8; 4] = [0x00, 0x03, 0x24, 0x00];
const ENTRY_MARK: [u8; 6] = [0x00, 0x46, 0x00, 0x00, 0x00, 0x00];
const LEN: usize = 4 + 36 + 6 + 16 + 2 + 16 + 4 + 4 + 2 + 2;

// Clients echo ids back with or without the padding; accept both.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A 64-bit mix of several values, for derived keys and deterministic choices.
pub fn mix(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x6a09_e667_f3bc_c908, |h, p| splitmix(h ^ splitmix(*p)))
}

/// SplitMix64 as a `rand` generator for derived data: seeding a cryptographic generator per
/// contact would cost more than building the contact.
#[derive(Debug, Clone)]
pub struct Mix64(u64);

impl Mix64 {
    pub fn new(seed: u64) -> Mix64 {
        Mix64(seed)
    }
}

impl rand::RngCore for Mix64 {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        splitmix(self.0)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// The mailbox GUID of a user: Exchange's differs from the directory object id.
pub fn mailbox_guid(user: Uuid) -> Uuid {
    let (hi, lo) = user.as_u64_pair();
    let a = mix(&[hi, lo, 0x4d42]);
    let b = mix(&[lo, hi, 0x4d42]);
    // Version 4 / RFC 4122 variant bits, like a real GUID.
    uuid::Builder::from_u128((u128::from(a) << 64) | u128::from(b))
        .with_version(uuid::Version::Random)
        .with_variant(uuid::Variant::RFC4122)
        .into_uuid()
}

fn key16(mailbox: &Uuid, salt: u64) -> [u8; 16] {
    let (hi, lo) = mailbox.as_u64_pair();
    let a = mix(&[hi, lo, salt]);
    let b = mix(&[lo, hi, salt]);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a.to_be_bytes());
    out[8..].copy_from_slice(&b.to_be_bytes());
    out
}

fn check(mailbox: &Uuid, kind: u8, num: u32) -> [u8; 2] {
    let (hi, lo) = mailbox.as_u64_pair();
    let h = mix(&[hi, lo, u64::from(kind), u64::from(num)]);
    [(h >> 8) as u8, h as u8]
}

/// The REST id of a folder or contact.
pub fn encode(mailbox: &Uuid, kind: IdKind, num: u32) -> String {
    let mut b = Vec::with_capacity(LEN);
    b.extend_from_slice(&PREFIX);
    b.extend_from_slice(
        mailbox
            .hyphenated()
            .encode_lower(&mut Uuid::encode_buffer())
            .as_bytes(),
    );
    b.extend_from_slice(&ENTRY_MARK);
    b.extend_from_slice(&key16(mailbox, 1));
    b.extend_from_slice(&[0x07, 0x00]);
    b.extend_from_slice(&key16(mailbox, 2));
    b.extend_from_slice(&[0x00, 0x00, 0x00, kind as u8]);
    b.extend_from_slice(&num.to_be_bytes());
    b.extend_from_slice(&check(mailbox, kind as u8, num));
    b.extend_from_slice(&[0x00, 0x00]);
    URL_SAFE.encode(b)
}

/// The REST id of one occurrence of series `master`, on `day` (days since 1970-01-01 in the
/// series' zone). Exchange ids of occurrences are longer than the master's and embed its
/// original date; an exception keeps the id of the occurrence it replaced.
pub fn encode_occurrence(mailbox: &Uuid, master: u32, day: i32) -> String {
    let mut b = Vec::with_capacity(LEN + 4);
    b.extend_from_slice(&PREFIX);
    b.extend_from_slice(
        mailbox
            .hyphenated()
            .encode_lower(&mut Uuid::encode_buffer())
            .as_bytes(),
    );
    b.extend_from_slice(&ENTRY_MARK);
    b.extend_from_slice(&key16(mailbox, 1));
    b.extend_from_slice(&[0x07, 0x00]);
    b.extend_from_slice(&key16(mailbox, 2));
    b.extend_from_slice(&[0x00, 0x00, 0x00, IdKind::Occurrence as u8]);
    b.extend_from_slice(&master.to_be_bytes());
    b.extend_from_slice(&occurrence_check(mailbox, master, day));
    b.extend_from_slice(&day.to_be_bytes());
    b.extend_from_slice(&[0x00, 0x00]);
    URL_SAFE.encode(b)
}

fn occurrence_check(mailbox: &Uuid, master: u32, day: i32) -> [u8; 2] {
    let (hi, lo) = mailbox.as_u64_pair();
    let h = mix(&[
        hi,
        lo,
        IdKind::Occurrence as u64,
        u64::from(master),
        u64::from(day.cast_unsigned()),
    ]);
    [(h >> 8) as u8, h as u8]
}

/// What an event id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventRef {
    /// A single event or a series master.
    Stored(u32),
    /// An occurrence or exception: (master, day).
    Occurrence(u32, i32),
}

/// The calendar item an id names in `mailbox`.
pub fn decode_event(id: &str, mailbox: &Uuid) -> Result<EventRef, IdProblem> {
    let bytes = LENIENT.decode(id).map_err(|_| IdProblem::Malformed)?;
    if bytes.len() == LEN {
        return decode(id, mailbox, IdKind::Event).map(EventRef::Stored);
    }
    if bytes.len() != LEN + 4 || bytes[..4] != PREFIX {
        return Err(IdProblem::Malformed);
    }
    let guid = std::str::from_utf8(&bytes[4..40])
        .ok()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or(IdProblem::Malformed)?;
    let tail = &bytes[LEN - 12..];
    let master = u32::from_be_bytes([tail[4], tail[5], tail[6], tail[7]]);
    let day = i32::from_be_bytes([tail[10], tail[11], tail[12], tail[13]]);
    if tail[3] != IdKind::Occurrence as u8 || tail[8..10] != occurrence_check(&guid, master, day) {
        return Err(IdProblem::Malformed);
    }
    if guid != *mailbox {
        return Err(IdProblem::Foreign);
    }
    Ok(EventRef::Occurrence(master, day))
}

/// Why an id does not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdProblem {
    /// Not an Exchange id at all (400 `ErrorInvalidIdMalformed`).
    Malformed,
    /// Well-formed, but of another mailbox or another kind (404 `ErrorItemNotFound`).
    Foreign,
}

/// The number behind `id` when it names a `kind` of `mailbox`.
pub fn decode(id: &str, mailbox: &Uuid, kind: IdKind) -> Result<u32, IdProblem> {
    let bytes = LENIENT.decode(id).map_err(|_| IdProblem::Malformed)?;
    if bytes.len() != LEN || bytes[..4] != PREFIX {
        return Err(IdProblem::Malformed);
    }
    let guid = std::str::from_utf8(&bytes[4..40])
        .ok()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or(IdProblem::Malformed)?;
    let tail = &bytes[LEN - 12..];
    let found_kind = tail[3];
    let num = u32::from_be_bytes([tail[4], tail[5], tail[6], tail[7]]);
    if tail[8..10] != check(&guid, found_kind, num) {
        return Err(IdProblem::Malformed);
    }
    if guid != *mailbox || found_kind != kind as u8 {
        return Err(IdProblem::Foreign);
    }
    Ok(num)
}

/// `changeKey` (standard base64, 40 characters, like `EQAAABYAAACGRBqm…`); the etag is
/// `W/"{changeKey}"`. Changes with every new version of the item.
pub fn change_key(mailbox: &Uuid, version: u64, num: u32) -> String {
    let mut b = Vec::with_capacity(30);
    b.extend_from_slice(&[0x11, 0, 0, 0, 0x16, 0, 0, 0]);
    b.extend_from_slice(&key16(mailbox, 3));
    let counter = mix(&[version, u64::from(num)]) & 0xffff_ffff_ffff;
    b.extend_from_slice(&counter.to_be_bytes()[2..]);
    STANDARD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_look_like_exchange() {
        let mb = mailbox_guid(Uuid::from_u128(42));
        let other = mailbox_guid(Uuid::from_u128(43));
        for num in [0, 1, 199, u32::MAX - 1] {
            let id = encode(&mb, IdKind::Contact, num);
            assert!(id.starts_with("AAMkA"), "{id}");
            assert!(id.ends_with('='), "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)),
                "{id}"
            );
            assert_eq!(decode(&id, &mb, IdKind::Contact), Ok(num));
            assert_eq!(
                decode(id.trim_end_matches('='), &mb, IdKind::Contact),
                Ok(num)
            );
            assert_eq!(
                decode(&id, &mb, IdKind::Folder),
                Err(IdProblem::Foreign),
                "kinds differ"
            );
            assert_eq!(
                decode(&id, &other, IdKind::Contact),
                Err(IdProblem::Foreign)
            );
        }
        assert_eq!(
            decode("garbage", &mb, IdKind::Contact),
            Err(IdProblem::Malformed)
        );
        let mut tampered = encode(&mb, IdKind::Folder, 3).into_bytes();
        let at = tampered.len() - 8;
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap_or_default();
        assert_eq!(
            decode(&tampered, &mb, IdKind::Folder),
            Err(IdProblem::Malformed)
        );
        let occ = encode_occurrence(&mb, 9, -3);
        assert!(occ.len() > encode(&mb, IdKind::Event, 9).len());
        assert_eq!(decode_event(&occ, &mb), Ok(EventRef::Occurrence(9, -3)));
        assert_eq!(
            decode_event(&encode(&mb, IdKind::Event, 9), &mb),
            Ok(EventRef::Stored(9))
        );
        assert_eq!(decode_event(&occ, &other), Err(IdProblem::Foreign));
        assert_eq!(
            decode_event(&encode(&mb, IdKind::Contact, 9), &mb),
            Err(IdProblem::Foreign)
        );
        assert_eq!(
            decode(&occ, &mb, IdKind::Contact),
            Err(IdProblem::Malformed)
        );
        let ck = change_key(&mb, 7, 3);
        assert_eq!(ck.len(), 40);
        assert!(ck.starts_with("EQAAABYAAAC"), "{ck}");
        assert_ne!(ck, change_key(&mb, 8, 3));
        assert_ne!(ck, change_key(&mb, 7, 4));
    }
}
