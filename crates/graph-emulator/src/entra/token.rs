//! `POST /{tenant}/oauth2/v2.0/token`: client-credentials grant with a certificate
//! (graph-protocol.md §1.1–§1.4).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse as _, Response};
use rand::Rng as _;
use serde::Serialize;

use super::assertion::{self, Audiences};
use super::errors::{EntraCtx, EntraError};
use crate::state::{AppState, TenantRef};
use crate::tokens::{self, AccessClaims, GRAPH_APP_ID, GRAPH_RESOURCE};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Serialize)]
struct TokenResponse {
    token_type: &'static str,
    expires_in: u32,
    ext_expires_in: u32,
    access_token: String,
}

pub async fn token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = EntraCtx::new(&state, &headers);
    match issue(&state, &ctx, &tenant, &body) {
        Ok(body) => {
            let text = serde_json::to_string(&body).unwrap_or_default();
            let mut response = (
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                text,
            )
                .into_response();
            ctx.apply_headers(&mut response);
            response
        }
        Err(e) => e.into_response(&ctx),
    }
}

/// Any other method on the token path: AADSTS900561 (E-errors).
pub async fn wrong_method(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let ctx = EntraCtx::new(&state, &headers);
    EntraError::invalid_request(
        900561,
        format!("The endpoint only accepts POST, OPTIONS requests. Received a {method} request."),
    )
    .into_response(&ctx)
}

fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, EntraError> {
    let mut form = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if form.insert(k.to_string(), v.to_string()).is_some() {
            // AADSTS9000411 [inf: the code Entra uses for duplicated parameters].
            return Err(EntraError::invalid_request(
                9000411,
                format!(
                    "The request is not properly formatted. The parameter '{k}' is duplicated."
                ),
            ));
        }
    }
    Ok(form)
}

fn required<'a>(form: &'a HashMap<String, String>, name: &str) -> Result<&'a str, EntraError> {
    form.get(name)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| EntraError::missing_parameter(name))
}

/// The scope must name exactly one resource with `/.default`, and that resource must be Graph.
fn check_scope(scope: &str, graph_aliases: &[String], tenant_name: &str) -> Result<(), EntraError> {
    let mut resources: Vec<String> = Vec::new();
    for item in scope.split_whitespace() {
        let Some(resource) = item.strip_suffix("/.default") else {
            return Err(EntraError::invalid_scope(
                70011,
                format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope {item} is not valid. \
                     Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                ),
            ));
        };
        let resource = resource.trim_end_matches('/').to_ascii_lowercase();
        if !resources.contains(&resource) {
            resources.push(resource);
        }
    }
    match resources.as_slice() {
        [] => Err(EntraError::missing_parameter("scope")),
        [one] if graph_aliases.iter().any(|a| a.eq_ignore_ascii_case(one)) => Ok(()),
        [one] => Err(EntraError::invalid_resource(
            500011,
            format!(
                "The resource principal named {one} was not found in the tenant named {tenant_name}. This can happen if the application \
                 has not been installed by the administrator of the tenant or consented to by any user in the tenant. \
                 You might have sent your authentication request to the wrong tenant."
            ),
        )),
        _ => Err(EntraError::invalid_scope(
            700022,
            format!(
                "The provided value for the input parameter scope is not valid because it contains more than one resource. Scope {scope} is not valid."
            ),
        )),
    }
}

