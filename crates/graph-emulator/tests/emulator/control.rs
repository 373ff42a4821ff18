//! The `/_emulator` control API.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn tenant_is_seeded_and_configurable() {
    let a = start().await;
    let b = start().await;
    assert_eq!(a.tenant, b.tenant, "same seed, same tenant");
    let t = a.get("/_emulator/tenant").await.json();
    assert_eq!(
        t,
        json!({"id": a.tenant, "domain": "contoso.onmicrosoft.com", "displayName": "Contoso",
               "users": 0, "softDeletedUsers": 0, "groups": 0, "materialisedMailboxes": 0})
    );

    let custom = graph_emulator::RunningEmulator::start(graph_emulator::EmulatorConfig {
        tenant_id: Some("11111111-2222-3333-4444-555555555555".to_owned()),
        tenant_domain: "fabrikam.onmicrosoft.com".to_owned(),
        organization_name: "Fabrikam".to_owned(),
        ..Default::default()
    })
    .await
    .expect("start");
    assert_eq!(custom.tenant_id(), "11111111-2222-3333-4444-555555555555");
    assert_eq!(custom.tenant_domain(), "fabrikam.onmicrosoft.com");
    assert!(custom.base_url().starts_with("http://127.0.0.1:"));
    assert!(!custom.base_url().ends_with('/'));
    custom.shutdown().await;

    let bad = graph_emulator::RunningEmulator::start(graph_emulator::EmulatorConfig {
        tenant_id: Some("not-a-guid".to_owned()),
        ..Default::default()
    })
    .await;
    assert!(bad.is_err());
}

#[tokio::test]
async fn app_lifecycle_and_thumbprints() {
    let emu = start().await;
    let app_id = "4a1c7d5e-0000-4000-8000-00000000abcd";
    let r = emu
        .post_json(
            "/_emulator/apps",
            json!({"appId": app_id.to_uppercase(), "redirectUris": ["http://localhost/cb"],
                   "certificates": [ALICE.cert_pem], "roles": ["User.Read.All"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"appId": app_id, "tenantId": emu.tenant, "tenantDomain": "contoso.onmicrosoft.com"})
    );
    let again = emu
        .post_json("/_emulator/apps", json!({"appId": app_id}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let view = emu.get(&format!("/_emulator/apps/{app_id}")).await.json();
    assert_eq!(view["consentGranted"], false);
    assert_eq!(view["certificates"][0]["thumbprint"], ALICE.sha1_hex());

    let r = emu
        .send_json(
            Method::PATCH,
            &format!("/_emulator/apps/{app_id}"),
            json!({"addCertificates": [MALLORY.cert_pem], "consentGranted": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let view = r.json();
    assert_eq!(view["certificates"].as_array().map(Vec::len), Some(2));
    assert_eq!(view["grantedRoles"], json!(["User.Read.All"]));
    // Both certificates now work.
    let ok = emu
        .token_with(app_id, &Assertion::new(&emu, app_id).sign(&MALLORY))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);

    let r = emu
        .send_json(
            Method::PATCH,
            &format!("/_emulator/apps/{app_id}"),
            json!({"certificates": [MALLORY.cert_pem]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let gone = emu
        .token_with(app_id, &Assertion::new(&emu, app_id).sign(&ALICE))
        .await;
    assert_entra_error(&gone, StatusCode::UNAUTHORIZED, "invalid_client", 700027);

    let r = emu
        .http
        .delete(emu.url(&format!("/_emulator/apps/{app_id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        emu.get(&format!("/_emulator/apps/{app_id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_bodies_get_clear_400s() {
    let emu = start().await;
    let cases = [
        (json!({"certificates": [ALICE.key_pem]}), "private key"),
        (json!({"certificates": ["hello"]}), "certificates[0]"),
        (
            json!({"certificates": ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]}),
            "certificates[0]",
        ),
        (json!({"appId": "nope"}), "not a GUID"),
        (json!({"redirectUris": ["/relative"]}), "redirectUris[0]"),
        (json!({"consent_granted": true}), "unknown field"),
        (json!({"consentResponse": "maybe"}), "unknown variant"),
        (json!({"roles": [""]}), "roles[0]"),
    ];
    for (body, needle) in cases {
        let r = emu.post_json("/_emulator/apps", body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        let message = r.json()["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains(needle), "{body}: {message}");
    }
    let r = emu
        .http
        .post(emu.url("/_emulator/apps"))
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = emu
        .send_json(
            Method::PATCH,
            &format!("/_emulator/apps/{}", uuid::Uuid::new_v4()),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = emu
        .post_json("/_emulator/faults", json!({"status": 429}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn clock_can_be_advanced_set_and_reset() {
    let emu = start().await;
    let r = emu
        .post_json("/_emulator/clock", json!({"now": "2030-01-02T03:04:05Z"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.json()["now"]
            .as_str()
            .unwrap_or_default()
            .starts_with("2030-01-02T03:04")
    );
    emu.advance_clock(86_400).await;
    let now = emu.get("/_emulator/clock").await.json();
    assert!(
        now["now"]
            .as_str()
            .unwrap_or_default()
            .starts_with("2030-01-03T03:04"),
        "{now}"
    );
    let r = emu
        .post_json("/_emulator/clock", json!({"reset": true}))
        .await;
    assert_eq!(r.json()["offset_seconds"], 0);
    let r = emu
        .post_json("/_emulator/clock", json!({"now": "yesterday"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = emu
        .post_json(
            "/_emulator/clock",
            json!({"advance_seconds": 1, "reset": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
