//! Read-only CardDAV (RFC 6352) for softphones and desktop/mobile address books.
//!
//! | path | resource |
//! |---|---|
//! | `/carddav/` | entry point: `current-user-principal` of the signed-in extension |
//! | `/carddav/{number}/` | its principal and address-book home (one URL for both) |
//! | `/carddav/{number}/contacts/` | the address book: personal phonebook + company phonebook |
//! | `/carddav/{number}/contacts/{uid}.vcf` | one contact, vCard 3.0 |
//!
//! Methods: OPTIONS (no sign-in), GET/HEAD, PROPFIND (depth 0 and 1; `infinity` is served as 1),
//! REPORT `addressbook-multiget`, `addressbook-query` (prop-filters with text-match on FN, N,
//! EMAIL, TEL, ORG, TITLE, UID; param-filters are ignored) and `sync-collection` (RFC 6578).
//! Writes are refused with `403`: the contacts come from Outlook.
//!
//! Versions: a card's ETag is a hash of its vCard, so it changes exactly when the card does. The
//! book's `getctag` and `sync-token` are built from the two books' `book_version`s. No change
//! history is kept, so a sync-collection with an older token is answered `403
//! DAV:valid-sync-token`, which makes clients start over with a full sync (RFC 6578 §3.2).

use super::access::text;
use super::davxml::{
    self, CALSERVER, CARDDAV, DAV, Element, Multistatus, Name, element, error_body, href,
};
use super::vcard::{self, CONTENT_TYPE as VCARD_TYPE, Version};
use super::{Ctx, client_key, conditional, foreign_book, load_books, unavailable};
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use switchboard_core::contacts::{Book, PhonebookEntry};
use switchboard_core::ports::StoreError;

/// Largest request body: a multiget lists one href (~70 bytes) per contact.
const BODY_LIMIT: usize = 4 * 1024 * 1024;
const ALLOW: &str = "OPTIONS, GET, HEAD, PROPFIND, REPORT";
const DAV_HEADER: &str = "1, 3, addressbook";
const MULTISTATUS_TYPE: &str = "application/xml; charset=utf-8";
const SYNC_TOKEN_PREFIX: &str = "urn:x-switchboard:phonebook-sync:";
const BOOK_SEGMENT: &str = "contacts";

/// `/.well-known/carddav` (RFC 6764): to the entry point, whatever the method.
pub(crate) async fn well_known() -> Response {
    (
        StatusCode::MOVED_PERMANENTLY,
        [(header::LOCATION, "/carddav/")],
    )
        .into_response()
}

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Root,
    Principal(String),
    Book(String),
    Card(String, String),
}

impl Target {
    fn parse(path: &str) -> Option<Self> {
        let rest = path.strip_prefix("/carddav")?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        Some(match segments.as_slice() {
            [] => Target::Root,
            [n] => Target::Principal((*n).to_owned()),
            [n, BOOK_SEGMENT] => Target::Book((*n).to_owned()),
            [n, BOOK_SEGMENT, file] => {
                Target::Card((*n).to_owned(), file.strip_suffix(".vcf")?.to_owned())
            }
            _ => return None,
        })
    }

    fn owner(&self) -> Option<&str> {
        match self {
            Target::Root => None,
            Target::Principal(n) | Target::Book(n) | Target::Card(n, _) => Some(n),
        }
    }
}

fn principal_path(number: &str) -> String {
    format!("/carddav/{number}/")
}
fn book_path(number: &str) -> String {
    format!("/carddav/{number}/{BOOK_SEGMENT}/")
}
fn card_path(number: &str, uid: &str) -> String {
    format!("/carddav/{number}/{BOOK_SEGMENT}/{uid}.vcf")
}

