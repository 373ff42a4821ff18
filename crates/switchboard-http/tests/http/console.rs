//! Console pages: login, sessions, CSRF, the Configure page.

use crate::fakes::CERT_PEM;
use crate::*;
use reqwest::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, SET_COOKIE};
use switchboard_http::HttpConfig;

fn session_set_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("sb_session="))
        .map(str::to_owned)
}

#[tokio::test]
async fn pages_require_login() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let r = browser.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=%2F");

    let r = browser
        .get(app.url("/settings/office365?notice=saved"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&r),
        "/login?next=%2Fsettings%2Foffice365%3Fnotice%3Dsaved"
    );

    for path in [
        "/settings/office365/public_key.pem",
        "/settings/office365/consent?csrf=x",
    ] {
        let r = browser.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(location(&r).starts_with("/login?next="), "{path}");
    }
    let r = browser
        .post(app.url("/settings/office365/keypair"))
        .form(&[("csrf_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=%2F");
    assert!(app.store.connection().active.is_none());
}

#[tokio::test]
async fn login_then_back_to_next_but_only_a_local_one() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let page = browser
        .get(app.url("/login?next=%2Fsettings%2Foffice365"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for id in ["login-username", "login-password", "login-submit"] {
        assert!(page.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert_eq!(
        attr_after(&page, "name=\"next\"", "value"),
        "/settings/office365"
    );
    let csrf = hidden_csrf(&page);
    let r = browser
        .post(app.url("/login"))
        .form(&[
            ("username", USER),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
            ("next", "//evil.example/x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    let r = browser.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let dashboard = r.text().await.unwrap();
    assert_eq!(text_of(&dashboard, "status-badge"), "not_configured");
    assert!(dashboard.contains("href=\"/settings/office365\""));
    assert!(dashboard.contains("Log out"));
}

#[tokio::test]
async fn wrong_password_or_unknown_user_gives_an_error_and_no_session() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    for (user, password) in [(USER, "wrong password!"), ("nobody", PASSWORD)] {
        let r = app.submit_login(&browser, user, password).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(session_set_cookie(&r).is_none());
        let html = r.text().await.unwrap();
        assert!(html.contains("Wrong username or password."));
        assert!(!html.contains(password));
    }
    assert_eq!(app.store.session_count(), 0);
    let r = browser.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn login_form_needs_its_csrf_token() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let _ = browser.get(app.url("/login")).send().await.unwrap();
    let r = browser
        .post(app.url("/login"))
        .form(&[("username", USER), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.store.session_count(), 0);
}

#[tokio::test]
async fn login_attempts_are_rate_limited() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    for _ in 0..5 {
        let r = app.submit_login(&browser, USER, "wrong password!").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused now.
    let r = app.submit_login(&browser, USER, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "60");
    assert!(session_set_cookie(&r).is_none());
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Too many attempts, wait a minute")
    );
    assert_eq!(app.store.session_count(), 0);
}

#[tokio::test]
async fn session_cookie_is_httponly_strict_and_secure_when_configured() {
    let app = TestApp::spawn().await;
    let r = app.submit_login(&app.browser(), USER, PASSWORD).await;
    let cookie = session_set_cookie(&r).unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");

    let secure = TestApp::spawn_with(HttpConfig {
        secure_cookies: true,
        ..HttpConfig::default()
    })
    .await;
    let r = secure.submit_login(&secure.browser(), USER, PASSWORD).await;
    let cookie = session_set_cookie(&r).unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
}

#[tokio::test]
async fn logout_invalidates_the_session() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let r = app.submit_login(&browser, USER, PASSWORD).await;
    let cookie = session_set_cookie(&r).unwrap();
    let pair = cookie.split(';').next().unwrap().to_owned();
    let page = browser
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden_csrf(&page);
    assert_eq!(app.store.session_count(), 1);

    let r = browser
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
    assert_eq!(app.store.session_count(), 0);

    // The old cookie value, replayed, is worth nothing.
    let replay = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = replay
        .get(app.url("/"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = replay
        .get(app.url("/api/v1/settings/office365"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let csrf = app.login(&browser).await;
    for token in [None, Some("wrong-token")] {
        let mut ids = vec![("client_id", CLIENT_ID), ("tenant", "contoso.com")];
        let mut only = vec![];
        if let Some(t) = token {
            ids.push(("csrf_token", t));
            only.push(("csrf_token", t));
        }
        let r = browser
            .post(app.url("/settings/office365"))
            .form(&ids)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{token:?}");
        for path in [
            "/settings/office365/keypair",
            "/settings/office365/verify",
            "/settings/office365/consent",
            "/logout",
        ] {
            let r = browser
                .post(app.url(path))
                .form(&only)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} {token:?}");
        }
    }
    let r = browser
        .get(app.url("/settings/office365/consent?csrf=wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let conn = app.store.connection();
    assert!(conn.client_id.is_none() && conn.tenant.is_none() && conn.active.is_none());
    assert_eq!(app.store.session_count(), 1, "logout was refused too");
    // And with the right token it works.
    let r = browser
        .post(app.url("/settings/office365"))
        .form(&[
            ("client_id", CLIENT_ID),
            ("tenant", "contoso.com"),
            ("algorithm", "PS256"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/settings/office365?notice=saved");
    assert!(app.store.connection().client_id.is_some());
}

#[tokio::test]
async fn invalid_ids_are_explained_next_to_the_fields_and_kept() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let csrf = app.login(&browser).await;
    let r = browser
        .post(app.url("/settings/office365"))
        .form(&[
            ("client_id", "not-a-guid"),
            ("tenant", "common"),
            ("algorithm", "RS256"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(text_of(&html, "client-id-error").contains("must be a GUID"));
    assert!(text_of(&html, "tenant-error").contains("multi-tenant aliases"));
    assert_eq!(attr_after(&html, "id=\"client-id\"", "value"), "not-a-guid");
    assert_eq!(attr_after(&html, "id=\"tenant\"", "value"), "common");
    assert!(app.store.connection().client_id.is_none());
}

#[tokio::test]
async fn configure_page_shows_every_step_with_stable_ids() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    app.login(&browser).await;
    let html = browser
        .get(app.url("/settings/office365"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text_of(&html, "status-badge"), "not_configured");
    assert!(html.contains("badge-not_configured"));
    assert!(!html.contains("id=\"download-cert\""), "no certificate yet");

    configure(&app).await;
    let html = browser
        .get(app.url("/settings/office365?notice=keypair"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for id in [
        "status-badge",
        "status-message",
        "client-id",
        "tenant",
        "save-ids",
        "generate-keypair",
        "download-cert",
        "thumbprint-sha1",
        "thumbprint-sha256",
        "cert-expiry",
        "sign-in",
        "test-connection",
        "redirect-url",
        "copy-redirect-url",
        "notice",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "#{id} missing");
    }
    assert_eq!(text_of(&html, "status-badge"), "awaiting_consent");
    assert_eq!(
        attr_after(&html, "id=\"redirect-url\"", "value"),
        app.url("/oauth2office2")
    );
    assert_eq!(attr_after(&html, "id=\"client-id\"", "value"), CLIENT_ID);
    assert_eq!(
        text_of(&html, "thumbprint-sha1"),
        format!("00{}", "AB".repeat(19))
    );
    assert_eq!(text_of(&html, "cert-expiry"), "2028-10-31 08:00 UTC");
    assert!(html.contains("Calendars.Read") && html.contains("Contacts.Read"));
    assert!(html.contains("/static/app.css?v=") && html.contains("/static/app.js?v="));
    assert!(!html.contains("<script>"), "no inline script");
}

#[tokio::test]
async fn certificate_download_is_an_attachment_with_the_certificate_only() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    app.login(&browser).await;
    let r = browser
        .get(app.url("/settings/office365/public_key.pem"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    configure(&app).await;
    let r = browser
        .get(app.url("/settings/office365/public_key.pem"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CONTENT_TYPE], "application/x-pem-file");
    assert_eq!(
        r.headers()[CONTENT_DISPOSITION],
        "attachment; filename=\"public_key.pem\""
    );
    assert_eq!(r.text().await.unwrap(), CERT_PEM);
}

#[tokio::test]
async fn security_headers_health_metrics_and_static_files() {
    let app = TestApp::spawn().await;
    let client = app.browser();
    for path in ["/login", "/healthz", "/api/v1/settings/office365", "/nope"] {
        let r = client.get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{path}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert!(csp.contains("form-action 'self'"), "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
    }
    let r = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );
    let r = client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("process_up 1"));
    for (path, kind) in [
        ("/static/app.css", "text/css"),
        ("/static/app.js", "text/javascript"),
    ] {
        let r = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        assert!(
            r.headers()[CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("max-age=31536000")
        );
    }
    let r = client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
    let r = client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
