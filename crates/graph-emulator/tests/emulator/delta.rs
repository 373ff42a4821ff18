//! `GET /v1.0/users/delta` (§2.3).

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

/// Follows a round to its deltaLink: (items, deltaLink, page count).
async fn round(
    emu: &Emu,
    url: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> (Vec<Value>, String, usize) {
    let mut url = url.to_owned();
    let mut out = Vec::new();
    let mut pages = 0;
    loop {
        let r = emu.follow(&url, token, headers).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.text);
        pages += 1;
        let body = r.json();
        out.extend(body["value"].as_array().cloned().unwrap_or_default());
        match (
            body["@odata.nextLink"].as_str(),
            body["@odata.deltaLink"].as_str(),
        ) {
            (Some(next), None) => url = next.to_owned(),
            (None, Some(delta)) => {
                assert!(
                    delta.starts_with(&format!("{}/v1.0/users/delta?$deltatoken=", emu.base)),
                    "{delta}"
                );
                return (out, delta.to_owned(), pages);
            }
            other => panic!("a page has exactly one of nextLink and deltaLink: {other:?}"),
        }
    }
}

fn by_id<'a>(items: &'a [Value], id: &str) -> Vec<&'a Value> {
    items.iter().filter(|i| i["id"] == id).collect()
}