/// Every CardDAV request.
pub(crate) async fn handle(State(ctx): State<Ctx>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    if method == Method::OPTIONS {
        return options();
    }
    let number = match ctx
        .access
        .authenticate(&ctx.app, &parts.headers, client_key(&parts))
        .await
    {
        Ok(number) => number,
        Err(denied) => return denied.into_response(),
    };
    let Some(target) = Target::parse(parts.uri.path()) else {
        return text(
            StatusCode::NOT_FOUND,
            &format!(
                "No such CardDAV resource. The address book is {}.",
                book_path(&number)
            ),
        );
    };
    if let Some(denied) = target
        .owner()
        .and_then(|owner| foreign_book(&number, owner))
    {
        return denied;
    }
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(body) => body,
        Err(_) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request body is too large (4 MiB at most).",
            );
        }
    };
    let dav = Dav {
        ctx: &ctx,
        number: &number,
    };
    let result = match method.as_str() {
        "GET" | "HEAD" => dav.get(&target, &parts.headers).await,
        "PROPFIND" => dav.propfind(&target, &parts.headers, &body).await,
        "REPORT" => dav.report(&target, &body).await,
        "PUT" | "DELETE" | "MKCOL" | "PROPPATCH" | "MOVE" | "COPY" | "LOCK" | "UNLOCK" | "POST"
        | "PATCH" | "ACL" | "MKCALENDAR" | "BIND" | "UNBIND" | "REBIND" => Ok(read_only()),
        _ => {
            let mut response = text(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("{method} is not supported here; this CardDAV server allows {ALLOW}."),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
            Ok(response)
        }
    };
    result.unwrap_or_else(|e| match e {
        DavError::Store(e) => unavailable(&e),
        DavError::BadRequest(message) => text(StatusCode::BAD_REQUEST, &message),
    })
}

fn options() -> Response {
    (
        StatusCode::OK,
        [
            (header::ALLOW, ALLOW),
            (header::HeaderName::from_static("dav"), DAV_HEADER),
        ],
    )
        .into_response()
}

fn read_only() -> Response {
    text(
        StatusCode::FORBIDDEN,
        "This address book is read-only: its contacts come from Microsoft 365 (Outlook). Change them in Outlook; the phonebook follows at the next contact sync.",
    )
}

#[derive(Debug)]
enum DavError {
    Store(StoreError),
    BadRequest(String),
}

impl From<StoreError> for DavError {
    fn from(e: StoreError) -> Self {
        DavError::Store(e)
    }
}

impl From<davxml::XmlError> for DavError {
    fn from(e: davxml::XmlError) -> Self {
        DavError::BadRequest(format!("Bad XML request body: {e}."))
    }
}

/// The versions of the two books an extension reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Versions {
    personal: i64,
    company: i64,
}

impl Versions {
    fn ctag(self) -> String {
        format!("{}-{}", self.personal, self.company)
    }
    fn sync_token(self) -> String {
        format!("{SYNC_TOKEN_PREFIX}{}", self.ctag())
    }
}

/// One contact as served: its vCard 3.0 and that vCard's ETag.
#[derive(Debug)]
struct Card {
    uid: String,
    body: String,
    etag: String,
    entry: PhonebookEntry,
}

impl Card {
    fn new(entry: PhonebookEntry) -> Self {
        let body = vcard::render(&entry, Version::V3);
        Self {
            uid: vcard::uid(&entry),
            etag: vcard::etag(&body),
            body,
            entry,
        }
    }
}

/// A resource whose properties are asked for.
#[derive(Debug, Clone, Copy)]
enum Resource<'a> {
    Root,
    Principal,
    Book(Versions),
    Card(&'a Card),
}

/// Which properties a request wants.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PropRequest {
    All,
    Names,
    Props(Vec<Name>),
}

impl PropRequest {
    /// From the `prop` / `allprop` / `propname` child of `parent` (allprop when none).
    fn of(parent: &Element) -> Self {
        if let Some(prop) = parent.child(DAV, "prop") {
            PropRequest::Props(prop.children.iter().map(|c| c.name.clone()).collect())
        } else if parent.child(DAV, "propname").is_some() {
            PropRequest::Names
        } else {
            PropRequest::All
        }
    }
}

struct Dav<'a> {
    ctx: &'a Ctx,
    number: &'a str,
}

