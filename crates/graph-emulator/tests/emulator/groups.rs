//! `GET /v1.0/groups`, members and transitiveMembers, and `/_emulator/groups`.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;
use crate::users::urlencode;

async fn group_id(emu: &Emu, token: &str, name: &str) -> String {
    let path = format!(
        "/v1.0/groups?$select=id,displayName&$filter={}",
        urlencode(&format!("displayName eq '{name}'"))
    );
    let r = emu.get_with(&path, Some(token), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["value"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("group {name}: {}", r.text))
        .to_owned()
}

fn ids(items: &[Value]) -> HashSet<String> {
    items
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn groups_list_select_top_filter() {
    let emu = start_users(400).await;
    let token = emu.reader().await;
    let r = emu.get_with("/v1.0/groups", Some(&token), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let body = r.json();
    assert_eq!(
        body["@odata.context"],
        format!("{}/v1.0/$metadata#groups", emu.base)
    );
    let all = body["value"].as_array().cloned().unwrap_or_default();
    assert!(all.len() >= 13, "{}", all.len());
    let names: HashSet<&str> = all
        .iter()
        .filter_map(|g| g["displayName"].as_str())
        .collect();
    for expected in [
        "Sales",
        "Support",
        "Engineering",
        "Customer Facing",
        "All Staff",
        "Leadership",
    ] {
        assert!(names.contains(expected), "{names:?}");
    }
    assert!(all[0]["securityEnabled"].is_boolean());
    assert!(all[0]["groupTypes"].is_array());

    let pages = emu
        .walk("/v1.0/groups?$top=5&$select=id,displayName", &token, &[])
        .await;
    assert_eq!(items(&pages).len(), all.len());
    assert!(pages.len() >= 3);
    assert_eq!(pages[0]["value"][0].as_object().map(|o| o.len()), Some(2));

    let path = format!(
        "/v1.0/groups?$filter={}&$select=displayName",
        urlencode("startsWith(displayName,'s')")
    );
    let r = emu.get_with(&path, Some(&token), &[]).await;
    let got: HashSet<String> = r.json()["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|g| g["displayName"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        got,
        HashSet::from(["Sales".to_owned(), "Support".to_owned()])
    );

    let r = emu
        .get_with("/v1.0/groups?$select=nope", Some(&token), &[])
        .await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "Could not find a property named 'nope' on type 'microsoft.graph.group'.",
    );
}

#[tokio::test]
async fn transitive_members_expand_nested_groups() {
    let emu = start_users(400).await;
    let token = emu.reader().await;
    let sales = group_id(&emu, &token, "Sales").await;
    let facing = group_id(&emu, &token, "Customer Facing").await;
    let all_staff = group_id(&emu, &token, "All Staff").await;

    let sales_users = items(
        &emu.walk(
            &format!("/v1.0/groups/{sales}/members/microsoft.graph.user?$select=id,department"),
            &token,
            &[],
        )
        .await,
    );
    assert!(!sales_users.is_empty());
    assert!(sales_users.iter().all(|u| u["department"] == "Sales"));

    // Direct members of All Staff are groups only; transitively they reach Sales (3 levels).
    let direct = items(
        &emu.walk(&format!("/v1.0/groups/{all_staff}/members"), &token, &[])
            .await,
    );
    assert!(
        direct
            .iter()
            .all(|m| m["@odata.type"] == "#microsoft.graph.group"),
        "{direct:?}"
    );
    assert!(direct.iter().any(|m| m["id"] == facing));

    let r = emu.get_with(&format!("/v1.0/groups/{all_staff}/transitiveMembers/microsoft.graph.user?$select=id,displayName&$top=50"), Some(&token), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let body = r.json();
    assert_eq!(
        body["@odata.context"],
        format!("{}/v1.0/$metadata#users(id,displayName)", emu.base)
    );
    assert_eq!(body["value"].as_array().map(Vec::len), Some(50));
    assert_eq!(
        body["value"][0].as_object().map(|o| o.len()),
        Some(2),
        "no @odata.type after a cast"
    );
    let next = body["@odata.nextLink"].as_str().expect("next");
    assert!(
        next.starts_with(&format!(
            "{}/v1.0/groups/{all_staff}/transitiveMembers/microsoft.graph.user?",
            emu.base
        )),
        "{next}"
    );

    let everyone = items(
        &emu.walk(
            &format!("/v1.0/groups/{all_staff}/transitiveMembers/microsoft.graph.user?$select=id"),
            &token,
            &[],
        )
        .await,
    );
    let everyone_ids = ids(&everyone);
    assert_eq!(everyone_ids.len(), everyone.len(), "each user once");
    assert!(ids(&sales_users).is_subset(&everyone_ids));
    let members = items(
        &emu.walk("/v1.0/users?$top=999&$select=id", &token, &[])
            .await,
    );
    let guests = items(
        &emu.walk(
            &format!(
                "/v1.0/users?$top=999&$select=id&$filter={}",
                urlencode("userType eq 'Guest'")
            ),
            &token,
            &[],
        )
        .await,
    );
    assert_eq!(
        everyone.len(),
        members.len() - guests.len(),
        "All Staff holds every member, no guest"
    );

    // Uncast: users and groups, each typed.
    let mixed = items(
        &emu.walk(
            &format!("/v1.0/groups/{all_staff}/transitiveMembers?$select=id,displayName"),
            &token,
            &[],
        )
        .await,
    );
    assert!(
        mixed
            .iter()
            .any(|m| m["@odata.type"] == "#microsoft.graph.group" && m["id"] == sales)
    );
    assert_eq!(
        mixed
            .iter()
            .filter(|m| m["@odata.type"] == "#microsoft.graph.user")
            .count(),
        everyone.len()
    );

    // A soft-deleted user drops out; restoring brings it back.
    let victim = sales_users[0]["id"].as_str().expect("id").to_owned();
    let r = emu.delete(&format!("/_emulator/users/{victim}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let after = ids(&items(
        &emu.walk(
            &format!("/v1.0/groups/{facing}/transitiveMembers/microsoft.graph.user?$select=id"),
            &token,
            &[],
        )
        .await,
    ));
    assert!(!after.contains(&victim));
    let r = emu
        .post_json(&format!("/_emulator/users/{victim}/restore"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let back = ids(&items(
        &emu.walk(
            &format!("/v1.0/groups/{facing}/transitiveMembers/microsoft.graph.user?$select=id"),
            &token,
            &[],
        )
        .await,
    ));
    assert!(back.contains(&victim));

    let r = emu
        .get_with(
            "/v1.0/groups/4a1c7d5e-0000-4000-8000-00000000abcd/transitiveMembers",
            Some(&token),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["code"], "Request_ResourceNotFound");
}

#[tokio::test]
async fn control_groups_and_memberships() {
    let emu = start().await;
    let token = emu.reader().await;
    let alice = emu
        .create_user(
            json!({"displayName": "Alice A", "userPrincipalName": "alice@contoso.onmicrosoft.com"}),
        )
        .await;
    let bob = emu
        .create_user(
            json!({"displayName": "Bob B", "userPrincipalName": "bob@contoso.onmicrosoft.com"}),
        )
        .await;
    let carol = emu.create_user(json!({"displayName": "Carol C"})).await;

    let r = emu
        .post_json(
            "/_emulator/groups",
            json!({"displayName": "Inner", "members": [alice]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let inner = r.json()["id"].as_str().expect("id").to_owned();
    let r = emu
        .post_json(
            "/_emulator/groups",
            json!({"displayName": "Outer", "members": [inner, bob]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let outer = r.json();
    assert_eq!(outer["securityEnabled"], true);
    assert_eq!(outer["members"].as_array().map(Vec::len), Some(2));
    let outer = outer["id"].as_str().expect("id").to_owned();

    let r = emu
        .post_json(
            &format!("/_emulator/groups/{inner}/members/{carol}"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = emu
        .post_json(
            &format!("/_emulator/groups/{inner}/members/{carol}"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // A cycle is allowed to exist; the walk still lists each object once.
    let r = emu
        .post_json(
            &format!("/_emulator/groups/{inner}/members/{outer}"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = emu
        .post_json(
            &format!("/_emulator/groups/{inner}/members/{inner}"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let users = ids(&items(
        &emu.walk(
            &format!("/v1.0/groups/{outer}/transitiveMembers/microsoft.graph.user"),
            &token,
            &[],
        )
        .await,
    ));
    assert_eq!(
        users,
        HashSet::from([alice.clone(), bob.clone(), carol.clone()])
    );

    let r = emu
        .delete(&format!("/_emulator/groups/{inner}/members/{alice}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = emu
        .delete(&format!("/_emulator/groups/{inner}/members/{alice}"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A purged user leaves every group.
    let r = emu
        .delete(&format!("/_emulator/users/{bob}?permanent=true"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let users = ids(&items(
        &emu.walk(
            &format!("/v1.0/groups/{outer}/transitiveMembers/microsoft.graph.user"),
            &token,
            &[],
        )
        .await,
    ));
    assert_eq!(users, HashSet::from([carol.clone()]));

    let r = emu
        .post_json(
            &format!("/_emulator/groups/{outer}/members/4a1c7d5e-0000-4000-8000-00000000abcd"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = emu
        .post_json(
            "/_emulator/groups",
            json!({"displayName": "X", "owners": []}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );
    let r = emu.get("/_emulator/groups").await;
    assert_eq!(r.json()["value"].as_array().map(Vec::len), Some(2));
    let r = emu.delete(&format!("/_emulator/groups/{inner}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = emu.get(&format!("/_emulator/groups/{outer}")).await;
    assert_eq!(
        r.json()["members"],
        json!([]),
        "the deleted group left Outer too"
    );
}
