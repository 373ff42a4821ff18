//! REST API v1: sync status, runs (dry, real, delta, in the background, concurrent), errors and
//! the User Sync settings.

use crate::fakes::{FakeSubscriptionApi, guest, member, user_id};
use crate::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use switchboard_core::ports::{DirectoryChange, DirectoryError};

const SETTINGS: &str = "/api/v1/settings/user-sync";

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// Waits (up to 10 s) until `GET /api/v1/sync` satisfies `done`.
async fn wait_for_status(app: &TestApp, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let status = get_json(app, "/api/v1/sync").await;
        if done(&status) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the sync status never reached the expected state");
}

#[tokio::test]
async fn status_before_any_run() {
    let app = TestApp::spawn().await;
    let status = get_json(&app, "/api/v1/sync").await;
    assert_eq!(keys(&status), ["calendar", "contacts", "users"]);
    let users = &status["users"];
    assert_eq!(
        keys(users),
        [
            "enabled",
            "last_full_sync",
            "last_run",
            "mode",
            "next_run",
            "running"
        ]
    );
    assert_eq!(users["enabled"], true);
    assert_eq!(users["mode"], "polling");
    assert_eq!(users["running"], Value::Null);
    assert_eq!(users["last_run"], Value::Null);
    assert_eq!(users["last_full_sync"], Value::Null);
}

#[tokio::test]
async fn a_dry_run_returns_the_plan_with_reasons_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.directory.set_users(vec![
        member(1, "Ada", "Lovelace"),
        member(2, "Grace", "Hopper"),
        guest(3, "Visitor"),
    ]);
    let outcome = sync_users(&app, "?dry_run=true").await;
    assert_eq!(outcome["run"]["mode"], "full", "no delta link yet");
    assert_eq!(outcome["run"]["counts"]["created"], 2);
    assert_eq!(outcome["run"]["counts"]["skipped"], 1);
    assert_eq!(outcome["run"]["processed"], 3);
    let plan = outcome["plan"].as_array().unwrap();
    assert_eq!(plan.len(), 3);
    let create = plan
        .iter()
        .find(|s| s["action"] == "create" && s["user_id"] == user_id(1))
        .unwrap();
    assert_eq!(create["number"], "100");
    assert_eq!(create["fields"]["display_name"], "Ada Lovelace");
    assert!(
        create["reason_text"]
            .as_str()
            .unwrap()
            .contains("gets extension 100")
    );
    let skip = plan.iter().find(|s| s["action"] == "skip").unwrap();
    assert_eq!(skip["user_id"], user_id(3));
    assert_eq!(skip["label"], "Visitor");
    assert_eq!(skip["reason"], json!({"kind": "guest"}));
    assert!(
        skip["reason_text"]
            .as_str()
            .unwrap()
            .starts_with("Skipped (guest)")
    );

    // Nothing was written: no extensions, no audit, no run, no delta link.
    assert_eq!(get_json(&app, "/api/v1/extensions").await, json!([]));
    assert_eq!(get_json(&app, "/api/v1/audit").await, json!([]));
    let status = get_json(&app, "/api/v1/sync").await;
    assert_eq!(status["users"]["last_run"], Value::Null);
    assert_eq!(status["users"]["last_full_sync"], Value::Null);
}

