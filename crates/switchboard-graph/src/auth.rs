//! App-only tokens from Entra ID with a certificate client assertion (graph-protocol.md §1.1–1.4),
//! cached per tenant, app and certificate (§8.1).

use crate::config::{GraphConfig, host_port};
use crate::retry::{RetryBudget, is_retryable_status, parse_retry_after};
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use jiff::{SignedDuration, Timestamp};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_core::Clock;
use switchboard_core::office365::{
    CertificateInfo, ClientId, ConnectFailure, SigningAlgorithm, TenantRef,
};
use switchboard_core::ports::{AppCredentials, OwnedAppCredentials};

/// How long a client assertion is valid: "keep it short – 5-10 minutes" (§1.2); MSAL uses 600 s.
pub const ASSERTION_LIFETIME_SECS: i64 = 600;
/// Tokens are renewed after this share of `expires_in` (§1.3: lifetimes vary from 60 to 90 min).
pub const REFRESH_AT_FRACTION: f64 = 0.8;

const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Everything needed to sign in as the app; the owned form of the core's [`AppCredentials`].
/// `Debug` shows the private key as `[REDACTED]` (secrecy).
#[derive(Debug, Clone)]
pub struct AppCredential {
    pub tenant: TenantRef,
    pub client_id: ClientId,
    pub algorithm: SigningAlgorithm,
    pub certificate: CertificateInfo,
    pub private_key_pem: SecretString,
}

impl AppCredential {
    pub fn from_port(credentials: &AppCredentials<'_>) -> Self {
        Self {
            tenant: credentials.tenant.clone(),
            client_id: credentials.client_id.clone(),
            algorithm: credentials.algorithm,
            certificate: credentials.certificate.clone(),
            private_key_pem: credentials.private_key_pem.clone(),
        }
    }

    /// Takes over what the core's [`CredentialSource`] hands out, without copying the key.
    ///
    /// [`CredentialSource`]: switchboard_core::ports::CredentialSource
    pub fn from_owned(credentials: OwnedAppCredentials) -> Self {
        let OwnedAppCredentials {
            tenant,
            client_id,
            algorithm,
            certificate,
            private_key_pem,
        } = credentials;
        Self {
            tenant,
            client_id,
            algorithm,
            certificate,
            private_key_pem,
        }
    }

    fn cache_key(&self) -> CacheKey {
        CacheKey {
            tenant: self.tenant.as_str().to_owned(),
            client_id: self.client_id.as_str().to_owned(),
            x5t: self.certificate.x5t.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    tenant: String,
    client_id: String,
    x5t: String,
}

/// Why no token could be had. Never contains the assertion, the key or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint answered with an OAuth error body (§1.4).
    #[error("the token endpoint rejected the request with HTTP {http_status} {error} {}: {}", fmt_codes(.codes), first_line(.description))]
    Rejected {
        http_status: u16,
        error: String,
        codes: Vec<u32>,
        description: String,
    },
    /// No HTTP answer at all: DNS, refused connection, TLS failure, timeout.
    #[error("cannot reach the token endpoint at {host}: {detail}")]
    Unreachable { host: String, detail: String },
    /// The private key could not sign the assertion (not an RSA PKCS#8/PKCS#1 PEM key).
    #[error("the private key cannot sign the client assertion: {0}")]
    InvalidKey(String),
    /// Anything else: a malformed success body, an unexpected status without an OAuth error.
    #[error("unexpected answer from the token endpoint: {0}")]
    Protocol(String),
}

fn fmt_codes(codes: &[u32]) -> String {
    let list: Vec<String> = codes.iter().map(|c| format!("AADSTS{c}")).collect();
    format!("[{}]", list.join(", "))
}

/// The description ends with a Trace ID / Correlation ID / Timestamp trailer (§1.4).
fn first_line(description: &str) -> &str {
    description.lines().next().unwrap_or_default().trim()
}

impl From<TokenError> for ConnectFailure {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Rejected {
                http_status,
                error,
                codes,
                description,
            } => ConnectFailure::TokenRejected {
                http_status,
                error,
                codes,
                description,
            },
            TokenError::Unreachable { host, detail } => {
                ConnectFailure::Unreachable { host, detail }
            }
            TokenError::InvalidKey(detail) => ConnectFailure::KeyUnavailable(detail),
            TokenError::Protocol(detail) => ConnectFailure::Protocol(detail),
        }
    }
}

