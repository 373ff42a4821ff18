//! An extension's phonebook in the console: its entries (search, paging, every number with its
//! type and E.164 form, unreadable numbers flagged) and the phonebook password that phones and
//! address-book apps sign in with.

use super::extensions::{path_segment, when};
use super::{ConsoleUser, Layout, csrf_denied, error_page, internal_error, render};
use crate::api::phonebook::{MAX_SEARCH_CHARS, check_search};
use crate::auth::hash_token;
use crate::auth::session::Session;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use switchboard_core::contacts::{Book, EntryOrigin, PhonebookEntry, PhonebookQuery};
use switchboard_core::users::ExtensionRecord;

/// Entries per page.
const PAGE_SIZE: u32 = 50;
/// Characters of a generated phonebook password.
const PASSWORD_LEN: usize = 24;
/// Lower-case letters and digits without the look-alikes (l, o, 0, 1): 32 symbols, so 24 of
/// them carry 120 bits, and the password can be typed on a phone's keypad if it must be.
const PASSWORD_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

#[derive(Debug)]
struct PhoneRow {
    /// `business`, `home`, `mobile`, `other`.
    kind: &'static str,
    raw: String,
    /// `None`: the number could not be read; it is kept as typed and flagged.
    e164: Option<String>,
}

#[derive(Debug)]
struct EntryRow {
    id: String,
    name: String,
    /// Company, job title and department, as far as known.
    work: String,
    emails: Vec<String>,
    phones: Vec<PhoneRow>,
    local: bool,
    updated_at: String,
}

impl From<PhonebookEntry> for EntryRow {
    fn from(e: PhonebookEntry) -> Self {
        let work = [
            e.company.as_str(),
            e.job_title.as_str(),
            e.department.as_str(),
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
        Self {
            id: e.contact_id,
            name: e.display_name,
            work,
            emails: e.emails,
            phones: e
                .phones
                .into_iter()
                .map(|p| PhoneRow {
                    kind: p.kind.as_str(),
                    raw: p.raw,
                    e164: p.e164,
                })
                .collect(),
            local: e.origin == EntryOrigin::Local,
            updated_at: when(e.updated_at),
        }
    }
}

/// Where phones and apps find the phonebook.
#[derive(Debug)]
struct AccessUrls {
    yealink: String,
    vcard: String,
    carddav: String,
}

#[derive(Template)]
#[template(path = "phonebook.html")]
struct PhonebookPage {
    layout: Layout,
    csrf_token: String,
    number: String,
    name: String,
    /// `/extensions/{number}`
    href: String,
    rows: Vec<EntryRow>,
    /// Entries in the whole book (not only those matching the search).
    total: u64,
    q: String,
    q_max: usize,
    search_error: Option<String>,
    /// 1-based position of the first row shown.
    first: u64,
    prev_href: Option<String>,
    next_href: Option<String>,
    /// Rows on this page with a number that could not be read.
    unreadable: usize,
    has_password: bool,
    /// The password just generated: shown this once, never stored in clear.
    new_password: Option<String>,
    urls: AccessUrls,
    /// `public_url` is not set: the URLs are built from the address this page was opened at.
    urls_guessed: bool,
    notice: Option<&'static str>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PhonebookParams {
    q: Option<String>,
    /// Text, not a number: a hand-edited `offset=abc` shows the first page instead of an error.
    offset: Option<String>,
    notice: Option<String>,
}

fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "revoked" => Some(
            "Phonebook password removed: phones and apps can no longer read this phonebook (a client that signed in during the last minute may keep access until that minute is over).",
        ),
        _ => None,
    }
}

fn page_href(href: &str, q: &str, offset: u64) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        query.append_pair("q", q);
    }
    if offset > 0 {
        query.append_pair("offset", &offset.to_string());
    }
    let query = query.finish();
    if query.is_empty() {
        format!("{href}/phonebook")
    } else {
        format!("{href}/phonebook?{query}")
    }
}

/// The origin phones should use: `public_url` when set, else the address the browser used.
fn origin(state: &AppState, headers: &HeaderMap) -> (String, bool) {
    if let Some(public) = &state.config().public_url {
        return (public.as_str().trim_end_matches('/').to_owned(), false);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        // A Host header is a host and an optional port; anything else is not put on the page.
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost");
    (format!("http://{host}"), true)
}

fn access_urls(origin: &str, number: &str) -> AccessUrls {
    let n = path_segment(number);
    AccessUrls {
        yealink: format!("{origin}/phonebook/{n}/yealink.xml"),
        vcard: format!("{origin}/phonebook/{n}.vcf"),
        carddav: format!("{origin}/carddav/"),
    }
}

fn no_such_extension(number: &str) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "No such extension",
        &format!(
            "There is no extension {}. The Extensions page lists them all.",
            number.chars().take(40).collect::<String>()
        ),
    )
}

fn display_name(e: &ExtensionRecord) -> String {
    let f = &e.fields;
    if f.display_name.is_empty() {
        format!("{} {}", f.first_name, f.last_name)
            .trim()
            .to_owned()
    } else {
        f.display_name.clone()
    }
}

struct Shown<'a> {
    params: PhonebookParams,
    new_password: Option<String>,
    headers: &'a HeaderMap,
}

