#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! The Configure workflow against in-memory ports: what the admin sees after each step.

use async_trait::async_trait;
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use switchboard_core::Clock;
use switchboard_core::auth::{AdminUser, ApiTokenRecord, SessionRecord};
use switchboard_core::office365::*;
use switchboard_core::ports::*;

#[derive(Debug, Default)]
struct MemStore {
    connection: Mutex<Connection>,
    states: Mutex<HashMap<String, Timestamp>>,
}

#[async_trait]
impl Store for MemStore {
    async fn load_connection(&self) -> Result<Connection, StoreError> {
        Ok(self.connection.lock().unwrap().clone())
    }
    async fn save_connection(&self, c: &Connection) -> Result<(), StoreError> {
        *self.connection.lock().unwrap() = c.clone();
        Ok(())
    }
    async fn put_consent_state(&self, s: &str, exp: Timestamp) -> Result<(), StoreError> {
        self.states.lock().unwrap().insert(s.into(), exp);
        Ok(())
    }
    async fn take_consent_state(&self, s: &str, now: Timestamp) -> Result<bool, StoreError> {
        Ok(self
            .states
            .lock()
            .unwrap()
            .remove(s)
            .is_some_and(|e| e > now))
    }
    async fn create_admin(&self, _: &AdminUser) -> Result<(), StoreError> {
        Ok(())
    }
    async fn find_admin(&self, _: &str) -> Result<Option<AdminUser>, StoreError> {
        Ok(None)
    }
    async fn set_admin_password(&self, _: &str, _: &str) -> Result<bool, StoreError> {
        Ok(false)
    }
    async fn count_admins(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
    async fn create_session(&self, _: &SessionRecord) -> Result<(), StoreError> {
        Ok(())
    }
    async fn find_session(
        &self,
        _: &str,
        _: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        Ok(None)
    }
    async fn delete_session(&self, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn delete_sessions_of(&self, _: &str) -> Result<u64, StoreError> {
        Ok(0)
    }
    async fn create_api_token(&self, _: &ApiTokenRecord) -> Result<(), StoreError> {
        Ok(())
    }
    async fn find_api_token(&self, _: &str) -> Result<Option<ApiTokenRecord>, StoreError> {
        Ok(None)
    }
}

#[derive(Debug, Default)]
struct MemVault(Mutex<HashMap<String, String>>);

#[async_trait]
impl KeyVault for MemVault {
    async fn put(&self, key: &SecretString) -> Result<String, VaultError> {
        let r = format!("{}.key", uuid::Uuid::new_v4());
        self.0
            .lock()
            .unwrap()
            .insert(r.clone(), key.expose_secret().to_owned());
        Ok(r)
    }
    async fn get(&self, r: &str) -> Result<SecretString, VaultError> {
        self.0
            .lock()
            .unwrap()
            .get(r)
            .map(|k| SecretString::from(k.clone()))
            .ok_or_else(|| VaultError::NotFound(r.into()))
    }
    async fn delete(&self, r: &str) -> Result<(), VaultError> {
        self.0.lock().unwrap().remove(r);
        Ok(())
    }
}

#[derive(Debug, Default)]
struct CountingFactory(Mutex<u32>);

#[async_trait]
impl CertificateFactory for CountingFactory {
    async fn generate(
        &self,
        subject: &str,
        nb: Timestamp,
        days: u32,
    ) -> Result<GeneratedCredential, CertificateError> {
        let mut n = self.0.lock().unwrap();
        *n += 1;
        Ok(GeneratedCredential {
            certificate_pem: format!("CERT-{n}"),
            private_key_pem: SecretString::from(format!("KEY-{n}")),
            info: CertificateInfo {
                subject: format!("CN={subject}"),
                thumbprint_sha1: format!("SHA1-{n}"),
                thumbprint_sha256: format!("SHA256-{n}"),
                x5t: format!("x5t-{n}"),
                x5t_s256: format!("x5ts-{n}"),
                not_before: nb,
                not_after: nb + jiff::SignedDuration::from_hours(24 * i64::from(days)),
            },
        })
    }
}

/// Entra as the admin has set it up: which certificates are uploaded, which roles granted.
#[derive(Debug, Default)]
struct FakeTenant {
    uploaded: Mutex<HashSet<String>>,
    roles: Mutex<Vec<String>>,
}

#[async_trait]
impl TenantGateway for FakeTenant {
    async fn acquire_token(&self, c: &AppCredentials<'_>) -> Result<AppToken, ConnectFailure> {
        assert!(c.private_key_pem.expose_secret().starts_with("KEY-"));
        if !self
            .uploaded
            .lock()
            .unwrap()
            .contains(&c.certificate.thumbprint_sha1)
        {
            return Err(ConnectFailure::TokenRejected {
                http_status: 401,
                error: "invalid_client".into(),
                codes: vec![700027],
                description: "AADSTS700027: Client assertion contains an invalid signature.".into(),
            });
        }
        Ok(AppToken {
            roles: self.roles.lock().unwrap().clone(),
            tenant_id: Some("tid".into()),
            expires_in_secs: 3600,
        })
    }
    async fn organization(&self, _: &AppCredentials<'_>) -> Result<Organization, ConnectFailure> {
        Ok(Organization {
            id: "tid".into(),
            display_name: "Contoso".into(),
            default_domain: Some("contoso.onmicrosoft.com".into()),
        })
    }
}

#[derive(Debug)]
struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        "2026-11-28T10:00:00Z".parse().unwrap()
    }
}

