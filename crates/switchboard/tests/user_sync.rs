#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! User sync against the emulated tenant: what an admin sees on the extensions list after each
//! change in Microsoft 365, on SQLite and (with SWITCHBOARD_TEST_POSTGRES) PostgreSQL.

mod common;

use common::{TestApp, spawn_app, spawn_app_with_users};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

fn member(name: &str) -> Value {
    let first = name.split(' ').next().unwrap();
    let upn = format!(
        "{}@contoso.onmicrosoft.com",
        name.to_lowercase().replace(' ', ".")
    );
    json!({
        "displayName": name,
        "givenName": first,
        "surname": name.split(' ').nth(1).unwrap_or(""),
        "userPrincipalName": upn,
        "mail": upn,
        "accountEnabled": true,
        "userType": "Member",
        "businessPhones": ["+1 425 555 0100"],
        "jobTitle": "Engineer",
        "department": "Engineering",
    })
}

async fn connected() -> TestApp {
    let app = spawn_app().await;
    app.connect().await;
    app
}

fn by_user<'a>(exts: &'a [Value], id: &str) -> Option<&'a Value> {
    exts.iter().find(|e| e["graph_user_id"] == id)
}

#[tokio::test]
async fn users_become_extensions_and_follow_every_change() {
    let app = connected().await;
    let ada = app.add_user(member("Ada Lovelace")).await;
    let mut guest = member("Bob Guest");
    guest["userType"] = json!("Guest");
    guest["userPrincipalName"] = json!("bob_fabrikam.com#EXT#@contoso.onmicrosoft.com");
    app.add_user(guest).await;
    let mut disabled = member("Carol Off");
    disabled["accountEnabled"] = json!(false);
    app.add_user(disabled).await;
    app.put_user_sync(json!({"include_guests": false})).await;

    // Preview: the plan with reasons, nothing changed.
    let preview = app.sync("dry_run=true").await;
    let plan = preview["plan"].as_array().unwrap();
    assert!(
        plan.iter()
            .any(|a| a["action"] == "create" && a["user_id"] == ada.as_str()),
        "{preview}"
    );
    assert!(
        plan.iter()
            .any(|a| a["action"] == "skip" && a["reason"]["kind"] == "disabled_member"),
        "{preview}"
    );
    assert!(
        app.extensions().await.is_empty(),
        "a dry run changes nothing"
    );

    let run = app.sync("").await;
    assert_eq!(run["run"]["mode"], "full");
    let exts = app.extensions().await;
    assert_eq!(
        exts.len(),
        1,
        "guest and disabled member are skipped: {exts:?}"
    );
    let e = by_user(&exts, &ada).unwrap();
    assert_eq!(e["number"], "100");
    assert_eq!(e["display_name"], "Ada Lovelace");
    assert_eq!(e["email"], "ada.lovelace@contoso.onmicrosoft.com");
    assert_eq!(e["business_phone"], "+1 425 555 0100");
    assert_eq!(e["mobile"], "", "missing values are empty, never null");
    assert_eq!(e["origin"], "azure_ad");
    assert_eq!(e["groups"], json!(["Azure AD"]));

    // Renamed, new UPN: same number, through an incremental run.
    app.patch_user(&ada, json!({"displayName": "Ada King", "userPrincipalName": "ada.king@contoso.onmicrosoft.com", "mail": "ada.king@contoso.onmicrosoft.com"})).await;
    let run = app.sync("").await;
    assert_eq!(run["run"]["mode"], "delta");
    assert_eq!(run["run"]["counts"]["updated"], 1, "{run}");
    let e = app.extension("100").await.unwrap();
    assert_eq!(e["display_name"], "Ada King");
    assert_eq!(e["upn"], "ada.king@contoso.onmicrosoft.com");

    // Disabled account → disabled extension; enabled again → enabled.
    app.patch_user(&ada, json!({"accountEnabled": false})).await;
    app.sync("").await;
    assert_eq!(app.extension("100").await.unwrap()["enabled"], false);
    app.patch_user(&ada, json!({"accountEnabled": true})).await;
    app.sync("").await;
    assert_eq!(app.extension("100").await.unwrap()["enabled"], true);

    // Soft delete → disabled (default policy); restored → back, same number.
    app.delete_user(&ada, false).await;
    app.sync("").await;
    assert_eq!(app.extension("100").await.unwrap()["enabled"], false);
    app.restore_user(&ada).await;
    app.sync("").await;
    let e = app.extension("100").await.unwrap();
    assert_eq!(
        (e["enabled"].clone(), e["graph_user_id"].clone()),
        (json!(true), json!(ada))
    );

    // Policy delete: a permanently deleted user loses the extension, and the change is audited.
    app.put_user_sync(json!({"removal": "delete"})).await;
    app.delete_user(&ada, true).await;
    app.sync("").await;
    assert!(app.extension("100").await.is_none());
    let audit: Vec<Value> = app
        .api(reqwest::Method::GET, "/api/v1/extensions/100/audit")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().filter_map(|a| a["action"].as_str()).collect();
    for expected in ["create", "update", "disable", "enable", "delete"] {
        assert!(
            actions.contains(&expected),
            "audit lacks {expected}: {actions:?}"
        );
    }
}

