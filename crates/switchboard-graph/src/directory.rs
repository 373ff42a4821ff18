//! The core's [`DirectorySource`] on Graph: the user list, the users delta and group members
//! (graph-protocol.md §2.1, §2.3; errors §6.1; what a client must tolerate §7).
//!
//! Requests for a tenant of N users:
//! * a full sync is `ceil(N / 999)` pages of `GET /users` plus one
//!   `GET /users/delta?$deltatoken=latest` for the link the next incremental run starts from
//!   (N = 2,500: 3 + 1). `$top=999` is the largest page `/users` serves (§2.1), and "sync from
//!   now" returns only a deltaLink, so the tenant is never read twice;
//! * an incremental run is one `GET` per delta page (usually one), following the stored link;
//! * group scoping is `ceil(M / 999)` pages of `transitiveMembers/microsoft.graph.user` with
//!   `$select=id`, M the group's transitive user members.
//!
//! Each page is decoded straight into [`UserItem`]: only the selected properties, no
//! `serde_json::Value` per page, so a 100k-user sync stays fast and small.

use crate::auth::{AppCredential, TokenError, TokenProvider};
use crate::client::{ApiError, GraphClient, GraphError, GraphRequest, Page};
use async_trait::async_trait;
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::Arc;
use switchboard_core::ports::{
    CredentialSource, DirectoryChange, DirectoryCursor, DirectoryError, DirectoryPage,
    DirectorySource,
};
use switchboard_core::users::{DirectoryGroup, DirectoryUser};

/// The user properties every directory read selects, the full list and the delta alike.
///
/// One list for both because the delta tracks only what is selected (§2.3: "If a change occurs
/// to a property that is not selected, the resource … does not appear in the delta response"),
/// and its deltaLink encodes the `$select` of the round that produced it. So:
/// * the telephony fields the extensions are built from (names, mail/UPN, phones, job title,
///   department, office, `employeeId` for numbering rules, `usageLocation` for the country of
///   numbers written without one);
/// * `accountEnabled` and `userType`, which the delta cannot filter on (§2.3): selecting them
///   makes a disabled account or a member turned guest arrive as a change, filtered locally.
///
/// Every name here is a plain directory property, valid in a collection (no 501, §2.1).
pub const USER_SELECT: &str = "id,displayName,givenName,surname,mail,userPrincipalName,\
mobilePhone,businessPhones,jobTitle,department,officeLocation,accountEnabled,userType,\
employeeId,usageLocation";

/// The largest `$top` of `/users` and of member lists (§2.1).
pub const PAGE_SIZE: u32 = 999;

/// `$filter=userType eq 'Member'`, percent-encoded: works without advanced queries (§2.1).
/// Disabled accounts are deliberately not filtered out: the sync must see them to disable
/// their extensions.
const MEMBERS_ONLY: &str = "userType%20eq%20%27Member%27";

/// `GET /users`, first page.
fn full_list_path(include_guests: bool) -> String {
    let mut path = format!("/users?$select={USER_SELECT}&$top={PAGE_SIZE}");
    if !include_guests {
        path.push_str("&$filter=");
        path.push_str(MEMBERS_ONLY);
    }
    path
}

/// `GET /users/delta?$deltatoken=latest`: "sync from now", only a deltaLink (§2.3).
fn latest_delta_path() -> String {
    format!("/users/delta?$select={USER_SELECT}&$deltatoken=latest")
}

fn group_members_path(group_id: &str) -> String {
    format!(
        "/groups/{}/transitiveMembers/microsoft.graph.user?$select=id&$top={PAGE_SIZE}",
        encode_segment(group_id)
    )
}

/// The most results one directory search returns (a picker, not a listing).
pub const SEARCH_LIMIT: u32 = 25;

/// What a user search selects: enough to show and pick a user.
pub const SEARCH_USER_SELECT: &str =
    "id,displayName,userPrincipalName,mail,accountEnabled,userType,department";

/// What a group search selects.
pub const SEARCH_GROUP_SELECT: &str = "id,displayName,mail";

/// How many pages a search follows at most (a page may be empty while more follow, §7).
const SEARCH_MAX_PAGES: usize = 3;

