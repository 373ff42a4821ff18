//! Who may read a phonebook: HTTP Basic with username = extension number and password = the
//! extension's phonebook password.
//!
//! Why a phonebook password and not the extension's SIP credentials: Switchboard does not manage
//! SIP secrets (yet), and even once it does, a phonebook password can be typed into a CardDAV app
//! on a laptop or a mobile phone without handing out the secret that lets a device register and
//! place calls on the extension. It only ever grants reading the extension's own phonebook, the
//! company phonebook and the colleague directory, and it can be revoked on its own.
//!
//! - The store keeps only the SHA-256 (hex) of the password
//!   ([`PhonebookStore::phonebook_secret`](switchboard_core::ports::PhonebookStore::phonebook_secret));
//!   the comparison is constant-time. The passwords are meant to be long generated strings, and
//!   phones poll often, so a fast hash is the right trade-off here (console passwords use argon2).
//! - A verified secret is remembered for [`CACHE_TTL`] so that polling phones and a CardDAV sync
//!   (several requests in a row) do not each ask the database; a changed or revoked password takes
//!   effect within that time. Only successful sign-ins are remembered: guessing cannot fill it.
//! - Failed attempts are counted per client address and extension, and per client address
//!   (IPv6 grouped by /64, as for the console login). Past the limits every attempt from there
//!   gets `429` with `Retry-After` until the window ends, even with the right password. Requests
//!   without credentials are not failures: many clients send one before answering the challenge.
//!   Only failures count, because a phone that polls or a CardDAV sync must never be throttled.

use crate::auth::ratelimit::ClientKey;
use crate::state::AppState;
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use switchboard_core::ports::StoreError;

/// The challenge of every `401` from the phonebook routes.
pub(crate) const CHALLENGE: &str = "Basic realm=\"Switchboard phonebook\"";
/// How long a verified secret is trusted without asking the store again.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(60);
/// Verified extensions kept at most (one entry per extension that signed in).
const CACHE_CAPACITY: usize = 4096;
/// Failed attempts are counted in fixed windows of this length.
pub(crate) const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures allowed per client address and extension in one window.
pub(crate) const MAX_FAILURES_PER_EXTENSION: u32 = 10;
/// Failures allowed per client address in one window, over all extensions (an office behind
/// one NAT address shares this, hence higher).
pub(crate) const MAX_FAILURES_PER_CLIENT: u32 = 30;
/// Tracked failure windows kept at most; past it expired ones go, then the oldest.
const TRACKED_CAPACITY: usize = 10_000;
/// Longest username accepted (extension numbers are short).
const MAX_NUMBER_LEN: usize = 64;

/// Why a request was not let in.
#[derive(Debug)]
pub(crate) enum Denied {
    /// No usable credentials: `401` with the Basic challenge.
    Challenge(&'static str),
    /// Right password, but the extension is disabled or gone: `403`.
    Disabled(String),
    /// Too many failures from this client: `429`.
    Locked {
        retry_after: Duration,
    },
    Store(StoreError),
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::Challenge(message) => {
                let mut response = text(StatusCode::UNAUTHORIZED, message);
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(CHALLENGE),
                );
                response
            }
            Denied::Disabled(number) => text(
                StatusCode::FORBIDDEN,
                &format!(
                    "Extension {number} is disabled or no longer exists: its phonebook cannot be read."
                ),
            ),
            Denied::Locked { retry_after } => {
                let seconds = retry_after.as_secs().max(1);
                let mut response = text(
                    StatusCode::TOO_MANY_REQUESTS,
                    &format!(
                        "Too many wrong phonebook passwords from this address: try again in {} minute(s).",
                        seconds.div_ceil(60)
                    ),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                response
            }
            Denied::Store(e) => {
                tracing::error!(error = %e, "phonebook sign-in: store failed");
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The phonebook is unavailable right now (the server log has the details). Try again later.",
                )
            }
        }
    }
}

/// A plain-text response (phones and address-book apps show or log it).
pub(crate) fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

struct Verified {
    secret: [u8; 32],
    at: Instant,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl Window {
    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.started) >= FAILURE_WINDOW
    }
    fn remaining(&self, now: Instant) -> Duration {
        FAILURE_WINDOW.saturating_sub(now.duration_since(self.started))
    }
}

#[derive(Default)]
struct Failures {
    by_client: HashMap<ClientKey, Window>,
    by_extension: HashMap<(ClientKey, String), Window>,
}

