//! Bearer-token checks for Graph requests (§6.1 auth errors, §1.6 roles).

use axum::http::{HeaderMap, header};

use super::errors::GraphError;
use super::headers::GraphCtx;
use crate::state::AppState;
use crate::tokens::{self, AccessClaims, TokenProblem};

/// Validates the `Authorization: Bearer …` header against the emulator clock.
pub fn authenticate(
    state: &AppState,
    ctx: &GraphCtx,
    headers: &HeaderMap,
) -> Result<AccessClaims, GraphError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ').unwrap_or((v.trim(), ""));
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .unwrap_or("");
    if token.is_empty() {
        return Err(GraphError::unauthenticated("Access token is empty."));
    }
    tokens::verify(token, state.token_secret(), ctx.now).map_err(|problem| {
        let message = match problem {
            // The service's words for a token that is not a JWT (§6.1).
            TokenProblem::Malformed => "CompactToken parsing failed with error code: 80049217",
            // [inf] for a well-formed token not issued by this emulator process.
            TokenProblem::BadSignature => "Access token validation failure.",
            TokenProblem::WrongAudience => "Access token validation failure. Invalid audience.",
            TokenProblem::Expired => "Access token has expired or is not yet valid.",
        };
        GraphError::unauthenticated(message)
    })
}

/// Authenticates, then requires at least one of `roles` (403 otherwise).
pub fn authorize(
    state: &AppState,
    ctx: &GraphCtx,
    headers: &HeaderMap,
    roles: &[&str],
) -> Result<AccessClaims, GraphError> {
    let claims = authenticate(state, ctx, headers)?;
    if claims.has_any_role(roles) {
        Ok(claims)
    } else {
        Err(GraphError::insufficient_privileges())
    }
}