#[tokio::test]
async fn a_real_run_creates_extensions_in_azure_ad_then_delta_runs_follow() {
    let app = TestApp::spawn().await;
    app.directory.set_users(vec![
        member(1, "Ada", "Lovelace"),
        member(2, "Grace", "Hopper"),
        guest(3, "Visitor"),
    ]);
    let outcome = sync_users(&app, "").await;
    assert_eq!(outcome["run"]["counts"]["created"], 2);
    assert_eq!(
        outcome["plan"],
        json!([]),
        "a real run's changes are in the audit log"
    );
    let synced = get_json(&app, "/api/v1/extensions?group=Azure%20AD").await;
    assert_eq!(synced.as_array().unwrap().len(), 2);
    assert!(
        synced
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["origin"] == "azure_ad" && e["groups"] == json!(["Azure AD"]))
    );

    let status = get_json(&app, "/api/v1/sync").await;
    let last = &status["users"]["last_run"];
    assert_eq!(last["mode"], "full");
    assert_eq!(last["counts"]["created"], 2);
    assert_eq!(last["counts"]["skipped"], 1);
    assert_eq!(last["error"], Value::Null);
    assert!(last["finished_at"].is_string());
    assert!(status["users"]["last_full_sync"].is_string());

    // Next: a delta run with a rename.
    let mut renamed = member(2, "Grace", "Hopper");
    renamed.job_title = Some("Rear Admiral".into());
    app.directory
        .deltas
        .lock()
        .unwrap()
        .push_back(vec![DirectoryChange::Upsert(renamed)]);
    let outcome = sync_users(&app, "").await;
    assert_eq!(outcome["run"]["mode"], "delta");
    assert_eq!(outcome["run"]["counts"]["updated"], 1);
    assert_eq!(
        get_json(&app, "/api/v1/extensions/101").await["job_title"],
        "Rear Admiral"
    );
    // A delta preview shows the step with its reason and changes nothing.
    let mut again = member(2, "Grace", "Hopper");
    again.job_title = Some("Rear Admiral".into());
    again.department = Some("Navy".into());
    app.directory
        .deltas
        .lock()
        .unwrap()
        .push_back(vec![DirectoryChange::Upsert(again)]);
    let preview = sync_users(&app, "?dry_run=true").await;
    assert_eq!(preview["plan"].as_array().unwrap().len(), 1, "{preview}");
    let step = &preview["plan"][0];
    assert_eq!(step["action"], "update");
    assert_eq!(step["changes"][0]["field"], "department");
    assert!(step["reason_text"].as_str().unwrap().contains("department"));
    assert_eq!(
        get_json(&app, "/api/v1/extensions/101").await["department"],
        "Sales"
    );
}

#[tokio::test]
async fn a_second_run_while_one_is_going_is_409() {
    let app = TestApp::spawn().await;
    app.directory.set_users(vec![member(1, "Ada", "Lovelace")]);
    app.directory.block();

    let r = app
        .api(Method::POST, "/api/v1/sync/users?wait=false")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["started"], true);
    assert!(body["message"].as_str().unwrap().contains("/api/v1/sync"));

    let status = wait_for_status(&app, |s| s["users"]["running"].is_object()).await;
    assert_eq!(status["users"]["running"]["mode"], "full");
    assert_eq!(status["users"]["running"]["finished_at"], Value::Null);

    for query in ["", "?wait=false", "?dry_run=true", "?full=true"] {
        let r = app
            .api(Method::POST, &format!("/api/v1/sync/users{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT, "{query}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("already running"),
            "{body}"
        );
    }

    app.directory.release();
    let status = wait_for_status(&app, |s| s["users"]["running"].is_null()).await;
    assert_eq!(status["users"]["last_run"]["counts"]["created"], 1);
    assert_eq!(
        get_json(&app, "/api/v1/extensions/100").await["graph_user_id"],
        user_id(1)
    );
}

#[tokio::test]
async fn a_waiting_run_answers_when_done_and_others_get_409_meanwhile() {
    let app = TestApp::spawn().await;
    app.directory.set_users(vec![member(1, "Ada", "Lovelace")]);
    app.directory.block();
    let first = {
        let request = app.api(Method::POST, "/api/v1/sync/users?full=true");
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    wait_for_status(&app, |s| s["users"]["running"].is_object()).await;
    let r = app
        .api(Method::POST, "/api/v1/sync/users")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    app.directory.release();
    let r = first.await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["run"]["counts"]["created"], 1);
}

