//! Admin consent (graph-protocol.md §1.5): `GET /{tenant}/adminconsent` (v1, no scope) and
//! `GET /{tenant}/v2.0/adminconsent` (scope required). The emulator plays the admin: it answers
//! at once with the redirect the browser would follow after the admin clicked Accept/Cancel.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};

use super::errors::{EntraCtx, EntraError};
use crate::state::{AppState, ConsentResponse, TenantRef};
use crate::tokens::{GRAPH_APP_ID, GRAPH_RESOURCE};

pub async fn admin_consent_v1(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    consent(
        &state,
        &headers,
        &tenant,
        query.as_deref().unwrap_or(""),
        false,
    )
}

pub async fn admin_consent_v2(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    consent(
        &state,
        &headers,
        &tenant,
        query.as_deref().unwrap_or(""),
        true,
    )
}

/// Decoded parameters plus `state` exactly as it appeared in the query string, so that it
/// goes back byte for byte.
struct Params {
    pairs: Vec<(String, String)>,
    raw_state: Option<String>,
}

impl Params {
    fn parse(query: &str) -> Params {
        let pairs = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let raw_state = query.split('&').find_map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let key: String = url::form_urlencoded::parse(format!("{k}=").as_bytes())
                .next()
                .map(|(k, _)| k.into_owned())
                .unwrap_or_default();
            (key == "state").then(|| v.to_owned())
        });
        Params { pairs, raw_state }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }
}

fn consent(
    state: &AppState,
    headers: &HeaderMap,
    tenant_segment: &str,
    query: &str,
    v2: bool,
) -> Response {
    let ctx = EntraCtx::new(state, headers);
    let params = Params::parse(query);
    let mut tenant = state.tenant();
    match tenant.resolve(tenant_segment) {
        // The admin signs in to the one emulated tenant, whichever alias they came through.
        TenantRef::This | TenantRef::Organizations => {}
        TenantRef::CommonOrConsumers if tenant_segment.eq_ignore_ascii_case("common") => {}
        TenantRef::CommonOrConsumers | TenantRef::Unknown => {
            return EntraError::invalid_request(
                90002,
                format!("Tenant '{tenant_segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
            )
            .into_html(&ctx);
        }
    }
    let Some(client_id) = params.get("client_id") else {
        return EntraError::missing_parameter("client_id").into_html(&ctx);
    };
    let Some(app) = tenant.app(client_id).cloned() else {
        return EntraError::unauthorized_client(
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been \
                 installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your \
                 authentication request to the wrong tenant.",
                tenant_segment
            ),
        )
        .into_html(&ctx);
    };

    // Without redirect_uri Entra falls back to the app's registered reply URL [inf].
    let requested = params
        .get("redirect_uri")
        .map(str::to_owned)
        .or_else(|| app.redirect_uris.first().cloned());
    let Some(requested) = requested else {
        return EntraError::invalid_request(
            500113,
            "No reply address is registered for the application.",
        )
        .into_html(&ctx);
    };
    let Some(redirect) = matching_redirect(&requested, &app.redirect_uris) else {
        return EntraError::invalid_request(
            50011,
            format!(
                "The redirect URI '{requested}' specified in the request does not match the redirect URIs configured for the application '{}'. \
                 Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. \
                 Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.",
                app.app_id
            ),
        )
        .into_html(&ctx);
    };
    let state_suffix = params
        .raw_state
        .as_deref()
        .map(|s| format!("&state={s}"))
        .unwrap_or_default();

    let scope = if v2 {
        match params.get("scope") {
            None => {
                return redirect_to(
                    &redirect,
                    &format!(
                        "error=invalid_request&error_description={}{state_suffix}",
                        enc(&EntraError::missing_parameter("scope").description(&ctx))
                    ),
                );
            }
            Some(scope) if !has_graph_default(scope, state, &ctx) => {
                return redirect_to(
                    &redirect,
                    &format!(
                        "error=invalid_scope&error_description={}{state_suffix}",
                        enc(&format!(
                            "AADSTS70011: The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. \
                             Application permissions need '{GRAPH_RESOURCE}/.default'.{}",
                            ctx.trailer()
                        ))
                    ),
                );
            }
            Some(scope) => Some(scope.to_owned()),
        }
    } else {
        None
    };

    if app.consent_response == ConsentResponse::Decline {
        // Observed on cancel: no `tenant`, but `admin_consent=True` all the same (§1.5).
        return redirect_to(
            &redirect,
            &format!(
                "error=access_denied&error_description=AADSTS65004%3a+User+declined+to+consent+to+access+the+app.&admin_consent=True{state_suffix}"
            ),
        );
    }

    tenant.grant_consent(&app.app_id);
    let mut query = format!("admin_consent=True&tenant={}{state_suffix}", tenant.id);
    if let Some(requested_scope) = scope {
        // v2 also reports what was granted (§1.5).
        let granted: Vec<String> = app
            .roles
            .iter()
            .map(|r| format!("{GRAPH_RESOURCE}/{r}"))
            .chain(std::iter::once(requested_scope))
            .collect();
        query.push_str(&format!("&scope={}", enc(&granted.join(" "))));
    }
    redirect_to(&redirect, &query)
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn has_graph_default(scope: &str, state: &AppState, ctx: &EntraCtx) -> bool {
    scope.split_whitespace().any(|s| {
        s.strip_suffix("/.default").is_some_and(|r| {
            let r = r.trim_end_matches('/');
            [
                GRAPH_RESOURCE,
                GRAPH_APP_ID,
                state.base_url(),
                ctx.base.as_str(),
            ]
            .iter()
            .any(|a| a.eq_ignore_ascii_case(r))
        })
    })
}

/// The registered URI must match exactly; "it can have additional path segments" (E-cc).
fn matching_redirect(requested: &str, registered: &[String]) -> Option<url::Url> {
    let wanted = url::Url::parse(requested).ok()?;
    registered.iter().find_map(|r| {
        let reg = url::Url::parse(r).ok()?;
        let same_origin = reg.scheme() == wanted.scheme()
            && reg.host_str() == wanted.host_str()
            && reg.port_or_known_default() == wanted.port_or_known_default();
        let path_ok = wanted.path() == reg.path()
            || (reg.query().is_none()
                && wanted
                    .path()
                    .strip_prefix(reg.path().trim_end_matches('/'))
                    .is_some_and(|rest| rest.starts_with('/')));
        let query_ok = wanted.query() == reg.query() || reg.query().is_none();
        (same_origin && path_ok && query_ok && wanted.fragment().is_none()).then(|| wanted.clone())
    })
}

fn redirect_to(target: &url::Url, query: &str) -> Response {
    let base = target.as_str();
    let sep = if target.query().is_some() { '&' } else { '?' };
    let location = format!("{base}{sep}{query}");
    match HeaderValue::from_str(&location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            "the redirect target cannot be expressed as a Location header",
        )
            .into_response(),
    }
}