/// The term of a `$search` clause, or `None` when nothing searchable is left.
///
/// A clause is `"property:term"` (§2.2). Graph's documented escape for a `"` inside it is `\"`,
/// but a backslash escape is easy to get wrong on either side, and neither character helps a
/// name or UPN search (Graph tokenises terms at punctuation anyway). So double quotes and
/// backslashes are **stripped**, other control characters dropped, whitespace collapsed.
/// `O"Brien` searches `OBrien`; `"` alone searches nothing (and never reaches Graph).
pub fn search_term(query: &str) -> Option<String> {
    let cleaned: String = query
        .chars()
        .filter(|c| *c != '"' && *c != '\\')
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let term = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    (!term.is_empty()).then_some(term)
}

/// Percent-encodes a query-string value: everything but the RFC 3986 unreserved characters.
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `"p1:term" OR "p2:term" …` for an already cleaned term.
fn search_expression(properties: &[&str], term: &str) -> String {
    properties
        .iter()
        .map(|p| format!("\"{p}:{term}\""))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// `GET /users?$search=…` (needs `ConsistencyLevel: eventual`, §2.2).
fn user_search_path(term: &str, top: u32) -> String {
    let search = search_expression(&["displayName", "userPrincipalName", "mail"], term);
    format!(
        "/users?$search={}&$select={SEARCH_USER_SELECT}&$top={top}",
        encode_query_value(&search)
    )
}

/// `GET /groups?$search=…` (needs `ConsistencyLevel: eventual`, §2.2).
fn group_search_path(term: &str, top: u32) -> String {
    let search = search_expression(&["displayName", "mail"], term);
    format!(
        "/groups?$search={}&$select={SEARCH_GROUP_SELECT}&$top={top}",
        encode_query_value(&search)
    )
}

/// One item of a group search.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupItem {
    id: Option<String>,
    display_name: Option<String>,
    mail: Option<String>,
}

/// Percent-encodes everything but ASCII letters, digits and `-`: a GUID passes unchanged, and
/// nothing an admin types can add a path segment (`/`, `..`) or a query (`?`).
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One item of `/users` or `/users/delta`, as Graph sends it with [`USER_SELECT`]. Absent and
/// `null` both read as `None` (the delta leaves never-set properties out, §2.3; `/users` sends
/// them as `null`, §7); unknown properties (`@odata.type`, anything Graph adds) are skipped.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserItem {
    id: Option<String>,
    /// Delta only: `{"reason": "changed" | "deleted"}`.
    #[serde(rename = "@removed")]
    removed: Option<Removed>,
    display_name: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    mail: Option<String>,
    user_principal_name: Option<String>,
    mobile_phone: Option<String>,
    /// `[]` when none (§7); absent (delta) or `null` read as empty too.
    business_phones: Option<Vec<String>>,
    job_title: Option<String>,
    department: Option<String>,
    office_location: Option<String>,
    account_enabled: Option<bool>,
    user_type: Option<String>,
    employee_id: Option<String>,
    usage_location: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Removed {
    reason: Option<String>,
}

/// `@odata.type` aside, a transitive member reads as just its id with `$select=id`.
#[derive(Debug, Deserialize)]
struct MemberItem {
    id: Option<String>,
}

/// The core's change for one item; `None` for an item without an id (skipped, logged).
fn to_change(item: UserItem) -> Option<DirectoryChange> {
    let Some(id) = item.id.filter(|id| !id.trim().is_empty()) else {
        metrics::counter!("switchboard_directory_items_skipped_total").increment(1);
        tracing::warn!(
            removed = item.removed.is_some(),
            "Microsoft Graph returned a user without an id; skipped"
        );
        return None;
    };
    if let Some(removed) = item.removed {
        // §2.3: `changed` = soft-deleted (restorable for 30 days), `deleted` = gone for good.
        let permanent = removed
            .reason
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case("deleted"));
        return Some(DirectoryChange::Removed { id, permanent });
    }
    Some(DirectoryChange::Upsert(DirectoryUser {
        id,
        display_name: item.display_name,
        given_name: item.given_name,
        surname: item.surname,
        mail: item.mail,
        user_principal_name: item.user_principal_name,
        mobile_phone: item.mobile_phone,
        business_phones: item.business_phones.unwrap_or_default(),
        job_title: item.job_title,
        department: item.department,
        office_location: item.office_location,
        account_enabled: item.account_enabled,
        user_type: item.user_type,
        employee_id: item.employee_id,
        usage_location: item.usage_location,
    }))
}

