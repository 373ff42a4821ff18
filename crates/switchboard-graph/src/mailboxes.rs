//! The core's [`MailboxSource`] and [`CalendarSource`] on Graph: contact folder and contacts
//! delta pages (graph-protocol.md §3) and calendarView pages ([`crate::calendars`], §4.1) of
//! many mailboxes, read through JSON batching (`batch.rs`, §6.3).
//!
//! One [`GraphMailboxes`] serves both ports so that contacts and calendar reads of the same
//! mailbox count against one per-mailbox limit: Outlook throttles per app and mailbox, whatever
//! is read (§6.2).
//!
//! [`CalendarSource`]: switchboard_core::ports::CalendarSource

use crate::auth::TokenProvider;
use crate::batch::{
    BatchExecutor, BatchRead, PageBody, common_error, encode_segment, relative_link, user_path,
};
use crate::client::ApiError;
use crate::config::GraphConfig;
use async_trait::async_trait;
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::fmt;
use std::sync::Arc;
use switchboard_core::contacts::{
    ContactChange, ContactFolder, ContactPage, DEFAULT_FOLDER, FolderChange, FolderPage,
    MailboxAnswer, MailboxContact, MailboxRead,
};
use switchboard_core::ports::{CredentialSource, DirectoryError, MailboxError, MailboxSource};

pub use crate::batch::{DEFAULT_BATCHES_IN_FLIGHT, MAX_BATCH_ITEMS, MAX_PER_MAILBOX};

/// `Prefer: odata.maxpagesize` of every delta read. Contacts delta documents the preference but
/// no maximum (§3); Microsoft's answer to the question is that contacts pages are capped at 200
/// whatever is asked, and larger Outlook pages risk 504s. Asking for exactly the cap keeps a
/// full batch answer at about 20 × 200 contacts.
pub const PAGE_SIZE: u32 = 200;

/// What every contacts delta selects (the delta tracks only selected properties, as in §2.3).
pub const CONTACT_SELECT: &str = "displayName,givenName,surname,companyName,department,jobTitle,\
emailAddresses,businessPhones,homePhones,mobilePhone,parentFolderId";

/// What the folder-tree delta selects.
pub const FOLDER_SELECT: &str = "displayName,parentFolderId";

/// Advice for a 403 on a mailbox.
const CONTACTS_PERMISSION: &str = "grant the app the Contacts.Read application permission with \
admin consent in Microsoft Entra ID (and check that no Exchange application access policy \
excludes this mailbox), then reconnect Office 365";

/// The `Prefer` header of every read: page size, and immutable ids so a contact moved between
/// folders keeps its id (§3). One header value, since a batch item's headers are a JSON object.
fn prefer_header() -> String {
    format!("odata.maxpagesize={PAGE_SIZE}, IdType=\"ImmutableId\"")
}

