//! E.164 normalisation and contact → phonebook entry.

use jiff::Timestamp;
use proptest::prelude::*;
use switchboard_core::contacts::phone::{entry_from_contact, is_region, normalise};
use switchboard_core::contacts::{Book, EntryOrigin, MailboxContact, PhoneKind};

/// (raw, region, expected E.164)
const CASES: &[(&str, &str, Option<&str>)] = &[
    // United Kingdom
    ("020 7946 0018", "GB", Some("+442079460018")),
    ("+44 (0)20 7946 0018", "GB", Some("+442079460018")),
    ("+44 (0)20 7946 0018", "US", Some("+442079460018")),
    ("0044 20 7946 0018", "GB", Some("+442079460018")),
    ("07700 900123", "GB", Some("+447700900123")),
    ("07700-900-123", "gb", Some("+447700900123")),
    // United States
    ("(202) 555-0173", "US", Some("+12025550173")),
    ("202.555.0173", "US", Some("+12025550173")),
    ("1-202-555-0173", "US", Some("+12025550173")),
    ("+1 202 555 0173 x123", "US", Some("+12025550173")),
    ("202-555-0173 ext. 5", "US", Some("+12025550173")),
    ("(202) 555-0173 extension 12", "US", Some("+12025550173")),
    ("011 44 20 7946 0018", "US", Some("+442079460018")),
    ("555-0173", "US", None),
    // Germany
    ("030 1234567", "DE", Some("+49301234567")),
    ("0049 30 1234567", "DE", Some("+49301234567")),
    ("0049301234567", "DE", Some("+49301234567")),
    ("+49 (0)30 1234567", "DE", Some("+49301234567")),
    ("+49 (0) 30 / 123 45 67", "GB", Some("+49301234567")),
    ("0171 1234567", "DE", Some("+491711234567")),
    ("0049 30 1234567", "US", Some("+49301234567")),
    // France (the region must not swallow the country code: +33 stays +33 with region US)
    ("01 42 76 49 78", "FR", Some("+33142764978")),
    ("+33142764978", "US", Some("+33142764978")),
    ("+33 (0)1 42 76 49 78", "DE", Some("+33142764978")),
    ("06.12.34.56.78", "FR", Some("+33612345678")),
    // Russia (8 is the trunk prefix)
    ("8 800 555 35 35", "RU", Some("+78005553535")),
    ("8 (495) 123-45-67", "RU", Some("+74951234567")),
    ("+7 495 123 45 67", "GB", Some("+74951234567")),
    // Italy (the leading zero is part of the number)
    ("06 1234 5678", "IT", Some("+390612345678")),
    ("+39 06 1234 5678", "US", Some("+390612345678")),
    ("333 123 4567", "IT", Some("+393331234567")),
    // Spain
    ("912 34 56 78", "ES", Some("+34912345678")),
    ("+34 612 34 56 78", "FR", Some("+34612345678")),
    // Netherlands
    ("020-123 4567", "NL", Some("+31201234567")),
    ("06 12345678", "NL", Some("+31612345678")),
    // Switzerland
    ("044 668 18 00", "CH", Some("+41446681800")),
    ("+41 (0)44 668 18 00", "DE", Some("+41446681800")),
    // Austria
    ("0664 1234567", "AT", Some("+436641234567")),
    // Australia
    ("(02) 9876 5432", "AU", Some("+61298765432")),
    ("0412 345 678", "AU", Some("+61412345678")),
    // India
    ("098765 43210", "IN", Some("+919876543210")),
    ("+91 98765 43210", "GB", Some("+919876543210")),
    // Japan
    ("03-1234-5678", "JP", Some("+81312345678")),
    ("090-1234-5678", "JP", Some("+819012345678")),
    // Brazil
    ("(11) 91234-5678", "BR", Some("+5511912345678")),
    // No (or an unknown) region: international numbers only
    ("+44 20 7946 0018", "", Some("+442079460018")),
    ("0049 30 1234567", "", Some("+49301234567")),
    ("020 7946 0018", "", None),
    ("020 7946 0018", "ZZ", None),
    ("020 7946 0018", "001", None),
    // Garbage
    ("", "GB", None),
    ("   ", "GB", None),
    ("abc", "GB", None),
    ("n/a", "US", None),
    ("call me", "DE", None),
    ("123", "DE", None),
    ("+", "DE", None),
    ("++44", "GB", None),
    ("0000", "GB", None),
    ("00", "GB", None),
    ("000 123 456", "", None),
    ("+999 123456", "US", None),
    ("12345678901234567890123", "US", None),
    // Merely "possible" text that is no number: longer than E.164 allows, or shrinking when read
    // again (a trunk prefix taken off twice).
    ("011 000000000000", "DE", None),
    ("0000000", "DE", None),
];

