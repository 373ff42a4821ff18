//! The Configure workflow written against the ports: save ids, generate/rotate the key pair,
//! start admin consent, take its answer, and prove the connection with a real token.

use super::consent::explain_denial;
use super::{
    CertificateInfo, ClientId, ConnectFailure, Connection, ConnectionStatus, ConsentCallback,
    ConsentOutcome, ConsentState, IdError, Permission, REQUIRED_PERMISSIONS, SigningAlgorithm,
    StoredCredential, TenantRef, admin_consent_url, explain_failure, missing_permissions,
};
use crate::clock::Clock;
use crate::ports::{
    AppCredentials, CertificateError, CertificateFactory, CredentialSource, DirectoryError,
    KeyVault, OwnedAppCredentials, Store, StoreError, TenantGateway, VaultError,
};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use url::Url;

/// How long a "Sign in to Office 365" click stays valid.
const CONSENT_STATE_LIFETIME: SignedDuration = SignedDuration::from_mins(30);

#[derive(Debug, Clone)]
pub struct ServiceOptions {
    pub login_url: Url,
    /// `{public_url}/oauth2office2`
    pub redirect_url: String,
    pub certificate_subject: String,
    pub certificate_validity_days: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    InvalidId(#[from] IdError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotReady(String),
    #[error(
        "This sign-in answer does not belong to a sign-in started here, or was already used. \
         Click Sign in to Office 365 again."
    )]
    UnknownConsentState,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Certificate(#[from] CertificateError),
}

/// What the admin may change on the Configure page.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConnectionUpdate {
    pub client_id: Option<String>,
    pub tenant: Option<String>,
    pub algorithm: Option<String>,
}

/// Public view of a certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateView {
    pub subject: String,
    pub thumbprint_sha1: String,
    pub thumbprint_sha256: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub days_left: i64,
    pub expires_soon: bool,
    pub expired: bool,
}

impl CertificateView {
    fn new(info: &CertificateInfo, now: Timestamp) -> Self {
        Self {
            subject: info.subject.clone(),
            thumbprint_sha1: info.thumbprint_sha1.clone(),
            thumbprint_sha256: info.thumbprint_sha256.clone(),
            not_before: info.not_before,
            not_after: info.not_after,
            days_left: info.days_left(now),
            expires_soon: info.expires_soon(now),
            expired: info.is_expired(now),
        }
    }
}

/// `GET /api/v1/settings/office365`. Carries no secret.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionSettings {
    pub client_id: Option<String>,
    pub tenant: Option<String>,
    pub tenant_id: Option<String>,
    pub organization_name: Option<String>,
    pub redirect_url: String,
    pub status: ConnectionStatus,
    pub message: String,
    pub algorithm: SigningAlgorithm,
    pub consent: ConsentState,
    pub certificate: Option<CertificateView>,
    pub pending_certificate: Option<CertificateView>,
    pub required_permissions: Vec<Permission>,
    pub granted_roles: Vec<String>,
    pub missing_permissions: Vec<String>,
    pub last_token_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct ConnectionService {
    store: Arc<dyn Store>,
    vault: Arc<dyn KeyVault>,
    factory: Arc<dyn CertificateFactory>,
    gateway: Arc<dyn TenantGateway>,
    clock: Arc<dyn Clock>,
    options: ServiceOptions,
}

impl ConnectionService {
    pub fn new(
        store: Arc<dyn Store>,
        vault: Arc<dyn KeyVault>,
        factory: Arc<dyn CertificateFactory>,
        gateway: Arc<dyn TenantGateway>,
        clock: Arc<dyn Clock>,
        options: ServiceOptions,
    ) -> Self {
        Self {
            store,
            vault,
            factory,
            gateway,
            clock,
            options,
        }
    }

    pub fn redirect_url(&self) -> &str {
        &self.options.redirect_url
    }

    pub async fn settings(&self) -> Result<ConnectionSettings, ServiceError> {
        let conn = self.store.load_connection().await?;
        Ok(self.view(&conn))
    }