/// The batch item `url` of a read: relative to the version root (§6.3).
fn item_url(config: &GraphConfig, read: &MailboxRead) -> Result<String, MailboxError> {
    let (mailbox, link) = match read {
        MailboxRead::FolderDelta { mailbox, link } => (mailbox, link),
        MailboxRead::ContactsDelta { mailbox, link, .. } => (mailbox, link),
    };
    if let Some(link) = link {
        return relative_link(config, link).map_err(MailboxError::Graph);
    }
    let user = user_path(mailbox)?;
    Ok(match read {
        MailboxRead::FolderDelta { .. } => {
            format!("{user}/contactFolders/delta?$select={FOLDER_SELECT}")
        }
        // `/users/{id}/contacts/delta` is the default folder; observed working, not documented
        // (§3, §9). Every other folder uses the documented per-folder form.
        MailboxRead::ContactsDelta { folder, .. } if folder == DEFAULT_FOLDER => {
            format!("{user}/contacts/delta?$select={CONTACT_SELECT}")
        }
        MailboxRead::ContactsDelta { folder, .. } => format!(
            "{user}/contactFolders/{}/contacts/delta?$select={CONTACT_SELECT}",
            encode_segment(folder)
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// A delta page (folders or contacts) or an error body; unknown properties are skipped.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DeltaBody {
    #[serde(default)]
    value: Option<Vec<DeltaItem>>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    delta_link: Option<String>,
    /// Kept as JSON for [`ApiError::from_response`]; small.
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// One item of a folder or contacts delta: the union of both selects. Absent and `null` read as
/// `None` (§7); `@removed` is `{"reason": "deleted" | "changed"}` (§3).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeltaItem {
    id: Option<String>,
    #[serde(rename = "@removed")]
    removed: Option<IgnoredAny>,
    display_name: Option<String>,
    parent_folder_id: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    company_name: Option<String>,
    department: Option<String>,
    job_title: Option<String>,
    email_addresses: Option<Vec<Option<EmailAddress>>>,
    business_phones: Option<Vec<Option<String>>>,
    home_phones: Option<Vec<Option<String>>>,
    mobile_phone: Option<String>,
}

#[derive(Debug, Deserialize)]
struct EmailAddress {
    address: Option<String>,
}

fn texts(list: Option<Vec<Option<String>>>) -> Vec<String> {
    list.unwrap_or_default()
        .into_iter()
        .flatten()
        .filter(|s| !s.trim().is_empty())
        .collect()
}

/// The item's id; `None` (logged) for an item without one.
fn item_id(item: &mut DeltaItem, what: &str) -> Option<String> {
    let id = item.id.take().filter(|id| !id.trim().is_empty());
    if id.is_none() {
        tracing::warn!(
            removed = item.removed.is_some(),
            "Microsoft Graph returned a {what} without an id; skipped"
        );
    }
    id
}

fn folder_change(mut item: DeltaItem) -> Option<FolderChange> {
    let id = item_id(&mut item, "contact folder")?;
    if item.removed.is_some() {
        return Some(FolderChange::Removed { id });
    }
    Some(FolderChange::Upsert(ContactFolder {
        id,
        display_name: item.display_name.unwrap_or_default(),
        parent_folder_id: item.parent_folder_id,
    }))
}

fn contact_change(mut item: DeltaItem) -> Option<ContactChange> {
    let id = item_id(&mut item, "contact")?;
    if item.removed.is_some() {
        return Some(ContactChange::Removed { id });
    }
    let email_addresses = item
        .email_addresses
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .filter_map(|e| e.address)
        .filter(|a| !a.trim().is_empty())
        .collect();
    Some(ContactChange::Upsert(MailboxContact {
        id,
        parent_folder_id: item.parent_folder_id,
        display_name: item.display_name,
        given_name: item.given_name,
        surname: item.surname,
        company_name: item.company_name,
        department: item.department,
        job_title: item.job_title,
        email_addresses,
        business_phones: texts(item.business_phones),
        home_phones: texts(item.home_phones),
        mobile_phone: item.mobile_phone,
    }))
}

/// A 2xx delta page as the answer to `read`.
fn page_answer(read: &MailboxRead, body: DeltaBody) -> Result<MailboxAnswer, MailboxError> {
    if body.next_link.is_none() && body.delta_link.is_none() {
        // Without either link the sync would not know where to go on.
        return Err(MailboxError::Graph(DirectoryError::Protocol(
            "a delta page without @odata.nextLink or @odata.deltaLink".into(),
        )));
    }
    let items = body.value.unwrap_or_default().into_iter();
    Ok(match read {
        MailboxRead::FolderDelta { .. } => MailboxAnswer::Folders(FolderPage {
            changes: items.filter_map(folder_change).collect(),
            next: body.next_link,
            delta_link: body.delta_link,
        }),
        MailboxRead::ContactsDelta { .. } => MailboxAnswer::Contacts(ContactPage {
            changes: items.filter_map(contact_change).collect(),
            next: body.next_link,
            delta_link: body.delta_link,
        }),
    })
}

fn is_item_not_found(e: &ApiError) -> bool {
    let code = |c: &str| c.eq_ignore_ascii_case("ErrorItemNotFound");
    e.status == 404 && (code(&e.code) || e.inner_code.as_deref().is_some_and(code))
}

/// How an inner error reads to the contact sync.
fn mailbox_error(read: &MailboxRead, e: &ApiError) -> MailboxError {
    let folder =
        matches!(read, MailboxRead::ContactsDelta { folder, .. } if folder != DEFAULT_FOLDER);
    match common_error(e, CONTACTS_PERMISSION) {
        MailboxError::Graph(_) if folder && is_item_not_found(e) => MailboxError::FolderGone,
        other => other,
    }
}

impl PageBody for DeltaBody {
    fn into_error(self) -> Option<serde_json::Value> {
        self.error
    }
}

impl BatchRead for MailboxRead {
    type Body = DeltaBody;
    type Answer = MailboxAnswer;
    const KIND: &'static str = "contacts";
    const PERMISSION: &'static str = CONTACTS_PERMISSION;

    fn mailbox(&self) -> &str {
        MailboxRead::mailbox(self)
    }
    fn url(&self, config: &GraphConfig) -> Result<String, MailboxError> {
        item_url(config, self)
    }
    fn prefer(&self) -> String {
        prefer_header()
    }
    fn answer(&self, body: DeltaBody) -> Result<MailboxAnswer, MailboxError> {
        page_answer(self, body)
    }
    fn error(&self, e: &ApiError) -> MailboxError {
        mailbox_error(self, e)
    }
}

// ---------------------------------------------------------------------------------------------
// The adapter
// ---------------------------------------------------------------------------------------------

/// Outlook contacts and calendars of many mailboxes, read in `$batch`es. One long-lived value
/// per app, shared by the contact sync and the calendar sync (clones share the limits: batches
/// in flight and requests per mailbox); credentials are asked for on every call, as
/// [`crate::GraphDirectory`] does.
///
/// Mailboxes are told apart by the id a read names (trimmed, case-insensitively), so both syncs
/// should name a mailbox the same way (its Entra object id) for the shared limit to hold.
///
/// The composition root builds one and hands it out as both ports:
///
/// ```text
/// let mailboxes = Arc::new(GraphMailboxes::new(gateway.tokens().clone(), credentials));
/// let contacts: Arc<dyn MailboxSource> = mailboxes.clone();
/// let calendars: Arc<dyn CalendarSource> = mailboxes;
/// ```
#[derive(Clone)]
pub struct GraphMailboxes {
    pub(crate) batches: BatchExecutor,
}

impl fmt::Debug for GraphMailboxes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphMailboxes")
            .field("tokens", self.batches.tokens())
            .field(
                "max_batches_in_flight",
                &self.batches.max_batches_in_flight(),
            )
            .finish_non_exhaustive()
    }
}

impl GraphMailboxes {
    /// `tokens` is typically [`crate::EntraGateway::tokens`], sharing its cache and HTTP client.
    pub fn new(tokens: TokenProvider, credentials: Arc<dyn CredentialSource>) -> Self {
        Self {
            batches: BatchExecutor::new(tokens, credentials),
        }
    }

    /// At most this many `$batch` requests at once, across all callers (at least 1). Call it
    /// before cloning: the value returned has limits of its own.
    pub fn with_max_batches_in_flight(mut self, batches: usize) -> Self {
        self.batches = self.batches.with_max_batches_in_flight(batches);
        self
    }

    pub fn max_batches_in_flight(&self) -> usize {
        self.batches.max_batches_in_flight()
    }

    pub fn tokens(&self) -> &TokenProvider {
        self.batches.tokens()
    }
}

#[async_trait]
impl MailboxSource for GraphMailboxes {
    async fn read(&self, reads: Vec<MailboxRead>) -> Vec<Result<MailboxAnswer, MailboxError>> {
        self.batches.read(&reads).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{InnerAnswer, InnerBody, inner_api_error, inner_headers};
    use url::Url;

    fn config() -> GraphConfig {
        GraphConfig::with_urls(
            Url::parse("https://graph.example.com").expect("url"),
            Url::parse("https://login.example.com").expect("url"),
        )
    }

    fn contacts(mailbox: &str, folder: &str, link: Option<&str>) -> MailboxRead {
        MailboxRead::ContactsDelta {
            mailbox: mailbox.into(),
            folder: folder.into(),
            link: link.map(str::to_owned),
        }
    }

    fn folders(mailbox: &str) -> MailboxRead {
        MailboxRead::FolderDelta {
            mailbox: mailbox.into(),
            link: None,
        }
    }

    fn answer(json: &str) -> InnerAnswer<DeltaBody> {
        serde_json::from_str(json).expect("inner answer")
    }

    fn body(json: &str) -> DeltaBody {
        match answer(&format!(r#"{{"id":"1","status":200,"body":{json}}}"#)).body {
            Some(InnerBody::Json(b)) => *b,
            other => panic!("{other:?}"),
        }
    }

    fn error(status: u16, code: &str, message: &str) -> ApiError {
        let json = format!(
            r#"{{"id":"1","status":{status},"body":{{"error":{{"code":"{code}","message":"{message}"}}}}}}"#
        );
        let a = answer(&json);
        inner_api_error(a.status, &inner_headers(a.headers), a.body, None)
    }

    #[test]
    fn read_urls_are_relative_to_the_version_root() {
        let c = config();
        let guid = "6a1e0b3c-58f4-4a8e-9d1b-3c2f00a1b2c3";
        assert_eq!(
            item_url(&c, &folders(guid)).expect("url"),
            format!("/users/{guid}/contactFolders/delta?$select=displayName,parentFolderId")
        );
        assert_eq!(
            item_url(&c, &contacts(guid, DEFAULT_FOLDER, None)).expect("url"),
            format!("/users/{guid}/contacts/delta?$select={CONTACT_SELECT}")
        );
        assert_eq!(
            item_url(&c, &contacts("adele@contoso.com", "AAMk+a/b==", None)).expect("url"),
            format!(
                "/users/adele@contoso.com/contactFolders/AAMk%2Ba%2Fb==/contacts/delta?$select={CONTACT_SELECT}"
            )
        );
        assert_eq!(encode_segment(".."), "%2E%2E");
        assert_eq!(encode_segment("a?b=1&c"), "a%3Fb=1%26c");
        assert!(matches!(
            item_url(&c, &folders("  ")),
            Err(MailboxError::Graph(DirectoryError::Protocol(_)))
        ));
        assert!(!CONTACT_SELECT.contains(' '));
        assert_eq!(CONTACT_SELECT.split(',').count(), 11);
        assert_eq!(
            prefer_header(),
            "odata.maxpagesize=200, IdType=\"ImmutableId\""
        );
    }

    #[test]
    fn folder_pages_with_removed_items() {
        let b = body(
            r##"{"@odata.context":"x","value":[
              {"@odata.type":"#microsoft.graph.contactFolder","id":"f1","displayName":"Team","parentFolderId":"root","newThing":1},
              {"id":"f2","displayName":null},
              {"id":"f3","@removed":{"reason":"deleted"}},
              {"displayName":"no id"}
            ],"@odata.deltaLink":"https://graph.example.com/v1.0/x?$deltatoken=d"}"##,
        );
        let MailboxAnswer::Folders(page) = page_answer(&folders("u"), b).expect("page") else {
            panic!("not folders");
        };
        assert_eq!(
            page.changes,
            [
                FolderChange::Upsert(ContactFolder {
                    id: "f1".into(),
                    display_name: "Team".into(),
                    parent_folder_id: Some("root".into()),
                }),
                FolderChange::Upsert(ContactFolder {
                    id: "f2".into(),
                    display_name: String::new(),
                    parent_folder_id: None,
                }),
                FolderChange::Removed { id: "f3".into() },
            ]
        );
        assert_eq!(page.next, None);
        assert_eq!(
            page.delta_link.as_deref(),
            Some("https://graph.example.com/v1.0/x?$deltatoken=d")
        );
    }

    #[test]
    fn contacts_with_every_phone_field_nulls_and_removals() {
        let b = body(
            r##"{"value":[
              {"@odata.etag":"W/\"x\"","id":"c1","parentFolderId":"f","displayName":"Ada Lovelace",
               "givenName":"Ada","surname":"Lovelace","companyName":"Analytical","department":"R&D",
               "jobTitle":"Countess","emailAddresses":[{"name":"Ada","address":"ada@example.com"},{"name":"x","address":null},{"address":" "}],
               "businessPhones":["+44 20 7946 0000","+44 20 7946 0001"],"homePhones":["020 7946 0002", null],
               "mobilePhone":"+44 7700 900123","imAddresses":["sip:ada"],"birthday":null},
              {"id":"c2","displayName":null,"emailAddresses":null,"businessPhones":null,"homePhones":[],"mobilePhone":null},
              {"@odata.type":"#microsoft.graph.contact","id":"c3","@removed":{"reason":"deleted"}},
              {"id":"c4","@removed":{"reason":"changed"}}
            ],"@odata.nextLink":"https://graph.example.com/v1.0/x?$skip=10"}"##,
        );
        let MailboxAnswer::Contacts(page) =
            page_answer(&contacts("u", "f", None), b).expect("page")
        else {
            panic!("not contacts");
        };
        assert_eq!(page.changes.len(), 4);
        assert_eq!(
            page.changes[0],
            ContactChange::Upsert(MailboxContact {
                id: "c1".into(),
                parent_folder_id: Some("f".into()),
                display_name: Some("Ada Lovelace".into()),
                given_name: Some("Ada".into()),
                surname: Some("Lovelace".into()),
                company_name: Some("Analytical".into()),
                department: Some("R&D".into()),
                job_title: Some("Countess".into()),
                email_addresses: vec!["ada@example.com".into()],
                business_phones: vec!["+44 20 7946 0000".into(), "+44 20 7946 0001".into()],
                home_phones: vec!["020 7946 0002".into()],
                mobile_phone: Some("+44 7700 900123".into()),
            })
        );
        assert_eq!(
            page.changes[1],
            ContactChange::Upsert(MailboxContact {
                id: "c2".into(),
                ..MailboxContact::default()
            })
        );
        assert_eq!(page.changes[2], ContactChange::Removed { id: "c3".into() });
        assert_eq!(page.changes[3], ContactChange::Removed { id: "c4".into() });
        assert_eq!(
            page.next.as_deref(),
            Some("https://graph.example.com/v1.0/x?$skip=10")
        );
        assert_eq!(page.delta_link, None);
        // A page that says neither where to go on nor where the next round starts.
        assert!(matches!(
            page_answer(&contacts("u", "", None), body(r#"{"value":[]}"#)),
            Err(MailboxError::Graph(DirectoryError::Protocol(_)))
        ));
    }

    #[test]
    fn inner_errors_map_to_what_the_sync_does_next() {
        let read = contacts("u", "folder-1", None);
        let default = contacts("u", DEFAULT_FOLDER, None);
        assert_eq!(
            mailbox_error(
                &read,
                &error(
                    404,
                    "MailboxNotEnabledForRESTAPI",
                    "REST API is not yet supported for this mailbox."
                )
            ),
            MailboxError::NoMailbox
        );
        assert_eq!(
            mailbox_error(
                &folders("u"),
                &error(
                    404,
                    "ResourceNotFound",
                    "The mailbox is either inactive, soft-deleted, or is hosted on-premise."
                )
            ),
            MailboxError::NoMailbox
        );
        assert_eq!(
            mailbox_error(
                &read,
                &error(
                    404,
                    "ErrorItemNotFound",
                    "The specified object was not found in the store."
                )
            ),
            MailboxError::FolderGone
        );
        // The default folder and the folder tree cannot be "gone".
        assert!(matches!(
            mailbox_error(&default, &error(404, "ErrorItemNotFound", "x")),
            MailboxError::Graph(DirectoryError::Protocol(m)) if m.contains("ErrorItemNotFound")
        ));
        assert_eq!(
            mailbox_error(&read, &error(410, "Gone", "")),
            MailboxError::DeltaExpired
        );
        assert_eq!(
            mailbox_error(&read, &error(400, "syncStateNotFound", "expired")),
            MailboxError::DeltaExpired
        );
        assert_eq!(
            mailbox_error(&default, &error(400, "resyncRequired", "again")),
            MailboxError::DeltaExpired
        );
        match mailbox_error(
            &read,
            &error(
                403,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            ),
        ) {
            MailboxError::Graph(DirectoryError::Denied(m)) => {
                assert!(
                    m.contains("ErrorAccessDenied") && m.contains("Access is denied"),
                    "{m}"
                );
                assert!(m.contains("Contacts.Read"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            mailbox_error(&read, &error(401, "InvalidAuthenticationToken", "expired")),
            MailboxError::Graph(DirectoryError::Denied(_))
        ));
        match mailbox_error(
            &read,
            &error(400, "ErrorInvalidUrlQuery", "The query is invalid."),
        ) {
            MailboxError::Graph(DirectoryError::Protocol(m)) => {
                assert!(
                    m.contains("400 ErrorInvalidUrlQuery") && m.contains("The query is invalid"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            mailbox_error(&read, &error(500, "generalException", "x")),
            MailboxError::Graph(DirectoryError::Unavailable(_))
        ));
    }
}
