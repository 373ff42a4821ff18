//! `GET /api/v1/lookup?number=…[&extension=…]`: caller ID. Asked by the PBX on every incoming
//! call, so it answers from the in-memory [`PhonebookIndex`](switchboard_core::contacts::PhonebookIndex)
//! (never the database), reads its query string without copying it, and logs nothing per call.

use super::openapi::schema;
use crate::error::ErrorBody;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Longest `number` or `extension` accepted (after decoding). Phone numbers with spaces and an
/// extension suffix stay well below it.
const MAX_PARAM: usize = 64;

/// What the numbers may look like, for the 400 answers.
const FORMATS: &str = "Send the caller's number in any common format: international (+44 20 7946 0000 or 0044 20 7946 0000), national (020 7946 0000, read in the callee's region or the default region of Contact Sync), with or without spaces, dashes, dots and parentheses, or an internal extension number. Encode a leading + as %2B or leave it as it is.";

/// The error body of the lookup: a stable code for scripts, and the message in words.
#[derive(Debug, Serialize)]
pub(crate) struct LookupError {
    /// `missing_number`, `invalid_number` or `not_found`.
    error: &'static str,
    message: String,
    /// The number as the index read it (with `not_found`).
    #[serde(skip_serializing_if = "Option::is_none")]
    e164: Option<String>,
}

fn failure(
    status: StatusCode,
    error: &'static str,
    message: String,
    e164: Option<String>,
) -> Response {
    (
        status,
        Json(LookupError {
            error,
            message,
            e164,
        }),
    )
        .into_response()
}

/// Why a query value was refused.
#[derive(Debug, PartialEq, Eq)]
enum Unreadable {
    TooLong,
    NotUtf8,
}

/// Decodes one query value into `buf`, without allocating: `%XX` escapes, and `+` as a space
/// as forms send it, except a leading `+`: that is the international prefix, which PBX scripts
/// often send unescaped (`number=+442079460000`), unless a `0` or another `+` follows. A `%`
/// without two hex digits stays as it is.
fn decode<'b>(raw: &str, buf: &'b mut [u8; MAX_PARAM]) -> Result<&'b str, Unreadable> {
    let bytes = raw.as_bytes();
    let mut len = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = match bytes[i] {
            // No country code starts with 0, so `+0…` is a form-encoded leading space.
            b'+' if i == 0 && !matches!(bytes.get(1), Some(b'0' | b'+')) => b'+',
            b'+' => b' ',
            b'%' => match (
                bytes.get(i + 1).and_then(|&h| hex(h)),
                bytes.get(i + 2).and_then(|&l| hex(l)),
            ) {
                (Some(h), Some(l)) => {
                    i += 2;
                    (h << 4) | l
                }
                _ => b'%',
            },
            other => other,
        };
        *buf.get_mut(len).ok_or(Unreadable::TooLong)? = b;
        len += 1;
        i += 1;
    }
    std::str::from_utf8(buf.get(..len).unwrap_or_default()).map_err(|_| Unreadable::NotUtf8)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The raw (still encoded) values of `number` and `extension`; the first of each counts.
fn params(query: &str) -> (Option<&str>, Option<&str>) {
    let (mut number, mut extension) = (None, None);
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "number" if number.is_none() => number = Some(value),
            "extension" if extension.is_none() => extension = Some(value),
            _ => {}
        }
    }
    (number, extension)
}

fn unreadable(what: &str, why: &Unreadable) -> Response {
    let problem = match why {
        Unreadable::TooLong => format!("{what} is longer than {MAX_PARAM} characters"),
        Unreadable::NotUtf8 => format!("{what} is not valid UTF-8 text"),
    };
    failure(
        StatusCode::BAD_REQUEST,
        "invalid_number",
        format!("{problem}. {FORMATS}"),
        None,
    )
}

