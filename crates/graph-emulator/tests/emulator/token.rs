//! `POST /{tenant}/oauth2/v2.0/token` (graph-protocol.md §1.1–§1.4).

use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn rs256_x5t_token_carries_granted_roles() {
    let emu = start().await;
    let app = emu.app(&["User.Read.All", "Calendars.Read"], true).await;
    let r = emu
        .token_with(&app, &Assertion::new(&emu, &app).sign(&ALICE))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store, no-cache"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    assert!(r.header("x-ms-request-id").is_some());
    let body = r.json();
    assert_eq!(body["token_type"], "Bearer");
    let expires_in = body["expires_in"].as_u64().expect("integer expires_in");
    assert!((3600..=5399).contains(&expires_in), "{expires_in}");
    assert_eq!(body["ext_expires_in"], body["expires_in"]);
    assert!(body.get("refresh_token").is_none());

    let claims = jwt_claims(body["access_token"].as_str().expect("token"));
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(
        claims["iss"],
        format!("https://sts.windows.net/{}/", emu.tenant)
    );
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["appid"], app);
    assert_eq!(claims["tid"], emu.tenant);
    assert_eq!(claims["oid"], claims["sub"]);
    assert_eq!(claims["roles"], json!(["User.Read.All", "Calendars.Read"]));
    assert!(claims["exp"].as_i64() > claims["nbf"].as_i64());
}

#[tokio::test]
async fn every_algorithm_and_thumbprint_form_is_accepted() {
    let emu = start().await;
    let app = emu.app(&["User.Read.All"], true).await;
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        for thumb in [Thumb::X5t, Thumb::X5tS256] {
            for padded in [false, true] {
                let mut a = Assertion::new(&emu, &app);
                a.alg = alg;
                a.thumb = thumb;
                a.padded = padded;
                let r = emu.token_with(&app, &a.sign(&ALICE)).await;
                assert_eq!(
                    r.status,
                    StatusCode::OK,
                    "{alg:?} {thumb:?} padded={padded}: {}",
                    r.text
                );
            }
        }
    }
}

