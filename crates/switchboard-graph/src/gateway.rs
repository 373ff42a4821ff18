//! [`TenantGateway`] on Entra ID and Graph: the connection check of the Configure page.

use crate::auth::{AppCredential, TokenError, TokenProvider};
use crate::client::{GraphClient, GraphConfig, GraphError};
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;
use switchboard_core::Clock;
use switchboard_core::office365::ConnectFailure;
use switchboard_core::ports::{AppCredentials, AppToken, Organization, TenantGateway};

/// Entra ID + Graph for the core. Cheap to clone; clones share one HTTP client and token cache.
#[derive(Debug, Clone)]
pub struct EntraGateway {
    tokens: TokenProvider,
}

impl EntraGateway {
    pub fn new(config: GraphConfig, clock: Arc<dyn Clock>) -> Result<Self, TokenError> {
        Ok(Self::with_tokens(TokenProvider::new(config, clock)?))
    }

    pub fn with_tokens(tokens: TokenProvider) -> Self {
        Self { tokens }
    }

    pub fn tokens(&self) -> &TokenProvider {
        &self.tokens
    }

    /// A Graph client for one app credential, sharing this gateway's token cache.
    pub fn client(&self, credential: AppCredential) -> GraphClient {
        GraphClient::new(self.tokens.clone(), credential)
    }
}

#[derive(Deserialize)]
struct Collection<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrganizationBody {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    verified_domains: Vec<VerifiedDomain>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifiedDomain {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    is_default: Option<bool>,
}

/// How a Graph failure reads to the Configure page.
pub fn connect_failure(error: GraphError) -> ConnectFailure {
    match error {
        GraphError::Token(e) => e.into(),
        GraphError::Unreachable { host, detail } => ConnectFailure::Unreachable { host, detail },
        // 4xx: Graph refused the token or the call (403 without roles is the usual one, §1.6).
        GraphError::Api(e) if (400..500).contains(&e.status) => ConnectFailure::GraphRejected {
            status: e.status,
            code: e.code,
            message: e.message,
        },
        other => ConnectFailure::Protocol(other.to_string()),
    }
}

#[async_trait]
impl TenantGateway for EntraGateway {
    /// Always a new token: the check must prove the certificate now and see roles granted since
    /// the last one. The token then serves `organization` from the cache.
    async fn acquire_token(
        &self,
        credentials: &AppCredentials<'_>,
    ) -> Result<AppToken, ConnectFailure> {
        let credential = AppCredential::from_port(credentials);
        let token = self.tokens.fresh_token(&credential).await?;
        Ok(AppToken {
            roles: token.roles.clone(),
            tenant_id: token.tenant_id.clone(),
            expires_in_secs: token.expires_in.as_secs(),
        })
    }

    async fn organization(
        &self,
        credentials: &AppCredentials<'_>,
    ) -> Result<Organization, ConnectFailure> {
        let client = self.client(AppCredential::from_port(credentials));
        let orgs: Collection<OrganizationBody> = client
            .get("/organization?$select=id,displayName,verifiedDomains")
            .await
            .map_err(connect_failure)?;
        let org = orgs.value.into_iter().next().ok_or_else(|| {
            ConnectFailure::Protocol("GET /organization returned no organization".into())
        })?;
        let default_domain = org
            .verified_domains
            .iter()
            .find(|d| d.is_default == Some(true))
            .and_then(|d| d.name.clone());
        Ok(Organization {
            display_name: org.display_name.unwrap_or_else(|| org.id.clone()),
            id: org.id,
            default_domain,
        })
    }
}