    fn view(&self, conn: &Connection) -> ConnectionSettings {
        let now = self.clock.now();
        let missing =
            if conn.status == ConnectionStatus::Connected || !conn.granted_roles.is_empty() {
                missing_permissions(&conn.granted_roles)
                    .iter()
                    .map(|p| p.name.to_owned())
                    .collect()
            } else {
                Vec::new()
            };
        let mut message = conn.message.clone();
        if let Some(active) = &conn.active
            && conn.status == ConnectionStatus::Connected
        {
            if active.info.is_expired(now) {
                message = "The certificate has expired: generate a new key pair, upload public_key.pem and sign in again.".into();
            } else if active.info.expires_soon(now) && conn.pending.is_none() {
                message = format!(
                    "{} The certificate expires in {} days: generate a new key pair, upload it, then sign in again.",
                    message,
                    active.info.days_left(now)
                );
            }
        }
        ConnectionSettings {
            client_id: conn.client_id.as_ref().map(|c| c.to_string()),
            tenant: conn.tenant.as_ref().map(|t| t.to_string()),
            tenant_id: conn.tenant_id.clone(),
            organization_name: conn.organization_name.clone(),
            redirect_url: self.options.redirect_url.clone(),
            status: conn.status,
            message,
            algorithm: conn.algorithm,
            consent: conn.consent,
            certificate: conn
                .active
                .as_ref()
                .map(|c| CertificateView::new(&c.info, now)),
            pending_certificate: conn
                .pending
                .as_ref()
                .map(|c| CertificateView::new(&c.info, now)),
            required_permissions: REQUIRED_PERMISSIONS.to_vec(),
            granted_roles: conn.granted_roles.clone(),
            missing_permissions: missing,
            last_token_at: conn.last_token_at,
        }
    }

    async fn save(&self, conn: &mut Connection) -> Result<ConnectionSettings, ServiceError> {
        conn.updated_at = Some(self.clock.now());
        self.store.save_connection(conn).await?;
        Ok(self.view(conn))
    }

    /// Saves the ids; changing either starts the consent over.
    pub async fn update(
        &self,
        update: ConnectionUpdate,
    ) -> Result<ConnectionSettings, ServiceError> {
        let mut conn = self.store.load_connection().await?;
        let client_id = update
            .client_id
            .as_deref()
            .map(ClientId::parse)
            .transpose()?;
        let tenant = update.tenant.as_deref().map(TenantRef::parse).transpose()?;
        let algorithm = match update.algorithm.as_deref() {
            None => None,
            Some(a) => Some(SigningAlgorithm::parse(a).ok_or_else(|| {
                ServiceError::Invalid(format!(
                    "unknown signing algorithm \"{a}\": use RS256 or PS256"
                ))
            })?),
        };
        let mut ids_changed = false;
        if let Some(c) = client_id
            && conn.client_id.as_ref() != Some(&c)
        {
            conn.client_id = Some(c);
            ids_changed = true;
        }
        if let Some(t) = tenant
            && conn.tenant.as_ref() != Some(&t)
        {
            conn.tenant = Some(t);
            ids_changed = true;
        }
        if let Some(a) = algorithm {
            conn.algorithm = a;
        }
        if ids_changed {
            conn.consent = ConsentState::NotRequested;
            conn.tenant_id = None;
            conn.organization_name = None;
            conn.granted_roles.clear();
            conn.status = conn.configured_status();
            conn.message = conn.configured_message();
        }
        self.save(&mut conn).await
    }

    /// Makes a new key pair. The first one becomes active at once; later ones wait as "pending"
    /// until a token signed with them succeeds, so the connection keeps working during rotation.
    /// Returns the new certificate (PEM) for download.
    pub async fn generate_keypair(&self) -> Result<(ConnectionSettings, String), ServiceError> {
        let now = self.clock.now();
        let generated = self
            .factory
            .generate(
                &self.options.certificate_subject,
                now,
                self.options.certificate_validity_days,
            )
            .await?;
        let key_ref = self.vault.put(&generated.private_key_pem).await?;
        let stored = StoredCredential {
            certificate_pem: generated.certificate_pem.clone(),
            key_ref,
            info: generated.info,
            created_at: now,
        };
        let mut conn = self.store.load_connection().await?;
        let replaced = if conn.status == ConnectionStatus::Connected && conn.active.is_some() {
            let old = conn.pending.replace(stored);
            conn.message = "New key pair generated. Upload the new public_key.pem to the app registration, then click Sign in to Office 365 (or Test connection) to switch to it. The current certificate keeps working until then.".into();
            old
        } else {
            // Not connected yet: nothing depends on the old key, replace it outright.
            let old_pending = conn.pending.take();
            let old_active = conn.active.replace(stored);
            conn.status = conn.configured_status();
            conn.message = conn.configured_message();
            if let Some(p) = old_pending {
                self.delete_key(&p).await;
            }
            old_active
        };
        let settings = self.save(&mut conn).await?;
        if let Some(old) = replaced {
            self.delete_key(&old).await;
        }
        Ok((settings, generated.certificate_pem))
    }