#[tokio::test]
async fn tenant_domain_and_issuer_style_audience_are_accepted() {
    let emu = start().await;
    let app = emu.app(&[], true).await;
    let domain = emu.emu.tenant_domain().to_uppercase();
    let mut a = Assertion::new(&emu, &app);
    a.aud = format!("{}/{domain}/oauth2/v2.0/token", emu.base);
    let r = emu
        .token_form(
            &domain,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &app),
                ("scope", GRAPH_DEFAULT),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &a.sign(&ALICE)),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    a.aud = format!("{}/{}/v2.0", emu.base, emu.tenant);
    a.jti = Some(uuid::Uuid::new_v4().to_string());
    let r = emu.token_with(&app, &a.sign(&ALICE)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn roles_claim_is_absent_without_granted_roles() {
    let emu = start().await;
    let app = emu.app(&[], true).await;
    let token = emu.access_token(&app).await;
    let claims = jwt_claims(&token);
    assert!(claims.get("roles").is_none(), "{claims}");

    // Requested later but not consented again: still no roles.
    let r = emu
        .send_json(
            reqwest::Method::PATCH,
            &format!("/_emulator/apps/{app}"),
            json!({ "roles": ["User.Read.All"] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        jwt_claims(&emu.access_token(&app).await)
            .get("roles")
            .is_none()
    );

    let r = emu
        .send_json(
            reqwest::Method::PATCH,
            &format!("/_emulator/apps/{app}"),
            json!({ "consentGranted": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        jwt_claims(&emu.access_token(&app).await)["roles"],
        json!(["User.Read.All"])
    );
}

#[tokio::test]
async fn unknown_certificate_gives_700027_with_hex_thumbprint() {
    let emu = start().await;
    let app = emu.app(&["User.Read.All"], true).await;
    let r = emu
        .token_with(&app, &Assertion::new(&emu, &app).sign(&MALLORY))
        .await;
    let body = assert_entra_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 700027);
    let d = body["error_description"].as_str().unwrap_or_default();
    assert!(d.contains("Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '"), "{d}");
    assert!(d.contains(&MALLORY.sha1_hex()), "{d}");
    assert!(d.contains(&format!("app Id '{app}'")), "{d}");
}

#[tokio::test]
async fn forged_signature_for_an_uploaded_thumbprint_gives_700027() {
    let emu = start().await;
    let app = emu.app(&["User.Read.All"], true).await;
    let r = emu
        .token_with(&app, &Assertion::new(&emu, &app).sign_as(&MALLORY, &ALICE))
        .await;
    assert_entra_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 700027);
}

#[tokio::test]
async fn missing_service_principal_gives_7000229() {
    let emu = start().await;
    let app = emu.app(&["User.Read.All"], false).await;
    let r = emu
        .token_with(&app, &Assertion::new(&emu, &app).sign(&ALICE))
        .await;
    let body = assert_entra_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 7000229);
    let d = body["error_description"].as_str().unwrap_or_default();
    assert!(
        d.contains(&format!(
            "The client application {app} is missing service principal in the tenant {}",
            emu.tenant
        )),
        "{d}"
    );
}

#[tokio::test]
async fn unknown_app_gives_700016() {
    let emu = start().await;
    let app = uuid::Uuid::new_v4().to_string();
    let r = emu
        .token_with(&app, &Assertion::new(&emu, &app).sign(&ALICE))
        .await;
    let body = assert_entra_error(&r, StatusCode::BAD_REQUEST, "unauthorized_client", 700016);
    let d = body["error_description"].as_str().unwrap_or_default();
    assert!(
        d.contains(&format!(
            "Application with identifier '{app}' was not found in the directory '{}'",
            emu.tenant
        )),
        "{d}"
    );
}

#[tokio::test]
async fn assertion_outside_its_time_range_gives_700024() {
    let emu = start().await;
    let app = emu.app(&["User.Read.All"], true).await;
    let assertion = Assertion::new(&emu, &app).sign(&ALICE);
    emu.advance_clock(2 * 3600).await;
    let r = emu.token_with(&app, &assertion).await;
    let body = assert_entra_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 700024);
    let d = body["error_description"].as_str().unwrap_or_default();
    assert!(
        d.contains("Client assertion is not within its valid time range. Current time: "),
        "{d}"
    );
    assert!(d.contains(", assertion valid from "), "{d}");
    assert!(d.contains(", expiry time of assertion "), "{d}");

    // Back in range once the clock is reset.
    let r = emu
        .post_json("/_emulator/clock", json!({ "reset": true }))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = emu
        .token_with(&app, &Assertion::new(&emu, &app).sign(&ALICE))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn skew_of_a_few_minutes_is_tolerated() {
    let emu = start().await;
    let app = emu.app(&[], true).await;
    let mut a = Assertion::new(&emu, &app);
    a.nbf = a.nbf.map(|n| n + 200);
    let r = emu.token_with(&app, &a.sign(&ALICE)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn subject_issuer_mismatch_gives_50048() {
    let emu = start().await;
    let app = emu.app(&[], true).await;
    let mut a = Assertion::new(&emu, &app);
    a.sub = uuid::Uuid::new_v4().to_string();
    let r = emu.token_with(&app, &a.sign(&ALICE)).await;
    assert_entra_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 50048);
}

#[tokio::test]
async fn issuer_other_than_client_id_gives_700021() {
    let emu = start().await;
    let app = emu.app(&[], true).await;
    let other = uuid::Uuid::new_v4().to_string();
    let mut a = Assertion::new(&emu, &app);
    a.sub = other.clone();
    a.iss = other;
    let r = emu.token_with(&app, &a.sign(&ALICE)).await;
    assert_entra_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 700021);
}

#[tokio::test]
async fn wrong_audience_gives_700212() {
    let emu = start().await;
    let app = emu.app(&[], true).await;
    let mut a = Assertion::new(&emu, &app);
    a.aud = "https://login.microsoftonline.com/common/oauth2/v2.0/token".to_owned();
    let r = emu.token_with(&app, &a.sign(&ALICE)).await;
    assert_entra_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 700212);
}

#[tokio::test]
async fn replayed_jti_is_rejected_and_missing_jti_too() {
    let emu = start().await;
    let app = emu.app(&[], true).await;
    let assertion = Assertion::new(&emu, &app).sign(&ALICE);
    let first = emu.token_with(&app, &assertion).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let again = emu.token_with(&app, &assertion).await;
    let body = assert_entra_error(&again, StatusCode::UNAUTHORIZED, "invalid_client", 50027);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("already been used")
    );

    let mut a = Assertion::new(&emu, &app);
    a.jti = None;
    let r = emu.token_with(&app, &a.sign(&ALICE)).await;
    assert_entra_error(&r, StatusCode::UNAUTHORIZED, "invalid_client", 50027);
}

