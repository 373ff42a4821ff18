#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! Configure → connected against the emulated tenant, and every failure an admin can meet on the way.

mod common;

use common::{all_roles, captured_logs, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

#[tokio::test]
async fn keypair_upload_consent_token_connected() {
    let app = spawn_app().await;
    let s = app.settings().await;
    assert_eq!(s["status"], "not_configured");
    assert_eq!(s["redirect_url"], format!("{}/oauth2office2", app.url));

    let (_, s) = app.connect().await;
    assert_eq!(s["organization_name"], "Contoso");
    assert_eq!(s["tenant_id"], app.emulator.tenant_id());
    assert_eq!(s["missing_permissions"], json!([]));
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .starts_with("Connected to Contoso")
    );

    // The private key is on disk, 0600, and nowhere else.
    let keys: Vec<_> = std::fs::read_dir(app.data_dir.join("keys"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(keys.len(), 1);
    let mode = keys[0].metadata().unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "key file mode");
    let key = std::fs::read_to_string(keys[0].path()).unwrap();
    let key_body: String = key.lines().nth(2).unwrap().to_owned();
    assert!(key.contains("PRIVATE KEY"));
    for body in [s.to_string(), app.settings().await.to_string()] {
        assert!(!body.contains("PRIVATE KEY") && !body.contains(&key_body));
    }
    let logs = captured_logs();
    assert!(
        !logs.contains("PRIVATE KEY") && !logs.contains(&key_body),
        "private key in logs"
    );
    assert!(
        !logs.contains("eyJ"),
        "a JWT (assertion or access token) was logged"
    );

    // One token and one organization read made the connection.
    let stats = app.emulator_stats().await;
    assert_eq!(
        stats["routes"]["POST /{tenant}/oauth2/v2.0/token"]["200"], 1,
        "{stats}"
    );
    assert_eq!(
        stats["routes"]["GET /v1.0/organization"]["200"], 1,
        "{stats}"
    );
}

#[tokio::test]
async fn pem_download_is_the_certificate_only() {
    let app = spawn_app().await;
    let pem = app.generate_keypair().await;
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(!pem.contains("PRIVATE"));
    let s = app.settings().await;
    let cert = &s["certificate"];
    assert_eq!(cert["thumbprint_sha1"].as_str().unwrap().len(), 40);
    assert_eq!(cert["thumbprint_sha256"].as_str().unwrap().len(), 64);
    let days = cert["days_left"].as_i64().unwrap();
    assert!(
        (729..=730).contains(&days),
        "two years by default, got {days}"
    );
    assert_eq!(cert["expires_soon"], false);
}

#[tokio::test]
async fn ids_are_validated_with_a_clear_message() {
    let app = spawn_app().await;
    let r = app.put_ids("my-app", "contoso.onmicrosoft.com").await;
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("must be a GUID"),
        "{body}"
    );
    let r = app
        .put_ids(&uuid::Uuid::new_v4().to_string(), "common")
        .await;
    assert_eq!(r.status(), 422);
    let r = app
        .put_ids(&uuid::Uuid::new_v4().to_string(), "not a domain")
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        app.settings().await["client_id"],
        serde_json::Value::Null,
        "nothing saved"
    );
}

async fn configured(app: &common::TestApp) -> (String, String) {
    let client_id = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        app.put_ids(&client_id, app.emulator.tenant_domain())
            .await
            .status(),
        200
    );
    let pem = app.generate_keypair().await;
    (client_id, pem)
}

