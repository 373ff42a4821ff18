//! The core's [`SubscriptionApi`] on Graph `/subscriptions` (graph-protocol.md §5.1, §5.4).
//! Creating one makes Graph call our webhook for the validation handshake before it answers,
//! so the create is never retried on a timeout (a write; the client retries only idempotent
//! requests on timeouts).

use crate::auth::{AppCredential, TokenProvider};
use crate::client::{GraphClient, GraphError, GraphRequest};
use crate::directory::directory_error;
use async_trait::async_trait;
use jiff::Timestamp;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use switchboard_core::ports::{
    CredentialSource, DirectoryError, GrantedSubscription, NewSubscription, SubscriptionApi,
};

/// Advice for a 403: user subscriptions are documented with User.Read.All only (§9).
const SUBSCRIPTION_PERMISSION: &str = "grant the application permission User.Read.All with admin \
consent: Graph allows change notifications on users only with it";

#[derive(Debug, Clone)]
pub struct GraphSubscriptions {
    tokens: TokenProvider,
    credentials: Arc<dyn CredentialSource>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionItem {
    id: String,
    resource: String,
    expiration_date_time: String,
}

impl GraphSubscriptions {
    pub fn new(tokens: TokenProvider, credentials: Arc<dyn CredentialSource>) -> Self {
        Self {
            tokens,
            credentials,
        }
    }

    async fn client(&self) -> Result<GraphClient, DirectoryError> {
        let owned = self.credentials.app_credentials().await?;
        Ok(GraphClient::new(
            self.tokens.clone(),
            AppCredential::from_owned(owned),
        ))
    }

    async fn send(&self, request: GraphRequest) -> Result<Vec<u8>, DirectoryError> {
        let client = self.client().await?;
        client
            .execute(&request)
            .await
            .map(|r| r.body)
            .map_err(|e| directory_error(e, SUBSCRIPTION_PERMISSION))
    }
}

fn granted(body: &[u8]) -> Result<GrantedSubscription, DirectoryError> {
    let item: SubscriptionItem = serde_json::from_slice(body)
        .map_err(|e| DirectoryError::Protocol(format!("subscription answer: {e}")))?;
    let expires_at: Timestamp = item.expiration_date_time.parse().map_err(|e| {
        DirectoryError::Protocol(format!(
            "subscription expirationDateTime \"{}\": {e}",
            item.expiration_date_time
        ))
    })?;
    Ok(GrantedSubscription {
        id: item.id,
        resource: item.resource,
        expires_at,
    })
}

/// Subscription ids are GUIDs; anything else must not reach the path.
fn path_for(id: &str) -> Result<String, DirectoryError> {
    if id.len() == 36 && uuid::Uuid::try_parse(id).is_ok() {
        Ok(format!("/subscriptions/{id}"))
    } else {
        Err(DirectoryError::Protocol(format!(
            "\"{id}\" is not a subscription id"
        )))
    }
}

#[async_trait]
impl SubscriptionApi for GraphSubscriptions {
    async fn create(
        &self,
        request: &NewSubscription,
    ) -> Result<GrantedSubscription, DirectoryError> {
        let body = json!({
            "changeType": request.change_type,
            "notificationUrl": request.notification_url,
            "lifecycleNotificationUrl": request.lifecycle_notification_url,
            "resource": request.resource,
            "expirationDateTime": request.expiration.to_string(),
            "clientState": request.client_state.expose_secret(),
        });
        granted(
            &self
                .send(GraphRequest::post("/subscriptions", body))
                .await?,
        )
    }

    async fn renew(
        &self,
        id: &str,
        expiration: Timestamp,
    ) -> Result<GrantedSubscription, DirectoryError> {
        let body = json!({ "expirationDateTime": expiration.to_string() });
        granted(&self.send(GraphRequest::patch(path_for(id)?, body)).await?)
    }

    async fn reauthorize(&self, id: &str) -> Result<(), DirectoryError> {
        let target = format!("{}/reauthorize", path_for(id)?);
        self.send(GraphRequest::post(target, json!({})))
            .await
            .map(|_| ())
    }

    async fn delete(&self, id: &str) -> Result<(), DirectoryError> {
        let client = self.client().await?;
        match client.execute(&GraphRequest::delete(path_for(id)?)).await {
            Ok(_) => Ok(()),
            // Already gone (expired or removed by Graph): what we wanted.
            Err(GraphError::Api(e)) if e.status == 404 => Ok(()),
            Err(e) => Err(directory_error(e, SUBSCRIPTION_PERMISSION)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_granted_expiry_with_seven_fractional_digits() {
        let s = granted(br#"{"id":"7f105c7d-2dc5-4530-97cd-4e7ae6534c07","resource":"users","expirationDateTime":"2026-11-30T18:23:45.9356913Z","clientState":"x"}"#).unwrap();
        assert_eq!(s.expires_at.to_string(), "2026-11-30T18:23:45.9356913Z");
        assert!(granted(br#"{"id":"a","resource":"users","expirationDateTime":"soon"}"#).is_err());
    }

    #[test]
    fn ids_cannot_inject_paths() {
        assert!(path_for("7f105c7d-2dc5-4530-97cd-4e7ae6534c07").is_ok());
        assert!(path_for("../users").is_err());
    }
}
