//! App registrations: `/_emulator/apps[/{appId}]`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use serde::{Deserialize, Serialize};

use super::{Problem, bad_request, parse_body, problem};
use crate::certificate::Certificate;
use crate::clock::graph_date_time;
use crate::state::{App, AppState, ConsentResponse, Tenant};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewApp {
    app_id: Option<String>,
    display_name: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    certificates: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    consent_granted: bool,
    #[serde(default)]
    consent_response: ConsentResponse,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppPatch {
    display_name: Option<String>,
    redirect_uris: Option<Vec<String>>,
    certificates: Option<Vec<String>>,
    add_certificates: Option<Vec<String>>,
    roles: Option<Vec<String>>,
    consent_granted: Option<bool>,
    consent_response: Option<ConsentResponse>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    app_id: String,
    tenant_id: String,
    tenant_domain: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AppView {
    app_id: String,
    display_name: String,
    redirect_uris: Vec<String>,
    roles: Vec<String>,
    consent_response: ConsentResponse,
    consent_granted: bool,
    service_principal_id: Option<String>,
    granted_roles: Vec<String>,
    certificates: Vec<CertView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CertView {
    key_id: String,
    /// Upper-case hex SHA-1, as the portal shows it.
    thumbprint: String,
    thumbprint_sha256: String,
    x5t: String,
    #[serde(rename = "x5t#S256")]
    x5t_s256: String,
    subject: String,
    key_size: usize,
    start_date_time: String,
    end_date_time: String,
}

fn view(tenant: &Tenant, app: &App) -> AppView {
    let sp = tenant
        .service_principals
        .get(&app.app_id.to_ascii_lowercase());
    AppView {
        app_id: app.app_id.clone(),
        display_name: app.display_name.clone(),
        redirect_uris: app.redirect_uris.clone(),
        roles: app.roles.clone(),
        consent_response: app.consent_response,
        consent_granted: sp.is_some(),
        service_principal_id: sp.map(|s| s.id.clone()),
        granted_roles: sp.map(|s| s.granted_roles.clone()).unwrap_or_default(),
        certificates: app
            .certificates
            .iter()
            .map(|c| CertView {
                key_id: c.key_id.clone(),
                thumbprint: c.thumbprint(),
                thumbprint_sha256: crate::certificate::hex_upper(&c.sha256),
                x5t: c.x5t(),
                x5t_s256: c.x5t_s256(),
                subject: c.subject.clone(),
                key_size: c.key_bits,
                start_date_time: graph_date_time(c.not_before),
                end_date_time: graph_date_time(c.not_after),
            })
            .collect(),
    }
}

fn parse_certificates(pems: &[String]) -> Result<Vec<Certificate>, Problem> {
    pems.iter()
        .enumerate()
        .map(|(i, pem)| {
            Certificate::parse(pem).map_err(|e| bad_request(format!("certificates[{i}]: {e}")))
        })
        .collect()
}

fn check_redirect_uris(uris: &[String]) -> Result<(), Problem> {
    for (i, uri) in uris.iter().enumerate() {
        let parsed = url::Url::parse(uri).map_err(|e| {
            bad_request(format!(
                "redirectUris[{i}]: '{uri}' is not an absolute URL: {e}"
            ))
        })?;
        if parsed.fragment().is_some() {
            return Err(bad_request(format!(
                "redirectUris[{i}]: '{uri}' must not contain a fragment"
            )));
        }
    }
    Ok(())
}

fn check_roles(roles: &[String]) -> Result<(), Problem> {
    match roles
        .iter()
        .position(|r| r.trim().is_empty() || r.contains(char::is_whitespace))
    {
        Some(i) => Err(bad_request(format!(
            "roles[{i}]: a role is a permission name such as 'User.Read.All' (no spaces)"
        ))),
        None => Ok(()),
    }
}

fn not_found(app_id: &str) -> Problem {
    problem(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no app registered with appId '{app_id}'"),
    )
}

pub async fn list(State(state): State<AppState>) -> Response {
    let tenant = state.tenant();
    let value: Vec<AppView> = tenant.apps.values().map(|a| view(&tenant, a)).collect();
    Json(serde_json::json!({ "value": value })).into_response()
}

pub async fn create(State(state): State<AppState>, body: Bytes) -> Result<Response, Problem> {
    let new: NewApp = parse_body(&body)?;
    let certificates = parse_certificates(&new.certificates)?;
    check_redirect_uris(&new.redirect_uris)?;
    check_roles(&new.roles)?;
    let mut tenant = state.tenant();
    let app_id = match new.app_id {
        Some(id) => uuid::Uuid::parse_str(id.trim())
            .map_err(|_| bad_request(format!("appId '{id}' is not a GUID")))?
            .to_string(),
        None => tenant.new_guid(),
    };
    if tenant.apps.contains_key(&app_id) {
        return Err(problem(
            StatusCode::CONFLICT,
            "conflict",
            format!("an app with appId '{app_id}' is already registered"),
        ));
    }
    let app = App {
        app_id: app_id.clone(),
        display_name: new.display_name.unwrap_or_else(|| "Switchboard".to_owned()),
        redirect_uris: new.redirect_uris,
        certificates,
        roles: new.roles,
        consent_response: new.consent_response,
    };
    tenant.apps.insert(app_id.clone(), app);
    if new.consent_granted {
        tenant.grant_consent(&app_id);
    }
    let created = Created {
        app_id,
        tenant_id: tenant.id.clone(),
        tenant_domain: tenant.domain.clone(),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
) -> Result<Response, Problem> {
    let tenant = state.tenant();
    let app = tenant.app(&app_id).ok_or_else(|| not_found(&app_id))?;
    Ok(Json(view(&tenant, app)).into_response())
}

pub async fn update(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let patch: AppPatch = parse_body(&body)?;
    let replace = patch
        .certificates
        .as_deref()
        .map(parse_certificates)
        .transpose()?;
    let add = patch
        .add_certificates
        .as_deref()
        .map(parse_certificates)
        .transpose()?;
    if let Some(uris) = &patch.redirect_uris {
        check_redirect_uris(uris)?;
    }
    if let Some(roles) = &patch.roles {
        check_roles(roles)?;
    }
    let mut tenant = state.tenant();
    let key = app_id.to_ascii_lowercase();
    let app = tenant
        .apps
        .get_mut(&key)
        .ok_or_else(|| not_found(&app_id))?;
    if let Some(name) = patch.display_name {
        app.display_name = name;
    }
    if let Some(uris) = patch.redirect_uris {
        app.redirect_uris = uris;
    }
    if let Some(certs) = replace {
        app.certificates = certs;
    }
    for cert in add.unwrap_or_default() {
        if !app.certificates.iter().any(|c| c.sha256 == cert.sha256) {
            app.certificates.push(cert);
        }
    }
    if let Some(roles) = patch.roles {
        // Granted roles stay as they were until consent is given again.
        app.roles = roles;
    }
    if let Some(response) = patch.consent_response {
        app.consent_response = response;
    }
    match patch.consent_granted {
        Some(true) => tenant.grant_consent(&key),
        Some(false) => {
            tenant.service_principals.remove(&key);
        }
        None => {}
    }
    let app = tenant.app(&key).ok_or_else(|| not_found(&app_id))?;
    Ok(Json(view(&tenant, app)).into_response())
}

pub async fn remove(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
) -> Result<Response, Problem> {
    let mut tenant = state.tenant();
    let key = app_id.to_ascii_lowercase();
    tenant.apps.remove(&key).ok_or_else(|| not_found(&app_id))?;
    tenant.service_principals.remove(&key);
    Ok(StatusCode::NO_CONTENT.into_response())
}
