//! Client-assertion validation (graph-protocol.md §1.2).
//!
//! Order of checks [inf]: format → key lookup by thumbprint → signature → `sub`/`iss` →
//! `aud` → time range → `jti`. Key and signature come first because Entra has to find the
//! credential before it can trust anything the assertion says.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::errors::EntraError;
use crate::certificate::{Certificate, hex_upper};
use crate::clock::dotnet_round_trip;
use crate::state::App;

/// Clock skew Entra tolerates on `nbf`/`exp` (5 minutes).
pub const SKEW_SECONDS: i64 = 300;

const CERT_DOC: &str = "Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .";

/// What the caller needs to remember about an accepted assertion.
#[derive(Debug)]
pub struct Accepted {
    pub jti: String,
    /// Until when a replay of this assertion would still be inside its validity window.
    pub replayable_until: Timestamp,
}

/// Expected audiences: the token endpoint (or `/v2.0` issuer form) under every name the
/// tenant is known by in this request.
#[derive(Debug)]
pub struct Audiences {
    pub bases: Vec<String>,
    pub tenants: Vec<String>,
}

impl Audiences {
    fn matches(&self, aud: &str) -> bool {
        self.bases.iter().any(|base| {
            self.tenants.iter().any(|tenant| {
                ["/oauth2/v2.0/token", "/v2.0", "/oauth2/token"]
                    .iter()
                    .any(|suffix| aud.eq_ignore_ascii_case(&format!("{base}/{tenant}{suffix}")))
            })
        })
    }

    fn preferred(&self) -> String {
        match (self.bases.first(), self.tenants.first()) {
            (Some(b), Some(t)) => format!("{b}/{t}/oauth2/v2.0/token"),
            _ => String::new(),
        }
    }
}

fn malformed(detail: &str) -> EntraError {
    // AADSTS50027 InvalidJwtToken (E-errors); the detail sentence is the emulator's [inf].
    EntraError::invalid_client(
        50027,
        format!("JWT token is invalid or malformed. {detail}"),
    )
}

fn decode_segment(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Decodes a thumbprint, accepting padded/unpadded base64url and plain base64.
fn decode_thumbprint(value: &str) -> Option<Vec<u8>> {
    let normalized: String = value
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(normalized).ok()
}

fn key_not_found(app: &App, shown: &str, reason: &str) -> EntraError {
    EntraError::invalid_client(
        700027,
        format!(
            "Client assertion contains an invalid signature. [Reason - {reason}, Thumbprint of key used by client: '{shown}', \
             Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{app_id}'. \
             Review the documentation at https://learn.microsoft.com/graph/deployments to determine the corresponding service endpoint \
             and https://learn.microsoft.com/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, \
             such as 'https://graph.microsoft.com/beta/applications/{app_id}']",
            app_id = app.app_id
        ),
    )
}

fn numeric_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, EntraError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| malformed(&format!("The '{name}' claim is not a NumericDate."))),
        Some(_) => Err(malformed(&format!(
            "The '{name}' claim is not a NumericDate."
        ))),
    }
}

fn time_text(seconds: i64) -> String {
    Timestamp::from_second(seconds)
        .map(dotnet_round_trip)
        .unwrap_or_else(|_| seconds.to_string())
}

