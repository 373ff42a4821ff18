#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! The core's SubscriptionApi against the emulator: the validation handshake reaches our
//! receiver, the granted expiry is read back (shortened when Graph says so), renew, reauthorize
//! and delete work, and a user change is delivered with our clientState.

use crate::common::*;
use async_trait::async_trait;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::post;
use jiff::{Timestamp, ToSpan};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use switchboard_core::office365::SigningAlgorithm;
use switchboard_core::ports::{
    CredentialSource, DirectoryError, NewSubscription, OwnedAppCredentials, SubscriptionApi,
};
use switchboard_graph::{GraphSubscriptions, TokenProvider};

#[derive(Debug)]
struct FixedCredentials(OwnedAppCredentials);

#[async_trait]
impl CredentialSource for FixedCredentials {
    async fn app_credentials(&self) -> Result<OwnedAppCredentials, DirectoryError> {
        Ok(self.0.clone())
    }
}

type Received = Arc<Mutex<Vec<Value>>>;

/// A webhook like ours: echoes validation tokens, keeps notifications.
async fn receiver() -> (String, Received) {
    async fn hook(
        State(received): State<Received>,
        Query(q): Query<HashMap<String, String>>,
        body: String,
    ) -> (axum::http::StatusCode, String) {
        if let Some(token) = q.get("validationToken") {
            return (axum::http::StatusCode::OK, token.clone());
        }
        if let Ok(v) = serde_json::from_str(&body) {
            received.lock().unwrap().push(v);
        }
        (axum::http::StatusCode::ACCEPTED, String::new())
    }
    let received: Received = Arc::default();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

async fn subscriptions(h: &Harness, roles: &[&str]) -> GraphSubscriptions {
    let generated = generate().await;
    let app = h
        .register_app(&[&generated.certificate_pem], roles, true)
        .await;
    let owned = Owned::new(
        h.emulator.tenant_id(),
        &app,
        SigningAlgorithm::Rs256,
        &generated,
    );
    let credentials = OwnedAppCredentials {
        tenant: owned.tenant.clone(),
        client_id: owned.client_id.clone(),
        algorithm: owned.algorithm,
        certificate: owned.certificate.clone(),
        private_key_pem: owned.key.clone(),
    };
    let tokens = TokenProvider::new(h.config(), h.clock()).expect("tokens");
    GraphSubscriptions::new(tokens, Arc::new(FixedCredentials(credentials)))
}

fn request(url: &str, minutes: i64) -> NewSubscription {
    NewSubscription {
        resource: "users".into(),
        change_type: "updated,deleted".into(),
        notification_url: url.into(),
        lifecycle_notification_url: url.into(),
        expiration: Timestamp::now() + minutes.minutes(),
        client_state: SecretString::from("s3cret-client-state"),
    }
}

#[tokio::test]
async fn create_renew_notify_reauthorize_delete() {
    let h = Harness::start_with_users(5, 1).await;
    let subs = subscriptions(&h, &["User.Read.All", "Directory.Read.All"]).await;
    let (url, received) = receiver().await;

    let granted = subs.create(&request(&url, 60 * 24)).await.expect("created");
    assert_eq!(granted.resource, "users");
    let left = granted
        .expires_at
        .duration_since(Timestamp::now())
        .as_secs();
    assert!(
        (60 * 60 * 24 - 120..=60 * 60 * 24).contains(&left),
        "{left}"
    );

    // A user change arrives with our clientState.
    let users = h.control(Method::GET, "users?limit=1", None).await;
    let id = users["value"][0]["id"].as_str().unwrap().to_owned();
    h.control(
        Method::PATCH,
        &format!("users/{id}"),
        Some(json!({"jobTitle": "Notified"})),
    )
    .await;
    let mut delivered = None;
    for _ in 0..50 {
        if let Some(v) = received.lock().unwrap().first().cloned() {
            delivered = Some(v);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let n = &delivered.expect("a notification")["value"][0];
    assert_eq!(n["subscriptionId"], granted.id.as_str());
    assert_eq!(n["clientState"], "s3cret-client-state");
    assert_eq!(n["resourceData"]["id"], id.as_str());

    // Graph shortens what we ask for: we read back what it granted.
    h.control(
        Method::POST,
        "subscriptions/config",
        Some(json!({"max_lifetime_minutes": 120})),
    )
    .await;
    let renewed = subs
        .renew(&granted.id, Timestamp::now() + 72.hours())
        .await
        .expect("renewed");
    let left = renewed
        .expires_at
        .duration_since(Timestamp::now())
        .as_secs();
    assert!(
        (120 * 60 - 120..=120 * 60).contains(&left),
        "shortened to 2 h, got {left} s"
    );

    subs.reauthorize(&granted.id).await.expect("reauthorized");
    subs.delete(&granted.id).await.expect("deleted");
    subs.delete(&granted.id)
        .await
        .expect("deleting again is fine");
    assert!(
        subs.renew(&granted.id, Timestamp::now() + 1.hours())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_webhook_that_fails_the_handshake_or_a_missing_role_is_an_error() {
    let h = Harness::start().await;
    let subs = subscriptions(&h, &["User.Read.All"]).await;
    let err = subs
        .create(&request(closed_port_url().await.as_ref(), 60))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::Protocol(_) | DirectoryError::Denied(_)),
        "{err:?}"
    );

    let subs = subscriptions(&h, &["Directory.Read.All"]).await;
    let (url, _) = receiver().await;
    let err = subs.create(&request(&url, 60)).await.unwrap_err();
    let DirectoryError::Denied(text) = err else {
        panic!("expected Denied, got {err:?}")
    };
    assert!(text.contains("User.Read.All"), "{text}");
}
