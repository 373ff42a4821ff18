//! Scripted faults and request statistics.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn throttling_with_fractional_retry_after_for_count_requests() {
    let emu = start().await;
    let app = emu.app(&["User.Read.All"], true).await;
    let token = emu.access_token(&app).await;
    let r = emu
        .post_json(
            "/_emulator/faults",
            json!({"path_prefix": "/v1.0/organization", "status": 429, "retry_after": "2.128", "count": 2}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    for _ in 0..2 {
        let r = emu.get_with("/v1.0/organization", Some(&token), &[]).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
        assert_eq!(r.header("retry-after"), Some("2.128"));
        assert!(r.header("request-id").is_some());
        let body = r.json();
        assert_eq!(body["error"]["code"], "TooManyRequests");
        assert_eq!(body["error"]["message"], "Please retry again later.");
        assert_eq!(body["error"]["innerError"]["code"], "429");
        assert_eq!(body["error"]["innerError"]["status"], "429");
        assert_eq!(body["error"]["innerError"]["message"], "Please retry after");
    }
    let r = emu.get_with("/v1.0/organization", Some(&token), &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn service_unavailable_and_gateway_timeout_bodies() {
    let emu = start().await;
    let app = emu.app(&["User.Read.All"], true).await;
    let token = emu.access_token(&app).await;
    for (status, code) in [(503, "serviceNotAvailable"), (504, "gatewayTimeout")] {
        let r = emu
            .post_json(
                "/_emulator/faults",
                json!({"path_prefix": "/v1.0/", "status": status, "retry_after": 3, "count": 1, "method": "get"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let r = emu.get_with("/v1.0/organization", Some(&token), &[]).await;
        assert_eq!(r.status.as_u16(), status);
        assert_eq!(r.header("retry-after"), Some("3"));
        assert_eq!(r.json()["error"]["code"], code);
    }
}

#[tokio::test]
async fn faults_on_the_token_path_are_entra_shaped() {
    let emu = start().await;
    let app = emu.app(&[], true).await;
    let r = emu
        .post_json(
            "/_emulator/faults",
            json!({"path_prefix": format!("/{}/oauth2", emu.tenant), "status": 503, "count": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = emu
        .token_with(&app, &Assertion::new(&emu, &app).sign(&ALICE))
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let body = r.json();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .starts_with("AADSTS")
    );
    // Next one passes.
    emu.access_token(&app).await;
}

#[tokio::test]
async fn latency_only_fault_delays_then_answers_normally() {
    let emu = start().await;
    let r = emu
        .post_json(
            "/_emulator/faults",
            json!({"path_prefix": "/v1.0", "status": 0, "latency_ms": 300, "count": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let started = Instant::now();
    let r = emu.get_with("/v1.0/organization", None, &[]).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn faults_can_be_cleared_and_never_hit_control_paths() {
    let emu = start().await;
    let r = emu
        .post_json(
            "/_emulator/faults",
            json!({"path_prefix": "/", "status": 500, "count": 5}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(emu.get("/_emulator/tenant").await.status, StatusCode::OK);
    assert_eq!(
        emu.get("/v1.0/organization").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let r = emu
        .http
        .delete(emu.url("/_emulator/faults"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        emu.get("/v1.0/organization").await.status,
        StatusCode::UNAUTHORIZED
    );

    let r = emu
        .post_json(
            "/_emulator/faults",
            json!({"path_prefix": "/_emulator/apps", "status": 500}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn stats_count_by_route_pattern_including_faulted() {
    let emu = start().await;
    let app = emu.app(&["User.Read.All"], true).await;
    let token = emu.access_token(&app).await;
    emu.access_token(&app).await;
    let bad = emu.token_with(&app, "garbage").await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    emu.post_json(
        "/_emulator/faults",
        json!({"path_prefix": "/v1.0/organization", "status": 429, "retry_after": 1, "count": 2}),
    )
    .await;
    for _ in 0..3 {
        emu.get_with("/v1.0/organization", Some(&token), &[]).await;
    }
    let domain = emu.emu.tenant_domain().to_owned();
    emu.token_form(&domain, &[("grant_type", "client_credentials")])
        .await;

    let stats = emu.get("/_emulator/stats").await.json();
    assert_eq!(
        stats["routes"],
        json!({
            "POST /{tenant}/oauth2/v2.0/token": {"200": 2, "401": 1, "400": 1},
            "GET /v1.0/organization": {"429": 2, "200": 1},
        })
    );
    assert_eq!(stats["total"], 7);

    let r = emu
        .http
        .delete(emu.url("/_emulator/stats"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let stats = emu.get("/_emulator/stats").await.json();
    assert_eq!(
        stats,
        json!({"total": 0, "routes": {}, "batch_total": 0, "batch_routes": {}})
    );
}