fn to_directory_page(page: Page<UserItem>) -> DirectoryPage {
    DirectoryPage {
        changes: page.items.into_iter().filter_map(to_change).collect(),
        next: page.next_link,
        delta_link: page.delta_link,
    }
}

/// What the operator should grant when Graph says 403 (§1.6: consent missing shows up here).
const USERS_PERMISSION: &str = "grant the app the User.Read.All (or Directory.Read.All) \
application permission with admin consent in Microsoft Entra ID, then reconnect Office 365";
const GROUPS_PERMISSION: &str = "grant the app the GroupMember.Read.All (or Directory.Read.All) \
application permission with admin consent in Microsoft Entra ID, then reconnect Office 365";

/// §2.3: the delta token is expired (`syncStateNotFound`) or no longer valid (`resyncRequired`);
/// either code may sit in `innerError`, and any 4xx can carry it.
pub(crate) fn is_delta_expired(error: &ApiError) -> bool {
    let expired = |code: &str| {
        code.eq_ignore_ascii_case("syncStateNotFound")
            || code.eq_ignore_ascii_case("resyncRequired")
    };
    error.status == 410
        || ((400..500).contains(&error.status)
            && (expired(&error.code) || error.inner_code.as_deref().is_some_and(expired)))
}

/// Graph's own words plus what to do, e.g. "HTTP 403 Authorization_RequestDenied: Insufficient
/// privileges to complete the operation. Grant the app … [request-id …]".
fn describe(error: &ApiError, advice: &str) -> String {
    let mut text = format!("HTTP {} {}", error.status, error.code);
    if let Some(inner) = &error.inner_code {
        text.push_str(&format!(" ({inner})"));
    }
    if !error.message.is_empty() {
        text.push_str(": ");
        text.push_str(error.message.trim_end_matches('.'));
    }
    text.push_str(". ");
    let mut chars = advice.chars();
    if let Some(first) = chars.next() {
        text.extend(first.to_uppercase());
        text.push_str(chars.as_str());
    }
    text.push('.');
    if let Some(id) = &error.request_id {
        text.push_str(&format!(" [request-id {id}]"));
    }
    text
}

/// How a Graph failure reads to the sync. `permission` is the advice for a 403.
pub(crate) fn directory_error(error: GraphError, permission: &str) -> DirectoryError {
    match error {
        GraphError::Api(e) => api_error(&e, permission),
        e @ GraphError::RetriesExhausted { .. } => DirectoryError::Unavailable(e.to_string()),
        e @ (GraphError::Unreachable { .. } | GraphError::Transport(_)) => {
            DirectoryError::Unavailable(e.to_string())
        }
        GraphError::Token(e) => token_error(e),
        e @ (GraphError::Decode { .. } | GraphError::InvalidRequest(_)) => {
            DirectoryError::Protocol(e.to_string())
        }
    }
}

pub(crate) fn api_error(e: &ApiError, permission: &str) -> DirectoryError {
    if is_delta_expired(e) {
        return DirectoryError::DeltaExpired;
    }
    match e.status {
        401 => DirectoryError::Denied(describe(
            e,
            "Graph does not accept the app's access token even after a fresh one; check the app \
             registration, its certificate and this server's clock, then reconnect Office 365",
        )),
        403 => DirectoryError::Denied(describe(e, permission)),
        // Throttled once with a wait longer than the whole budget, or overloaded.
        429 | 500..=599 => DirectoryError::Unavailable(e.to_string()),
        _ => DirectoryError::Protocol(e.to_string()),
    }
}

fn token_error(e: TokenError) -> DirectoryError {
    match e {
        TokenError::Rejected { http_status, .. } if http_status >= 500 => {
            DirectoryError::Unavailable(e.to_string())
        }
        // 700027 (certificate not uploaded), 700016/7000229 (no consent), 7000112 (disabled)…
        TokenError::Rejected { .. } => DirectoryError::Denied(format!(
            "Microsoft Entra ID refused the app's sign-in: {e}. Check the app registration and \
             its certificate (Settings → Office 365)"
        )),
        TokenError::Unreachable { .. } => DirectoryError::Unavailable(e.to_string()),
        TokenError::InvalidKey(_) => DirectoryError::NotConnected(e.to_string()),
        TokenError::Protocol(_) => DirectoryError::Protocol(e.to_string()),
    }
}

