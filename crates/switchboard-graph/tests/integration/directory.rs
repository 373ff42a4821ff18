//! The core's DirectorySource against the emulator's directory: the full list, "sync from now",
//! delta rounds with changes, expired tokens, missing permissions, throttling and group members.

use crate::common::*;
use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use switchboard_core::office365::SigningAlgorithm;
use switchboard_core::ports::{
    CredentialSource, DirectoryChange, DirectoryCursor, DirectoryError, DirectoryPage,
    DirectorySource as _, OwnedAppCredentials,
};
use switchboard_core::users::DirectoryUser;
use switchboard_graph::{GraphDirectory, RetryPolicy, TokenProvider};

const USERS: &str = "GET /v1.0/users";
const DELTA: &str = "GET /v1.0/users/delta";
const TRANSITIVE_USERS: &str = "GET /v1.0/groups/{id}/transitiveMembers/microsoft.graph.user";

/// What core's ConnectionService would hand out: the credentials of an app registered in the
/// emulator.
#[derive(Debug)]
struct FixedCredentials(OwnedAppCredentials);

#[async_trait]
impl CredentialSource for FixedCredentials {
    async fn app_credentials(&self) -> Result<OwnedAppCredentials, DirectoryError> {
        Ok(self.0.clone())
    }
}

/// Office 365 not connected yet.
#[derive(Debug)]
struct NoConnection;

#[async_trait]
impl CredentialSource for NoConnection {
    async fn app_credentials(&self) -> Result<OwnedAppCredentials, DirectoryError> {
        Err(DirectoryError::NotConnected(
            "connect Office 365 first (Settings → Office 365)".into(),
        ))
    }
}

async fn directory_with(h: &Harness, roles: &[&str], retry: RetryPolicy) -> GraphDirectory {
    let generated = generate().await;
    let app = h
        .register_app(&[&generated.certificate_pem], roles, true)
        .await;
    let owned = Owned::new(
        h.emulator.tenant_id(),
        &app,
        SigningAlgorithm::Rs256,
        &generated,
    );
    let credentials = OwnedAppCredentials {
        tenant: owned.tenant.clone(),
        client_id: owned.client_id.clone(),
        algorithm: owned.algorithm,
        certificate: owned.certificate.clone(),
        private_key_pem: owned.key.clone(),
    };
    let mut config = h.config();
    config.retry = retry;
    let tokens = TokenProvider::new(config, h.clock()).expect("tokens");
    GraphDirectory::new(tokens, Arc::new(FixedCredentials(credentials)))
}

async fn directory(h: &Harness, roles: &[&str]) -> GraphDirectory {
    directory_with(h, roles, fast_retry()).await
}

/// Every page from `first` on: the changes, the pages read and the final deltaLink.
async fn walk(
    dir: &GraphDirectory,
    first: DirectoryCursor,
) -> (Vec<DirectoryChange>, usize, Option<String>) {
    let mut cursor = first;
    let mut changes = Vec::new();
    let mut pages = 0;
    loop {
        let page: DirectoryPage = dir.users_page(&cursor).await.expect("page");
        pages += 1;
        changes.extend(page.changes);
        match page.next {
            Some(next) => {
                assert!(page.delta_link.is_none(), "deltaLink only on the last page");
                cursor = DirectoryCursor::Link(next);
            }
            None => return (changes, pages, page.delta_link),
        }
    }
}

fn upserts(changes: Vec<DirectoryChange>) -> Vec<DirectoryUser> {
    changes
        .into_iter()
        .map(|c| match c {
            DirectoryChange::Upsert(u) => u,
            other => panic!("a full list has only users, got {other:?}"),
        })
        .collect()
}

/// The tenant as the control API shows it (every property, nulls included), live users only.
async fn tenant_users(h: &Harness) -> HashMap<String, Value> {
    let all = h.control(Method::GET, "users?limit=100000", None).await;
    all["value"]
        .as_array()
        .expect("users")
        .iter()
        .filter(|u| u["softDeleted"] != json!(true))
        .map(|u| (u["id"].as_str().expect("id").to_owned(), u.clone()))
        .collect()
}

