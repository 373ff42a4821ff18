//! The directory search behind the User Sync scope picker: `/api/v1/directory/users|groups`,
//! and the settings page naming the ids it already has.

use crate::fakes::{guest, member, user_id};
use crate::*;
use reqwest::Method;
use serde_json::{Value, json};
use switchboard_core::ports::DirectoryError;
use switchboard_core::users::DirectoryGroup;

async fn search(app: &TestApp, path: &str) -> Value {
    get_json(app, path).await
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn users_are_found_by_name_and_upn_with_guest_and_disabled_flags() {
    let app = TestApp::spawn().await;
    let mut disabled = member(3, "Alan", "Turing");
    disabled.account_enabled = Some(false);
    app.directory.set_users(vec![
        member(1, "Ada", "Lovelace"),
        member(2, "Adam", "Smith"),
        disabled,
        guest(4, "Visitor"),
    ]);

    let found = search(&app, "/api/v1/directory/users?q=lovel").await;
    assert_eq!(ids(&found["users"]), [user_id(1)]);
    assert_eq!(
        found["users"][0],
        json!({
            "id": user_id(1),
            "display_name": "Ada Lovelace",
            "user_principal_name": "ada.lovelace@contoso.com",
            "mail": "ada.lovelace@contoso.com",
            "department": "Sales",
            "guest": false,
            "disabled": false,
        })
    );
    // By UPN prefix, and the query reaches the directory trimmed.
    let found = search(&app, "/api/v1/directory/users?q=%20alan.tur%20").await;
    assert_eq!(ids(&found["users"]), [user_id(3)]);
    assert_eq!(found["users"][0]["disabled"], true);
    let found = search(&app, "/api/v1/directory/users?q=visitor").await;
    assert_eq!(found["users"][0]["guest"], true);
    assert_eq!(found["users"][0]["display_name"], "Visitor");

    // The limit: as asked, 10 by default, at most 25, at least 1.
    let found = search(&app, "/api/v1/directory/users?q=ad&limit=1").await;
    assert_eq!(ids(&found["users"]), [user_id(1)]);
    assert_eq!(
        search(&app, "/api/v1/directory/users?q=ad").await["users"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    search(&app, "/api/v1/directory/users?q=ad&limit=500").await;
    search(&app, "/api/v1/directory/users?q=ad&limit=0").await;
    let limits: Vec<u32> = app
        .directory
        .searches
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, limit)| *limit)
        .collect();
    assert_eq!(limits, [10, 10, 10, 1, 10, 25, 1]);
    assert_eq!(app.directory.searches.lock().unwrap()[1].1, "alan.tur");

    // A blank query finds nothing without asking Microsoft 365.
    let before = app.directory.searches.lock().unwrap().len();
    let found = search(&app, "/api/v1/directory/users?q=%20%20").await;
    assert_eq!(found, json!({"users": []}));
    assert_eq!(
        search(&app, "/api/v1/directory/groups").await,
        json!({"groups": []})
    );
    assert_eq!(app.directory.searches.lock().unwrap().len(), before);

    let r = app
        .api(Method::GET, "/api/v1/directory/users?q=a&limit=many")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("query string"));
}

#[tokio::test]
async fn groups_are_found_by_name_and_mail() {
    let app = TestApp::spawn().await;
    *app.directory.groups.lock().unwrap() = vec![
        DirectoryGroup {
            id: "6a1e0b3c-58f4-4a8e-9d1b-3c2f00a1b2c3".into(),
            display_name: "Phone System Pilot".into(),
            mail: Some("pilot@contoso.com".into()),
        },
        DirectoryGroup {
            id: "7b2f1c4d-69a5-4b9f-8e2c-4d3a11b2c3d4".into(),
            display_name: "Sales".into(),
            mail: None,
        },
    ];
    let found = search(&app, "/api/v1/directory/groups?q=syst").await;
    assert_eq!(
        found,
        json!({"groups": [{
            "id": "6a1e0b3c-58f4-4a8e-9d1b-3c2f00a1b2c3",
            "display_name": "Phone System Pilot",
            "mail": "pilot@contoso.com",
        }]})
    );
    let found = search(&app, "/api/v1/directory/groups?q=pilot%40").await;
    assert_eq!(found["groups"].as_array().unwrap().len(), 1);
    let found = search(&app, "/api/v1/directory/groups?q=sa&limit=5").await;
    assert_eq!(found["groups"][0]["mail"], Value::Null);
    assert_eq!(
        *app.directory.searches.lock().unwrap().last().unwrap(),
        ("groups", "sa".to_owned(), 5)
    );
}

