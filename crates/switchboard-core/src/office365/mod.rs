//! The Office 365 connection: the admin's "Configure" steps (app registration ids, a generated
//! certificate, admin consent) and the rules that turn their outcome into a status and a message.

mod certificate;
mod connection;
mod consent;
mod diagnosis;
mod ids;
mod permissions;
mod service;

pub use certificate::{
    CertificateInfo, EXPIRY_WARNING_DAYS, GeneratedCredential, StoredCredential,
};
pub use connection::{Connection, ConnectionStatus, ConsentState, SigningAlgorithm};
pub use consent::{ConsentCallback, ConsentOutcome, admin_consent_url};
pub use diagnosis::{ConnectFailure, explain_failure};
pub use ids::{ClientId, IdError, TenantRef};
pub use permissions::{Permission, REQUIRED_PERMISSIONS, missing_permissions};
pub use service::{
    ConnectionService, ConnectionSettings, ConnectionUpdate, ServiceError, ServiceOptions,
};
