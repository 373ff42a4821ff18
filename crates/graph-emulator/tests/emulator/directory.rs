//! The tenant generator and the `/_emulator/users` control API.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use graph_emulator::{EmulatorConfig, RunningEmulator};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

/// The whole tenant through the control API.
async fn control_users(emu: &Emu) -> Vec<Value> {
    let mut out = Vec::new();
    let mut url = emu.url("/_emulator/users?limit=700");
    loop {
        let r = emu.http.get(&url).send().await.expect("GET");
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.expect("JSON");
        out.extend(body["value"].as_array().cloned().unwrap_or_default());
        match body["nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => return out,
        }
    }
}

#[tokio::test]
async fn same_seed_same_tenant() {
    let a = start_users(1200).await;
    let b = start_users(1200).await;
    let other = start_config(EmulatorConfig {
        seed: 8,
        users: 1200,
        ..EmulatorConfig::default()
    })
    .await;
    let (ua, ub, uo) = (
        control_users(&a).await,
        control_users(&b).await,
        control_users(&other).await,
    );
    assert_eq!(ua.len(), 1200);
    assert_eq!(
        serde_json::to_string(&ua).ok(),
        serde_json::to_string(&ub).ok(),
        "same seed, identical JSON"
    );
    assert_ne!(ua, uo);
    // Graph answers match too (links aside, which name each emulator's port).
    let (ta, tb) = (a.reader().await, b.reader().await);
    let pa = items(
        &a.walk(
            "/v1.0/users?$top=999&$select=id,displayName,businessPhones,mobilePhone,userType",
            &ta,
            &[],
        )
        .await,
    );
    let pb = items(
        &b.walk(
            "/v1.0/users?$top=999&$select=id,displayName,businessPhones,mobilePhone,userType",
            &tb,
            &[],
        )
        .await,
    );
    assert_eq!(pa, pb);
    let ga = a.get_with("/v1.0/groups", Some(&ta), &[]).await.json();
    let gb = b.get_with("/v1.0/groups", Some(&tb), &[]).await.json();
    assert_eq!(ga["value"], gb["value"]);
}

