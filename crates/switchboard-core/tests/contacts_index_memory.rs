//! A million phonebook entries fit in the caller-ID index in well under 200 MB.
//!
//! Measured as the growth of the process's resident memory (Linux); entries are made one at a
//! time and dropped, so what grows is what the index keeps.

#![cfg(target_os = "linux")]

use jiff::Timestamp;
use switchboard_core::contacts::{
    Book, EntryOrigin, LookupSource, PhoneKind, PhoneNumber, PhonebookEntry, PhonebookIndex,
};

/// Resident memory in bytes (`VmRSS` of /proc/self/status).
fn resident() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs is readable");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS is listed");
    kb * 1024
}

const ENTRIES: u64 = 1_000_000;
/// Users with a personal phonebook of 1,000 contacts each.
const PER_MAILBOX: u64 = 1_000;

fn phone(kind: PhoneKind, e164: String) -> PhoneNumber {
    PhoneNumber {
        kind,
        raw: e164.clone(),
        e164: Some(e164),
    }
}

fn entry(i: u64) -> PhonebookEntry {
    let mailbox = i / PER_MAILBOX;
    // Two numbers each, many shared between books (as colleagues save the same suppliers).
    let business = 442_000_000_000 + (i * 7_919) % 600_000;
    let mobile = 447_700_000_000 + i;
    PhonebookEntry {
        book: Book::Extension(format!("{}", 1000 + mailbox)),
        mailbox_id: format!("00000000-0000-4000-8000-{mailbox:012}"),
        // Graph's immutable ids are long: the index must not keep them.
        contact_id: format!(
            "AAMkAGI2TG93AAAuAAAAAAA0IQoP0s2xQ6BPzCxtq5ruAQBfkB4yA2QbRJ4yqvrY-{i:020}AAA="
        ),
        folder_id: String::new(),
        display_name: format!("Contact Name {i}"),
        first_name: "Contact".into(),
        last_name: format!("Name {i}"),
        company: "Company".into(),
        department: String::new(),
        job_title: String::new(),
        emails: vec![format!("contact{i}@example.com")],
        phones: vec![
            phone(PhoneKind::Business, format!("+{business}")),
            phone(PhoneKind::Mobile, format!("+{mobile}")),
        ],
        origin: EntryOrigin::Outlook,
        updated_at: Timestamp::UNIX_EPOCH,
    }
}

#[test]
fn a_million_entries_fit() {
    let before = resident();
    let index = PhonebookIndex::new("GB");
    for i in 0..ENTRIES {
        index.upsert(&entry(i));
    }
    let used = resident().saturating_sub(before);
    eprintln!(
        "{ENTRIES} entries: {:.1} MB in the index ({} bytes per entry)",
        used as f64 / 1e6,
        used / ENTRIES
    );
    assert_eq!(index.len() as u64, ENTRIES);
    assert!(used < 140_000_000, "{used} bytes");
    let h = index
        .lookup("+447700000042", Some("1000"))
        .expect("indexed");
    assert_eq!(
        (h.name.as_str(), h.source),
        ("Contact Name 42", LookupSource::Phonebook)
    );

    // Replacing a quarter of the mailboxes (a full sync's work) does not make it grow much: resident
    // memory also keeps what the allocator got back and has not returned yet.
    for m in 0..ENTRIES / PER_MAILBOX / 4 {
        let entries: Vec<PhonebookEntry> = (m * PER_MAILBOX..(m + 1) * PER_MAILBOX)
            .map(entry)
            .collect();
        index.replace_mailbox(&entries[0].mailbox_id, &entries);
    }
    assert_eq!(index.len() as u64, ENTRIES);
    let again = resident().saturating_sub(before);
    eprintln!("after replacing: {:.1} MB", again as f64 / 1e6);
    assert!(
        again < 180_000_000,
        "{again} bytes after replacing, {used} before"
    );
}
