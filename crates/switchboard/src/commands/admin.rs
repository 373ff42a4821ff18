//! `switchboard admin create|password|token`: console users and API tokens, straight in the store.

use anyhow::{Context, bail};
use std::io::BufRead;
use switchboard_core::Timestamp;
use switchboard_core::auth::{AdminUser, ApiTokenRecord, validate_password, validate_username};
use switchboard_core::ports::{Store, StoreError};
use switchboard_http::auth::{hash_password, hash_token, new_api_token};

/// The password from the flag, else one line of standard input (so it stays out of shell history).
pub fn read_password(given: Option<String>) -> anyhow::Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    eprintln!("Password (one line on standard input):");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

pub async fn create(
    store: &dyn Store,
    username: &str,
    password: &str,
    now: Timestamp,
) -> anyhow::Result<()> {
    validate_username(username).map_err(anyhow::Error::msg)?;
    validate_password(password).map_err(anyhow::Error::msg)?;
    let admin = AdminUser {
        username: username.to_owned(),
        password_hash: hash_password(password)
            .await
            .context("hashing the password")?,
        created_at: now,
    };
    match store.create_admin(&admin).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict(_)) => bail!(
            "admin \"{username}\" already exists: use `switchboard admin password {username}` to change the password"
        ),
        Err(e) => Err(e).context("saving the admin"),
    }
}

pub async fn set_password(store: &dyn Store, username: &str, password: &str) -> anyhow::Result<()> {
    validate_password(password).map_err(anyhow::Error::msg)?;
    let hash = hash_password(password)
        .await
        .context("hashing the password")?;
    if !store.set_admin_password(username, &hash).await? {
        bail!("no admin \"{username}\": create it with `switchboard admin create {username}`");
    }
    // Whoever knew the old password must log in again.
    store.delete_sessions_of(username).await?;
    Ok(())
}

/// Creates an API token for `username` and returns it; only its hash is stored.
pub async fn create_token(
    store: &dyn Store,
    username: &str,
    name: &str,
    given: Option<String>,
    now: Timestamp,
) -> anyhow::Result<String> {
    if store.find_admin(username).await?.is_none() {
        bail!("no admin \"{username}\": tokens act on behalf of an admin; create it first");
    }
    let token = match given {
        Some(t) if t.len() >= 24 => t,
        Some(_) => bail!("an API token must have at least 24 characters"),
        None => new_api_token(),
    };
    store
        .create_api_token(&ApiTokenRecord {
            token_hash: hash_token(&token),
            name: name.to_owned(),
            username: username.to_owned(),
            created_at: now,
        })
        .await
        .context("saving the API token")?;
    Ok(token)
}