fn issue(
    state: &AppState,
    ctx: &EntraCtx,
    tenant_segment: &str,
    body: &[u8],
) -> Result<TokenResponse, EntraError> {
    let mut tenant = state.tenant();
    match tenant.resolve(tenant_segment) {
        TenantRef::This => {}
        TenantRef::CommonOrConsumers => {
            return Err(EntraError::invalid_request(
                9001023,
                "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
            ));
        }
        TenantRef::Organizations => {
            // An app-only token needs a concrete tenant [inf: AADSTS50059 MissingTenantRealm].
            return Err(EntraError::invalid_request(
                50059,
                "No tenant-identifying information found in either the request or implied by any provided credentials.",
            ));
        }
        TenantRef::Unknown => {
            return Err(EntraError::invalid_request(
                90002,
                format!(
                    "Tenant '{tenant_segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. \
                     Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
                ),
            ));
        }
    }

    let form = parse_form(body)?;
    let grant_type = required(&form, "grant_type")?;
    if grant_type != "client_credentials" {
        return Err(EntraError::unsupported_grant_type(
            70003,
            format!("The app requested an unsupported grant type '{grant_type}'."),
        ));
    }
    let client_id = required(&form, "client_id")?.to_ascii_lowercase();
    let scope = required(&form, "scope")?;
    let graph_aliases = [
        GRAPH_RESOURCE.to_owned(),
        GRAPH_APP_ID.to_owned(),
        // The emulator host plays graph.microsoft.com, so a client that derives the scope from
        // its configured Graph URL (as national clouds require) is accepted too [inf].
        state.base_url().to_owned(),
        ctx.base.clone(),
    ];
    check_scope(scope, &graph_aliases, &tenant.id)?;

    let Some(app) = tenant.app(&client_id).cloned() else {
        return Err(EntraError::unauthorized_client(
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been \
                 installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your \
                 authentication request to the wrong tenant.",
                tenant_segment
            ),
        ));
    };

    if form.contains_key("client_secret") {
        return Err(EntraError::invalid_client(
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client \
                 secret ID, for a secret added to app '{}'.",
                app.app_id
            ),
        ));
    }
    let Some(client_assertion) = form
        .get("client_assertion")
        .filter(|a| !a.trim().is_empty())
    else {
        return Err(EntraError::invalid_client(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    };
    let assertion_type = required(&form, "client_assertion_type")?;
    if assertion_type != JWT_BEARER {
        // [inf] Entra's code for a wrong assertion type is undocumented.
        return Err(EntraError::invalid_request(
            90023,
            format!("The 'client_assertion_type' parameter must be '{JWT_BEARER}'."),
        ));
    }

    let audiences = Audiences {
        bases: dedup([state.base_url().to_owned(), ctx.base.clone()]),
        tenants: dedup([
            tenant_segment.to_owned(),
            tenant.id.clone(),
            tenant.domain.clone(),
        ]),
    };
    let accepted = assertion::validate(client_assertion, &client_id, &app, &audiences, ctx.now)?;

    let Some(sp) = tenant.service_principals.get(&client_id).cloned() else {
        return Err(EntraError::invalid_client(
            7000229,
            format!(
                "The client application {} is missing service principal in the tenant {}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119",
                app.app_id, tenant.id
            ),
        ));
    };

    tenant.purge_assertions(ctx.now);
    let replay_key = format!("{client_id} {}", accepted.jti);
    if tenant.used_assertions.contains_key(&replay_key) {
        return Err(assertion::replayed(&accepted.jti));
    }

    // "a random value ranging between 60-90 minutes" (E-tokens).
    let expires_in: u32 = tenant.rng.random_range(3600..=5399);
    let now = ctx.now.as_second();
    let uti = tenant.new_guid();
    let claims = AccessClaims {
        aud: GRAPH_RESOURCE.to_owned(),
        iss: format!("https://sts.windows.net/{}/", tenant.id),
        // Entra back-dates iat/nbf by five minutes [obs].
        iat: now - 300,
        nbf: now - 300,
        exp: now + i64::from(expires_in),
        app_displayname: app.display_name.clone(),
        appid: app.app_id.clone(),
        appidacr: "2".to_owned(),
        idp: format!("https://sts.windows.net/{}/", tenant.id),
        idtyp: "app".to_owned(),
        oid: sp.id.clone(),
        roles: (!sp.granted_roles.is_empty()).then(|| sp.granted_roles.clone()),
        sub: sp.id.clone(),
        tid: tenant.id.clone(),
        uti,
        ver: "1.0".to_owned(),
    };
    let access_token = tokens::sign(&claims, state.token_secret()).map_err(|e| {
        EntraError::for_status(axum::http::StatusCode::INTERNAL_SERVER_ERROR).with_message(e)
    })?;
    tenant
        .used_assertions
        .insert(replay_key, accepted.replayable_until);
    Ok(TokenResponse {
        token_type: "Bearer",
        expires_in,
        ext_expires_in: expires_in,
        access_token,
    })
}

fn dedup<const N: usize>(items: [String; N]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(N);
    for item in items {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&item)) {
            out.push(item);
        }
    }
    out
}