/// An app-only access token and what it says about itself. `Debug` redacts the token.
#[derive(Clone)]
pub struct AccessToken {
    secret: SecretString,
    /// Granted application permissions (the `roles` claim; absent means none, §1.6).
    pub roles: Vec<String>,
    /// The `tid` claim: the tenant GUID.
    pub tenant_id: Option<String>,
    pub expires_in: Duration,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    /// When the cache stops handing it out and fetches a new one.
    pub refresh_at: Timestamp,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"[REDACTED]")
            .field("roles", &self.roles)
            .field("tenant_id", &self.tenant_id)
            .field("expires_in", &self.expires_in)
            .field("issued_at", &self.issued_at)
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

impl AccessToken {
    /// The bearer value for the `Authorization` header.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    fn same_token(&self, other: &AccessToken) -> bool {
        self.secret.expose_secret() == other.secret.expose_secret()
    }
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

/// A signed client assertion (§1.2): RS256 + `x5t` or PS256 + `x5t#S256`, `aud` the token
/// endpoint, `iss` = `sub` = client id, a fresh `jti`, valid from `now` for 600 s.
pub fn client_assertion(
    credential: &AppCredential,
    token_endpoint: &str,
    now: Timestamp,
) -> Result<SecretString, TokenError> {
    let mut header = match credential.algorithm {
        SigningAlgorithm::Rs256 => {
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
            h.x5t = Some(credential.certificate.x5t.clone());
            h
        }
        SigningAlgorithm::Ps256 => {
            let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
            h.x5t_s256 = Some(credential.certificate.x5t_s256.clone());
            h
        }
    };
    header.typ = Some("JWT".into());
    let now_s = now.as_second();
    let claims = AssertionClaims {
        aud: token_endpoint,
        iss: credential.client_id.as_str(),
        sub: credential.client_id.as_str(),
        jti: uuid::Uuid::new_v4().to_string(),
        nbf: now_s,
        iat: now_s,
        exp: now_s + ASSERTION_LIFETIME_SECS,
    };
    // jsonwebtoken's error text names the failure kind only, never key bytes.
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(
        credential.private_key_pem.expose_secret().as_bytes(),
    )
    .map_err(|e| TokenError::InvalidKey(e.to_string()))?;
    jsonwebtoken::encode(&header, &claims, &key)
        .map(SecretString::from)
        .map_err(|e| TokenError::InvalidKey(e.to_string()))
}

/// `expires_in` is an integer on the v2 endpoint and a string on v1 (§1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(u64),
    String(String),
}

impl NumberOrString {
    fn seconds(&self) -> Option<u64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::String(s) => s.trim().parse().ok(),
        }
    }
}

#[derive(Deserialize)]
struct TokenSuccess {
    access_token: String,
    expires_in: NumberOrString,
    #[serde(default)]
    token_type: Option<String>,
}

/// §1.4; only `error` is required, the rest is best effort.
#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Option<Vec<u32>>,
}

#[derive(Deserialize, Default)]
struct AccessTokenClaims {
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    tid: Option<String>,
}

/// Reads `roles` and `tid` from the token payload without verifying it: Graph tokens are for
/// Graph, and clients must not validate them (§1.3). An opaque token yields no claims.
fn peek_claims(token: &str) -> AccessTokenClaims {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
        return AccessTokenClaims::default();
    };
    let decoded = URL_SAFE_NO_PAD
        .decode(payload)
        .or_else(|_| URL_SAFE.decode(payload));
    decoded
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

struct Inner {
    http: reqwest::Client,
    config: GraphConfig,
    clock: Arc<dyn Clock>,
    slots: Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<Option<AccessToken>>>>>,
}

/// Fetches and caches app-only tokens. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenProvider")
            .field("login_url", &self.inner.config.login_url.as_str())
            .field("scope", &self.inner.config.graph_scope)
            .finish_non_exhaustive()
    }
}

