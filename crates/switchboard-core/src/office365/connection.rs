//! The stored state of the Office 365 connection and the status the console shows for it.

use super::{CertificateInfo, ClientId, StoredCredential, TenantRef};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    #[default]
    NotConfigured,
    AwaitingConsent,
    Connected,
    Error,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotConfigured => "not_configured",
            Self::AwaitingConsent => "awaiting_consent",
            Self::Connected => "connected",
            Self::Error => "error",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::NotConfigured,
            Self::AwaitingConsent,
            Self::Connected,
            Self::Error,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// How the client assertion is signed. RS256 + `x5t` is the long-standing form; PS256 +
/// `x5t#S256` is what Microsoft's current documentation asks for. Entra accepts both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    #[default]
    #[serde(rename = "RS256")]
    Rs256,
    #[serde(rename = "PS256")]
    Ps256,
}

impl SigningAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "RS256" => Some(Self::Rs256),
            "PS256" => Some(Self::Ps256),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    #[default]
    NotRequested,
    Requested,
    Granted,
}

impl ConsentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotRequested => "not_requested",
            Self::Requested => "requested",
            Self::Granted => "granted",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::NotRequested, Self::Requested, Self::Granted]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One row: the tenant this installation is connected to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Connection {
    pub client_id: Option<ClientId>,
    pub tenant: Option<TenantRef>,
    /// The tenant GUID, learnt from a successful token (never trusted from the consent redirect alone).
    pub tenant_id: Option<String>,
    pub organization_name: Option<String>,
    pub algorithm: SigningAlgorithm,
    /// The certificate in use.
    pub active: Option<StoredCredential>,
    /// A newly generated certificate, waiting until the admin has uploaded it and a token proves it.
    pub pending: Option<StoredCredential>,
    pub consent: ConsentState,
    pub status: ConnectionStatus,
    pub message: String,
    pub granted_roles: Vec<String>,
    pub last_token_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
}

impl Connection {
    /// The certificate the admin should upload next: the pending one if any, else the active one.
    pub fn certificate_to_upload(&self) -> Option<&CertificateInfo> {
        self.pending
            .as_ref()
            .or(self.active.as_ref())
            .map(|c| &c.info)
    }

    pub fn has_ids(&self) -> bool {
        self.client_id.is_some() && self.tenant.is_some()
    }

    pub fn has_credential(&self) -> bool {
        self.active.is_some() || self.pending.is_some()
    }

    /// The status before any verification result is known, from what is configured.
    pub fn configured_status(&self) -> ConnectionStatus {
        if self.has_ids() && self.has_credential() {
            ConnectionStatus::AwaitingConsent
        } else {
            ConnectionStatus::NotConfigured
        }
    }

    /// What to do next, when no verification result says otherwise.
    pub fn configured_message(&self) -> String {
        match (self.has_ids(), self.has_credential()) {
            (false, false) => "Enter the Application (client) ID and Directory (tenant) ID, then generate a key pair.".into(),
            (false, true) => "Enter the Application (client) ID and Directory (tenant) ID of the app registration.".into(),
            (true, false) => "Generate a key pair and upload public_key.pem to the app registration.".into(),
            (true, true) => "Upload public_key.pem to the app's Certificates & secrets, then click Sign in to Office 365 and grant admin consent.".into(),
        }
    }
}