#[tokio::test]
async fn generated_tenant_looks_real() {
    let emu = start_users(3000).await;
    let users = control_users(&emu).await;
    assert_eq!(users.len(), 3000);
    let n = users.len() as f64;
    let share = |pred: &dyn Fn(&Value) -> bool| users.iter().filter(|u| pred(u)).count() as f64 / n;

    let guests = share(&|u| u["userType"] == "Guest");
    assert!((0.015..0.05).contains(&guests), "guests {guests}");
    let disabled = share(&|u| u["accountEnabled"] == false);
    assert!((0.02..0.07).contains(&disabled), "disabled {disabled}");
    let no_mail = share(&|u| u["mail"].is_null());
    assert!(no_mail > 0.01 && no_mail < 0.1, "no mail {no_mail}");
    let with_phone = share(&|u| u["businessPhones"].as_array().is_some_and(|p| p.len() == 1));
    assert!(with_phone > 0.6, "business phones {with_phone}");
    assert!(
        users
            .iter()
            .all(|u| u["businessPhones"].as_array().is_some_and(|p| p.len() <= 1))
    );
    assert!(share(&|u| u["mobilePhone"].is_string()) > 0.4);
    assert!(share(&|u| u["employeeId"].is_string()) > 0.3);

    let upns: HashSet<&str> = users
        .iter()
        .filter_map(|u| u["userPrincipalName"].as_str())
        .collect();
    assert_eq!(upns.len(), 3000, "UPNs are unique");
    for u in &users {
        let upn = u["userPrincipalName"].as_str().expect("upn");
        assert!(upn.ends_with("@contoso.onmicrosoft.com"), "{upn}");
        if u["userType"] == "Guest" {
            assert!(upn.contains("#EXT#@"), "{upn}");
            let local = upn.split("_").next().unwrap_or_default();
            assert_eq!(
                u["mail"].as_str().and_then(|m| m.split('@').next()),
                Some(local)
            );
        } else {
            assert!(!upn.contains('#'));
            assert!(u["mail"].is_null() || u["mail"] == upn, "{u}");
            assert!(u["department"].is_string());
            assert!(u["jobTitle"].is_string());
            assert!(u["officeLocation"].is_string());
        }
        assert!(u["givenName"].is_string() && u["surname"].is_string());
    }

    let departments: HashSet<&str> = users
        .iter()
        .filter_map(|u| u["department"].as_str())
        .collect();
    for d in [
        "Sales",
        "Support",
        "Engineering",
        "Finance",
        "HR",
        "Marketing",
        "Operations",
    ] {
        assert!(departments.contains(d), "{departments:?}");
    }
    let countries: HashSet<&str> = users
        .iter()
        .filter_map(|u| u["usageLocation"].as_str())
        .collect();
    for c in ["US", "GB", "DE", "FR"] {
        assert!(countries.contains(c), "{countries:?}");
    }
    // Phone numbers come in many spellings.
    let phones: Vec<&str> = users
        .iter()
        .flat_map(|u| {
            u["businessPhones"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(std::iter::once(&u["mobilePhone"]))
        })
        .filter_map(Value::as_str)
        .collect();
    let mut styles: HashMap<&str, usize> = HashMap::new();
    for p in &phones {
        let style = if p.starts_with("+1 ")
            || p.starts_with("+1(")
            || p.starts_with("+1") && !p.starts_with("+1 (")
        {
            "us-intl"
        } else if p.starts_with('(') {
            "paren"
        } else if p.starts_with("+44") {
            "uk-intl"
        } else if p.starts_with("+49") {
            "de-intl"
        } else if p.starts_with("+33") {
            "fr-intl"
        } else if p.starts_with('0') {
            "national"
        } else {
            "other"
        };
        *styles.entry(style).or_default() += 1;
    }
    for s in [
        "us-intl", "paren", "uk-intl", "de-intl", "fr-intl", "national",
    ] {
        assert!(styles.get(s).is_some_and(|n| *n > 5), "{styles:?}");
    }
    assert!(phones.iter().any(|p| p.contains(" x")), "an extension");
    assert!(
        phones
            .iter()
            .any(|p| p.contains('-') && p.starts_with("030")),
        "DE with a direct-dial suffix"
    );
    // Names with accents and apostrophes appear.
    assert!(
        users
            .iter()
            .any(|u| u["displayName"].as_str().is_some_and(|d| !d.is_ascii()))
    );
    let tenant = emu.get("/_emulator/tenant").await.json();
    assert_eq!(tenant["users"], 3000);
    assert!(tenant["groups"].as_u64().is_some_and(|g| g >= 13));
}

#[tokio::test]
async fn control_api_validates_and_round_trips() {
    let emu = start().await;
    let r = emu
        .post_json(
            "/_emulator/users",
            json!({
                "id": "11111111-2222-4333-8444-555555555555",
                "displayName": "Jürgen O'Brien",
                "givenName": "Jürgen",
                "surname": "O'Brien",
                "userPrincipalName": "juergen.obrien@contoso.onmicrosoft.com",
                "mail": "juergen.obrien@contoso.onmicrosoft.com",
                "businessPhones": ["+49 30 12345678"],
                "mobilePhone": "0151 23456789",
                "accountEnabled": false,
                "onPremisesExtensionAttributes": {"extensionAttribute3": "CC-42"},
                "passwordProfile": {"password": "ignored"},
                "createdDateTime": "2020-02-03T04:05:06Z",
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let user = r.json();
    assert_eq!(user["id"], "11111111-2222-4333-8444-555555555555");
    assert_eq!(user["userType"], "Member");
    assert_eq!(user["mailNickname"], "juergen.obrien");
    assert_eq!(user["createdDateTime"], "2020-02-03T04:05:06Z");
    assert_eq!(user["softDeleted"], false);
    assert_eq!(user["deletedDateTime"], Value::Null);
    assert_eq!(
        user["onPremisesExtensionAttributes"]["extensionAttribute3"],
        "CC-42"
    );
    assert_eq!(
        user["onPremisesExtensionAttributes"]["extensionAttribute1"],
        Value::Null
    );

    // Defaults for a minimal body.
    let r = emu
        .post_json("/_emulator/users", json!({"displayName": "Zoë Ünal"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        r.json()["userPrincipalName"],
        "zoe.unal@contoso.onmicrosoft.com"
    );
    assert_eq!(r.json()["accountEnabled"], true);

    for (body, fragment) in [
        (
            json!({"displayName": "X", "DisplayName": "Y"}),
            "did you mean 'displayName'",
        ),
        (
            json!({"displayName": "X", "frobnicate": 1}),
            "unknown property 'frobnicate'",
        ),
        (
            json!({"displayName": "X", "businessPhones": ["1", "2"]}),
            "only one number",
        ),
        (
            json!({"displayName": "X", "userPrincipalName": "no at sign"}),
            "alias@domain",
        ),
        (json!({"displayName": "X", "userType": "Robot"}), "userType"),
        (
            json!({"displayName": "X", "mobilePhone": 5}),
            "mobilePhone: expected a string",
        ),
        (
            json!({"displayName": "X", "jobTitle": ""}),
            "send null to clear",
        ),
        (
            json!({"displayName": "X", "assignedLicenses": []}),
            "not modelled",
        ),
        (
            json!({"displayName": "X", "accountEnabled": "yes"}),
            "accountEnabled",
        ),
        (json!({"displayName": "X", "id": "nope"}), "not a GUID"),
        (json!({"givenName": null}), "displayName is required"),
        (json!([1]), "JSON object"),
    ] {
        let r = emu.post_json("/_emulator/users", body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert!(
            r.json()["message"]
                .as_str()
                .is_some_and(|m| m.contains(fragment)),
            "{body}: {}",
            r.text
        );
    }
    let r = emu.post_json("/_emulator/users", json!({"displayName": "Dup", "userPrincipalName": "JUERGEN.OBRIEN@contoso.onmicrosoft.com"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);

    // PATCH by UPN; the sequence moves only on a real change (checked via delta elsewhere).
    let r = emu
        .patch_json(
            "/_emulator/users/juergen.obrien@contoso.onmicrosoft.com",
            json!({"mobilePhone": null, "department": "HR"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["mobilePhone"], Value::Null);
    assert_eq!(r.json()["department"], "HR");
    let r = emu
        .patch_json(
            "/_emulator/users/11111111-2222-4333-8444-555555555555",
            json!({"createdDateTime": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Soft delete, the flag, restore, purge.
    let id = "11111111-2222-4333-8444-555555555555";
    assert_eq!(
        emu.delete(&format!("/_emulator/users/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let shown = emu.get(&format!("/_emulator/users/{id}")).await.json();
    assert_eq!(shown["softDeleted"], true);
    assert!(shown["deletedDateTime"].is_string());
    let r = emu
        .patch_json(
            &format!("/_emulator/users/{id}"),
            json!({"department": "IT"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        emu.delete(&format!("/_emulator/users/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let tenant = emu.get("/_emulator/tenant").await.json();
    assert_eq!(
        (tenant["users"].clone(), tenant["softDeletedUsers"].clone()),
        (json!(1), json!(1))
    );
    let r = emu
        .post_json(&format!("/_emulator/users/{id}/restore"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["softDeleted"], false);
    let r = emu
        .post_json(&format!("/_emulator/users/{id}/restore"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        emu.delete(&format!("/_emulator/users/{id}?permanent=true"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        emu.get(&format!("/_emulator/users/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        emu.delete(&format!("/_emulator/users/{id}?permanent=yes"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let r = emu.get("/_emulator/users?limit=0").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn control_listing_pages_and_flags_soft_deleted() {
    let emu = start_users(1500).await;
    let first = emu.get("/_emulator/users").await.json();
    assert_eq!(first["total"], 1500);
    assert_eq!(first["value"].as_array().map(Vec::len), Some(1000));
    let next = first["nextLink"].as_str().expect("nextLink").to_owned();
    assert!(next.starts_with(&emu.base));
    let id = first["value"][7]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        emu.delete(&format!("/_emulator/users/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let all = control_users(&emu).await;
    assert_eq!(all.len(), 1500);
    let flagged: Vec<&Value> = all.iter().filter(|u| u["softDeleted"] == true).collect();
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0]["id"], id);
}

/// Seeding and serving at scale. Prints the figures (no timing assertion; build with
/// `--release` for representative numbers).
#[tokio::test]
async fn hundred_thousand_users() {
    let started = Instant::now();
    let emu = RunningEmulator::start(EmulatorConfig {
        users: 100_000,
        seed: 42,
        ..EmulatorConfig::default()
    })
    .await
    .expect("start");
    let seeding = started.elapsed();
    let stats = emu.state().directory_stats();
    assert_eq!(stats.users, 100_000);
    let emu = wrap(emu);
    let token = emu.reader().await;
    // Warm up, then time a few full pages.
    let path =
        "/v1.0/users?$top=999&$filter=accountEnabled%20eq%20true%20and%20userType%20eq%20'Member'";
    let r = emu.get_with(path, Some(&token), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let mut url = emu.url(path);
    let mut fastest = f64::MAX;
    let mut total = 0.0;
    for _ in 0..10 {
        let t = Instant::now();
        let r = emu.follow(&url, &token, &[]).await;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(r.status, StatusCode::OK);
        let body = r.json();
        assert_eq!(body["value"].as_array().map(Vec::len), Some(999));
        fastest = fastest.min(ms);
        total += ms;
        url = body["@odata.nextLink"].as_str().expect("next").to_owned();
    }
    let t = Instant::now();
    let r = emu
        .get_with(
            "/v1.0/users/delta?$select=id,displayName,accountEnabled",
            Some(&token),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let delta_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "100k users: seeded in {:.0} ms, ~{} MiB directory; 999-user page over HTTP: best {fastest:.1} ms, mean {:.1} ms; first delta page {delta_ms:.1} ms ({} build)",
        seeding.as_secs_f64() * 1000.0,
        stats.approx_heap_bytes / (1024 * 1024),
        total / 10.0,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
}

fn wrap(emu: RunningEmulator) -> Emu {
    Emu {
        base: emu.base_url(),
        tenant: emu.tenant_id().to_owned(),
        emu,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
    }
}
