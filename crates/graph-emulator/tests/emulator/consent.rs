//! Admin consent (graph-protocol.md §1.5).

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

const REDIRECT: &str = "http://127.0.0.1:5001/oauth2office2";
// Sent raw, must come back raw: percent-escapes, '+', '~' and '.' untouched.
const STATE_RAW: &str = "a%2Bb+c~d.%C3%A9_-%3D";

#[tokio::test]
async fn approve_grants_roles_and_redirects_with_tenant() {
    let emu = start().await;
    let app = emu.app(&["User.Read.All", "Contacts.Read"], false).await;
    let r = emu
        .get(&format!(
            "/{}/adminconsent?client_id={app}&redirect_uri=http%3A%2F%2F127.0.0.1%3A5001%2Foauth2office2&state={STATE_RAW}",
            emu.tenant
        ))
        .await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text);
    assert_eq!(
        r.header("location"),
        Some(
            format!(
                "{REDIRECT}?admin_consent=True&tenant={}&state={STATE_RAW}",
                emu.tenant
            )
            .as_str()
        )
    );
    let token = emu.access_token(&app).await;
    assert_eq!(
        jwt_claims(&token)["roles"],
        json!(["User.Read.All", "Contacts.Read"])
    );
}

#[tokio::test]
async fn v2_endpoint_requires_scope_and_reports_it() {
    let emu = start().await;
    let app = emu.app(&["User.Read.All"], false).await;
    let r = emu
        .get(&format!(
            "/organizations/v2.0/adminconsent?client_id={app}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&redirect_uri={REDIRECT}&state=xyz"
        ))
        .await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text);
    let location = r.header("location").unwrap_or_default();
    assert!(
        location.starts_with(&format!(
            "{REDIRECT}?admin_consent=True&tenant={}&state=xyz&scope=",
            emu.tenant
        )),
        "{location}"
    );
    assert!(location.contains("User.Read.All"), "{location}");
}

#[tokio::test]
async fn decline_redirects_with_access_denied_and_no_tenant() {
    let emu = start().await;
    let r = emu
        .post_json(
            "/_emulator/apps",
            json!({
                "redirectUris": [REDIRECT],
                "certificates": [ALICE.cert_pem],
                "roles": ["User.Read.All"],
                "consentResponse": "decline",
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let app = r.json()["appId"].as_str().expect("appId").to_owned();
    let r = emu
        .get(&format!(
            "/{}/adminconsent?client_id={app}&redirect_uri={REDIRECT}&state={STATE_RAW}",
            emu.emu.tenant_domain()
        ))
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        r.header("location"),
        Some(format!("{REDIRECT}?error=access_denied&error_description=AADSTS65004%3a+User+declined+to+consent+to+access+the+app.&admin_consent=True&state={STATE_RAW}").as_str())
    );
    // Still no service principal.
    let r = emu
        .token_with(&app, &Assertion::new(&emu, &app).sign(&ALICE))
        .await;
    assert_entra_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 7000229);
}

#[tokio::test]
async fn unregistered_redirect_uri_shows_50011_page() {
    let emu = start().await;
    let app = emu.app(&["User.Read.All"], false).await;
    let r = emu
        .get(&format!(
            "/{}/adminconsent?client_id={app}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&state=s",
            emu.tenant
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html")
    );
    assert!(r.text.contains("AADSTS50011"), "{}", r.text);
    assert!(
        r.text.contains("The redirect URI &#39;https://evil.example/cb&#39; specified in the request does not match the redirect URIs configured for the application"),
        "{}",
        r.text
    );
    // Additional path segments below a registered URI are allowed (E-cc).
    let r = emu
        .get(&format!(
            "/{}/adminconsent?client_id={app}&redirect_uri={REDIRECT}/done&state=s",
            emu.tenant
        ))
        .await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text);
}

#[tokio::test]
async fn unknown_app_shows_700016_page() {
    let emu = start().await;
    let r = emu
        .get(&format!(
            "/{}/adminconsent?client_id={}&redirect_uri={REDIRECT}&state=s",
            emu.tenant,
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("AADSTS700016"), "{}", r.text);
}
