#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! Change notifications end to end: with a public URL, Switchboard subscribes to users (the
//! emulator performs the validation handshake against our webhook), a change in Microsoft 365
//! reaches the extension within about a second, forged notifications do nothing, and a removed
//! subscription is recreated.

mod common;

use common::{TestApp, spawn_app_with};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn with_public_url() -> TestApp {
    let app = spawn_app_with(|c| {
        c.public_url = Some(format!("http://{}", c.listen).parse().unwrap());
    })
    .await;
    app.connect().await;
    app
}

async fn subscriptions(app: &TestApp) -> Vec<Value> {
    let v: Value = app
        .http
        .get(app.emulator_url("/_emulator/subscriptions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["value"]
        .as_array()
        .or_else(|| v.as_array())
        .cloned()
        .unwrap_or_default()
}

fn live(subs: &[Value]) -> Vec<&Value> {
    subs.iter().filter(|s| s["expired"] != true).collect()
}

async fn wait_for_extension(app: &TestApp, user_id: &str, within: Duration) -> Option<Value> {
    let start = Instant::now();
    while start.elapsed() < within {
        if let Some(e) = app
            .extensions()
            .await
            .into_iter()
            .find(|e| e["graph_user_id"] == user_id)
        {
            return Some(e);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test]
async fn a_change_in_microsoft_365_arrives_by_notification() {
    let app = with_public_url().await;
    app.sync("").await;
    let keeper = app
        .services
        .keeper
        .clone()
        .expect("a keeper with a public URL");
    let status: Value = app.sync_status().await;
    assert_eq!(
        status["users"]["mode"], "polling",
        "no subscription yet: changes arrive by polling"
    );
    keeper.maintain().await.expect("subscribed");
    let subs = subscriptions(&app).await;
    assert_eq!(live(&subs).len(), 1, "{subs:?}");
    assert_eq!(
        live(&subs)[0]["notificationUrl"],
        format!("{}/webhooks/graph", app.url)
    );

    app.start_background();
    // Let the scheduler's first run pass; the next one is a minute away.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sync: Value = app.sync_status().await;
    assert_eq!(sync["users"]["mode"], "notifications", "{sync}");

    let started = Instant::now();
    let id = app
        .add_user(json!({"displayName": "Nora Notified", "userPrincipalName": "nora@contoso.onmicrosoft.com", "accountEnabled": true, "userType": "Member"}))
        .await;
    let ext = wait_for_extension(&app, &id, Duration::from_secs(5))
        .await
        .expect("the new user got an extension");
    let took = started.elapsed();
    eprintln!("change in Microsoft 365 → extension: {took:?}");
    assert_eq!(ext["display_name"], "Nora Notified");
    assert!(took < Duration::from_secs(1), "took {took:?}");

    // The audit says why it happened.
    let audit: Vec<Value> = app
        .api(reqwest::Method::GET, "/api/v1/audit?limit=5")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a["actor"] == "sync:users (notification)"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn forged_notifications_are_ignored() {
    let app = with_public_url().await;
    app.sync("").await;
    app.services
        .keeper
        .clone()
        .unwrap()
        .maintain()
        .await
        .unwrap();
    let sub_id = live(&subscriptions(&app).await)[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.start_background();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before: Value = app.sync_status().await;

    let forged = json!({"value": [{
        "subscriptionId": sub_id, "clientState": "guessed", "changeType": "updated",
        "resource": "Users/00000000-0000-0000-0000-000000000001",
        "resourceData": {"@odata.type": "#Microsoft.Graph.User", "id": "00000000-0000-0000-0000-000000000001"},
        "tenantId": app.emulator.tenant_id()
    }]});
    let r = app
        .http
        .post(format!("{}/webhooks/graph", app.url))
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after: Value = app.sync_status().await;
    assert_eq!(
        before["users"]["last_run"], after["users"]["last_run"],
        "a forged notification started no run"
    );
}

#[tokio::test]
async fn a_removed_subscription_is_recreated() {
    let app = with_public_url().await;
    app.services
        .keeper
        .clone()
        .unwrap()
        .maintain()
        .await
        .unwrap();
    let first = live(&subscriptions(&app).await)[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.start_background();
    let r = app
        .http
        .post(app.emulator_url(&format!("/_emulator/subscriptions/{first}/lifecycle")))
        .json(&json!({"event": "subscriptionRemoved"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let start = Instant::now();
    loop {
        let subs = subscriptions(&app).await;
        let ids: Vec<&str> = live(&subs)
            .iter()
            .filter_map(|s| s["id"].as_str())
            .collect();
        if ids.len() == 1 && ids[0] != first {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "not recreated: {subs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `TestApp::connect` for an app whose `public_url` (`public`) does not lead to it: Microsoft's
/// redirect back after consent is delivered to the app's real address instead.
async fn connect_behind(app: &TestApp, public: &str) {
    let client_id = uuid::Uuid::new_v4().to_string();
    let r = app.put_ids(&client_id, app.emulator.tenant_domain()).await;
    assert_eq!(r.status(), 200);
    let pem = app.generate_keypair().await;
    app.register_app(&client_id, &[&pem], &common::all_roles(), json!({}))
        .await;
    let body: Value = app
        .api(reqwest::Method::POST, "/api/v1/settings/office365/consent")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let consent = app
        .http
        .get(body["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), 302);
    let back = consent.headers()["location"].to_str().unwrap();
    let back = back.replacen(public, &app.url, 1);
    app.http.get(&back).send().await.unwrap();
    let settings = app.settings().await;
    assert_eq!(settings["status"], "connected", "{settings}");
}

async fn self_test(app: &TestApp) -> Value {
    let r = app
        .api(reqwest::Method::POST, "/api/v1/sync/users/self-test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_reachability_self_test_passes_the_handshake_and_cleans_up() {
    let app = with_public_url().await;
    let result = self_test(&app).await;
    assert_eq!(result["reachable"], true, "{result}");
    assert_eq!(
        result["message"],
        format!(
            "Microsoft Graph reached {}/webhooks/graph and completed the validation handshake.",
            app.url
        )
    );
    let subs = subscriptions(&app).await;
    assert!(
        live(&subs).is_empty(),
        "the test subscription is deleted: {subs:?}"
    );
}

#[tokio::test]
async fn the_reachability_self_test_reports_an_unreachable_public_url() {
    let app = spawn_app_with(|c| {
        // Nothing listens on the discard port: the handshake cannot reach us.
        c.public_url = Some("http://127.0.0.1:9".parse().unwrap());
    })
    .await;
    connect_behind(&app, "http://127.0.0.1:9").await;
    let result = self_test(&app).await;
    assert_eq!(result["reachable"], false, "{result}");
    let message = result["message"].as_str().unwrap();
    assert!(message.contains("handshake"), "{message}");
    assert!(
        message.contains("http://127.0.0.1:9/webhooks/graph"),
        "{message}"
    );
    assert!(live(&subscriptions(&app).await).is_empty());
}
