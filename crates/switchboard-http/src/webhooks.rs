//! Microsoft Graph change-notification webhooks. Microsoft calls these, so there is no login and
//! no CSRF token: each notification is authenticated by its `clientState` instead.
//!
//! * `POST /webhooks/graph` (the subscriptions' `notificationUrl`) and
//!   `POST /webhooks/graph/lifecycle` (their `lifecycleNotificationUrl`). Both accept change and
//!   lifecycle items, since Graph allows the two URLs to be the same.
//! * **Validation handshake**: when the query has `validationToken`, the answer is `200`,
//!   `text/plain`, with the URL-decoded token verbatim, before the body is even read. The
//!   `X-Content-Type-Options: nosniff` header every response carries keeps the echo inert.
//! * **Delivery**: the body is `{"value":[…]}` (unknown fields ignored; at most
//!   [`BODY_LIMIT`] bytes, larger → 413). A body that is not JSON or has no `value` array →
//!   `400 {"error": …}` and nothing is acted on. For each item, the subscription is looked up by
//!   `subscriptionId` and the lower-case hex SHA-256 of the item's `clientState` is compared in
//!   constant time with the stored `client_state_sha256`. An unknown subscription, a wrong or
//!   missing `clientState`, or an item of the wrong shape is rejected: logged at warn (reason and
//!   subscription id only, never the clientState) and counted in
//!   `switchboard_webhook_rejected_total{reason}`, but still answered `202` so that nobody can
//!   probe which subscriptions exist or which secrets are right.
//! * Verified change items are recorded (`changeType`, `resourceData.id`,
//!   `resourceData.sequenceNumber`). `sequenceNumber` can exceed 2^53, so it is read as a
//!   `serde_json::Value` and kept as the text of the number: serde_json stores integers up to
//!   `u64::MAX` exactly (only beyond that would it fall back to a float). When the store reports
//!   a new notification about a user (`resource` = `Users/{id}`, or `resourceData.@odata.type`
//!   user, case-insensitive), one [`SyncEvent::UsersChanged`] is sent per request; duplicates
//!   (Graph delivers at least once) send nothing. For a mailbox subscription the kind and the
//!   mailbox come from the *stored* subscription's resource (`users/{id}/contacts` or
//!   `users/{id}/events`), never from the notification's own text: one
//!   [`SyncEvent::ContactsChanged`] or [`SyncEvent::CalendarChanged`] per mailbox and request.
//! * Verified lifecycle items (`lifecycleEvent`: `reauthorizationRequired`,
//!   `subscriptionRemoved`, `missed`) are recorded with the event as change type, and
//!   [`SyncEvent::Lifecycle`] is sent **even when the store calls it a duplicate**: these items
//!   carry no resource id or sequence, so a later genuine `reauthorizationRequired` could look
//!   like a replay of the first one, and acting twice (reauthorizing, resyncing) is harmless.
//! * The answer is `202 Accepted` with an empty body as soon as the items are persisted; no sync
//!   is awaited. If the store fails, the answer is `500` so that Graph retries (replays are
//!   deduplicated); events for the items already persisted are sent anyway.
//! * `switchboard_webhook_notifications_total{kind}` counts `validation`, `change`, `duplicate`
//!   and `lifecycle`.
//!
//! These routes are not part of `/api/v1`, so the OpenAPI document does not list them.

use crate::auth::{csrf::tokens_match, hash_token};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use std::collections::BTreeSet;
use switchboard_core::notifications::{MailboxKind, parse_mailbox_resource};
use switchboard_core::ports::{ReceivedNotification, StoreError, SyncEvent};

/// Largest notification body accepted. Graph batches notifications; 1 MiB is far above a batch.
pub(crate) const BODY_LIMIT: usize = 1024 * 1024;

/// Longest subscription id written to the log (it comes from the caller).
const MAX_LOGGED_ID: usize = 64;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/graph", post(receive))
        .route("/webhooks/graph/lifecycle", post(receive))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// Both webhook routes: the validation handshake, else a batch of notifications.
