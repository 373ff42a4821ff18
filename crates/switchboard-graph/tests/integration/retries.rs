//! Throttling: fractional Retry-After, 503/504 bursts, and a bounded budget.

use crate::common::*;
use serde_json::json;
use std::time::{Duration, Instant};
use switchboard_core::office365::{ConnectFailure, SigningAlgorithm};
use switchboard_core::ports::TenantGateway as _;
use switchboard_graph::{EntraGateway, GraphError, RetryPolicy};

async fn setup(h: &Harness, retry: RetryPolicy) -> (EntraGateway, Owned) {
    let generated = generate().await;
    let app = h
        .register_app(&[&generated.certificate_pem], &ROLES, true)
        .await;
    let owned = Owned::new(
        h.emulator.tenant_id(),
        &app,
        SigningAlgorithm::Rs256,
        &generated,
    );
    let mut config = h.config();
    config.retry = retry;
    let gateway = EntraGateway::new(config, h.clock()).expect("gateway");
    // Take the token first so that the counts below are Graph's only.
    gateway.acquire_token(&owned.port()).await.expect("token");
    (gateway, owned)
}

#[tokio::test]
async fn fractional_retry_after_429s_are_waited_out() {
    let h = Harness::start().await;
    let (gateway, owned) = setup(&h, fast_retry()).await;
    h.fault(json!({"path_prefix": "/v1.0/organization", "status": 429, "retry_after": "0.249", "count": 1}))
        .await;
    h.fault(json!({"path_prefix": "/v1.0/organization", "status": 429, "retry_after": "0.124", "count": 1}))
        .await;
    let started = Instant::now();
    let org = gateway
        .organization(&owned.port())
        .await
        .expect("succeeds after throttling");
    assert_eq!(org.display_name, "Contoso");
    // Waited at least what Graph asked for (0.249 s + 0.124 s).
    assert!(
        started.elapsed() >= Duration::from_millis(373),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(h.organization_requests(429).await, 2);
    assert_eq!(h.organization_requests(200).await, 1);
}

#[tokio::test]
async fn bursts_of_503_and_504_back_off_and_succeed() {
    let h = Harness::start().await;
    let (gateway, owned) = setup(&h, fast_retry()).await;
    h.fault(json!({"path_prefix": "/v1.0/organization", "status": 503, "count": 3}))
        .await;
    h.fault(json!({"path_prefix": "/v1.0/organization", "status": 504, "count": 1}))
        .await;
    gateway
        .organization(&owned.port())
        .await
        .expect("succeeds after the burst");
    assert_eq!(h.organization_requests(503).await, 3);
    assert_eq!(h.organization_requests(504).await, 1);
    assert_eq!(h.organization_requests(200).await, 1);

    // 503 with a Retry-After is honoured too.
    h.fault(
        json!({"path_prefix": "/v1.0/organization", "status": 503, "retry_after": "1", "count": 1}),
    )
    .await;
    let started = Instant::now();
    gateway.organization(&owned.port()).await.expect("succeeds");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn the_retry_budget_ends_in_an_error_not_a_hang() {
    let h = Harness::start().await;
    let retry = RetryPolicy {
        max_attempts: 3,
        ..fast_retry()
    };
    let (gateway, owned) = setup(&h, retry).await;
    h.fault(json!({"path_prefix": "/v1.0/organization", "status": 429, "retry_after": "0.01", "count": 100}))
        .await;
    let e = gateway
        .client(owned.credential())
        .get::<serde_json::Value>("/organization")
        .await
        .expect_err("budget exhausted");
    match &e {
        GraphError::RetriesExhausted { attempts, last, .. } => {
            assert_eq!(*attempts, 3);
            assert_eq!(last.status, 429);
            assert_eq!(last.code, "TooManyRequests");
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    assert_eq!(h.organization_requests(429).await, 3);
    // Through the gateway it is a protocol failure the core can show.
    match gateway.organization(&owned.port()).await {
        Err(ConnectFailure::Protocol(detail)) => assert!(detail.contains("429"), "{detail}"),
        other => panic!("expected Protocol, got {other:?}"),
    }

    // The total-wait bound: a Retry-After beyond it stops at once instead of sleeping.
    let retry = RetryPolicy {
        max_total_wait: Duration::from_secs(1),
        ..fast_retry()
    };
    let h2 = Harness::start().await;
    let (gateway, owned) = setup(&h2, retry).await;
    h2.fault(json!({"path_prefix": "/v1.0/organization", "status": 429, "retry_after": "30", "count": 5}))
        .await;
    let started = Instant::now();
    let e = gateway
        .client(owned.credential())
        .get::<serde_json::Value>("/organization")
        .await
        .expect_err("would wait too long");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(e.status(), Some(429));
    assert_eq!(
        e.api().and_then(|a| a.retry_after),
        Some(Duration::from_secs(30))
    );
}

#[tokio::test]
async fn token_endpoint_throttling_is_retried_too() {
    let h = Harness::start().await;
    let generated = generate().await;
    let app = h
        .register_app(&[&generated.certificate_pem], &ROLES, true)
        .await;
    let owned = Owned::new(
        h.emulator.tenant_id(),
        &app,
        SigningAlgorithm::Rs256,
        &generated,
    );
    let gateway = EntraGateway::new(h.config(), h.clock()).expect("gateway");
    let prefix = format!("/{}/oauth2/v2.0/token", h.emulator.tenant_id());
    h.fault(json!({"path_prefix": prefix, "status": 429, "retry_after": "0.05", "count": 2}))
        .await;
    gateway
        .acquire_token(&owned.port())
        .await
        .expect("token after throttling");
    assert_eq!(h.token_requests(429).await, 2);
    assert_eq!(h.token_requests(200).await, 1);
}
