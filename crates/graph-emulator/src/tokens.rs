//! Access tokens the emulator issues for Graph and later accepts (graph-protocol.md §1.3).
//!
//! Real Graph tokens are opaque to clients; these are JWTs of the observed app-only shape,
//! signed HS256 with a per-process secret so they are easy to decode while debugging.

use jiff::Timestamp;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The Graph resource: the `aud` of every token issued here.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// Microsoft Graph's well-known appId.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    #[serde(default)]
    pub app_displayname: String,
    pub appid: String,
    /// "2": the client authenticated with a certificate.
    #[serde(default)]
    pub appidacr: String,
    #[serde(default)]
    pub idp: String,
    #[serde(default)]
    pub idtyp: String,
    pub oid: String,
    /// Omitted entirely when nothing is granted, as Entra does (§1.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    pub sub: String,
    pub tid: String,
    #[serde(default)]
    pub uti: String,
    pub ver: String,
}

impl AccessClaims {
    pub fn has_any_role(&self, wanted: &[&str]) -> bool {
        self.roles
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|r| wanted.iter().any(|w| w.eq_ignore_ascii_case(r)))
    }
}

/// Signs an access token.
pub fn sign(claims: &AccessClaims, secret: &[u8]) -> Result<String, String> {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("JWT".to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret))
        .map_err(|e| format!("cannot sign the access token: {e}"))
}

/// Why a presented bearer token is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// Not a JWT at all.
    Malformed,
    /// A JWT not signed by this emulator process.
    BadSignature,
    WrongAudience,
    /// Outside `nbf..exp` by the emulator clock.
    Expired,
}

/// Verifies signature, audience and lifetime (by the emulator clock, no leeway [inf]).
pub fn verify(token: &str, secret: &[u8], now: Timestamp) -> Result<AccessClaims, TokenProblem> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data =
        jsonwebtoken::decode::<AccessClaims>(token, &DecodingKey::from_secret(secret), &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                    TokenProblem::BadSignature
                }
                _ => TokenProblem::Malformed,
            })?;
    let claims = data.claims;
    if claims.aud != GRAPH_RESOURCE && claims.aud != GRAPH_APP_ID {
        return Err(TokenProblem::WrongAudience);
    }
    let now = now.as_second();
    if now < claims.nbf || now >= claims.exp {
        return Err(TokenProblem::Expired);
    }
    Ok(claims)
}
