//! Phonebook entries as vCards (3.0 by default, 4.0 on request), written with calcard, and
//! `GET /phonebook/{extension}.vcf`.

use super::{Caller, Ctx, conditional, load_books};
use crate::phonebooks::access::text;
use aws_lc_rs::digest::{SHA256, digest};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use calcard::common::PartialDateTime;
use calcard::vcard::{
    VCard, VCardEntry, VCardParameter, VCardProperty, VCardType, VCardValue, VCardVersion,
};
use serde::Deserialize;
use switchboard_core::contacts::{PhoneKind, PhoneNumber, PhonebookEntry};

pub(crate) const CONTENT_TYPE: &str = "text/vcard; charset=utf-8";
const PRODID: &str = "-//Switchboard//Phonebook//EN";

/// The vCard version a download is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V3,
    V4,
}

impl Version {
    fn calcard(self) -> VCardVersion {
        match self {
            Version::V3 => VCardVersion::V3_0,
            Version::V4 => VCardVersion::V4_0,
        }
    }
}

/// The name a phone shows: the display name, else first and last name, else the company, else
/// the first number.
pub(crate) fn display_name(entry: &PhonebookEntry) -> String {
    let display = entry.display_name.trim();
    if !display.is_empty() {
        return display.to_owned();
    }
    let full = format!("{} {}", entry.first_name.trim(), entry.last_name.trim());
    let full = full.trim();
    if !full.is_empty() {
        return full.to_owned();
    }
    let company = entry.company.trim();
    if !company.is_empty() {
        return company.to_owned();
    }
    entry
        .phones
        .first()
        .map(|p| dial_string(p).to_owned())
        .unwrap_or_default()
}

/// The number to dial: E.164 when the number could be read, as written otherwise.
pub(crate) fn dial_string(phone: &PhoneNumber) -> &str {
    phone
        .e164
        .as_deref()
        .filter(|e| !e.is_empty())
        .unwrap_or(&phone.raw)
}

/// A stable id for an entry: its mailbox and contact ids never change, and the form (a UUID)
/// is safe in URLs and in every client's UID handling, which a Graph contact id is not.
pub(crate) fn uid(entry: &PhonebookEntry) -> String {
    let mut key = Vec::with_capacity(entry.mailbox_id.len() + entry.contact_id.len() + 1);
    key.extend_from_slice(entry.mailbox_id.as_bytes());
    key.push(0);
    key.extend_from_slice(entry.contact_id.as_bytes());
    let hash = digest(&SHA256, &key);
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash.as_ref()[..16]);
    // RFC 9562 version 8 (custom) with the RFC variant bits.
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A strong ETag of a rendered body: it changes exactly when the bytes do.
pub(crate) fn etag(body: &str) -> String {
    let hash = digest(&SHA256, body.as_bytes());
    let hex: String = hash.as_ref()[..16]
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    format!("\"{hex}\"")
}

/// Removes what neither a vCard line nor the XML that carries it in CardDAV can hold (control
/// characters); line breaks become `\n`, which the writer escapes.
fn clean(value: &str) -> String {
    value
        .replace("\r\n", "\n")
        .chars()
        .map(|c| if c == '\r' { '\n' } else { c })
        .filter(|c| {
            !((c.is_control() && *c != '\n' && *c != '\t' && (*c as u32) < 0x80)
                || *c == '\u{fffe}'
                || *c == '\u{ffff}')
        })
        .collect()
}

fn text_entry(property: VCardProperty, value: &str) -> VCardEntry {
    VCardEntry::new(property).with_value(clean(value))
}

/// The vCard of one entry (VERSION is added by the writer).
pub(crate) fn to_vcard(entry: &PhonebookEntry) -> VCard {
    let mut entries = vec![
        text_entry(VCardProperty::Prodid, PRODID),
        VCardEntry::new(VCardProperty::Uid).with_value(uid(entry)),
        text_entry(VCardProperty::Fn, &display_name(entry)),
        VCardEntry::new(VCardProperty::N).with_values(vec![
            VCardValue::Text(clean(&entry.last_name)),
            VCardValue::Text(clean(&entry.first_name)),
            VCardValue::Text(String::new()),
            VCardValue::Text(String::new()),
            VCardValue::Text(String::new()),
        ]),
    ];
    if !entry.company.is_empty() || !entry.department.is_empty() {
        let mut org = vec![VCardValue::Text(clean(&entry.company))];
        if !entry.department.is_empty() {
            org.push(VCardValue::Text(clean(&entry.department)));
        }
        entries.push(VCardEntry::new(VCardProperty::Org).with_values(org));
    }
    if !entry.job_title.is_empty() {
        entries.push(text_entry(VCardProperty::Title, &entry.job_title));
    }
    for email in entry.emails.iter().filter(|e| !e.trim().is_empty()) {
        entries.push(text_entry(VCardProperty::Email, email.trim()));
    }
    for phone in &entry.phones {
        let number = dial_string(phone).trim();
        if number.is_empty() {
            continue;
        }
        let kind = match phone.kind {
            PhoneKind::Business => Some(VCardType::Work),
            PhoneKind::Home => Some(VCardType::Home),
            PhoneKind::Mobile => Some(VCardType::Cell),
            PhoneKind::Other => None,
        };
        entries.push(
            text_entry(VCardProperty::Tel, number).with_param_opt(kind.map(VCardParameter::typ)),
        );
    }
    entries.push(
        VCardEntry::new(VCardProperty::Rev).with_value(VCardValue::PartialDateTime(
            PartialDateTime::from_utc_timestamp(entry.updated_at.as_second()),
        )),
    );
    VCard { entries }
}

