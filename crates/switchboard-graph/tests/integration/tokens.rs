//! Tokens: both assertion forms, caching, refresh, and each token error the core explains.

use crate::common::*;
use switchboard_core::office365::{ConnectFailure, SigningAlgorithm};
use switchboard_core::ports::TenantGateway as _;
use switchboard_graph::{EntraGateway, GraphClient, TokenProvider};

#[tokio::test]
async fn rs256_and_ps256_tokens_succeed_and_carry_roles() {
    let h = Harness::start().await;
    let generated = generate().await;
    let app = h
        .register_app(&[&generated.certificate_pem], &ROLES, true)
        .await;
    let gateway = EntraGateway::new(h.config(), h.clock()).expect("gateway");
    for algorithm in [SigningAlgorithm::Rs256, SigningAlgorithm::Ps256] {
        // The tenant may be named by GUID or by domain.
        for tenant in [h.emulator.tenant_id(), h.emulator.tenant_domain()] {
            let owned = Owned::new(tenant, &app, algorithm, &generated);
            let token = gateway
                .acquire_token(&owned.port())
                .await
                .unwrap_or_else(|e| panic!("{algorithm:?} {tenant}: {e:?}"));
            let mut roles = token.roles.clone();
            roles.sort();
            assert_eq!(roles, ROLES);
            assert_eq!(token.tenant_id.as_deref(), Some(h.emulator.tenant_id()));
            assert!((3600..=5400).contains(&token.expires_in_secs), "{token:?}");
        }
    }
    // acquire_token always asks Entra: it proves the certificate now.
    assert_eq!(h.token_requests(200).await, 4);
}

#[tokio::test]
async fn the_token_is_cached_and_refreshed_after_the_horizon() {
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
    let tokens = TokenProvider::new(h.config(), h.clock()).expect("provider");
    let client = GraphClient::new(tokens.clone(), owned.credential());

    let first = tokens.token(&owned.credential()).await.expect("token");
    let _: serde_json::Value = client.get("/organization").await.expect("organization");
    let _: serde_json::Value = client.get("/organization").await.expect("organization");
    let again = tokens.token(&owned.credential()).await.expect("token");
    assert_eq!(h.token_requests(200).await, 1, "one token for all calls");
    assert_eq!(h.organization_requests(200).await, 2);
    assert_eq!(first.issued_at, again.issued_at);

    // A little later: still cached.
    h.clock.advance(600);
    h.advance_emulator(600).await;
    tokens.token(&owned.credential()).await.expect("token");
    assert_eq!(h.token_requests(200).await, 1);

    // Past 80 % of expires_in (at most 0.8 × 5399 s after issue): a new token.
    let horizon = first.refresh_at.duration_since(first.issued_at).as_secs();
    assert!((2880..=4320).contains(&horizon), "{horizon}");
    h.clock.advance(horizon - 600 + 1);
    h.advance_emulator(horizon - 600 + 1).await;
    let _: serde_json::Value = client.get("/organization").await.expect("organization");
    assert_eq!(
        h.token_requests(200).await,
        2,
        "refreshed after the horizon"
    );
    let refreshed = tokens.token(&owned.credential()).await.expect("token");
    assert!(refreshed.issued_at > first.issued_at);
    assert_eq!(h.token_requests(200).await, 2);
}

#[tokio::test]
async fn a_graph_401_refreshes_the_token_once() {
    let h = Harness::start().await;
    let generated = generate().await;
    let app = h
        .register_app(&[&generated.certificate_pem], &ROLES, true)
        .await;
    let owned = Owned::new(
        h.emulator.tenant_id(),
        &app,
        SigningAlgorithm::Ps256,
        &generated,
    );
    let gateway = EntraGateway::new(h.config(), h.clock()).expect("gateway");
    let client = gateway.client(owned.credential());
    let _: serde_json::Value = client.get("/organization").await.expect("organization");

    h.fault(serde_json::json!({"path_prefix": "/v1.0/organization", "status": 401, "count": 1}))
        .await;
    let _: serde_json::Value = client
        .get("/organization")
        .await
        .expect("retried after refresh");
    assert_eq!(h.token_requests(200).await, 2);
    assert_eq!(h.organization_requests(401).await, 1);
    assert_eq!(h.organization_requests(200).await, 2);

    // A second 401 in a row is Graph's answer, not a stale token: no loop.
    h.fault(serde_json::json!({"path_prefix": "/v1.0/organization", "status": 401, "count": 2}))
        .await;
    let e = client
        .get::<serde_json::Value>("/organization")
        .await
        .expect_err("401 twice");
    assert_eq!(e.status(), Some(401));
    assert_eq!(
        e.api().map(|a| a.code.as_str()),
        Some("InvalidAuthenticationToken")
    );
    assert_eq!(h.token_requests(200).await, 3);
}

