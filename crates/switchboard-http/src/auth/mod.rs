//! Who is calling: console sessions, CSRF tokens, API tokens, password hashing and the login
//! rate limit. Only hashes of secrets are stored; secrets are never logged.

pub(crate) mod csrf;
pub(crate) mod password;
pub(crate) mod ratelimit;
pub(crate) mod session;
pub(crate) mod token_cache;

pub use password::{PasswordError, hash_password, verify_password};

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A new API token: `sb_` followed by 32 random bytes in base64url (no padding).
/// Show it once; store only [`hash_token`] of it.
pub fn new_api_token() -> String {
    format!("sb_{}", random_token())
}

/// Lower-case hex SHA-256 of a token (API token or session id), the form kept in the store.
pub fn hash_token(token: &str) -> String {
    hex(digest(&SHA256, token.as_bytes()).as_ref())
}

/// Lower-case hex of a SHA-256 digest (the store's form of a token hash).
pub(crate) fn hex_sha256(hash: &[u8; 32]) -> String {
    hex(hash)
}

/// Lower-case hex without an allocation per byte (token hashes are computed per API request).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// 32 random bytes from the system generator, base64url without padding (43 characters).
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The system RNG failing means the machine cannot make any secret safely: stop this
    // request (caught by the panic layer) rather than hand out a predictable value.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random number generator failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_tokens_are_prefixed_random_and_url_safe() {
        let a = new_api_token();
        let b = new_api_token();
        assert_ne!(a, b);
        assert!(a.starts_with("sb_"));
        assert_eq!(a.len(), 3 + 43);
        assert!(
            a[3..]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn token_hash_is_hex_sha256() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