struct World {
    service: ConnectionService,
    tenant: Arc<FakeTenant>,
    vault: Arc<MemVault>,
}

fn world() -> World {
    let tenant = Arc::new(FakeTenant::default());
    *tenant.roles.lock().unwrap() = REQUIRED_PERMISSIONS
        .iter()
        .map(|p| p.name.to_owned())
        .collect();
    let vault = Arc::new(MemVault::default());
    let service = ConnectionService::new(
        Arc::new(MemStore::default()),
        vault.clone(),
        Arc::new(CountingFactory::default()),
        tenant.clone(),
        Arc::new(FixedClock),
        ServiceOptions {
            login_url: "https://login.example".parse().unwrap(),
            redirect_url: "https://pbx.example/oauth2office2".into(),
            certificate_subject: "Switchboard".into(),
            certificate_validity_days: 730,
        },
    );
    World {
        service,
        tenant,
        vault,
    }
}

fn state_of(url: &url::Url) -> String {
    url.query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

fn granted(state: String) -> ConsentCallback {
    ConsentCallback {
        state: Some(state),
        admin_consent: Some("True".into()),
        tenant: Some("tid".into()),
        ..Default::default()
    }
}

async fn configured(w: &World) {
    w.service
        .update(ConnectionUpdate {
            client_id: Some("1b3c5d7e-0000-4000-8000-1234567890ab".into()),
            tenant: Some("contoso.onmicrosoft.com".into()),
            algorithm: None,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn walks_from_not_configured_to_connected() {
    let w = world();
    assert_eq!(
        w.service.settings().await.unwrap().status,
        ConnectionStatus::NotConfigured
    );
    configured(&w).await;
    assert_eq!(
        w.service.settings().await.unwrap().status,
        ConnectionStatus::NotConfigured
    );
    let (s, pem) = w.service.generate_keypair().await.unwrap();
    assert_eq!(pem, "CERT-1");
    assert_eq!(s.status, ConnectionStatus::AwaitingConsent);
    assert_eq!(s.certificate.as_ref().unwrap().days_left, 730);
    w.tenant.uploaded.lock().unwrap().insert("SHA1-1".into());
    let url = w.service.begin_consent().await.unwrap();
    assert!(url.as_str().starts_with(
        "https://login.example/contoso.onmicrosoft.com/adminconsent?client_id=1b3c5d7e"
    ));
    let state = state_of(&url);
    let s = w
        .service
        .complete_consent(&granted(state.clone()))
        .await
        .unwrap();
    assert_eq!(s.status, ConnectionStatus::Connected, "{}", s.message);
    assert_eq!(s.message, "Connected to Contoso (contoso.onmicrosoft.com).");
    assert!(s.missing_permissions.is_empty());
    // The state is single use.
    assert!(matches!(
        w.service.complete_consent(&granted(state)).await,
        Err(ServiceError::UnknownConsentState)
    ));
}

#[tokio::test]
async fn certificate_not_uploaded_says_so() {
    let w = world();
    configured(&w).await;
    w.service.generate_keypair().await.unwrap();
    let state = state_of(&w.service.begin_consent().await.unwrap());
    let s = w.service.complete_consent(&granted(state)).await.unwrap();
    assert_eq!(s.status, ConnectionStatus::Error);
    assert!(s.message.contains("thumbprint SHA1-1"), "{}", s.message);
    assert!(s.message.contains("Certificates & secrets"));
}

#[tokio::test]
async fn declined_consent_is_an_error_with_advice() {
    let w = world();
    configured(&w).await;
    w.service.generate_keypair().await.unwrap();
    let state = state_of(&w.service.begin_consent().await.unwrap());
    let s = w
        .service
        .complete_consent(&ConsentCallback {
            state: Some(state),
            admin_consent: Some("True".into()),
            error: Some("access_denied".into()),
            error_description: Some(
                "AADSTS65004: User declined to consent to access the app.".into(),
            ),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(s.status, ConnectionStatus::Error);
    assert!(
        s.message.starts_with("Consent was declined"),
        "{}",
        s.message
    );
}

#[tokio::test]
async fn missing_roles_are_named_and_granted_ones_kept() {
    let w = world();
    *w.tenant.roles.lock().unwrap() = vec!["Contacts.Read".into(), "Calendars.Read".into()];
    configured(&w).await;
    w.service.generate_keypair().await.unwrap();
    w.tenant.uploaded.lock().unwrap().insert("SHA1-1".into());
    let s = w.service.verify().await.unwrap();
    assert_eq!(s.status, ConnectionStatus::Error);
    assert!(
        s.message
            .contains("Directory.Read.All, User.Read.All, MailboxSettings.Read"),
        "{}",
        s.message
    );
    assert_eq!(
        s.missing_permissions,
        [
            "Directory.Read.All",
            "User.Read.All",
            "MailboxSettings.Read"
        ]
    );
    assert_eq!(s.granted_roles.len(), 2);
}

#[tokio::test]
async fn rotation_keeps_the_old_certificate_until_the_new_one_works() {
    let w = world();
    configured(&w).await;
    w.service.generate_keypair().await.unwrap();
    w.tenant.uploaded.lock().unwrap().insert("SHA1-1".into());
    assert_eq!(
        w.service.verify().await.unwrap().status,
        ConnectionStatus::Connected
    );

    let (s, pem) = w.service.generate_keypair().await.unwrap();
    assert_eq!(pem, "CERT-2");
    assert_eq!(s.status, ConnectionStatus::Connected);
    assert_eq!(s.certificate.unwrap().thumbprint_sha1, "SHA1-1");
    assert_eq!(s.pending_certificate.unwrap().thumbprint_sha1, "SHA1-2");
    assert_eq!(
        w.service.certificate_pem().await.unwrap().as_deref(),
        Some("CERT-2")
    );

    // Not uploaded yet: still connected on the old one, and told why the new one is not in use.
    let s = w.service.verify().await.unwrap();
    assert_eq!(s.status, ConnectionStatus::Connected);
    assert!(
        s.message
            .contains("the new one (thumbprint SHA1-2) is not accepted yet"),
        "{}",
        s.message
    );
    assert_eq!(w.vault.0.lock().unwrap().len(), 2);

    w.tenant.uploaded.lock().unwrap().insert("SHA1-2".into());
    let s = w.service.verify().await.unwrap();
    assert_eq!(s.status, ConnectionStatus::Connected);
    assert_eq!(s.certificate.unwrap().thumbprint_sha1, "SHA1-2");
    assert!(s.pending_certificate.is_none());
    assert_eq!(
        w.vault.0.lock().unwrap().len(),
        1,
        "the old private key is deleted"
    );
}

#[tokio::test]
async fn changing_the_app_id_starts_consent_over() {
    let w = world();
    configured(&w).await;
    w.service.generate_keypair().await.unwrap();
    w.tenant.uploaded.lock().unwrap().insert("SHA1-1".into());
    assert_eq!(
        w.service.verify().await.unwrap().status,
        ConnectionStatus::Connected
    );
    let s = w
        .service
        .update(ConnectionUpdate {
            client_id: Some("2b3c5d7e-0000-4000-8000-1234567890ab".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(s.status, ConnectionStatus::AwaitingConsent);
    assert_eq!(s.consent, ConsentState::NotRequested);
    assert!(s.granted_roles.is_empty());
}

#[tokio::test]
async fn invalid_ids_are_rejected_and_nothing_is_saved() {
    let w = world();
    let err = w
        .service
        .update(ConnectionUpdate {
            client_id: Some("not-a-guid".into()),
            tenant: Some("contoso.com".into()),
            algorithm: None,
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("must be a GUID"));
    assert!(w.service.settings().await.unwrap().tenant.is_none());
    assert!(matches!(
        w.service.begin_consent().await,
        Err(ServiceError::NotReady(_))
    ));
}
