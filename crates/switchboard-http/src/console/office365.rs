//! The Office 365 "Configure" page: register the app, enter its ids, make the certificate, see
//! the permissions, sign in (admin consent) and test the connection.

use super::pages::CsrfForm;
use super::{ConsoleUser, Layout, csrf_denied, error_page, internal_error, render};
use crate::auth::session::Session;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use switchboard_core::office365::{
    ClientId, ConnectionSettings, ConnectionUpdate, ServiceError, SigningAlgorithm, TenantRef,
};

const PAGE: &str = "/settings/office365";

#[derive(Debug)]
struct CertRow {
    subject: String,
    thumbprint_sha1: String,
    thumbprint_sha256: String,
    not_before: String,
    not_after: String,
    /// CSS class and text of the expiry badge, when there is something to warn about.
    warning: Option<(&'static str, String)>,
}

/// Core's `CertificateView` is not nameable from here (only reachable as a field), hence a macro.
macro_rules! cert_row {
    ($c:expr) => {{
        let c = $c;
        let warning = if c.expired {
            Some(("badge-error", "expired".to_owned()))
        } else if c.expires_soon {
            Some((
                "badge-awaiting_consent",
                format!("expires in {} days", c.days_left),
            ))
        } else {
            None
        };
        CertRow {
            subject: c.subject.clone(),
            thumbprint_sha1: c.thumbprint_sha1.clone(),
            thumbprint_sha256: c.thumbprint_sha256.clone(),
            not_before: c.not_before.strftime("%Y-%m-%d").to_string(),
            not_after: c.not_after.strftime("%Y-%m-%d %H:%M UTC").to_string(),
            warning,
        }
    }};
}

#[derive(Debug)]
struct PermissionRow {
    name: &'static str,
    reason: &'static str,
    /// "granted", "missing" or "unknown" (no token seen yet).
    state: &'static str,
}

/// What the ids form shows: the submitted values and an error per field.
#[derive(Debug, Default)]
struct IdsForm {
    client_id: String,
    tenant: String,
    algorithm: String,
    client_id_error: Option<String>,
    tenant_error: Option<String>,
    algorithm_error: Option<String>,
}

#[derive(Template)]
#[template(path = "office365.html")]
struct Office365Page {
    layout: Layout,
    csrf_token: String,
    status: &'static str,
    message: String,
    redirect_url: String,
    organization: Option<String>,
    notice: Option<&'static str>,
    error: Option<String>,
    form: IdsForm,
    algorithms: [&'static str; 2],
    certificate: Option<CertRow>,
    pending: Option<CertRow>,
    permissions: Vec<PermissionRow>,
    consent_href: String,
}

impl Office365Page {
    fn new(session: &Session, s: ConnectionSettings, form: Option<IdsForm>) -> Self {
        let known = !s.granted_roles.is_empty() || s.status.as_str() == "connected";
        let permissions = s
            .required_permissions
            .iter()
            .map(|p| PermissionRow {
                name: p.name,
                reason: p.reason,
                state: if s.granted_roles.iter().any(|r| r == p.name) {
                    "granted"
                } else if known || s.missing_permissions.iter().any(|m| m == p.name) {
                    "missing"
                } else {
                    "unknown"
                },
            })
            .collect();
        let form = form.unwrap_or_else(|| IdsForm {
            client_id: s.client_id.clone().unwrap_or_default(),
            tenant: s.tenant.clone().unwrap_or_default(),
            algorithm: s.algorithm.as_str().to_owned(),
            ..IdsForm::default()
        });
        let consent_query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &session.csrf_token)
            .finish();
        Self {
            layout: Layout::signed_in(session, "office365"),
            csrf_token: session.csrf_token.clone(),
            status: s.status.as_str(),
            message: s.message,
            redirect_url: s.redirect_url,
            organization: s.organization_name,
            notice: None,
            error: None,
            form,
            algorithms: [
                SigningAlgorithm::Rs256.as_str(),
                SigningAlgorithm::Ps256.as_str(),
            ],
            certificate: s.certificate.as_ref().map(|c| cert_row!(c)),
            pending: s.pending_certificate.as_ref().map(|c| cert_row!(c)),
            permissions,
            consent_href: format!("{PAGE}/consent?{consent_query}"),
        }
    }
}

/// Renders the page with the current settings, a status code and optional extras.
async fn show(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    form: Option<IdsForm>,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    match state.connection().settings().await {
        Ok(s) => {
            let mut page = Office365Page::new(session, s, form);
            page.notice = notice;
            page.error = error;
            render(status, &page)
        }
        Err(e) => internal_error(&e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct NoticeQuery {
    notice: Option<String>,
}

/// Fixed texts only: nothing from the query string reaches the page.
fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "saved" => Some("Saved the application and directory IDs."),
        "keypair" => Some(
            "New key pair generated. Download public_key.pem and upload it to the app registration under Certificates & secrets → Certificates.",
        ),
        "verified" => Some("Connection checked: the status above is the result."),
        _ => None,
    }
}

/// `GET /settings/office365`
pub(crate) async fn page(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let notice = notice_text(query.notice.as_deref());
    show(&state, &session, StatusCode::OK, None, notice, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct IdsInput {
    csrf_token: Option<String>,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    algorithm: String,
}

/// `POST /settings/office365`: save the ids; errors are shown next to the fields, values kept.
pub(crate) async fn save_ids(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Form(input): Form<IdsInput>,
) -> Response {
    if let Some(denied) = csrf_denied(&session, input.csrf_token.as_deref()) {
        return denied;
    }
    let algorithm = if input.algorithm.trim().is_empty() {
        SigningAlgorithm::default().as_str().to_owned()
    } else {
        input.algorithm.trim().to_owned()
    };
    let form = IdsForm {
        client_id_error: ClientId::parse(&input.client_id)
            .err()
            .map(|e| e.to_string()),
        tenant_error: TenantRef::parse(&input.tenant).err().map(|e| e.to_string()),
        algorithm_error: SigningAlgorithm::parse(&algorithm)
            .is_none()
            .then(|| format!("Unknown signing algorithm \"{algorithm}\": choose RS256 or PS256.")),
        client_id: input.client_id,
        tenant: input.tenant,
        algorithm,
    };
    if form.client_id_error.is_some()
        || form.tenant_error.is_some()
        || form.algorithm_error.is_some()
    {
        return show(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(form),
            None,
            None,
        )
        .await;
    }
    let update = ConnectionUpdate {
        client_id: Some(form.client_id.clone()),
        tenant: Some(form.tenant.clone()),
        algorithm: Some(form.algorithm.clone()),
    };
    match state.connection().update(update).await {
        Ok(_) => {
            tracing::info!(user = %session.username, "office 365 ids saved");
            Redirect::to(&format!("{PAGE}?notice=saved")).into_response()
        }
        Err(e @ (ServiceError::InvalidId(_) | ServiceError::Invalid(_))) => {
            show(
                &state,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(form),
                None,
                Some(e.to_string()),
            )
            .await
        }
        Err(e) => service_failure(&state, &session, e).await,
    }
}

/// `POST /settings/office365/keypair`
pub(crate) async fn keypair(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(denied) = csrf_denied(&session, form.csrf_token.as_deref()) {
        return denied;
    }
    match state.connection().generate_keypair().await {
        Ok(_) => {
            tracing::info!(user = %session.username, "office 365 key pair generated");
            Redirect::to(&format!("{PAGE}?notice=keypair#certificate")).into_response()
        }
        Err(e) => service_failure(&state, &session, e).await,
    }
}

/// `GET /settings/office365/public_key.pem`: the certificate to upload (never the key).
pub(crate) async fn download_certificate(
    State(state): State<AppState>,
    ConsoleUser(_session): ConsoleUser,
) -> Response {
    match state.connection().certificate_pem().await {
        Ok(Some(pem)) => (
            [
                (header::CONTENT_TYPE, "application/x-pem-file"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"public_key.pem\"",
                ),
            ],
            pem,
        )
            .into_response(),
        Ok(None) => error_page(
            StatusCode::NOT_FOUND,
            "No certificate yet",
            "Generate a key pair on the Office 365 page first; then public_key.pem can be downloaded.",
        ),
        Err(e) => internal_error(&e),
    }
}

/// `POST /settings/office365/verify`: "Test connection".
pub(crate) async fn verify(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(denied) = csrf_denied(&session, form.csrf_token.as_deref()) {
        return denied;
    }
    match state.connection().verify().await {
        Ok(s) => {
            tracing::info!(user = %session.username, status = s.status.as_str(), "office 365 connection tested");
            Redirect::to(&format!("{PAGE}?notice=verified")).into_response()
        }
        Err(e) => service_failure(&state, &session, e).await,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConsentQuery {
    csrf: Option<String>,
}

/// `GET /settings/office365/consent?csrf=…`: what the "Sign in to Office 365" button links to.
/// A link, not a form: Chromium applies CSP `form-action` to the redirects that follow a form
/// submission, so a form answered with a 303 to the Microsoft login host would be blocked.
pub(crate) async fn consent_link(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Query(query): Query<ConsentQuery>,
) -> Response {
    begin_consent(&state, &session, query.csrf.as_deref()).await
}

/// `POST /settings/office365/consent` (form with `csrf_token`), for clients without CSP.
pub(crate) async fn consent_form(
    State(state): State<AppState>,
    ConsoleUser(session): ConsoleUser,
    Form(form): Form<CsrfForm>,
) -> Response {
    begin_consent(&state, &session, form.csrf_token.as_deref()).await
}

async fn begin_consent(state: &AppState, session: &Session, csrf: Option<&str>) -> Response {
    if let Some(denied) = csrf_denied(session, csrf) {
        return denied;
    }
    match state.connection().begin_consent().await {
        Ok(url) => {
            tracing::info!(user = %session.username, "office 365 admin consent started");
            Redirect::to(url.as_str()).into_response()
        }
        Err(e) => service_failure(state, session, e).await,
    }
}

/// A failed action: the page again with the explanation (409 when a step is missing).
async fn service_failure(state: &AppState, session: &Session, e: ServiceError) -> Response {
    let status = match &e {
        ServiceError::NotReady(_) => StatusCode::CONFLICT,
        ServiceError::InvalidId(_) | ServiceError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => return internal_error(&e),
    };
    show(state, session, status, None, None, Some(e.to_string())).await
}