impl TokenProvider {
    /// A provider with its own HTTP client (see [`crate::client::http_client`]).
    pub fn new(config: GraphConfig, clock: Arc<dyn Clock>) -> Result<Self, TokenError> {
        let http = crate::client::http_client(&config)
            .map_err(|e| TokenError::Protocol(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self::with_http(http, config, clock))
    }

    pub fn with_http(http: reqwest::Client, config: GraphConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                http,
                config,
                clock,
                slots: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn config(&self) -> &GraphConfig {
        &self.inner.config
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    fn slot(&self, credential: &AppCredential) -> Arc<tokio::sync::Mutex<Option<AccessToken>>> {
        let mut slots = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.entry(credential.cache_key()).or_default().clone()
    }

    /// A cached token until its refresh time, else a new one. Concurrent callers for the same
    /// credential wait for one request instead of each asking Entra.
    pub async fn token(&self, credential: &AppCredential) -> Result<AccessToken, TokenError> {
        let slot = self.slot(credential);
        let mut cached = slot.lock().await;
        let now = self.inner.clock.now();
        if let Some(token) = cached.as_ref()
            && now < token.refresh_at
        {
            return Ok(token.clone());
        }
        match self.request_token(credential).await {
            Ok(token) => {
                if cached.is_some() {
                    metrics::counter!("switchboard_token_refreshes_total").increment(1);
                }
                *cached = Some(token.clone());
                Ok(token)
            }
            Err(e) => match cached.as_ref() {
                // Past the refresh point but not expired: keep working on the old token and try
                // again on the next call.
                Some(old) if now < old.expires_at => {
                    tracing::warn!(error = %e, "token refresh failed; using the current token until it expires");
                    Ok(old.clone())
                }
                _ => {
                    *cached = None;
                    Err(e)
                }
            },
        }
    }

    /// Always asks Entra (the connection check must prove the credential now, and must see roles
    /// granted since the last token); the result replaces the cached token.
    pub async fn fresh_token(&self, credential: &AppCredential) -> Result<AccessToken, TokenError> {
        let slot = self.slot(credential);
        let mut cached = slot.lock().await;
        let token = self.request_token(credential).await?;
        *cached = Some(token.clone());
        Ok(token)
    }

    /// After Graph answered 401 to `rejected`: a new token, unless another caller already
    /// replaced it meanwhile (§1.3: reacquire after any 401 from Graph).
    pub async fn refresh_after_rejection(
        &self,
        credential: &AppCredential,
        rejected: &AccessToken,
    ) -> Result<AccessToken, TokenError> {
        let slot = self.slot(credential);
        let mut cached = slot.lock().await;
        if let Some(current) = cached.as_ref()
            && !current.same_token(rejected)
        {
            return Ok(current.clone());
        }
        *cached = None;
        let token = self.request_token(credential).await?;
        metrics::counter!("switchboard_token_refreshes_total").increment(1);
        *cached = Some(token.clone());
        Ok(token)
    }

    /// Forgets the cached token of this credential.
    pub fn invalidate(&self, credential: &AppCredential) {
        let mut slots = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.remove(&credential.cache_key());
    }

    /// One token request (with retries on throttling and connection failures), bypassing the cache.
    pub async fn request_token(
        &self,
        credential: &AppCredential,
    ) -> Result<AccessToken, TokenError> {
        let result = self.request_token_inner(credential).await;
        let outcome = if result.is_ok() { "success" } else { "failure" };
        metrics::counter!("switchboard_token_requests_total", "outcome" => outcome).increment(1);
        match &result {
            Ok(t) => tracing::debug!(
                tenant = credential.tenant.as_str(),
                client_id = credential.client_id.as_str(),
                roles = ?t.roles,
                expires_in_s = t.expires_in.as_secs(),
                "token acquired"
            ),
            Err(e) => tracing::info!(
                tenant = credential.tenant.as_str(),
                client_id = credential.client_id.as_str(),
                error = %e,
                "token request failed"
            ),
        }
        result
    }

    async fn request_token_inner(
        &self,
        credential: &AppCredential,
    ) -> Result<AccessToken, TokenError> {
        let config = &self.inner.config;
        let endpoint = config.token_endpoint(credential.tenant.as_str());
        let mut budget = RetryBudget::new(&config.retry);
        loop {
            budget.start_attempt();
            let now = self.inner.clock.now();
            // A fresh assertion (new jti, current nbf/exp) for every attempt (§8.1).
            let assertion = client_assertion(credential, &endpoint, now)?;
            let form = [
                ("client_id", credential.client_id.as_str()),
                ("scope", config.graph_scope.as_str()),
                ("client_assertion_type", CLIENT_ASSERTION_TYPE),
                ("client_assertion", assertion.expose_secret()),
                ("grant_type", "client_credentials"),
            ];
            let sent = self.inner.http.post(&endpoint).form(&form).send().await;
            drop(assertion);
            let response = match sent {
                Ok(r) => r,
                Err(e) if e.is_connect() || e.is_timeout() => match budget.next_connect_delay() {
                    Ok(delay) => {
                        tracing::debug!(error = %crate::client::error_chain(&e), ?delay, "token endpoint unreachable; retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    Err(_) => {
                        return Err(TokenError::Unreachable {
                            host: host_port(&config.login_url),
                            detail: crate::client::error_chain(&e),
                        });
                    }
                },
                Err(e) => return Err(TokenError::Protocol(crate::client::error_chain(&e))),
            };
            let status = response.status();
            tracing::debug!(
                status = status.as_u16(),
                request_id = ?response.headers().get("x-ms-request-id"),
                "token endpoint answered"
            );
            if is_retryable_status(status) {
                let retry_after = parse_retry_after(response.headers(), now);
                if let Ok(delay) = budget.next_delay(retry_after) {
                    tracing::debug!(
                        status = status.as_u16(),
                        ?delay,
                        "token endpoint busy; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    continue;
                }
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| TokenError::Protocol(crate::client::error_chain(&e)))?;
            return self.read_token_response(status.as_u16(), &body, now);
        }
    }

    fn read_token_response(
        &self,
        status: u16,
        body: &[u8],
        now: Timestamp,
    ) -> Result<AccessToken, TokenError> {
        if status == 200 {
            let success: TokenSuccess = serde_json::from_slice(body).map_err(|e| {
                TokenError::Protocol(format!("the token response is not the expected JSON: {e}"))
            })?;
            if let Some(t) = &success.token_type
                && !t.eq_ignore_ascii_case("bearer")
            {
                return Err(TokenError::Protocol(format!(
                    "token_type is {t}, not Bearer"
                )));
            }
            let expires_in = success.expires_in.seconds().ok_or_else(|| {
                TokenError::Protocol("expires_in is not a number of seconds".into())
            })?;
            let claims = peek_claims(&success.access_token);
            let lifetime =
                SignedDuration::from_secs(i64::try_from(expires_in).unwrap_or(i64::MAX / 2));
            let refresh_after =
                SignedDuration::from_secs_f64(lifetime.as_secs_f64() * REFRESH_AT_FRACTION);
            let expires_at = now.checked_add(lifetime).unwrap_or(Timestamp::MAX);
            let refresh_at = now.checked_add(refresh_after).unwrap_or(expires_at);
            return Ok(AccessToken {
                secret: SecretString::from(success.access_token),
                roles: claims.roles.unwrap_or_default(),
                tenant_id: claims.tid,
                expires_in: Duration::from_secs(expires_in),
                issued_at: now,
                expires_at,
                refresh_at,
            });
        }
        match serde_json::from_slice::<OAuthError>(body) {
            Ok(e) => {
                let description = e.error_description.unwrap_or_default();
                let codes = e
                    .error_codes
                    .filter(|c| !c.is_empty())
                    .unwrap_or_else(|| aadsts_code(&description).into_iter().collect());
                Err(TokenError::Rejected {
                    http_status: status,
                    error: e.error,
                    codes,
                    description,
                })
            }
            Err(_) => Err(TokenError::Protocol(format!(
                "HTTP {status} without an OAuth error body: {}",
                snippet(body)
            ))),
        }
    }
}

/// `AADSTS700027: …` → 700027, for bodies that lack `error_codes`.
fn aadsts_code(description: &str) -> Option<u32> {
    let rest = description.trim_start().strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The start of an unexpected body, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    use switchboard_core::ports::CertificateFactory as _;
    use x509_parser::prelude::FromDer as _;

    async fn credential(algorithm: SigningAlgorithm) -> (AppCredential, Vec<u8>) {
        let generated = crate::certificates::RcgenCertificateFactory::new()
            .generate("Switchboard", Timestamp::now(), 30)
            .await
            .expect("generate");
        let pem = x509_parser::pem::parse_x509_pem(generated.certificate_pem.as_bytes())
            .expect("pem")
            .1;
        let (_, cert) =
            x509_parser::certificate::X509Certificate::from_der(&pem.contents).expect("der");
        // The bit string of an RSA SubjectPublicKeyInfo is the PKCS#1 RSAPublicKey.
        let public_key = cert.public_key().subject_public_key.data.to_vec();
        let credential = AppCredential {
            tenant: TenantRef::parse("contoso.onmicrosoft.com").expect("tenant"),
            client_id: ClientId::parse("1b3c5d7e-0000-4000-8000-1234567890ab").expect("id"),
            algorithm,
            certificate: generated.info,
            private_key_pem: generated.private_key_pem,
        };
        (credential, public_key)
    }

    #[derive(Deserialize)]
    struct Claims {
        aud: String,
        iss: String,
        sub: String,
        jti: String,
        nbf: i64,
        iat: i64,
        exp: i64,
    }

    /// jsonwebtoken ≥10 panics at run time when its crypto backend is ambiguous: this signs for real.
    #[tokio::test]
    async fn assertions_sign_and_verify_with_both_algorithms() {
        let endpoint =
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token";
        let now: Timestamp = "2026-05-01T12:00:00Z".parse().expect("ts");
        for (algorithm, alg) in [
            (SigningAlgorithm::Rs256, jsonwebtoken::Algorithm::RS256),
            (SigningAlgorithm::Ps256, jsonwebtoken::Algorithm::PS256),
        ] {
            let (credential, public_key) = credential(algorithm).await;
            let a = client_assertion(&credential, endpoint, now).expect("sign");
            let b = client_assertion(&credential, endpoint, now).expect("sign");
            let header = jsonwebtoken::decode_header(a.expose_secret()).expect("header");
            assert_eq!(header.alg, alg);
            assert_eq!(header.typ.as_deref(), Some("JWT"));
            match algorithm {
                SigningAlgorithm::Rs256 => {
                    assert_eq!(
                        header.x5t.as_deref(),
                        Some(credential.certificate.x5t.as_str())
                    );
                    assert_eq!(header.x5t_s256, None);
                }
                SigningAlgorithm::Ps256 => {
                    assert_eq!(
                        header.x5t_s256.as_deref(),
                        Some(credential.certificate.x5t_s256.as_str())
                    );
                    assert_eq!(header.x5t, None);
                }
            }
            let mut validation = jsonwebtoken::Validation::new(alg);
            validation.set_audience(&[endpoint]);
            validation.validate_exp = false;
            validation.validate_nbf = false;
            let key = jsonwebtoken::DecodingKey::from_rsa_der(&public_key);
            let claims = jsonwebtoken::decode::<Claims>(a.expose_secret(), &key, &validation)
                .expect("signature verifies")
                .claims;
            assert_eq!(claims.aud, endpoint);
            assert_eq!(claims.iss, "1b3c5d7e-0000-4000-8000-1234567890ab");
            assert_eq!(claims.sub, claims.iss);
            assert_eq!((claims.nbf, claims.iat), (now.as_second(), now.as_second()));
            assert_eq!(claims.exp, now.as_second() + 600);
            assert!(uuid::Uuid::parse_str(&claims.jti).is_ok());
            let other = jsonwebtoken::dangerous::insecure_decode::<Claims>(b.expose_secret())
                .expect("decode")
                .claims;
            assert_ne!(claims.jti, other.jti, "a fresh jti per assertion");
            // Neither the key nor the assertion leak through Debug.
            let shown = format!("{credential:?} {a:?}");
            assert!(!shown.contains("PRIVATE KEY") && !shown.contains(a.expose_secret()));
        }
    }

    #[tokio::test]
    async fn an_unusable_key_is_an_error_without_the_key() {
        let (mut credential, _) = credential(SigningAlgorithm::Rs256).await;
        credential.private_key_pem = SecretString::from(
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
        );
        let e = client_assertion(&credential, "aud", Timestamp::now()).expect_err("bad key");
        assert!(matches!(e, TokenError::InvalidKey(_)));
        assert!(!format!("{e} {e:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn expires_in_may_be_a_string() {
        let a: TokenSuccess = serde_json::from_str(r#"{"access_token":"x","expires_in":"3599"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.expires_in.seconds(), Some(3599));
        let b: TokenSuccess = serde_json::from_str(
            r#"{"access_token":"x","expires_in":4000,"ext_expires_in":4000,"token_type":"Bearer"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.expires_in.seconds(), Some(4000));
    }

    #[test]
    fn claims_are_peeked_without_verification() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"roles":["User.Read.All"],"tid":"t-1"}"#);
        let c = peek_claims(&format!("e30.{payload}.sig"));
        assert_eq!(c.roles, Some(vec!["User.Read.All".to_owned()]));
        assert_eq!(c.tid.as_deref(), Some("t-1"));
        let none = peek_claims(&format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(b"{}")));
        assert_eq!(none.roles, None);
        assert!(peek_claims("opaque-token").roles.is_none());
    }

    #[test]
    fn aadsts_code_from_description() {
        assert_eq!(aadsts_code("AADSTS700027: Client assertion…"), Some(700027));
        assert_eq!(aadsts_code("something else"), None);
    }

    #[test]
    fn rejected_display_keeps_only_the_first_line() {
        let e = TokenError::Rejected {
            http_status: 401,
            error: "invalid_client".into(),
            codes: vec![700027],
            description: "AADSTS700027: Bad.\r\nTrace ID: x\r\nCorrelation ID: y".into(),
        };
        assert_eq!(
            e.to_string(),
            "the token endpoint rejected the request with HTTP 401 invalid_client [AADSTS700027]: AADSTS700027: Bad."
        );
    }
}