impl Dav<'_> {
    async fn versions(&self) -> Result<Versions, StoreError> {
        let store = self.ctx.app.phonebooks();
        Ok(Versions {
            personal: store
                .book_version(&Book::Extension(self.number.to_owned()))
                .await?,
            company: store.book_version(&Book::Company).await?,
        })
    }

    async fn cards(&self) -> Result<Vec<Card>, StoreError> {
        let books = load_books(&self.ctx.app, self.number).await?;
        Ok(books
            .personal
            .into_iter()
            .chain(books.company)
            .map(Card::new)
            .collect())
    }

    async fn get(&self, target: &Target, headers: &HeaderMap) -> Result<Response, DavError> {
        match target {
            Target::Card(_, uid) => {
                let cards = self.cards().await?;
                Ok(match cards.into_iter().find(|c| &c.uid == uid) {
                    Some(card) => conditional(headers, card.body, VCARD_TYPE),
                    None => not_found(self.number),
                })
            }
            Target::Book(_) => {
                let body: String = self.cards().await?.into_iter().map(|c| c.body).collect();
                Ok(conditional(headers, body, VCARD_TYPE))
            }
            Target::Root | Target::Principal(_) => Ok(text(
                StatusCode::OK,
                &format!(
                    "Switchboard CardDAV server. Add this server's /carddav/ address to your contacts app; the address book of extension {} is {}.",
                    self.number,
                    book_path(self.number)
                ),
            )),
        }
    }

    async fn propfind(
        &self,
        target: &Target,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<Response, DavError> {
        let depth_one = depth_one(headers)?;
        let request = if body.iter().all(u8::is_ascii_whitespace) {
            PropRequest::All
        } else {
            let root = davxml::parse(body)?;
            if !root.is(DAV, "propfind") {
                return Err(DavError::BadRequest(
                    "A PROPFIND body must be a DAV:propfind element.".into(),
                ));
            }
            PropRequest::of(&root)
        };
        let mut ms = Multistatus::new();
        match target {
            Target::Root => {
                self.respond(&mut ms, "/carddav/", Resource::Root, &request);
                if depth_one {
                    let path = principal_path(self.number);
                    self.respond(&mut ms, &path, Resource::Principal, &request);
                }
            }
            Target::Principal(_) => {
                let path = principal_path(self.number);
                self.respond(&mut ms, &path, Resource::Principal, &request);
                if depth_one {
                    let versions = self.versions().await?;
                    let path = book_path(self.number);
                    self.respond(&mut ms, &path, Resource::Book(versions), &request);
                }
            }
            Target::Book(_) => {
                // Versions before entries: a change in between shows up as a newer ctag later.
                let versions = self.versions().await?;
                let path = book_path(self.number);
                self.respond(&mut ms, &path, Resource::Book(versions), &request);
                if depth_one {
                    for card in self.cards().await? {
                        let path = card_path(self.number, &card.uid);
                        self.respond(&mut ms, &path, Resource::Card(&card), &request);
                    }
                }
            }
            Target::Card(_, uid) => {
                let cards = self.cards().await?;
                let Some(card) = cards.iter().find(|c| &c.uid == uid) else {
                    return Ok(not_found(self.number));
                };
                let path = card_path(self.number, uid);
                self.respond(&mut ms, &path, Resource::Card(card), &request);
            }
        }
        Ok(multistatus(ms.finish(None)))
    }

    async fn report(&self, target: &Target, body: &Bytes) -> Result<Response, DavError> {
        if !matches!(target, Target::Book(_)) {
            return Ok(text(
                StatusCode::FORBIDDEN,
                &format!(
                    "Reports are answered on the address book {}.",
                    book_path(self.number)
                ),
            ));
        }
        let root = davxml::parse(body)?;
        if root.is(CARDDAV, "addressbook-multiget") {
            self.multiget(&root).await
        } else if root.is(CARDDAV, "addressbook-query") {
            self.query(&root).await
        } else if root.is(DAV, "sync-collection") {
            self.sync_collection(&root).await
        } else {
            Ok(precondition_failed(
                DAV,
                "supported-report",
                "This report is not supported: use addressbook-multiget, addressbook-query or sync-collection.",
            ))
        }
    }

    async fn multiget(&self, root: &Element) -> Result<Response, DavError> {
        let request = PropRequest::of(root);
        let cards = self.cards().await?;
        let by_uid: HashMap<&str, &Card> = cards.iter().map(|c| (c.uid.as_str(), c)).collect();
        let mut ms = Multistatus::new();
        for requested in root.children_named(DAV, "href") {
            let requested = requested.text.trim();
            let card = match Target::parse(href_path(requested)) {
                Some(Target::Card(n, uid)) if n == self.number => by_uid.get(uid.as_str()),
                _ => None,
            };
            match card {
                Some(card) => self.respond(&mut ms, requested, Resource::Card(card), &request),
                None => ms.status(requested, StatusCode::NOT_FOUND),
            }
        }
        Ok(multistatus(ms.finish(None)))
    }

    async fn query(&self, root: &Element) -> Result<Response, DavError> {
        let request = PropRequest::of(root);
        let filter = Filter::parse(root.child(CARDDAV, "filter"));
        let limit = root
            .child(CARDDAV, "limit")
            .and_then(|l| l.child(CARDDAV, "nresults"))
            .and_then(|n| n.text.trim().parse::<usize>().ok());
        let cards = self.cards().await?;
        let mut ms = Multistatus::new();
        let mut matching = cards.iter().filter(|c| filter.matches(c));
        for card in matching.by_ref().take(limit.unwrap_or(usize::MAX)) {
            let path = card_path(self.number, &card.uid);
            self.respond(&mut ms, &path, Resource::Card(card), &request);
        }
        if matching.next().is_some() {
            // RFC 6352 §8.6.1: a truncated result says so on the request URI.
            ms.status(&book_path(self.number), StatusCode::INSUFFICIENT_STORAGE);
        }
        Ok(multistatus(ms.finish(None)))
    }

    async fn sync_collection(&self, root: &Element) -> Result<Response, DavError> {
        let request = PropRequest::of(root);
        let given = root
            .child(DAV, "sync-token")
            .map(|t| t.text.trim())
            .unwrap_or("");
        let versions = self.versions().await?;
        let current = versions.sync_token();
        let mut ms = Multistatus::new();
        if given.is_empty() {
            for card in self.cards().await? {
                let path = card_path(self.number, &card.uid);
                self.respond(&mut ms, &path, Resource::Card(&card), &request);
            }
        } else if given != current {
            // No history is kept: an older (or foreign) token cannot be answered with changes.
            return Ok(precondition_failed(
                DAV,
                "valid-sync-token",
                "The sync token is out of date: sync again without a token.",
            ));
        }
        Ok(multistatus(ms.finish(Some(&current))))
    }

    /// Adds one `response` for `resource` at `path` with the properties `request` wants.
    fn respond(&self, ms: &mut Multistatus, path: &str, res: Resource<'_>, request: &PropRequest) {
        match request {
            PropRequest::All => {
                let found: Vec<(Name, String)> = default_props(res)
                    .into_iter()
                    .filter_map(|name| self.property(res, &name).map(|v| (name, v)))
                    .collect();
                ms.response(path, &found, &[]);
            }
            PropRequest::Names => {
                let found: Vec<(Name, String)> = default_props(res)
                    .into_iter()
                    .map(|name| (name, String::new()))
                    .collect();
                ms.response(path, &found, &[]);
            }
            PropRequest::Props(names) => {
                let mut found = Vec::new();
                let mut missing = Vec::new();
                for name in names {
                    match self.property(res, name) {
                        Some(value) => found.push((name.clone(), value)),
                        None => missing.push(name.clone()),
                    }
                }
                ms.response(path, &found, &missing);
            }
        }
    }

    /// The inner XML of property `name` of `res`; `None` when it has no such property.
    fn property(&self, res: Resource<'_>, name: &Name) -> Option<String> {
        let number = self.number;
        let principal = || href(&principal_path(number));
        let local = name.local.as_str();
        if name.ns == DAV {
            return match (local, res) {
                ("resourcetype", Resource::Root) => Some(element(DAV, "collection", "")),
                ("resourcetype", Resource::Principal) => {
                    Some(element(DAV, "collection", "") + &element(DAV, "principal", ""))
                }
                ("resourcetype", Resource::Book(_)) => {
                    Some(element(DAV, "collection", "") + &element(CARDDAV, "addressbook", ""))
                }
                ("resourcetype", Resource::Card(_)) => Some(String::new()),
                ("displayname", Resource::Root) => Some("Switchboard".into()),
                ("displayname", Resource::Principal) => {
                    Some(davxml::escape_text(&format!("Extension {number}")))
                }
                ("displayname", Resource::Book(_)) => Some("Phonebook".into()),
                ("displayname", Resource::Card(card)) => {
                    Some(davxml::escape_text(&vcard::display_name(&card.entry)))
                }
                ("current-user-principal", _) => Some(principal()),
                ("principal-URL" | "owner", Resource::Principal | Resource::Book(_)) => {
                    Some(principal())
                }
                ("principal-collection-set", Resource::Root | Resource::Principal) => {
                    Some(href("/carddav/"))
                }
                ("current-user-privilege-set", _) => Some(
                    element(DAV, "privilege", &element(DAV, "read", ""))
                        + &element(
                            DAV,
                            "privilege",
                            &element(DAV, "read-current-user-privilege-set", ""),
                        ),
                ),
                ("supported-report-set", Resource::Book(_)) => Some(
                    [
                        (CARDDAV, "addressbook-multiget"),
                        (CARDDAV, "addressbook-query"),
                        (DAV, "sync-collection"),
                    ]
                    .iter()
                    .map(|(ns, report)| {
                        element(
                            DAV,
                            "supported-report",
                            &element(DAV, "report", &element(ns, report, "")),
                        )
                    })
                    .collect(),
                ),
                ("sync-token", Resource::Book(v)) => Some(davxml::escape_text(&v.sync_token())),
                ("getetag", Resource::Card(card)) => Some(davxml::escape_text(&card.etag)),
                ("getcontenttype", Resource::Card(_)) => Some(VCARD_TYPE.into()),
                ("getcontentlength", Resource::Card(card)) => Some(card.body.len().to_string()),
                ("getlastmodified", Resource::Card(card)) => Some(
                    card.entry
                        .updated_at
                        .strftime("%a, %d %b %Y %H:%M:%S GMT")
                        .to_string(),
                ),
                _ => None,
            };
        }
        if name.ns == CARDDAV {
            return match (local, res) {
                ("addressbook-home-set", Resource::Root | Resource::Principal) => Some(principal()),
                ("addressbook-description", Resource::Book(_)) => {
                    Some(davxml::escape_text(&format!(
                        "Phonebook of extension {number} and the company phonebook, from Microsoft 365 (read-only)"
                    )))
                }
                ("supported-address-data", Resource::Book(_)) => Some(
                    "<card:address-data-type content-type=\"text/vcard\" version=\"3.0\"/>".into(),
                ),
                ("max-resource-size", Resource::Book(_)) => Some("102400".into()),
                ("address-data", Resource::Card(card)) => Some(davxml::escape_text(&card.body)),
                _ => None,
            };
        }
        if name.ns == CALSERVER
            && local == "getctag"
            && let Resource::Book(v) = res
        {
            return Some(davxml::escape_text(&v.ctag()));
        }
        None
    }
}

