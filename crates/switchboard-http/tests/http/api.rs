//! REST API v1: authentication, errors, the settings workflow and the OpenAPI document.

use crate::fakes::{CERT_PEM, KEY_MARKER};
use crate::*;
use reqwest::Method;
use reqwest::header::WWW_AUTHENTICATE;
use serde_json::{Value, json};
use switchboard_core::office365::IdError;

const SETTINGS: &str = "/api/v1/settings/office365";

async fn json_of(r: Response) -> Value {
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    r.json().await.unwrap()
}

#[tokio::test]
async fn bearer_token_valid_invalid_missing() {
    let app = TestApp::spawn().await;
    let r = app.api(Method::GET, SETTINGS).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_of(r).await;
    assert_eq!(body["status"], "not_configured");
    assert_eq!(body["redirect_url"], app.url("/oauth2office2"));
    assert_eq!(body["required_permissions"][0]["name"], "Calendars.Read");
    assert!(body["required_permissions"][0]["reason"].is_string());

    let client = Client::new();
    for auth in [
        Some("Bearer sb_not-a-real-token"),
        Some("Basic YWRtaW46YWRtaW4="),
        None,
    ] {
        let mut request = client.get(app.url(SETTINGS));
        if let Some(a) = auth {
            request = request.header("authorization", a);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(
            r.headers()[WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer"),
            "{auth:?}"
        );
        let body = json_of(r).await;
        assert!(body["error"].as_str().unwrap().len() > 10);
    }
    // The token works case-insensitively on the scheme, for every route.
    let r = client
        .post(app.url("/api/v1/settings/office365/verify"))
        .header("authorization", format!("bearer {}", app.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn session_needs_the_csrf_header_for_changes() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let csrf = app.login(&browser).await;
    let r = browser.get(app.url(SETTINGS)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "reads need no CSRF header");

    let update = json!({"client_id": CLIENT_ID, "tenant": "contoso.com"});
    let r = browser
        .put(app.url(SETTINGS))
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        json_of(r).await["error"]
            .as_str()
            .unwrap()
            .contains("X-CSRF-Token")
    );
    let r = browser
        .put(app.url(SETTINGS))
        .header("x-csrf-token", "wrong")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(app.store.connection().client_id.is_none());

    let r = browser
        .put(app.url(SETTINGS))
        .header("x-csrf-token", &csrf)
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_of(r).await["client_id"], CLIENT_ID);
}

#[tokio::test]
async fn invalid_ids_are_422_with_cores_message() {
    let app = TestApp::spawn().await;
    let r = app
        .api(Method::PUT, SETTINGS)
        .json(&json!({"client_id": "nope", "tenant": "contoso.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        json_of(r).await,
        json!({"error": IdError::ClientIdNotGuid("nope".into()).to_string()})
    );
    let r = app
        .api(Method::PUT, SETTINGS)
        .json(&json!({"tenant": "organizations"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        json_of(r).await["error"],
        IdError::TenantAlias("organizations".into()).to_string()
    );
    let r = app
        .api(Method::PUT, SETTINGS)
        .json(&json!({"algorithm": "HS256"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        json_of(r).await["error"]
            .as_str()
            .unwrap()
            .contains("RS256 or PS256")
    );
    // Not JSON at all: still a JSON error.
    let r = app
        .api(Method::PUT, SETTINGS)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    assert!(json_of(r).await["error"].is_string());
    // Too large: 413, still JSON.
    let big = json!({"client_id": "x".repeat(100_000)});
    let r = app
        .api(Method::PUT, SETTINGS)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(json_of(r).await["error"].is_string());
    assert!(app.store.connection().client_id.is_none());
}

#[tokio::test]
async fn keypair_returns_the_certificate_and_the_private_key_never_leaves() {
    let app = TestApp::spawn().await;
    let mut bodies = Vec::new();
    let r = app
        .api(Method::POST, "/api/v1/settings/office365/keypair")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["certificate_pem"], CERT_PEM);
    assert_eq!(
        body["settings"]["certificate"]["thumbprint_sha1"],
        format!("00{}", "AB".repeat(19))
    );
    assert_eq!(body["settings"]["certificate"]["expires_soon"], false);
    bodies.push(text);

    configure(&app).await; // a second key pair
    let browser = app.browser();
    let csrf = app.login(&browser).await;
    for path in [
        SETTINGS,
        "/",
        "/settings/office365",
        "/settings/office365/public_key.pem",
        "/api/v1/openapi.json",
    ] {
        let r = browser.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        bodies.push(r.text().await.unwrap());
    }
    for path in [
        "/api/v1/settings/office365/verify",
        "/api/v1/settings/office365/keypair",
    ] {
        let r = browser
            .post(app.url(path))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        bodies.push(r.text().await.unwrap());
    }
    for body in &bodies {
        assert!(!body.contains(KEY_MARKER));
        assert!(!body.contains("PRIVATE KEY"));
        assert!(!body.contains("key_ref") && !body.contains("key-0"));
        assert!(!body.contains(&app.token));
    }
}

#[tokio::test]
async fn verify_and_consent_over_the_api() {
    let app = TestApp::spawn().await;
    let r = app
        .api(Method::POST, "/api/v1/settings/office365/consent")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        json_of(r).await["error"]
            .as_str()
            .unwrap()
            .contains("client) ID")
    );

    configure(&app).await;
    let r = app
        .api(Method::POST, "/api/v1/settings/office365/consent")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let url: url::Url = json_of(r).await["url"].as_str().unwrap().parse().unwrap();
    assert_eq!(url.host_str(), Some("login.example.test"));
    assert_eq!(url.path(), "/contoso.onmicrosoft.com/adminconsent");
    assert!(
        url.query_pairs()
            .any(|(k, v)| k == "state" && v.len() >= 32)
    );

    let r = app
        .api(Method::POST, "/api/v1/settings/office365/verify")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_of(r).await;
    assert_eq!(body["status"], "connected");
    assert_eq!(body["organization_name"], "Contoso");
    assert_eq!(body["missing_permissions"], json!([]));
}

#[tokio::test]
async fn unknown_api_routes_and_methods_answer_json() {
    let app = TestApp::spawn().await;
    let r = app.api(Method::GET, "/api/v1/nope").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(json_of(r).await["error"].is_string());
    let r = app.api(Method::DELETE, SETTINGS).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(json_of(r).await["error"].is_string());
}

#[tokio::test]
async fn openapi_describes_every_api_route_and_the_real_json() {
    let app = TestApp::spawn().await;
    let r = app
        .api(Method::GET, "/api/v1/openapi.json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc = json_of(r).await;
    assert_eq!(doc["openapi"], "3.1.0");

    let served = switchboard_http::api_route_list();
    assert!(served.len() >= 18);
    for (method, path) in [
        ("GET", "/api/v1/extensions"),
        ("POST", "/api/v1/extensions"),
        ("GET", "/api/v1/extensions/{number}"),
        ("PATCH", "/api/v1/extensions/{number}"),
        ("DELETE", "/api/v1/extensions/{number}"),
        ("PUT", "/api/v1/extensions/{number}/excluded"),
        ("GET", "/api/v1/extensions/{number}/audit"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/sync"),
        ("POST", "/api/v1/sync/{kind}"),
        ("POST", "/api/v1/sync/users/self-test"),
        ("GET", "/api/v1/settings/user-sync"),
        ("PUT", "/api/v1/settings/user-sync"),
        ("GET", "/api/v1/directory/users"),
        ("GET", "/api/v1/directory/groups"),
    ] {
        assert!(
            served.iter().any(|(m, p)| m == method && *p == path),
            "{method} {path} is not served"
        );
    }
    for (method, path) in &served {
        assert!(
            doc["paths"][path][method.to_lowercase()].is_object(),
            "{method} {path} is served but not in the OpenAPI document"
        );
    }
    let paths = doc["paths"].as_object().unwrap();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            assert!(
                served
                    .iter()
                    .any(|(m, p)| p == path && m.eq_ignore_ascii_case(method)),
                "{method} {path} is documented but not served"
            );
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    // The mirror schema has exactly the fields the API returns.
    configure(&app).await;
    let settings: Value = app
        .api(Method::GET, SETTINGS)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&schemas["ConnectionSettings"]["properties"]),
        keys(&settings)
    );
    assert_eq!(
        keys(&schemas["CertificateView"]["properties"]),
        keys(&settings["certificate"])
    );
    assert_eq!(
        keys(&schemas["Permission"]["properties"]),
        keys(&settings["required_permissions"][0])
    );

    // The same for extensions, the audit log, sync status, runs and the User Sync settings.
    app.directory
        .set_users(vec![crate::fakes::member(1, "Ada", "Lovelace")]);
    let outcome = sync_users(&app, "").await;
    let extension = get_json(&app, "/api/v1/extensions/100").await;
    assert_eq!(keys(&schemas["Extension"]["properties"]), keys(&extension));
    let audit = get_json(&app, "/api/v1/audit").await;
    assert_eq!(keys(&schemas["AuditEntry"]["properties"]), keys(&audit[0]));
    let status = get_json(&app, "/api/v1/sync").await;
    assert_eq!(keys(&schemas["SyncOverview"]["properties"]), keys(&status));
    assert_eq!(
        keys(&schemas["UserSyncStatus"]["properties"]),
        keys(&status["users"])
    );
    assert_eq!(
        keys(&schemas["SyncRun"]["properties"]),
        keys(&status["users"]["last_run"])
    );
    assert_eq!(
        keys(&schemas["RunCounts"]["properties"]),
        keys(&status["users"]["last_run"]["counts"])
    );
    assert_eq!(keys(&schemas["RunOutcome"]["properties"]), keys(&outcome));
    let settings = get_json(&app, "/api/v1/settings/user-sync").await;
    assert_eq!(
        keys(&schemas["UserSyncConfig"]["properties"]),
        keys(&settings)
    );
    // Every key of every plan step is one the PlanStep schema names.
    app.directory.set_users(vec![
        crate::fakes::member(1, "Ada", "Lovelace"),
        crate::fakes::guest(2, "Visitor"),
        crate::fakes::member(3, "Alan", "Turing"),
    ]);
    let plan = sync_users(&app, "?full=true&dry_run=true").await;
    let step_keys = keys(&schemas["PlanStep"]["properties"]);
    let steps = plan["plan"].as_array().unwrap();
    assert!(steps.len() >= 2);
    for step in steps {
        for k in keys(step) {
            assert!(step_keys.contains(&k), "{k} of {step} is not in PlanStep");
        }
    }
    let create = steps.iter().find(|s| s["action"] == "create").unwrap();
    assert_eq!(
        keys(&schemas["SyncedFields"]["properties"]),
        keys(&create["fields"])
    );
    // The self-test answers need a public_url (a subscription keeper).
    let with_keeper = TestApp::spawn_with_public_url().await;
    let self_test = json_of(
        with_keeper
            .api(Method::POST, "/api/v1/sync/users/self-test")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        keys(&schemas["SelfTestResult"]["properties"]),
        keys(&self_test)
    );
    let responses = &doc["paths"]["/api/v1/sync/users/self-test"]["post"]["responses"];
    for code in ["200", "409"] {
        assert!(responses[code].is_object(), "{code} is not documented");
    }
}
