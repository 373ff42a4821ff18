//! Turning what Microsoft answered into a message that tells the admin what to do.
//! Microsoft asks clients to branch on `error` and codes, never on the text; we branch on the
//! AADSTS code (from `error_codes`) and keep Microsoft's first line for reference.

use super::{Connection, Permission};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectFailure {
    /// The token endpoint answered with an OAuth error.
    #[error("token request rejected: {error} {codes:?}")]
    TokenRejected {
        http_status: u16,
        error: String,
        codes: Vec<u32>,
        description: String,
    },
    /// The login or Graph host could not be reached at all.
    #[error("cannot reach {host}: {detail}")]
    Unreachable { host: String, detail: String },
    /// A token was issued but lacks required application permissions.
    #[error("missing permissions")]
    MissingPermissions {
        missing: Vec<Permission>,
        granted: Vec<String>,
    },
    /// Graph refused a request made with a valid token.
    #[error("graph answered {status} {code}")]
    GraphRejected {
        status: u16,
        code: String,
        message: String,
    },
    /// Anything else unexpected (malformed response, exhausted retries…).
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// The private key could not be read back from the key store.
    #[error("private key unavailable: {0}")]
    KeyUnavailable(String),
}

/// One sentence of what happened and one of what to do.
pub fn explain_failure(failure: &ConnectFailure, conn: &Connection) -> String {
    let client = conn
        .client_id
        .as_ref()
        .map(|c| c.as_str())
        .unwrap_or("(not set)");
    let tenant = conn
        .tenant
        .as_ref()
        .map(|t| t.as_str())
        .unwrap_or("(not set)");
    match failure {
        ConnectFailure::TokenRejected {
            error,
            codes,
            description,
            ..
        } => {
            let said = microsoft_said(description, error);
            match codes.first().copied() {
                Some(700027) | Some(50012) => {
                    let thumb = conn
                        .certificate_to_upload()
                        .map(|c| c.thumbprint_sha1.as_str())
                        .unwrap_or("(none)");
                    format!(
                        "Microsoft does not know the certificate Switchboard signs with (thumbprint {thumb}). \
                         Download public_key.pem and upload it to the app registration under Certificates & secrets → Certificates, \
                         then click Sign in to Office 365 again. {said}"
                    )
                }
                Some(700016) => format!(
                    "The application {client} was not found in tenant {tenant}. Check that the Application (client) ID and \
                     Directory (tenant) ID match the app registration's Overview page, and that admin consent was granted \
                     (click Sign in to Office 365). {said}"
                ),
                Some(7000229) => format!(
                    "Admin consent has not been granted for application {client} in tenant {tenant} (it has no service principal there). \
                     Click Sign in to Office 365 and accept the permissions as a Global Administrator. {said}"
                ),
                Some(700024) => format!(
                    "Microsoft rejected the sign-in because this server's clock is off: the signed assertion was outside its valid time. \
                     Synchronise the server clock (for example `timedatectl set-ntp true`) and sign in again. {said}"
                ),
                Some(90002) => format!(
                    "Tenant {tenant} does not exist. Check the Directory (tenant) ID on the app registration's Overview page. {said}"
                ),
                Some(50048) | Some(700021) => format!(
                    "Microsoft rejected the signed assertion for application {client}. Check the Application (client) ID. {said}"
                ),
                _ => format!("Microsoft rejected the sign-in. {said}"),
            }
        }
        ConnectFailure::Unreachable { host, detail } => format!(
            "Cannot reach {host} ({detail}). Check this server's DNS, firewall and proxy: Switchboard needs outbound HTTPS \
             to login.microsoftonline.com and graph.microsoft.com."
        ),
        ConnectFailure::MissingPermissions { missing, .. } => {
            let names: Vec<&str> = missing.iter().map(|p| p.name).collect();
            format!(
                "The app is missing the application permission{} {}. In the app registration open API permissions → \
                 Add a permission → Microsoft Graph → Application permissions, add {}, then click \
                 \"Grant admin consent\" (or Sign in to Office 365 again).",
                if names.len() == 1 { "" } else { "s" },
                names.join(", "),
                if names.len() == 1 { "it" } else { "them" },
            )
        }
        ConnectFailure::GraphRejected {
            status,
            code,
            message,
        } => {
            if *status == 403 {
                format!(
                    "Microsoft Graph refused access ({code}: {message}). Grant admin consent for the application \
                     permissions listed below and sign in again."
                )
            } else {
                format!(
                    "Microsoft Graph answered {status} ({code}: {message}). Try again; if it persists, check Microsoft 365 service health."
                )
            }
        }
        ConnectFailure::Protocol(detail) => {
            format!(
                "Unexpected answer from Microsoft ({detail}). Try again; if it persists, check the login and Graph URLs in the configuration."
            )
        }
        ConnectFailure::KeyUnavailable(detail) => {
            format!(
                "The private key could not be read ({detail}). Generate a new key pair and upload the new public_key.pem."
            )
        }
    }
}