/// Validates `assertion` for `app` (already looked up by `client_id`) at emulator time `now`.
pub fn validate(
    assertion: &str,
    client_id: &str,
    app: &App,
    audiences: &Audiences,
    now: Timestamp,
) -> Result<Accepted, EntraError> {
    let parts: Vec<&str> = assertion.trim().split('.').collect();
    let [header_b64, claims_b64, signature] = parts.as_slice() else {
        return Err(malformed(
            "The client assertion is not a compact JWS (header.payload.signature).",
        ));
    };
    let header = decode_segment(header_b64)
        .ok_or_else(|| malformed("The client assertion header is not base64url-encoded JSON."))?;
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => Algorithm::RS256,
        Some("PS256") => Algorithm::PS256,
        other => {
            return Err(malformed(&format!(
                "The client assertion algorithm '{}' is not supported; use RS256 or PS256.",
                other.unwrap_or("")
            )));
        }
    };

    // x5t#S256 = base64url(SHA-256(DER)), x5t = base64url(SHA-1(DER)) (§1.2); both accepted
    // with either algorithm, padded or not.
    let s256 = header.get("x5t#S256").and_then(Value::as_str);
    let s1 = header.get("x5t").and_then(Value::as_str);
    let (shown, found): (String, Option<&Certificate>) = match (s256, s1) {
        (None, None) => (String::new(), None),
        _ => {
            let by256 = s256.and_then(decode_thumbprint);
            let by1 = s1.and_then(decode_thumbprint);
            let found = app.certificates.iter().find(|c| {
                by256.as_deref() == Some(c.sha256.as_slice())
                    || by1.as_deref() == Some(c.sha1.as_slice())
            });
            let shown = match (&by1, &by256, s1, s256) {
                (Some(b), _, _, _) => hex_upper(b),
                (None, Some(b), _, _) => hex_upper(b),
                (None, None, Some(raw), _) | (None, None, None, Some(raw)) => raw.to_owned(),
                (None, None, None, None) => String::new(),
            };
            (shown, found)
        }
    };
    let Some(cert) = found else {
        return Err(key_not_found(app, &shown, "The key was not found."));
    };
    if !cert.is_valid_at(now) {
        return Err(key_not_found(app, &shown, "The key used is expired."));
    }
    let message = format!("{header_b64}.{claims_b64}");
    let key = DecodingKey::from_rsa_der(&cert.rsa_public_key);
    let verified =
        jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, alg).unwrap_or(false);
    if !verified {
        return Err(key_not_found(
            app,
            &shown,
            "The provided signature value did not match the expected signature value.",
        ));
    }

    let claims = decode_segment(claims_b64)
        .ok_or_else(|| malformed("The client assertion payload is not base64url-encoded JSON."))?;
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    if iss.is_empty() || !sub.eq_ignore_ascii_case(iss) {
        return Err(EntraError::invalid_client(
            50048,
            "Subject mismatches Issuer claim in the client assertion.",
        ));
    }
    if !iss.eq_ignore_ascii_case(client_id) {
        // AADSTS700021 [inf: the code Entra uses for an assertion issued by another app].
        return Err(EntraError::invalid_client(
            700021,
            format!(
                "Client assertion application identifier doesn't match 'client_id' parameter. {CERT_DOC}"
            ),
        ));
    }

    let auds: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !auds.iter().any(|a| audiences.matches(a)) {
        // [inf] code per the brief; wording is the emulator's own.
        return Err(EntraError::invalid_client(
            700212,
            format!(
                "The audience '{}' of the client assertion is not valid. The assertion audience must be the token endpoint '{}'. {CERT_DOC}",
                auds.join(", "),
                audiences.preferred()
            ),
        ));
    }

    let exp = numeric_claim(&claims, "exp")?.ok_or_else(|| {
        malformed("The required claim 'exp' is missing from the client assertion.")
    })?;
    // An absent nbf shows as 1970-01-01 in the service's message [obs, msal-dotnet#4951].
    let nbf = numeric_claim(&claims, "nbf")?.unwrap_or(0);
    let t = now.as_second();
    if t < nbf.saturating_sub(SKEW_SECONDS) || t > exp.saturating_add(SKEW_SECONDS) {
        return Err(EntraError::invalid_client(
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. {CERT_DOC}",
                dotnet_round_trip(now),
                time_text(nbf),
                time_text(exp)
            ),
        ));
    }

    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|j| !j.is_empty())
        .ok_or_else(|| {
            malformed("The required claim 'jti' is missing from the client assertion.")
        })?;
    let replayable_until =
        Timestamp::from_second(exp.saturating_add(SKEW_SECONDS)).unwrap_or(Timestamp::MAX);
    Ok(Accepted {
        jti: jti.to_owned(),
        replayable_until,
    })
}

/// AADSTS50027 for a reused `jti` [inf: Entra does not document its replay answer].
pub fn replayed(jti: &str) -> EntraError {
    malformed(&format!(
        "The client assertion with jti '{jti}' has already been used. Create a new assertion with a fresh 'jti' for every token request."
    ))
}