/// Microsoft 365 users for the sync: one long-lived value shared by all runs. Every call asks
/// the [`CredentialSource`] for the current credentials (so a rotated certificate or a new
/// connection takes effect at once) and reuses the [`TokenProvider`]'s cache, which is keyed by
/// tenant, app and certificate.
#[derive(Debug, Clone)]
pub struct GraphDirectory {
    tokens: TokenProvider,
    credentials: Arc<dyn CredentialSource>,
}

impl GraphDirectory {
    /// `tokens` is typically [`crate::EntraGateway::tokens`], sharing its cache and HTTP client.
    pub fn new(tokens: TokenProvider, credentials: Arc<dyn CredentialSource>) -> Self {
        Self {
            tokens,
            credentials,
        }
    }

    pub fn tokens(&self) -> &TokenProvider {
        &self.tokens
    }

    /// A client for the current credentials; `NotConnected` (or whatever the source says) is
    /// passed through unchanged.
    async fn client(&self) -> Result<GraphClient, DirectoryError> {
        let owned = self.credentials.app_credentials().await?;
        Ok(GraphClient::new(
            self.tokens.clone(),
            AppCredential::from_owned(owned),
        ))
    }

    async fn one_page(
        &self,
        client: &GraphClient,
        target: String,
    ) -> Result<DirectoryPage, DirectoryError> {
        let mut pager = client.pages::<UserItem>(target);
        let page = pager
            .next_page()
            .await
            .map_err(|e| directory_error(e, USERS_PERMISSION))?
            .ok_or_else(|| DirectoryError::Protocol("Microsoft Graph returned no page".into()))?;
        Ok(to_directory_page(page))
    }

    /// The first `top` items of an advanced (`ConsistencyLevel: eventual`) query.
    async fn search<T: serde::de::DeserializeOwned>(
        &self,
        path: String,
        top: u32,
        permission: &str,
    ) -> Result<Vec<T>, DirectoryError> {
        let client = self.client().await?;
        let request = GraphRequest::get(path).header(
            reqwest::header::HeaderName::from_static("consistencylevel"),
            reqwest::header::HeaderValue::from_static("eventual"),
        );
        let mut pager = client.pages_of::<T>(request);
        let mut items = Vec::new();
        let wanted = usize::try_from(top).unwrap_or(usize::MAX);
        for _ in 0..SEARCH_MAX_PAGES {
            let Some(page) = pager
                .next_page()
                .await
                .map_err(|e| directory_error(e, permission))?
            else {
                break;
            };
            items.extend(page.items);
            if items.len() >= wanted || pager.is_done() {
                break;
            }
        }
        items.truncate(wanted);
        Ok(items)
    }

    /// Follows nextLinks (the service may page even "sync from now") until the deltaLink.
    async fn latest_delta(&self, client: &GraphClient) -> Result<DirectoryPage, DirectoryError> {
        let mut pager = client.pages::<UserItem>(latest_delta_path());
        let mut ignored = 0usize;
        while let Some(page) = pager
            .next_page()
            .await
            .map_err(|e| directory_error(e, USERS_PERMISSION))?
        {
            ignored += page.items.len();
            if let Some(link) = page.delta_link {
                if ignored > 0 {
                    tracing::debug!(ignored, "items in a $deltatoken=latest answer ignored");
                }
                return Ok(DirectoryPage {
                    changes: Vec::new(),
                    next: None,
                    delta_link: Some(link),
                });
            }
        }
        Err(DirectoryError::Protocol(
            "GET /users/delta?$deltatoken=latest ended without an @odata.deltaLink".into(),
        ))
    }
}

/// A stored link must be an absolute URL; the client then refuses any host but Graph's.
fn check_link(link: &str) -> Result<(), DirectoryError> {
    if link.starts_with("https://") || link.starts_with("http://") {
        Ok(())
    } else {
        Err(DirectoryError::Protocol(format!(
            "a directory link must be an absolute URL (an @odata.nextLink or @odata.deltaLink), not {link:?}"
        )))
    }
}

