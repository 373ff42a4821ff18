#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! The admin's User Sync and Extensions walk in a real browser (headless Chromium via
//! chromedriver), against a generated tenant in the emulator: status card, Preview, Full sync
//! with live progress, the Extensions list and search, one synced extension (read-only, exclude
//! from sync, history), and the settings form. Screenshots are kept under
//! target/screenshots/user-sync-*.png.

mod common;

use common::browser::{
    browser, click, exists, scroll_to, set_field, shot, table_rows, text_of, wait_for,
};
use common::{ADMIN, PASSWORD, TestApp, spawn_app_with_users};
use fantoccini::Locator;
use serde_json::{Value, json};
use std::time::Duration;

/// Generated users; big enough that a full sync takes several pages of 999.
const TENANT_USERS: usize = 3000;
/// The named users the admin looks for; the generated names never use these surnames.
const MEMBER: &str = "Zelda Quartermaine";
const DISABLED: &str = "Dora Offenbach";
const GUEST: &str = "Gus Visitorson";

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
    let guests = users
        .iter()
        .filter(|u| u["userType"] == "Guest" && u["deletedDateTime"].is_null())
        .count();
    assert!(guests > 1, "the generated tenant has guests");

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
    let next_run = text_of(&c, "#next-run").await;
    assert_ne!(
        next_run, "not scheduled",
        "scheduled sync is on: say what it waits for"
    );
    assert!(!exists(&c, "#sync-progress").await, "nothing running");
    shot(&c, "user-sync-01-idle").await;

    // 2. Preview: the plan lists every user, with what happens and why (guests too, skipped);
    // nothing changes.
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
            "{enabled_members} created, 0 updated, 0 disabled, 0 enabled, 0 removed, {} skipped",
            disabled_members + guests
        )
    );
    let plan = table_rows(&c, "#plan-table tr[data-action]").await;
    assert_eq!(
        plan.len(),
        enabled_members + disabled_members + guests,
        "one row per user"
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
    shot(&c, "user-sync-02-preview").await;
    // The Skip chip filters the table to the skipped users.
    click(&c, "#plan-filter [data-filter='skip']").await;
    let skipped = table_rows(&c, "#plan-table tr[data-action]").await;
    assert_eq!(skipped.len(), disabled_members + guests);
    assert!(skipped.iter().all(|r| r[0] == "skip"), "{skipped:?}");
    shot(&c, "user-sync-03-preview-skipped").await;

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
        // "Running full sync since …", or "Starting a full sync…" before the run has stored
        // itself: labelled from what was asked for, never guessed as "delta".
        let label = text_of(&c, "#sync-progress label").await;
        assert!(
            label.starts_with("Running full sync since ") || label == "Starting a full sync…",
            "{label}"
        );
        for button in ["#sync-now", "#sync-full", "#sync-preview"] {
            assert!(
                exists(&c, &format!("{button}[disabled]")).await,
                "{button} is disabled while the run goes"
            );
        }
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
        shot(&c, "user-sync-04-progress").await;
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
    shot(&c, "user-sync-05-synced").await;

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
    shot(&c, "user-sync-06-preview-guest").await;
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
    let status_cell = c
        .execute(
            "const td = document.querySelector('#extensions-table tr[data-number] td:last-child');
             const table = document.getElementById('extensions-table');
             return [getComputedStyle(td).display,
                     td.getBoundingClientRect().right <= table.parentElement.getBoundingClientRect().right + 1];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        status_cell,
        json!(["table-cell", true]),
        "the Status column is a whole table cell"
    );
    shot(&c, "user-sync-07-extensions").await;

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
    let count = text_of(&c, "#extension-count").await;
    assert!(count.contains(&format!("{matching} match")), "{count}");
    assert_eq!(
        count.contains(&format!("{matching} matches")),
        matching != 1,
        "singular and plural: {count}"
    );
    shot(&c, "user-sync-08-search").await;

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
    shot(&c, "user-sync-09-extension-synced").await;

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
    assert!(
        !exists(&c, "#excluded-note").await,
        "said once: the notice, not the note too"
    );
    assert!(
        exists(&c, "#edit-extension").await,
        "editable once excluded"
    );
    let create = text_of(&c, "#audit-trail li[data-action='create']").await;
    assert!(
        create.contains(&format!("Created by User sync, started by {ADMIN}")),
        "{create}"
    );
    assert!(
        create.contains(&format!("Display name: \"{MEMBER}\"")),
        "field labels, not keys: {create}"
    );
    assert!(
        create.contains(MEMBER),
        "the created values are listed: {create}"
    );
    assert_eq!(
        app.extension(&number).await.unwrap()["excluded"],
        true,
        "the API agrees"
    );
    shot(&c, "user-sync-10-extension-excluded").await;
    scroll_to(&c, "#audit").await;
    shot(&c, "user-sync-11-extension-history").await;
    c.goto(&format!("{}/extensions/{number}", app.url))
        .await
        .unwrap();
    wait_for(&c, "#excluded-note", 10).await;
    assert!(!exists(&c, "#notice").await);

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
    shot(&c, "user-sync-12-settings-saved").await;

    set_field(&c, "#poll-interval", "1").await;
    click(&c, "#save-user-sync").await;
    wait_for(&c, "#poll-interval-error", 10).await;
    let error = text_of(&c, "#poll-interval-error").await;
    assert_eq!(
        error, "Poll interval must be between 10 and 86400 seconds (you entered 1).",
        "the error says what is allowed, in the form's words"
    );
    let daily = c.find(Locator::Id("daily-full-sync")).await.unwrap();
    assert_eq!(daily.attr("type").await.unwrap().as_deref(), Some("text"));
    assert_eq!(daily.prop("value").await.unwrap().as_deref(), Some("02:00"));
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
    shot(&c, "user-sync-13-settings-invalid").await;

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
