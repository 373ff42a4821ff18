//! The traits adapters implement. The domain and the HTTP layer see only these.

use crate::auth::{AdminUser, ApiTokenRecord, SessionRecord};
use crate::office365::{
    CertificateInfo, ClientId, ConnectFailure, Connection, GeneratedCredential, SigningAlgorithm,
    TenantRef,
};
use async_trait::async_trait;
use jiff::Timestamp;
use secrecy::SecretString;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
}

/// Persistent state. One implementation per database engine, one conformance suite for all.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    // --- Office 365 connection (a single row) ---
    async fn load_connection(&self) -> Result<Connection, StoreError>;
    async fn save_connection(&self, connection: &Connection) -> Result<(), StoreError>;

    // --- admin-consent `state` nonces: single use, expiring ---
    async fn put_consent_state(&self, state: &str, expires_at: Timestamp)
    -> Result<(), StoreError>;
    /// Removes the nonce and tells whether it existed and had not expired at `now`.
    async fn take_consent_state(&self, state: &str, now: Timestamp) -> Result<bool, StoreError>;

    // --- console admins ---
    async fn create_admin(&self, admin: &AdminUser) -> Result<(), StoreError>;
    async fn find_admin(&self, username: &str) -> Result<Option<AdminUser>, StoreError>;
    /// Returns false when no such admin exists.
    async fn set_admin_password(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError>;
    async fn count_admins(&self) -> Result<u64, StoreError>;

    // --- console sessions ---
    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// The session if it exists and has not expired at `now`.
    async fn find_session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError>;
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Removes every session of a user (after a password change).
    async fn delete_sessions_of(&self, username: &str) -> Result<u64, StoreError>;

    // --- API tokens ---
    async fn create_api_token(&self, token: &ApiTokenRecord) -> Result<(), StoreError>;
    async fn find_api_token(&self, token_hash: &str) -> Result<Option<ApiTokenRecord>, StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("key store I/O error: {0}")]
    Io(String),
    #[error("no private key stored under {0}")]
    NotFound(String),
}

/// Where private keys live (a directory of 0600 files). Keys never travel through the database.
#[async_trait]
pub trait KeyVault: Send + Sync + std::fmt::Debug {
    /// Stores the key and returns the reference to keep in the database.
    async fn put(&self, private_key_pem: &SecretString) -> Result<String, VaultError>;
    async fn get(&self, key_ref: &str) -> Result<SecretString, VaultError>;
    async fn delete(&self, key_ref: &str) -> Result<(), VaultError>;
}

#[derive(Debug, thiserror::Error)]
#[error("could not create the certificate: {0}")]
pub struct CertificateError(pub String);

/// Makes the RSA key pair and self-signed certificate the admin uploads to the app registration.
#[async_trait]
pub trait CertificateFactory: Send + Sync + std::fmt::Debug {
    async fn generate(
        &self,
        subject: &str,
        not_before: Timestamp,
        validity_days: u32,
    ) -> Result<GeneratedCredential, CertificateError>;
}

/// What the connection check needs to sign in as the app.
#[derive(Debug)]
pub struct AppCredentials<'a> {
    pub tenant: &'a TenantRef,
    pub client_id: &'a ClientId,
    pub algorithm: SigningAlgorithm,
    pub certificate: &'a CertificateInfo,
    pub private_key_pem: &'a SecretString,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppToken {
    pub roles: Vec<String>,
    pub tenant_id: Option<String>,
    pub expires_in_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: String,
    pub display_name: String,
    pub default_domain: Option<String>,
}

/// Microsoft Entra ID + Graph, as far as proving a connection goes.
#[async_trait]
pub trait TenantGateway: Send + Sync + std::fmt::Debug {
    /// Client-credentials token with a certificate assertion.
    async fn acquire_token(
        &self,
        credentials: &AppCredentials<'_>,
    ) -> Result<AppToken, ConnectFailure>;
    /// `GET /v1.0/organization`, proving Graph accepts the token.
    async fn organization(
        &self,
        credentials: &AppCredentials<'_>,
    ) -> Result<Organization, ConnectFailure>;
}