async fn receive(State(state): State<AppState>, req: Request) -> Response {
    if let Some(token) = validation_token(req.uri().query()) {
        metrics::counter!("switchboard_webhook_notifications_total", "kind" => "validation")
            .increment(1);
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            token,
        )
            .into_response();
    }
    let body = match Bytes::from_request(req, &state).await {
        Ok(body) => body,
        Err(rejection) => {
            return ApiError::new(
                rejection.status(),
                "The notification body could not be read.",
            )
            .into_response();
        }
    };
    let Ok(envelope) = serde_json::from_slice::<Envelope>(&body) else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "The body must be a JSON object with a \"value\" array of change notifications.",
        )
        .into_response();
    };

    let mut pending = Pending::default();
    let result = process(&state, envelope.value, &mut pending).await;
    pending.send(&state);
    match result {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

/// The URL-decoded `validationToken` query parameter, if present.
fn validation_token(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(name, _)| name == "validationToken")
        .map(|(_, value)| value.into_owned())
}

#[derive(Deserialize)]
struct Envelope {
    value: Vec<serde_json::Value>,
}

/// One change or lifecycle notification. No `Debug`: it holds the clientState.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    subscription_id: Option<String>,
    client_state: Option<String>,
    change_type: Option<String>,
    resource: Option<String>,
    resource_data: Option<ResourceData>,
    lifecycle_event: Option<String>,
}

#[derive(Deserialize)]
struct ResourceData {
    id: Option<String>,
    #[serde(rename = "@odata.type")]
    odata_type: Option<String>,
    /// A number that can exceed 2^53: kept as a `Value` and turned into text.
    #[serde(rename = "sequenceNumber")]
    sequence_number: Option<serde_json::Value>,
}

/// Events to send once the batch is persisted.
#[derive(Default)]
struct Pending {
    users_changed: bool,
    contacts: BTreeSet<String>,
    calendar: BTreeSet<String>,
    lifecycle: Vec<SyncEvent>,
}

impl Pending {
    fn send(self, state: &AppState) {
        let events = self
            .users_changed
            .then_some(SyncEvent::UsersChanged)
            .into_iter()
            .chain(
                self.contacts
                    .into_iter()
                    .map(|mailbox| SyncEvent::ContactsChanged { mailbox }),
            )
            .chain(
                self.calendar
                    .into_iter()
                    .map(|mailbox| SyncEvent::CalendarChanged { mailbox }),
            )
            .chain(self.lifecycle);
        for event in events {
            if state.events().send(event).is_err() {
                tracing::warn!("the sync side is not listening; a webhook event was dropped");
            }
        }
    }
}

async fn process(
    state: &AppState,
    items: Vec<serde_json::Value>,
    pending: &mut Pending,
) -> Result<(), StoreError> {
    for raw in items {
        let Ok(item) = serde_json::from_value::<Item>(raw) else {
            reject("invalid", None);
            continue;
        };
        let Some(subscription_id) = item.subscription_id.as_deref().filter(|s| !s.is_empty())
        else {
            reject("invalid", None);
            continue;
        };
        // Hash before the lookup, so both outcomes cost about the same.
        let presented = item.client_state.as_deref().map(hash_token);
        let Some(subscription) = state
            .subscriptions()
            .find_subscription(subscription_id)
            .await?
        else {
            reject("unknown_subscription", Some(subscription_id));
            continue;
        };
        let expected = subscription.client_state_sha256.to_ascii_lowercase();
        if !tokens_match(&expected, presented.as_deref()) {
            reject("client_state_mismatch", Some(subscription_id));
            continue;
        }

        if let Some(event) = item.lifecycle_event.as_deref().filter(|e| !e.is_empty()) {
            state
                .subscriptions()
                .record_notification(&ReceivedNotification {
                    subscription_id: subscription.id.clone(),
                    change_type: event.to_owned(),
                    resource_id: None,
                    sequence: None,
                    received_at: state.now(),
                })
                .await?;
            count("lifecycle");
            tracing::info!(subscription_id = %subscription.id, event, "Graph lifecycle notification");
            pending.lifecycle.push(SyncEvent::Lifecycle {
                subscription_id: subscription.id.clone(),
                event: event.to_owned(),
            });
            continue;
        }

        let Some(change_type) = item.change_type.as_deref().filter(|c| !c.is_empty()) else {
            reject("invalid", Some(subscription_id));
            continue;
        };
        let data = item.resource_data.as_ref();
        let is_new = state
            .subscriptions()
            .record_notification(&ReceivedNotification {
                subscription_id: subscription.id.clone(),
                change_type: change_type.to_owned(),
                resource_id: data.and_then(|d| d.id.clone()),
                sequence: data.and_then(|d| sequence_text(d.sequence_number.as_ref())),
                received_at: state.now(),
            })
            .await?;
        if is_new {
            count("change");
            match parse_mailbox_resource(&subscription.resource) {
                Some((MailboxKind::Contacts, mailbox)) => {
                    pending.contacts.insert(mailbox);
                }
                Some((MailboxKind::Calendar, mailbox)) => {
                    pending.calendar.insert(mailbox);
                }
                None if is_user(item.resource.as_deref(), data) => pending.users_changed = true,
                None => {}
            }
        } else {
            count("duplicate");
        }
    }
    Ok(())
}

