//! "Sign in to Office 365" and the `/oauth2office2` redirect.

use crate::*;
use switchboard_core::office365::{ConnectFailure, ConnectionStatus};

/// Clicks "Sign in to Office 365" and returns the `state` from Microsoft's URL.
async fn click_sign_in(app: &TestApp, browser: &Client) -> String {
    let page = browser
        .get(app.url("/settings/office365"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let href = attr_after(&page, "id=\"sign-in\"", "href").replace("&amp;", "&");
    assert!(href.starts_with("/settings/office365/consent?csrf="));
    let r = browser.get(app.url(&href)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to: url::Url = location(&r).parse().unwrap();
    assert!(to.as_str().starts_with(LOGIN_URL));
    assert_eq!(to.path(), "/contoso.onmicrosoft.com/adminconsent");
    let pairs: Vec<(String, String)> = to.query_pairs().into_owned().collect();
    assert!(pairs.contains(&("client_id".into(), CLIENT_ID.into())));
    assert!(pairs.contains(&("redirect_uri".into(), app.url("/oauth2office2"))));
    pairs.into_iter().find(|(k, _)| k == "state").unwrap().1
}

#[tokio::test]
async fn sign_in_before_configuring_explains_what_is_missing() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let csrf = app.login(&browser).await;
    let r = browser
        .post(app.url("/settings/office365/consent"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(text_of(&r.text().await.unwrap(), "page-error").contains("client) ID"));
}

#[tokio::test]
async fn sign_in_redirects_to_microsoft_with_a_state() {
    let app = TestApp::spawn().await;
    configure(&app).await;
    let browser = app.browser();
    let csrf = app.login(&browser).await;
    let state = click_sign_in(&app, &browser).await;
    assert!(state.len() >= 32);
    assert_eq!(
        app.store.connection().status,
        ConnectionStatus::AwaitingConsent
    );
    // The form variant answers the same way.
    let r = browser
        .post(app.url("/settings/office365/consent"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with(LOGIN_URL));
}

#[tokio::test]
async fn redirect_with_an_unknown_state_is_refused() {
    let app = TestApp::spawn().await;
    configure(&app).await;
    let stranger = app.browser();
    for query in [
        "?admin_consent=True&tenant=x&state=made-up",
        "?admin_consent=True",
        "",
        "?%%%=bad&state",
    ] {
        let r = stranger
            .get(app.url(&format!("/oauth2office2{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains("Click Sign in to Office 365 again"),
            "{query}"
        );
    }
    assert_ne!(app.store.connection().status, ConnectionStatus::Connected);
}

#[tokio::test]
async fn granted_consent_connects_without_a_session_and_the_state_is_single_use() {
    let app = TestApp::spawn().await;
    configure(&app).await;
    let browser = app.browser();
    app.login(&browser).await;
    let state = click_sign_in(&app, &browser).await;

    // Microsoft's redirect is cross-site: the Strict cookie is not sent. A cookieless client.
    let microsoft = app.browser();
    let callback = format!(
        "/oauth2office2?admin_consent=True&tenant=72f988bf-86f1-41af-91ab-2d7cd011db47&state={state}"
    );
    let r = microsoft.get(app.url(&callback)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert_eq!(text_of(&html, "status-badge"), "connected");
    assert!(text_of(&html, "status-message").contains("Contoso"));
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"3;url=/settings/office365\">"));
    assert!(html.contains("href=\"/settings/office365\""));
    assert!(!html.contains(&state));
    assert_eq!(app.store.connection().status, ConnectionStatus::Connected);

    let page = browser
        .get(app.url("/settings/office365"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text_of(&page, "status-badge"), "connected");
    assert!(page.contains("data-state=\"granted\""));

    let again = microsoft.get(app.url(&callback)).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn declined_consent_and_missing_permissions_are_explained() {
    let app = TestApp::spawn().await;
    configure(&app).await;
    let browser = app.browser();
    app.login(&browser).await;

    let state = click_sign_in(&app, &browser).await;
    let r = app
        .browser()
        .get(app.url(&format!(
            "/oauth2office2?admin_consent=True&error=access_denied&error_description=AADSTS65004%3A+User+declined&state={state}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert_eq!(text_of(&html, "status-badge"), "error");
    assert!(text_of(&html, "status-message").contains("Consent was declined"));

    *app.gateway.token.lock().unwrap() = Err(ConnectFailure::MissingPermissions {
        missing: vec![],
        granted: vec!["Contacts.Read".into()],
    });
    let state = click_sign_in(&app, &browser).await;
    let r = app
        .browser()
        .get(app.url(&format!("/oauth2office2?admin_consent=True&state={state}")))
        .send()
        .await
        .unwrap();
    assert_eq!(text_of(&r.text().await.unwrap(), "status-badge"), "error");
    let page = browser
        .get(app.url("/settings/office365"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"permission-Contacts.Read\" data-state=\"granted\""));
    assert!(page.contains("id=\"permission-Calendars.Read\" data-state=\"missing\""));
}