async fn rejected(h: &Harness, owned: &Owned) -> (u16, String, Vec<u32>, String) {
    let gateway = EntraGateway::new(h.config(), h.clock()).expect("gateway");
    match gateway.acquire_token(&owned.port()).await {
        Err(ConnectFailure::TokenRejected {
            http_status,
            error,
            codes,
            description,
        }) => (http_status, error, codes, description),
        other => panic!("expected TokenRejected, got {other:?}"),
    }
}

#[tokio::test]
async fn token_errors_map_to_token_rejected_with_their_code() {
    let h = Harness::start().await;
    let uploaded = generate().await;
    let other = generate().await;
    let tenant = h.emulator.tenant_id().to_owned();

    // 700027: the certificate signing the assertion was never uploaded.
    let app = h
        .register_app(&[&uploaded.certificate_pem], &ROLES, true)
        .await;
    let owned = Owned::new(&tenant, &app, SigningAlgorithm::Rs256, &other);
    let (status, error, codes, description) = rejected(&h, &owned).await;
    assert_eq!(
        (status, error.as_str(), codes.as_slice()),
        (401, "invalid_client", &[700027][..])
    );
    assert!(description.starts_with("AADSTS700027"), "{description}");

    // 7000229: registered, certificate uploaded, but no admin consent (no service principal).
    let unconsented = h
        .register_app(&[&uploaded.certificate_pem], &ROLES, false)
        .await;
    let owned = Owned::new(&tenant, &unconsented, SigningAlgorithm::Ps256, &uploaded);
    let (status, error, codes, _) = rejected(&h, &owned).await;
    assert_eq!(
        (status, error.as_str(), codes.as_slice()),
        (401, "invalid_client", &[7000229][..])
    );

    // 700016: an application id the tenant has never heard of.
    let owned = Owned::new(
        &tenant,
        "0a0b0c0d-1111-4222-8333-444455556666",
        SigningAlgorithm::Rs256,
        &uploaded,
    );
    let (_, error, codes, _) = rejected(&h, &owned).await;
    assert_eq!(
        (error.as_str(), codes.as_slice()),
        ("unauthorized_client", &[700016][..])
    );

    // 700024: this server's clock is an hour behind Entra's.
    h.advance_emulator(3600).await;
    let owned = Owned::new(&tenant, &app, SigningAlgorithm::Rs256, &uploaded);
    let (status, error, codes, _) = rejected(&h, &owned).await;
    assert_eq!(
        (status, error.as_str(), codes.as_slice()),
        (401, "invalid_client", &[700024][..])
    );

    // No error text or debug output carries the private key.
    let gateway = EntraGateway::new(h.config(), h.clock()).expect("gateway");
    let e = gateway
        .acquire_token(&owned.port())
        .await
        .expect_err("skewed");
    assert_no_key(&format!("{e} {e:?}"), &uploaded);
    let e = gateway
        .client(owned.credential())
        .get::<serde_json::Value>("/organization")
        .await
        .expect_err("skewed");
    assert_no_key(&format!("{e} {e:?} {:?}", owned.credential()), &uploaded);
}

#[tokio::test]
async fn an_unreachable_login_url_is_unreachable() {
    let h = Harness::start().await;
    let generated = generate().await;
    let closed = closed_port_url().await;
    let mut config = h.config();
    config.login_url = closed.clone();
    let gateway = EntraGateway::new(config, h.clock()).expect("gateway");
    let owned = Owned::new(
        h.emulator.tenant_id(),
        "1b3c5d7e-0000-4000-8000-1234567890ab",
        SigningAlgorithm::Rs256,
        &generated,
    );
    let started = std::time::Instant::now();
    match gateway.acquire_token(&owned.port()).await {
        Err(ConnectFailure::Unreachable { host, detail }) => {
            assert_eq!(host, format!("127.0.0.1:{}", closed.port().expect("port")));
            assert!(!detail.is_empty());
            assert_no_key(&format!("{host} {detail}"), &generated);
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
