#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! The admin's User Sync and Extensions walk in a real browser (headless Chromium via
//! chromedriver), against a generated tenant in the emulator: status card, Preview, Full sync
//! with live progress, the Extensions list and search, one synced extension (read-only, exclude
//! from sync, history), and the settings form. Screenshots are kept under
//! target/screenshots/user-sync-*.png.

mod common;

use common::{ADMIN, PASSWORD, TestApp, spawn_app_with_users};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Generated users; big enough that a full sync takes several pages of 999.
const TENANT_USERS: usize = 3000;
/// The named users the admin looks for; the generated names never use these surnames.
const MEMBER: &str = "Zelda Quartermaine";
const DISABLED: &str = "Dora Offenbach";
const GUEST: &str = "Gus Visitorson";

// ---------------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------------

struct Driver(Child);
impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn browser() -> (Driver, Client) {
    let port = free_port();
    let driver = Command::new(
        std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()),
    )
    .arg(format!("--port={port}"))
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect(
        "chromedriver is installed (apt-get install chromium chromium-driver; .ci/run does it)",
    );
    let driver = Driver(driver);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--no-first-run", "--window-size=1280,1000",
                        format!("--user-data-dir={}", std::env::temp_dir().join(format!("sb-chrome-{}", uuid::Uuid::new_v4().simple())).display())]}),
    );
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if let Ok(c) = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            return (driver, c);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start on {url}");
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("user-sync-{name}.png")), png)
        .expect("write screenshot");
}

/// The visible text, white space collapsed (badges sit on lines of their own).
async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on page"))
        .text()
        .await
        .expect("text")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