#[async_trait]
impl DirectorySource for GraphDirectory {
    async fn users_page(&self, cursor: &DirectoryCursor) -> Result<DirectoryPage, DirectoryError> {
        let client = self.client().await?;
        let page = match cursor {
            DirectoryCursor::FullList { include_guests } => {
                self.one_page(&client, full_list_path(*include_guests))
                    .await?
            }
            DirectoryCursor::LatestDelta => self.latest_delta(&client).await?,
            DirectoryCursor::Link(link) => {
                check_link(link)?;
                self.one_page(&client, link.clone()).await?
            }
        };
        tracing::debug!(
            cursor = match cursor {
                DirectoryCursor::FullList { .. } => "full",
                DirectoryCursor::LatestDelta => "latest-delta",
                DirectoryCursor::Link(_) => "link",
            },
            changes = page.changes.len(),
            more = page.next.is_some(),
            delta_link = page.delta_link.is_some(),
            "directory page read"
        );
        Ok(page)
    }

    /// `GET /users?$filter=id in (…)` with at most 15 ids per request (a conservative bound
    /// for `in` on directory objects). Ids that are not GUIDs are skipped, so nothing an id holds
    /// can change the filter.
    async fn users_by_ids(&self, ids: &[String]) -> Result<Vec<DirectoryUser>, DirectoryError> {
        let ids: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let mut users = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(15) {
            let list = chunk
                .iter()
                .map(|id| format!("%27{id}%27"))
                .collect::<Vec<_>>()
                .join(",");
            let path = format!("/users?$select={USER_SELECT}&$filter=id%20in%20({list})");
            let page = self.one_page(&client, path).await?;
            users.extend(page.changes.into_iter().filter_map(|c| match c {
                DirectoryChange::Upsert(u) => Some(u),
                DirectoryChange::Removed { .. } => None,
            }));
        }
        Ok(users)
    }

    async fn group_member_ids(&self, group_id: &str) -> Result<Vec<String>, DirectoryError> {
        let group_id = group_id.trim();
        if group_id.is_empty() {
            return Err(DirectoryError::Protocol("the group id is empty".into()));
        }
        let client = self.client().await?;
        let mut pager = client.pages::<MemberItem>(group_members_path(group_id));
        let mut seen = HashSet::new();
        let mut ids = Vec::new();
        while let Some(page) = pager
            .next_page()
            .await
            .map_err(|e| directory_error(e, GROUPS_PERMISSION))?
        {
            for id in page.items.into_iter().filter_map(|m| m.id) {
                if seen.insert(id.clone()) {
                    ids.push(id);
                }
            }
        }
        tracing::debug!(
            members = ids.len(),
            pages = pager.pages_fetched(),
            "group members read"
        );
        Ok(ids)
    }

    async fn search_users(
        &self,
        query: &str,
        limit: u32,
    ) -> Result<Vec<DirectoryUser>, DirectoryError> {
        let Some(term) = search_term(query) else {
            return Ok(Vec::new());
        };
        let top = limit.clamp(1, SEARCH_LIMIT);
        let items: Vec<UserItem> = self
            .search(user_search_path(&term, top), top, USERS_PERMISSION)
            .await?;
        let users: Vec<DirectoryUser> = items
            .into_iter()
            .filter_map(to_change)
            .filter_map(|change| match change {
                DirectoryChange::Upsert(user) => Some(user),
                DirectoryChange::Removed { .. } => None,
            })
            .collect();
        tracing::debug!(found = users.len(), "directory users searched");
        Ok(users)
    }