fn text(v: &Value, name: &str) -> Option<String> {
    match &v[name] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => panic!("{name}: {other}"),
    }
}

/// The mapped user says exactly what Graph holds.
fn assert_same(user: &DirectoryUser, graph: &Value) {
    assert_eq!(user.display_name, text(graph, "displayName"));
    assert_eq!(user.given_name, text(graph, "givenName"));
    assert_eq!(user.surname, text(graph, "surname"));
    assert_eq!(user.mail, text(graph, "mail"));
    assert_eq!(user.user_principal_name, text(graph, "userPrincipalName"));
    assert_eq!(user.mobile_phone, text(graph, "mobilePhone"));
    assert_eq!(user.job_title, text(graph, "jobTitle"));
    assert_eq!(user.department, text(graph, "department"));
    assert_eq!(user.office_location, text(graph, "officeLocation"));
    assert_eq!(user.user_type, text(graph, "userType"));
    assert_eq!(user.employee_id, text(graph, "employeeId"));
    assert_eq!(user.usage_location, text(graph, "usageLocation"));
    assert_eq!(user.account_enabled, graph["accountEnabled"].as_bool());
    let phones: Vec<String> = graph["businessPhones"]
        .as_array()
        .expect("businessPhones")
        .iter()
        .map(|p| p.as_str().expect("phone").to_owned())
        .collect();
    assert_eq!(user.business_phones, phones);
}

#[tokio::test]
async fn full_list_of_2500_users_is_three_pages_plus_one_for_the_delta_link() {
    let h = Harness::start_with_users(2500, 7).await;
    let dir = directory(&h, &ROLES).await;
    let tenant = tenant_users(&h).await;
    assert_eq!(tenant.len(), 2500);

    let (changes, pages, delta_link) = walk(
        &dir,
        DirectoryCursor::FullList {
            include_guests: true,
        },
    )
    .await;
    assert_eq!(pages, 3, "ceil(2500 / 999)");
    assert_eq!(h.count(USERS, 200).await, 3);
    assert!(delta_link.is_none(), "/users has no deltaLink");
    let users = upserts(changes);
    assert_eq!(users.len(), 2500);
    let ids: HashSet<&str> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids.len(), 2500, "every user exactly once");
    for user in &users {
        assert_same(user, &tenant[&user.id]);
    }
    // The mapping met every case: nulls, empty and non-empty phone lists, guests, disabled.
    assert!(users.iter().any(|u| u.mobile_phone.is_none()));
    assert!(users.iter().any(|u| u.mobile_phone.is_some()));
    assert!(users.iter().any(|u| u.business_phones.is_empty()));
    assert!(users.iter().any(|u| !u.business_phones.is_empty()));
    assert!(users.iter().any(|u| u.is_guest()));
    assert!(users.iter().any(|u| !u.is_enabled()));
    assert!(users.iter().all(|u| u.account_enabled.is_some()));

    // "Sync from now": one request, no changes, a deltaLink.
    let latest = dir
        .users_page(&DirectoryCursor::LatestDelta)
        .await
        .expect("latest");
    assert!(latest.changes.is_empty());
    assert!(latest.next.is_none());
    let link = latest.delta_link.expect("deltaLink");
    assert!(link.starts_with(&h.emulator.base_url()), "{link}");
    assert_eq!(h.count(DELTA, 200).await, 1);

    // N = 2500 cost ceil(N/999) + 1 Graph requests and one token.
    let stats = h.stats().await;
    let graph: u64 = stats["routes"]
        .as_object()
        .expect("routes")
        .iter()
        .filter(|(route, _)| route.contains("/v1.0/"))
        .flat_map(|(_, by_status)| by_status.as_object().expect("statuses").values())
        .map(|n| n.as_u64().expect("count"))
        .sum();
    assert_eq!(graph, 4);
    assert_eq!(h.token_requests(200).await, 1);
}