/// One entry as a vCard of `version`, CRLF line ends, folded at 75 octets.
pub(crate) fn render(entry: &PhonebookEntry, version: Version) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = to_vcard(entry).write_to(&mut out, version.calcard());
    out
}

#[derive(Debug, Deserialize)]
pub(crate) struct DownloadQuery {
    version: Option<String>,
}

/// `GET /phonebook/{extension}.vcf[?version=4]`: the personal phonebook, then the company
/// phonebook, as one vCard file.
pub(crate) async fn download(
    State(ctx): State<Ctx>,
    Caller(number): Caller,
    Path(file): Path<String>,
    Query(query): Query<DownloadQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(extension) = file.strip_suffix(".vcf") else {
        return text(
            StatusCode::NOT_FOUND,
            "No such phonebook: use /phonebook/{extension}.vcf or /phonebook/{extension}/yealink.xml.",
        );
    };
    if let Some(denied) = super::foreign_book(&number, extension) {
        return denied;
    }
    let version = match query.version.as_deref().map(str::trim) {
        None | Some("" | "3" | "3.0") => Version::V3,
        Some("4" | "4.0") => Version::V4,
        Some(_) => {
            return text(
                StatusCode::BAD_REQUEST,
                "Unsupported vCard version: use version=3 (the default) or version=4.",
            );
        }
    };
    let books = match load_books(&ctx.app, &number).await {
        Ok(books) => books,
        Err(e) => return super::unavailable(&e),
    };
    let mut body = String::new();
    for entry in books.personal.iter().chain(&books.company) {
        body.push_str(&render(entry, version));
    }
    let mut response = conditional(&headers, body, CONTENT_TYPE);
    let filename = format!(
        "attachment; filename=\"phonebook-{}.vcf\"",
        number
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    );
    if let Ok(value) = HeaderValue::from_str(&filename) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response.into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use calcard::{Entry, Parser};
    use switchboard_core::contacts::{Book, EntryOrigin};

    pub(crate) fn entry() -> PhonebookEntry {
        PhonebookEntry {
            book: Book::Extension("201".into()),
            mailbox_id: "mbx-1".into(),
            contact_id: "AAMkAD=/+contact".into(),
            folder_id: String::new(),
            display_name: "Müller, Erika; \"Eri\"".into(),
            first_name: "Erika".into(),
            last_name: "Müller".into(),
            company: "Contoso; Ltd".into(),
            department: "Sales, North".into(),
            job_title: "Head of\r\nSales".into(),
            emails: vec!["erika@contoso.example".into()],
            phones: vec![
                PhoneNumber {
                    kind: PhoneKind::Business,
                    raw: "030 1234-56".into(),
                    e164: Some("+49301234556".into()),
                },
                PhoneNumber {
                    kind: PhoneKind::Mobile,
                    raw: "ask reception, ext; 7".into(),
                    e164: None,
                },
            ],
            origin: EntryOrigin::Outlook,
            updated_at: "2026-10-30T12:34:56Z".parse().unwrap(),
        }
    }

    #[test]
    fn uid_is_a_stable_uuid_per_mailbox_and_contact() {
        let a = entry();
        let mut b = entry();
        b.display_name = "changed".into();
        assert_eq!(uid(&a), uid(&b));
        let mut c = entry();
        c.mailbox_id = "mbx-2".into();
        assert_ne!(uid(&a), uid(&c));
        let u = uid(&a);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "8");
        assert!(u.chars().all(|ch| ch.is_ascii_hexdigit() || ch == '-'));
    }

    #[test]
    fn v3_card_has_the_expected_properties() {
        let card = render(&entry(), Version::V3);
        assert!(card.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\n"), "{card}");
        assert!(card.contains("TEL;TYPE=WORK:+49301234556\r\n"), "{card}");
        assert!(
            card.contains("TEL;TYPE=CELL:ask reception\\, ext\\; 7\r\n"),
            "{card}"
        );
        assert!(
            card.contains("ORG:Contoso\\; Ltd;Sales\\, North\r\n"),
            "{card}"
        );
        assert!(card.contains("TITLE:Head of\\nSales\r\n"), "{card}");
        assert!(card.contains("REV:20261030T123456Z\r\n"), "{card}");
        assert!(card.ends_with("END:VCARD\r\n"));
    }

    #[test]
    fn v4_round_trips_through_the_parser() {
        let card = render(&entry(), Version::V4);
        assert!(card.contains("VERSION:4.0\r\n"));
        let Entry::VCard(parsed) = Parser::new(&card).entry() else {
            panic!("not a vCard: {card}");
        };
        let fn_ = parsed.property(&VCardProperty::Fn).unwrap();
        assert_eq!(fn_.values[0].as_text(), Some("Müller, Erika; \"Eri\""));
    }

    fn texts(card: &VCard, property: &VCardProperty) -> Vec<String> {
        card.properties(property)
            .flat_map(|p| {
                p.values
                    .iter()
                    .filter_map(|v| v.as_text().map(str::to_owned))
            })
            .collect()
    }

    /// Text with what vCard and XML make hard: separators, escapes, line breaks, quotes,
    /// non-ASCII (accents, CJK, emoji) and long runs that get folded mid-character.
    fn odd_text() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex("[a-zA-Z0-9 ,;:\\\"'<>&=\n\r\tÄöüßé中文😀+()-]{0,120}")
            .unwrap()
    }

    proptest::proptest! {
        #[test]
        fn rendered_cards_parse_back_to_the_same_names_and_numbers(
            display in odd_text(),
            first in odd_text(),
            last in odd_text(),
            company in odd_text(),
            title in odd_text(),
            raw in odd_text(),
            e164 in proptest::option::of("\\+[1-9][0-9]{4,14}"),
        ) {
            let mut e = entry();
            e.display_name = display;
            e.first_name = first;
            e.last_name = last;
            e.company = company;
            e.department = String::new();
            e.job_title = title;
            e.phones = vec![PhoneNumber { kind: PhoneKind::Home, raw, e164 }];
            for version in [Version::V3, Version::V4] {
                let card = render(&e, version);
                let Entry::VCard(parsed) = Parser::new(&card).entry() else {
                    panic!("not a vCard: {card}");
                };
                // What was written is the cleaned value; a value made only of whitespace may
                // come back trimmed by parsers, so compare trimmed.
                let expect = |value: &str| clean(value).trim().to_owned();
                let got = |property: VCardProperty| {
                    texts(&parsed, &property).join(";").trim().to_owned()
                };
                proptest::prop_assert_eq!(got(VCardProperty::Fn), expect(&display_name(&e)), "{}", card);
                if !e.job_title.is_empty() {
                    proptest::prop_assert_eq!(got(VCardProperty::Title), expect(&e.job_title), "{}", card);
                }
                let number = dial_string(&e.phones[0]).trim().to_owned();
                if !number.is_empty() {
                    proptest::prop_assert_eq!(got(VCardProperty::Tel), expect(&number), "{}", card);
                }
                let n: Vec<String> = parsed
                    .property(&VCardProperty::N)
                    .map(|p| p.values.iter().filter_map(|v| v.as_text().map(|t| t.trim().to_owned())).collect())
                    .unwrap_or_default();
                proptest::prop_assert_eq!(n.first().cloned().unwrap_or_default(), expect(&e.last_name), "{}", card);
                proptest::prop_assert_eq!(n.get(1).cloned().unwrap_or_default(), expect(&e.first_name), "{}", card);
                if !e.company.is_empty() {
                    let org = texts(&parsed, &VCardProperty::Org);
                    proptest::prop_assert_eq!(org.first().map(|o| o.trim().to_owned()).unwrap_or_default(), expect(&e.company), "{}", card);
                }
            }
        }
    }

    #[test]
    fn control_characters_are_dropped() {
        assert_eq!(clean("a\u{1}b\r\nc\rd\te"), "ab\nc\nd\te");
    }

    #[test]
    fn etags_follow_the_bytes() {
        assert_eq!(etag("x"), etag("x"));
        assert_ne!(etag("x"), etag("y"));
        assert!(etag("x").starts_with('"') && etag("x").ends_with('"'));
    }
}
