//! `POST /v1.0/$batch` (graph-protocol.md §6.3): inner requests through the normal routes,
//! faults, the mailbox concurrency limit, `dependsOn`, and how stats count them.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

async fn batch(emu: &Emu, token: &str, requests: Value) -> Reply {
    emu.send(
        Method::POST,
        "/v1.0/$batch",
        token,
        Some(json!({ "requests": requests })),
        &[],
    )
    .await
}

/// The inner responses by id, asserting the outer 200.
fn by_id(r: &Reply) -> HashMap<String, Value> {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .map(|a| (a["id"].as_str().expect("id").to_owned(), a.clone()))
        .collect()
}

async fn setup() -> (Emu, String, String) {
    let emu = start().await;
    let user = emu.create_user(json!({"displayName": "Ada"})).await;
    for i in 0..12 {
        emu.create_contact(&user, json!({"givenName": format!("C{i}")}))
            .await;
    }
    let token = emu.contacts_reader().await;
    (emu, user, token)
}

#[tokio::test]
async fn inner_requests_use_the_graph_routes_and_stats_count_both_levels() {
    let (emu, user, token) = setup().await;
    emu.http
        .delete(emu.url("/_emulator/stats"))
        .send()
        .await
        .expect("reset");
    let r = batch(
        &emu,
        &token,
        json!([
            {"id": "1", "method": "GET", "url": format!("/users/{user}/contacts")},
            {"id": "2", "method": "GET", "url": format!("users/{user}/contactFolders")},
            {"id": "3", "method": "GET", "url": format!("/users/{user}?$select=displayName")},
            {"id": "4", "method": "GET", "url": "/nowhere"},
            {"id": "5", "method": "GET", "url": format!("/users/{user}/contacts/delta"),
             "headers": {"Prefer": "odata.maxpagesize=5"}},
        ]),
    )
    .await;
    let answers = by_id(&r);
    assert_eq!(answers.len(), 5);
    let contacts = &answers["1"];
    assert_eq!(contacts["status"], 200);
    assert!(
        contacts["headers"]["Content-Type"]
            .as_str()
            .expect("content type")
            .starts_with("application/json")
    );
    assert!(contacts["headers"].get("request-id").is_none());
    let body = &contacts["body"];
    assert_eq!(body["value"].as_array().map(Vec::len), Some(10));
    assert_eq!(
        body["@odata.nextLink"],
        format!("{}/v1.0/users/{user}/contacts?$skip=10", emu.base),
        "absolute nextLink inside the batch"
    );
    assert_eq!(answers["2"]["status"], 200);
    assert_eq!(answers["3"]["body"]["displayName"], "Ada");
    assert_eq!(answers["4"]["status"], 400);
    assert_eq!(answers["4"]["body"]["error"]["code"], "BadRequest");
    let delta = &answers["5"];
    assert_eq!(
        delta["headers"]["Preference-Applied"],
        "odata.maxpagesize=5"
    );
    assert_eq!(delta["body"]["value"].as_array().map(Vec::len), Some(5));

    let stats = emu.get("/_emulator/stats").await.json();
    assert_eq!(stats["total"], 1, "one HTTP request: {stats}");
    assert_eq!(stats["routes"], json!({"POST /v1.0/$batch": {"200": 1}}));
    assert_eq!(stats["batch_total"], 5);
    assert_eq!(
        stats["batch_routes"]["GET /v1.0/users/{id}/contacts"]["200"],
        1
    );
    assert_eq!(
        stats["batch_routes"]["GET /v1.0/users/{id}/contacts/delta"]["200"],
        1
    );
    assert_eq!(
        stats["batch_routes"]["GET /v1.0/users/{id}/contactFolders"]["200"],
        1
    );
    assert_eq!(stats["batch_routes"]["GET /v1.0/{*rest}"]["400"], 1);
}

