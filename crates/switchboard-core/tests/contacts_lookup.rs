//! The caller-ID index: precedence, updates, and agreement with a plain scan.

use jiff::Timestamp;
use proptest::prelude::*;
use std::collections::BTreeMap;
use switchboard_core::contacts::phone::normalise;
use switchboard_core::contacts::{
    Book, EntryOrigin, IndexedExtension, LookupHit, LookupSource, PhoneKind, PhoneNumber,
    PhonebookEntry, PhonebookIndex,
};

fn entry(book: Book, mailbox: &str, contact: &str, name: &str, numbers: &[&str]) -> PhonebookEntry {
    PhonebookEntry {
        book,
        mailbox_id: mailbox.into(),
        contact_id: contact.into(),
        folder_id: String::new(),
        display_name: name.into(),
        first_name: String::new(),
        last_name: String::new(),
        company: String::new(),
        department: String::new(),
        job_title: String::new(),
        emails: Vec::new(),
        phones: numbers
            .iter()
            .map(|n| PhoneNumber {
                kind: PhoneKind::Business,
                raw: (*n).into(),
                e164: normalise(n, "GB"),
            })
            .collect(),
        origin: EntryOrigin::Outlook,
        updated_at: Timestamp::UNIX_EPOCH,
    }
}

fn ext(number: &str, name: &str, region: &str, numbers: &[&str]) -> IndexedExtension {
    IndexedExtension {
        number: number.into(),
        display_name: name.into(),
        region: region.into(),
        numbers: numbers.iter().map(|n| (*n).into()).collect(),
    }
}

fn personal(n: &str) -> Book {
    Book::Extension(n.into())
}

fn hit(
    index: &PhonebookIndex,
    number: &str,
    callee: Option<&str>,
) -> Option<(String, LookupSource)> {
    index.lookup(number, callee).map(|h| (h.name, h.source))
}

fn index() -> PhonebookIndex {
    let index = PhonebookIndex::new("GB");
    index.set_extensions(vec![
        ext("101", "Ada Lovelace", "GB", &["07700 900101"]),
        ext("102", "Bob Berlin", "DE", &["030 1234567"]),
        ext("103", "Carol Nowhere", "", &[]),
    ]);
    index.upsert(&entry(
        personal("101"),
        "ada",
        "c1",
        "Ada's Plumber",
        &["020 7946 0001"],
    ));
    index.upsert(&entry(
        Book::Company,
        "shared",
        "c1",
        "Plumbing Ltd",
        &["+44 20 7946 0001"],
    ));
    index.upsert(&entry(
        Book::Company,
        "shared",
        "c2",
        "Bob (company)",
        &["+49 30 1234567"],
    ));
    index.upsert(&entry(
        personal("102"),
        "bob",
        "c1",
        "Bob's Mum",
        &["+44 7700 900101"],
    ));
    index
}

#[test]
fn precedence_callee_book_then_extensions_then_company() {
    let index = index();
    // The callee's own phonebook first.
    let h = index.lookup("020 7946 0001", Some("101")).expect("known");
    assert_eq!(
        h,
        LookupHit {
            e164: "+442079460001".into(),
            name: "Ada's Plumber".into(),
            source: LookupSource::Phonebook,
            extension: None,
            owner_extension: Some("101".into()),
        }
    );
    // Another extension's personal book is not consulted: the company book answers. (102 is
    // in Germany, where the national form would be a German number.)
    assert_eq!(
        hit(&index, "+44 20 7946 0001", Some("102")),
        Some(("Plumbing Ltd".into(), LookupSource::Company))
    );
    assert_eq!(
        hit(&index, "020 7946 0001", None),
        Some(("Plumbing Ltd".into(), LookupSource::Company))
    );
    // Extensions before the company book.
    let h = index.lookup("+49301234567", None).expect("known");
    assert_eq!(
        (h.name.as_str(), h.source),
        ("Bob Berlin", LookupSource::Extension)
    );
    assert_eq!(h.extension.as_deref(), Some("102"));
    // ... but after the callee's own book.
    assert_eq!(
        hit(&index, "+447700900101", Some("102")),
        Some(("Bob's Mum".into(), LookupSource::Phonebook))
    );
    assert_eq!(
        hit(&index, "+447700900101", Some("101")),
        Some(("Ada Lovelace".into(), LookupSource::Extension))
    );
    assert_eq!(index.lookup("+442079460999", Some("101")), None);
    assert_eq!(index.lookup("garbage", None), None);
}

