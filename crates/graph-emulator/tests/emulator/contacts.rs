//! Outlook personal contacts (graph-protocol.md §3): folders, lists, delta, mailbox-less users,
//! the per-mailbox concurrency limit, and the generated mailboxes.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use graph_emulator::EmulatorConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

/// An emulator with an empty directory, one user (`Ada`) and a contacts token.
async fn setup() -> (Emu, String, String) {
    let emu = start().await;
    let user = emu
        .create_user(json!({"displayName": "Ada Lovelace", "usageLocation": "GB"}))
        .await;
    let token = emu.contacts_reader().await;
    (emu, user, token)
}

fn person(given: &str, folder: Option<&str>) -> Value {
    let mut body = json!({
        "givenName": given,
        "surname": "Tester",
        "emailAddresses": [{"name": format!("{given} Tester"), "address": format!("{}@example.com", given.to_lowercase())}],
        "businessPhones": ["+44 20 7946 0123"],
    });
    if let Some(f) = folder {
        body["parentFolderId"] = json!(f);
    }
    body
}

async fn get(emu: &Emu, path: &str, token: &str) -> Reply {
    emu.send(Method::GET, path, token, None, &[]).await
}

async fn get_ok(emu: &Emu, path: &str, token: &str) -> Value {
    let r = get(emu, path, token).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
    r.json()
}

fn names(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .map(|i| i["displayName"].as_str().expect("displayName").to_owned())
        .collect()
}

