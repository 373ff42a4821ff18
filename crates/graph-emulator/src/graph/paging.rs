//! Opaque state tokens (`$skiptoken`, `$deltatoken`) and the absolute links that carry them
//! (§2.1 paging, §2.3 delta, §7: nextLink/deltaLink are absolute URLs on the emulator host).
//!
//! A token is base64url (no padding) of `"SB" kind varint* fnv32`: everything the next
//! request needs is inside, so the server keeps no state per token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Token kinds.
pub mod kind {
    /// `/users`, `/groups` and member paging.
    pub const PAGE: u8 = b'P';
    /// Users delta, inside a round.
    pub const DELTA_SKIP: u8 = b'S';
    /// Users delta, between rounds.
    pub const DELTA: u8 = b'D';
    /// Contacts delta of one folder, inside a round / between rounds.
    pub const CONTACTS_SKIP: u8 = b'C';
    pub const CONTACTS_DELTA: u8 = b'K';
    /// Contact-folder delta of one mailbox, inside a round / between rounds.
    pub const FOLDERS_SKIP: u8 = b'F';
    pub const FOLDERS_DELTA: u8 = b'G';
}

fn fnv32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

pub fn encode(kind: u8, fields: &[u64]) -> String {
    let mut bytes = vec![b'S', b'B', kind];
    for f in fields {
        let mut v = *f;
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                bytes.push(b);
                break;
            }
            bytes.push(b | 0x80);
        }
    }
    let sum = fnv32(&bytes);
    bytes.extend_from_slice(&sum.to_le_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The fields of a token of `kind`, or `None` when it is not one of ours.
pub fn decode(token: &str, kind: u8) -> Option<Vec<u64>> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
    if bytes.len() < 7 || bytes[..3] != [b'S', b'B', kind] {
        return None;
    }
    let (body, sum) = bytes.split_at(bytes.len() - 4);
    if fnv32(body).to_le_bytes() != sum {
        return None;
    }
    let mut fields = Vec::new();
    let mut v: u64 = 0;
    let mut shift = 0u32;
    for b in &body[3..] {
        if shift > 63 {
            return None;
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            fields.push(v);
            v = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    (shift == 0).then_some(fields)
}

/// Percent-encodes a query value (tokens are URL-safe already; `$select` lists keep commas).
fn encode_value(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes())
        .collect::<String>()
        .replace("%2C", ",")
        .replace('+', "%20")
}

/// `{base}{path}?{the request's other options}&$skiptoken={token}`: the request's query with
/// any earlier `$skiptoken` replaced, options kept as the client spelled them.
pub fn next_link(base: &str, path: &str, raw_query: Option<&str>, token: &str) -> String {
    link_replacing(base, path, raw_query, "skiptoken", token)
}

/// The request's URL with query option `$name` set to `value` (an earlier one replaced, the
/// other options kept as the client spelled them).
pub fn link_replacing(
    base: &str,
    path: &str,
    raw_query: Option<&str>,
    name: &str,
    value: &str,
) -> String {
    let mut parts: Vec<&str> = raw_query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let key = p.split('=').next().unwrap_or("");
            let key = key
                .strip_prefix('$')
                .or_else(|| key.strip_prefix("%24"))
                .unwrap_or(key);
            !key.eq_ignore_ascii_case(name)
        })
        .collect();
    let tail = format!("${name}={value}");
    parts.push(&tail);
    format!("{base}{path}?{}", parts.join("&"))
}

/// `{base}{path}?{name}={value}` plus extra options (already encoded pairs).
pub fn link_with(base: &str, path: &str, pairs: &[(&str, &str)]) -> String {
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_value(v)))
        .collect();
    format!("{base}{path}?{}", query.join("&"))
}

/// One page picked from a stable sequence of positions `0..len`.
#[derive(Debug, Default)]
pub struct Page {
    pub items: Vec<u32>,
    /// Position of the first match after this page, when there is one.
    pub next: Option<usize>,
}