#[tokio::test]
async fn guests_are_excluded_server_side_and_disabled_members_kept() {
    let h = Harness::start_with_users(2500, 11).await;
    let dir = directory(&h, &ROLES).await;
    let tenant = tenant_users(&h).await;
    let members: Vec<&Value> = tenant
        .values()
        .filter(|u| u["userType"] != json!("Guest"))
        .collect();
    let disabled_members = members
        .iter()
        .filter(|u| u["accountEnabled"] == json!(false))
        .count();
    assert!(members.len() < 2500 && disabled_members > 0);

    let (changes, pages, _) = walk(
        &dir,
        DirectoryCursor::FullList {
            include_guests: false,
        },
    )
    .await;
    let users = upserts(changes);
    assert_eq!(pages, members.len().div_ceil(999));
    assert_eq!(h.count(USERS, 200).await, pages as u64);
    assert_eq!(users.len(), members.len());
    assert!(users.iter().all(|u| !u.is_guest()), "no Guest userType");
    assert_eq!(
        users.iter().filter(|u| !u.is_enabled()).count(),
        disabled_members,
        "disabled accounts are listed"
    );
    for user in &users {
        assert_same(user, &tenant[&user.id]);
    }
}

#[tokio::test]
async fn delta_rounds_carry_upserts_and_removals_then_a_new_link() {
    let h = Harness::start_with_users(40, 3).await;
    let dir = directory(&h, &ROLES).await;
    let latest = dir
        .users_page(&DirectoryCursor::LatestDelta)
        .await
        .expect("latest");
    assert!(latest.changes.is_empty());
    let link = latest.delta_link.expect("deltaLink");

    // Small delta pages, so the round spans several nextLinks.
    h.control(Method::POST, "quirks", Some(json!({"delta_page_size": 2})))
        .await;
    let mut ids: Vec<String> = tenant_users(&h).await.into_keys().collect();
    ids.sort();
    let (edited, soft, purged, bounced, untracked) = (&ids[0], &ids[1], &ids[2], &ids[3], &ids[4]);
    h.control(
        Method::PATCH,
        &format!("users/{edited}"),
        Some(json!({"mobilePhone": "+49 170 1234567", "jobTitle": null, "accountEnabled": false})),
    )
    .await;
    h.control(Method::DELETE, &format!("users/{soft}"), None)
        .await;
    h.control(
        Method::DELETE,
        &format!("users/{purged}?permanent=true"),
        None,
    )
    .await;
    h.control(Method::DELETE, &format!("users/{bounced}"), None)
        .await;
    h.control(Method::POST, &format!("users/{bounced}/restore"), None)
        .await;
    // Not a selected property: not tracked, so not a change (§2.3).
    h.control(
        Method::PATCH,
        &format!("users/{untracked}"),
        Some(json!({"city": "Berlin"})),
    )
    .await;
    let created = h
        .control(
            Method::POST,
            "users",
            Some(json!({
                "displayName": "Nestor Wilke",
                "givenName": "Nestor",
                "userPrincipalName": "nestor.wilke@contoso.onmicrosoft.com",
            })),
        )
        .await;
    let created = created["id"].as_str().expect("id").to_owned();

    let (changes, pages, next_link) = walk(&dir, DirectoryCursor::Link(link.clone())).await;
    assert!(pages >= 3, "{pages} pages for {} changes", changes.len());
    let next_link = next_link.expect("a new deltaLink");
    assert_ne!(next_link, link);

    // Replays are allowed (§2.3): the last word per id counts.
    let mut last: HashMap<String, DirectoryChange> = HashMap::new();
    for change in changes {
        let id = match &change {
            DirectoryChange::Upsert(u) => u.id.clone(),
            DirectoryChange::Removed { id, .. } => id.clone(),
        };
        last.insert(id, change);
    }
    let mut seen: Vec<&str> = last.keys().map(String::as_str).collect();
    seen.sort();
    let mut expected = vec![
        edited.as_str(),
        soft.as_str(),
        purged.as_str(),
        bounced.as_str(),
        created.as_str(),
    ];
    expected.sort();
    assert_eq!(seen, expected, "only the changed users");

    match &last[edited] {
        DirectoryChange::Upsert(u) => {
            assert_eq!(u.mobile_phone.as_deref(), Some("+49 170 1234567"));
            assert_eq!(u.job_title, None);
            assert_eq!(u.account_enabled, Some(false));
            assert!(u.display_name.is_some(), "unchanged properties come too");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        last[soft],
        DirectoryChange::Removed {
            id: soft.clone(),
            permanent: false
        }
    );
    assert_eq!(
        last[purged],
        DirectoryChange::Removed {
            id: purged.clone(),
            permanent: true
        }
    );
    assert!(
        matches!(&last[bounced], DirectoryChange::Upsert(u) if u.id == *bounced),
        "a restored user comes back as a user"
    );
    match &last[&created] {
        DirectoryChange::Upsert(u) => {
            assert_eq!(u.display_name.as_deref(), Some("Nestor Wilke"));
            assert_eq!(u.given_name.as_deref(), Some("Nestor"));
            // Never set: left out of the delta item, read as None / empty.
            assert_eq!(u.surname, None);
            assert_eq!(u.mobile_phone, None);
            assert!(u.business_phones.is_empty());
            assert_eq!(u.user_type.as_deref(), Some("Member"));
        }
        other => panic!("{other:?}"),
    }

    // The new link starts after these changes.
    let (changes, _, again) = walk(&dir, DirectoryCursor::Link(next_link)).await;
    assert!(changes.is_empty(), "{changes:?}");
    assert!(again.is_some());
}

#[tokio::test]
async fn expired_delta_tokens_are_delta_expired_in_both_modes() {
    let h = Harness::start_with_users(20, 5).await;
    let dir = directory(&h, &ROLES).await;
    let latest = |dir: GraphDirectory| async move {
        dir.users_page(&DirectoryCursor::LatestDelta)
            .await
            .expect("latest")
            .delta_link
            .expect("deltaLink")
    };

    // 410 Gone (with a Location the port has no use for: the core restarts a full sync).
    let link = latest(dir.clone()).await;
    h.control(Method::POST, "delta/expire", Some(json!({"mode": "gone"})))
        .await;
    let result = dir.users_page(&DirectoryCursor::Link(link)).await;
    assert!(
        matches!(result, Err(DirectoryError::DeltaExpired)),
        "{result:?}"
    );
    assert_eq!(h.count(DELTA, 410).await, 1);

    // 4xx syncStateNotFound.
    let link = latest(dir.clone()).await;
    h.control(
        Method::POST,
        "delta/expire",
        Some(json!({"mode": "syncStateNotFound"})),
    )
    .await;
    let result = dir.users_page(&DirectoryCursor::Link(link)).await;
    assert!(
        matches!(result, Err(DirectoryError::DeltaExpired)),
        "{result:?}"
    );
    assert_eq!(h.count(DELTA, 400).await, 1);

    // Seven days old (§2.3): expired too, with both clocks moved.
    let link = latest(dir.clone()).await;
    let week = 7 * 86_400 + 60;
    h.clock.advance(week);
    h.advance_emulator(week).await;
    let result = dir.users_page(&DirectoryCursor::Link(link)).await;
    assert!(
        matches!(result, Err(DirectoryError::DeltaExpired)),
        "{result:?}"
    );
    // Not retried: one answer per expired link.
    assert_eq!(h.count(DELTA, 400).await, 2);
}

#[tokio::test]
async fn without_roles_graph_403_is_denied_with_advice() {
    let h = Harness::start_with_users(10, 1).await;
    let dir = directory(&h, &[]).await;
    for cursor in [
        DirectoryCursor::FullList {
            include_guests: false,
        },
        DirectoryCursor::LatestDelta,
    ] {
        match dir.users_page(&cursor).await {
            Err(DirectoryError::Denied(text)) => {
                assert!(text.contains("403 Authorization_RequestDenied"), "{text}");
                assert!(text.contains("Insufficient privileges"), "{text}");
                assert!(text.contains("User.Read.All"), "{text}");
                assert!(text.contains("request-id"), "{text}");
            }
            other => panic!("expected Denied, got {other:?}"),
        }
    }
    assert_eq!(h.count(USERS, 403).await, 1, "403 is not retried");
    let group = h
        .control(
            Method::POST,
            "groups",
            Some(json!({"displayName": "Phones"})),
        )
        .await;
    match dir
        .group_member_ids(group["id"].as_str().expect("id"))
        .await
    {
        Err(DirectoryError::Denied(text)) => {
            assert!(text.contains("GroupMember.Read.All"), "{text}");
        }
        other => panic!("expected Denied, got {other:?}"),
    }
}

#[tokio::test]
async fn throttled_and_unavailable_pages_are_retried_transparently() {
    let h = Harness::start_with_users(2500, 9).await;
    let dir = directory(&h, &ROLES).await;
    let first = dir
        .users_page(&DirectoryCursor::FullList {
            include_guests: true,
        })
        .await
        .expect("page 1");
    h.fault(
        json!({"path_prefix": "/v1.0/users", "status": 429, "retry_after": "0.05", "count": 1}),
    )
    .await;
    let second = dir
        .users_page(&DirectoryCursor::Link(first.next.clone().expect("next")))
        .await
        .expect("page 2 after a 429");
    h.fault(json!({"path_prefix": "/v1.0/users", "status": 503, "count": 2}))
        .await;
    let third = dir
        .users_page(&DirectoryCursor::Link(second.next.clone().expect("next")))
        .await
        .expect("page 3 after two 503s");
    assert!(third.next.is_none());
    assert_eq!(
        first.changes.len() + second.changes.len() + third.changes.len(),
        2500
    );
    h.fault(json!({"path_prefix": "/v1.0/users/delta", "status": 504, "count": 1}))
        .await;
    let latest = dir
        .users_page(&DirectoryCursor::LatestDelta)
        .await
        .expect("latest after a 504");
    assert!(latest.delta_link.is_some());
    assert_eq!(h.count(USERS, 200).await, 3);
    assert_eq!(h.count(USERS, 429).await, 1);
    assert_eq!(h.count(USERS, 503).await, 2);
    assert_eq!(h.count(DELTA, 504).await, 1);

    // A budget that runs out is an outage, not a hang.
    let short = directory_with(
        &h,
        &ROLES,
        RetryPolicy {
            max_attempts: 3,
            ..fast_retry()
        },
    )
    .await;
    h.fault(json!({"path_prefix": "/v1.0/users", "status": 503, "count": 10}))
        .await;
    match short
        .users_page(&DirectoryCursor::FullList {
            include_guests: true,
        })
        .await
    {
        Err(DirectoryError::Unavailable(text)) => assert!(text.contains("503"), "{text}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(h.count(USERS, 503).await, 2 + 3);
}

#[tokio::test]
async fn group_members_are_transitive_users_across_pages() {
    let h = Harness::start_with_users(2500, 13).await;
    let dir = directory(&h, &ROLES).await;
    let mut ids: Vec<String> = tenant_users(&h).await.into_keys().collect();
    ids.sort();
    let inner = h
        .control(
            Method::POST,
            "groups",
            Some(json!({"displayName": "Phones Inner", "members": ids[..700]})),
        )
        .await;
    let inner = inner["id"].as_str().expect("id").to_owned();
    let mut outer_members: Vec<String> = ids[700..1200].to_vec();
    outer_members.push(inner.clone());
    let outer = h
        .control(
            Method::POST,
            "groups",
            Some(json!({"displayName": "Phones Outer", "members": outer_members})),
        )
        .await;
    let outer = outer["id"].as_str().expect("id").to_owned();

    let members = dir.group_member_ids(&outer).await.expect("members");
    let got: HashSet<&str> = members.iter().map(String::as_str).collect();
    assert_eq!(members.len(), 1200, "users only, each once");
    assert_eq!(got, ids[..1200].iter().map(String::as_str).collect());
    assert!(!got.contains(inner.as_str()), "nested groups are not users");
    assert_eq!(h.count(TRANSITIVE_USERS, 200).await, 2, "ceil(1200 / 999)");

    // A member added later to the nested group shows through.
    h.control(
        Method::POST,
        &format!("groups/{inner}/members/{}", ids[2000]),
        None,
    )
    .await;
    let members = dir.group_member_ids(&outer).await.expect("members");
    assert_eq!(members.len(), 1201);
    assert!(members.contains(&ids[2000]));
    assert_eq!(
        dir.group_member_ids(&inner).await.expect("inner").len(),
        701
    );
}

#[tokio::test]
async fn not_connected_passes_through_and_bad_links_are_refused() {
    let h = Harness::start_with_users(5, 1).await;
    let tokens = TokenProvider::new(h.config(), h.clock()).expect("tokens");
    let dir = GraphDirectory::new(tokens, Arc::new(NoConnection));
    let expected =
        DirectoryError::NotConnected("connect Office 365 first (Settings → Office 365)".into());
    match dir.users_page(&DirectoryCursor::LatestDelta).await {
        Err(e) => assert_eq!(e, expected),
        Ok(p) => panic!("{p:?}"),
    }
    assert_eq!(
        dir.group_member_ids("6a1e0b3c-58f4-4a8e-9d1b-3c2f00a1b2c3")
            .await,
        Err(expected)
    );
    assert_eq!(h.stats().await["total"], json!(0), "nothing was sent");

    let dir = directory(&h, &ROLES).await;
    for link in [
        "http://203.0.113.9/v1.0/users/delta?$deltatoken=x".to_owned(),
        "/users?$skiptoken=x".to_owned(),
    ] {
        match dir.users_page(&DirectoryCursor::Link(link.clone())).await {
            Err(DirectoryError::Protocol(_)) => {}
            other => panic!("{link}: expected Protocol, got {other:?}"),
        }
    }
    // Both refused before a token was even needed: nothing went anywhere.
    assert_eq!(h.stats().await["total"], json!(0));
}

/// Users and groups for the picker: `$search` with `ConsistencyLevel: eventual` (§2.2).
#[tokio::test]
async fn search_finds_users_by_name_and_upn_prefix_and_groups() {
    let h = Harness::start_with_users(60, 21).await;
    let dir = directory(&h, &ROLES).await;
    let domain = h.emulator.tenant_domain();
    let zeb = h
        .control(
            Method::POST,
            "users",
            Some(json!({
                "displayName": "Zebulon Quartermaine",
                "userPrincipalName": format!("zq.phones@{domain}"),
                "mail": format!("zebulon.q@{domain}"),
                "department": "Sales",
            })),
        )
        .await;
    let zeb_id = zeb["id"].as_str().expect("id").to_owned();
    h.control(
        Method::POST,
        "users",
        Some(json!({
            "displayName": "Yolanda Guestperson",
            "userPrincipalName": format!("yolanda_fabrikam.com#EXT#@{domain}"),
            "userType": "Guest",
            "accountEnabled": false,
        })),
    )
    .await;
    for n in ["One", "Two", "Three", "Four", "Five"] {
        h.control(
            Method::POST,
            "users",
            Some(json!({"displayName": format!("Limitcase {n}")})),
        )
        .await;
    }

    // Part of the name: the start of any word, any case.
    let found = dir.search_users("quarter", 10).await.expect("by name");
    assert_eq!(found.len(), 1, "{found:?}");
    let user = &found[0];
    assert_eq!(user.id, zeb_id);
    assert_eq!(user.display_name.as_deref(), Some("Zebulon Quartermaine"));
    let upn = format!("zq.phones@{domain}");
    assert_eq!(user.user_principal_name.as_deref(), Some(upn.as_str()));
    assert_eq!(user.department.as_deref(), Some("Sales"));
    assert_eq!(user.account_enabled, Some(true));
    assert_eq!(user.user_type.as_deref(), Some("Member"));
    assert_eq!(
        dir.search_users("zebulon quart", 10)
            .await
            .expect("two words")[0]
            .id,
        zeb_id
    );
    // UPN prefix (the display name does not contain it).
    let found = dir.search_users("zq.pho", 10).await.expect("by upn");
    assert_eq!(
        found.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        [zeb_id.as_str()]
    );
    // Guests and disabled accounts are found, with what the badge needs.
    let guest = dir.search_users("guestperson", 10).await.expect("guest");
    assert_eq!(guest.len(), 1);
    assert!(guest[0].is_guest());
    assert!(!guest[0].is_enabled());

    // The limit, and the cap of 25.
    assert_eq!(dir.search_users("limitcase", 3).await.expect("3").len(), 3);
    assert_eq!(
        dir.search_users("limitcase", 500).await.expect("all").len(),
        5
    );
    assert!(
        dir.search_users("nobodyhasthisname", 10)
            .await
            .expect("none")
            .is_empty()
    );
    let before = h.count(USERS, 200).await;
    assert_eq!(before, 7, "one request per search");

    // Quotes cannot break the $search expression; a blank query never reaches Graph.
    let found = dir.search_users("Quarter\"maine", 10).await;
    assert!(found.is_ok(), "{found:?}");
    let found = dir
        .search_users("a\" OR \"displayName:z", 10)
        .await
        .expect("injection is just text");
    assert!(found.iter().all(|u| u.id != zeb_id), "{found:?}");
    assert_eq!(
        dir.search_users("\"Zebulon\"", 10).await.expect("quoted")[0].id,
        zeb_id
    );
    assert!(dir.search_users("  ", 10).await.expect("blank").is_empty());
    assert!(
        dir.search_users("\"\"", 10)
            .await
            .expect("quotes")
            .is_empty()
    );
    assert!(dir.search_groups("", 10).await.expect("blank").is_empty());
    assert_eq!(h.count(USERS, 200).await, before + 3);
    assert_eq!(h.count(USERS, 400).await, 0);

    // Groups by display name and by mail.
    let group = h
        .control(
            Method::POST,
            "groups",
            Some(json!({
                "displayName": "Hotline Operators",
                "mail": format!("hotline-ops@{domain}"),
                "mailEnabled": true,
            })),
        )
        .await;
    let group_id = group["id"].as_str().expect("id").to_owned();
    let found = dir.search_groups("hotl", 10).await.expect("groups");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].id, group_id);
    assert_eq!(found[0].display_name, "Hotline Operators");
    let mail = format!("hotline-ops@{domain}");
    assert_eq!(found[0].mail.as_deref(), Some(mail.as_str()));
    let seeded = dir.search_groups("leader", 10).await.expect("seeded");
    assert!(
        seeded.iter().any(|g| g.display_name == "Leadership"),
        "{seeded:?}"
    );
    assert_eq!(dir.search_groups("a", 1).await.expect("limit").len(), 1);
    assert!(dir.search_groups("Hot\"line", 10).await.is_ok());
}

#[tokio::test]
async fn search_errors_map_like_the_other_reads() {
    let h = Harness::start_with_users(5, 2).await;
    let denied = directory(&h, &[]).await;
    match denied.search_users("a", 5).await {
        Err(DirectoryError::Denied(text)) => assert!(text.contains("User.Read.All"), "{text}"),
        other => panic!("expected Denied, got {other:?}"),
    }
    match denied.search_groups("a", 5).await {
        Err(DirectoryError::Denied(text)) => {
            assert!(text.contains("GroupMember.Read.All"), "{text}")
        }
        other => panic!("expected Denied, got {other:?}"),
    }
    let short = directory_with(
        &h,
        &ROLES,
        RetryPolicy {
            max_attempts: 2,
            ..fast_retry()
        },
    )
    .await;
    h.fault(json!({"path_prefix": "/v1.0/users", "status": 503, "count": 5}))
        .await;
    assert!(matches!(
        short.search_users("a", 5).await,
        Err(DirectoryError::Unavailable(_))
    ));
}