#[test]
fn internal_extension_numbers_answer_the_extension() {
    let index = index();
    let h = index.lookup(" 103 ", None).expect("extension");
    assert_eq!(
        h,
        LookupHit {
            e164: "103".into(),
            name: "Carol Nowhere".into(),
            source: LookupSource::Extension,
            extension: Some("103".into()),
            owner_extension: None,
        }
    );
    assert_eq!(index.normalise_for("103", None).as_deref(), Some("103"));
    let json = serde_json::to_value(&h).expect("serialises");
    assert_eq!(
        json,
        serde_json::json!({"e164": "103", "name": "Carol Nowhere", "source": "extension", "extension": "103"})
    );
}

#[test]
fn numbers_are_read_in_the_callee_region() {
    let index = index();
    // 102 is in Germany: a national number dialled to them is German.
    assert_eq!(
        index.normalise_for("030 1234567", Some("102")).as_deref(),
        Some("+49301234567")
    );
    assert_eq!(
        hit(&index, "030 1234567", Some("102")),
        Some(("Bob Berlin".into(), LookupSource::Extension))
    );
    // Others (and 103, who has no region) read it in the default region.
    assert_eq!(
        index.normalise_for("030 1234567", Some("101")).as_deref(),
        Some("+44301234567")
    );
    assert_eq!(
        index.normalise_for("030 1234567", Some("103")).as_deref(),
        Some("+44301234567")
    );
    assert_eq!(index.lookup("030 1234567", None), None);
    index.set_default_region("DE");
    assert_eq!(
        hit(&index, "030 1234567", None),
        Some(("Bob Berlin".into(), LookupSource::Extension))
    );
    // The extensions' own numbers were read again in the new default region.
    assert_eq!(index.lookup("07700 900101", None), None);
    assert_eq!(
        hit(&index, "+44 7700 900101", None),
        Some(("Ada Lovelace".into(), LookupSource::Extension))
    );
}

#[test]
fn odd_formats_find_the_same_entry() {
    let index = index();
    for n in [
        "+44 20 7946 0001",
        "+44 (0)20 7946 0001",
        "0044 20 7946 0001",
        "020-7946-0001",
        "(020) 7946 0001",
        "020.7946.0001 ext. 12",
        "+442079460001",
    ] {
        assert_eq!(
            hit(&index, n, None),
            Some(("Plumbing Ltd".into(), LookupSource::Company)),
            "{n}"
        );
    }
}

#[test]
fn updates_and_removals() {
    let index = index();
    assert_eq!(index.len(), 4);
    // A new number replaces the old one.
    index.upsert(&entry(
        Book::Company,
        "shared",
        "c1",
        "Plumbing Ltd",
        &["+44 20 7946 0002"],
    ));
    assert_eq!(index.len(), 4);
    assert_eq!(index.lookup("+442079460001", None), None);
    assert_eq!(
        hit(&index, "+442079460002", None),
        Some(("Plumbing Ltd".into(), LookupSource::Company))
    );
    // A rename shows.
    index.upsert(&entry(
        Book::Company,
        "shared",
        "c1",
        "Plumbers & Co",
        &["+44 20 7946 0002"],
    ));
    assert_eq!(
        hit(&index, "+442079460002", None),
        Some(("Plumbers & Co".into(), LookupSource::Company))
    );
    // An entry moved to another book.
    index.upsert(&entry(
        personal("101"),
        "shared",
        "c1",
        "Plumbers & Co",
        &["+44 20 7946 0002"],
    ));
    assert_eq!(index.lookup("+442079460002", None), None);
    assert_eq!(
        hit(&index, "+442079460002", Some("101")),
        Some(("Plumbers & Co".into(), LookupSource::Phonebook))
    );
    // Losing every readable number takes it out.
    index.upsert(&entry(
        personal("101"),
        "shared",
        "c1",
        "Plumbers & Co",
        &["ask"],
    ));
    assert_eq!(index.len(), 3);
    assert_eq!(index.lookup("+442079460002", Some("101")), None);
    index.remove("ada", "c1");
    assert_eq!(index.len(), 2);
    assert_eq!(index.lookup("020 7946 0001", Some("101")), None);
    index.remove("ada", "c1");
    index.remove("nobody", "c1");
    assert_eq!(index.len(), 2);
    index.remove_mailbox("shared");
    assert_eq!(index.len(), 1);
    assert_eq!(
        hit(&index, "+49301234567", None),
        Some(("Bob Berlin".into(), LookupSource::Extension))
    );
}