#[tokio::test]
async fn adoption_conflicts_exclusion_and_local_edits() {
    let app = connected().await;
    // An existing desk phone with Eve's address is adopted, not duplicated.
    let r = app
        .api(reqwest::Method::POST, "/api/v1/extensions")
        .json(&json!({"number": "200", "display_name": "Eve (desk)", "email": "Eve.Adams@contoso.onmicrosoft.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let eve = app.add_user(member("Eve Adams")).await;
    // Frank asks for 200 through his employee id: reported, never renumbered.
    let mut frank = member("Frank Moss");
    frank["employeeId"] = json!("200");
    app.add_user(frank).await;
    app.put_user_sync(json!({"numbering": {"rule": "from_attribute", "source": "employee_id"}}))
        .await;
    let run = app.sync("").await;
    assert_eq!(run["run"]["counts"]["skipped"], 1, "{run}");
    let preview = app.sync("dry_run=true&full=true").await;
    let conflict = preview["plan"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "skip")
        .cloned()
        .unwrap();
    assert_eq!(
        conflict["reason"],
        json!({"kind": "number_conflict", "number": "200"})
    );
    let e = app.extension("200").await.unwrap();
    assert_eq!(
        (e["origin"].clone(), e["graph_user_id"].clone()),
        (json!("azure_ad"), json!(eve))
    );
    assert_eq!(e["display_name"], "Eve Adams");
    assert_eq!(app.extensions().await.len(), 1);

    // A local edit of a synced field is reverted by the next full sync, with a warning up front.
    let r = app
        .api(reqwest::Method::PATCH, "/api/v1/extensions/200")
        .json(&json!({"display_name": "Evie"}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert!(
        body["warning"].as_str().unwrap().contains("reverts"),
        "{body}"
    );
    let run = app.sync("").await;
    assert_eq!(
        run["run"]["mode"], "delta",
        "the next run, not only the daily full sync"
    );
    assert_eq!(
        app.extension("200").await.unwrap()["display_name"],
        "Eve Adams"
    );
    let run = app.sync("").await;
    assert_eq!(
        run["run"]["counts"]["updated"], 0,
        "once reverted, nothing is left to do: {run}"
    );

    // A deleted synced extension comes back with its number, at the next run of any kind.
    app.api(reqwest::Method::DELETE, "/api/v1/extensions/200")
        .send()
        .await
        .unwrap();
    assert!(app.extension("200").await.is_none());
    let run = app.sync("").await;
    assert_eq!(run["run"]["mode"], "delta");
    assert_eq!(
        app.extension("200").await.unwrap()["graph_user_id"],
        json!(eve)
    );

    // Excluded: the sync leaves it alone.
    let r = app
        .api(reqwest::Method::PUT, "/api/v1/extensions/200/excluded")
        .json(&json!({"excluded": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.patch_user(&eve, json!({"displayName": "Eve Renamed"}))
        .await;
    app.sync("full=true").await;
    assert_eq!(
        app.extension("200").await.unwrap()["display_name"],
        "Eve Adams"
    );
}

#[tokio::test]
async fn scope_changes_follow_the_removal_policy() {
    let app = connected().await;
    let a = app.add_user(member("Anna One")).await;
    let b = app.add_user(member("Ben Two")).await;
    app.sync("").await;
    assert_eq!(app.extensions().await.len(), 2);
    app.put_user_sync(json!({"scope": {"mode": "only", "ids": [a]}}))
        .await;
    app.sync("full=true").await;
    let exts = app.extensions().await;
    assert_eq!(by_user(&exts, &a).unwrap()["enabled"], true);
    assert_eq!(
        by_user(&exts, &b).unwrap()["enabled"],
        false,
        "left scope → disabled"
    );
    let r = app
        .api(reqwest::Method::PUT, "/api/v1/settings/user-sync")
        .json(&json!({"scope": {"mode": "only", "ids": []}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        422,
        "an empty 'only' scope would remove everyone"
    );
}

fn expected_members(tenant: &[Value]) -> HashSet<String> {
    tenant
        .iter()
        .filter(|u| {
            u["userType"] == "Member"
                && u["accountEnabled"] == true
                && u["deletedDateTime"].is_null()
        })
        .filter_map(|u| u["id"].as_str().map(str::to_owned))
        .collect()
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

fn synced_ids(exts: &[Value]) -> HashSet<String> {
    exts.iter()
        .filter_map(|e| e["graph_user_id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_full_sync_takes_the_fewest_requests_and_survives_throttling() {
    let app = spawn_app_with_users(2500).await;
    app.connect().await;
    let expected = expected_members(&tenant(&app).await);
    app.emulator_post("/_emulator/faults", json!({"path_prefix": "/v1.0/users", "method": "GET", "status": 429, "retry_after": "0.2", "count": 2})).await;
    app.emulator_post(
        "/_emulator/faults",
        json!({"path_prefix": "/v1.0/users", "method": "GET", "status": 503, "count": 1}),
    )
    .await;
    app.http
        .delete(app.emulator_url("/_emulator/stats"))
        .send()
        .await
        .unwrap();
    app.sync("").await;
    let exts = app.extensions().await;
    assert_eq!(synced_ids(&exts), expected);
    let numbers: HashSet<&str> = exts.iter().filter_map(|e| e["number"].as_str()).collect();
    assert_eq!(numbers.len(), exts.len(), "numbers are unique");

    let stats = app.emulator_stats().await;
    let pages = stats["routes"]["GET /v1.0/users"]["200"].as_u64().unwrap();
    let members_and_disabled = tenant(&app)
        .await
        .iter()
        .filter(|u| u["userType"] == "Member")
        .count() as u64;
    assert_eq!(
        pages,
        members_and_disabled.div_ceil(999),
        "one request per 999 users: {stats}"
    );
    assert_eq!(
        stats["routes"]["GET /v1.0/users/delta"]["200"], 1,
        "one request for the delta token: {stats}"
    );
}

#[tokio::test]
async fn an_interrupted_sync_is_finished_by_the_next_run() {
    let app = spawn_app_with_users(2500).await;
    app.connect().await;
    let expected = expected_members(&tenant(&app).await);
    // Slow pages, then the process "dies" (the run is dropped) in the middle of the listing.
    app.emulator_post(
        "/_emulator/faults",
        json!({"path_prefix": "/v1.0/users", "status": 0, "latency_ms": 2500, "count": 4}),
    )
    .await;
    let sync = app.services.user_sync.clone();
    let interrupted = tokio::time::timeout(
        Duration::from_millis(6500),
        sync.run(switchboard_core::users::RunRequest {
            full: true,
            dry_run: false,
            actor: "test".into(),
        }),
    )
    .await;
    assert!(interrupted.is_err(), "the run was cut off");
    let partial = synced_ids(&app.extensions().await);
    assert!(
        partial.len() < expected.len(),
        "cut off before the end ({} of {})",
        partial.len(),
        expected.len()
    );
    assert!(partial.is_subset(&expected));
    app.http
        .delete(app.emulator_url("/_emulator/faults"))
        .send()
        .await
        .unwrap();
    app.sync("").await;
    let exts = app.extensions().await;
    assert_eq!(synced_ids(&exts), expected, "no loss");
    assert_eq!(exts.len(), expected.len(), "no duplicates");
}

#[tokio::test]
async fn an_expired_delta_token_falls_back_to_a_full_sync() {
    let app = connected().await;
    let a = app.add_user(member("Dora Delta")).await;
    app.sync("").await;
    app.emulator_post("/_emulator/delta/expire", json!({"mode": "gone"}))
        .await;
    app.patch_user(&a, json!({"displayName": "Dora Renamed"}))
        .await;
    let run = app.sync("").await;
    assert_eq!(run["run"]["mode"], "full", "{run}");
    assert_eq!(
        by_user(&app.extensions().await, &a).unwrap()["display_name"],
        "Dora Renamed"
    );
    // The new token works again.
    app.emulator_post(
        "/_emulator/delta/expire",
        json!({"mode": "syncStateNotFound"}),
    )
    .await;
    app.patch_user(&a, json!({"displayName": "Dora Again"}))
        .await;
    assert_eq!(app.sync("").await["run"]["mode"], "full");
    app.patch_user(&a, json!({"displayName": "Dora Thrice"}))
        .await;
    assert_eq!(app.sync("").await["run"]["mode"], "delta");
    assert_eq!(
        by_user(&app.extensions().await, &a).unwrap()["display_name"],
        "Dora Thrice"
    );
}

#[tokio::test]
async fn polling_picks_up_a_change_within_the_interval() {
    let app = connected().await;
    let a = app.add_user(member("Paula Poll")).await;
    app.put_user_sync(json!({"poll_interval_secs": 10})).await;
    let schedule = tokio::spawn(switchboard::scheduler::run_schedule(
        app.services.user_sync.clone(),
        app.services.clock.clone(),
        app.services.leadership.clone(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    while by_user(&app.extensions().await, &a).is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first scheduled run did not come"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.patch_user(&a, json!({"jobTitle": "Head of Polling"}))
        .await;
    let changed = tokio::time::Instant::now();
    loop {
        if by_user(&app.extensions().await, &a).unwrap()["job_title"] == "Head of Polling" {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(14),
            "not picked up within the 10 s interval"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    schedule.abort();
}

#[tokio::test]
async fn department_groups_follow_the_switch_and_the_user() {
    let app = connected().await;
    let a = app.add_user(member("Dan Dept")).await;
    app.sync("").await;
    let groups = |e: &Value| e["groups"].clone();
    assert_eq!(
        groups(by_user(&app.extensions().await, &a).unwrap()),
        json!(["Azure AD"])
    );

    // Switched on: every synced extension joins its department's group at once.
    app.put_user_sync(json!({"department_groups": true})).await;
    assert_eq!(
        groups(by_user(&app.extensions().await, &a).unwrap()),
        json!(["Azure AD", "Department: Engineering"])
    );
    // The user moves: so does the membership.
    app.patch_user(&a, json!({"department": "Sales"})).await;
    app.sync("").await;
    assert_eq!(
        groups(by_user(&app.extensions().await, &a).unwrap()),
        json!(["Azure AD", "Department: Sales"])
    );
    let r: Vec<Value> = app
        .api(
            reqwest::Method::GET,
            "/api/v1/extensions?group=Department%3A%20Sales",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r.len(), 1);
    // Switched off: the department groups go, "Azure AD" stays.
    app.put_user_sync(json!({"department_groups": false})).await;
    assert_eq!(
        groups(by_user(&app.extensions().await, &a).unwrap()),
        json!(["Azure AD"])
    );
}
