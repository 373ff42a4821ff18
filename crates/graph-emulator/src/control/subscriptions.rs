//! `/_emulator/subscriptions[/config | /{id}/lifecycle]` and `/_emulator/notifications`: see
//! and steer change notifications (graph-protocol.md §5).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Problem, bad_request, parse_body, problem};
use crate::clock::graph_date_time;
use crate::state::AppState;
use crate::subscriptions::{self, ChangeType, LifecycleEvent, USERS_MAX_MINUTES};

/// Outlook maxima the docs have used (§5.1, §9: 4,230 older, 10,080 newer); any value up
/// to the directory maximum is accepted.
const OUTLOOK_RANGE: std::ops::RangeInclusive<i64> = 1..=USERS_MAX_MINUTES;

/// `GET /_emulator/subscriptions`: every subscription of every app, expired ones included.
pub async fn list(State(state): State<AppState>) -> Response {
    let now = state.now();
    let tenant = state.tenant();
    let value: Vec<Value> = tenant
        .subscriptions
        .list
        .iter()
        .map(|s| {
            let mut map = s.to_json();
            map.insert("expired".to_owned(), Value::Bool(!s.is_live(now)));
            map.insert(
                "createdDateTime".to_owned(),
                Value::String(graph_date_time(s.created)),
            );
            map.insert("reauthorizations".to_owned(), json!(s.reauthorizations));
            Value::Object(map)
        })
        .collect();
    Json(json!({ "value": value, "config": tenant.subscriptions.config })).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    max_lifetime_minutes: Option<i64>,
    outlook_max_lifetime_minutes: Option<i64>,
    soft_delete_change_type: Option<ChangeType>,
    notification_offset_minutes: Option<i32>,
}

pub async fn config_get(State(state): State<AppState>) -> Response {
    Json(state.tenant().subscriptions.config.clone()).into_response()
}

/// `POST /_emulator/subscriptions/config {"max_lifetime_minutes"?,
/// "outlook_max_lifetime_minutes"?, "soft_delete_change_type"?, "notification_offset_minutes"?}`:
/// changes the fields sent, returns all of them.
pub async fn config_set(State(state): State<AppState>, body: Bytes) -> Result<Response, Problem> {
    let patch: ConfigPatch = parse_body(&body)?;
    if patch
        .max_lifetime_minutes
        .is_some_and(|m| !(1..=USERS_MAX_MINUTES).contains(&m))
    {
        return Err(bad_request(format!(
            "max_lifetime_minutes must be 1..={USERS_MAX_MINUTES}"
        )));
    }
    if patch
        .outlook_max_lifetime_minutes
        .is_some_and(|m| !OUTLOOK_RANGE.contains(&m))
    {
        return Err(bad_request(format!(
            "outlook_max_lifetime_minutes must be 1..={USERS_MAX_MINUTES} (Graph: 10080, formerly 4230)"
        )));
    }
    if patch.soft_delete_change_type == Some(ChangeType::Created) {
        return Err(bad_request(
            "soft_delete_change_type must be \"deleted\" or \"updated\"",
        ));
    }
    if patch
        .notification_offset_minutes
        .is_some_and(|m| !(-840..=840).contains(&m))
    {
        return Err(bad_request(
            "notification_offset_minutes must be -840..=840",
        ));
    }
    let mut tenant = state.tenant();
    let config = &mut tenant.subscriptions.config;
    if let Some(m) = patch.notification_offset_minutes {
        config.notification_offset_minutes = m;
    }
    if let Some(m) = patch.max_lifetime_minutes {
        config.max_lifetime_minutes = m;
    }
    if let Some(m) = patch.outlook_max_lifetime_minutes {
        config.outlook_max_lifetime_minutes = m;
    }
    if let Some(c) = patch.soft_delete_change_type {
        config.soft_delete_change_type = c;
    }
    Ok(Json(config.clone()).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    event: LifecycleEvent,
}

/// `POST /_emulator/subscriptions/{id}/lifecycle {"event"}` → 202; the notification goes to
/// the lifecycleNotificationUrl. `subscriptionRemoved` also deletes the subscription.
pub async fn lifecycle(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let Lifecycle { event } = parse_body(&body)?;
    let mut tenant = state.tenant();
    let Some(s) = tenant.subscriptions.get(&id).cloned() else {
        return Err(problem(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no subscription '{id}'"),
        ));
    };
    if s.lifecycle_url.is_none() && event != LifecycleEvent::SubscriptionRemoved {
        return Err(problem(
            StatusCode::CONFLICT,
            "conflict",
            "the subscription has no lifecycleNotificationUrl",
        ));
    }
    if event == LifecycleEvent::SubscriptionRemoved {
        tenant.subscriptions.remove(&id);
    }
    let tenant_id = tenant.id.clone();
    let offset = tenant.subscriptions.config.notification_offset_minutes;
    drop(tenant);
    subscriptions::lifecycle(&state, &tenant_id, &s, event, offset);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "subscriptionId": s.id,
            "lifecycleEvent": event,
            "lifecycleNotificationUrl": s.lifecycle_url,
            "removed": event == LifecycleEvent::SubscriptionRemoved,
        })),
    )
        .into_response())
}

/// `GET /_emulator/notifications`: every outbound POST attempt (validation, change,
/// lifecycle), oldest first.
pub async fn notifications(State(state): State<AppState>) -> Response {
    let log: Vec<_> = state.outbox().log.iter().cloned().collect();
    Json(json!({ "value": log })).into_response()
}

pub async fn notifications_clear(State(state): State<AppState>) -> Response {
    state.outbox().log.clear();
    StatusCode::NO_CONTENT.into_response()
}