async fn exists(c: &Client, css: &str) -> bool {
    !c.find_all(Locator::Css(css))
        .await
        .expect("find")
        .is_empty()
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on page"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Waits for an element the next page (or the updated page) has.
async fn wait_for(c: &Client, css: &str, secs: u64) {
    c.wait()
        .at_most(Duration::from_secs(secs))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear within {secs} s: {e}"));
}

async fn set_field(c: &Client, css: &str, value: &str) {
    let field = c.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn scroll_to(c: &Client, css: &str) {
    c.execute(
        "document.querySelector(arguments[0]).scrollIntoView({block: 'center'});",
        vec![json!(css)],
    )
    .await
    .unwrap();
}

/// The rows of a table as the admin reads them: one string per cell, badges as their words.
async fn table_rows(c: &Client, css: &str) -> Vec<Vec<String>> {
    let rows = c
        .execute(
            "return Array.from(document.querySelectorAll(arguments[0]))
                 .filter(tr => !tr.closest('[hidden]'))
                 .map(tr => Array.from(tr.cells).map(td => td.innerText.replace(/\\s+/g, ' ').trim()));",
            vec![json!(css)],
        )
        .await
        .unwrap();
    serde_json::from_value(rows).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The tenant: ground truth from the emulator
// ---------------------------------------------------------------------------------------------

fn person(name: &str) -> Value {
    let mut parts = name.split(' ');
    let upn = format!(
        "{}@contoso.onmicrosoft.com",
        name.to_lowercase().replace(' ', ".")
    );
    json!({
        "displayName": name,
        "givenName": parts.next().unwrap(),
        "surname": parts.next().unwrap_or(""),
        "userPrincipalName": upn,
        "mail": upn,
        "accountEnabled": true,
        "userType": "Member",
        "businessPhones": ["+1 425 555 0142"],
        "jobTitle": "Harbour Master",
        "department": "Operations",
    })
}

async fn tenant(app: &TestApp) -> Vec<Value> {
    let v: Value = app
        .http
        .get(app.emulator_url("/_emulator/users?limit=100000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["value"].as_array().unwrap().clone()
}

fn is_member(u: &Value) -> bool {
    u["userType"] == "Member" && u["deletedDateTime"].is_null()
}

// ---------------------------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn admin_syncs_users_and_looks_after_extensions_in_the_browser() {
    let app = spawn_app_with_users(TENANT_USERS).await;
    app.connect().await;
    let zelda = app.add_user(person(MEMBER)).await;
    let mut disabled = person(DISABLED);
    disabled["accountEnabled"] = json!(false);
    app.add_user(disabled).await;
    let users = tenant(&app).await;
    let enabled_members = users
        .iter()
        .filter(|u| is_member(u) && u["accountEnabled"] == true)
        .count();
    let disabled_members = users
        .iter()
        .filter(|u| is_member(u) && u["accountEnabled"] == false)
        .count();
    assert!(
        disabled_members > 1,
        "the generated tenant has disabled accounts"
    );

    let (_driver, c) = browser().await;

    // 1. Log in; User Sync: idle, never run.
    c.goto(&format!("{}/sync/users", app.url)).await.unwrap();
    assert!(
        c.current_url().await.unwrap().path().starts_with("/login"),
        "login first"
    );
    set_field(&c, "#login-username", ADMIN).await;
    set_field(&c, "#login-password", PASSWORD).await;
    click(&c, "#login-submit").await;
    wait_for(&c, "#sync-status", 10).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/sync/users");
    assert_eq!(text_of(&c, "#sync-badge").await, "idle");
    assert_eq!(text_of(&c, "#last-run").await, "never");
    assert!(text_of(&c, "#last-full-sync").await.starts_with("never"));
    assert!(!exists(&c, "#sync-progress").await, "nothing running");
    shot(&c, "01-idle").await;

    // 2. Preview: the plan lists every member, with what happens and why; nothing changes.
    click(&c, "#sync-preview").await;
    wait_for(&c, "#plan-summary", 60).await;
    let summary = text_of(&c, "#plan-summary").await;
    assert!(
        summary.contains("A full sync would do this now"),
        "{summary}"
    );
    assert!(summary.contains("Nothing has been changed"), "{summary}");
    assert_eq!(
        text_of(&c, "#plan-counts").await,
        format!(
            "{enabled_members} created, 0 updated, 0 disabled, 0 enabled, 0 removed, {disabled_members} skipped"
        )
    );
    let plan = table_rows(&c, "#plan-table tr[data-action]").await;
    assert_eq!(
        plan.len(),
        enabled_members + disabled_members,
        "one row per member"
    );
    let row_of = |name: &str| {
        plan.iter()
            .find(|r| r[1].starts_with(name))
            .unwrap_or_else(|| panic!("{name} in the plan"))
            .clone()
    };
    let z = row_of(MEMBER);
    assert_eq!(z[0], "create");
    assert!(
        z[1].contains(&zelda),
        "the user's object id is shown: {z:?}"
    );
    assert!(
        z[3].starts_with("New user in Microsoft 365: gets extension"),
        "{z:?}"
    );
    assert_eq!(
        z[3],
        format!("New user in Microsoft 365: gets extension {}", z[2])
    );
    let d = row_of(DISABLED);
    assert_eq!(d[0], "skip");
    assert!(
        d[3].contains("the account is disabled, so no extension is made"),
        "{d:?}"
    );
    assert!(
        app.extensions().await.is_empty(),
        "a preview changes nothing"
    );
    shot(&c, "02-preview").await;
    // The Skip chip filters the table to the skipped users.
    click(&c, "#plan-filter [data-filter='skip']").await;
    let skipped = table_rows(&c, "#plan-table tr[data-action]").await;
    assert_eq!(skipped.len(), disabled_members);
    assert!(skipped.iter().all(|r| r[0] == "skip"), "{skipped:?}");
    shot(&c, "03-preview-skipped").await;

    // 3. Full sync: the status card follows the run and shows its result, without a reload.
    // Slow Graph pages a little, so the run lasts a few seconds and the progress has a chance
    // to show; nothing below depends on seeing it.
    app.emulator_post(
        "/_emulator/faults",
        json!({"path_prefix": "/v1.0/users", "status": 0, "latency_ms": 1200, "count": 4}),
    )
    .await;
    c.find(Locator::LinkText("← User Sync"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&c, "#sync-full", 10).await;
    click(&c, "#sync-full").await;
    wait_for(&c, "#notice", 10).await;
    assert!(text_of(&c, "#notice").await.contains("User sync started"));
    c.execute("window.sbSamePage = true;", vec![])
        .await
        .unwrap();
    let saw_progress = exists(&c, "#sync-progress").await;
    if saw_progress {
        assert_eq!(text_of(&c, "#sync-badge").await, "running");
        // "Running full sync since …" (the mode is only known once the run has stored itself).
        assert!(
            text_of(&c, "#sync-progress label")
                .await
                .starts_with("Running "),
        );
        // A moment for the first page to be counted, if the run is still going.
        for _ in 0..30 {
            let n = c
                .execute(
                    "const p = document.getElementById('sync-processed'); return p ? Number(p.textContent) : -1;",
                    vec![],
                )
                .await
                .unwrap();
            if n.as_i64() != Some(0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        shot(&c, "04-progress").await;
    }
    wait_for(&c, "#sync-status[data-state='idle'] #last-run .counts", 90).await;
    assert_eq!(
        c.execute("return window.sbSamePage === true;", vec![])
            .await
            .unwrap(),
        json!(true),
        "the status card updated in place, the page was not reloaded"
    );
    assert_eq!(text_of(&c, "#sync-badge").await, "idle");
    assert!(!exists(&c, "#sync-progress").await);
    let last_run = text_of(&c, "#last-run").await;
    assert!(last_run.contains(" · full"), "{last_run}");
    let counts = text_of(&c, "#last-run .counts").await;
    assert!(
        counts.starts_with(&format!(
            "{enabled_members} created, 0 updated, 0 disabled, 0 enabled, 0 removed, {disabled_members} skipped"
        )),
        "{counts}"
    );
    assert!(!exists(&c, "#last-run-error").await);
    assert!(!text_of(&c, "#last-full-sync").await.starts_with("never"));
    let exts = app.extensions().await;
    assert_eq!(exts.len(), enabled_members, "the API agrees with the card");
    shot(&c, "05-synced").await;

    // A guest joins: the next preview (an incremental one) says why it gets no extension.
    let mut guest = person(GUEST);
    guest["userType"] = json!("Guest");
    guest["userPrincipalName"] = json!("gus_fabrikam.com#EXT#@contoso.onmicrosoft.com");
    let gus = app.add_user(guest).await;
    click(&c, "#sync-preview").await;
    wait_for(&c, "#plan-summary", 30).await;
    assert!(
        text_of(&c, "#plan-summary")
            .await
            .contains("A delta sync would do this now"),
    );
    let plan = table_rows(&c, "#plan-table tr[data-action]").await;
    let g = plan
        .iter()
        .find(|r| r[1].starts_with(GUEST))
        .unwrap_or_else(|| panic!("the guest in the plan: {plan:?}"));
    assert_eq!(g[0], "skip");
    assert!(g[1].contains(&gus), "{g:?}");
    assert!(
        g[3].contains("guests are synced only with \"Include guests\" on"),
        "{g:?}"
    );
    shot(&c, "06-preview-guest").await;
    assert_eq!(
        app.extensions().await.len(),
        enabled_members,
        "still nothing changed"
    );
    c.find(Locator::LinkText("← User Sync"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&c, "#sync-status", 10).await;

    // 4. Extensions: the synced users, badge "synced", group "Azure AD"; search narrows.
    click(&c, ".mainnav a[href='/extensions']").await;
    wait_for(&c, "#extensions-table", 10).await;
    assert!(
        text_of(&c, "#extension-count")
            .await
            .starts_with(&format!("{enabled_members} extensions in total")),
    );
    let rows = table_rows(&c, "#extensions-table tr[data-number]").await;
    assert_eq!(rows.len(), enabled_members.min(50), "one page of 50");
    for r in &rows {
        assert_eq!(r[4], "Azure AD", "{r:?}");
        assert_eq!(r[5], "enabled synced", "{r:?}");
    }
    assert!(exists(&c, "#next-page").await, "more pages");
    shot(&c, "07-extensions").await;

    let number = exts
        .iter()
        .find(|e| e["graph_user_id"] == zelda.as_str())
        .and_then(|e| e["number"].as_str())
        .expect("Zelda has an extension")
        .to_owned();
    let matching = exts
        .iter()
        .filter(|e| {
            ["display_name", "email", "upn"].iter().any(|f| {
                e[f].as_str()
                    .is_some_and(|s| s.to_lowercase().contains("quartermaine"))
            })
        })
        .count();
    set_field(&c, "#search", "Quartermaine").await;
    click(&c, "#search-submit").await;
    wait_for(&c, "#clear-filters", 10).await;
    let rows = table_rows(&c, "#extensions-table tr[data-number]").await;
    assert_eq!(rows.len(), matching, "{rows:?}");
    let row = rows.iter().find(|r| r[0] == number).expect("Zelda's row");
    assert_eq!(row[1], MEMBER);
    assert_eq!(row[2], "zelda.quartermaine@contoso.onmicrosoft.com");
    assert_eq!(row[3], "Operations");
    assert_eq!(row[4], "Azure AD");
    assert_eq!(row[5], "enabled synced");
    assert!(
        text_of(&c, "#extension-count")
            .await
            .contains(&format!("{matching} match")),
    );
    shot(&c, "08-search").await;

    // 5. One extension: synced fields read-only with the reason; exclude it; the history.
    click(&c, &format!("tr[data-number='{number}'] a.number")).await;
    wait_for(&c, "#extension-fields", 10).await;
    assert_eq!(text_of(&c, "#extension-number").await, number);
    assert_eq!(text_of(&c, "#extension-badges").await, "enabled synced");
    assert!(
        text_of(&c, "#synced-note")
            .await
            .starts_with("Synced from Microsoft 365 — edit the user there"),
    );
    assert!(!exists(&c, "#edit-extension").await, "no form: read-only");
    assert!(!exists(&c, "#extension-fields input:not([type='hidden'])").await);
    assert_eq!(text_of(&c, "#field-display_name").await, MEMBER);
    assert_eq!(text_of(&c, "#field-job_title").await, "Harbour Master");
    assert_eq!(text_of(&c, "#extension-groups").await, "Azure AD");
    assert_eq!(text_of(&c, "#graph-user-id").await, zelda);
    assert!(exists(&c, "#audit-trail li[data-action='create']").await);
    assert_eq!(text_of(&c, "#exclude-toggle").await, "Exclude from sync");
    shot(&c, "09-extension-synced").await;

    click(&c, "#exclude-toggle").await;
    wait_for(&c, "#exclude-toggle[data-excluded='true']", 10).await;
    assert!(
        text_of(&c, "#notice")
            .await
            .starts_with("Excluded from sync")
    );
    assert_eq!(
        text_of(&c, "#extension-badges").await,
        "enabled synced excluded"
    );
    assert_eq!(text_of(&c, "#exclude-toggle").await, "Include in sync");
    assert!(exists(&c, "#excluded-note").await);
    assert!(
        exists(&c, "#edit-extension").await,
        "editable once excluded"
    );
    let create = text_of(&c, "#audit-trail li[data-action='create']").await;
    assert!(create.contains("create by"), "{create}");
    assert!(
        create.contains(MEMBER),
        "the created values are listed: {create}"
    );
    assert_eq!(
        app.extension(&number).await.unwrap()["excluded"],
        true,
        "the API agrees"
    );
    shot(&c, "10-extension-excluded").await;
    scroll_to(&c, "#audit").await;
    shot(&c, "11-extension-history").await;

    // 6. Settings: saved values persist; an invalid one is shown next to its field.
    click(&c, ".mainnav a[href='/sync/users']").await;
    wait_for(&c, "#user-sync-settings", 10).await;
    assert!(
        !c.find(Locator::Id("removal-delete"))
            .await
            .unwrap()
            .is_selected()
            .await
            .unwrap()
    );
    click(&c, "#removal-delete").await;
    set_field(&c, "#numbering-start", "500").await;
    click(&c, "#save-user-sync").await;
    wait_for(&c, "#notice", 10).await;
    assert!(text_of(&c, "#notice").await.contains("settings saved"));
    c.refresh().await.unwrap();
    wait_for(&c, "#user-sync-settings", 10).await;
    assert!(
        c.find(Locator::Id("removal-delete"))
            .await
            .unwrap()
            .is_selected()
            .await
            .unwrap(),
        "removal policy persists"
    );
    let start = c
        .find(Locator::Id("numbering-start"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(start.as_deref(), Some("500"), "numbering start persists");
    let saved: Value = app
        .api(reqwest::Method::GET, "/api/v1/settings/user-sync")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&saved["removal"], &saved["numbering_start"]),
        (&json!("delete"), &json!(500)),
        "{saved}"
    );
    scroll_to(&c, "#numbering-start").await;
    shot(&c, "12-settings-saved").await;

    set_field(&c, "#poll-interval", "1").await;
    click(&c, "#save-user-sync").await;
    wait_for(&c, "#poll-interval-error", 10).await;
    let error = text_of(&c, "#poll-interval-error").await;
    assert!(
        error.contains("10") && error.contains("86400"),
        "the error says what is allowed: {error}"
    );
    assert!(text_of(&c, "#page-error").await.contains("not valid"));
    let poll = c.find(Locator::Id("poll-interval")).await.unwrap();
    assert_eq!(poll.prop("value").await.unwrap().as_deref(), Some("1"));
    assert_eq!(
        poll.attr("aria-describedby").await.unwrap().as_deref(),
        Some("poll-interval-error")
    );
    assert!(
        !exists(&c, "#numbering-start-error").await,
        "only the bad field is marked"
    );
    let saved: Value = app
        .api(reqwest::Method::GET, "/api/v1/settings/user-sync")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(saved["poll_interval_secs"], 60, "nothing saved: {saved}");
    scroll_to(&c, "#poll-interval").await;
    shot(&c, "13-settings-invalid").await;

    eprintln!(
        "user sync browser walk: {enabled_members} synced, {disabled_members} skipped, progress {}",
        if saw_progress {
            "seen"
        } else {
            "not seen (the run was over first)"
        }
    );
    c.close().await.ok();
}
