//! The core's TenantGateway: the organization check and how Graph failures read to the core.

use crate::common::*;
use switchboard_core::office365::{ConnectFailure, SigningAlgorithm};
use switchboard_core::ports::TenantGateway as _;
use switchboard_graph::EntraGateway;

#[tokio::test]
async fn organization_reads_name_id_and_default_domain() {
    let h = Harness::start().await;
    let generated = generate().await;
    let app = h
        .register_app(&[&generated.certificate_pem], &ROLES, true)
        .await;
    let owned = Owned::new(
        h.emulator.tenant_domain(),
        &app,
        SigningAlgorithm::Rs256,
        &generated,
    );
    let gateway = EntraGateway::new(h.config(), h.clock()).expect("gateway");
    let token = gateway.acquire_token(&owned.port()).await.expect("token");
    let org = gateway
        .organization(&owned.port())
        .await
        .expect("organization");
    assert_eq!(org.id, h.emulator.tenant_id());
    assert_eq!(Some(org.id.as_str()), token.tenant_id.as_deref());
    assert_eq!(org.display_name, "Contoso");
    assert_eq!(
        org.default_domain.as_deref(),
        Some(h.emulator.tenant_domain())
    );
    // The token from acquire_token served the Graph call.
    assert_eq!(h.token_requests(200).await, 1);
    assert_eq!(h.organization_requests(200).await, 1);
}

#[tokio::test]
async fn a_token_without_roles_is_issued_and_graph_answers_403() {
    let h = Harness::start().await;
    let generated = generate().await;
    let app = h
        .register_app(&[&generated.certificate_pem], &[], true)
        .await;
    let owned = Owned::new(
        h.emulator.tenant_id(),
        &app,
        SigningAlgorithm::Rs256,
        &generated,
    );
    let gateway = EntraGateway::new(h.config(), h.clock()).expect("gateway");
    let token = gateway
        .acquire_token(&owned.port())
        .await
        .expect("token without roles");
    assert!(token.roles.is_empty());
    match gateway.organization(&owned.port()).await {
        Err(ConnectFailure::GraphRejected {
            status,
            code,
            message,
        }) => {
            assert_eq!(status, 403);
            assert_eq!(code, "Authorization_RequestDenied");
            assert!(!message.is_empty());
        }
        other => panic!("expected GraphRejected, got {other:?}"),
    }
    // 403 is not retried.
    assert_eq!(h.organization_requests(403).await, 1);

    let e = gateway
        .client(owned.credential())
        .get::<serde_json::Value>("/organization")
        .await
        .expect_err("403");
    let shown = e.to_string();
    assert!(shown.contains("403 Authorization_RequestDenied"), "{shown}");
    assert!(shown.contains("request-id"), "{shown}");
    assert_no_key(&format!("{shown} {e:?}"), &generated);
}

#[tokio::test]
async fn graph_unreachable_is_unreachable_with_the_graph_host() {
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
    let closed = closed_port_url().await;
    let mut config = h.config();
    config.graph_url = closed.clone();
    let gateway = EntraGateway::new(config, h.clock()).expect("gateway");
    match gateway.organization(&owned.port()).await {
        Err(ConnectFailure::Unreachable { host, .. }) => {
            assert_eq!(host, format!("127.0.0.1:{}", closed.port().expect("port")));
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
}
