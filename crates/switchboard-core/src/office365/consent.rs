//! Admin consent: the URL the "Sign in to Office 365" button opens and the reading of the redirect
//! that comes back to `/oauth2office2`.

use super::{ClientId, TenantRef};
use serde::Deserialize;
use url::Url;

/// `{login_url}/{tenant}/adminconsent?client_id=…&redirect_uri=…&state=…` (the v1 form, which
/// consents to every permission configured on the app registration).
pub fn admin_consent_url(
    login_url: &Url,
    tenant: &TenantRef,
    client_id: &ClientId,
    redirect_uri: &str,
    state: &str,
) -> Url {
    let mut url = login_url.clone();
    url.path_segments_mut()
        .map(|mut s| {
            s.pop_if_empty().push(tenant.as_str()).push("adminconsent");
        })
        .ok();
    url.query_pairs_mut()
        .clear()
        .append_pair("client_id", client_id.as_str())
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state);
    url
}

/// The query string Entra appends to the redirect URL.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConsentCallback {
    pub state: Option<String>,
    pub admin_consent: Option<String>,
    pub tenant: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentOutcome {
    /// Consent reported as granted; `tenant` is a hint only until a token proves it.
    Granted {
        tenant: Option<String>,
    },
    Denied {
        error: String,
        description: String,
    },
    /// Neither an error nor `admin_consent=True`.
    Unrecognised,
}

impl ConsentCallback {
    /// Entra sends `admin_consent=True` even on errors, so `error` is checked first.
    pub fn outcome(&self) -> ConsentOutcome {
        if let Some(error) = self.error.as_deref().filter(|e| !e.is_empty()) {
            return ConsentOutcome::Denied {
                error: error.to_owned(),
                description: self.error_description.clone().unwrap_or_default(),
            };
        }
        match self.admin_consent.as_deref() {
            Some(v) if v.eq_ignore_ascii_case("true") => ConsentOutcome::Granted {
                tenant: self.tenant.clone(),
            },
            _ => ConsentOutcome::Unrecognised,
        }
    }
}

/// A human explanation of a consent error redirect.
pub(crate) fn explain_denial(error: &str, description: &str) -> String {
    let first_line = description.lines().next().unwrap_or_default().trim();
    let advice = if description.contains("AADSTS65004")
        || error == "access_denied" && description.contains("declined")
    {
        "Consent was declined. Click Sign in to Office 365 again and choose Accept."
    } else if description.contains("AADSTS50020") {
        "The account used is not from this tenant. Sign in with a Global Administrator (or Privileged Role Administrator) of the tenant."
    } else if description.contains("AADSTS90094") || description.contains("AADSTS90008") {
        "Only an administrator can grant these permissions. Sign in with a Global Administrator account."
    } else {
        "Consent was not granted. Check the app registration and try Sign in to Office 365 again."
    };
    if first_line.is_empty() {
        format!("{advice} (Microsoft said: {error})")
    } else {
        format!("{advice} (Microsoft said: {error}: {first_line})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_has_tenant_path_and_encoded_params() {
        let login: Url = "https://login.microsoftonline.com".parse().unwrap();
        let url = admin_consent_url(
            &login,
            &TenantRef::parse("contoso.onmicrosoft.com").unwrap(),
            &ClientId::parse("1b3c5d7e-0000-4000-8000-1234567890ab").unwrap(),
            "https://pbx.example.com/oauth2office2",
            "n0nce",
        );
        assert_eq!(
            url.as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/adminconsent?client_id=1b3c5d7e-0000-4000-8000-1234567890ab&redirect_uri=https%3A%2F%2Fpbx.example.com%2Foauth2office2&state=n0nce"
        );
    }

    #[test]
    fn login_url_with_path_prefix_is_kept() {
        let login: Url = "http://127.0.0.1:9/login/".parse().unwrap();
        let url = admin_consent_url(
            &login,
            &TenantRef::parse("contoso.com").unwrap(),
            &ClientId::parse("1b3c5d7e-0000-4000-8000-1234567890ab").unwrap(),
            "r",
            "s",
        );
        assert!(
            url.as_str()
                .starts_with("http://127.0.0.1:9/login/contoso.com/adminconsent?")
        );
    }

    #[test]
    fn error_wins_over_admin_consent_true() {
        let cb = ConsentCallback {
            admin_consent: Some("True".into()),
            error: Some("access_denied".into()),
            error_description: Some(
                "AADSTS65004: User declined to consent to access the app.".into(),
            ),
            ..Default::default()
        };
        let ConsentOutcome::Denied { error, description } = cb.outcome() else {
            panic!("expected denial")
        };
        assert!(explain_denial(&error, &description).starts_with("Consent was declined"));
    }

    #[test]
    fn granted_needs_admin_consent_true() {
        let cb = ConsentCallback {
            admin_consent: Some("True".into()),
            tenant: Some("t".into()),
            ..Default::default()
        };
        assert_eq!(
            cb.outcome(),
            ConsentOutcome::Granted {
                tenant: Some("t".into())
            }
        );
        assert_eq!(
            ConsentCallback::default().outcome(),
            ConsentOutcome::Unrecognised
        );
    }
}