    async fn search_groups(
        &self,
        query: &str,
        limit: u32,
    ) -> Result<Vec<DirectoryGroup>, DirectoryError> {
        let Some(term) = search_term(query) else {
            return Ok(Vec::new());
        };
        let top = limit.clamp(1, SEARCH_LIMIT);
        let items: Vec<GroupItem> = self
            .search(group_search_path(&term, top), top, GROUPS_PERMISSION)
            .await?;
        let groups: Vec<DirectoryGroup> = items
            .into_iter()
            .filter_map(|g| {
                let id = g.id.filter(|id| !id.trim().is_empty())?;
                Some(DirectoryGroup {
                    display_name: g
                        .display_name
                        .filter(|n| !n.trim().is_empty())
                        .unwrap_or_else(|| id.clone()),
                    id,
                    mail: g.mail.filter(|m| !m.trim().is_empty()),
                })
            })
            .collect();
        tracing::debug!(found = groups.len(), "directory groups searched");
        Ok(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn page(json: &str) -> DirectoryPage {
        #[derive(Deserialize)]
        struct Raw {
            value: Vec<UserItem>,
        }
        let raw: Raw = serde_json::from_str(json).expect("page");
        to_directory_page(Page {
            items: raw.value,
            next_link: None,
            delta_link: None,
        })
    }

    #[test]
    fn select_is_one_list_with_the_properties_delta_cannot_filter() {
        let names: Vec<&str> = USER_SELECT.split(',').collect();
        assert_eq!(names.len(), 15);
        for needed in [
            "id",
            "accountEnabled",
            "userType",
            "businessPhones",
            "usageLocation",
        ] {
            assert!(names.contains(&needed), "{needed}");
        }
        assert!(!USER_SELECT.contains(' '));
        assert_eq!(
            full_list_path(true),
            format!("/users?$select={USER_SELECT}&$top=999")
        );
        assert_eq!(
            full_list_path(false),
            format!("/users?$select={USER_SELECT}&$top=999&$filter=userType%20eq%20%27Member%27")
        );
        assert!(!full_list_path(false).contains("accountEnabled%20eq"));
        assert_eq!(
            latest_delta_path(),
            format!("/users/delta?$select={USER_SELECT}&$deltatoken=latest")
        );
    }

    #[test]
    fn group_ids_cannot_escape_their_segment() {
        let guid = "6a1e0b3c-58f4-4a8e-9d1b-3c2f00a1b2c3";
        assert_eq!(
            group_members_path(guid),
            format!("/groups/{guid}/transitiveMembers/microsoft.graph.user?$select=id&$top=999")
        );
        assert_eq!(encode_segment("../users?x=1"), "%2E%2E%2Fusers%3Fx%3D1");
    }

    #[test]
    fn null_and_absent_are_none_and_business_phones_default_to_empty() {
        let p = page(
            r##"{"value":[
              {"id":"a","displayName":"Adele","mobilePhone":null,"businessPhones":["+1 425 555 0109"],
               "accountEnabled":false,"userType":"Member","usageLocation":"CH","newProperty":{"x":1},"@odata.type":"#microsoft.graph.user"},
              {"displayName":"Ghost without id"},
              {"id":"b","businessPhones":null},
              {"id":"c"},
              {"id":"d","@removed":{"reason":"changed"}},
              {"@odata.type":"#microsoft.graph.user","id":"e","@removed":{"reason":"deleted"}},
              {"id":""}
            ]}"##,
        );
        assert_eq!(p.changes.len(), 5, "{:?}", p.changes);
        let DirectoryChange::Upsert(a) = &p.changes[0] else {
            panic!("{:?}", p.changes[0]);
        };
        assert_eq!(a.id, "a");
        assert_eq!(a.display_name.as_deref(), Some("Adele"));
        assert_eq!(a.mobile_phone, None);
        assert_eq!(a.surname, None);
        assert_eq!(a.business_phones, ["+1 425 555 0109"]);
        assert_eq!(a.account_enabled, Some(false));
        assert_eq!(a.user_type.as_deref(), Some("Member"));
        assert_eq!(a.usage_location.as_deref(), Some("CH"));
        for (change, id) in p.changes[1..3].iter().zip(["b", "c"]) {
            match change {
                DirectoryChange::Upsert(u) => {
                    assert_eq!(u.id, id);
                    assert!(u.business_phones.is_empty());
                    assert_eq!(u.account_enabled, None);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            p.changes[3],
            DirectoryChange::Removed {
                id: "d".into(),
                permanent: false
            }
        );
        assert_eq!(
            p.changes[4],
            DirectoryChange::Removed {
                id: "e".into(),
                permanent: true
            }
        );
    }

    fn api(status: u16, code: &str, inner: Option<&str>) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: "Insufficient privileges to complete the operation.".into(),
            inner_code: inner.map(str::to_owned),
            request_id: Some("rid-1".into()),
            client_request_id: None,
            date: None,
            retry_after: None,
        }
    }

    fn map(e: ApiError) -> DirectoryError {
        directory_error(GraphError::Api(Box::new(e)), USERS_PERMISSION)
    }

