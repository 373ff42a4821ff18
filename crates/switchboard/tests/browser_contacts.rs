#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! The admin's Contact Sync and phonebook walk in a real browser (headless Chromium via
//! chromedriver), against the emulated tenant: Sync now on the Contact Sync tab, a user's
//! phonebook with contacts from several folders (search, numbers with type and E.164 form, an
//! unreadable number flagged), a phonebook password shown once with the addresses phones use,
//! and the Yealink phonebook downloaded with that password. Screenshots are kept under
//! target/screenshots/contacts-*.png.

mod common;

use common::browser::{
    browser, click, click_and_wait_for_navigation, exists, scroll_to, set_field, shot, table_rows,
    text_of, wait_for,
};
use common::{ADMIN, PASSWORD, TestApp, spawn_app};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

const OWNER: &str = "Ada Lovelace";
/// Ada's contacts: Bob in the default folder, Carla in Suppliers, Dan and Eve in Plumbers
/// (inside Suppliers).
const BOB: &str = "Bob Builder";
const CARLA: &str = "Carla Supplier";
const DAN: &str = "Dan Plumber";
const EVE: &str = "Eve Electric";

fn member(name: &str) -> Value {
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
        "usageLocation": "GB",
    })
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

async fn contact(app: &TestApp, user: &str, body: Value) {
    let created = app
        .emulator_post(&format!("/_emulator/users/{user}/contacts"), body)
        .await;
    assert!(created["id"].is_string(), "{created}");
}

/// The phonebook table as the admin reads it: per entry its name and its numbers
/// `{kind, raw, e164, invalid, flag}` (`flag`: the text of the "not a valid number" badge).
async fn phonebook_rows(c: &Client) -> Vec<Value> {
    c.execute(
        "return Array.from(document.querySelectorAll('#phonebook-table tbody tr')).map(tr => ({
             name: tr.querySelector('.entry-name').textContent.trim(),
             phones: Array.from(tr.querySelectorAll('ul.phones li[data-e164]')).map(li => ({
                 kind: li.querySelector('[class*=badge-phone-]').textContent.trim(),
                 raw: li.querySelector('.raw').textContent.trim(),
                 e164: li.querySelector('.e164') ? li.querySelector('.e164').textContent.trim() : null,
                 invalid: li.hasAttribute('data-invalid'),
                 flag: li.querySelector('.badge-invalid') ? li.querySelector('.badge-invalid').textContent.trim() : null,
             })),
         }));",
        vec![],
    )
    .await
    .unwrap()
    .as_array()
    .unwrap()
    .clone()
}

fn names(rows: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = rows
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn entry<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name} in the phonebook: {rows:?}"))
}

async fn value_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on page"))
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