/// What `allprop` and `propname` list for a resource.
fn default_props(res: Resource<'_>) -> Vec<Name> {
    let names: &[(&str, &str)] = match res {
        Resource::Root => &[
            (DAV, "resourcetype"),
            (DAV, "displayname"),
            (DAV, "current-user-principal"),
            (DAV, "principal-collection-set"),
        ],
        Resource::Principal => &[
            (DAV, "resourcetype"),
            (DAV, "displayname"),
            (DAV, "current-user-principal"),
            (DAV, "principal-URL"),
            (CARDDAV, "addressbook-home-set"),
        ],
        Resource::Book(_) => &[
            (DAV, "resourcetype"),
            (DAV, "displayname"),
            (DAV, "owner"),
            (DAV, "sync-token"),
            (DAV, "supported-report-set"),
            (DAV, "current-user-privilege-set"),
            (CALSERVER, "getctag"),
            (CARDDAV, "addressbook-description"),
            (CARDDAV, "supported-address-data"),
        ],
        Resource::Card(_) => &[
            (DAV, "resourcetype"),
            (DAV, "getetag"),
            (DAV, "getcontenttype"),
            (DAV, "getcontentlength"),
            (DAV, "getlastmodified"),
        ],
    };
    names
        .iter()
        .map(|(ns, local)| Name::new(ns, local))
        .collect()
}