#[test]
fn table() {
    let mut wrong = Vec::new();
    for &(raw, region, expected) in CASES {
        let got = normalise(raw, region);
        if got.as_deref() != expected {
            wrong.push(format!(
                "{raw:?} in {region:?}: got {got:?}, expected {expected:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn regions() {
    for code in ["GB", "gb", " US ", "DE", "FR", "RU", "JP", "BR", "CH"] {
        assert!(is_region(code), "{code}");
    }
    for code in ["", "ZZ", "UK", "001", "G", "GBR", "1A", "é"] {
        assert!(!is_region(code), "{code}");
    }
}

fn contact() -> MailboxContact {
    MailboxContact {
        id: "c1".into(),
        display_name: Some("  Ada Lovelace ".into()),
        given_name: Some(" Ada".into()),
        surname: Some("Lovelace ".into()),
        company_name: Some(" Analytical Engines Ltd ".into()),
        department: Some(" R&D ".into()),
        job_title: Some(" Countess ".into()),
        email_addresses: vec![" ".into(), " ada@example.com ".into()],
        business_phones: vec![" 020 7946 0018 ".into(), "".into(), "ask reception".into()],
        home_phones: vec!["+49 30 1234567".into()],
        mobile_phone: Some("07700 900123".into()),
        ..Default::default()
    }
}

#[test]
fn entry_keeps_every_number_with_its_kind() {
    let now = Timestamp::from_second(1_700_000_000).expect("valid time");
    let e = entry_from_contact(
        &contact(),
        Book::Extension("101".into()),
        "m1",
        "f1",
        "GB",
        now,
    );
    assert_eq!(e.book, Book::Extension("101".into()));
    assert_eq!((e.mailbox_id.as_str(), e.contact_id.as_str()), ("m1", "c1"));
    assert_eq!(e.folder_id, "f1");
    assert_eq!(e.display_name, "Ada Lovelace");
    assert_eq!(
        (e.first_name.as_str(), e.last_name.as_str()),
        ("Ada", "Lovelace")
    );
    assert_eq!(e.company, "Analytical Engines Ltd");
    assert_eq!(
        (e.department.as_str(), e.job_title.as_str()),
        ("R&D", "Countess")
    );
    assert_eq!(e.emails, vec!["ada@example.com".to_owned()]);
    assert_eq!(e.origin, EntryOrigin::Outlook);
    assert_eq!(e.updated_at, now);
    let phones: Vec<(PhoneKind, &str, Option<&str>)> = e
        .phones
        .iter()
        .map(|p| (p.kind, p.raw.as_str(), p.e164.as_deref()))
        .collect();
    assert_eq!(
        phones,
        vec![
            (PhoneKind::Business, "020 7946 0018", Some("+442079460018")),
            (PhoneKind::Business, "ask reception", None),
            (PhoneKind::Mobile, "07700 900123", Some("+447700900123")),
            (PhoneKind::Home, "+49 30 1234567", Some("+49301234567")),
        ]
    );
}

#[test]
fn display_name_falls_back() {
    let now = Timestamp::UNIX_EPOCH;
    let mut c = contact();
    c.display_name = Some("  ".into());
    let name =
        |c: &MailboxContact| entry_from_contact(c, Book::Company, "m", "", "GB", now).display_name;
    assert_eq!(name(&c), "Ada Lovelace");
    c.given_name = None;
    assert_eq!(name(&c), "Lovelace");
    c.surname = Some(" ".into());
    assert_eq!(name(&c), "Analytical Engines Ltd");
    c.company_name = None;
    assert_eq!(name(&c), "ada@example.com");
    c.email_addresses.clear();
    assert_eq!(name(&c), "020 7946 0018");
    c.business_phones.clear();
    c.home_phones.clear();
    c.mobile_phone = None;
    assert_eq!(name(&c), "");
}

#[test]
fn the_region_reads_national_numbers() {
    let now = Timestamp::UNIX_EPOCH;
    let c = MailboxContact {
        id: "x".into(),
        business_phones: vec!["030 1234567".into()],
        ..Default::default()
    };
    let de = entry_from_contact(&c, Book::Company, "m", "", "DE", now);
    assert_eq!(de.phones[0].e164.as_deref(), Some("+49301234567"));
    let none = entry_from_contact(&c, Book::Company, "m", "", "", now);
    assert_eq!(none.phones[0].e164, None);
    assert_eq!(none.phones[0].raw, "030 1234567");
}

const REGIONS: &[&str] = &[
    "", "GB", "US", "DE", "FR", "RU", "IT", "ES", "NL", "CH", "AT", "AU", "IN", "JP", "BR", "CN",
    "MX", "ZA", "SE", "PL", "ZZ",
];

fn region() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(REGIONS)
}

/// Text that looks like a number more often than not.
fn number_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[+]?[0-9 ()./-]{0,20}",
        "(00|\\+|0|8|011 )[0-9]{1,3}[ -]?[0-9 ]{4,12}( x[0-9]{1,4})?",
        "\\PC{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn normalising_is_idempotent(raw in number_like(), from in region(), again in region()) {
        if let Some(e164) = normalise(&raw, from) {
            prop_assert!(e164.starts_with('+'), "{e164}");
            prop_assert!(e164[1..].bytes().all(|b| b.is_ascii_digit()), "{e164}");
            prop_assert!(e164.len() <= 16, "{e164}");
            prop_assert_eq!(normalise(&e164, again), Some(e164.clone()), "from {:?} in {}", raw, from);
        }
    }

    #[test]
    fn never_panics(raw in any::<String>(), code in any::<String>()) {
        let _ = normalise(&raw, &code);
        let _ = is_region(&code);
    }
}