#[tokio::test]
async fn answers_come_back_shuffled() {
    let (emu, user, token) = setup().await;
    let requests: Vec<Value> = (1..=10)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{user}")}))
        .collect();
    let r = batch(&emu, &token, json!(requests)).await;
    let order: Vec<String> = r.json()["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect();
    let sent: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
    assert_ne!(order, sent, "not in request order");
    let mut sorted = order.clone();
    sorted.sort_by_key(|s| s.parse::<u32>().unwrap_or(0));
    assert_eq!(sorted, sent, "every id once");
    let again = batch(&emu, &token, json!(requests)).await;
    let order_again: Vec<String> = again.json()["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(order_again, order, "the shuffle is repeatable");
}

#[tokio::test]
async fn batch_size_and_shape_are_checked() {
    let (emu, user, token) = setup().await;
    let many: Vec<Value> = (1..=21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{user}")}))
        .collect();
    let r = batch(&emu, &token, json!(many)).await;
    assert_error(
        &r,
        StatusCode::BAD_REQUEST,
        "BadRequest",
        "The batch contains 21 requests; at most 20 are allowed in one batch.",
    );
    let r = batch(&emu, &token, json!(many[..20])).await;
    assert_eq!(by_id(&r).len(), 20);
    let r = batch(&emu, &token, json!([many[0], many[0]])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = emu
        .send(
            Method::POST,
            "/v1.0/$batch",
            &token,
            Some(json!({"value": []})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = emu
        .http
        .post(emu.url("/v1.0/$batch"))
        .json(&json!({"requests": many[..1]}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Absolute URLs and nested batches are refused per item.
    let r = batch(
        &emu,
        &token,
        json!([
            {"id": "a", "method": "GET", "url": format!("https://graph.microsoft.com/v1.0/users/{user}")},
            {"id": "b", "method": "POST", "url": "/$batch", "body": {}, "headers": {"Content-Type": "application/json"}},
            {"id": "c", "method": "GET", "url": format!("/users/{user}")},
        ]),
    )
    .await;
    let answers = by_id(&r);
    assert_eq!(answers["a"]["status"], 400);
    assert_eq!(answers["b"]["status"], 400);
    assert_eq!(answers["c"]["status"], 200);
}

#[tokio::test]
async fn faults_apply_to_inner_requests() {
    let (emu, user, token) = setup().await;
    let other = emu.create_user(json!({"displayName": "Other"})).await;
    let r = emu
        .post_json(
            "/_emulator/faults",
            json!({"path_prefix": format!("/v1.0/users/{user}/contacts"), "status": 429, "retry_after": "2.5", "count": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = batch(
        &emu,
        &token,
        json!([
            {"id": "1", "method": "GET", "url": format!("/users/{user}/contacts")},
            {"id": "2", "method": "GET", "url": format!("/users/{other}/contacts")},
        ]),
    )
    .await;
    let answers = by_id(&r);
    assert_eq!(answers["1"]["status"], 429);
    assert_eq!(answers["1"]["headers"]["Retry-After"], "2.5");
    assert_eq!(answers["1"]["body"]["error"]["code"], "TooManyRequests");
    assert_eq!(answers["2"]["status"], 200);
    // Used up: the next batch passes.
    let r = batch(
        &emu,
        &token,
        json!([{"id": "1", "method": "GET", "url": format!("/users/{user}/contacts")}]),
    )
    .await;
    assert_eq!(by_id(&r)["1"]["status"], 200);
}

#[tokio::test]
async fn more_than_four_items_for_one_mailbox_are_throttled() {
    let (emu, user, token) = setup().await;
    let other = emu.create_user(json!({"displayName": "Other"})).await;
    let mut requests: Vec<Value> = (1..=6)
        .map(|i| json!({"id": format!("m{i}"), "method": "GET", "url": format!("/users/{user}/contacts?$top=1")}))
        .collect();
    requests.push(json!({"id": "o", "method": "GET", "url": format!("/users/{other}/contacts")}));
    let answers = by_id(&batch(&emu, &token, json!(requests)).await);
    let throttled: Vec<&Value> = answers.values().filter(|a| a["status"] == 429).collect();
    assert_eq!(throttled.len(), 2, "{answers:?}");
    for a in &throttled {
        assert_eq!(
            a["body"],
            json!({"error": {"code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit."}})
        );
        assert_eq!(a["headers"]["Retry-After"], "1");
    }
    assert_eq!(answers["o"]["status"], 200);
    assert_eq!(
        emu.get("/_emulator/outlook").await.json()["in_flight"],
        0,
        "slots are released once the batch is answered"
    );

    // A sequential chain never overlaps itself.
    let chain: Vec<Value> = (1..=6)
        .map(|i| {
            let mut r = json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{user}/contacts")});
            if i > 1 {
                r["dependsOn"] = json!([(i - 1).to_string()]);
            }
            r
        })
        .collect();
    let answers = by_id(&batch(&emu, &token, json!(chain)).await);
    assert!(answers.values().all(|a| a["status"] == 200), "{answers:?}");
}

#[tokio::test]
async fn dependents_of_failed_requests_get_424() {
    let (emu, user, token) = setup().await;
    let r = batch(
        &emu,
        &token,
        json!([
            {"id": "1", "method": "GET", "url": "/users/00000000-0000-0000-0000-000000000009/contacts"},
            {"id": "2", "method": "GET", "url": format!("/users/{user}/contacts"), "dependsOn": ["1"]},
            {"id": "3", "method": "GET", "url": format!("/users/{user}/contacts"), "dependsOn": ["2"]},
            {"id": "4", "method": "GET", "url": format!("/users/{user}")},
            {"id": "5", "method": "GET", "url": format!("/users/{user}/contactFolders"), "dependsOn": ["4"]},
        ]),
    )
    .await;
    let answers = by_id(&r);
    assert_eq!(answers["1"]["status"], 404);
    assert_eq!(answers["2"]["status"], 424);
    assert_eq!(answers["2"]["body"]["error"]["code"], "FailedDependency");
    assert_eq!(answers["3"]["status"], 424);
    assert_eq!(answers["4"]["status"], 200);
    assert_eq!(answers["5"]["status"], 200);
    let stats = emu.get("/_emulator/stats").await.json();
    assert_eq!(stats["batch_routes"]["GET (failed dependency)"]["424"], 2);

    let r = batch(
        &emu,
        &token,
        json!([
            {"id": "a", "method": "GET", "url": "/users", "dependsOn": ["b"]},
            {"id": "b", "method": "GET", "url": "/users", "dependsOn": ["a"]},
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a cycle: {}", r.text);
}
