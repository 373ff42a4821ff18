//! Argon2id password hashing (PHC strings). Hashing is CPU-heavy, so it runs on the blocking pool.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("could not hash the password: {0}")]
    Hash(String),
    #[error("the password hashing task failed")]
    Task,
}

/// Hashes a password to an argon2id PHC string with a fresh random salt.
pub async fn hash_password(password: &str) -> Result<String, PasswordError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|_| PasswordError::Task)?
}

/// Checks a password against a PHC string in constant time. A malformed hash never matches.
pub async fn verify_password(password: &str, phc: &str) -> bool {
    let password = password.to_owned();
    let phc = phc.to_owned();
    tokio::task::spawn_blocking(move || verify_blocking(&password, &phc))
        .await
        .unwrap_or(false)
}

/// Spends the time of a real verification without any user, so that a login for an unknown
/// username takes as long as a wrong password for a known one.
pub(crate) async fn dummy_verify(password: &str) {
    let password = password.to_owned();
    let _ = tokio::task::spawn_blocking(move || {
        if let Some(dummy) = dummy_hash() {
            let _ = verify_blocking(&password, dummy);
        }
    })
    .await;
}

fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    <Argon2<'_> as PasswordVerifier<str>>::verify_password(
        &Argon2::default(),
        password.as_bytes(),
        phc,
    )
    .is_ok()
}

/// A hash of a random password with the default parameters, made once on first use.
fn dummy_hash() -> Option<&'static str> {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    DUMMY
        .get_or_init(|| hash_blocking(&super::random_token()).ok())
        .as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ_per_salt() -> Result<(), PasswordError> {
        let a = hash_password("correct horse battery").await?;
        let b = hash_password("correct horse battery").await?;
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify_password("correct horse battery", &a).await);
        assert!(!verify_password("wrong horse battery", &a).await);
        assert!(!verify_password("anything", "not a phc string").await);
        dummy_verify("x").await;
        Ok(())
    }
}