#[tokio::test]
async fn folder_tree_is_walked_through_child_folders() {
    let (emu, user, token) = setup().await;
    let a = emu.create_folder(&user, "Customers", None).await;
    let b = emu.create_folder(&user, "Key accounts", Some(&a)).await;
    let c = emu.create_folder(&user, "Top 10", Some(&b)).await;
    let other = emu.create_folder(&user, "Family", None).await;
    emu.create_contact(&user, person("Dora", None)).await;
    let in_a = emu.create_contact(&user, person("Alan", Some(&a))).await;
    let in_c = emu.create_contact(&user, person("Cleo", Some(&c))).await;

    // Folders directly under the default Contacts folder.
    let top = get_ok(&emu, &format!("/v1.0/users/{user}/contactFolders"), &token).await;
    assert_eq!(
        top["@odata.context"],
        format!("{}/v1.0/$metadata#users('{user}')/contactFolders", emu.base)
    );
    let top_items = top["value"].as_array().expect("value").clone();
    assert_eq!(ids(&top_items), vec![a.clone(), other.clone()]);
    assert_eq!(top_items[0]["displayName"], "Customers");
    let default_id = top_items[0]["parentFolderId"].as_str().expect("parent");
    assert!(default_id.starts_with("AAMkA"), "{default_id}");

    let default = get_ok(
        &emu,
        &format!("/v1.0/users/{user}/contactFolders/{default_id}"),
        &token,
    )
    .await;
    assert_eq!(default["displayName"], "Contacts");
    assert!(
        default["@odata.context"]
            .as_str()
            .expect("context")
            .ends_with("/contactFolders/$entity")
    );

    let children = get_ok(
        &emu,
        &format!("/v1.0/users/{user}/contactFolders/{a}/childFolders"),
        &token,
    )
    .await;
    assert_eq!(
        ids(children["value"].as_array().expect("value")),
        vec![b.clone()]
    );
    assert_eq!(children["value"][0]["parentFolderId"], a);
    // Deeper steps and the folder ids on their own reach the same folders.
    let grand = get_ok(
        &emu,
        &format!("/v1.0/users/{user}/contactFolders/{a}/childFolders/{b}/childFolders"),
        &token,
    )
    .await;
    assert_eq!(
        ids(grand["value"].as_array().expect("value")),
        vec![c.clone()]
    );
    for path in [
        format!("/v1.0/users/{user}/contactFolders/{a}/childFolders/{b}/childFolders/{c}/contacts"),
        format!("/v1.0/users/{user}/contactFolders/{c}/contacts"),
    ] {
        let r = get_ok(&emu, &path, &token).await;
        assert_eq!(
            names(r["value"].as_array().expect("value")),
            ["Cleo Tester".to_owned()].into()
        );
        assert_eq!(r["value"][0]["parentFolderId"], c);
    }
    // A step that is not a child of the one before.
    let r = get(
        &emu,
        &format!("/v1.0/users/{user}/contactFolders/{a}/childFolders/{c}"),
        &token,
    )
    .await;
    assert_error(
        &r,
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    );

    // `/contacts` is the default folder only; a single contact is found in any folder.
    let default_contacts = get_ok(&emu, &format!("/v1.0/users/{user}/contacts"), &token).await;
    assert_eq!(
        names(default_contacts["value"].as_array().expect("value")),
        ["Dora Tester".to_owned()].into()
    );
    let alan = get_ok(
        &emu,
        &format!(
            "/v1.0/users/{user}/contacts/{}",
            in_a["id"].as_str().expect("id")
        ),
        &token,
    )
    .await;
    assert_eq!(alan["parentFolderId"], a);
    assert_eq!(alan["givenName"], "Alan");
    assert_eq!(alan["emailAddresses"][0]["address"], "alan@example.com");
    assert_eq!(alan["homeAddress"], json!({}));
    assert_eq!(alan["homePhones"], json!([]));
    assert_eq!(alan["birthday"], Value::Null);
    let etag = alan["@odata.etag"].as_str().expect("etag");
    assert_eq!(
        etag,
        format!("W/\"{}\"", alan["changeKey"].as_str().expect("ck"))
    );
    assert!(
        alan["createdDateTime"]
            .as_str()
            .expect("date")
            .ends_with('Z')
    );
    let in_folder = get(
        &emu,
        &format!(
            "/v1.0/users/{user}/contactFolders/{a}/contacts/{}",
            in_c["id"].as_str().expect("id")
        ),
        &token,
    )
    .await;
    assert_eq!(
        in_folder.status,
        StatusCode::NOT_FOUND,
        "Cleo is not in {a}"
    );

    // Gone and garbage ids.
    let r = emu
        .delete(&format!("/_emulator/users/{user}/contactFolders/{other}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = get(
        &emu,
        &format!("/v1.0/users/{user}/contactFolders/{other}"),
        &token,
    )
    .await;
    assert_error(
        &r,
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    );
    let r = get(
        &emu,
        &format!("/v1.0/users/{user}/contactFolders/nonsense/contacts"),
        &token,
    )
    .await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "ErrorInvalidIdMalformed",
        "Id is malformed.",
    );
    // Ids of another mailbox are not found here.
    let bob = emu.create_user(json!({"displayName": "Bob"})).await;
    let r = get(
        &emu,
        &format!("/v1.0/users/{bob}/contactFolders/{a}"),
        &token,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    // Paths are case-insensitive, and a UPN names the user too.
    let upn = emu.get(&format!("/_emulator/users/{user}")).await.json()["userPrincipalName"]
        .as_str()
        .expect("upn")
        .to_owned();
    let r = get_ok(
        &emu,
        &format!("/v1.0/Users/{upn}/CONTACTFOLDERS/{a}/childfolders"),
        &token,
    )
    .await;
    assert_eq!(ids(r["value"].as_array().expect("value")), vec![b]);
}

#[tokio::test]
async fn lists_page_with_skip_and_honour_top_select_filter() {
    let (emu, user, token) = setup().await;
    for i in 0..25 {
        emu.create_contact(&user, person(&format!("P{i:02}"), None))
            .await;
    }
    let path = format!("/v1.0/users/{user}/contacts");
    let pages = emu.walk(&path, &token, &[]).await;
    assert_eq!(pages.len(), 3, "10 + 10 + 5");
    assert_eq!(pages[0]["value"].as_array().map(Vec::len), Some(10));
    let next = pages[0]["@odata.nextLink"].as_str().expect("nextLink");
    assert_eq!(next, format!("{}{path}?$skip=10", emu.base));
    let all = items(&pages);
    assert_eq!(all.len(), 25);
    assert_eq!(ids(&all).into_iter().collect::<HashSet<_>>().len(), 25);
    assert!(pages[2].get("@odata.nextLink").is_none());

    let pages = emu.walk(&format!("{path}?$top=7"), &token, &[]).await;
    assert_eq!(
        pages
            .iter()
            .map(|p| p["value"].as_array().map_or(0, Vec::len))
            .collect::<Vec<_>>(),
        vec![7, 7, 7, 4]
    );
    assert!(
        pages[0]["@odata.nextLink"]
            .as_str()
            .expect("next")
            .ends_with("?$top=7&$skip=7")
    );
    let r = get_ok(&emu, &format!("{path}?$top=5&$skip=23"), &token).await;
    assert_eq!(r["value"].as_array().map(Vec::len), Some(2));

    for bad in ["0", "1001", "ten"] {
        let r = get(&emu, &format!("{path}?$top={bad}"), &token).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert_eq!(r.json()["error"]["code"], "ErrorInvalidUrlQuery");
    }

    let r = get_ok(
        &emu,
        &format!("{path}?$select=DisplayName,emailAddresses&$top=2"),
        &token,
    )
    .await;
    assert_eq!(
        r["@odata.context"],
        format!(
            "{}/v1.0/$metadata#users('{user}')/contacts(displayName,emailAddresses)",
            emu.base
        )
    );
    let keys: BTreeSet<&str> = r["value"][0]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["@odata.etag", "displayName", "emailAddresses", "id"].into()
    );
    assert!(
        r["@odata.nextLink"]
            .as_str()
            .expect("next")
            .contains("$select=DisplayName,emailAddresses")
    );
    let r = get(&emu, &format!("{path}?$select=fax"), &token).await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "RequestBroker--ParseUri",
        "Could not find a property named 'fax' on type 'Microsoft.OutlookServices.Contact'.",
    );

    let r = get_ok(
        &emu,
        &format!("{path}?$filter=emailAddresses/any(a:a/address eq 'P07@EXAMPLE.com')&$count=true"),
        &token,
    )
    .await;
    assert_eq!(r["@odata.count"], 1);
    assert_eq!(r["value"][0]["givenName"], "P07");
    let r = get_ok(
        &emu,
        &format!("{path}?$orderby=givenName desc&$top=1"),
        &token,
    )
    .await;
    assert_eq!(r["value"][0]["givenName"], "P24");
    let r = get(
        &emu,
        &format!("{path}?$filter=startswith(displayName,'P')"),
        &token,
    )
    .await;
    assert_eq!(
        r.json()["error"]["code"],
        "ErrorInvalidUrlQuery",
        "{}",
        r.text
    );
}