fn microsoft_said(description: &str, error: &str) -> String {
    // The description ends with a Trace ID / Correlation ID / Timestamp trailer; keep the first line.
    let first = description.lines().next().unwrap_or_default().trim();
    if first.is_empty() {
        format!("(Microsoft said: {error})")
    } else {
        format!("(Microsoft said: {first})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::office365::{ClientId, REQUIRED_PERMISSIONS, TenantRef};

    fn conn() -> Connection {
        Connection {
            client_id: ClientId::parse("1b3c5d7e-0000-4000-8000-1234567890ab").ok(),
            tenant: TenantRef::parse("contoso.onmicrosoft.com").ok(),
            ..Default::default()
        }
    }

    fn rejected(code: u32) -> ConnectFailure {
        ConnectFailure::TokenRejected {
            http_status: 401,
            error: "invalid_client".into(),
            codes: vec![code],
            description: format!(
                "AADSTS{code}: Something.\r\nTrace ID: x\r\nCorrelation ID: y\r\nTimestamp: z"
            ),
        }
    }

    #[test]
    fn each_known_code_gets_its_advice() {
        let c = conn();
        assert!(
            explain_failure(&rejected(700027), &c)
                .contains("upload it to the app registration under Certificates & secrets")
        );
        assert!(
            explain_failure(&rejected(700016), &c)
                .contains("was not found in tenant contoso.onmicrosoft.com")
        );
        assert!(
            explain_failure(&rejected(7000229), &c).contains("Admin consent has not been granted")
        );
        assert!(explain_failure(&rejected(700024), &c).contains("clock"));
        let m = explain_failure(&rejected(700024), &c);
        assert!(
            m.contains("(Microsoft said: AADSTS700024: Something.)"),
            "{m}"
        );
        assert!(!m.contains("Trace ID"));
    }

    #[test]
    fn missing_permissions_are_named() {
        let m = explain_failure(
            &ConnectFailure::MissingPermissions {
                missing: vec![REQUIRED_PERMISSIONS[3]],
                granted: vec![],
            },
            &conn(),
        );
        assert!(m.contains("permission User.Read.All"), "{m}");
        let m = explain_failure(
            &ConnectFailure::MissingPermissions {
                missing: REQUIRED_PERMISSIONS[..2].to_vec(),
                granted: vec![],
            },
            &conn(),
        );
        assert!(
            m.contains("permissions Calendars.Read, Contacts.Read"),
            "{m}"
        );
    }

    #[test]
    fn unreachable_names_the_host() {
        let m = explain_failure(
            &ConnectFailure::Unreachable {
                host: "login.example".into(),
                detail: "connection refused".into(),
            },
            &conn(),
        );
        assert!(m.starts_with("Cannot reach login.example"));
    }
}