async fn show(state: &AppState, session: &Session, number: &str, shown: Shown<'_>) -> Response {
    let ext = match state.extensions().get_extension(number).await {
        Ok(Some(e)) => e,
        Ok(None) => return no_such_extension(number),
        Err(e) => return internal_error(&e),
    };
    let raw_q = shown.params.q.unwrap_or_default();
    let (search, search_error) = match check_search(Some(&raw_q)) {
        Ok(s) => (s, None),
        Err(message) => (None, Some(message)),
    };
    let offset: u32 = shown
        .params
        .offset
        .as_deref()
        .and_then(|o| o.trim().parse().ok())
        .unwrap_or(0);
    let book = Book::Extension(ext.number.clone());
    let phonebooks = state.phonebooks();
    let query = PhonebookQuery {
        search: search.clone(),
        // One more than shown, to know whether there is a next page.
        limit: PAGE_SIZE + 1,
        offset,
    };
    let (entries, total, secret) = match (
        phonebooks.phonebook(&book, &query).await,
        phonebooks.count_phonebook(&book).await,
        phonebooks.phonebook_secret(&ext.number).await,
    ) {
        (Ok(e), Ok(t), Ok(s)) => (e, t, s),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return internal_error(&e),
    };
    let more = entries.len() > PAGE_SIZE as usize;
    let rows: Vec<EntryRow> = entries
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(EntryRow::from)
        .collect();
    let href = format!("/extensions/{}", path_segment(&ext.number));
    let q = search.unwrap_or_default();
    let offset = u64::from(offset);
    let page = u64::from(PAGE_SIZE);
    let (origin, urls_guessed) = origin(state, shown.headers);
    let page = PhonebookPage {
        layout: Layout::signed_in(session, "extensions"),
        csrf_token: session.csrf_token.clone(),
        name: display_name(&ext),
        first: offset + 1,
        prev_href: (offset > 0).then(|| page_href(&href, &q, offset.saturating_sub(page))),
        next_href: more.then(|| page_href(&href, &q, offset + page)),
        unreadable: rows
            .iter()
            .filter(|r| r.phones.iter().any(|p| p.e164.is_none()))
            .count(),
        rows,
        total,
        q_max: MAX_SEARCH_CHARS,
        q: if search_error.is_some() { raw_q } else { q },
        search_error,
        has_password: secret.is_some(),
        new_password: shown.new_password,
        urls: access_urls(&origin, &ext.number),
        urls_guessed,
        notice: notice_text(shown.params.notice.as_deref()),
        number: ext.number,
        href,
    };
    let status = if page.search_error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(status, &page)
}

/// `GET /extensions/{number}/phonebook`
pub(crate) async fn page(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Path(number): Path<String>,
    headers: HeaderMap,
    Query(params): Query<PhonebookParams>,
) -> Response {
    let shown = Shown {
        params,
        new_password: None,
        headers: &headers,
    };
    show(&state, &session, &number, shown).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct PasswordForm {
    csrf_token: Option<String>,
    /// `generate` (also to replace the current one) or `revoke`.
    #[serde(default)]
    action: String,
}

/// A new phonebook password from the system's random generator.
fn new_password() -> String {
    let mut bytes = [0u8; PASSWORD_LEN];
    // As for session ids: without a working generator no secret can be made safely.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random number generator failed");
    bytes
        .iter()
        .map(|b| char::from(PASSWORD_ALPHABET[usize::from(b & 31)]))
        .collect()
}

/// `POST /extensions/{number}/phonebook/password`: generate (or replace) the phonebook password
/// and show it once, or remove it. Only its SHA-256 is stored.
pub(crate) async fn password(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Path(number): Path<String>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    if let Some(denied) = csrf_denied(&session, form.csrf_token.as_deref()) {
        return denied;
    }
    // Checked here too: a secret must never be kept for a number that is no extension.
    match state.extensions().get_extension(&number).await {
        Ok(Some(_)) => {}
        Ok(None) => return no_such_extension(&number),
        Err(e) => return internal_error(&e),
    }
    let phonebooks = state.phonebooks();
    match form.action.as_str() {
        "generate" => {
            let password = new_password();
            match phonebooks
                .set_phonebook_secret(&number, Some(&hash_token(&password)))
                .await
            {
                Ok(true) => {
                    tracing::info!(user = %session.username, %number, "phonebook password set");
                    let shown = Shown {
                        params: PhonebookParams::default(),
                        new_password: Some(password),
                        headers: &headers,
                    };
                    // Answered here rather than redirected: the password exists only in this
                    // response (which is `no-store`, like every console page).
                    show(&state, &session, &number, shown).await
                }
                Ok(false) => no_such_extension(&number),
                Err(e) => internal_error(&e),
            }
        }
        "revoke" => match phonebooks.set_phonebook_secret(&number, None).await {
            Ok(true) => {
                tracing::info!(user = %session.username, %number, "phonebook password removed");
                Redirect::to(&format!(
                    "/extensions/{}/phonebook?notice=revoked#phonebook-access",
                    path_segment(&number)
                ))
                .into_response()
            }
            Ok(false) => no_such_extension(&number),
            Err(e) => internal_error(&e),
        },
        _ => error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not understood",
            "The form must say action=generate or action=revoke. Reload the page and try again.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_and_from_the_alphabet() {
        let a = new_password();
        let b = new_password();
        assert_ne!(a, b);
        assert_eq!(a.len(), PASSWORD_LEN);
        assert!(a.bytes().all(|c| PASSWORD_ALPHABET.contains(&c)));
    }

    #[test]
    fn paging_links_keep_the_search() {
        assert_eq!(
            page_href("/extensions/101", "ada l", 50),
            "/extensions/101/phonebook?q=ada+l&offset=50"
        );
        assert_eq!(
            page_href("/extensions/101", "", 0),
            "/extensions/101/phonebook"
        );
    }
}