/// `sequenceNumber` as text: the digits of an integer (exact up to `u64::MAX`), or a string
/// value as sent.
fn sequence_text(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// `Users/{id}` (not `Users/{id}/Events/…`), or a resource typed as a user.
fn is_user(resource: Option<&str>, data: Option<&ResourceData>) -> bool {
    let by_path = resource.is_some_and(|r| {
        let mut parts = r.trim_start_matches('/').split('/');
        matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some(collection), Some(id), None)
                if collection.eq_ignore_ascii_case("users") && !id.is_empty()
        )
    });
    let by_type = data
        .and_then(|d| d.odata_type.as_deref())
        .is_some_and(|t| t.eq_ignore_ascii_case("#microsoft.graph.user"));
    by_path || by_type
}

fn count(kind: &'static str) {
    metrics::counter!("switchboard_webhook_notifications_total", "kind" => kind).increment(1);
}

/// Logs and counts a rejected item. Never logs the clientState.
fn reject(reason: &'static str, subscription_id: Option<&str>) {
    metrics::counter!("switchboard_webhook_rejected_total", "reason" => reason).increment(1);
    let subscription_id: Option<String> =
        subscription_id.map(|id| id.chars().take(MAX_LOGGED_ID).collect());
    // Debug formatting escapes whatever the caller put in the id.
    tracing::warn!(
        reason,
        subscription_id = ?subscription_id,
        "rejected a Graph change notification"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_token_is_url_decoded() {
        assert_eq!(
            validation_token(Some("a=1&validationToken=Validation%3A+a%2Bb%20c")).as_deref(),
            Some("Validation: a+b c")
        );
        assert_eq!(validation_token(Some("a=1")), None);
        assert_eq!(validation_token(None), None);
    }

    #[test]
    fn large_sequence_numbers_keep_their_digits() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"s":638059995676961300,"m":18446744073709551615}"#).unwrap();
        assert_eq!(
            sequence_text(v.get("s")).as_deref(),
            Some("638059995676961300")
        );
        assert_eq!(
            sequence_text(v.get("m")).as_deref(),
            Some("18446744073709551615")
        );
        assert_eq!(sequence_text(None), None);
    }

    #[test]
    fn only_user_resources_are_users() {
        assert!(is_user(Some("Users/abc"), None));
        assert!(is_user(Some("users/abc"), None));
        assert!(!is_user(Some("Users/abc/Events/def"), None));
        assert!(!is_user(Some("Users"), None));
        let typed = ResourceData {
            id: None,
            odata_type: Some("#Microsoft.Graph.User".into()),
            sequence_number: None,
        };
        assert!(is_user(None, Some(&typed)));
    }
}