/// Walks a delta from `url` (a path or an absolute link) to its deltaLink; returns the items
/// and the deltaLink.
async fn delta_round(
    emu: &Emu,
    url: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> (Vec<Value>, String) {
    let mut url = if url.starts_with("http") {
        url.to_owned()
    } else {
        emu.url(url)
    };
    let mut all = Vec::new();
    loop {
        let r = emu.follow(&url, token, headers).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.text);
        let body = r.json();
        all.extend(body["value"].as_array().cloned().unwrap_or_default());
        if let Some(next) = body["@odata.nextLink"].as_str() {
            assert!(next.contains("$skiptoken="), "{next}");
            url = next.to_owned();
            continue;
        }
        let link = body["@odata.deltaLink"].as_str().expect("deltaLink");
        assert!(link.starts_with(&emu.base), "{link}");
        assert!(link.contains("$deltatoken="), "{link}");
        return (all, link.to_owned());
    }
}

fn removed(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .filter(|i| i.get("@removed").is_some())
        .map(|i| {
            assert_eq!(i["@removed"], json!({"reason": "deleted"}));
            assert_eq!(i.as_object().map(|o| o.len()), Some(3), "{i}");
            i["id"].as_str().expect("id").to_owned()
        })
        .collect()
}

fn present(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .filter(|i| i.get("@removed").is_none())
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn contacts_delta_shows_exactly_what_changed() {
    let (emu, user, token) = setup().await;
    let x = emu.create_folder(&user, "Suppliers", None).await;
    let id = |v: &Value| v["id"].as_str().expect("id").to_owned();
    let a = id(&emu.create_contact(&user, person("Anna", None)).await);
    let b = id(&emu.create_contact(&user, person("Bert", None)).await);
    let e = id(&emu.create_contact(&user, person("Emil", None)).await);
    let c = id(&emu.create_contact(&user, person("Carl", Some(&x))).await);

    // Full rounds, one item per page, on both folders.
    let page1 = [("Prefer", "odata.maxpagesize=1")];
    let first = emu
        .follow(
            &emu.url(&format!("/v1.0/users/{user}/contacts/delta")),
            &token,
            &page1,
        )
        .await;
    assert_eq!(
        first.header("preference-applied"),
        Some("odata.maxpagesize=1")
    );
    assert_eq!(
        first.json()["@odata.context"],
        format!("{}/v1.0/$metadata#Collection(contact)", emu.base)
    );
    assert_eq!(
        first.json()["value"][0]["@odata.type"],
        "#microsoft.graph.contact"
    );
    let (items, default_link) = delta_round(
        &emu,
        &format!("/v1.0/users/{user}/contacts/delta"),
        &token,
        &page1,
    )
    .await;
    assert_eq!(present(&items), [a.clone(), b.clone(), e.clone()].into());
    assert!(removed(&items).is_empty());
    let (items, x_link) = delta_round(
        &emu,
        &format!("/v1.0/users/{user}/contactFolders/{x}/contacts/delta"),
        &token,
        &[],
    )
    .await;
    assert_eq!(present(&items), [c.clone()].into());
    // A round with nothing new is empty.
    let (items, default_link) = delta_round(&emu, &default_link, &token, &[]).await;
    assert!(items.is_empty(), "{items:?}");

    // Add d, change a, move b to X, delete e, write c without a change.
    let d = id(&emu.create_contact(&user, person("Dina", None)).await);
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{user}/contacts/{a}"),
            json!({"jobTitle": "Buyer", "mobilePhone": "07700 900123"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["jobTitle"], "Buyer");
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{user}/contacts/{b}"),
            json!({"parentFolderId": x}),
        )
        .await;
    assert_eq!(r.json()["parentFolderId"], x);
    assert_eq!(
        emu.delete(&format!("/_emulator/users/{user}/contacts/{e}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{user}/contacts/{c}"),
            json!({"givenName": "Carl"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let (items, next_default) = delta_round(&emu, &default_link, &token, &[]).await;
    assert_eq!(present(&items), [a.clone(), d.clone()].into());
    assert_eq!(removed(&items), [b.clone(), e.clone()].into());
    let changed_a = items.iter().find(|i| i["id"] == a).expect("a");
    assert_eq!(changed_a["jobTitle"], "Buyer", "full object: {changed_a}");
    assert_eq!(changed_a["givenName"], "Anna");
    assert_eq!(changed_a["mobilePhone"], "07700 900123");
    let (items, _) = delta_round(&emu, &x_link, &token, &[]).await;
    assert_eq!(present(&items), [b.clone()].into(), "moved in; c unchanged");
    assert!(removed(&items).is_empty());
    let (items, _) = delta_round(&emu, &next_default, &token, &[]).await;
    assert!(items.is_empty(), "{items:?}");

    // `$select` is kept in the state tokens.
    let (items, link) = delta_round(
        &emu,
        &format!("/v1.0/users/{user}/contacts/delta?$select=displayName"),
        &token,
        &[],
    )
    .await;
    let keys: BTreeSet<&str> = items[0]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["@odata.etag", "@odata.type", "displayName", "id"].into()
    );
    emu.patch_json(
        &format!("/_emulator/users/{user}/contacts/{d}"),
        json!({"surname": "Neu"}),
    )
    .await;
    let (items, _) = delta_round(&emu, &link, &token, &[]).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["displayName"], "Dina Tester");
    assert!(items[0].get("surname").is_none());
}

#[tokio::test]
async fn delta_refuses_options_and_unknown_tokens() {
    let (emu, user, token) = setup().await;
    let x = emu.create_folder(&user, "X", None).await;
    let path = format!("/v1.0/users/{user}/contacts/delta");
    for option in [
        "$top=5",
        "$filter=displayName eq 'x'",
        "$orderby=displayName",
        "$expand=x",
        "$search=x",
    ] {
        let r = get(&emu, &format!("{path}?{option}"), &token).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{option}: {}", r.text);
        assert_eq!(
            r.json()["error"]["code"],
            "ErrorInvalidUrlQuery",
            "{option}"
        );
    }
    let sync_state = "The sync state generation is not found. The delta token is expired and data must be synchronized again.";
    for token_query in [
        "$deltatoken=garbage",
        "$skiptoken=garbage",
        "$deltatoken=latest",
    ] {
        let r = get(&emu, &format!("{path}?{token_query}"), &token).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "syncStateNotFound", sync_state);
    }
    // A token of one folder does not work on another.
    let (_, link) = delta_round(&emu, &path, &token, &[]).await;
    let query = link.split('?').nth(1).expect("query");
    let r = get(
        &emu,
        &format!("/v1.0/users/{user}/contactFolders/{x}/contacts/delta?{query}"),
        &token,
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "syncStateNotFound", sync_state);
    // Expiry through the control API, like the users delta.
    let r = emu
        .post_json("/_emulator/delta/expire", json!({"mode": "gone"}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = emu.follow(&link, &token, &[]).await;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "resyncRequired");
    assert_eq!(r.header("location"), Some(emu.url(&path).as_str()));
    // An empty `$deltatoken=` starts over.
    let r = get(&emu, &format!("{path}?$deltatoken="), &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // A folder that is gone.
    emu.delete(&format!("/_emulator/users/{user}/contactFolders/{x}"))
        .await;
    let r = get(
        &emu,
        &format!("/v1.0/users/{user}/contactFolders/{x}/contacts/delta"),
        &token,
    )
    .await;
    assert_eq!(r.json()["error"]["code"], "ErrorItemNotFound", "{}", r.text);
}

#[tokio::test]
async fn folder_delta_lists_every_folder_flat_then_changes() {
    let (emu, user, token) = setup().await;
    let a = emu.create_folder(&user, "A", None).await;
    let b = emu.create_folder(&user, "B", Some(&a)).await;
    let keep = emu.create_folder(&user, "Keep", None).await;
    let path = format!("/v1.0/users/{user}/contactFolders/delta");
    let (items, link) = delta_round(&emu, &path, &token, &[]).await;
    assert_eq!(present(&items), [a.clone(), b.clone(), keep.clone()].into());
    let item_b = items.iter().find(|i| i["id"] == b).expect("b");
    assert_eq!(item_b["parentFolderId"], a);
    assert_eq!(item_b["@odata.type"], "#microsoft.graph.contactFolder");
    assert_eq!(item_b["displayName"], "B");

    let new = emu.create_folder(&user, "New", Some(&keep)).await;
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{user}/contactFolders/{keep}"),
            json!({"displayName": "Kept"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["displayName"], "Kept");
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{user}/contactFolders/{keep}"),
            json!({"displayName": "New", "parentFolderId": new}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "not below itself: {}",
        r.text
    );
    assert_eq!(
        emu.delete(&format!("/_emulator/users/{user}/contactFolders/{a}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let (items, link) = delta_round(&emu, &link, &token, &[]).await;
    assert_eq!(present(&items), [new.clone(), keep.clone()].into());
    assert_eq!(
        removed(&items),
        [a, b].into(),
        "subfolders go with their parent"
    );
    let renamed = items.iter().find(|i| i["id"] == keep).expect("renamed");
    assert_eq!(renamed["displayName"], "Kept");
    let (items, _) = delta_round(&emu, &link, &token, &[]).await;
    assert!(items.is_empty());
    // The top-level list changes with it.
    let top = get_ok(&emu, &format!("/v1.0/users/{user}/contactFolders"), &token).await;
    assert_eq!(ids(top["value"].as_array().expect("value")), vec![keep]);
}

#[tokio::test]
async fn users_without_mailbox_unknown_users_and_roles() {
    let (emu, _, token) = setup().await;
    let none = emu
        .create_user(json!({"displayName": "Kiosk", "mailboxEnabled": false}))
        .await;
    let view = emu.get(&format!("/_emulator/users/{none}")).await.json();
    assert_eq!(view["mailboxEnabled"], false);
    for route in [
        "contacts",
        "contacts/delta",
        "contactFolders",
        "contactFolders/delta",
        "contactFolders/AAMkAAAA/contacts",
    ] {
        let r = get(&emu, &format!("/v1.0/users/{none}/{route}"), &token).await;
        assert_error(
            &r,
            StatusCode::NOT_FOUND,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        );
    }
    let r = emu
        .post_json(
            &format!("/_emulator/users/{none}/contacts"),
            json!({"givenName": "X"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{none}"),
            json!({"mailboxEnabled": true}),
        )
        .await;
    assert_eq!(r.json()["mailboxEnabled"], true);
    let r = get(&emu, &format!("/v1.0/users/{none}/contacts"), &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["value"], json!([]));

    let unknown = "00000000-0000-0000-0000-000000000001";
    let r = get(&emu, &format!("/v1.0/users/{unknown}/contacts"), &token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["code"], "Request_ResourceNotFound");

    let app = emu.app(&["User.Read.All"], true).await;
    let users_only = emu.access_token(&app).await;
    let r = get(&emu, &format!("/v1.0/users/{none}/contacts"), &users_only).await;
    assert_error(
        &r,
        StatusCode::FORBIDDEN,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
    );
    let r = emu.get(&format!("/v1.0/users/{none}/contacts")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Only GET on the Graph side.
    let r = emu
        .send(
            Method::POST,
            &format!("/v1.0/users/{none}/contacts"),
            &token,
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn fifth_concurrent_request_on_a_mailbox_is_throttled() {
    let (emu, user, token) = setup().await;
    let other = emu.create_user(json!({"displayName": "Other"})).await;
    let second_app = emu.contacts_reader().await;
    let r = emu
        .post_json("/_emulator/outlook", json!({"latency_ms": 1500}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["concurrency_limit"], 4);
    let path = format!("/v1.0/users/{user}/contacts");
    let first_four: Vec<_> = (0..4)
        .map(|_| {
            let http = emu.http.clone();
            let url = emu.url(&path);
            let token = token.clone();
            tokio::spawn(async move {
                http.get(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    // Wait until all four hold their slot.
    for _ in 0..100 {
        if emu.get("/_emulator/outlook").await.json()["in_flight"] == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(emu.get("/_emulator/outlook").await.json()["in_flight"], 4);

    let fifth = get(&emu, &path, &token).await;
    assert_eq!(
        fifth.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        fifth.text
    );
    assert_eq!(fifth.header("retry-after"), Some("1"));
    assert_eq!(
        fifth.json(),
        json!({"error": {"code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit."}})
    );
    assert!(fifth.header("request-id").is_some());
    // Other mailboxes, and other apps on this mailbox, have their own limit.
    let other_path = format!("/v1.0/users/{other}/contacts");
    let (elsewhere, other_app) = tokio::join!(
        get(&emu, &other_path, &token),
        get(&emu, &path, &second_app)
    );
    assert_eq!(elsewhere.status, StatusCode::OK, "{}", elsewhere.text);
    assert_eq!(other_app.status, StatusCode::OK, "{}", other_app.text);

    for h in first_four {
        assert_eq!(h.await.expect("task").expect("response"), StatusCode::OK);
    }
    emu.post_json("/_emulator/outlook", json!({"latency_ms": 0}))
        .await;
    assert_eq!(get(&emu, &path, &token).await.status, StatusCode::OK);
    assert_eq!(emu.get("/_emulator/outlook").await.json()["in_flight"], 0);
}

#[tokio::test]
async fn immutable_ids_are_confirmed() {
    let (emu, user, token) = setup().await;
    let r = emu
        .send(
            Method::GET,
            &format!("/v1.0/users/{user}/contacts/delta"),
            &token,
            None,
            &[
                ("Prefer", "IdType=\"ImmutableId\""),
                ("Prefer", "odata.maxpagesize=5"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.header("preference-applied"),
        Some("odata.maxpagesize=5, IdType=\"ImmutableId\"")
    );
}

#[tokio::test]
async fn generated_mailboxes_are_lazy_deterministic_and_varied() {
    let emu = start_users(300).await;
    let token = emu.contacts_reader().await;
    assert_eq!(
        emu.get("/_emulator/tenant").await.json()["materialisedMailboxes"],
        0
    );
    let users = emu.get("/_emulator/users?limit=300").await.json()["value"]
        .as_array()
        .expect("users")
        .clone();
    let without: Vec<&Value> = users
        .iter()
        .filter(|u| u["mailboxEnabled"] == false)
        .collect();
    assert!(
        (6..=30).contains(&without.len()),
        "about 5% without a mailbox: {}",
        without.len()
    );
    assert!(
        users
            .iter()
            .filter(|u| u["userType"] == "Guest")
            .all(|u| u["mailboxEnabled"] == false),
        "guests have no mailbox"
    );
    let r = get(
        &emu,
        &format!(
            "/v1.0/users/{}/contacts",
            without[0]["id"].as_str().expect("id")
        ),
        &token,
    )
    .await;
    assert_eq!(r.json()["error"]["code"], "MailboxNotEnabledForRESTAPI");

    let with: Vec<String> = users
        .iter()
        .filter(|u| u["mailboxEnabled"] == true)
        .map(|u| u["id"].as_str().expect("id").to_owned())
        .take(40)
        .collect();
    let mut counts = Vec::new();
    let mut phones = Vec::new();
    let mut nested = 0;
    for id in &with {
        let mb = emu
            .get(&format!("/_emulator/users/{id}/contacts"))
            .await
            .json();
        let folders = mb["folders"].as_array().expect("folders");
        assert!((1..=4).contains(&folders.len()), "{}", folders.len());
        let default = folders[0]["id"].as_str().expect("default id");
        nested += folders
            .iter()
            .skip(1)
            .filter(|f| f["parentFolderId"] != default)
            .count();
        let contacts = mb["value"].as_array().expect("contacts");
        assert!(contacts.len() <= 200);
        counts.push(contacts.len());
        for c in contacts {
            assert!(c["id"].as_str().expect("id").starts_with("AAMkA"));
            assert!(
                c["displayName"].as_str().is_some_and(|n| !n.is_empty()),
                "{c}"
            );
            for p in c["businessPhones"].as_array().into_iter().flatten() {
                phones.push(p.as_str().unwrap_or_default().to_owned());
            }
        }
    }
    assert_eq!(
        emu.get("/_emulator/tenant").await.json()["materialisedMailboxes"],
        40,
        "only touched mailboxes are kept"
    );
    assert!(
        counts.iter().any(|n| *n > 100) && counts.iter().any(|n| *n < 100),
        "{counts:?}"
    );
    assert!(nested > 0, "some folders are nested");
    assert!(phones.iter().any(|p| p.starts_with('+')));
    assert!(
        phones
            .iter()
            .any(|p| p.starts_with('0') || p.starts_with('('))
    );

    // The Graph walk sees the same mailbox as the control view.
    let id = &with[0];
    let control = emu
        .get(&format!("/_emulator/users/{id}/contacts"))
        .await
        .json();
    let mut graph_contacts = Vec::new();
    let mut queue = vec![None::<String>];
    let mut folders_seen = 0;
    while let Some(folder) = queue.pop() {
        let (contacts_path, children_path) = match &folder {
            None => (
                format!("/v1.0/users/{id}/contacts?$top=1000"),
                format!("/v1.0/users/{id}/contactFolders"),
            ),
            Some(f) => (
                format!("/v1.0/users/{id}/contactFolders/{f}/contacts?$top=1000"),
                format!("/v1.0/users/{id}/contactFolders/{f}/childFolders"),
            ),
        };
        folders_seen += 1;
        graph_contacts.extend(items(&emu.walk(&contacts_path, &token, &[]).await));
        for child in items(&emu.walk(&children_path, &token, &[]).await) {
            queue.push(Some(child["id"].as_str().expect("id").to_owned()));
        }
    }
    assert_eq!(
        folders_seen,
        control["folders"].as_array().map_or(0, Vec::len)
    );
    let mut control_contacts = control["value"].as_array().expect("value").clone();
    let key = |v: &Value| v["id"].as_str().unwrap_or_default().to_owned();
    control_contacts.sort_by_key(key);
    graph_contacts.sort_by_key(key);
    assert_eq!(graph_contacts, control_contacts);

    // Same seed, same mailboxes; another seed, other ones.
    let twin = start_users(300).await;
    let again = twin
        .get(&format!("/_emulator/users/{id}/contacts"))
        .await
        .json();
    assert_eq!(again, control);
    let other = start_config(EmulatorConfig {
        seed: 8,
        users: 300,
        ..EmulatorConfig::default()
    })
    .await;
    let first_other = other.get("/_emulator/users?limit=1").await.json()["value"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_ne!(first_other, users[0]["id"].as_str().expect("id"));
}

/// The benchmark's access pattern on a 10,000-user tenant: folder delta plus the default
/// folder's contacts delta, 10 mailboxes per `$batch`. Prints the figures
/// (`cargo test --release -p graph-emulator --test emulator ten_thousand -- --nocapture`).
#[tokio::test]
async fn ten_thousand_users_read_in_batches() {
    let started = std::time::Instant::now();
    let emu = start_users(10_000).await;
    let seeding = started.elapsed();
    let token = emu.contacts_reader().await;
    let users = emu.get("/_emulator/users?limit=10000").await.json()["value"]
        .as_array()
        .expect("users")
        .iter()
        .filter(|u| u["mailboxEnabled"] == true)
        .map(|u| u["id"].as_str().expect("id").to_owned())
        .collect::<Vec<_>>();
    let mailboxes = 500;
    let t = std::time::Instant::now();
    let mut contacts = 0;
    for chunk in users[..mailboxes].chunks(10) {
        let requests: Vec<Value> = chunk
            .iter()
            .enumerate()
            .flat_map(|(i, u)| {
                [
                    json!({"id": format!("f{i}"), "method": "GET", "url": format!("/users/{u}/contactFolders/delta")}),
                    json!({"id": format!("c{i}"), "method": "GET", "url": format!("/users/{u}/contacts/delta"),
                           "headers": {"Prefer": "odata.maxpagesize=1000"}}),
                ]
            })
            .collect();
        let r = emu
            .send(
                Method::POST,
                "/v1.0/$batch",
                &token,
                Some(json!({ "requests": requests })),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        for a in r.json()["responses"].as_array().expect("responses") {
            assert_eq!(a["status"], 200, "{a}");
            contacts += a["body"]["value"].as_array().map_or(0, Vec::len);
        }
    }
    let elapsed = t.elapsed();
    let stats = emu.emu.state().mailbox_stats();
    assert_eq!(stats.materialised, mailboxes);
    let per_mailbox = stats.approx_heap_bytes / mailboxes;
    assert!(per_mailbox < 8 * 1024, "{per_mailbox} bytes per mailbox");
    println!(
        "10k users seeded in {:.0} ms; {mailboxes} mailboxes ({contacts} default-folder contacts and folders) read in {:.0} ms ({:.2} ms per mailbox); ~{per_mailbox} bytes held per touched mailbox ({} build)",
        seeding.as_secs_f64() * 1000.0,
        elapsed.as_secs_f64() * 1000.0,
        elapsed.as_secs_f64() * 1000.0 / mailboxes as f64,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
}