    async fn delete_key(&self, cred: &StoredCredential) {
        // A leftover key file is harmless; the connection row no longer points at it.
        let _ = self.vault.delete(&cred.key_ref).await;
    }

    /// The certificate the admin should upload (pending if rotating, else active).
    pub async fn certificate_pem(&self) -> Result<Option<String>, ServiceError> {
        let conn = self.store.load_connection().await?;
        Ok(conn.pending.or(conn.active).map(|c| c.certificate_pem))
    }

    /// Where the "Sign in to Office 365" button sends the browser.
    pub async fn begin_consent(&self) -> Result<Url, ServiceError> {
        let mut conn = self.store.load_connection().await?;
        let (Some(tenant), Some(client_id)) = (conn.tenant.clone(), conn.client_id.clone()) else {
            return Err(ServiceError::NotReady(
                "Enter the Application (client) ID and Directory (tenant) ID first.".into(),
            ));
        };
        if !conn.has_credential() {
            return Err(ServiceError::NotReady(
                "Generate a key pair and upload public_key.pem to the app registration first."
                    .into(),
            ));
        }
        let state = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let now = self.clock.now();
        self.store
            .put_consent_state(&state, now + CONSENT_STATE_LIFETIME)
            .await?;
        if conn.status != ConnectionStatus::Connected {
            conn.consent = ConsentState::Requested;
            conn.status = ConnectionStatus::AwaitingConsent;
            conn.message =
                "Waiting for an administrator to grant consent in the Microsoft sign-in window."
                    .into();
            self.save(&mut conn).await?;
        }
        Ok(admin_consent_url(
            &self.options.login_url,
            &tenant,
            &client_id,
            &self.options.redirect_url,
            &state,
        ))
    }

    /// Handles the redirect back to `/oauth2office2`.
    pub async fn complete_consent(
        &self,
        callback: &ConsentCallback,
    ) -> Result<ConnectionSettings, ServiceError> {
        let now = self.clock.now();
        let state = callback.state.as_deref().unwrap_or_default();
        if state.is_empty() || !self.store.take_consent_state(state, now).await? {
            return Err(ServiceError::UnknownConsentState);
        }
        match callback.outcome() {
            ConsentOutcome::Denied { error, description } => {
                let mut conn = self.store.load_connection().await?;
                conn.status = ConnectionStatus::Error;
                conn.message = explain_denial(&error, &description);
                self.save(&mut conn).await
            }
            ConsentOutcome::Unrecognised => {
                let mut conn = self.store.load_connection().await?;
                conn.status = ConnectionStatus::Error;
                conn.message = "Microsoft's answer said neither that consent was granted nor why not. Click Sign in to Office 365 again.".into();
                self.save(&mut conn).await
            }
            ConsentOutcome::Granted { .. } => {
                let mut conn = self.store.load_connection().await?;
                conn.consent = ConsentState::Granted;
                self.store.save_connection(&conn).await?;
                self.verify().await
            }
        }
    }

    /// Proves the connection: token (pending certificate first, then the active one), roles, Graph.
    pub async fn verify(&self) -> Result<ConnectionSettings, ServiceError> {
        let mut conn = self.store.load_connection().await?;
        let (Some(tenant), Some(client_id)) = (conn.tenant.clone(), conn.client_id.clone()) else {
            conn.status = conn.configured_status();
            conn.message = conn.configured_message();
            return self.save(&mut conn).await;
        };
        if !conn.has_credential() {
            conn.status = conn.configured_status();
            conn.message = conn.configured_message();
            return self.save(&mut conn).await;
        }

        let mut pending_failure = None;
        if let Some(pending) = conn.pending.clone() {
            match self
                .try_credential(&tenant, &client_id, conn.algorithm, &pending)
                .await
            {
                Ok(result) => {
                    // The new certificate works: promote it and drop the old key.
                    let old = conn.active.replace(pending);
                    conn.pending = None;
                    self.apply_success(&mut conn, result);
                    conn.message = format!("Connected with the new certificate. {}", conn.message);
                    let settings = self.save(&mut conn).await?;
                    if let Some(old) = old {
                        self.delete_key(&old).await;
                    }
                    return Ok(settings);
                }
                Err(f) => pending_failure = Some(f),
            }
        }
        let Some(active) = conn.active.clone() else {
            let failure =
                pending_failure.unwrap_or(ConnectFailure::Protocol("no certificate".into()));
            return self.record_failure(conn, failure).await;
        };
        match self
            .try_credential(&tenant, &client_id, conn.algorithm, &active)
            .await
        {
            Ok(result) => {
                self.apply_success(&mut conn, result);
                if let (Some(failure), Some(pending)) = (pending_failure, &conn.pending) {
                    conn.message = format!(
                        "Connected with the current certificate; the new one (thumbprint {}) is not accepted yet: {}",
                        pending.info.thumbprint_sha1,
                        explain_failure(&failure, &conn)
                    );
                }
                self.save(&mut conn).await
            }
            Err(failure) => self.record_failure(conn, failure).await,
        }
    }