#[test]
fn replace_mailbox_swaps_its_whole_content() {
    let index = index();
    index.replace_mailbox(
        "shared",
        &[
            entry(
                Book::Company,
                "shared",
                "c9",
                "New Supplier",
                &["+44 20 7946 0009"],
            ),
            // Not of this mailbox: ignored.
            entry(Book::Company, "other", "c1", "Stray", &["+44 20 7946 0008"]),
        ],
    );
    assert_eq!(index.len(), 3);
    assert_eq!(index.lookup("+442079460001", None), None);
    assert_eq!(index.lookup("+442079460008", None), None);
    assert_eq!(
        hit(&index, "+442079460009", None),
        Some(("New Supplier".into(), LookupSource::Company))
    );
    // Other mailboxes are untouched.
    assert_eq!(
        hit(&index, "+447700900101", Some("102")),
        Some(("Bob's Mum".into(), LookupSource::Phonebook))
    );
}

#[test]
fn one_number_in_several_entries_gives_the_lowest_name() {
    let index = PhonebookIndex::new("GB");
    let n = &["+44 20 7946 0005"];
    index.upsert(&entry(Book::Company, "m2", "x", "Zeta", n));
    index.upsert(&entry(Book::Company, "m1", "y", "Alpha", n));
    index.upsert(&entry(Book::Company, "m1", "z", "Mid", n));
    assert_eq!(
        hit(&index, n[0], None),
        Some(("Alpha".into(), LookupSource::Company))
    );
    index.remove("m1", "y");
    assert_eq!(
        hit(&index, n[0], None),
        Some(("Mid".into(), LookupSource::Company))
    );
    index.set_extensions(vec![ext("201", "Zed", "GB", n), ext("200", "Amy", "GB", n)]);
    let h = index.lookup(n[0], None).expect("known");
    assert_eq!(
        (h.name.as_str(), h.extension.as_deref()),
        ("Amy", Some("200"))
    );
}

#[test]
fn concurrent_readers_and_a_writer() {
    let index = std::sync::Arc::new(index());
    std::thread::scope(|s| {
        for _ in 0..4 {
            let index = index.clone();
            s.spawn(move || {
                for _ in 0..200 {
                    let h = index
                        .lookup("+49301234567", None)
                        .expect("extension is stable");
                    assert_eq!(h.source, LookupSource::Extension);
                }
            });
        }
        for i in 0..200 {
            let c = format!("c{i}");
            index.upsert(&entry(
                Book::Company,
                "bulk",
                &c,
                "Bulk",
                &["+44 20 7946 0100"],
            ));
        }
    });
    assert_eq!(index.len(), 204);
}

// --- agreement with a plain scan ---

#[derive(Debug, Clone)]
enum Op {
    Upsert {
        mailbox: u8,
        contact: u8,
        book: u8,
        name: u8,
        numbers: Vec<u8>,
    },
    Remove {
        mailbox: u8,
        contact: u8,
    },
    RemoveMailbox {
        mailbox: u8,
    },
    Replace {
        mailbox: u8,
        contacts: Vec<(u8, u8, u8, Vec<u8>)>,
    },
}

const NUMBERS: &[&str] = &[
    "+44 20 7946 0001",
    "020 7946 0002",
    "+442079460003",
    "07700 900004",
    "+49 30 1234567",
    "not a number",
    "0044 20 7946 0001",
];

fn book_of(b: u8) -> Book {
    match b % 3 {
        0 => Book::Company,
        1 => personal("101"),
        _ => personal("102"),
    }
}