#[tokio::test]
async fn search_needs_authentication_and_a_session_cookie_is_enough() {
    let app = TestApp::spawn().await;
    app.directory.set_users(vec![member(1, "Ada", "Lovelace")]);
    for path in [
        "/api/v1/directory/users?q=ada",
        "/api/v1/directory/groups?q=ada",
    ] {
        let r = reqwest::get(app.url(path)).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let r = Client::new()
            .get(app.url(path))
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    assert!(app.directory.searches.lock().unwrap().is_empty());
    // The console's script: GET with the session cookie, no CSRF header needed.
    let browser = app.browser();
    app.login(&browser).await;
    let r = browser
        .get(app.url("/api/v1/directory/users?q=ada"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(ids(&body["users"]), [user_id(1)]);
}

#[tokio::test]
async fn a_directory_failure_is_502_with_its_message() {
    let app = TestApp::spawn().await;
    app.directory.fail_with(Some(DirectoryError::Denied(
        "HTTP 403 Authorization_RequestDenied: Insufficient privileges. Grant the app User.Read.All".into(),
    )));
    for path in [
        "/api/v1/directory/users?q=ada",
        "/api/v1/directory/groups?q=ada",
    ] {
        let r = app.api(Method::GET, path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY, "{path}");
        let body: Value = r.json().await.unwrap();
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("Microsoft Graph refused access"), "{error}");
        assert!(error.contains("User.Read.All"), "{error}");
    }
    app.directory.fail_with(Some(DirectoryError::NotConnected(
        "connect Office 365 first".into(),
    )));
    let r = app
        .api(Method::GET, "/api/v1/directory/users?q=ada")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("connect Office 365 first")
    );
}

#[tokio::test]
async fn settings_page_shows_chips_named_from_the_extensions_and_the_picker() {
    let app = TestApp::spawn().await;
    app.directory.set_users(vec![
        member(1, "Ada", "Lovelace"),
        member(2, "Grace", "Hopper"),
    ]);
    sync_users(&app, "").await;
    let unknown = "0f0e0d0c-0b0a-4000-8000-000000000099";
    let r = app
        .api(Method::PUT, "/api/v1/settings/user-sync")
        .json(&json!({"scope": {"mode": "only", "ids": [user_id(2), unknown, user_id(1)]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let browser = app.browser();
    app.login(&browser).await;
    let html = browser
        .get(app.url("/sync/users"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = html.find("id=\"scope-chips\"").expect("chips");
    let chips = &html[start..start + html[start..].find("</ul>").unwrap()];
    for (id, name) in [
        (user_id(1), "Ada Lovelace"),
        (user_id(2), "Grace Hopper"),
        (unknown.to_owned(), unknown),
    ] {
        let chip = format!("data-id=\"{id}\"><span title=\"{id}\">{name}</span>");
        assert!(chips.contains(&chip), "{chip} not in {chips}");
        assert!(chips.contains(&format!("data-remove-id=\"{id}\"")));
    }
    assert_eq!(chips.matches("class=\"scope-chip known\"").count(), 2);
    assert_eq!(chips.matches("<li").count(), 3);
    // The search box and its results list; the textarea keeps the ids (works without JS).
    assert!(html.contains("id=\"scope-search\""));
    assert!(html.contains("id=\"scope-results\""));
    let textarea = text_of(&html, "scope-ids");
    assert!(textarea.contains(unknown) && textarea.contains(&user_id(1)));

    // Mode "all": no ids, no chips.
    let r = app
        .api(Method::PUT, "/api/v1/settings/user-sync")
        .json(&json!({"scope": {"mode": "all", "ids": []}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = browser
        .get(app.url("/sync/users"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<li class=\"scope-chip"));
}