/// Sign-in state of the phonebook routes: the verified-secret cache and the failure counters.
#[derive(Default)]
pub(crate) struct Access {
    verified: Mutex<HashMap<String, Verified>>,
    failures: Mutex<Failures>,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Sizes only: the keys are extension numbers and client addresses.
        let verified = self.verified.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("Access")
            .field("verified", &verified)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// The extension number the request is signed in as.
    pub(crate) async fn authenticate(
        &self,
        app: &AppState,
        headers: &HeaderMap,
        client: ClientKey,
    ) -> Result<String, Denied> {
        let Some(credentials) = headers.get(header::AUTHORIZATION) else {
            return Err(Denied::Challenge(
                "Sign in with your extension number as the username and your phonebook password.",
            ));
        };
        let now = Instant::now();
        let Some((number, password)) = basic_credentials(credentials) else {
            self.check_lock(&client, None, now)?;
            self.record_failure(&client, None, now);
            return Err(Denied::Challenge(
                "Unreadable credentials: use HTTP Basic with your extension number and phonebook password.",
            ));
        };
        self.check_lock(&client, Some(&number), now)?;
        let given = sha256(&password);

        if self.cached_match(&number, &given, now) {
            return Ok(number);
        }
        let stored = app
            .phonebooks()
            .phonebook_secret(&number)
            .await
            .map_err(Denied::Store)?;
        let secret = stored.as_deref().and_then(|hex| {
            let parsed = parse_hex32(hex);
            if parsed.is_none() {
                tracing::warn!(%number, "stored phonebook secret is not a SHA-256 hex string");
            }
            parsed
        });
        // Compare against something even without a secret, so timing does not tell which
        // extensions have a phonebook password.
        let matches = constant_eq(secret.as_ref().unwrap_or(&[0u8; 32]), &given);
        if !(matches && secret.is_some()) {
            self.record_failure(&client, Some(&number), now);
            tracing::info!(?client, "phonebook sign-in failed");
            return Err(Denied::Challenge(
                "Wrong extension number or phonebook password.",
            ));
        }
        match app
            .extensions()
            .get_extension(&number)
            .await
            .map_err(Denied::Store)?
        {
            Some(extension) if extension.enabled => {}
            _ => return Err(Denied::Disabled(number)),
        }
        if let Some(secret) = secret {
            self.remember(&number, secret, now);
        }
        self.clear_failures(&client, &number);
        Ok(number)
    }

    fn cached_match(&self, number: &str, given: &[u8; 32], now: Instant) -> bool {
        let Ok(verified) = self.verified.lock() else {
            return false;
        };
        verified
            .get(number)
            .is_some_and(|v| now.duration_since(v.at) < CACHE_TTL && constant_eq(&v.secret, given))
    }

    fn remember(&self, number: &str, secret: [u8; 32], now: Instant) {
        let Ok(mut verified) = self.verified.lock() else {
            return;
        };
        if verified.len() >= CACHE_CAPACITY && !verified.contains_key(number) {
            verified.retain(|_, v| now.duration_since(v.at) < CACHE_TTL);
            if verified.len() >= CACHE_CAPACITY {
                let oldest = verified
                    .iter()
                    .min_by_key(|(_, v)| v.at)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    verified.remove(&oldest);
                }
            }
        }
        verified.insert(number.to_owned(), Verified { secret, at: now });
    }

    fn check_lock(
        &self,
        client: &ClientKey,
        number: Option<&str>,
        now: Instant,
    ) -> Result<(), Denied> {
        let Ok(failures) = self.failures.lock() else {
            return Ok(());
        };
        let locked = |window: Option<&Window>, max: u32| {
            window
                .filter(|w| !w.expired(now) && w.failures >= max)
                .map(|w| w.remaining(now))
        };
        let by_client = locked(failures.by_client.get(client), MAX_FAILURES_PER_CLIENT);
        let by_extension = number.and_then(|n| {
            locked(
                failures.by_extension.get(&(client.clone(), n.to_owned())),
                MAX_FAILURES_PER_EXTENSION,
            )
        });
        match by_client.into_iter().chain(by_extension).max() {
            Some(retry_after) => {
                tracing::warn!(?client, "phonebook sign-in locked after repeated failures");
                Err(Denied::Locked { retry_after })
            }
            None => Ok(()),
        }
    }

    fn record_failure(&self, client: &ClientKey, number: Option<&str>, now: Instant) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        bump(&mut failures.by_client, client.clone(), now);
        if let Some(number) = number {
            bump(
                &mut failures.by_extension,
                (client.clone(), number.to_owned()),
                now,
            );
        }
    }

    /// A right password resets that extension's counter from this client (not the client's
    /// overall one: one valid password must not buy more guesses at other extensions).
    fn clear_failures(&self, client: &ClientKey, number: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures
                .by_extension
                .remove(&(client.clone(), number.to_owned()));
        }
    }
}

