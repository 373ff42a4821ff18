#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! Contact sync against the emulated tenant: a synced user's Outlook contacts, from every
//! folder, become the phonebook of their extension and follow every change; caller-ID lookup
//! and real CardDAV clients see the result. SQLite, and PostgreSQL with SWITCHBOARD_TEST_POSTGRES.

mod common;

use common::{TestApp, spawn_app, spawn_app_with_users};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

fn member(name: &str, country: &str) -> Value {
    let upn = format!(
        "{}@contoso.onmicrosoft.com",
        name.to_lowercase().replace(' ', ".")
    );
    json!({
        "displayName": name,
        "givenName": name.split(' ').next().unwrap(),
        "surname": name.split(' ').nth(1).unwrap_or(""),
        "userPrincipalName": upn,
        "mail": upn,
        "accountEnabled": true,
        "userType": "Member",
        "usageLocation": country,
    })
}

async fn connected() -> TestApp {
    let app = spawn_app().await;
    app.connect().await;
    app
}

/// Adds a user and syncs users, returning (Entra id, extension number).
async fn synced_user(app: &TestApp, name: &str, country: &str) -> (String, String) {
    let id = app.add_user(member(name, country)).await;
    app.sync("").await;
    let number = app
        .extensions()
        .await
        .iter()
        .find(|e| e["graph_user_id"] == id.as_str())
        .unwrap()["number"]
        .as_str()
        .unwrap()
        .to_owned();
    (id, number)
}