    #[test]
    fn expired_delta_tokens_in_every_form() {
        assert_eq!(map(api(410, "Gone", None)), DirectoryError::DeltaExpired);
        assert_eq!(
            map(api(410, "resyncRequired", None)),
            DirectoryError::DeltaExpired
        );
        assert_eq!(
            map(api(400, "syncStateNotFound", None)),
            DirectoryError::DeltaExpired
        );
        assert_eq!(
            map(api(404, "resyncRequired", None)),
            DirectoryError::DeltaExpired
        );
        assert_eq!(
            map(api(400, "BadRequest", Some("syncStateNotFound"))),
            DirectoryError::DeltaExpired
        );
        // Only 4xx: a 5xx naming the code is an outage.
        assert!(matches!(
            map(api(500, "syncStateNotFound", None)),
            DirectoryError::Unavailable(_)
        ));
    }

    #[test]
    fn denied_quotes_graph_and_says_what_to_grant() {
        let DirectoryError::Denied(text) = map(api(403, "Authorization_RequestDenied", None))
        else {
            panic!("expected Denied");
        };
        assert_eq!(
            text,
            "HTTP 403 Authorization_RequestDenied: Insufficient privileges to complete the \
             operation. Grant the app the User.Read.All (or Directory.Read.All) application \
             permission with admin consent in Microsoft Entra ID, then reconnect Office 365. \
             [request-id rid-1]"
        );
        assert!(matches!(
            map(api(401, "InvalidAuthenticationToken", None)),
            DirectoryError::Denied(t) if t.contains("clock")
        ));
    }

    #[test]
    fn outages_and_protocol_errors() {
        let exhausted = GraphError::RetriesExhausted {
            attempts: 6,
            waited: Duration::from_secs(3),
            last: Box::new(api(503, "serviceNotAvailable", None)),
        };
        assert!(matches!(
            directory_error(exhausted, USERS_PERMISSION),
            DirectoryError::Unavailable(t) if t.contains("6 attempts")
        ));
        assert!(matches!(
            map(api(429, "TooManyRequests", None)),
            DirectoryError::Unavailable(_)
        ));
        assert!(matches!(
            map(api(400, "Request_BadRequest", None)),
            DirectoryError::Protocol(_)
        ));
        let decode = GraphError::Decode {
            detail: "expected value".into(),
            request_id: None,
        };
        assert!(matches!(
            directory_error(decode, USERS_PERMISSION),
            DirectoryError::Protocol(_)
        ));
        let unreachable = GraphError::Unreachable {
            host: "graph.microsoft.com:443".into(),
            detail: "refused".into(),
        };
        assert!(matches!(
            directory_error(unreachable, USERS_PERMISSION),
            DirectoryError::Unavailable(_)
        ));
        let rejected = TokenError::Rejected {
            http_status: 401,
            error: "invalid_client".into(),
            codes: vec![700027],
            description: "AADSTS700027: Client assertion contains an invalid signature.".into(),
        };
        assert!(matches!(
            directory_error(GraphError::Token(rejected), USERS_PERMISSION),
            DirectoryError::Denied(t) if t.contains("AADSTS700027")
        ));
        assert!(matches!(
            token_error(TokenError::InvalidKey("bad".into())),
            DirectoryError::NotConnected(_)
        ));
    }

    #[test]
    fn search_terms_lose_quotes_and_backslashes() {
        assert_eq!(search_term("  adele   van "), Some("adele van".into()));
        assert_eq!(search_term("O\"Brien"), Some("OBrien".into()));
        assert_eq!(search_term("a\\\"b"), Some("ab".into()));
        assert_eq!(search_term("\""), None);
        assert_eq!(search_term("   "), None);
        assert_eq!(search_term("a\tb"), Some("a b".into()));
        assert_eq!(
            user_search_path("ad el", 5),
            format!(
                "/users?$search=%22displayName%3Aad%20el%22%20OR%20%22userPrincipalName%3Aad%20el%22%20OR%20%22mail%3Aad%20el%22&$select={SEARCH_USER_SELECT}&$top=5"
            )
        );
        assert_eq!(
            group_search_path("x&y", 25),
            format!(
                "/groups?$search=%22displayName%3Ax%26y%22%20OR%20%22mail%3Ax%26y%22&$select={SEARCH_GROUP_SELECT}&$top=25"
            )
        );
    }

    #[test]
    fn links_must_be_absolute() {
        assert!(check_link("https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x").is_ok());
        assert!(check_link("http://127.0.0.1:5/v1.0/users?$skiptoken=x").is_ok());
        assert!(matches!(
            check_link("/users?$skiptoken=x"),
            Err(DirectoryError::Protocol(_))
        ));
        assert!(check_link("").is_err());
    }
}