#[tokio::test]
async fn unknown_kinds_bad_flags_and_directory_errors() {
    let app = TestApp::spawn().await;
    let r = app
        .api(Method::POST, "/api/v1/sync/weather")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("users, contacts and calendar"), "{body}");

    let r = app
        .api(Method::POST, "/api/v1/sync/users?dry_run=true&wait=false")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .api(Method::POST, "/api/v1/sync/users?full=yes")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());

    app.directory.fail_with(Some(DirectoryError::NotConnected(
        "connect Office 365 first".into(),
    )));
    let r = app
        .api(Method::POST, "/api/v1/sync/users")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"],
        "not connected to Office 365: connect Office 365 first"
    );
    // The failed run is recorded with its error.
    let status = get_json(&app, "/api/v1/sync").await;
    assert_eq!(
        status["users"]["last_run"]["error"],
        "not connected to Office 365: connect Office 365 first"
    );
    // Without a session or token: 401.
    let r = Client::new()
        .post(app.url("/api/v1/sync/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn user_sync_settings_read_save_and_validate() {
    let app = TestApp::spawn().await;
    let defaults = get_json(&app, SETTINGS).await;
    assert_eq!(
        keys(&defaults),
        [
            "business_phone_as_caller_id",
            "daily_full_sync_at",
            "department_groups",
            "enabled",
            "include_guests",
            "numbering",
            "numbering_start",
            "poll_interval_secs",
            "removal",
            "scope",
            "time_zone"
        ]
    );
    assert_eq!(defaults["scope"], json!({"mode": "all"}));
    assert_eq!(defaults["numbering"], json!({"rule": "first_free"}));
    assert_eq!(defaults["removal"], "disable");
    assert_eq!(defaults["numbering_start"], 100);
    assert_eq!(defaults["department_groups"], false);
    assert_eq!(defaults["business_phone_as_caller_id"], false);

    let r = app
        .api(Method::PUT, SETTINGS)
        .json(&json!({
            "scope": {"mode": "only", "ids": ["00000000-0000-4000-8000-00000000000A"]},
            "numbering": {"rule": "from_attribute", "source": "employee_id"},
            "removal": "delete",
            "poll_interval_secs": 120,
            "time_zone": "Europe/Berlin",
            "department_groups": true,
            "business_phone_as_caller_id": true
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let saved: Value = r.json().await.unwrap();
    assert_eq!(
        saved["scope"],
        json!({"mode": "only", "ids": ["00000000-0000-4000-8000-00000000000a"]}),
        "ids are stored lower-case, as Graph spells them"
    );
    assert_eq!(saved["enabled"], true, "keys not sent keep their value");
    assert_eq!(saved["daily_full_sync_at"], "02:00");
    assert_eq!(saved["department_groups"], true);
    assert_eq!(saved["business_phone_as_caller_id"], true);
    assert_eq!(get_json(&app, SETTINGS).await, saved);

    for (body, needle) in [
        (
            json!({"poll_interval_secs": 5}),
            "poll_interval_secs must be between 10 and 86400 seconds, got 5",
        ),
        (
            json!({"daily_full_sync_at": "25:00"}),
            "daily_full_sync_at must be a time like 02:00",
        ),
        (json!({"numbering_start": 0}), "numbering_start"),
        (json!({"time_zone": " "}), "time_zone"),
        (json!({"removal": "shred"}), "not valid"),
        (json!({"department_groups": "yes"}), "not valid"),
        (
            json!({"colour": "blue"}),
            "Unknown user sync setting \"colour\"",
        ),
        (
            json!({"scope": {"mode": "only", "ids": ["ada@contoso.com"]}}),
            "ada@contoso.com",
        ),
        (
            json!({"scope": {"mode": "groups", "ids": []}}),
            "at least one group",
        ),
        (json!("all"), "JSON object"),
    ] {
        let r = app
            .api(Method::PUT, SETTINGS)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let error: Value = r.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().contains(needle),
            "{body}: {error}"
        );
    }
    assert_eq!(get_json(&app, SETTINGS).await, saved, "nothing was saved");

    // A console session needs the CSRF header.
    let browser = app.browser();
    let csrf = app.login(&browser).await;
    let r = browser
        .put(app.url(SETTINGS))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = browser
        .put(app.url(SETTINGS))
        .header("x-csrf-token", &csrf)
        .json(&json!({"enabled": false, "scope": {"mode": "all", "ids": []}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let status = get_json(&app, "/api/v1/sync").await;
    assert_eq!(status["users"]["enabled"], false);
}

#[tokio::test]
async fn the_last_run_stays_visible_while_the_next_one_runs() {
    let app = TestApp::spawn().await;
    app.directory.set_users(vec![member(1, "Ada", "Lovelace")]);
    sync_users(&app, "").await;
    app.directory.block();
    let r = app
        .api(Method::POST, "/api/v1/sync/users?wait=false&full=true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let status = wait_for_status(&app, |s| s["users"]["running"].is_object()).await;
    let last = &status["users"]["last_run"];
    assert_eq!(last["counts"]["created"], 1, "{status}");
    assert_ne!(last["id"], status["users"]["running"]["id"]);
    app.directory.release();
    wait_for_status(&app, |s| s["users"]["running"].is_null()).await;
}

const SELF_TEST: &str = "/api/v1/sync/users/self-test";

#[tokio::test]
async fn self_test_reachable_creates_and_deletes_a_test_subscription() {
    let app = TestApp::spawn_with_public_url().await;
    let r = app.api(Method::POST, SELF_TEST).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "reachable": true,
            "message": "Microsoft Graph reached https://pbx.example.com/webhooks/graph and completed the validation handshake."
        })
    );
    assert_eq!(
        app.graph_subscriptions.log(),
        ["create users updated", "delete test-sub-1"]
    );
    let created = app.graph_subscriptions.created.lock().unwrap()[0].clone();
    assert_eq!(
        created.notification_url,
        "https://pbx.example.com/webhooks/graph"
    );
    assert_eq!(
        created.lifecycle_notification_url,
        "https://pbx.example.com/webhooks/graph/lifecycle"
    );
    assert_eq!(
        created.expiration,
        "2026-11-01T08:45:00Z".parse().unwrap(),
        "now + 45 minutes"
    );
    use switchboard_core::ports::SubscriptionStore;
    assert!(
        app.subscriptions
            .list_subscriptions()
            .await
            .unwrap()
            .is_empty(),
        "the test subscription is not stored"
    );
}

#[tokio::test]
async fn self_test_handshake_failure_says_what_to_check() {
    let app = TestApp::spawn_with_public_url().await;
    *app.graph_subscriptions.fail_create.lock().unwrap() =
        Some(FakeSubscriptionApi::HANDSHAKE_FAILURE.into());
    let r = app.api(Method::POST, SELF_TEST).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["reachable"], false);
    let message = body["message"].as_str().unwrap();
    for needle in [
        "validation handshake",
        "https://pbx.example.com/webhooks/graph",
        "Subscription validation request failed",
        "DNS",
        "certificate",
        "reverse proxy",
        "POST /webhooks/graph",
        "10 s",
    ] {
        assert!(
            message.contains(needle),
            "{needle:?} missing from {message}"
        );
    }
    assert_eq!(app.graph_subscriptions.log(), ["create users updated"]);
}

#[tokio::test]
async fn self_test_without_public_url_is_409() {
    let app = TestApp::spawn().await;
    let r = app.api(Method::POST, SELF_TEST).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "Set public_url (the HTTPS address Microsoft can reach) to use change notifications; without it changes arrive by polling."})
    );
    assert!(app.graph_subscriptions.log().is_empty());

    // Authentication first, as for every API route.
    let r = Client::new().post(app.url(SELF_TEST)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn outbound_caller_id_is_the_business_phone_of_synced_extensions_when_on() {
    let app = TestApp::spawn().await;
    let mut ada = member(1, "Ada", "Lovelace");
    ada.business_phones = vec!["+1 425 555 0100".into()];
    app.directory.set_users(vec![ada]);
    sync_users(&app, "").await;
    let r = app
        .api(Method::POST, "/api/v1/extensions")
        .json(&json!({"number": "150", "business_phone": "+1 425 555 0150"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["outbound_caller_id"], "");

    // Off (the default): empty for every extension.
    let ext = get_json(&app, "/api/v1/extensions/100").await;
    assert_eq!(ext["business_phone"], "+1 425 555 0100");
    assert_eq!(ext["outbound_caller_id"], "");

    let r = app
        .api(Method::PUT, SETTINGS)
        .json(&json!({"business_phone_as_caller_id": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // On: a synced extension's business phone; a local one has none.
    let ext = get_json(&app, "/api/v1/extensions/100").await;
    assert_eq!(ext["outbound_caller_id"], "+1 425 555 0100");
    let local = get_json(&app, "/api/v1/extensions/150").await;
    assert_eq!(local["outbound_caller_id"], "");
    let list = get_json(&app, "/api/v1/extensions").await;
    let ids: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["number"].as_str().unwrap(),
                e["outbound_caller_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(ids, [("100", "+1 425 555 0100"), ("150", "")]);
    let r = app
        .api(Method::PATCH, "/api/v1/extensions/150")
        .json(&json!({"job_title": "Lab"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let patched: Value = r.json().await.unwrap();
    assert_eq!(patched["outbound_caller_id"], "");
    // Nothing is stored: turning it off again empties it.
    app.api(Method::PUT, SETTINGS)
        .json(&json!({"business_phone_as_caller_id": false}))
        .send()
        .await
        .unwrap();
    let ext = get_json(&app, "/api/v1/extensions/100").await;
    assert_eq!(ext["outbound_caller_id"], "");
}