    async fn record_failure(
        &self,
        mut conn: Connection,
        failure: ConnectFailure,
    ) -> Result<ConnectionSettings, ServiceError> {
        // After a valid token, remember what was granted so the console can tick the boxes.
        conn.granted_roles = match &failure {
            ConnectFailure::MissingPermissions { granted, .. } => granted.clone(),
            _ => Vec::new(),
        };
        conn.status = ConnectionStatus::Error;
        conn.message = explain_failure(&failure, &conn);
        self.save(&mut conn).await
    }

    fn apply_success(&self, conn: &mut Connection, ok: VerifiedTenant) {
        conn.status = ConnectionStatus::Connected;
        conn.consent = ConsentState::Granted;
        conn.tenant_id = Some(ok.organization.id.clone());
        conn.organization_name = Some(ok.organization.display_name.clone());
        conn.granted_roles = ok.roles;
        conn.last_token_at = Some(self.clock.now());
        conn.message = match &ok.organization.default_domain {
            Some(d) => format!("Connected to {} ({d}).", ok.organization.display_name),
            None => format!("Connected to {}.", ok.organization.display_name),
        };
    }

    async fn try_credential(
        &self,
        tenant: &TenantRef,
        client_id: &ClientId,
        algorithm: SigningAlgorithm,
        cred: &StoredCredential,
    ) -> Result<VerifiedTenant, ConnectFailure> {
        let key = self
            .vault
            .get(&cred.key_ref)
            .await
            .map_err(|e| ConnectFailure::KeyUnavailable(e.to_string()))?;
        let credentials = AppCredentials {
            tenant,
            client_id,
            algorithm,
            certificate: &cred.info,
            private_key_pem: &key,
        };
        let token = self.gateway.acquire_token(&credentials).await?;
        let missing = missing_permissions(&token.roles);
        if !missing.is_empty() {
            return Err(ConnectFailure::MissingPermissions {
                missing,
                granted: token.roles,
            });
        }
        let organization = self.gateway.organization(&credentials).await?;
        Ok(VerifiedTenant {
            roles: token.roles,
            organization,
        })
    }
}

struct VerifiedTenant {
    roles: Vec<String>,
    organization: crate::ports::Organization,
}

#[async_trait::async_trait]
impl CredentialSource for ConnectionService {
    async fn app_credentials(&self) -> Result<OwnedAppCredentials, DirectoryError> {
        let conn = self
            .store
            .load_connection()
            .await
            .map_err(|e| DirectoryError::NotConnected(e.to_string()))?;
        let not_connected = || {
            DirectoryError::NotConnected(
                "connect Office 365 first (Settings → Office 365)".to_owned(),
            )
        };
        if conn.status != ConnectionStatus::Connected {
            return Err(not_connected());
        }
        let (Some(tenant), Some(client_id), Some(active)) =
            (conn.tenant, conn.client_id, conn.active)
        else {
            return Err(not_connected());
        };
        let private_key_pem = self.vault.get(&active.key_ref).await.map_err(|e| {
            DirectoryError::NotConnected(format!("the private key cannot be read: {e}"))
        })?;
        Ok(OwnedAppCredentials {
            // The GUID learnt from a successful token is the reliable tenant reference.
            tenant: conn
                .tenant_id
                .as_deref()
                .and_then(|t| TenantRef::parse(t).ok())
                .unwrap_or(tenant),
            client_id,
            algorithm: conn.algorithm,
            certificate: active.info,
            private_key_pem,
        })
    }
}