/// Who is calling: the name for a caller's number, as the called extension should see it. The
/// callee's own phonebook (its Outlook contacts) answers first when `extension` is given, then
/// the extensions' own numbers (mobile, business phone), then the company phonebook. Answered
/// from memory; the index follows every sync.
#[utoipa::path(
    get,
    path = "/api/v1/lookup",
    tag = "phonebook",
    params(
        ("number" = String, Query, description = "The caller's number in any format: +44 20 7946 0000, 0044 20 7946 0000, 020 7946 0000 (national, read in the callee's or the default region), (020) 7946-0000, or an extension number"),
        ("extension" = Option<String>, Query, description = "The called extension: its phonebook answers first, and its region reads national numbers"),
    ),
    responses(
        (status = 200, description = "The caller", body = schema::LookupHit),
        (status = 400, description = "`number` is missing or cannot be read as a phone number (`error`: `missing_number` or `invalid_number`)", body = schema::LookupError),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No name is known for the number (`error`: `not_found`, with the number in E.164)", body = schema::LookupError),
    )
)]
pub(crate) async fn lookup(State(state): State<AppState>, uri: Uri) -> Response {
    let (number, extension) = params(uri.query().unwrap_or_default());
    let mut number_buf = [0u8; MAX_PARAM];
    let number = match number.map(|n| decode(n, &mut number_buf)) {
        Some(Ok(n)) if !n.trim().is_empty() => n.trim(),
        Some(Err(why)) => return unreadable("number", &why),
        _ => {
            return failure(
                StatusCode::BAD_REQUEST,
                "missing_number",
                format!(
                    "The query parameter number is missing or empty: GET /api/v1/lookup?number=…[&extension=…]. {FORMATS}"
                ),
                None,
            );
        }
    };
    let mut extension_buf = [0u8; MAX_PARAM];
    let callee = match extension.map(|e| decode(e, &mut extension_buf)) {
        Some(Ok(e)) => Some(e.trim()).filter(|e| !e.is_empty()),
        Some(Err(why)) => return unreadable("extension", &why),
        None => None,
    };
    let index = state.phonebook_index();
    if let Some(hit) = index.lookup(number, callee) {
        return Json(hit).into_response();
    }
    // Only a miss pays for telling an unknown number from an unreadable one.
    match index.normalise_for(number, callee) {
        Some(e164) => {
            let message = match callee {
                Some(c) => format!(
                    "No name is known for {e164}: it is not in the phonebook of extension {c}, not an extension's number and not in the company phonebook."
                ),
                None => format!(
                    "No name is known for {e164}: it is not an extension's number and not in the company phonebook (pass extension=… to search the callee's phonebook too)."
                ),
            };
            failure(StatusCode::NOT_FOUND, "not_found", message, Some(e164))
        }
        None => failure(
            StatusCode::BAD_REQUEST,
            "invalid_number",
            format!(
                "\"{}\" cannot be read as a phone number. {FORMATS}",
                number.chars().take(MAX_PARAM).collect::<String>()
            ),
            None,
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn dec(raw: &str) -> Result<String, Unreadable> {
        let mut buf = [0u8; MAX_PARAM];
        decode(raw, &mut buf).map(str::to_owned)
    }

    #[test]
    fn a_leading_plus_is_the_international_prefix() {
        assert_eq!(dec("+442079460000").unwrap(), "+442079460000");
        assert_eq!(dec("%2B44+20+7946+0000").unwrap(), "+44 20 7946 0000");
        assert_eq!(dec("+44+20+7946+0000").unwrap(), "+44 20 7946 0000");
        assert_eq!(dec("(020)%207946-0000").unwrap(), "(020) 7946-0000");
        assert_eq!(dec("+02079460000+").unwrap(), " 02079460000 ");
        assert_eq!(dec("100%").unwrap(), "100%");
        assert_eq!(dec("%zz").unwrap(), "%zz");
        assert_eq!(dec(&"1".repeat(65)), Err(Unreadable::TooLong));
        assert_eq!(dec("%ff%fe"), Err(Unreadable::NotUtf8));
        assert_eq!(dec("").unwrap(), "");
    }

    #[test]
    fn the_first_of_each_parameter_counts() {
        assert_eq!(
            params("extension=101&number=%2B44&number=1&x=y"),
            (Some("%2B44"), Some("101"))
        );
        assert_eq!(params(""), (None, None));
        assert_eq!(params("number"), (Some(""), None));
    }
}
