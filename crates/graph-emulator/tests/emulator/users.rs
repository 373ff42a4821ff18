//! `GET /v1.0/users`, `/users/{id}`, `/users/$count` (§2.1, §2.2).

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

const DEFAULT_KEYS: [&str; 11] = [
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

const EVENTUAL: (&str, &str) = ("ConsistencyLevel", "eventual");

#[tokio::test]
async fn default_property_set_with_nulls() {
    let emu = start().await;
    let id = emu
        .create_user(json!({
            "displayName": "Adele Vance",
            "givenName": "Adele",
            "userPrincipalName": "adele@contoso.onmicrosoft.com",
            "department": "Sales",
        }))
        .await;
    let token = emu.reader().await;
    let r = emu.get_with("/v1.0/users", Some(&token), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("x-ms-resource-unit"), Some("2"));
    assert!(r.header("request-id").is_some());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json;odata.metadata=minimal"))
    );
    let body = r.json();
    assert_eq!(
        body["@odata.context"],
        format!("{}/v1.0/$metadata#users", emu.base)
    );
    assert!(body.get("@odata.nextLink").is_none());
    let user = &body["value"][0];
    assert_eq!(keys(user), DEFAULT_KEYS);
    assert_eq!(user["id"], id);
    assert_eq!(user["businessPhones"], json!([]));
    assert_eq!(user["mobilePhone"], Value::Null);
    assert_eq!(user["surname"], Value::Null);
    assert_eq!(user["mail"], Value::Null);
    assert_eq!(user["displayName"], "Adele Vance");

    // One user by id, and by UPN in any case.
    for key in [id.as_str(), "ADELE@contoso.onmicrosoft.com"] {
        let r = emu
            .get_with(&format!("/v1.0/users/{key}"), Some(&token), &[])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let body = r.json();
        assert_eq!(
            body["@odata.context"],
            format!("{}/v1.0/$metadata#users/$entity", emu.base)
        );
        assert_eq!(body["id"], id);
        assert_eq!(body.as_object().map(|o| o.len()), Some(12));
    }
    let r = emu
        .get_with(
            &format!("/v1.0/users/{id}?$select=department,id"),
            Some(&token),
            &[],
        )
        .await;
    assert_eq!(
        r.json(),
        json!({
            "@odata.context": format!("{}/v1.0/$metadata#users(department,id)/$entity", emu.base),
            "department": "Sales",
            "id": id,
        })
    );
}

#[tokio::test]
async fn select_is_case_insensitive_and_validated() {
    let emu = start_users(30).await;
    let token = emu.reader().await;
    let r = emu
        .get_with("/v1.0/users?$SELECT=ID,DisplayName,accountenabled,userType,onPremisesExtensionAttributes", Some(&token), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("x-ms-resource-unit"), Some("1"));
    let body = r.json();
    assert_eq!(
        body["@odata.context"],
        format!(
            "{}/v1.0/$metadata#users(id,displayName,accountEnabled,userType,onPremisesExtensionAttributes)",
            emu.base
        )
    );
    for user in body["value"].as_array().expect("value") {
        assert_eq!(
            keys(user),
            [
                "accountEnabled",
                "displayName",
                "id",
                "onPremisesExtensionAttributes",
                "userType"
            ]
        );
        assert!(user["accountEnabled"].is_boolean());
        assert_eq!(
            user["onPremisesExtensionAttributes"]
                .as_object()
                .map(|o| o.len()),
            Some(15)
        );
    }

    let r = emu
        .get_with("/v1.0/users?$select=id,nope", Some(&token), &[])
        .await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "Could not find a property named 'nope' on type 'microsoft.graph.user'.",
    );
    let r = emu
        .get_with("/v1.0/users?$select=id,mailboxSettings", Some(&token), &[])
        .await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "NotImplemented");
    // Unmodelled but real properties read as null / [].
    let r = emu
        .get_with(
            "/v1.0/users?$select=assignedLicenses,onPremisesSyncEnabled&$top=1",
            Some(&token),
            &[],
        )
        .await;
    assert_eq!(
        r.json()["value"][0],
        json!({"assignedLicenses": [], "onPremisesSyncEnabled": null})
    );
}

#[tokio::test]
async fn top_bounds() {
    let emu = start_users(5).await;
    let token = emu.reader().await;
    for bad in ["0", "1000", "-1", "abc"] {
        let r = emu
            .get_with(&format!("/v1.0/users?$top={bad}"), Some(&token), &[])
            .await;
        assert_error(
            &r,
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            &format!("Invalid page size specified: '{bad}'. Must be between 1 and 999 inclusive."),
        );
    }
    let r = emu
        .get_with("/v1.0/users?$top=999", Some(&token), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["value"].as_array().map(Vec::len), Some(5));
    let r = emu.get_with("/v1.0/users?top=2", Some(&token), &[]).await;
    assert_eq!(
        r.json()["value"].as_array().map(Vec::len),
        Some(2),
        "the $ is optional"
    );
    assert_eq!(
        r.header("x-ms-resource-unit"),
        Some("1"),
        "$top < 20 costs one unit less"
    );
}

