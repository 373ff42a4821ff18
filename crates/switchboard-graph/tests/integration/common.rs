//! Shared harness: an emulator per test, a movable clock, and helpers for the control API.
#![allow(dead_code)]

use graph_emulator::{EmulatorConfig, RunningEmulator};
use jiff::{SignedDuration, Timestamp};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_core::Clock;
use switchboard_core::office365::{
    CertificateInfo, ClientId, GeneratedCredential, SigningAlgorithm, TenantRef,
};
use switchboard_core::ports::{AppCredentials, CertificateFactory as _};
use switchboard_graph::{AppCredential, GraphConfig, RcgenCertificateFactory, RetryPolicy};
use url::Url;

pub const ROLES: [&str; 4] = [
    "Calendars.Read",
    "Contacts.Read",
    "Directory.Read.All",
    "User.Read.All",
];

/// Wall time plus an offset the test moves, like the emulator's own clock.
#[derive(Debug, Default)]
pub struct TestClock {
    offset: Mutex<SignedDuration>,
}

impl TestClock {
    pub fn advance(&self, seconds: i64) {
        let mut offset = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        *offset += SignedDuration::from_secs(seconds);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        let offset = *self.offset.lock().unwrap_or_else(|e| e.into_inner());
        Timestamp::now() + offset
    }
}

/// Small waits so that retry tests take milliseconds.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        max_wait: Duration::from_secs(2),
        max_total_wait: Duration::from_secs(10),
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        max_connect_retries: 1,
    }
}

pub struct Harness {
    pub emulator: RunningEmulator,
    pub control: reqwest::Client,
    pub clock: Arc<TestClock>,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(EmulatorConfig::default()).await
    }

    /// An emulator with a generated tenant of `users` people (same seed, same tenant).
    pub async fn start_with_users(users: usize, seed: u64) -> Self {
        Self::start_with(EmulatorConfig {
            users,
            seed,
            ..EmulatorConfig::default()
        })
        .await
    }

    pub async fn start_with(config: EmulatorConfig) -> Self {
        let emulator = RunningEmulator::start(EmulatorConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            ..config
        })
        .await
        .expect("emulator starts");
        Self {
            emulator,
            control: reqwest::Client::new(),
            clock: Arc::new(TestClock::default()),
        }
    }

    pub fn base(&self) -> Url {
        Url::parse(&self.emulator.base_url()).expect("base url")
    }

    /// Graph and login both on the emulator; the scope stays `https://graph.microsoft.com/.default`.
    pub fn config(&self) -> GraphConfig {
        GraphConfig {
            retry: fast_retry(),
            ..GraphConfig::with_urls(self.base(), self.base())
        }
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// A control-API call (`/_emulator/{path}`) that must succeed; its JSON answer.
    pub async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/_emulator/{path}", self.emulator.base_url());
        let mut request = self.control.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("control API answers");
        let status = response.status();
        let text = response.text().await.expect("control body");
        assert!(status.is_success(), "{url}: {status} {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("control JSON")
        }
    }

    /// Registers an app with these certificates and roles; returns its appId.
    pub async fn register_app(
        &self,
        certificates: &[&str],
        roles: &[&str],
        consent: bool,
    ) -> String {
        let created = self
            .control(
                reqwest::Method::POST,
                "apps",
                Some(json!({
                    "redirectUris": ["https://pbx.example.com/oauth2office2"],
                    "certificates": certificates,
                    "roles": roles,
                    "consentGranted": consent,
                })),
            )
            .await;
        created["appId"].as_str().expect("appId").to_owned()
    }

    pub async fn fault(&self, fault: Value) {
        self.control(reqwest::Method::POST, "faults", Some(fault))
            .await;
    }

    pub async fn advance_emulator(&self, seconds: i64) {
        self.control(
            reqwest::Method::POST,
            "clock",
            Some(json!({ "advance_seconds": seconds })),
        )
        .await;
    }

    pub async fn stats(&self) -> Value {
        self.control(reqwest::Method::GET, "stats", None).await
    }

    /// Count of `METHOD route` answered with `status` (0 when never seen).
    pub async fn count(&self, route: &str, status: u16) -> u64 {
        self.stats().await["routes"][route][status.to_string()]
            .as_u64()
            .unwrap_or(0)
    }

    pub async fn token_requests(&self, status: u16) -> u64 {
        self.count("POST /{tenant}/oauth2/v2.0/token", status).await
    }

    pub async fn organization_requests(&self, status: u16) -> u64 {
        self.count("GET /v1.0/organization", status).await
    }
}

pub async fn generate() -> GeneratedCredential {
    RcgenCertificateFactory::new()
        .generate(
            "Switchboard Test",
            Timestamp::now() - SignedDuration::from_hours(1),
            30,
        )
        .await
        .expect("certificate")
}

/// What the core would hand the gateway.
pub struct Owned {
    pub tenant: TenantRef,
    pub client_id: ClientId,
    pub algorithm: SigningAlgorithm,
    pub certificate: CertificateInfo,
    pub key: secrecy::SecretString,
}

impl Owned {
    pub fn new(
        tenant: &str,
        client_id: &str,
        algorithm: SigningAlgorithm,
        generated: &GeneratedCredential,
    ) -> Self {
        Self {
            tenant: TenantRef::parse(tenant).expect("tenant"),
            client_id: ClientId::parse(client_id).expect("client id"),
            algorithm,
            certificate: generated.info.clone(),
            key: generated.private_key_pem.clone(),
        }
    }

    pub fn port(&self) -> AppCredentials<'_> {
        AppCredentials {
            tenant: &self.tenant,
            client_id: &self.client_id,
            algorithm: self.algorithm,
            certificate: &self.certificate,
            private_key_pem: &self.key,
        }
    }

    pub fn credential(&self) -> AppCredential {
        AppCredential::from_port(&self.port())
    }
}

/// Fails if any line of the private key's base64 body shows up in `shown`.
pub fn assert_no_key(shown: &str, generated: &GeneratedCredential) {
    for line in generated
        .private_key_pem
        .expose_secret()
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
    {
        assert!(
            !shown.contains(line),
            "private key material leaked into: {shown}"
        );
    }
    assert!(
        !shown.contains("PRIVATE KEY"),
        "private key leaked into: {shown}"
    );
}

/// A local port nothing listens on.
pub async fn closed_port_url() -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    Url::parse(&format!("http://{addr}")).expect("url")
}