async fn folder(app: &TestApp, user: &str, name: &str, parent: Option<&str>) -> String {
    let mut body = json!({"displayName": name});
    if let Some(p) = parent {
        body["parentFolderId"] = json!(p);
    }
    app.emulator_post(&format!("/_emulator/users/{user}/contactFolders"), body)
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn contact(app: &TestApp, user: &str, body: Value) -> String {
    app.emulator_post(&format!("/_emulator/users/{user}/contacts"), body)
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn emulator(app: &TestApp, method: Method, path: &str, body: Option<Value>) {
    let mut r = app.http.request(method, app.emulator_url(path));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
}

async fn sync_contacts(app: &TestApp, query: &str) -> Value {
    let r = app
        .api(Method::POST, &format!("/api/v1/sync/contacts?{query}"))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn phonebook(app: &TestApp, number: &str) -> Vec<Value> {
    let r = app
        .api(
            Method::GET,
            &format!("/api/v1/extensions/{number}/phonebook?limit=500"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// name → [(type, raw, e164)]
fn by_name(entries: &[Value]) -> BTreeMap<String, Vec<(String, String, Value)>> {
    entries
        .iter()
        .map(|e| {
            (
                e["display_name"].as_str().unwrap().to_owned(),
                e["phones"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        (
                            p["type"].as_str().unwrap().to_owned(),
                            p["raw"].as_str().unwrap().to_owned(),
                            p["e164"].clone(),
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

async fn lookup(app: &TestApp, query: &str) -> (u16, Value) {
    let r = app
        .api(Method::GET, &format!("/api/v1/lookup?{query}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn outer_batches(stats: &Value) -> u64 {
    stats["routes"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(route, _)| route.contains("$batch"))
        .flat_map(|(_, by_status)| by_status.as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn contacts_from_every_folder_become_the_phonebook_and_follow_changes() {
    let app = connected().await;
    let (ada, number) = synced_user(&app, "Ada Lovelace", "GB").await;
    let suppliers = folder(&app, &ada, "Suppliers", None).await;
    let plumbers = folder(&app, &ada, "Plumbers", Some(&suppliers)).await;
    let bob = contact(
        &app,
        &ada,
        json!({"givenName": "Bob", "surname": "Builder", "companyName": "Builders Ltd",
               "businessPhones": ["020 7946 0123"], "mobilePhone": "07700 900123",
               "emailAddresses": [{"name": "Bob", "address": "bob@builders.example"}]}),
    )
    .await;
    let carla = contact(
        &app,
        &ada,
        json!({"displayName": "Carla Supplier", "homePhones": ["0049 30 12345678"],
               "parentFolderId": suppliers}),
    )
    .await;
    let dan = contact(
        &app,
        &ada,
        json!({"displayName": "Dan Plumber", "businessPhones": ["ask reception"],
               "mobilePhone": "+1 (212) 555-0147", "parentFolderId": plumbers}),
    )
    .await;

    let first = sync_contacts(&app, "").await;
    assert_eq!(first["run"]["counts"]["created"], 3, "{first}");
    let book = by_name(&phonebook(&app, &number).await);
    assert_eq!(
        book.keys().cloned().collect::<Vec<_>>(),
        ["Bob Builder", "Carla Supplier", "Dan Plumber"],
        "every folder, the nested one included"
    );
    assert_eq!(
        book["Bob Builder"],
        [
            (
                "business".into(),
                "020 7946 0123".into(),
                json!("+442079460123")
            ),
            (
                "mobile".into(),
                "07700 900123".into(),
                json!("+447700900123")
            ),
        ],
        "numbers read in the user's country (GB), raw text kept"
    );
    assert_eq!(book["Carla Supplier"][0].2, json!("+493012345678"));
    assert_eq!(
        book["Dan Plumber"][0],
        ("business".into(), "ask reception".into(), Value::Null),
        "an unreadable number is kept raw and flagged, not dropped"
    );

    // Caller ID: the number as a trunk presents it, and as a person would type it.
    let (status, hit) = lookup(&app, &format!("number=%2B442079460123&extension={number}")).await;
    assert_eq!(status, 200, "{hit}");
    assert_eq!(hit["name"], "Bob Builder");
    assert_eq!(hit["source"], "phonebook");
    assert_eq!(hit["owner_extension"], number.as_str());
    let (status, hit) = lookup(
        &app,
        &format!("number=0049-30-1234-5678&extension={number}"),
    )
    .await;
    assert_eq!(
        (status, hit["name"].as_str()),
        (200, Some("Carla Supplier"))
    );

    // A run with nothing new: one batch for the folder tree and the default folder, one for the
    // two other folders; nothing written.
    let before = outer_batches(&app.emulator_stats().await);
    let idle = sync_contacts(&app, "").await;
    let counts = &idle["run"]["counts"];
    assert_eq!(
        (
            counts["created"].as_u64(),
            counts["updated"].as_u64(),
            counts["removed"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{idle}"
    );
    let requests = outer_batches(&app.emulator_stats().await) - before;
    assert!(requests <= 2, "an idle run took {requests} Graph requests");

    // Changes in Outlook: edit, delete, move, add, rename a folder.
    emulator(
        &app,
        Method::PATCH,
        &format!("/_emulator/users/{ada}/contacts/{bob}"),
        Some(json!({"mobilePhone": "07700 900999"})),
    )
    .await;
    emulator(
        &app,
        Method::DELETE,
        &format!("/_emulator/users/{ada}/contacts/{carla}"),
        None,
    )
    .await;
    emulator(
        &app,
        Method::PATCH,
        &format!("/_emulator/users/{ada}/contacts/{dan}"),
        Some(json!({"parentFolderId": suppliers})),
    )
    .await;
    contact(
        &app,
        &ada,
        json!({"displayName": "Eve Electric", "businessPhones": ["+44 161 496 0000"],
               "parentFolderId": plumbers}),
    )
    .await;
    let delta = sync_contacts(&app, "").await;
    assert_eq!(delta["run"]["mode"], "delta", "{delta}");
    let book = by_name(&phonebook(&app, &number).await);
    assert_eq!(
        book.keys().cloned().collect::<Vec<_>>(),
        ["Bob Builder", "Dan Plumber", "Eve Electric"]
    );
    assert_eq!(book["Bob Builder"][1].2, json!("+447700900999"));
    let (status, _) = lookup(&app, &format!("number=%2B493012345678&extension={number}")).await;
    assert_eq!(status, 404, "a deleted contact no longer answers caller ID");

    // A deleted folder takes its contacts with it.
    emulator(
        &app,
        Method::DELETE,
        &format!("/_emulator/users/{ada}/contactFolders/{plumbers}"),
        None,
    )
    .await;
    sync_contacts(&app, "").await;
    let names: BTreeSet<String> = by_name(&phonebook(&app, &number).await)
        .into_keys()
        .collect();
    assert_eq!(
        names,
        ["Bob Builder", "Dan Plumber"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}

#[tokio::test]
async fn a_user_without_a_mailbox_is_skipped_with_the_reason() {
    let app = connected().await;
    let mut no_exchange = member("Nora Nomail", "US");
    no_exchange["mailboxEnabled"] = json!(false);
    let nora = app.add_user(no_exchange).await;
    let (_, ada_number) = synced_user(&app, "Ada Lovelace", "GB").await;
    let ada = app.extensions().await;
    let ada_id = ada
        .iter()
        .find(|e| e["number"] == ada_number.as_str())
        .unwrap()["graph_user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    contact(
        &app,
        &ada_id,
        json!({"displayName": "Bob", "businessPhones": ["020 7946 0123"]}),
    )
    .await;

    let run = sync_contacts(&app, "").await;
    assert_eq!(run["run"]["counts"]["skipped"], 1, "{run}");
    assert!(run["run"]["error"].is_null(), "not an error: {run}");
    let skipped: Vec<Value> = app
        .api(Method::GET, "/api/v1/sync/contacts/skipped")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0]["mailbox_id"], nora.as_str());
    assert_eq!(skipped[0]["reason"], "no mailbox (plan without Exchange)");
    assert_eq!(
        phonebook(&app, &ada_number).await.len(),
        1,
        "the others are synced"
    );
}

#[tokio::test]
async fn throttled_items_inside_a_batch_are_retried_after_their_retry_after() {
    let app = connected().await;
    let (ada, number) = synced_user(&app, "Ada Lovelace", "GB").await;
    for i in 0..15 {
        contact(
            &app,
            &ada,
            json!({"displayName": format!("Contact {i:02}"), "businessPhones": [format!("020 7946 {:04}", 1000 + i)]}),
        )
        .await;
    }
    app.emulator_post(
        "/_emulator/faults",
        json!({"path_prefix": format!("/v1.0/users/{ada}/contacts"), "status": 429,
               "retry_after": "0.3", "count": 2}),
    )
    .await;
    let run = sync_contacts(&app, "").await;
    assert!(run["run"]["error"].is_null(), "{run}");
    assert_eq!(phonebook(&app, &number).await.len(), 15);
    let stats = app.emulator_stats().await;
    let throttled: u64 = stats["batch_routes"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|by_status| by_status.get("429").and_then(Value::as_u64))
        .sum();
    assert_eq!(
        throttled, 2,
        "both throttled answers were seen and retried: {stats}"
    );
}

#[tokio::test]
async fn leaving_the_contact_scope_removes_that_users_phonebook_only() {
    let app = connected().await;
    let (ada, ada_number) = synced_user(&app, "Ada Lovelace", "GB").await;
    let (bob, bob_number) = synced_user(&app, "Bob Babbage", "GB").await;
    for user in [&ada, &bob] {
        contact(
            &app,
            user,
            json!({"displayName": "Shared Plumber", "businessPhones": ["020 7946 0555"]}),
        )
        .await;
    }
    sync_contacts(&app, "").await;
    assert_eq!(phonebook(&app, &bob_number).await.len(), 1);

    let r = app
        .api(Method::PUT, "/api/v1/settings/contact-sync")
        .json(&json!({"scope": {"mode": "only", "ids": [ada]}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    sync_contacts(&app, "").await;
    assert_eq!(phonebook(&app, &ada_number).await.len(), 1);
    assert!(
        phonebook(&app, &bob_number).await.is_empty(),
        "out of scope: the synced phonebook is gone"
    );
    let (status, _) = lookup(&app, &format!("number=02079460555&extension={bob_number}")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_generated_tenant_syncs_every_folder_of_every_mailbox() {
    let app = spawn_app_with_users(25).await;
    app.connect().await;
    app.sync("").await;
    let run = sync_contacts(&app, "").await;
    assert!(run["run"]["error"].is_null(), "{run}");
    let mut skipped = 0;
    let mut compared = 0;
    for ext in app.extensions().await {
        let id = ext["graph_user_id"].as_str().unwrap();
        let r = app
            .http
            .get(app.emulator_url(&format!("/_emulator/users/{id}/contacts")))
            .send()
            .await
            .unwrap();
        let in_outlook: Value = r.json().await.unwrap();
        let Some(contacts) = in_outlook["value"].as_array() else {
            skipped += 1;
            continue;
        };
        let number = ext["number"].as_str().unwrap();
        let ours = phonebook(&app, number).await;
        assert_eq!(
            ours.len(),
            contacts.len().min(500),
            "extension {number}: every contact of every folder"
        );
        compared += 1;
    }
    assert!(compared >= 15, "compared {compared}, skipped {skipped}");
    assert_eq!(run["run"]["counts"]["skipped"], skipped, "{run}");
}