fn bump<K: std::hash::Hash + Eq + Clone>(map: &mut HashMap<K, Window>, key: K, now: Instant) {
    if map.len() >= TRACKED_CAPACITY && !map.contains_key(&key) {
        map.retain(|_, w| !w.expired(now));
        if map.len() >= TRACKED_CAPACITY {
            let oldest = map
                .iter()
                .min_by_key(|(_, w)| w.started)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                map.remove(&oldest);
            }
        }
    }
    let window = map.entry(key).or_insert(Window {
        started: now,
        failures: 0,
    });
    if window.expired(now) {
        *window = Window {
            started: now,
            failures: 0,
        };
    }
    window.failures = window.failures.saturating_add(1);
}

/// `(number, password bytes)` from `Authorization: Basic …`; `None` when it is not usable. The
/// password stays bytes: some phones send Latin-1, and only its hash is compared.
fn basic_credentials(value: &HeaderValue) -> Option<(String, Vec<u8>)> {
    let value = value.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let number = std::str::from_utf8(&decoded[..colon]).ok()?;
    if number.is_empty() || number.len() > MAX_NUMBER_LEN || number.chars().any(char::is_control) {
        return None;
    }
    Some((number.to_owned(), decoded[colon + 1..].to_vec()))
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

fn constant_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    verify_slices_are_equal(a, b).is_ok()
}

fn parse_hex32(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        out[i] = u8::try_from(high * 16 + low).ok()?;
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn header(value: &str) -> HeaderValue {
        HeaderValue::from_str(value).unwrap()
    }

    #[test]
    fn reads_basic_credentials() {
        let encoded = STANDARD.encode("201:pa:ss wörd");
        let (number, password) = basic_credentials(&header(&format!("Basic {encoded}"))).unwrap();
        assert_eq!(number, "201");
        assert_eq!(password, "pa:ss wörd".as_bytes());
        let lower = basic_credentials(&header(&format!("basic {encoded}")));
        assert!(lower.is_some());
        assert!(basic_credentials(&header("Bearer abc")).is_none());
        assert!(basic_credentials(&header("Basic !!!")).is_none());
        let no_colon = STANDARD.encode("201");
        assert!(basic_credentials(&header(&format!("Basic {no_colon}"))).is_none());
        let empty_user = STANDARD.encode(":secret");
        assert!(basic_credentials(&header(&format!("Basic {empty_user}"))).is_none());
    }

    #[test]
    fn hex_secrets_parse_strictly() {
        let hash = crate::auth::hash_token("abc");
        assert_eq!(parse_hex32(&hash), Some(sha256(b"abc")));
        assert_eq!(parse_hex32(&hash.to_uppercase()), Some(sha256(b"abc")));
        assert_eq!(parse_hex32("abc"), None);
        assert_eq!(parse_hex32(&"zz".repeat(32)), None);
    }

    #[test]
    fn failures_lock_per_extension_then_per_client() {
        let access = Access::default();
        let client = ClientKey::from_addr(Some("192.0.2.7".parse().unwrap()));
        let now = Instant::now();
        for _ in 0..MAX_FAILURES_PER_EXTENSION {
            assert!(access.check_lock(&client, Some("201"), now).is_ok());
            access.record_failure(&client, Some("201"), now);
        }
        assert!(matches!(
            access.check_lock(&client, Some("201"), now),
            Err(Denied::Locked { .. })
        ));
        // Another extension from the same client is still open, until the client limit.
        assert!(access.check_lock(&client, Some("202"), now).is_ok());
        for _ in MAX_FAILURES_PER_EXTENSION..MAX_FAILURES_PER_CLIENT {
            access.record_failure(&client, None, now);
        }
        assert!(access.check_lock(&client, Some("202"), now).is_err());
        // Another client is unaffected, and the window ends.
        let other = ClientKey::Unknown;
        assert!(access.check_lock(&other, Some("201"), now).is_ok());
        assert!(
            access
                .check_lock(&client, Some("201"), now + FAILURE_WINDOW)
                .is_ok()
        );
    }
}
