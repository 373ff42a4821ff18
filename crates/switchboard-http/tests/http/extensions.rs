//! REST API v1: extensions (list, search, group filter, paging, local create, edit, delete,
//! exclusion) and the audit log, on the real SQLite store fed by a real user sync.

use crate::fakes::{member, user_id};
use crate::*;
use reqwest::Method;
use serde_json::{Value, json};

/// Three members synced (numbers 100, 101, 102) plus a local extension 150.
async fn seeded() -> TestApp {
    let app = TestApp::spawn().await;
    app.directory.set_users(vec![
        member(1, "Ada", "Lovelace"),
        member(2, "Grace", "Hopper"),
        member(3, "Alan", "Turing"),
    ]);
    let run = sync_users(&app, "").await;
    assert_eq!(run["run"]["counts"]["created"], 3, "{run}");
    let r = app
        .api(Method::POST, "/api/v1/extensions")
        .json(&json!({"number": "150", "display_name": "Lobby phone", "department": "Facilities"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    app
}

fn numbers(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["number"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn list_get_search_group_filter_and_paging() {
    let app = seeded().await;
    let all = get_json(&app, "/api/v1/extensions").await;
    assert_eq!(numbers(&all), ["100", "101", "102", "150"]);
    let ada = &all[0];
    for key in [
        "number",
        "first_name",
        "last_name",
        "display_name",
        "email",
        "upn",
        "mobile",
        "business_phone",
        "job_title",
        "department",
        "office",
        "enabled",
        "excluded",
        "origin",
        "graph_user_id",
        "groups",
        "created_at",
        "updated_at",
        "synced_at",
    ] {
        assert!(ada.get(key).is_some(), "{key} missing in {ada}");
    }
    assert_eq!(ada["origin"], "azure_ad");
    assert_eq!(ada["graph_user_id"], user_id(1));
    assert_eq!(ada["display_name"], "Ada Lovelace");
    assert_eq!(ada["email"], "ada.lovelace@contoso.com");
    assert_eq!(ada["groups"], json!(["Azure AD"]));
    assert_eq!(ada["enabled"], true);
    assert_eq!(all[3]["origin"], "local");
    assert_eq!(all[3]["graph_user_id"], Value::Null);

    let one = get_json(&app, "/api/v1/extensions/101").await;
    assert_eq!(one["display_name"], "Grace Hopper");

    let synced = get_json(&app, "/api/v1/extensions?group=Azure%20AD").await;
    assert_eq!(numbers(&synced), ["100", "101", "102"]);
    let found = get_json(&app, "/api/v1/extensions?q=hopper").await;
    assert_eq!(numbers(&found), ["101"]);
    let found = get_json(&app, "/api/v1/extensions?q=LOBBY").await;
    assert_eq!(numbers(&found), ["150"]);

    let page1 = get_json(&app, "/api/v1/extensions?limit=2").await;
    assert_eq!(numbers(&page1), ["100", "101"]);
    let page2 = get_json(&app, "/api/v1/extensions?limit=2&after=101").await;
    assert_eq!(numbers(&page2), ["102", "150"]);
    let page3 = get_json(&app, "/api/v1/extensions?limit=2&after=150").await;
    assert_eq!(numbers(&page3), Vec::<&str>::new());

    for (path, status) in [
        ("/api/v1/extensions/999", StatusCode::NOT_FOUND),
        (
            "/api/v1/extensions?limit=0",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/extensions?limit=5000",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/api/v1/extensions?limit=ten", StatusCode::BAD_REQUEST),
    ] {
        let r = app.api(Method::GET, path).send().await.unwrap();
        assert_eq!(r.status(), status, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().len() > 10, "{path}: {body}");
    }
}

#[tokio::test]
async fn local_create_validates_the_number_and_refuses_a_taken_one() {
    let app = seeded().await;
    for bad in ["1", "12a", "1234567890123456", "", " "] {
        let r = app
            .api(Method::POST, "/api/v1/extensions")
            .json(&json!({"number": bad}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("2 to 15 digits"),
            "{body}"
        );
    }
    let r = app
        .api(Method::POST, "/api/v1/extensions")
        .json(&json!({"number": "160", "email": "not an address"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .api(Method::POST, "/api/v1/extensions")
        .json(&json!({"number": "160", "enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown field"
    );

    for taken in ["150", "100"] {
        let r = app
            .api(Method::POST, "/api/v1/extensions")
            .json(&json!({"number": taken}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT, "{taken}");
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains(taken));
    }

    let r = app
        .api(Method::POST, "/api/v1/extensions")
        .json(&json!({"number": "160", "first_name": " Fax ", "office": "Basement"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["location"], "/api/v1/extensions/160");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["first_name"], "Fax");
    assert_eq!(body["origin"], "local");
    assert_eq!(body["enabled"], true);
    let audit = get_json(&app, "/api/v1/extensions/160/audit").await;
    assert_eq!(audit[0]["actor"], "api:tests");
}

#[tokio::test]
async fn patching_a_synced_extension_warns_and_is_audited_with_the_token_name() {
    let app = seeded().await;
    let r = app
        .api(Method::PATCH, "/api/v1/extensions/100")
        .json(&json!({"mobile": "+44 20 7946 0001", "job_title": "Countess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["mobile"], "+44 20 7946 0001");
    assert_eq!(body["job_title"], "Countess");
    assert_eq!(body["first_name"], "Ada", "other fields unchanged");
    let warning = body["warning"].as_str().unwrap();
    assert!(
        warning.contains("synced from Microsoft 365; the next sync reverts this change; edit the user in Microsoft 365 or exclude the extension from sync"),
        "{warning}"
    );

    let audit = get_json(&app, "/api/v1/extensions/100/audit").await;
    let newest = &audit[0];
    assert_eq!(newest["actor"], "api:tests");
    assert_eq!(newest["number"], "100");
    assert!(
        newest["detail"].to_string().contains("Countess"),
        "{newest}"
    );
    let oldest = audit.as_array().unwrap().last().unwrap();
    assert_eq!(oldest["action"], "create", "the sync's own entry: {audit}");
    assert_eq!(
        oldest["actor"], "sync:users (started by api:tests)",
        "the sync's change, the run started with the token"
    );

    // A local extension: no warning.
    let r = app
        .api(Method::PATCH, "/api/v1/extensions/150")
        .json(&json!({"display_name": "Front desk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["display_name"], "Front desk");
    assert!(body.get("warning").is_none());

    // Not one of the ten fields, or not valid: 422; unknown number: 404.
    for patch in [json!({"enabled": false}), json!({"email": "two words@x"})] {
        let r = app
            .api(Method::PATCH, "/api/v1/extensions/150")
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{patch}");
    }
    let r = app
        .api(Method::PATCH, "/api/v1/extensions/999")
        .json(&json!({"office": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The next sync reverts the synced one, as the warning said.
    sync_users(&app, "?full=true").await;
    let ada = get_json(&app, "/api/v1/extensions/100").await;
    assert_eq!(ada["job_title"], "Engineer");
}

#[tokio::test]
async fn excluding_keeps_the_sync_away_and_delete_warns_for_synced() {
    let app = seeded().await;
    let r = app
        .api(Method::PUT, "/api/v1/extensions/101/excluded")
        .json(&json!({"excluded": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["excluded"], true);

    // Excluded: edits stick without a warning, and the sync leaves it alone.
    let r = app
        .api(Method::PATCH, "/api/v1/extensions/101")
        .json(&json!({"job_title": "Rear Admiral"}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert!(body.get("warning").is_none(), "{body}");
    let plan = sync_users(&app, "?full=true&dry_run=true").await;
    assert!(
        plan["plan"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["action"] == "skip" && s["reason"]["kind"] == "excluded"),
        "{plan}"
    );
    sync_users(&app, "?full=true").await;
    assert_eq!(
        get_json(&app, "/api/v1/extensions/101").await["job_title"],
        "Rear Admiral"
    );

    let r = app
        .api(Method::PUT, "/api/v1/extensions/101/excluded")
        .json(&json!({"excluded": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["excluded"], false);
    for (body, status) in [
        (json!({"excluded": "yes"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let r = app
            .api(Method::PUT, "/api/v1/extensions/101/excluded")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{body}");
    }
    let r = app
        .api(Method::PUT, "/api/v1/extensions/999/excluded")
        .json(&json!({"excluded": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Delete: a synced one warns, a local one does not.
    let r = app
        .api(Method::DELETE, "/api/v1/extensions/102")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["deleted"], true);
    assert!(
        body["warning"]
            .as_str()
            .unwrap()
            .contains("exclude the extension from sync"),
        "{body}"
    );
    let r = app
        .api(Method::GET, "/api/v1/extensions/102")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .api(Method::DELETE, "/api/v1/extensions/150")
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert!(body.get("warning").is_none(), "{body}");
    let r = app
        .api(Method::DELETE, "/api/v1/extensions/150")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The audit trail outlives the extension; the log shows every change, newest first.
    let trail = get_json(&app, "/api/v1/extensions/102/audit").await;
    assert_eq!(trail[0]["action"], "delete");
    assert_eq!(trail[0]["actor"], "api:tests");
    let log = get_json(&app, "/api/v1/audit?limit=3").await;
    assert_eq!(log.as_array().unwrap().len(), 3);
    assert_eq!(log[0]["number"], "150");
    let ids: Vec<i64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let r = app
        .api(Method::GET, "/api/v1/audit?limit=0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The deleted synced user comes back with the same number, as the warning said.
    sync_users(&app, "?full=true").await;
    assert_eq!(
        get_json(&app, "/api/v1/extensions/102").await["graph_user_id"],
        user_id(3)
    );
}

#[tokio::test]
async fn console_session_changes_need_csrf_and_are_audited_as_admin() {
    let app = seeded().await;
    let browser = app.browser();
    let csrf = app.login(&browser).await;
    let r = browser
        .patch(app.url("/api/v1/extensions/150"))
        .json(&json!({"office": "Lobby"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = browser
        .patch(app.url("/api/v1/extensions/150"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"office": "Lobby"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let audit = get_json(&app, "/api/v1/extensions/150/audit").await;
    assert_eq!(audit[0]["actor"], format!("admin:{USER}"));
}
