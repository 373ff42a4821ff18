#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! The admin's Configure walk in a real browser (headless Chromium via chromedriver):
//! log in, enter the ids, generate and download public_key.pem, sign in, see Connected.
//! Screenshots are kept under target/screenshots/.

mod common;

use common::browser::{browser, click_and_wait_for_navigation, shot, text_of};
use common::{ADMIN, PASSWORD, all_roles, spawn_app};
use fantoccini::Locator;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn admin_configures_office365_in_the_browser() {
    let app = spawn_app().await;
    let (_driver, c) = browser().await;

    c.goto(&format!("{}/settings/office365", app.url))
        .await
        .expect("goto");
    assert!(
        c.current_url().await.unwrap().path().starts_with("/login"),
        "login first"
    );
    shot(&c, "01-login").await;
    c.find(Locator::Id("login-username"))
        .await
        .unwrap()
        .send_keys(ADMIN)
        .await
        .unwrap();
    c.find(Locator::Id("login-password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Id("login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("status-badge"))
        .await
        .expect("back on the Configure page");
    assert_eq!(c.current_url().await.unwrap().path(), "/settings/office365");
    assert_eq!(text_of(&c, "#status-badge").await.trim(), "not_configured");
    let redirect = c
        .find(Locator::Id("redirect-url"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        redirect.as_deref(),
        Some(format!("{}/oauth2office2", app.url).as_str())
    );

    // A typo is caught on the page.
    c.find(Locator::Id("client-id"))
        .await
        .unwrap()
        .send_keys("not-a-guid")
        .await
        .unwrap();
    c.find(Locator::Id("tenant"))
        .await
        .unwrap()
        .send_keys(app.emulator.tenant_domain())
        .await
        .unwrap();
    click_and_wait_for_navigation(&c, "#save-ids").await;
    c.wait()
        .for_element(Locator::Id("status-badge"))
        .await
        .unwrap();
    let source = c.source().await.unwrap();
    assert!(
        source.contains("must be a GUID"),
        "validation message shown"
    );
    shot(&c, "02-invalid-client-id").await;

    let client_id = uuid::Uuid::new_v4().to_string();
    let field = c.find(Locator::Id("client-id")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(&client_id).await.unwrap();
    click_and_wait_for_navigation(&c, "#save-ids").await;
    c.wait()
        .for_element(Locator::Id("generate-keypair"))
        .await
        .unwrap();
    click_and_wait_for_navigation(&c, "#generate-keypair").await;
    c.wait()
        .for_element(Locator::Id("download-cert"))
        .await
        .expect("download link after generating");
    let sha1 = text_of(&c, "#thumbprint-sha1").await;
    assert_eq!(sha1.trim().len(), 40, "{sha1}");
    assert!(!text_of(&c, "#cert-expiry").await.trim().is_empty());
    shot(&c, "03-keypair").await;

    // Download public_key.pem as the browser would (same cookies), and check it is the certificate.
    let href = c
        .find(Locator::Id("download-cert"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .expect("href");
    let pem = c
        .execute_async(
            "const [href, done] = arguments; fetch(href).then(r => r.text()).then(done, e => done(String(e)));",
            vec![json!(href)],
        )
        .await
        .expect("fetch pem");
    let pem = pem.as_str().expect("pem text").to_owned();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(!pem.contains("PRIVATE"));

    // The admin uploads it in the (emulated) Azure portal.
    app.register_app(&client_id, &[&pem], &all_roles(), json!({}))
        .await;

    c.find(Locator::Id("sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Microsoft's consent page redirects back to /oauth2office2, which links back to the console.
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_url(&url::Url::parse(&format!("{}/settings/office365", app.url)).unwrap())
        .await
        .ok();
    c.goto(&format!("{}/settings/office365", app.url))
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Id("status-badge"))
        .await
        .unwrap();
    assert_eq!(text_of(&c, "#status-badge").await.trim(), "connected");
    assert!(text_of(&c, "#status-message").await.contains("Contoso"));
    shot(&c, "04-connected").await;
    c.close().await.ok();
}
