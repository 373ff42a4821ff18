//! Phonebooks for phones and address-book apps, one per extension.
//!
//! | route | what |
//! |---|---|
//! | `GET /phonebook/{extension}/yealink.xml` | Yealink/Fanvil remote phonebook: personal, company, colleagues |
//! | `GET /phonebook/{extension}.vcf[?version=4]` | personal and company phonebook as vCard 3.0 (or 4.0) |
//! | `/.well-known/carddav` | `301` to `/carddav/` (RFC 6764) |
//! | `/carddav/…` | read-only CardDAV (RFC 6352, sync-collection of RFC 6578), see [`carddav`] |
//!
//! Every route needs HTTP Basic with the extension number and its phonebook password (see
//! [`access`]); an extension reads only its own phonebook (which includes the company phonebook
//! and the colleague directory). The downloads carry an `ETag` and answer `If-None-Match` with
//! `304`, so polling phones cost little.

mod access;
mod carddav;
mod davxml;
mod vcard;
mod yealink;

use crate::auth::ratelimit::ClientKey;
use crate::state::AppState;
use access::{Access, text};
use axum::Router;
use axum::extract::FromRequestParts;
use axum::extract::connect_info::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use std::net::SocketAddr;
use std::sync::Arc;
use switchboard_core::contacts::{Book, PhonebookEntry, PhonebookQuery};
use switchboard_core::ports::StoreError;
use switchboard_core::users::ExtensionQuery;

/// Entries read per store call when loading a book.
const PAGE: u32 = 500;
/// A book is never loaded past this many entries (a bound, not a product limit).
const MAX_ENTRIES: usize = 50_000;

/// The state of the phonebook routes: the app's ports and the sign-in state.
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    app: AppState,
    access: Arc<Access>,
}

/// The phonebook routes (see the module docs).
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let ctx = Ctx {
        app: state.clone(),
        access: Arc::new(Access::default()),
    };
    // The CardDAV handler reads its body itself, with a larger limit than the global one
    // (a multiget lists one href per contact).
    let dav = any(carddav::handle);
    Router::new()
        .route("/phonebook/{extension}/yealink.xml", get(yealink::download))
        .route("/phonebook/{file}", get(vcard::download))
        .route("/.well-known/carddav", any(carddav::well_known))
        .route("/carddav", dav.clone())
        .route("/carddav/", dav.clone())
        .route("/carddav/{*path}", dav)
        .with_state(ctx)
}

/// The extension a request is signed in as (extractor; rejects with 401/403/429).
#[derive(Debug)]
pub(crate) struct Caller(pub(crate) String);

impl FromRequestParts<Ctx> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        let client = client_key(parts);
        ctx.access
            .authenticate(&ctx.app, &parts.headers, client)
            .await
            .map(Caller)
            .map_err(IntoResponse::into_response)
    }
}

pub(crate) fn client_key(parts: &Parts) -> ClientKey {
    ClientKey::from_addr(
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip()),
    )
}

/// `403` when `requested` is not the signed-in extension's own phonebook.
pub(crate) fn foreign_book(signed_in: &str, requested: &str) -> Option<Response> {
    if signed_in == requested {
        None
    } else {
        Some(text(
            StatusCode::FORBIDDEN,
            &format!(
                "Signed in as extension {signed_in}: only the phonebook of extension {signed_in} can be read with this password."
            ),
        ))
    }
}

/// `503` for a store failure (logged, not shown).
pub(crate) fn unavailable(e: &StoreError) -> Response {
    tracing::error!(error = %e, "phonebook: store failed");
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "The phonebook is unavailable right now (the server log has the details). Try again later.",
    )
}

/// `200` with `body` and its ETag, or `304` when the client already has it.
pub(crate) fn conditional(
    headers: &HeaderMap,
    body: String,
    content_type: &'static str,
) -> Response {
    let etag = vcard::etag(&body);
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], body).into_response()
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    // Revalidate every time (cheap with the ETag); never shared by proxies: it is personal.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    response
}

/// What an extension reads: its personal phonebook and the company phonebook.
#[derive(Debug, Default)]
pub(crate) struct Books {
    pub(crate) personal: Vec<PhonebookEntry>,
    pub(crate) company: Vec<PhonebookEntry>,
}

pub(crate) async fn load_books(app: &AppState, number: &str) -> Result<Books, StoreError> {
    Ok(Books {
        personal: load_book(app, &Book::Extension(number.to_owned())).await?,
        company: load_book(app, &Book::Company).await?,
    })
}

/// Every entry of `book`, in the store's order (display name, then contact id).
async fn load_book(app: &AppState, book: &Book) -> Result<Vec<PhonebookEntry>, StoreError> {
    let mut all = Vec::new();
    loop {
        let offset = u32::try_from(all.len()).unwrap_or(u32::MAX);
        let page = app
            .phonebooks()
            .phonebook(
                book,
                &PhonebookQuery {
                    search: None,
                    limit: PAGE,
                    offset,
                },
            )
            .await?;
        let full = page.len() >= PAGE as usize;
        all.extend(page);
        if !full || all.len() >= MAX_ENTRIES {
            break;
        }
    }
    all.truncate(MAX_ENTRIES);
    Ok(all)
}

/// A colleague in the directory: another enabled extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Colleague {
    pub(crate) name: String,
    pub(crate) number: String,
}

/// Every other enabled extension, by number.
pub(crate) async fn colleagues(app: &AppState, own: &str) -> Result<Vec<Colleague>, StoreError> {
    const EXTENSION_PAGE: u32 = 1000;
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = app
            .extensions()
            .list_extensions(&ExtensionQuery {
                group: None,
                q: None,
                after: after.clone(),
                limit: EXTENSION_PAGE,
            })
            .await?;
        let Some(last) = page.last() else { break };
        // Stop on a store that ignores `after`, instead of looping for ever.
        if after.as_deref() == Some(last.number.as_str()) {
            break;
        }
        after = Some(last.number.clone());
        let full = page.len() >= EXTENSION_PAGE as usize;
        out.extend(
            page.into_iter()
                .filter(|e| e.enabled && e.number != own)
                .map(|e| {
                    let f = &e.fields;
                    let name = [
                        f.display_name.trim().to_owned(),
                        format!("{} {}", f.first_name.trim(), f.last_name.trim())
                            .trim()
                            .to_owned(),
                    ]
                    .into_iter()
                    .find(|n| !n.is_empty())
                    .unwrap_or_else(|| e.number.clone());
                    Colleague {
                        name,
                        number: e.number,
                    }
                }),
        );
        if !full || out.len() >= MAX_ENTRIES {
            break;
        }
    }
    Ok(out)
}