fn message(s: &serde_json::Value) -> String {
    s["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn certificate_not_uploaded_tells_where_to_upload_it() {
    let app = spawn_app().await;
    let (client_id, _pem) = configured(&app).await;
    app.register_app(&client_id, &[], &all_roles(), json!({}))
        .await;
    let s = app.sign_in().await;
    assert_eq!(s["status"], "error");
    assert!(
        message(&s).contains("upload it to the app registration under Certificates & secrets"),
        "{s}"
    );
    assert!(message(&s).contains("AADSTS700027"));
}

#[tokio::test]
async fn app_not_in_tenant_and_consent_missing_are_told_apart() {
    let app = spawn_app().await;
    let (client_id, pem) = configured(&app).await;
    let s = app.verify().await;
    assert_eq!(s["status"], "error");
    assert!(message(&s).contains("was not found in tenant"), "{s}");

    app.register_app(
        &client_id,
        &[&pem],
        &all_roles(),
        json!({"consentGranted": false}),
    )
    .await;
    let s = app.verify().await;
    assert_eq!(s["status"], "error");
    assert!(
        message(&s).contains("Admin consent has not been granted"),
        "{s}"
    );
}

#[tokio::test]
async fn clock_skew_is_diagnosed() {
    let app = spawn_app().await;
    // The emulated Microsoft is two hours ahead of this server.
    app.emulator_post("/_emulator/clock", json!({"advance_seconds": 7200}))
        .await;
    let (client_id, pem) = configured(&app).await;
    app.register_app(
        &client_id,
        &[&pem],
        &all_roles(),
        json!({"consentGranted": true}),
    )
    .await;
    let s = app.verify().await;
    assert_eq!(s["status"], "error");
    assert!(message(&s).contains("clock"), "{s}");
    assert!(message(&s).contains("AADSTS700024"), "{s}");
}

#[tokio::test]
async fn missing_permission_is_named() {
    let app = spawn_app().await;
    let (client_id, pem) = configured(&app).await;
    app.register_app(
        &client_id,
        &[&pem],
        &[
            "Calendars.Read",
            "Contacts.Read",
            "Directory.Read.All",
            "MailboxSettings.Read",
        ],
        json!({}),
    )
    .await;
    let s = app.sign_in().await;
    assert_eq!(s["status"], "error");
    assert!(
        message(&s).contains("missing the application permission User.Read.All"),
        "{s}"
    );
    assert_eq!(s["missing_permissions"], json!(["User.Read.All"]));
}

#[tokio::test]
async fn declined_consent_says_so() {
    let app = spawn_app().await;
    let (client_id, pem) = configured(&app).await;
    app.register_app(
        &client_id,
        &[&pem],
        &all_roles(),
        json!({"consentResponse": "decline"}),
    )
    .await;
    let s = app.sign_in().await;
    assert_eq!(s["status"], "error");
    assert!(message(&s).starts_with("Consent was declined"), "{s}");
}

#[tokio::test]
async fn unreachable_login_host_is_named() {
    // Port 9 on loopback: nothing listens there.
    let app = spawn_app_with(|c| c.login_url = "http://127.0.0.1:9".parse().unwrap()).await;
    let (_client_id, _pem) = configured(&app).await;
    let s = app.verify().await;
    assert_eq!(s["status"], "error");
    assert!(message(&s).starts_with("Cannot reach 127.0.0.1:9"), "{s}");
}

#[tokio::test]
async fn rotated_certificate_takes_over_once_uploaded() {
    let app = spawn_app().await;
    let (client_id, s) = app.connect().await;
    let old = s["certificate"]["thumbprint_sha1"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_pem = app.generate_keypair().await;
    let s = app.settings().await;
    assert_eq!(
        s["status"], "connected",
        "rotation does not break the connection"
    );
    let new = s["pending_certificate"]["thumbprint_sha1"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(old, new);

    let s = app.verify().await;
    assert_eq!(s["status"], "connected");
    assert_eq!(s["certificate"]["thumbprint_sha1"], old.as_str());
    assert!(message(&s).contains("is not accepted yet"), "{s}");

    let r = app
        .http
        .patch(format!(
            "{}/_emulator/apps/{client_id}",
            app.emulator.base_url()
        ))
        .json(&json!({"addCertificates": [new_pem]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let s = app.verify().await;
    assert_eq!(s["status"], "connected", "{s}");
    assert_eq!(s["certificate"]["thumbprint_sha1"], new.as_str());
    assert_eq!(s["pending_certificate"], serde_json::Value::Null);
    let keys = std::fs::read_dir(app.data_dir.join("keys"))
        .unwrap()
        .count();
    assert_eq!(keys, 1, "the old private key is removed");
}

#[tokio::test]
async fn ps256_assertions_connect_too() {
    let app = spawn_app().await;
    let client_id = uuid::Uuid::new_v4().to_string();
    let r = app
        .api(Method::PUT, "/api/v1/settings/office365")
        .json(&json!({"client_id": client_id, "tenant": app.emulator.tenant_id(), "algorithm": "PS256"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pem = app.generate_keypair().await;
    app.register_app(&client_id, &[&pem], &all_roles(), json!({}))
        .await;
    let s = app.sign_in().await;
    assert_eq!(s["status"], "connected", "{s}");
    assert_eq!(s["algorithm"], "PS256");
}

#[tokio::test]
async fn throttling_and_outages_are_retried_and_counted() {
    let app = spawn_app().await;
    let (client_id, pem) = configured(&app).await;
    app.register_app(
        &client_id,
        &[&pem],
        &all_roles(),
        json!({"consentGranted": true}),
    )
    .await;
    app.emulator_post("/_emulator/faults", json!({"path_prefix": "/v1.0/organization", "status": 429, "retry_after": "0.25", "count": 2})).await;
    app.emulator_post(
        "/_emulator/faults",
        json!({"path_prefix": "/v1.0/organization", "status": 503, "count": 2}),
    )
    .await;
    let s = app.verify().await;
    assert_eq!(s["status"], "connected", "{s}");
    let stats = app.emulator_stats().await;
    let org = &stats["routes"]["GET /v1.0/organization"];
    assert_eq!(org["429"], 2, "{stats}");
    assert_eq!(org["503"], 2, "{stats}");
    assert_eq!(org["200"], 1, "{stats}");
    let metrics = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("switchboard_graph_retries_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchboard_token_requests_total"),
        "{metrics}"
    );
}

#[tokio::test]
async fn api_needs_a_token_and_health_does_not() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/api/v1/settings/office365", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .http
        .get(format!("{}/api/v1/settings/office365", app.url))
        .bearer_auth("sb_wrong-token-wrong-token-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let spec: serde_json::Value = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.url))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        spec["paths"]["/api/v1/settings/office365"].is_object(),
        "{spec}"
    );
}