/// Walks positions `start..len`; `item_at` gives the object at a position when it matches.
/// Stops after `top` matches, then looks ahead for one more so the last page carries no
/// nextLink (a walk of 2,500 users at `$top=999` is exactly three pages).
pub fn take_page(
    len: usize,
    start: usize,
    top: usize,
    mut item_at: impl FnMut(usize) -> Option<u32>,
) -> Page {
    let mut page = Page::default();
    for pos in start..len {
        if let Some(item) = item_at(pos) {
            if page.items.len() == top {
                page.next = Some(pos);
                break;
            }
            page.items.push(item);
        }
    }
    page
}

/// `$skiptoken` of `/users`, `/groups` and member lists: where the next page starts, and
/// whether the (opt-in) empty first page was already served.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageToken {
    pub position: usize,
    pub empty_served: bool,
}

impl PageToken {
    pub fn encode(&self) -> String {
        encode(
            kind::PAGE,
            &[self.position as u64, u64::from(self.empty_served)],
        )
    }

    pub fn decode(token: &str) -> Option<PageToken> {
        match decode(token, kind::PAGE)?.as_slice() {
            [position, flags] => Some(PageToken {
                position: usize::try_from(*position).ok()?,
                empty_served: *flags & 1 == 1,
            }),
            _ => None,
        }
    }
}

/// The nextLink of a `/users`, `/groups` or member-list page that stops before `next`; by
/// then any empty first page has been served.
pub(crate) fn page_next_link(
    base: &str,
    path: &str,
    raw_query: Option<&str>,
    next: Option<usize>,
) -> Option<String> {
    next.map(|position| {
        let token = PageToken {
            position,
            empty_served: true,
        };
        next_link(base, path, raw_query, &token.encode())
    })
}

/// `{"@odata.context":…,"@odata.count"?,"@odata.nextLink"?|"@odata.deltaLink"?,"value":[…]}`;
/// `value` is the already-serialised items, comma-separated.
pub fn collection_body(
    context: &str,
    count: Option<usize>,
    next_link: Option<&str>,
    delta_link: Option<&str>,
    value: &str,
) -> String {
    use crate::directory::json::{push_key, push_str};
    let mut out = String::with_capacity(value.len() + 512);
    out.push('{');
    push_key(&mut out, "@odata.context");
    push_str(&mut out, context);
    if let Some(n) = count {
        out.push(',');
        push_key(&mut out, "@odata.count");
        out.push_str(&n.to_string());
    }
    if let Some(link) = next_link {
        out.push(',');
        push_key(&mut out, "@odata.nextLink");
        push_str(&mut out, link);
    }
    if let Some(link) = delta_link {
        out.push(',');
        push_key(&mut out, "@odata.deltaLink");
        push_str(&mut out, link);
    }
    out.push_str(",\"value\":[");
    out.push_str(value);
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        let fields = [0, 1, 127, 128, u64::from(u32::MAX), u64::MAX];
        let t = encode(kind::DELTA, &fields);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(decode(&t, kind::DELTA), Some(fields.to_vec()));
        assert_eq!(decode(&t, kind::PAGE), None);
        assert_eq!(decode("garbage", kind::DELTA), None);
        let mut tampered = t.into_bytes();
        tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            decode(
                &String::from_utf8(tampered).unwrap_or_default(),
                kind::DELTA
            ),
            None
        );
    }

    #[test]
    fn next_link_replaces_the_skiptoken() {
        let link = next_link(
            "http://h",
            "/v1.0/users",
            Some("$select=id,displayName&%24skiptoken=old&$top=5"),
            "NEW",
        );
        assert_eq!(
            link,
            "http://h/v1.0/users?$select=id,displayName&$top=5&$skiptoken=NEW"
        );
        assert_eq!(
            link_with(
                "http://h",
                "/v1.0/users/delta",
                &[("$select", "id,displayName"), ("$deltatoken", "")]
            ),
            "http://h/v1.0/users/delta?$select=id,displayName&$deltatoken="
        );
    }
}