#[tokio::test]
async fn error_body_has_the_documented_trailer_and_fields() {
    let emu = start().await;
    let correlation = uuid::Uuid::new_v4().to_string();
    let r = emu
        .http
        .post(emu.url(&format!("/{}/oauth2/v2.0/token", emu.tenant)))
        .header("client-request-id", &correlation)
        .form(&[("grant_type", "password")])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store, no-cache")
    );
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"], "unsupported_grant_type");
    let trace = body["trace_id"].as_str().expect("trace_id");
    let timestamp = body["timestamp"].as_str().expect("timestamp");
    assert_eq!(body["correlation_id"], correlation.as_str());
    // yyyy-mm-dd hh:mm:ssZ
    assert_eq!(timestamp.len(), 20, "{timestamp}");
    assert_eq!(&timestamp[10..11], " ");
    assert!(timestamp.ends_with('Z'));
    let description = body["error_description"].as_str().expect("description");
    assert!(description.starts_with("AADSTS70003: "), "{description}");
    assert!(
        description.ends_with(&format!(
            "\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"
        )),
        "{description:?}"
    );
    assert_eq!(body["error_uri"], format!("{}/error?code=70003", emu.base));
}

/// tenant, form, expected status, `error`, AADSTS code.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, StatusCode, &'a str, u64);

#[tokio::test]
async fn request_errors_are_400_and_client_errors_401() {
    let emu = start().await;
    let app = emu.app(&[], true).await;
    let assertion = Assertion::new(&emu, &app).sign(&ALICE);
    let base = |scope: &'static str| {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", app.as_str()),
            ("scope", scope),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion.as_str()),
        ]
    };
    let cases: Vec<Case> = vec![
        (
            "common",
            base(GRAPH_DEFAULT),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            9001023,
        ),
        (
            "consumers",
            base(GRAPH_DEFAULT),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            9001023,
        ),
        (
            "fabrikam.onmicrosoft.com",
            base(GRAPH_DEFAULT),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
        ),
        (
            &emu.tenant,
            base("https://graph.microsoft.com/User.Read.All"),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
        ),
        (
            &emu.tenant,
            base("https://graph.microsoft.com/.default https://outlook.office.com/.default"),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            700022,
        ),
        (
            &emu.tenant,
            base("https://management.azure.com/.default"),
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
        ),
        (
            &emu.tenant,
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", app.as_str()),
                ("scope", GRAPH_DEFAULT),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
        ),
        (
            &emu.tenant,
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", app.as_str()),
                ("scope", GRAPH_DEFAULT),
                ("client_secret", "s3cret"),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
        ),
        (
            &emu.tenant,
            vec![("client_id", app.as_str()), ("scope", GRAPH_DEFAULT)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
        ),
        (
            &emu.tenant,
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", app.as_str()),
                ("scope", GRAPH_DEFAULT),
                ("client_assertion", "not-a-jwt"),
                ("client_assertion_type", JWT_BEARER),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            50027,
        ),
    ];
    for (tenant, form, status, error, code) in cases {
        let r = emu.token_form(tenant, &form).await;
        assert_entra_error(&r, status, error, code);
    }
    // The valid assertion was never consumed by the failures above.
    assert_eq!(
        emu.token_with(&app, &assertion).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn get_on_token_endpoint_is_rejected_like_entra() {
    let emu = start().await;
    let r = emu.get(&format!("/{}/oauth2/v2.0/token", emu.tenant)).await;
    assert_entra_error(&r, StatusCode::BAD_REQUEST, "invalid_request", 900561);
}