/// `Depth: 1` (or `infinity`, served as 1, which is the whole tree below any resource here)
/// versus `0`. A missing header means infinity (RFC 4918 §9.1).
fn depth_one(headers: &HeaderMap) -> Result<bool, DavError> {
    match headers.get("depth").map(|v| v.to_str().map(str::trim)) {
        None => Ok(true),
        Some(Ok("0")) => Ok(false),
        Some(Ok(d)) if d == "1" || d.eq_ignore_ascii_case("infinity") => Ok(true),
        Some(_) => Err(DavError::BadRequest(
            "The Depth header must be 0, 1 or infinity.".into(),
        )),
    }
}

/// The path of an href, which clients may send as a full URL.
fn href_path(href: &str) -> &str {
    match href.find("://") {
        Some(scheme_end) => {
            let after = &href[scheme_end + 3..];
            after.find('/').map_or("/", |slash| &after[slash..])
        }
        None => href,
    }
}

fn multistatus(body: String) -> Response {
    (
        StatusCode::MULTI_STATUS,
        [(header::CONTENT_TYPE, MULTISTATUS_TYPE)],
        body,
    )
        .into_response()
}

fn not_found(number: &str) -> Response {
    text(
        StatusCode::NOT_FOUND,
        &format!(
            "No such contact in this address book (it may have been removed in Outlook). The address book is {}.",
            book_path(number)
        ),
    )
}

