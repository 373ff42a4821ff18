//! Console users, their sessions and API tokens. Only hashes of secrets are ever stored.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUser {
    pub username: String,
    /// PHC string (argon2id); never leaves the server.
    #[serde(skip_serializing)]
    pub password_hash: String,
    pub created_at: Timestamp,
}

/// A console login session. `id_hash` is SHA-256 of the cookie value, so a leaked database
/// does not hand out live sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_hash: String,
    pub username: String,
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A bearer token for `/api/v1`; `token_hash` is SHA-256 of the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    pub token_hash: String,
    pub name: String,
    pub username: String,
    pub created_at: Timestamp,
}

/// Usernames: what an admin can type and a log line can show unambiguously.
pub fn validate_username(name: &str) -> Result<(), String> {
    let ok_len = (1..=64).contains(&name.len());
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err(format!(
            "invalid username \"{name}\": use 1–64 letters, digits, '.', '_', '-' or '@'"
        ))
    }
}

/// Minimum password policy for console admins.
pub fn validate_password(password: &str) -> Result<(), String> {
    if password.chars().count() < 10 {
        Err("the password must have at least 10 characters".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(validate_username("admin").is_ok());
        assert!(validate_username("jane.doe@contoso.com").is_ok());
        assert!(validate_username("").is_err());
        assert!(validate_username("a b").is_err());
        assert!(validate_username("<script>").is_err());
    }

    #[test]
    fn passwords() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough pass").is_ok());
    }
}