#[tokio::test]
async fn initial_round_pages_and_tracks_selected_properties() {
    let emu = start_users(450).await;
    let token = emu.reader().await;
    let url = emu.url("/v1.0/users/delta?$select=displayName,mobilePhone,accountEnabled&$top=5");
    let first = emu.follow(&url, &token, &[]).await.json();
    assert_eq!(
        first["@odata.context"],
        format!(
            "{}/v1.0/$metadata#users(displayName,mobilePhone,accountEnabled)",
            emu.base
        )
    );
    assert_eq!(
        first["value"].as_array().map(Vec::len),
        Some(200),
        "$top is ignored; pages of 200"
    );
    let (items, delta, pages) = round(&emu, &url, &token, &[]).await;
    assert_eq!(pages, 3);
    assert_eq!(items.len(), 450);
    let ids: HashSet<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(ids.len(), 450);
    for item in &items {
        assert_eq!(item["@odata.type"], "#microsoft.graph.user");
        let obj = item.as_object().expect("object");
        assert!(
            obj.keys().all(|k| [
                "@odata.type",
                "id",
                "displayName",
                "mobilePhone",
                "accountEnabled"
            ]
            .contains(&k.as_str())),
            "{item}"
        );
        // Never-set properties are left out rather than sent as null.
        assert!(
            obj.get("mobilePhone").is_none_or(Value::is_string),
            "{item}"
        );
    }
    assert!(items.iter().any(|i| i.get("mobilePhone").is_none()));

    // Nothing changed: the next round is empty and ends at once.
    let (again, delta2, pages) = round(&emu, &delta, &token, &[]).await;
    assert!(again.is_empty());
    assert_eq!(pages, 1);

    // Changes: one selected property, one unselected, a no-op.
    let a = items[10]["id"].as_str().expect("id").to_owned();
    let b = items[20]["id"].as_str().expect("id").to_owned();
    let c = items[30]["id"].as_str().expect("id").to_owned();
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{a}"),
            json!({"displayName": "Renamed Person", "mobilePhone": "+49 151 1111 2222"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{b}"),
            json!({"department": "Legal", "jobTitle": "Counsel"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let c_name = items[30]["displayName"].clone();
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{c}"),
            json!({"displayName": c_name}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let (changed, delta3, _) = round(&emu, &delta2, &token, &[]).await;
    assert_eq!(changed.len(), 1, "{changed:?}");
    let item = &changed[0];
    assert_eq!(item["id"], a);
    assert_eq!(item["displayName"], "Renamed Person");
    assert_eq!(item["mobilePhone"], "+49 151 1111 2222");
    assert!(
        item["accountEnabled"].is_boolean(),
        "unchanged selected properties come too: {item}"
    );

    // return=minimal: only what changed, nulls included.
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{a}"),
            json!({"mobilePhone": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = emu
        .follow(&delta3, &token, &[("Prefer", "return=minimal")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("preference-applied"), Some("return=minimal"));
    let body = r.json();
    assert_eq!(
        body["@odata.context"],
        format!("{}/v1.0/$metadata#users", emu.base)
    );
    assert_eq!(
        body["value"],
        json!([{"@odata.type": "#microsoft.graph.user", "mobilePhone": null, "id": a}])
    );
    // Without the header, the same round shows the null too (it was set).
    let (full, _, _) = round(&emu, &delta3, &token, &[]).await;
    assert_eq!(full[0]["mobilePhone"], Value::Null);
    assert_eq!(full[0]["displayName"], "Renamed Person");
}

#[tokio::test]
async fn without_select_every_property_is_tracked() {
    let emu = start_users(20).await;
    let token = emu.reader().await;
    let (items, delta, _) = round(&emu, &emu.url("/v1.0/users/delta"), &token, &[]).await;
    assert_eq!(items.len(), 20);
    let id = items[0]["id"].as_str().expect("id").to_owned();
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{id}"),
            json!({"department": "Finance", "employeeId": "X1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let (changed, _, _) = round(&emu, &delta, &token, &[]).await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["id"], id);
    assert!(
        changed[0].get("department").is_none(),
        "the default set is returned: {}",
        changed[0]
    );
    assert!(changed[0].get("userPrincipalName").is_some());
}

#[tokio::test]
async fn deletes_restores_and_creations() {
    let emu = start_users(50).await;
    let token = emu.reader().await;
    let start =
        emu.url("/v1.0/users/delta?$select=displayName,userPrincipalName,accountEnabled,userType");
    let (items, delta, _) = round(&emu, &start, &token, &[]).await;
    let soft = items[1]["id"].as_str().expect("id").to_owned();
    let hard = items[2]["id"].as_str().expect("id").to_owned();
    let restored = items[3]["id"].as_str().expect("id").to_owned();
    for (id, q) in [(&soft, ""), (&hard, "?permanent=true"), (&restored, "")] {
        let r = emu.delete(&format!("/_emulator/users/{id}{q}")).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    }
    let r = emu
        .post_json(&format!("/_emulator/users/{restored}/restore"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let new = emu
        .create_user(json!({"displayName": "New Hire", "userPrincipalName": "new.hire@contoso.onmicrosoft.com", "accountEnabled": false}))
        .await;

    let (changes, delta2, _) = round(&emu, &delta, &token, &[("Prefer", "return=minimal")]).await;
    assert_eq!(changes.len(), 4, "{changes:?}");
    assert_eq!(
        by_id(&changes, &soft),
        [
            &json!({"@odata.type": "#microsoft.graph.user", "id": soft, "@removed": {"reason": "changed"}})
        ]
    );
    assert_eq!(
        by_id(&changes, &hard),
        [
            &json!({"@odata.type": "#microsoft.graph.user", "id": hard, "@removed": {"reason": "deleted"}})
        ]
    );
    // Restored and new users come whole and without annotation, even with return=minimal.
    let back = by_id(&changes, &restored)[0];
    assert!(back.get("@removed").is_none());
    assert_eq!(back["displayName"], items[3]["displayName"]);
    assert_eq!(back["userPrincipalName"], items[3]["userPrincipalName"]);
    let hired = by_id(&changes, &new)[0];
    assert_eq!(hired["displayName"], "New Hire");
    assert_eq!(hired["accountEnabled"], false);
    assert_eq!(hired["userType"], "Member");

    // A soft-deleted user purged later turns from `changed` into `deleted`.
    let r = emu
        .delete(&format!("/_emulator/users/{soft}?permanent=true"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let (changes, _, _) = round(&emu, &delta2, &token, &[]).await;
    assert_eq!(
        changes,
        [
            json!({"@odata.type": "#microsoft.graph.user", "id": soft, "@removed": {"reason": "deleted"}})
        ]
    );

    // A fresh initial round leaves the removed users out.
    let (fresh, _, _) = round(&emu, &start, &token, &[]).await;
    assert_eq!(fresh.len(), 49);
    assert!(fresh.iter().all(|i| i.get("@removed").is_none()));
}

#[tokio::test]
async fn deltatoken_latest_and_id_filter() {
    let emu = start_users(300).await;
    let token = emu.reader().await;
    let r = emu
        .get_with(
            "/v1.0/users/delta?$deltatoken=latest&$select=displayName",
            Some(&token),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let body = r.json();
    assert_eq!(body["value"], json!([]));
    assert!(body.get("@odata.nextLink").is_none());
    let latest = body["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_owned();
    let (none, _, _) = round(&emu, &latest, &token, &[]).await;
    assert!(none.is_empty());

    let users = items(&emu.walk("/v1.0/users?$top=3&$select=id", &token, &[]).await);
    let (a, b, c) = (
        users[0]["id"].as_str().expect("id").to_owned(),
        users[1]["id"].as_str().expect("id").to_owned(),
        users[2]["id"].as_str().expect("id").to_owned(),
    );
    for id in [&a, &b, &c] {
        let r = emu
            .patch_json(
                &format!("/_emulator/users/{id}"),
                json!({"displayName": format!("Changed {id}")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let (changes, _, _) = round(&emu, &latest, &token, &[]).await;
    assert_eq!(changes.len(), 3);
    assert!(
        changes
            .iter()
            .all(|c| c.as_object().is_some_and(|o| o.len() == 3)),
        "{changes:?}"
    );

    // `$filter=id eq … or id eq …` limits the round to those users.
    let filter = format!("id eq '{a}' or id eq '{c}'");
    let url = emu.url(&format!(
        "/v1.0/users/delta?$select=displayName&$filter={}",
        crate::users::urlencode(&filter)
    ));
    let (only, delta, _) = round(&emu, &url, &token, &[]).await;
    let ids: HashSet<&str> = only.iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(ids, HashSet::from([a.as_str(), c.as_str()]));
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{b}"),
            json!({"displayName": "Other"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let (none, _, _) = round(&emu, &delta, &token, &[]).await;
    assert!(none.is_empty(), "b is not tracked: {none:?}");

    let url = emu.url(&format!(
        "/v1.0/users/delta?$filter={}",
        crate::users::urlencode("userType eq 'Member'")
    ));
    let r = emu.follow(&url, &token, &[]).await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        "Unsupported Query.",
    );
    let r = emu
        .get_with("/v1.0/users/delta?$select=skills", Some(&token), &[])
        .await;
    assert_error(
        &r,
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        "This operation target is not yet supported.",
    );
    let r = emu
        .get_with("/v1.0/users/delta?$deltatoken=garbage", Some(&token), &[])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_change_during_a_round_is_not_lost() {
    let emu = start_users(500).await;
    let token = emu.reader().await;
    let start = emu.url("/v1.0/users/delta?$select=displayName");
    let first = emu.follow(&start, &token, &[]).await.json();
    let seen_first: Vec<Value> = first["value"].as_array().cloned().unwrap_or_default();
    // Change one user already returned and one not yet returned.
    let early = seen_first[0]["id"].as_str().expect("id").to_owned();
    let all = items(
        &emu.walk("/v1.0/users?$top=999&$select=id", &token, &[])
            .await,
    );
    let late = all[499]["id"].as_str().expect("id").to_owned();
    for id in [&early, &late] {
        let r = emu
            .patch_json(
                &format!("/_emulator/users/{id}"),
                json!({"displayName": "Mid Round"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let next = first["@odata.nextLink"].as_str().expect("next").to_owned();
    let (rest, delta, _) = round(&emu, &next, &token, &[]).await;
    let mut seen: HashSet<String> = seen_first
        .iter()
        .chain(&rest)
        .filter_map(|i| i["id"].as_str().map(str::to_owned))
        .collect();
    let (after, _, _) = round(&emu, &delta, &token, &[]).await;
    for item in &after {
        assert_eq!(item["displayName"], "Mid Round", "{item}");
        seen.insert(item["id"].as_str().expect("id").to_owned());
    }
    assert!(after.iter().any(|i| i["id"] == early));
    assert!(after.iter().any(|i| i["id"] == late));
    assert_eq!(seen.len(), 500, "every user seen at least once");
}

#[tokio::test]
async fn expiry_gone_sync_state_not_found_and_seven_days() {
    let emu = start_users(300).await;
    let token = emu.reader().await;
    let start = emu.url("/v1.0/users/delta?$select=displayName,mail");
    let (_, delta, _) = round(&emu, &start, &token, &[]).await;
    let first = emu.follow(&start, &token, &[]).await.json();
    let skip = first["@odata.nextLink"].as_str().expect("next").to_owned();

    let r = emu
        .post_json("/_emulator/delta/expire", json!({"mode": "gone"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for url in [&delta, &skip] {
        let r = emu.follow(url, &token, &[]).await;
        assert_error(
            &r,
            StatusCode::GONE,
            "resyncRequired",
            "The delta token is no longer valid, and the app must reset the sync state.",
        );
        let location = r.header("location").expect("Location").to_owned();
        assert_eq!(
            location,
            format!(
                "{}/v1.0/users/delta?$select=displayName,mail&$deltatoken=",
                emu.base
            )
        );
        // The Location starts a full round again, with the same selection.
        let (items, fresh, _) = round(&emu, &location, &token, &[]).await;
        assert_eq!(items.len(), 300);
        assert!(items[0].get("userPrincipalName").is_none());
        let (none, _, _) = round(&emu, &fresh, &token, &[]).await;
        assert!(none.is_empty());
    }

    let (_, delta, _) = round(&emu, &start, &token, &[]).await;
    let r = emu
        .post_json(
            "/_emulator/delta/expire",
            json!({"mode": "syncStateNotFound"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = emu.follow(&delta, &token, &[]).await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
    );
    let r = emu
        .post_json("/_emulator/delta/expire", json!({"mode": "later"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Seven days of the emulator clock.
    let (_, delta, _) = round(&emu, &start, &token, &[]).await;
    emu.advance_clock(6 * 86_400).await;
    let token = emu.reader_after(6 * 86_400).await;
    let (_, delta_day6, _) = round(&emu, &delta, &token, &[]).await;
    emu.advance_clock(86_400).await;
    let token = emu.reader_after(7 * 86_400).await;
    let r = emu.follow(&delta, &token, &[]).await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
    );
    let (none, _, _) = round(&emu, &delta_day6, &token, &[]).await;
    assert!(none.is_empty(), "a deltaLink issued on day 6 is still good");
}

#[tokio::test]
async fn opt_in_replays_empty_pages_and_page_size() {
    let emu = start_users(30).await;
    let token = emu.reader().await;
    let r = emu.get("/_emulator/quirks").await;
    assert_eq!(
        r.json(),
        json!({"delta_replays": false, "empty_pages": false, "delta_page_size": 200})
    );
    let r = emu
        .post_json(
            "/_emulator/quirks",
            json!({"delta_replays": true, "empty_pages": true, "delta_page_size": 10}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let start = emu.url("/v1.0/users/delta?$select=displayName");
    let first = emu.follow(&start, &token, &[]).await.json();
    assert_eq!(
        first["value"],
        json!([]),
        "an empty first page with a nextLink"
    );
    assert!(first["@odata.nextLink"].is_string());
    let (items, _, pages) = round(&emu, &start, &token, &[]).await;
    assert_eq!(pages, 4);
    assert_eq!(
        items.len(),
        33,
        "three pages of 10, each replaying one object"
    );
    let unique: HashSet<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
    assert_eq!(unique.len(), 30);

    let pages = emu.walk("/v1.0/users?$top=20", &token, &[]).await;
    assert_eq!(pages.len(), 3);
    assert_eq!(pages[0]["value"], json!([]));
    assert_eq!(items_len(&pages), 30);

    let r = emu
        .post_json(
            "/_emulator/quirks",
            json!({"delta_replays": false, "empty_pages": false}),
        )
        .await;
    assert_eq!(r.json()["delta_page_size"], 10);
    let r = emu
        .get_with(
            "/v1.0/users/delta?$select=displayName",
            Some(&token),
            &[("Prefer", "odata.maxpagesize=4")],
        )
        .await;
    assert_eq!(r.json()["value"].as_array().map(Vec::len), Some(4));
    assert_eq!(r.header("preference-applied"), Some("odata.maxpagesize=4"));
    let r = emu
        .post_json("/_emulator/quirks", json!({"delta_page_size": 0}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

fn items_len(pages: &[Value]) -> usize {
    items(pages).len()
}
