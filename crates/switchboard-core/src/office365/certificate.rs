//! The certificate the admin uploads to the app registration, and what the console says about it.

use jiff::{SignedDuration, Timestamp};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The console warns this many days before the certificate expires.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// Public facts about a certificate; safe to show and to return from the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateInfo {
    pub subject: String,
    /// Upper-case hex, as the Azure portal shows it under "Certificates & secrets".
    pub thumbprint_sha1: String,
    pub thumbprint_sha256: String,
    /// base64url(SHA-1(DER)), the JWT `x5t` header.
    pub x5t: String,
    /// base64url(SHA-256(DER)), the JWT `x5t#S256` header.
    pub x5t_s256: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
}

impl CertificateInfo {
    pub fn days_left(&self, now: Timestamp) -> i64 {
        let left: SignedDuration = self.not_after.duration_since(now);
        left.as_secs().div_euclid(86_400)
    }
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.not_after
    }
    pub fn expires_soon(&self, now: Timestamp) -> bool {
        !self.is_expired(now) && self.days_left(now) < EXPIRY_WARNING_DAYS
    }
}

/// A certificate whose private key lives in the key vault, referenced by `key_ref`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCredential {
    pub certificate_pem: String,
    pub key_ref: String,
    pub info: CertificateInfo,
    pub created_at: Timestamp,
}

/// Fresh output of the certificate factory; the private key never leaves the process except into
/// the key vault.
#[derive(Debug)]
pub struct GeneratedCredential {
    pub certificate_pem: String,
    pub private_key_pem: SecretString,
    pub info: CertificateInfo,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(not_after: Timestamp) -> CertificateInfo {
        CertificateInfo {
            subject: "CN=Switchboard".into(),
            thumbprint_sha1: String::new(),
            thumbprint_sha256: String::new(),
            x5t: String::new(),
            x5t_s256: String::new(),
            not_before: Timestamp::UNIX_EPOCH,
            not_after,
        }
    }

    #[test]
    fn warns_inside_thirty_days_only() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let day = SignedDuration::from_hours(24);
        assert!(!info(now + day * 31).expires_soon(now));
        assert!(info(now + day * 29).expires_soon(now));
        assert!(!info(now - day).expires_soon(now));
        assert!(info(now - day).is_expired(now));
        assert_eq!(
            info(now + day * 10 + SignedDuration::from_secs(5)).days_left(now),
            10
        );
    }
}
