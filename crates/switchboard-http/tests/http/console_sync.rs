//! Console pages for extensions and user sync: list, detail, local edits, exclusion, delete,
//! the User Sync page (status, progress, settings, preview) and CSRF on every new form.

use crate::fakes::{guest, member};
use crate::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn page(browser: &Client, app: &TestApp, path: &str) -> String {
    let r = browser.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    r.text().await.unwrap()
}

/// Three synced members (100–102), a guest (skipped) and a local extension 150.
async fn seeded() -> TestApp {
    let app = TestApp::spawn().await;
    app.directory.set_users(vec![
        member(1, "Ada", "Lovelace"),
        member(2, "Grace", "Hopper"),
        member(3, "Alan", "Turing"),
        guest(4, "Visitor"),
    ]);
    sync_users(&app, "").await;
    let r = app
        .api(Method::POST, "/api/v1/extensions")
        .json(
            &json!({"number": "150", "display_name": "Lobby phone", "email": "lobby@contoso.com"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    app
}

/// The `<tr>` of extension `number` in the list.
fn row<'a>(html: &'a str, number: &str) -> &'a str {
    let start = html
        .find(&format!("<tr data-number=\"{number}\">"))
        .unwrap_or_else(|| panic!("row {number} missing"));
    let len = html[start..].find("</tr>").unwrap();
    &html[start..start + len]
}

#[tokio::test]
async fn new_pages_require_login() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    for path in ["/extensions", "/extensions/100", "/sync/users"] {
        let r = browser.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(location(&r).starts_with("/login?next="), "{path}");
    }
    let r = browser
        .post(app.url("/sync/users/run"))
        .form(&[("csrf_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.directory
            .calls
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

#[tokio::test]
async fn extensions_list_shows_badges_search_group_filter_and_count() {
    let app = seeded().await;
    let browser = app.browser();
    app.login(&browser).await;
    let html = page(&browser, &app, "/extensions").await;
    for id in [
        "extensions-table",
        "search",
        "group-filter",
        "extension-count",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "#{id} missing");
    }
    assert!(
        html.contains("href=\"/extensions\" class=\"active\""),
        "nav"
    );
    assert!(html.contains("<strong>4</strong> extensions in total"));
    let ada = row(&html, "100");
    assert!(ada.contains("Ada Lovelace") && ada.contains("ada.lovelace@contoso.com"));
    assert!(ada.contains("Sales") && ada.contains("Azure AD"));
    assert!(ada.contains("badge-synced") && ada.contains(">synced<"));
    assert!(ada.contains(">enabled<"));
    assert!(!ada.contains("badge-excluded"));
    let lobby = row(&html, "150");
    assert!(!lobby.contains("badge-synced"));
    assert!(html.contains("<option value=\"Azure AD\""));

    let html = page(&browser, &app, "/extensions?q=hopper").await;
    assert!(html.contains("data-number=\"101\""));
    assert!(!html.contains("data-number=\"100\""));
    assert_eq!(attr_after(&html, "id=\"search\"", "value"), "hopper");
    let html = page(&browser, &app, "/extensions?group=Azure+AD").await;
    assert!(html.contains("data-number=\"102\""));
    assert!(!html.contains("data-number=\"150\""));
    assert!(html.contains("<option value=\"Azure AD\" selected"));
    let html = page(&browser, &app, "/extensions?q=nobody-at-all").await;
    assert!(html.contains("id=\"no-extensions\""));
    assert!(!html.contains("<script>"), "no inline script");
}

#[tokio::test]
async fn extensions_list_pages_by_number() {
    let app = TestApp::spawn().await;
    app.directory.set_users(
        (1..=55)
            .map(|n| member(n, &format!("User{n}"), "Test"))
            .collect(),
    );
    sync_users(&app, "").await;
    let browser = app.browser();
    app.login(&browser).await;
    let html = page(&browser, &app, "/extensions").await;
    assert_eq!(html.matches("<tr data-number=").count(), 50);
    assert!(html.contains("data-number=\"149\""));
    assert!(!html.contains("data-number=\"150\""));
    let next = attr_after(&html, "id=\"next-page\"", "href");
    assert_eq!(next, "/extensions?after=149");
    let html = page(&browser, &app, &next).await;
    assert_eq!(html.matches("<tr data-number=").count(), 5);
    assert!(html.contains("data-number=\"150\"") && html.contains("data-number=\"154\""));
    assert!(!html.contains("id=\"next-page\""));
    assert!(html.contains("id=\"first-page\""));
}

#[tokio::test]
async fn a_synced_extension_is_read_only_with_the_reason_and_can_be_excluded() {
    let app = seeded().await;
    let browser = app.browser();
    let csrf = app.login(&browser).await;
    let html = page(&browser, &app, "/extensions/100").await;
    assert_eq!(text_of(&html, "extension-number"), "100");
    assert!(text_of(&html, "synced-note").contains(
        "Synced from Microsoft 365 — edit the user there; local changes are reverted by the next sync"
    ));
    assert_eq!(text_of(&html, "field-first_name"), "Ada");
    assert_eq!(text_of(&html, "field-email"), "ada.lovelace@contoso.com");
    assert!(!html.contains("id=\"edit-extension\""), "no edit form");
    assert_eq!(text_of(&html, "exclude-toggle"), "Exclude from sync");
    assert!(html.contains("id=\"delete-confirm\""));
    assert!(text_of(&html, "delete-warning").contains("exclude the extension from sync"));
    assert!(html.contains("id=\"audit-trail\""));
    assert!(
        html.contains("data-action=\"create\""),
        "the sync's create is in the trail"
    );

    // Editing through the form is refused for a synced extension.
    let r = browser
        .post(app.url("/extensions/100"))
        .form(&[("csrf_token", csrf.as_str()), ("first_name", "Augusta")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);

    let r = browser
        .post(app.url("/extensions/100/excluded"))
        .form(&[("csrf_token", csrf.as_str()), ("excluded", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/extensions/100?notice=excluded");
    let html = page(&browser, &app, "/extensions/100?notice=excluded").await;
    assert_eq!(text_of(&html, "exclude-toggle"), "Include in sync");
    assert!(html.contains("id=\"edit-extension\""), "excluded: editable");
    assert!(html.contains("badge-excluded"));
    let trail_start = html.find("id=\"audit-trail\"").unwrap();
    let trail = &html[trail_start..];
    let newest = trail.find("<li data-action=").unwrap();
    assert!(
        trail[newest..].starts_with("<li data-action=\"exclude"),
        "newest first"
    );
    assert!(trail.contains(&format!("Excluded from sync</strong> by <span class=\"actor\" title=\"admin:{USER}\">{USER} (console)</span>")));
    assert!(
        trail.contains("Excluded from sync: no → yes"),
        "before → after"
    );
    assert!(
        !html.contains("id=\"excluded-note\""),
        "the notice says it; the note would repeat it"
    );
    let html = page(&browser, &app, "/extensions/100").await;
    assert!(
        html.contains("id=\"excluded-note\""),
        "later, the note says it"
    );
    let list = page(&browser, &app, "/extensions").await;
    assert!(row(&list, "100").contains("badge-excluded"));
    let api = get_json(&app, "/api/v1/extensions/100").await;
    assert_eq!(api["excluded"], true);
}

#[tokio::test]
async fn a_local_extension_is_edited_created_and_deleted_in_the_console() {
    let app = seeded().await;
    let browser = app.browser();
    let csrf = app.login(&browser).await;
    let html = page(&browser, &app, "/extensions/150").await;
    assert!(html.contains("id=\"edit-extension\""));
    assert!(!html.contains("id=\"synced-note\""));
    assert!(!html.contains("id=\"exclude-toggle\""));
    assert!(!html.contains("id=\"delete-warning\""));
    assert_eq!(
        attr_after(&html, "id=\"edit-display_name\"", "value"),
        "Lobby phone"
    );

    // Invalid: 422 with the error next to the field and the values kept.
    let mut form = vec![
        ("csrf_token", csrf.clone()),
        ("display_name", "Front desk".to_owned()),
        ("email", "not an address".to_owned()),
    ];
    let r = browser
        .post(app.url("/extensions/150"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(text_of(&html, "edit-email-error").contains("address"));
    assert_eq!(
        attr_after(&html, "id=\"edit-email\"", "value"),
        "not an address"
    );
    form[2].1 = "desk@contoso.com".to_owned();
    let r = browser
        .post(app.url("/extensions/150"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/extensions/150?notice=saved");
    let api = get_json(&app, "/api/v1/extensions/150").await;
    assert_eq!(api["display_name"], "Front desk");
    assert_eq!(api["email"], "desk@contoso.com");
    let audit = get_json(&app, "/api/v1/extensions/150/audit").await;
    assert_eq!(audit[0]["actor"], format!("admin:{USER}"));

    // Create: a bad number is explained; a good one goes to its page.
    let r = browser
        .post(app.url("/extensions"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("number", "1x"),
            ("display_name", "Fax"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(text_of(&html, "new-number-error").contains("2 to 15 digits"));
    assert!(html.contains("<details id=\"new-extension\" open"));
    let r = browser
        .post(app.url("/extensions"))
        .form(&[("csrf_token", csrf.as_str()), ("number", "100")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(text_of(&r.text().await.unwrap(), "new-number-error").contains("100"));
    let r = browser
        .post(app.url("/extensions"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("number", "160"),
            ("display_name", "Fax"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/extensions/160?notice=created");

    // Delete (the confirm step is the second button).
    let r = browser
        .post(app.url("/extensions/160/delete"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/extensions?notice=deleted");
    let r = browser
        .get(app.url("/extensions/160"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn user_sync_page_shows_status_buttons_and_the_settings_form() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    app.login(&browser).await;
    let html = page(&browser, &app, "/sync/users").await;
    for id in [
        "sync-status",
        "sync-badge",
        "sync-mode",
        "last-run",
        "next-run",
        "last-full-sync",
        "sync-now",
        "sync-full",
        "sync-preview",
        "user-sync-settings",
        "scope-all",
        "scope-ids",
        "include-guests",
        "department-groups",
        "business-phone-as-caller-id",
        "numbering-start",
        "numbering",
        "removal-keep",
        "removal-disable",
        "removal-delete",
        "poll-interval",
        "daily-full-sync",
        "time-zone",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "#{id} missing");
    }
    assert_eq!(text_of(&html, "sync-badge"), "idle");
    assert_eq!(text_of(&html, "sync-mode"), "polling");
    assert!(!html.contains("id=\"sync-progress\""));
    assert!(html.contains("id=\"removal-disable\" value=\"disable\" checked"));
    assert!(html.contains("id=\"scope-all\" value=\"all\" checked"));
    assert_eq!(attr_after(&html, "id=\"numbering-start\"", "value"), "100");

    app.directory
        .set_users(vec![member(1, "Ada", "Lovelace"), guest(2, "Visitor")]);
    sync_users(&app, "").await;
    let html = page(&browser, &app, "/sync/users").await;
    assert_eq!(text_of(&html, "sync-badge"), "idle");
    assert!(html.contains("1 created, 0 updated, 0 disabled, 0 enabled, 0 removed, 1 skipped"));
    assert!(!text_of(&html, "last-full-sync").contains("never"));

    // The dashboard has the counts too.
    let html = page(&browser, &app, "/").await;
    assert_eq!(text_of(&html, "extension-total"), "1");
    assert_eq!(text_of(&html, "user-sync-badge"), "idle");
    assert!(text_of(&html, "user-sync-last-run").contains("1 created"));

    // A failed run shows as an error.
    app.directory
        .fail_with(Some(switchboard_core::ports::DirectoryError::Unavailable(
            "503 from Graph".into(),
        )));
    let r = app
        .api(Method::POST, "/api/v1/sync/users")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let html = page(&browser, &app, "/sync/users").await;
    assert_eq!(text_of(&html, "sync-badge"), "error");
    assert!(text_of(&html, "last-run-error").contains("503 from Graph"));
}

#[tokio::test]
async fn sync_now_runs_in_the_background_and_the_page_shows_progress() {
    let app = TestApp::spawn().await;
    app.directory.set_users(vec![member(1, "Ada", "Lovelace")]);
    let browser = app.browser();
    let csrf = app.login(&browser).await;
    app.directory.block();
    let r = browser
        .post(app.url("/sync/users/run"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/sync/users?notice=started");
    let html = page(&browser, &app, "/sync/users?notice=started").await;
    assert!(text_of(&html, "notice").contains("started"));
    assert_eq!(text_of(&html, "sync-badge"), "running");
    assert!(html.contains("id=\"sync-progress\""));
    assert!(html.contains("data-state=\"running\""));
    assert!(html.contains("id=\"sync-progress-bar\""));
    assert_eq!(text_of(&html, "sync-processed"), "0");
    assert!(html.contains("id=\"sync-now\" class=\"button primary\" disabled"));
    assert!(html.contains("id=\"sync-full\" class=\"button\" disabled"));
    assert!(html.contains("id=\"sync-preview\" class=\"button\" disabled"));
    assert_eq!(text_of(&html, "sync-processed-unit"), "users", "0 users");
    assert!(
        !html.contains("delta sync since"),
        "a first run is a full one"
    );

    // What the page's script polls: a session GET, no CSRF header needed.
    let r = browser.get(app.url("/api/v1/sync")).send().await.unwrap();
    let status: Value = r.json().await.unwrap();
    assert_eq!(status["users"]["running"]["mode"], "full");

    // Another start while it runs: 409 with the reason on the page.
    let r = browser
        .post(app.url("/sync/users/run"))
        .form(&[("csrf_token", csrf.as_str()), ("full", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(text_of(&r.text().await.unwrap(), "page-error").contains("already running"));

    app.directory.release();
    let mut finished = None;
    for _ in 0..200 {
        let html = page(&browser, &app, "/sync/users").await;
        if !html.contains("id=\"sync-progress\"") {
            finished = Some(html);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let html = finished.expect("the run never finished");
    assert_eq!(text_of(&html, "sync-badge"), "idle");
    assert!(html.contains("1 created"));
    let audit = get_json(&app, "/api/v1/audit").await;
    assert_eq!(
        audit[0]["actor"],
        format!("sync:users (started by admin:{USER})"),
        "the run's actor"
    );
    let number = audit[0]["number"].as_str().unwrap().to_owned();
    let html = page(&browser, &app, &format!("/extensions/{number}")).await;
    assert!(
        html.contains(&format!("User sync, started by {USER}")),
        "the history says who"
    );
}

#[tokio::test]
async fn preview_lists_the_plan_with_reasons_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.directory.set_users(vec![
        member(1, "Ada", "Lovelace"),
        member(2, "Grace", "Hopper"),
        guest(3, "Visitor"),
    ]);
    let browser = app.browser();
    let csrf = app.login(&browser).await;
    let r = browser
        .post(app.url("/sync/users/preview"))
        .form(&[("csrf_token", csrf.as_str()), ("full", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"plan-table\""));
    assert!(html.contains("id=\"plan-filter\""));
    assert_eq!(html.matches("<tr data-action=\"create\">").count(), 2);
    assert_eq!(html.matches("<tr data-action=\"skip\">").count(), 1);
    assert!(html.contains("data-filter=\"create\">Create (2)"));
    assert!(html.contains("Ada Lovelace"));
    assert!(html.contains("New user in Microsoft 365: gets extension 100"));
    assert!(html.contains("Visitor"));
    assert!(html.contains("Skipped (guest)"));
    assert!(text_of(&html, "plan-counts").starts_with("2 created"));
    assert!(html.contains("id=\"apply-plan\""));
    assert_eq!(get_json(&app, "/api/v1/extensions").await, json!([]));

    // Nothing to do after a real run.
    sync_users(&app, "").await;
    let r = browser
        .post(app.url("/sync/users/preview"))
        .form(&[("csrf_token", csrf.as_str()), ("full", "true")])
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Skipped (guest)"),
        "the guest is still skipped"
    );
    assert!(!html.contains("<tr data-action=\"create\">"));

    // A directory failure comes back to the User Sync page with the reason.
    app.directory
        .fail_with(Some(switchboard_core::ports::DirectoryError::NotConnected(
            "connect Office 365 first".into(),
        )));
    let r = browser
        .post(app.url("/sync/users/preview"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(text_of(&r.text().await.unwrap(), "page-error").contains("connect Office 365 first"));
}

#[tokio::test]
async fn settings_form_saves_and_shows_errors_next_to_fields() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let csrf = app.login(&browser).await;
    let mut form = vec![
        ("csrf_token", csrf.clone()),
        ("enabled", "on".to_owned()),
        ("scope_mode", "only".to_owned()),
        ("scope_ids", "ada@contoso.com\n".to_owned()),
        ("numbering_start", "ten".to_owned()),
        ("numbering", "employee_id".to_owned()),
        ("removal", "delete".to_owned()),
        ("poll_interval_secs", "5".to_owned()),
        ("daily_full_sync_at", "03:30".to_owned()),
        ("time_zone", "Europe/Berlin".to_owned()),
        ("department_groups", "on".to_owned()),
    ];
    let r = browser
        .post(app.url("/sync/users/settings"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(text_of(&html, "scope-error").contains("ada@contoso.com"));
    assert!(text_of(&html, "numbering-start-error").contains("whole number"));
    assert!(text_of(&html, "poll-interval-error").contains("between 10 and 86400"));
    assert!(!html.contains("id=\"time-zone-error\""));
    assert_eq!(text_of(&html, "scope-ids"), "ada@contoso.com");
    assert!(html.contains("id=\"removal-delete\" value=\"delete\" checked"));
    assert_eq!(
        get_json(&app, "/api/v1/settings/user-sync").await["removal"],
        "disable",
        "nothing saved"
    );

    form[3].1 =
        "00000000-0000-4000-8000-00000000000B\n00000000-0000-4000-8000-000000000001".to_owned();
    form[4].1 = "200".to_owned();
    form[7].1 = "300".to_owned();
    let r = browser
        .post(app.url("/sync/users/settings"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/sync/users?notice=saved#user-sync-settings");
    let saved = get_json(&app, "/api/v1/settings/user-sync").await;
    assert_eq!(
        saved,
        json!({
            "enabled": true,
            "scope": {"mode": "only", "ids": [
                "00000000-0000-4000-8000-000000000001",
                "00000000-0000-4000-8000-00000000000b"
            ]},
            "include_guests": false,
            "department_groups": true,
            "business_phone_as_caller_id": false,
            "numbering_start": 200,
            "numbering": {"rule": "from_attribute", "source": "employee_id"},
            "removal": "delete",
            "poll_interval_secs": 300,
            "daily_full_sync_at": "03:30",
            "time_zone": "Europe/Berlin"
        })
    );
    let html = page(&browser, &app, "/sync/users?notice=saved").await;
    assert!(text_of(&html, "notice").contains("saved"));
    assert!(html.contains("id=\"scope-only\" value=\"only\" checked"));
    assert!(html.contains("<option value=\"employee_id\" selected"));
    assert!(html.contains("id=\"sync-enabled-input\" name=\"enabled\" value=\"on\" checked"));
    assert!(
        html.contains("id=\"department-groups\" name=\"department_groups\" value=\"on\" checked")
    );
    assert!(html.contains(
        "id=\"business-phone-as-caller-id\" name=\"business_phone_as_caller_id\" value=\"on\">"
    ));
    assert_eq!(attr_after(&html, "id=\"poll-interval\"", "value"), "300");
    assert!(html.contains("every 300 s"));
}

#[tokio::test]
async fn every_new_form_needs_the_csrf_token() {
    let app = seeded().await;
    let browser = app.browser();
    app.login(&browser).await;
    let calls = || {
        app.directory
            .calls
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    let calls_before = calls();
    for token in [None, Some("wrong-token")] {
        for (path, fields) in [
            ("/extensions", vec![("number", "170")]),
            ("/extensions/150", vec![("display_name", "Hacked")]),
            ("/extensions/100/excluded", vec![("excluded", "true")]),
            ("/extensions/150/delete", vec![]),
            ("/sync/users/run", vec![("full", "true")]),
            ("/sync/users/preview", vec![]),
            ("/sync/users/self-test", vec![]),
            (
                "/sync/users/settings",
                vec![
                    ("scope_mode", "all"),
                    ("numbering_start", "100"),
                    ("numbering", "first_free"),
                    ("removal", "keep"),
                    ("poll_interval_secs", "60"),
                    ("daily_full_sync_at", "02:00"),
                    ("time_zone", "UTC"),
                ],
            ),
        ] {
            let mut form = fields.clone();
            if let Some(t) = token {
                form.push(("csrf_token", t));
            }
            let r = browser
                .post(app.url(path))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} {token:?}");
        }
    }
    assert_eq!(calls(), calls_before, "no sync ran");
    let lobby = get_json(&app, "/api/v1/extensions/150").await;
    assert_eq!(lobby["display_name"], "Lobby phone");
    assert_eq!(
        get_json(&app, "/api/v1/extensions/100").await["excluded"],
        false
    );
    let r = app
        .api(Method::GET, "/api/v1/extensions/170")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        get_json(&app, "/api/v1/settings/user-sync").await["removal"],
        "disable"
    );
}

/// The `#self-test-result` notice, from its id to its closing `</p>`.
fn self_test_notice(html: &str) -> &str {
    let start = html
        .find("id=\"self-test-result\"")
        .expect("no #self-test-result");
    let len = html[start..].find("</p>").unwrap();
    &html[start..start + len]
}

#[tokio::test]
async fn test_reachability_shows_the_result_as_a_notice() {
    let app = TestApp::spawn_with_public_url().await;
    let browser = app.browser();
    let csrf = app.login(&browser).await;
    let html = page(&browser, &app, "/sync/users").await;
    assert!(html.contains("id=\"self-test\""), "the button is there");
    assert!(html.contains("action=\"/sync/users/self-test\""));
    assert!(
        !html.contains("id=\"self-test-result\""),
        "no result before a test"
    );
    assert!(
        html.contains("change notifications to https://pbx.example.com/webhooks/graph"),
        "the mode line names the notification address"
    );

    let r = browser
        .post(app.url("/sync/users/self-test"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let notice = self_test_notice(&html);
    assert!(notice.contains("badge-reachable"), "{notice}");
    assert!(html.contains("class=\"alert alert-ok\" id=\"self-test-result\""));
    assert!(
        notice.contains("completed the validation handshake"),
        "{notice}"
    );
    assert_eq!(
        app.graph_subscriptions.log(),
        ["create users updated", "delete test-sub-1"]
    );

    *app.graph_subscriptions.fail_create.lock().unwrap() =
        Some(crate::fakes::FakeSubscriptionApi::HANDSHAKE_FAILURE.into());
    let r = browser
        .post(app.url("/sync/users/self-test"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let notice = self_test_notice(&html);
    assert!(notice.contains("data-reachable=\"false\""), "{notice}");
    assert!(html.contains("class=\"alert alert-error\" id=\"self-test-result\""));
    assert!(notice.contains("badge-unreachable"), "{notice}");
    assert!(notice.contains("validation handshake"), "{notice}");
    assert!(notice.contains("reverse proxy"), "{notice}");
}

#[tokio::test]
async fn test_reachability_without_public_url_explains_polling() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let csrf = app.login(&browser).await;
    let html = page(&browser, &app, "/sync/users").await;
    assert!(
        html.contains("because public_url is not set"),
        "the mode line says why it polls"
    );
    let r = browser
        .post(app.url("/sync/users/self-test"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    let notice = self_test_notice(&html);
    assert!(notice.contains("badge-unreachable"), "{notice}");
    assert!(notice.contains("Set public_url"), "{notice}");
    assert!(app.graph_subscriptions.log().is_empty());
}