/// `403` with a `DAV:error` body naming the failed precondition; `message` goes to the log.
fn precondition_failed(ns: &str, condition: &str, message: &str) -> Response {
    tracing::debug!(condition, "{message}");
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, MULTISTATUS_TYPE)],
        error_body(ns, condition),
    )
        .into_response()
}

/// An `addressbook-query` filter (RFC 6352 §10.5), the subset that is cheap to answer.
#[derive(Debug, Default)]
struct Filter {
    all_of: bool,
    props: Vec<PropFilter>,
}

#[derive(Debug)]
struct PropFilter {
    name: String,
    all_of: bool,
    undefined: bool,
    matches: Vec<TextMatch>,
}

#[derive(Debug)]
struct TextMatch {
    needle: String,
    kind: MatchKind,
    negate: bool,
    case_sensitive: bool,
}

#[derive(Debug, Clone, Copy)]
enum MatchKind {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

fn all_of(element: &Element) -> bool {
    element
        .attr("test")
        .is_some_and(|t| t.eq_ignore_ascii_case("allof"))
}

impl Filter {
    fn parse(filter: Option<&Element>) -> Self {
        let Some(filter) = filter else {
            return Self::default();
        };
        Self {
            all_of: all_of(filter),
            props: filter
                .children_named(CARDDAV, "prop-filter")
                .map(|p| PropFilter {
                    name: p.attr("name").unwrap_or_default().to_ascii_uppercase(),
                    all_of: all_of(p),
                    undefined: p.child(CARDDAV, "is-not-defined").is_some(),
                    matches: p
                        .children_named(CARDDAV, "text-match")
                        .map(|m| {
                            let case_sensitive = m.attr("collation") == Some("i;octet");
                            TextMatch {
                                needle: if case_sensitive {
                                    m.text.clone()
                                } else {
                                    m.text.to_lowercase()
                                },
                                kind: match m.attr("match-type") {
                                    Some("equals") => MatchKind::Equals,
                                    Some("starts-with") => MatchKind::StartsWith,
                                    Some("ends-with") => MatchKind::EndsWith,
                                    _ => MatchKind::Contains,
                                },
                                negate: m.attr("negate-condition") == Some("yes"),
                                case_sensitive,
                            }
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn matches(&self, card: &Card) -> bool {
        if self.props.is_empty() {
            return true;
        }
        let mut results = self.props.iter().map(|p| p.matches(card));
        if self.all_of {
            results.all(|m| m)
        } else {
            results.any(|m| m)
        }
    }
}

impl PropFilter {
    fn matches(&self, card: &Card) -> bool {
        let values = property_values(&card.entry, &card.uid, &self.name);
        if self.undefined {
            return values.is_empty();
        }
        if values.is_empty() {
            return false;
        }
        if self.matches.is_empty() {
            return true;
        }
        let mut results = self.matches.iter().map(|m| m.matches(&values));
        if self.all_of {
            results.all(|m| m)
        } else {
            results.any(|m| m)
        }
    }
}

impl TextMatch {
    fn matches(&self, values: &[String]) -> bool {
        let hit = values.iter().any(|value| {
            let value = if self.case_sensitive {
                value.clone()
            } else {
                value.to_lowercase()
            };
            match self.kind {
                MatchKind::Equals => value == self.needle,
                MatchKind::Contains => value.contains(&self.needle),
                MatchKind::StartsWith => value.starts_with(&self.needle),
                MatchKind::EndsWith => value.ends_with(&self.needle),
            }
        });
        hit != self.negate
    }
}

/// The values a vCard property of an entry has, as a filter sees them.
fn property_values(entry: &PhonebookEntry, uid: &str, property: &str) -> Vec<String> {
    let non_empty = |values: Vec<&str>| -> Vec<String> {
        values
            .into_iter()
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    };
    match property {
        "FN" => vec![vcard::display_name(entry)],
        "N" => non_empty(vec![&entry.last_name, &entry.first_name]),
        "EMAIL" => non_empty(entry.emails.iter().map(String::as_str).collect()),
        // Both forms, so that a search for what the contact typed finds it too.
        "TEL" => non_empty(
            entry
                .phones
                .iter()
                .flat_map(|p| [vcard::dial_string(p), p.raw.as_str()])
                .collect(),
        ),
        "ORG" => non_empty(vec![&entry.company, &entry.department]),
        "TITLE" => non_empty(vec![&entry.job_title]),
        "UID" => vec![uid.to_owned()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse() {
        assert_eq!(Target::parse("/carddav"), Some(Target::Root));
        assert_eq!(Target::parse("/carddav/"), Some(Target::Root));
        assert_eq!(
            Target::parse("/carddav/201"),
            Some(Target::Principal("201".into()))
        );
        assert_eq!(
            Target::parse("/carddav/201/contacts/"),
            Some(Target::Book("201".into()))
        );
        assert_eq!(
            Target::parse("/carddav/201/contacts/abc.vcf"),
            Some(Target::Card("201".into(), "abc".into()))
        );
        assert_eq!(Target::parse("/carddav/201/contacts/abc"), None);
        assert_eq!(Target::parse("/carddav/201/other/"), None);
        assert_eq!(Target::parse("/carddavx"), None);
    }

    #[test]
    fn hrefs_may_be_urls() {
        assert_eq!(href_path("/carddav/201/"), "/carddav/201/");
        assert_eq!(
            href_path("https://pbx.example.com/carddav/201/contacts/a.vcf"),
            "/carddav/201/contacts/a.vcf"
        );
        assert_eq!(href_path("http://host"), "/");
    }
}
