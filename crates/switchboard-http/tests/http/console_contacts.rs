//! Console: an extension's phonebook page (entries, search, flagged numbers, the phonebook
//! password) and the Contact Sync tab; with the contact-sync settings API and skipped list.

use crate::lookup::entry;
use crate::*;
use reqwest::Method;
use serde_json::{Value, json};
use switchboard_core::contacts::{Book, MailboxContact, PhoneKind};
use switchboard_core::ports::PhonebookStore;

async fn app_with_phonebook() -> TestApp {
    let app = TestApp::spawn().await;
    let r = app
        .api(Method::POST, "/api/v1/extensions")
        .json(&json!({"number": "150", "display_name": "Grace Hopper"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    for i in 0..60 {
        let number = format!("020 7946 {i:04}");
        app.phonebooks.put_entry(entry(
            Book::Extension("150".into()),
            "mbx-150",
            &format!("c{i:03}"),
            &format!("Contact {i:03}"),
            &[(PhoneKind::Business, &number)],
        ));
    }
    app.phonebooks.put_entry(entry(
        Book::Extension("150".into()),
        "mbx-150",
        "odd",
        "Ada <Odd>",
        &[
            (PhoneKind::Mobile, "07700 900123"),
            (PhoneKind::Home, "ask at reception"),
        ],
    ));
    app
}

async fn page(browser: &Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = browser.get(app.url(path)).send().await.unwrap();
    let status = r.status();
    (status, r.text().await.unwrap())
}

#[tokio::test]
async fn phonebook_page_shows_entries_flags_bad_numbers_searches_and_pages() {
    let app = app_with_phonebook().await;
    let browser = app.browser();
    let r = browser
        .get(app.url("/extensions/150/phonebook"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "login first");
    app.login(&browser).await;

    // Linked from the list and the extension page.
    let (_, list) = page(&browser, &app, "/extensions").await;
    assert!(list.contains("href=\"/extensions/150/phonebook\""));
    let (_, detail) = page(&browser, &app, "/extensions/150").await;
    assert!(detail.contains("id=\"phonebook-link\" href=\"/extensions/150/phonebook\""));

    let (status, html) = page(&browser, &app, "/extensions/150/phonebook").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<strong>61</strong> entries"));
    // Sorted by name: "Ada <Odd>" (escaped) first, with its numbers typed and flagged.
    assert!(html.contains("Ada &#60;Odd&#62;") || html.contains("Ada &lt;Odd&gt;"));
    assert!(!html.contains("Ada <Odd>"));
    assert!(html.contains("<span class=\"raw\">07700 900123</span>"));
    assert!(html.contains("<code class=\"e164\" title=\"E.164\">+447700900123</code>"));
    assert!(html.contains("<span class=\"raw\">ask at reception</span>"));
    assert!(html.contains("data-invalid"));
    assert!(html.contains("not a valid number"));
    assert!(html.contains("badge-phone-mobile"));
    assert!(html.contains("id=\"unreadable-hint\""));
    // 50 a page: Contact 048 is the last one on the first page.
    assert!(html.contains(">Contact 048<"));
    assert!(!html.contains(">Contact 049<"));
    let next = attr_after(&html, "id=\"next-page\"", "href");
    assert_eq!(next, "/extensions/150/phonebook?offset=50");
    let (_, second) = page(&browser, &app, &next).await;
    assert!(second.contains(">Contact 049<") && second.contains(">Contact 059<"));
    assert!(!second.contains("id=\"next-page\""));
    assert!(second.contains("id=\"prev-page\""));

    // Server-side search, kept in the form and the paging links.
    let (_, found) = page(&browser, &app, "/extensions/150/phonebook?q=contact+05").await;
    assert!(found.contains(">Contact 050<") && found.contains(">Contact 059<"));
    assert!(!found.contains(">Contact 049<") && !found.contains("Odd"));
    assert!(found.contains("value=\"contact 05\""));
    let (_, none) = page(&browser, &app, "/extensions/150/phonebook?q=nobody").await;
    assert!(none.contains("id=\"no-entries\""));
    let long = format!("/extensions/150/phonebook?q={}", "x".repeat(201));
    let (status, html) = page(&browser, &app, &long).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("id=\"phonebook-search-error\""));

    let (status, _) = page(&browser, &app, "/extensions/999/phonebook").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_phonebook_password_is_shown_once_and_stored_as_a_hash() {
    let app = app_with_phonebook().await;
    let browser = app.browser();
    app.login(&browser).await;
    let (_, html) = page(&browser, &app, "/extensions/150/phonebook").await;
    assert_eq!(text_of(&html, "password-state"), "no password");
    assert!(html.contains("/phonebook/150/yealink.xml"));
    assert!(html.contains("/phonebook/150.vcf"));
    assert!(html.contains("/carddav/"));
    let csrf = hidden_csrf(&html);

    // Without the form's CSRF token nothing happens.
    let r = browser
        .post(app.url("/extensions/150/phonebook/password"))
        .form(&[("action", "generate"), ("csrf_token", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.phonebooks.phonebook_secret("150").await.unwrap(), None);

    let r = browser
        .post(app.url("/extensions/150/phonebook/password"))
        .form(&[("action", "generate"), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    let password = attr_after(&html, "id=\"new-password\"", "value");
    assert_eq!(password.len(), 24);
    let stored = app
        .phonebooks
        .phonebook_secret("150")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, auth::hash_token(&password));
    assert_ne!(stored, password);

    // Shown once: the page never shows it again.
    let (_, again) = page(&browser, &app, "/extensions/150/phonebook").await;
    assert!(!again.contains(&password));
    assert!(!again.contains("id=\"new-password\""));
    assert_eq!(text_of(&again, "password-state"), "password set");
    assert!(again.contains("Regenerate password"));

    // Regenerate replaces it; remove revokes it.
    let r = browser
        .post(app.url("/extensions/150/phonebook/password"))
        .form(&[("action", "generate"), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    let second = attr_after(&r.text().await.unwrap(), "id=\"new-password\"", "value");
    assert_ne!(second, password);
    assert_eq!(
        app.phonebooks.phonebook_secret("150").await.unwrap(),
        Some(auth::hash_token(&second))
    );
    let r = browser
        .post(app.url("/extensions/150/phonebook/password"))
        .form(&[("action", "revoke"), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.phonebooks.phonebook_secret("150").await.unwrap(), None);

    // Unknown extensions and actions are refused without storing anything.
    let r = browser
        .post(app.url("/extensions/999/phonebook/password"))
        .form(&[("action", "generate"), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.phonebooks.phonebook_secret("999").await.unwrap(), None);
    let r = browser
        .post(app.url("/extensions/150/phonebook/password"))
        .form(&[("action", "shred"), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn phone_urls_use_the_public_url_when_set() {
    let app = TestApp::spawn_with_public_url().await;
    let r = app
        .api(Method::POST, "/api/v1/extensions")
        .json(&json!({"number": "150"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let browser = app.browser();
    app.login(&browser).await;
    let (_, html) = page(&browser, &app, "/extensions/150/phonebook").await;
    assert_eq!(
        text_of(&html, "url-yealink"),
        "https://pbx.example.com/phonebook/150/yealink.xml"
    );
    assert_eq!(
        text_of(&html, "url-carddav"),
        "https://pbx.example.com/carddav/"
    );
    assert!(!html.contains("id=\"urls-guessed\""));
}

fn settings_form<'a>(csrf: &'a str, changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("csrf_token", csrf),
        ("enabled", "on"),
        ("scope_mode", "all"),
        ("scope_ids", ""),
        ("default_region", "US"),
        ("company_mailboxes", ""),
        ("poll_interval_secs", "300"),
        ("daily_full_sync_at", "02:30"),
        ("time_zone", "UTC"),
    ];
    for &(k, v) in changes {
        form.retain(|&(key, _)| key != k);
        form.push((k, v));
    }
    form
}

#[tokio::test]
async fn contact_sync_tab_saves_valid_settings_and_explains_bad_ones() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    app.login(&browser).await;
    let (status, html) = page(&browser, &app, "/sync/contacts").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("aria-current=\"page\">Contact Sync</a>"));
    assert!(
        html.contains("id=\"scope-picker\""),
        "the user sync picker is reused"
    );
    assert_eq!(attr_after(&html, "id=\"default-region\"", "value"), "US");
    let csrf = hidden_csrf(&html);

    let id = "3F2C9A4E-5B1D-4C8E-9F0A-1B2C3D4E5F60";
    let r = browser
        .post(app.url("/sync/contacts/settings"))
        .form(&settings_form(
            &csrf,
            &[
                ("default_region", "de"),
                ("scope_mode", "only"),
                ("scope_ids", id),
                (
                    "company_mailboxes",
                    "Contacts@Contoso.com\nsales-contacts@contoso.com",
                ),
                ("daily_full_sync_at", "03:15"),
                ("time_zone", "Europe/Berlin"),
                ("poll_interval_secs", "600"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&r),
        "/sync/contacts?notice=saved#contact-sync-settings"
    );
    let saved = get_json(&app, "/api/v1/settings/contact-sync").await;
    assert_eq!(
        saved,
        json!({
            "enabled": true,
            "scope": {"mode": "only", "ids": [id.to_lowercase()]},
            "default_region": "DE",
            "company_mailboxes": ["contacts@contoso.com", "sales-contacts@contoso.com"],
            "poll_interval_secs": 600,
            "daily_full_sync_at": "03:15",
            "time_zone": "Europe/Berlin"
        })
    );
    // Caller ID reads national numbers in the new region at once.
    assert_eq!(app.phonebook_index.default_region(), "DE");
    let (_, html) = page(&browser, &app, "/sync/contacts?notice=saved").await;
    assert!(html.contains("id=\"notice\""));
    assert_eq!(attr_after(&html, "id=\"default-region\"", "value"), "DE");

    // Bad values: 422, each message next to its field, the values kept, nothing saved.
    let r = browser
        .post(app.url("/sync/contacts/settings"))
        .form(&settings_form(
            &csrf,
            &[
                ("default_region", "UK"),
                ("company_mailboxes", "not-a-mailbox"),
                ("time_zone", "Mars/Olympus"),
                ("daily_full_sync_at", "7pm"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    let region = text_of(&html, "default-region-error");
    assert!(
        region.starts_with(
            "The default region must be a two-letter ISO 3166 country code such as GB"
        ),
        "{region}"
    );
    assert!(region.contains("UK"), "{region}");
    assert!(text_of(&html, "company-mailboxes-error").contains("not-a-mailbox"));
    assert!(text_of(&html, "contact-time-zone-error").contains("IANA"));
    assert!(text_of(&html, "contact-daily-full-sync-error").contains("24-hour"));
    assert_eq!(attr_after(&html, "id=\"default-region\"", "value"), "UK");
    assert_eq!(
        get_json(&app, "/api/v1/settings/contact-sync").await["default_region"],
        "DE"
    );
    assert_eq!(app.phonebook_index.default_region(), "DE");

    // The form's CSRF token is required.
    let r = browser
        .post(app.url("/sync/contacts/settings"))
        .form(&settings_form("wrong", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn contact_sync_settings_api_and_skipped_users() {
    let app = TestApp::spawn().await;
    let defaults = get_json(&app, "/api/v1/settings/contact-sync").await;
    assert_eq!(defaults["scope"], json!({"mode": "all"}));

    let r = app
        .api(Method::PUT, "/api/v1/settings/contact-sync")
        .json(&json!({"default_region": "gb", "scope": {"mode": "groups", "ids": []}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("scope: this scope needs at least one group"),
        "{body}"
    );
    let r = app
        .api(Method::PUT, "/api/v1/settings/contact-sync")
        .json(&json!({"default_region": "ZZ"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .api(Method::PUT, "/api/v1/settings/contact-sync")
        .json(&json!({"default_region": "gb", "enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let saved: Value = r.json().await.unwrap();
    assert_eq!(saved["default_region"], "GB");
    assert_eq!(saved["enabled"], false);
    assert_eq!(saved["poll_interval_secs"], defaults["poll_interval_secs"]);
}

/// Two synced users: Ada (a contact in her Outlook) and Kiosk User (no Exchange mailbox).
async fn synced_app() -> (TestApp, String, String) {
    let app = TestApp::spawn().await;
    app.directory.set_users(vec![
        crate::fakes::member(1, "Ada", "Lovelace"),
        crate::fakes::member(2, "Kiosk", "User"),
    ]);
    sync_users(&app, "").await;
    let number_of = |name: &'static str| {
        let app = &app;
        async move {
            let found = get_json(app, &format!("/api/v1/extensions?q={name}")).await;
            found[0]["number"].as_str().unwrap().to_owned()
        }
    };
    let ada = number_of("Ada").await;
    let kiosk = number_of("Kiosk").await;
    app.mailboxes.set_contacts(
        &crate::fakes::user_id(1),
        vec![MailboxContact {
            id: "dentist".into(),
            display_name: Some("Dr Dentist".into()),
            business_phones: vec!["+44 20 7946 0000".into()],
            home_phones: vec!["ring the bell".into()],
            ..MailboxContact::default()
        }],
    );
    app.mailboxes.without_mailbox(&crate::fakes::user_id(2));
    (app, ada, kiosk)
}

#[tokio::test]
async fn contact_sync_runs_from_the_api_and_feeds_phonebooks_lookup_and_skipped() {
    let (app, ada, kiosk) = synced_app().await;

    // A dry run counts and changes nothing.
    let r = app
        .api(Method::POST, "/api/v1/sync/contacts?dry_run=true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let dry: Value = r.json().await.unwrap();
    assert_eq!(dry["run"]["counts"]["created"], 1, "{dry}");
    assert!(app.phonebooks.entries().is_empty());

    let r = app
        .api(Method::POST, "/api/v1/sync/contacts?full=true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(outcome["run"]["kind"], "contacts");
    assert_eq!(outcome["run"]["counts"]["created"], 1, "{outcome}");
    assert_eq!(outcome["run"]["counts"]["skipped"], 1, "{outcome}");

    let book = get_json(&app, &format!("/api/v1/extensions/{ada}/phonebook")).await;
    assert_eq!(book[0]["display_name"], "Dr Dentist");
    assert_eq!(
        book[0]["phones"],
        json!([
            {"type": "business", "raw": "+44 20 7946 0000", "e164": "+442079460000"},
            {"type": "home", "raw": "ring the bell", "e164": null}
        ])
    );
    // The sync keeps the caller-ID index in step: no restart, no database read.
    let hit = get_json(
        &app,
        &format!("/api/v1/lookup?number=%2B442079460000&extension={ada}"),
    )
    .await;
    assert_eq!(hit["name"], "Dr Dentist");
    assert_eq!(hit["owner_extension"], ada.as_str());

    let skipped = get_json(&app, "/api/v1/sync/contacts/skipped").await;
    assert_eq!(
        skipped,
        json!([{
            "mailbox_id": crate::fakes::user_id(2),
            "extension": kiosk,
            "name": "Kiosk User",
            "reason": "no mailbox (plan without Exchange)"
        }])
    );
    let status = get_json(&app, "/api/v1/sync").await;
    let contacts = &status["contacts"];
    assert_eq!(contacts["last_run"]["counts"]["created"], 1);
    assert!(contacts["last_full_sync"].is_string());

    // The OpenAPI schemas name exactly these fields.
    let doc = get_json(&app, "/api/v1/openapi.json").await;
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        keys(&schemas["SkippedMailbox"]["properties"]),
        keys(&skipped[0])
    );
    assert_eq!(
        keys(&schemas["ContactSyncStatus"]["properties"]),
        keys(contacts)
    );
    assert_eq!(keys(&schemas["SyncOverview"]["properties"]), keys(&status));
    assert_eq!(
        keys(&schemas["SyncRun"]["properties"]),
        keys(&outcome["run"])
    );
    for k in keys(&outcome) {
        assert!(schemas["RunOutcome"]["properties"][&k].is_object(), "{k}");
    }

    // Started in the background, followed through GET /api/v1/sync.
    let r = app
        .api(Method::POST, "/api/v1/sync/contacts?wait=false")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn contact_sync_tab_shows_the_status_skipped_users_and_runs_now() {
    let (app, _, kiosk) = synced_app().await;
    let browser = app.browser();
    app.login(&browser).await;
    let (_, html) = page(&browser, &app, "/sync/contacts").await;
    assert!(html.contains("id=\"no-skipped\""));
    assert!(html.contains("id=\"last-run\"><span class=\"muted\">never</span>"));
    let csrf = hidden_csrf(&html);

    let r = browser
        .post(app.url("/sync/contacts/run"))
        .form(&[("csrf_token", csrf.as_str()), ("full", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/sync/contacts?notice=started&run=full");
    let mut html = String::new();
    for _ in 0..100 {
        html = page(&browser, &app, "/sync/contacts").await.1;
        if html.contains("class=\"skip-reason\"") && !html.contains("id=\"sync-progress\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        html.contains("<td class=\"skip-reason\">no mailbox (plan without Exchange)</td>"),
        "{html}"
    );
    assert!(html.contains(">Kiosk User<"));
    assert!(html.contains(&format!("href=\"/extensions/{kiosk}\"")));
    assert_eq!(text_of(&html, "skipped-count"), "(1)");
    assert!(text_of(&html, "last-run").contains("full"));
    assert_eq!(text_of(&html, "sync-badge"), "idle");

    let r = browser
        .post(app.url("/sync/contacts/run"))
        .form(&[("csrf_token", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