#[tokio::test]
async fn paging_walks_every_user_exactly_once() {
    let emu = start_users(2500).await;
    let token = emu.reader().await;

    let pages = emu
        .walk("/v1.0/users?$top=999&$select=id,displayName", &token, &[])
        .await;
    assert_eq!(pages.len(), 3);
    let sizes: Vec<usize> = pages
        .iter()
        .map(|p| p["value"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [999, 999, 502]);
    let ids: HashSet<String> = items(&pages)
        .iter()
        .map(|u| u["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 2500);
    let first_next = pages[0]["@odata.nextLink"].as_str().expect("nextLink");
    assert!(
        first_next.starts_with(&format!("{}/v1.0/users?", emu.base)),
        "{first_next}"
    );
    assert!(
        first_next.contains("$select=id,displayName"),
        "options are kept: {first_next}"
    );
    assert!(first_next.contains("$top=999"), "{first_next}");
    assert!(first_next.contains("$skiptoken="), "{first_next}");
    // Later pages keep the selection and the context.
    assert_eq!(keys(&pages[2]["value"][0]), ["displayName", "id"]);

    // Default page size 100, stable order: the same walk twice gives the same sequence.
    let a = emu.walk("/v1.0/users?$select=id", &token, &[]).await;
    assert_eq!(a.len(), 25);
    let b = emu.walk("/v1.0/users?$select=id", &token, &[]).await;
    assert_eq!(items(&a), items(&b));
    let ids_b: HashSet<String> = items(&b)
        .iter()
        .map(|u| u["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids, ids_b);

    // Links follow the Host the client used.
    let r = emu
        .get_with(
            "/v1.0/users?$top=1",
            Some(&token),
            &[("host", "graph.test:443")],
        )
        .await;
    let next = r.json()["@odata.nextLink"]
        .as_str()
        .map(str::to_owned)
        .expect("next");
    assert!(
        next.starts_with("http://graph.test:443/v1.0/users?"),
        "{next}"
    );

    let r = emu
        .get_with("/v1.0/users?$skiptoken=garbage", Some(&token), &[])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["code"], "Directory_ExpiredPageToken");
}

#[tokio::test]
async fn filter_subset_without_advanced_headers() {
    let emu = start_users(600).await;
    let token = emu.reader().await;
    let all = items(&emu.walk("/v1.0/users?$top=999&$select=id,displayName,userPrincipalName,mail,accountEnabled,userType,givenName", &token, &[]).await);
    assert_eq!(all.len(), 600);
    let count = |pred: &dyn Fn(&Value) -> bool| all.iter().filter(|u| pred(u)).count();

    let check = |filter: &str, expected: usize| {
        let emu = &emu;
        let token = &token;
        let filter = filter.to_owned();
        async move {
            let path = format!(
                "/v1.0/users?$top=999&$select=id,displayName,accountEnabled,userType&$filter={}",
                urlencode(&filter)
            );
            let got = items(&emu.walk(&path, token, &[]).await);
            assert_eq!(got.len(), expected, "{filter}");
            got
        }
    };
    let members = check(
        "accountEnabled eq true and userType eq 'Member'",
        count(&|u| u["accountEnabled"] == true && u["userType"] == "Member"),
    )
    .await;
    assert!(
        members
            .iter()
            .all(|u| u["accountEnabled"] == true && u["userType"] == "Member")
    );
    check("userType eq 'Guest'", count(&|u| u["userType"] == "Guest")).await;
    check(
        "accountEnabled eq false",
        count(&|u| u["accountEnabled"] == false),
    )
    .await;
    check(
        "startsWith(displayName,'a')",
        count(&|u| {
            u["displayName"]
                .as_str()
                .is_some_and(|d| d.to_lowercase().starts_with('a'))
        }),
    )
    .await;
    check(
        "startswith(userPrincipalName,'J')",
        count(&|u| {
            u["userPrincipalName"]
                .as_str()
                .is_some_and(|d| d.starts_with('j'))
        }),
    )
    .await;
    check(
        "startsWith(mail,'m') or startsWith(givenName,'Z')",
        count(&|u| {
            u["mail"]
                .as_str()
                .is_some_and(|d| d.to_lowercase().starts_with('m'))
                || u["givenName"]
                    .as_str()
                    .is_some_and(|d| d.to_lowercase().starts_with('z'))
        }),
    )
    .await;
    let (a, b) = (
        all[3]["id"].as_str().expect("id"),
        all[77]["id"].as_str().expect("id"),
    );
    let got = check(&format!("id eq '{a}'"), 1).await;
    assert_eq!(got[0]["id"], a);
    check(&format!("id in ('{a}', '{b}')"), 2).await;
    let upn = all[5]["userPrincipalName"]
        .as_str()
        .expect("upn")
        .to_uppercase();
    check(&format!("userPrincipalName eq '{upn}'"), 1).await;
    let dn = all[9]["displayName"]
        .as_str()
        .expect("displayName")
        .to_owned();
    let same = count(&|u| {
        u["displayName"]
            .as_str()
            .is_some_and(|d| d.eq_ignore_ascii_case(&dn))
    });
    let quoted = dn.replace('\'', "''");
    check(&format!("displayName in ('{quoted}', 'nobody')"), same).await;

    // Advanced operators need ConsistencyLevel: eventual (§2.2).
    for advanced in [
        "accountEnabled ne true",
        "not(userType eq 'Member')",
        "endsWith(mail,'.com')",
        "startsWith(officeLocation,'B')",
    ] {
        let path = format!("/v1.0/users?$filter={}", urlencode(advanced));
        let r = emu.get_with(&path, Some(&token), &[]).await;
        assert_error(
            &r,
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "Unsupported Query.",
        );
        let r = emu
            .get_with(
                &format!("{path}&$count=true&$top=999"),
                Some(&token),
                &[EVENTUAL],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{advanced}: {}", r.text);
    }
    let path = format!(
        "/v1.0/users?$top=999&$select=accountEnabled&$filter={}",
        urlencode("accountEnabled ne true")
    );
    let disabled = items(&emu.walk(&path, &token, &[EVENTUAL]).await);
    assert_eq!(disabled.len(), count(&|u| u["accountEnabled"] == false));
    let path = format!(
        "/v1.0/users?$top=999&$select=mail&$filter={}",
        urlencode("endsWith(mail,'@gmail.com')")
    );
    let gmail = items(&emu.walk(&path, &token, &[EVENTUAL]).await);
    assert!(gmail.iter().all(|u| {
        u["mail"]
            .as_str()
            .is_some_and(|m| m.ends_with("@gmail.com"))
    }));

    // Errors with Graph's words.
    let r = emu
        .get_with(
            &format!(
                "/v1.0/users?$filter={}",
                urlencode("accountEnabled eq 'true'")
            ),
            Some(&token),
            &[],
        )
        .await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "BadRequest",
        "Invalid filter clause",
    );
    let r = emu
        .get_with(
            &format!(
                "/v1.0/users?$filter={}",
                urlencode("faxNumber eq '1' or ageGroup eq null")
            ),
            Some(&token),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = emu
        .get_with(
            &format!("/v1.0/users?$filter={}", urlencode("businessPhones eq '1'")),
            Some(&token),
            &[],
        )
        .await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        "Unsupported or invalid query filter clause specified for property 'businessPhones' of resource 'User'.",
    );
    let r = emu
        .get_with(
            &format!("/v1.0/users?$filter={}", urlencode("nope eq 'x'")),
            Some(&token),
            &[],
        )
        .await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "Could not find a property named 'nope' on type 'microsoft.graph.user'.",
    );
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn count_and_search_rules() {
    let emu = start_users(250).await;
    let token = emu.reader().await;

    // $count=true without the header is silently ignored.
    let r = emu
        .get_with("/v1.0/users?$count=true&$top=100", Some(&token), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json().get("@odata.count").is_none());
    // With it: on the first page only.
    let pages = emu
        .walk(
            "/v1.0/users?$count=true&$top=100&$select=id",
            &token,
            &[EVENTUAL],
        )
        .await;
    assert_eq!(pages.len(), 3);
    assert_eq!(pages[0]["@odata.count"], 250);
    assert!(pages[1].get("@odata.count").is_none());
    assert!(pages[2].get("@odata.count").is_none());

    let r = emu.get_with("/v1.0/users/$count", Some(&token), &[]).await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "$count is not currently supported.",
    );
    let r = emu
        .get_with("/v1.0/users/$count", Some(&token), &[EVENTUAL])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    assert_eq!(r.text, "250");
    let guests_path = format!(
        "/v1.0/users/%24count?$filter={}",
        urlencode("userType eq 'Guest'")
    );
    let r = emu.get_with(&guests_path, Some(&token), &[EVENTUAL]).await;
    let guests: usize = r.text.parse().expect("a number");
    let listed = items(
        &emu.walk(
            &format!(
                "/v1.0/users?$top=999&$filter={}",
                urlencode("userType eq 'Guest'")
            ),
            &token,
            &[],
        )
        .await,
    );
    assert_eq!(guests, listed.len());

    let r = emu
        .get_with("/v1.0/users?$search=\"displayName:a\"", Some(&token), &[])
        .await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
    );
    let all = items(
        &emu.walk("/v1.0/users?$top=999&$select=displayName", &token, &[])
            .await,
    );
    let word = all[0]["displayName"]
        .as_str()
        .expect("name")
        .split_whitespace()
        .last()
        .expect("word")
        .to_owned();
    let expected = all
        .iter()
        .filter(|u| {
            u["displayName"].as_str().is_some_and(|d| {
                d.to_lowercase()
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|w| w.starts_with(&word.to_lowercase()))
            })
        })
        .count();
    let path = format!(
        "/v1.0/users?$top=999&$count=true&$search={}",
        urlencode(&format!("\"displayName:{word}\""))
    );
    let r = emu.get_with(&path, Some(&token), &[EVENTUAL]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["@odata.count"], expected);
    assert!(expected >= 1);
}

#[tokio::test]
async fn single_user_lookups_and_not_found() {
    let emu = start_users(200).await;
    let token = emu.reader().await;
    let guests = items(
        &emu.walk(
            &format!(
                "/v1.0/users?$select=id,userPrincipalName&$filter={}",
                urlencode("userType eq 'Guest'")
            ),
            &token,
            &[],
        )
        .await,
    );
    let guest = guests.first().expect("200 users include a guest");
    let upn = guest["userPrincipalName"].as_str().expect("upn");
    assert!(upn.contains("#EXT#@contoso.onmicrosoft.com"), "{upn}");
    let r = emu
        .get_with(
            &format!("/v1.0/users/{}", urlencode(upn)),
            Some(&token),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["id"], guest["id"]);

    let missing = "4a1c7d5e-0000-4000-8000-00000000abcd";
    let r = emu
        .get_with(&format!("/v1.0/users/{missing}"), Some(&token), &[])
        .await;
    assert_error(
        &r,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{missing}' does not exist or one of its queried reference-property objects are not present."
        ),
    );
    // Soft-deleted users are gone from /users and /users/{id}.
    let id = guest["id"].as_str().expect("id");
    let r = emu.delete(&format!("/_emulator/users/{id}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = emu
        .get_with(&format!("/v1.0/users/{id}"), Some(&token), &[])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let all = items(
        &emu.walk("/v1.0/users?$top=999&$select=id", &token, &[])
            .await,
    );
    assert_eq!(all.len(), 199);
    assert!(all.iter().all(|u| u["id"] != id));
}

#[tokio::test]
async fn orderby_and_method_rules() {
    let emu = start_users(120).await;
    let token = emu.reader().await;
    let pages = emu
        .walk(
            "/v1.0/users?$orderby=displayName&$select=displayName&$top=50",
            &token,
            &[],
        )
        .await;
    let names: Vec<String> = items(&pages)
        .iter()
        .map(|u| u["displayName"].as_str().expect("dn").to_lowercase())
        .collect();
    assert_eq!(names.len(), 120);
    assert!(
        names.windows(2).all(|w| w[0] <= w[1]),
        "sorted across pages"
    );
    let r = emu
        .get_with(
            &format!(
                "/v1.0/users?$orderby=displayName&$filter={}",
                urlencode("userType eq 'Member'")
            ),
            Some(&token),
            &[],
        )
        .await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        "Sorting not supported for current query.",
    );

    let r = emu
        .http
        .post(emu.url("/v1.0/users"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn roles_are_required() {
    let emu = start_users(3).await;
    let calendars = emu.app(&["Calendars.Read"], true).await;
    let token = emu.access_token(&calendars).await;
    for path in ["/v1.0/users", "/v1.0/users/delta", "/v1.0/groups"] {
        let r = emu.get_with(path, Some(&token), &[]).await;
        assert_error(
            &r,
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
    }
    let r = emu.get_with("/v1.0/users", None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let directory = emu.app(&["Directory.Read.All"], true).await;
    let token = emu.access_token(&directory).await;
    for path in [
        "/v1.0/users",
        "/v1.0/users/delta",
        "/v1.0/groups",
        "/V1.0/Users/Delta()",
    ] {
        let r = emu.get_with(path, Some(&token), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
    }
    let stats = emu.get("/_emulator/stats").await.json();
    assert_eq!(stats["routes"]["GET /v1.0/users"]["403"], 1, "{stats}");
    assert_eq!(
        stats["routes"]["GET /v1.0/users/delta"]["200"], 2,
        "{stats}"
    );
}
