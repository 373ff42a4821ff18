//! `GET /phonebook/{extension}/yealink.xml`: the Yealink remote phonebook
//! (`remote_phonebook.data.X.url`), a `<YealinkIPPhoneDirectory>` that Fanvil phones read too.
//!
//! Order: the extension's personal phonebook, then the company phonebook, then the colleagues
//! (every other enabled extension, by name, dialled by extension number). One `<Telephone>` per
//! number, E.164 when known. Entries without any number are left out: a phone cannot dial them.
//! Yealink documents a 10 kB cap for XML browser objects; whether remote phonebooks share it is
//! not documented, so very large books may need to be split by the admin.

use super::{Caller, Colleague, Ctx, colleagues, conditional, load_books};
use crate::phonebooks::vcard::{dial_string, display_name};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use quick_xml::Writer;
use quick_xml::escape::partial_escape;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use switchboard_core::contacts::PhonebookEntry;

pub(crate) const CONTENT_TYPE: &str = "application/xml; charset=utf-8";

/// One `<DirectoryEntry>`: a name and the numbers to dial.
struct Row<'a> {
    name: String,
    numbers: Vec<&'a str>,
}

fn entry_row(entry: &PhonebookEntry) -> Row<'_> {
    Row {
        name: display_name(entry),
        numbers: entry
            .phones
            .iter()
            .map(dial_string)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect(),
    }
}

/// Drops what XML 1.0 cannot carry at all (control characters); line breaks become spaces.
/// Only `&`, `<` and `>` are escaped then: small XML parsers in phones may not know `&apos;`.
fn xml_safe(value: &str) -> String {
    value
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .filter(|c| {
            !((c.is_control() && *c != '\t' && (*c as u32) < 0x20)
                || *c == '\u{fffe}'
                || *c == '\u{ffff}')
        })
        .collect()
}

/// The directory document.
pub(crate) fn render(
    personal: &[PhonebookEntry],
    company: &[PhonebookEntry],
    colleagues: &[Colleague],
) -> String {
    let rows = personal
        .iter()
        .chain(company)
        .map(entry_row)
        .chain(colleagues.iter().map(|c| Row {
            name: c.name.clone(),
            numbers: vec![c.number.as_str()],
        }))
        .filter(|row| !row.numbers.is_empty());

    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec cannot fail; the results are ignored for that reason only.
    let _ = writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let _ = writer.write_event(Event::Start(BytesStart::new("YealinkIPPhoneDirectory")));
    for row in rows {
        let _ = writer.write_event(Event::Start(BytesStart::new("DirectoryEntry")));
        let name = xml_safe(&row.name);
        let _ = writer
            .create_element("Name")
            .write_text_content(BytesText::from_escaped(partial_escape(name.as_str())));
        for number in row.numbers {
            let number = xml_safe(number);
            let _ = writer
                .create_element("Telephone")
                .write_text_content(BytesText::from_escaped(partial_escape(number.as_str())));
        }
        let _ = writer.write_event(Event::End(BytesEnd::new("DirectoryEntry")));
    }
    let _ = writer.write_event(Event::End(BytesEnd::new("YealinkIPPhoneDirectory")));
    let mut out = String::from_utf8_lossy(&writer.into_inner()).into_owned();
    out.push('\n');
    out
}

pub(crate) async fn download(
    State(ctx): State<Ctx>,
    Caller(number): Caller,
    Path(extension): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = super::foreign_book(&number, &extension) {
        return denied;
    }
    let books = match load_books(&ctx.app, &number).await {
        Ok(books) => books,
        Err(e) => return super::unavailable(&e),
    };
    let colleagues = match colleagues(&ctx.app, &number).await {
        Ok(c) => c,
        Err(e) => return super::unavailable(&e),
    };
    let body = render(&books.personal, &books.company, &colleagues);
    conditional(&headers, body, CONTENT_TYPE)
}
