//! Phone numbers: E.164 normalisation (Google's libphonenumber rules, via `rlibphonenumber`) and
//! the phonebook entry a contact becomes.

use super::{Book, EntryOrigin, MailboxContact, PhoneKind, PhoneNumber, PhonebookEntry};
use jiff::Timestamp;
use rlibphonenumber::enums::Region;
use rlibphonenumber::{NumberLengthType, PHONE_NUMBER_UTIL, PhoneNumberFormat};

/// Longer text is not a phone number; libphonenumber refuses it too, this just skips the work.
const MAX_INPUT: usize = 250;
/// `+` and at most 15 digits.
pub const MAX_E164_LEN: usize = 16;

/// The region a two-letter code names, when phone metadata exists for it (`gb` and ` GB ` work).
fn region(code: &str) -> Option<Region> {
    let code = code.trim();
    // "001" (non-geographic) parses as a region too, but it is no country.
    if code.len() != 2 {
        return None;
    }
    let region = Region::from_code(code).ok()?;
    PHONE_NUMBER_UTIL
        .get_country_code_for_region(region)
        .is_some()
        .then_some(region)
}

/// Whether `code` is an ISO 3166 two-letter region numbers can be read in (case-insensitive).
pub fn is_region(code: &str) -> bool {
    region(code).is_some()
}

/// `raw` in E.164 (`+4930123456`), read with `region` as the default region for numbers written
/// without a country code (an empty or unknown region reads only international numbers).
///
/// Spaces, dashes, dots, parentheses, `+`, the region's international prefix (`00`, `011`…),
/// national trunk prefixes (`0…`, `8…`, `(0)` after a country code) and extensions (`x123`,
/// `ext. 5`: the main number is returned) are handled. A number is accepted when it is valid or
/// at least has a possible length for its country; anything else gives `None`, never a guess.
pub fn normalise(raw: &str, region_code: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX_INPUT {
        return None;
    }
    let default = region(region_code);
    if let Some(e164) = parse(raw, default) {
        return Some(e164);
    }
    // `00` is the international prefix of most of the world: a US user's contact written as
    // `0049 30 …`, or any such number without a known region, still means +49.
    let rest = raw.strip_prefix("00")?;
    if rest.starts_with('0') {
        return None;
    }
    parse(&format!("+{rest}"), None)
}

fn parse(raw: &str, region: Option<Region>) -> Option<String> {
    let number = PHONE_NUMBER_UTIL.parse(raw, region).ok()?;
    let acceptable = number.is_valid()
        || matches!(
            number.is_possible_with_reason(),
            Ok(NumberLengthType::IsPossible)
        );
    if !acceptable {
        return None;
    }
    let e164 = number.format_as(PhoneNumberFormat::E164).into_owned();
    // E.164 allows 15 digits; libphonenumber's length rules let a few longer ones through.
    if e164.len() > MAX_E164_LEN {
        return None;
    }
    // Some merely possible numbers shrink when read again (a trunk prefix taken off twice, as
    // in `0000000` read in DE): such text is no number, and a lookup could never match it.
    if region.is_some() || raw != e164 {
        let again = PHONE_NUMBER_UTIL.parse(&e164, None).ok()?;
        if again.format_as(PhoneNumberFormat::E164) != e164 {
            return None;
        }
    }
    Some(e164)
}

fn trimmed(s: Option<&str>) -> String {
    s.map(str::trim).unwrap_or_default().to_owned()
}

/// The phonebook entry a contact becomes. Every phone field is kept with its kind and its text
/// (trimmed); its E.164 form is `None` when it cannot be read. Empty fields are skipped.
pub fn entry_from_contact(
    contact: &MailboxContact,
    book: Book,
    mailbox_id: &str,
    folder_id: &str,
    region: &str,
    now: Timestamp,
) -> PhonebookEntry {
    let fields = contact
        .business_phones
        .iter()
        .map(|p| (PhoneKind::Business, p.as_str()))
        .chain(
            contact
                .mobile_phone
                .as_deref()
                .map(|p| (PhoneKind::Mobile, p)),
        )
        .chain(
            contact
                .home_phones
                .iter()
                .map(|p| (PhoneKind::Home, p.as_str())),
        );
    let phones: Vec<PhoneNumber> = fields
        .filter_map(|(kind, raw)| {
            let raw = raw.trim();
            (!raw.is_empty()).then(|| PhoneNumber {
                kind,
                raw: raw.to_owned(),
                e164: normalise(raw, region),
            })
        })
        .collect();
    let emails: Vec<String> = contact
        .email_addresses
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    let first_name = trimmed(contact.given_name.as_deref());
    let last_name = trimmed(contact.surname.as_deref());
    let company = trimmed(contact.company_name.as_deref());
    let full_name = [first_name.as_str(), last_name.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    // A phone shows some name for every entry: the contact's, else whatever identifies it.
    let display_name = [
        trimmed(contact.display_name.as_deref()),
        full_name,
        company.clone(),
        emails.first().cloned().unwrap_or_default(),
        phones.first().map(|p| p.raw.clone()).unwrap_or_default(),
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or_default();
    PhonebookEntry {
        book,
        mailbox_id: mailbox_id.to_owned(),
        contact_id: contact.id.clone(),
        folder_id: folder_id.to_owned(),
        display_name,
        first_name,
        last_name,
        company,
        department: trimmed(contact.department.as_deref()),
        job_title: trimmed(contact.job_title.as_deref()),
        emails,
        phones,
        origin: EntryOrigin::Outlook,
        updated_at: now,
    }
}