fn make(mailbox: u8, contact: u8, book: u8, name: u8, numbers: &[u8]) -> PhonebookEntry {
    let numbers: Vec<&str> = numbers
        .iter()
        .map(|&n| NUMBERS[n as usize % NUMBERS.len()])
        .collect();
    entry(
        book_of(book),
        &format!("m{}", mailbox % 3),
        &format!("c{}", contact % 5),
        &format!("name {}", name % 4),
        &numbers,
    )
}

fn op() -> impl Strategy<Value = Op> {
    let numbers = proptest::collection::vec(0u8..10, 0..4);
    prop_oneof![
        5 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>(), numbers.clone())
            .prop_map(|(mailbox, contact, book, name, numbers)| Op::Upsert { mailbox, contact, book, name, numbers }),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(mailbox, contact)| Op::Remove { mailbox, contact }),
        1 => any::<u8>().prop_map(|mailbox| Op::RemoveMailbox { mailbox }),
        1 => (any::<u8>(), proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), numbers), 0..4))
            .prop_map(|(mailbox, contacts)| Op::Replace { mailbox, contacts }),
    ]
}

/// The answer from every entry, looked at one by one.
fn naive(
    entries: &BTreeMap<(String, String), PhonebookEntry>,
    extensions: &[IndexedExtension],
    number: &str,
    callee: Option<&str>,
) -> Option<(String, LookupSource)> {
    let e164 = normalise(number, "GB")?;
    let best = |book: &Book| {
        entries
            .values()
            .filter(|e| &e.book == book)
            .filter(|e| {
                e.phones
                    .iter()
                    .any(|p| p.e164.as_deref() == Some(e164.as_str()))
            })
            .map(|e| e.display_name.clone())
            .min()
    };
    if let Some(c) = callee
        && let Some(name) = best(&personal(c))
    {
        return Some((name, LookupSource::Phonebook));
    }
    if let Some(name) = extensions
        .iter()
        .filter(|x| {
            x.numbers
                .iter()
                .any(|n| normalise(n, "GB").as_deref() == Some(e164.as_str()))
        })
        .map(|x| x.display_name.clone())
        .min()
    {
        return Some((name, LookupSource::Extension));
    }
    best(&Book::Company).map(|n| (n, LookupSource::Company))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn index_agrees_with_a_plain_scan(ops in proptest::collection::vec(op(), 0..40)) {
        let extensions = vec![
            ext("101", "Ada", "GB", &["+44 20 7946 0003"]),
            ext("102", "Bob", "", &["07700 900004", "+49 30 1234567"]),
        ];
        let index = PhonebookIndex::new("GB");
        index.set_extensions(extensions.clone());
        let mut model: BTreeMap<(String, String), PhonebookEntry> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Upsert { mailbox, contact, book, name, numbers } => {
                    let e = make(mailbox, contact, book, name, &numbers);
                    index.upsert(&e);
                    model.insert((e.mailbox_id.clone(), e.contact_id.clone()), e);
                }
                Op::Remove { mailbox, contact } => {
                    let (m, c) = (format!("m{}", mailbox % 3), format!("c{}", contact % 5));
                    index.remove(&m, &c);
                    model.remove(&(m, c));
                }
                Op::RemoveMailbox { mailbox } => {
                    let m = format!("m{}", mailbox % 3);
                    index.remove_mailbox(&m);
                    model.retain(|(mm, _), _| *mm != m);
                }
                Op::Replace { mailbox, contacts } => {
                    let entries: Vec<PhonebookEntry> = contacts
                        .iter()
                        .map(|(c, b, n, nums)| make(mailbox, *c, *b, *n, nums))
                        .collect();
                    let m = format!("m{}", mailbox % 3);
                    index.replace_mailbox(&m, &entries);
                    model.retain(|(mm, _), _| *mm != m);
                    for e in entries {
                        model.insert((e.mailbox_id.clone(), e.contact_id.clone()), e);
                    }
                }
            }
            let with_numbers = model
                .values()
                .filter(|e| e.phones.iter().any(|p| p.e164.is_some()))
                .count();
            prop_assert_eq!(index.len(), with_numbers);
        }
        for number in NUMBERS {
            for callee in [None, Some("101"), Some("102"), Some("999")] {
                prop_assert_eq!(
                    hit(&index, number, callee),
                    naive(&model, &extensions, number, callee),
                    "{} as {:?}", number, callee
                );
            }
        }
    }
}