#[tokio::test]
async fn admin_syncs_contacts_and_hands_a_phonebook_to_a_phone_in_the_browser() {
    let app = spawn_app().await;
    app.connect().await;
    let ada = app.add_user(member(OWNER)).await;
    app.sync("").await;
    let number = app
        .extensions()
        .await
        .iter()
        .find(|e| e["graph_user_id"] == ada.as_str())
        .expect("Ada has an extension")["number"]
        .as_str()
        .unwrap()
        .to_owned();
    // Contacts in the default folder, in a folder, and in a folder inside that one.
    let suppliers = folder(&app, &ada, "Suppliers", None).await;
    let plumbers = folder(&app, &ada, "Plumbers", Some(&suppliers)).await;
    contact(
        &app,
        &ada,
        json!({"givenName": "Bob", "surname": "Builder", "companyName": "Builders Ltd",
               "businessPhones": ["020 7946 0123"], "mobilePhone": "07700 900123",
               "emailAddresses": [{"name": "Bob", "address": "bob@builders.example"}]}),
    )
    .await;
    contact(
        &app,
        &ada,
        json!({"displayName": CARLA, "homePhones": ["0049 30 12345678"],
               "parentFolderId": suppliers}),
    )
    .await;
    contact(
        &app,
        &ada,
        json!({"displayName": DAN, "businessPhones": ["ask reception"],
               "mobilePhone": "+1 (212) 555-0147", "parentFolderId": plumbers}),
    )
    .await;
    contact(
        &app,
        &ada,
        json!({"displayName": EVE, "businessPhones": ["+44 161 496 0000"],
               "parentFolderId": plumbers}),
    )
    .await;

    let (_driver, c) = browser().await;

    // 1. Log in; Contact Sync: never run yet.
    c.goto(&format!("{}/sync/contacts", app.url)).await.unwrap();
    assert!(
        c.current_url().await.unwrap().path().starts_with("/login"),
        "login first"
    );
    set_field(&c, "#login-username", ADMIN).await;
    set_field(&c, "#login-password", PASSWORD).await;
    click(&c, "#login-submit").await;
    wait_for(&c, "#sync-status", 10).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/sync/contacts");
    assert_eq!(text_of(&c, "#sync-badge").await, "idle");
    assert_eq!(text_of(&c, "#last-run").await, "never");
    shot(&c, "contacts-01-contact-sync-idle").await;

    // 2. Sync now: the status card follows the run and shows what it did.
    click_and_wait_for_navigation(&c, "#sync-now").await;
    wait_for(&c, "#notice", 10).await;
    assert!(
        text_of(&c, "#notice")
            .await
            .starts_with("Contact sync started"),
    );
    wait_for(&c, "#sync-status[data-state='idle'] #last-run .counts", 90).await;
    assert_eq!(text_of(&c, "#sync-badge").await, "idle");
    assert!(!exists(&c, "#last-run-error").await);
    let counts = text_of(&c, "#last-run .counts").await;
    assert!(
        counts.starts_with("4 entries created, 0 updated, 0 removed; 0 mailboxes skipped"),
        "{counts}"
    );
    assert!(!exists(&c, "#sync-progress").await, "the run is over");
    shot(&c, "contacts-02-contact-sync-done").await;

    // 3. Extensions → the extension → its phonebook.
    click(&c, ".mainnav a[href='/extensions']").await;
    wait_for(&c, "#extensions-table", 10).await;
    let listed = c
        .find(Locator::Css(&format!(
            "#extensions-table tr[data-number='{number}'] a.phonebook-link"
        )))
        .await
        .expect("the list links to each phonebook")
        .attr("href")
        .await
        .unwrap();
    assert_eq!(
        listed.as_deref(),
        Some(format!("/extensions/{number}/phonebook").as_str())
    );
    click_and_wait_for_navigation(
        &c,
        &format!("#extensions-table tr[data-number='{number}'] a.number"),
    )
    .await;
    wait_for(&c, "#phonebook-link", 10).await;
    click_and_wait_for_navigation(&c, "#phonebook-link").await;
    wait_for(&c, "#phonebook-table", 10).await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        format!("/extensions/{number}/phonebook")
    );
    assert_eq!(text_of(&c, "#extension-number").await, number);
    assert!(text_of(&c, "h1").await.contains(OWNER));
    assert_eq!(text_of(&c, "#phonebook-count").await, "4 entries");

    // Every folder, the nested one too; each number with its type and E.164 form.
    let rows = phonebook_rows(&c).await;
    assert_eq!(names(&rows), [BOB, CARLA, DAN, EVE], "{rows:?}");
    assert_eq!(
        entry(&rows, BOB)["phones"],
        json!([
            {"kind": "business", "raw": "020 7946 0123", "e164": "+442079460123",
             "invalid": false, "flag": null},
            {"kind": "mobile", "raw": "07700 900123", "e164": "+447700900123",
             "invalid": false, "flag": null},
        ]),
        "numbers read in the user's country (GB), as typed and in E.164"
    );
    assert_eq!(entry(&rows, CARLA)["phones"][0]["kind"], "home");
    assert_eq!(entry(&rows, CARLA)["phones"][0]["e164"], "+493012345678");
    assert_eq!(entry(&rows, EVE)["phones"][0]["e164"], "+441614960000");
    // The unreadable number: kept as typed, flagged, not dropped; the readable one beside it.
    let dan = &entry(&rows, DAN)["phones"];
    assert_eq!(
        dan,
        &json!([
            {"kind": "business", "raw": "ask reception", "e164": null,
             "invalid": true, "flag": "not a valid number"},
            {"kind": "mobile", "raw": "+1 (212) 555-0147", "e164": "+12125550147",
             "invalid": false, "flag": null},
        ]),
    );
    assert_eq!(
        c.find_all(Locator::Css("#phonebook-table .badge-invalid"))
            .await
            .unwrap()
            .len(),
        1,
        "only the unreadable number is flagged"
    );
    assert!(
        text_of(&c, "#unreadable-hint")
            .await
            .contains("could not be read as a phone number"),
    );
    let email = table_rows(&c, "#phonebook-table tbody tr").await;
    assert!(
        email
            .iter()
            .any(|r| r[0].starts_with(BOB) && r[2] == "bob@builders.example"),
        "{email:?}"
    );
    assert_eq!(text_of(&c, "#password-state").await, "no password");
    shot(&c, "contacts-03-phonebook").await;

    // 4. Search narrows the list; Clear brings every entry back.
    set_field(&c, "#phonebook-search", "carla").await;
    click_and_wait_for_navigation(&c, "#phonebook-search-submit").await;
    wait_for(&c, "#phonebook-clear", 10).await;
    let rows = phonebook_rows(&c).await;
    assert_eq!(names(&rows), [CARLA], "{rows:?}");
    assert_eq!(value_of(&c, "#phonebook-search").await, "carla");
    assert!(
        text_of(&c, "#phonebook-range")
            .await
            .contains("matching \"carla\"")
    );
    assert_eq!(
        text_of(&c, "#phonebook-count").await,
        "4 entries",
        "the count is the whole book's"
    );
    assert!(!exists(&c, "#unreadable-hint").await, "Dan is not shown");
    shot(&c, "contacts-04-phonebook-search").await;
    // By company as well.
    set_field(&c, "#phonebook-search", "Builders").await;
    click_and_wait_for_navigation(&c, "#phonebook-search-submit").await;
    wait_for(&c, "#phonebook-clear", 10).await;
    assert_eq!(names(&phonebook_rows(&c).await), [BOB], "by company");
    click_and_wait_for_navigation(&c, "#phonebook-clear").await;
    wait_for(&c, "#phonebook-table", 10).await;
    assert_eq!(phonebook_rows(&c).await.len(), 4);
    assert!(!exists(&c, "#phonebook-clear").await);

    // 5. A phonebook password: shown once, with the addresses phones and apps use.
    click_and_wait_for_navigation(&c, "#generate-password").await;
    wait_for(&c, "#new-password-card", 10).await;
    let password = value_of(&c, "#new-password").await;
    assert_eq!(password.len(), 24, "{password:?}");
    assert!(
        password
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit()),
        "{password:?}"
    );
    assert!(
        text_of(&c, "#new-password-card")
            .await
            .contains("shown only this once")
    );
    assert_eq!(text_of(&c, "#password-state").await, "password set");
    let yealink = text_of(&c, "#url-yealink").await;
    assert_eq!(
        yealink,
        format!("{}/phonebook/{number}/yealink.xml", app.url)
    );
    assert_eq!(
        text_of(&c, "#url-vcard").await,
        format!("{}/phonebook/{number}.vcf", app.url)
    );
    assert_eq!(
        text_of(&c, "#url-carddav").await,
        format!("{}/carddav/", app.url)
    );
    assert!(
        exists(&c, "#urls-guessed").await,
        "no public_url: the page says where the addresses come from"
    );
    shot(&c, "contacts-05-phonebook-password").await;
    scroll_to(&c, "#phonebook-access").await;
    shot(&c, "contacts-06-phonebook-urls").await;

    // Opened again: the password is not shown any more, only that one is set.
    c.goto(&format!("{}/extensions/{number}/phonebook", app.url))
        .await
        .unwrap();
    wait_for(&c, "#phonebook-access", 10).await;
    assert!(!exists(&c, "#new-password-card").await, "shown once");
    assert!(!exists(&c, "#new-password").await);
    let page = c.source().await.unwrap();
    assert!(!page.contains(&password), "the password is not in the page");
    assert_eq!(text_of(&c, "#password-state").await, "password set");
    assert_eq!(
        text_of(&c, "#generate-password").await,
        "Regenerate password"
    );
    assert!(exists(&c, "#revoke-password").await);

    // 6. A phone downloads the Yealink phonebook with HTTP Basic: extension number + password.
    let unsigned = app.http.get(&yealink).send().await.unwrap();
    assert_eq!(unsigned.status(), 401, "no password, no phonebook");
    let r = app
        .http
        .get(&yealink)
        .basic_auth(&number, Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.contains("xml"), "{content_type}");
    let xml = r.text().await.unwrap();
    for name in [BOB, CARLA, DAN, EVE] {
        assert!(
            xml.contains(name),
            "{name} in the Yealink phonebook:\n{xml}"
        );
    }
    assert!(
        xml.contains("+442079460123") || xml.contains("02079460123"),
        "{xml}"
    );
    let wrong = app
        .http
        .get(&yealink)
        .basic_auth(&number, Some("not-the-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401, "a wrong password is refused");

    c.close().await.ok();
}
