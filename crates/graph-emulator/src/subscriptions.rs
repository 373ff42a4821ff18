//! Change-notification subscriptions for users, personal contacts and events (graph-protocol.md §5):
//! the store, the endpoint-validation handshake, and the outbox that POSTs change and
//! lifecycle notifications to the subscribers, recording every attempt for
//! `GET /_emulator/notifications`.
//!
//! Subscriptions live in [`crate::state::Tenant`] (one lock with the directory they watch);
//! the outbox and its log have their own lock. Lock order: tenant, then outbox.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::clock::{dotnet_round_trip, graph_date_time};
use crate::state::{AppState, Tenant};

/// Maximum lifetime of a user subscription (§5.1): 41,760 minutes (< 29 days).
pub const USERS_MAX_MINUTES: i64 = 41_760;
/// Maximum lifetime of an Outlook (contact) subscription in the 2024-11 docs (§5.1, §9).
pub const OUTLOOK_MAX_MINUTES: i64 = 10_080;
/// Active Outlook subscriptions per mailbox, across all apps (§5.1).
pub const PER_MAILBOX_QUOTA: usize = 1_000;
/// "Any value under 45 minutes after the time of the request is automatically set to 45
/// minutes" (§5.1).
pub const MIN_MINUTES: i64 = 45;
/// User/group subscriptions per app and tenant (§5.1).
pub const PER_APP_QUOTA: usize = 100;
/// How long changes gather before one POST per notification URL goes out [inf].
const BATCH_WINDOW: Duration = Duration::from_millis(100);
/// Notifications per POST at most [inf: Graph documents batching, not a size].
const MAX_BATCH: usize = 100;
/// Recorded delivery attempts kept (oldest dropped first).
const LOG_LIMIT: usize = 10_000;
/// A delivery answered after this long counts as slow (§5.3).
const SLOW_MS: u64 = 2_900;
/// Offset of .NET ticks (100 ns since 0001-01-01) from the Unix epoch.
const TICKS_AT_UNIX_EPOCH: i128 = 621_355_968_000_000_000;

/// Change types (§5.1): users know `updated` and `deleted`, contacts `created` too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeType {
    Created,
    Updated,
    Deleted,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Created => "created",
            ChangeType::Updated => "updated",
            ChangeType::Deleted => "deleted",
        }
    }
}

/// What a subscription watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/users` (`None`) or `/users/{id}`.
    Users(Option<Uuid>),
    /// `/users/{id}/contacts` (every contact of the mailbox), or
    /// `/users/{id}/contactFolders/{folderId}/contacts` (that folder's, by folder number).
    Contacts { user: Uuid, folder: Option<u32> },
    /// `/users/{id}/events`: every event of the mailbox's calendar.
    Events { user: Uuid },
}

impl Target {
    pub fn is_outlook(&self) -> bool {
        matches!(self, Target::Contacts { .. } | Target::Events { .. })
    }

    /// The mailbox an Outlook subscription watches.
    pub fn mailbox(&self) -> Option<Uuid> {
        match self {
            Target::Contacts { user, .. } | Target::Events { user } => Some(*user),
            Target::Users(_) => None,
        }
    }
}

/// What happened to a contact through the control API, with the folders involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactEvent {
    Created { folder: u32 },
    Updated { from: u32, to: u32 },
    Deleted { folder: u32 },
}

impl ContactEvent {
    /// The change a subscription on all contacts (`None`) or on one folder sees: a move
    /// between folders deletes in one folder and creates in the other.
    fn seen_by(self, folder: Option<u32>) -> Option<ChangeType> {
        match (self, folder) {
            (ContactEvent::Created { .. }, None) => Some(ChangeType::Created),
            (ContactEvent::Updated { .. }, None) => Some(ChangeType::Updated),
            (ContactEvent::Deleted { .. }, None) => Some(ChangeType::Deleted),
            (ContactEvent::Created { folder }, Some(f)) => {
                (folder == f).then_some(ChangeType::Created)
            }
            (ContactEvent::Deleted { folder }, Some(f)) => {
                (folder == f).then_some(ChangeType::Deleted)
            }
            (ContactEvent::Updated { from, to }, Some(f)) => match (from == f, to == f) {
                (true, true) => Some(ChangeType::Updated),
                (false, true) => Some(ChangeType::Created),
                (true, false) => Some(ChangeType::Deleted),
                (false, false) => None,
            },
        }
    }
}

/// What happened to a user through the control API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserEvent {
    /// Created, changed or restored: `updated` (§5.1 "creation … also trigger updated").
    Upserted,
    SoftDeleted,
    Purged,
}

/// Lifecycle events (§5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleEvent {
    ReauthorizationRequired,
    SubscriptionRemoved,
    Missed,
}

impl LifecycleEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleEvent::ReauthorizationRequired => "reauthorizationRequired",
            LifecycleEvent::SubscriptionRemoved => "subscriptionRemoved",
            LifecycleEvent::Missed => "missed",
        }
    }
}

/// One subscription, as created through `POST /v1.0/subscriptions`.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    /// As sent (`/users`, `users`, `/users/{id}`, `/users/{id}/contacts`…).
    pub resource: String,
    pub target: Target,
    pub application_id: String,
    /// The service principal's object id (§5.1, app permissions).
    pub creator_id: String,
    /// As sent, e.g. `updated,deleted`.
    pub change_type: String,
    pub change_types: Vec<ChangeType>,
    pub client_state: Option<String>,
    pub notification_url: String,
    pub lifecycle_url: Option<String>,
    pub expiration: Timestamp,
    pub tls_version: String,
    pub created: Timestamp,
    pub reauthorizations: u32,
}

impl Subscription {
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expiration > now
    }

    /// The Graph resource JSON (§5.1), without `@odata.context`.
    pub fn to_json(&self) -> Map<String, Value> {
        let value = json!({
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": self.change_type,
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": null,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": dotnet_round_trip(self.expiration),
            "creatorId": self.creator_id,
            "includeResourceData": false,
            "latestSupportedTlsVersion": self.tls_version,
            "encryptionCertificate": null,
            "encryptionCertificateId": null,
            "notificationUrlAppId": null,
            "notificationContentType": null,
        });
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

/// Settings the control API changes (`POST /_emulator/subscriptions/config`).
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionConfig {
    /// Longest lifetime granted; a longer request (up to 41,760 min) is shortened to this.
    pub max_lifetime_minutes: i64,
    /// Longest lifetime of an Outlook (contacts) subscription; any longer request is
    /// shortened to it (10,080 in the current docs, 4,230 in older ones, §5.1).
    pub outlook_max_lifetime_minutes: i64,
    /// What a soft deletion notifies: `deleted` (default) or `updated` (the docs' wording,
    /// "creation and soft-deletion of users also trigger the updated changeType").
    pub soft_delete_change_type: ChangeType,
    /// UTC offset (minutes, -840..=840) of `subscriptionExpirationDateTime` inside
    /// notifications; 0 prints `Z`. The service has been seen sending `-08:00` (§5.3).
    pub notification_offset_minutes: i32,
}

impl Default for SubscriptionConfig {
    fn default() -> Self {
        SubscriptionConfig {
            max_lifetime_minutes: USERS_MAX_MINUTES,
            outlook_max_lifetime_minutes: OUTLOOK_MAX_MINUTES,
            soft_delete_change_type: ChangeType::Deleted,
            notification_offset_minutes: 0,
        }
    }
}

/// All subscriptions of the tenant, expired ones included (until deleted).
#[derive(Debug, Default)]
pub struct Subscriptions {
    pub list: Vec<Subscription>,
    pub config: SubscriptionConfig,
    last_sequence: u64,
}

impl Subscriptions {
    pub fn get(&self, id: &str) -> Option<&Subscription> {
        self.list.iter().find(|s| s.id.eq_ignore_ascii_case(id))
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Subscription> {
        self.list.iter_mut().find(|s| s.id.eq_ignore_ascii_case(id))
    }

    /// A live subscription of `app`, by id.
    pub fn live_of_app(&self, id: &str, app: &str, now: Timestamp) -> Option<&Subscription> {
        self.get(id)
            .filter(|s| s.is_live(now) && s.application_id.eq_ignore_ascii_case(app))
    }

    pub fn remove(&mut self, id: &str) -> Option<Subscription> {
        let idx = self
            .list
            .iter()
            .position(|s| s.id.eq_ignore_ascii_case(id))?;
        Some(self.list.remove(idx))
    }

    /// `sequenceNumber`: .NET ticks of the emulator time, strictly increasing even when the
    /// clock moves back. Far above 2^53, like the captured payload (§5.3).
    pub fn next_sequence(&mut self, now: Timestamp) -> u64 {
        let ticks = u64::try_from(now.as_nanosecond() / 100 + TICKS_AT_UNIX_EPOCH).unwrap_or(0);
        self.last_sequence = ticks.max(self.last_sequence + 1);
        self.last_sequence
    }
}

/// Why a requested `expirationDateTime` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryProblem {
    Past,
    /// More than 41,760 minutes ahead.
    TooFar,
}

/// Expiry as granted for a requested `expirationDateTime` (§5.1): past → error, under 45 min
/// → 45 min, over 41,760 min → error, over the configured maximum → shortened.
pub fn grant_expiration(
    requested: Timestamp,
    now: Timestamp,
    config: &SubscriptionConfig,
) -> Result<Timestamp, ExpiryProblem> {
    if requested <= now {
        return Err(ExpiryProblem::Past);
    }
    let max = now
        .checked_add(SignedDuration::from_mins(USERS_MAX_MINUTES))
        .unwrap_or(Timestamp::MAX);
    if requested > max {
        return Err(ExpiryProblem::TooFar);
    }
    let floor = now
        .checked_add(SignedDuration::from_mins(MIN_MINUTES))
        .unwrap_or(Timestamp::MAX);
    let granted_max = now
        .checked_add(SignedDuration::from_mins(config.max_lifetime_minutes))
        .unwrap_or(Timestamp::MAX);
    Ok(requested.max(floor).min(granted_max))
}

/// Expiry as granted for an Outlook subscription: past → error, under 45 min → 45 min,
/// longer than the Outlook maximum → shortened to it (the service grants less, §5.1).
pub fn grant_outlook_expiration(
    requested: Timestamp,
    now: Timestamp,
    config: &SubscriptionConfig,
) -> Result<Timestamp, ExpiryProblem> {
    if requested <= now {
        return Err(ExpiryProblem::Past);
    }
    let floor = now
        .checked_add(SignedDuration::from_mins(MIN_MINUTES))
        .unwrap_or(Timestamp::MAX);
    let max = now
        .checked_add(SignedDuration::from_mins(
            config.outlook_max_lifetime_minutes,
        ))
        .unwrap_or(Timestamp::MAX);
    Ok(requested.max(floor).min(max))
}

/// Delivery settings, from [`crate::EmulatorConfig`].
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub handshake_timeout: Duration,
    pub delivery_timeout: Duration,
    pub retry_delays: Vec<Duration>,
}

/// What kind of outbound POST a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DeliveryKind {
    Validation,
    Notification,
    Lifecycle,
}

/// One outbound POST attempt.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: u64,
    pub kind: DeliveryKind,
    pub subscription_ids: Vec<String>,
    pub url: String,
    /// 1 for the first try.
    pub attempt: u32,
    /// The receiver's HTTP status; `None` when it did not answer (timeout, refused).
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: u64,
    /// Answered after more than 2,900 ms (§5.3).
    pub slow: bool,
    /// Emulator time of the attempt.
    pub at: String,
    /// The JSON body sent (`null` for a validation request, which has an empty body).
    pub body: Value,
    /// The receiver's answer, first 1,000 characters.
    pub response: Option<String>,
}

/// Notifications waiting for the batch window, and the delivery log.
#[derive(Debug, Default)]
pub struct Outbox {
    pending: Vec<Pending>,
    flush_scheduled: bool,
    next_id: u64,
    pub log: VecDeque<Delivery>,
}

impl Outbox {
    fn record(&mut self, mut delivery: Delivery) {
        self.next_id += 1;
        delivery.id = self.next_id;
        if self.log.len() == LOG_LIMIT {
            self.log.pop_front();
        }
        self.log.push_back(delivery);
    }
}

#[derive(Debug, Clone)]
struct Pending {
    url: String,
    subscription_id: String,
    kind: DeliveryKind,
    /// Change notifications are dropped once their subscription is gone or expired;
    /// lifecycle notifications go out regardless (`subscriptionRemoved` outlives it).
    needs_live: bool,
    item: Value,
}

/// Queues an `updated`/`deleted` notification for every live subscription watching `user`.
/// Never blocks: the POSTs go out after the batch window on their own tasks.
pub fn user_changed(state: &AppState, tenant: &mut Tenant, user: Uuid, event: UserEvent) {
    let now = state.now();
    let change = match event {
        UserEvent::Upserted => ChangeType::Updated,
        UserEvent::SoftDeleted => tenant.subscriptions.config.soft_delete_change_type,
        UserEvent::Purged => ChangeType::Deleted,
    };
    let tenant_id = tenant.id.clone();
    let offset = tenant.subscriptions.config.notification_offset_minutes;
    let watching: Vec<Subscription> = tenant
        .subscriptions
        .list
        .iter()
        .filter(|s| {
            s.is_live(now)
                && s.change_types.contains(&change)
                && matches!(s.target, Target::Users(u) if u.is_none_or(|u| u == user))
        })
        .cloned()
        .collect();
    if watching.is_empty() {
        return;
    }
    let mut queued = Vec::with_capacity(watching.len());
    for s in watching {
        let sequence = tenant.subscriptions.next_sequence(now);
        let resource = format!("Users/{user}");
        queued.push(Pending {
            url: s.notification_url.clone(),
            subscription_id: s.id.clone(),
            kind: DeliveryKind::Notification,
            needs_live: true,
            item: json!({
                "subscriptionId": s.id,
                "subscriptionExpirationDateTime": with_offset(s.expiration, offset),
                "changeType": change.as_str(),
                "resource": resource,
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.User",
                    "@odata.id": resource,
                    "id": user.to_string(),
                    "organizationId": tenant_id,
                    "sequenceNumber": sequence,
                },
                "clientState": s.client_state,
                "tenantId": tenant_id,
            }),
        });
    }
    enqueue(state, queued);
}

/// Queues a notification for every live subscription watching this contact: the basic
/// Outlook shape with the id and etag only (§5.3).
pub fn contact_changed(
    state: &AppState,
    tenant: &Tenant,
    user: Uuid,
    contact_id: &str,
    etag: &str,
    event: ContactEvent,
) {
    let now = state.now();
    let offset = tenant.subscriptions.config.notification_offset_minutes;
    let resource = format!("Users/{user}/Contacts/{contact_id}");
    let queued: Vec<Pending> = tenant
        .subscriptions
        .list
        .iter()
        .filter(|s| s.is_live(now))
        .filter_map(|s| match s.target {
            Target::Contacts { user: u, folder } if u == user => event
                .seen_by(folder)
                .filter(|c| s.change_types.contains(c))
                .map(|c| (s, c)),
            _ => None,
        })
        .map(|(s, change)| Pending {
            url: s.notification_url.clone(),
            subscription_id: s.id.clone(),
            kind: DeliveryKind::Notification,
            needs_live: true,
            item: json!({
                "subscriptionId": s.id,
                "subscriptionExpirationDateTime": with_offset(s.expiration, offset),
                "changeType": change.as_str(),
                "resource": resource,
                "resourceData": {
                    // Basic payloads spell the type in PascalCase (§5.3).
                    "@odata.type": "#Microsoft.Graph.Contact",
                    "@odata.id": resource,
                    "@odata.etag": etag,
                    "id": contact_id,
                },
                "clientState": s.client_state,
                "tenantId": tenant.id,
            }),
        })
        .collect();
    if !queued.is_empty() {
        enqueue(state, queued);
    }
}

/// Queues a notification for every live subscription on the events of `user`'s mailbox:
/// the basic Outlook shape (§5.3), `Users/{uid}/Events/{eid}`.
pub fn event_changed(
    state: &AppState,
    tenant: &Tenant,
    user: Uuid,
    event_id: &str,
    etag: &str,
    change: ChangeType,
) {
    let now = state.now();
    let offset = tenant.subscriptions.config.notification_offset_minutes;
    let resource = format!("Users/{user}/Events/{event_id}");
    let queued: Vec<Pending> = tenant
        .subscriptions
        .list
        .iter()
        .filter(|s| {
            s.is_live(now)
                && s.change_types.contains(&change)
                && matches!(s.target, Target::Events { user: u } if u == user)
        })
        .map(|s| Pending {
            url: s.notification_url.clone(),
            subscription_id: s.id.clone(),
            kind: DeliveryKind::Notification,
            needs_live: true,
            item: json!({
                "subscriptionId": s.id,
                "subscriptionExpirationDateTime": with_offset(s.expiration, offset),
                "changeType": change.as_str(),
                "resource": resource,
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Event",
                    "@odata.id": resource,
                    "@odata.etag": etag,
                    "id": event_id,
                },
                "clientState": s.client_state,
                "tenantId": tenant.id,
            }),
        })
        .collect();
    if !queued.is_empty() {
        enqueue(state, queued);
    }
}

/// `2025-06-05T02:00:00.0000000-08:00`: .NET round-trip form at a fixed offset (`Z` at 0).
pub fn with_offset(t: Timestamp, offset_minutes: i32) -> String {
    if offset_minutes == 0 {
        return dotnet_round_trip(t);
    }
    let shifted = t
        .checked_add(SignedDuration::from_mins(i64::from(offset_minutes)))
        .unwrap_or(t);
    let ticks = shifted.subsec_nanosecond().unsigned_abs() / 100;
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let abs = offset_minutes.unsigned_abs();
    format!(
        "{}.{ticks:07}{sign}{:02}:{:02}",
        shifted.strftime("%Y-%m-%dT%H:%M:%S"),
        abs / 60,
        abs % 60
    )
}

/// Queues a lifecycle notification for `subscription` (to its lifecycleNotificationUrl).
pub fn lifecycle(
    state: &AppState,
    tenant_id: &str,
    s: &Subscription,
    event: LifecycleEvent,
    offset_minutes: i32,
) {
    let Some(url) = s.lifecycle_url.clone() else {
        return;
    };
    enqueue(
        state,
        vec![Pending {
            url,
            subscription_id: s.id.clone(),
            kind: DeliveryKind::Lifecycle,
            needs_live: false,
            item: json!({
                "subscriptionId": s.id,
                "subscriptionExpirationDateTime": with_offset(s.expiration, offset_minutes),
                "tenantId": tenant_id,
                "clientState": s.client_state,
                "lifecycleEvent": event.as_str(),
            }),
        }],
    );
}

fn enqueue(state: &AppState, items: Vec<Pending>) {
    let mut outbox = state.outbox();
    outbox.pending.extend(items);
    if outbox.flush_scheduled {
        return;
    }
    outbox.flush_scheduled = true;
    drop(outbox);
    let state = state.clone();
    tokio::spawn(async move {
        tokio::time::sleep(BATCH_WINDOW).await;
        flush(&state);
    });
}

/// Groups what is pending by URL and kind (keeping order) and starts one delivery per batch.
fn flush(state: &AppState) {
    let pending = {
        let mut outbox = state.outbox();
        outbox.flush_scheduled = false;
        std::mem::take(&mut outbox.pending)
    };
    let mut batches: Vec<(String, DeliveryKind, Vec<Pending>)> = Vec::new();
    for p in pending {
        match batches
            .iter_mut()
            .find(|(url, kind, items)| *url == p.url && *kind == p.kind && items.len() < MAX_BATCH)
        {
            Some((_, _, items)) => items.push(p),
            None => batches.push((p.url.clone(), p.kind, vec![p])),
        }
    }
    for (url, kind, items) in batches {
        let state = state.clone();
        tokio::spawn(async move { deliver(state, url, kind, items).await });
    }
}

/// POSTs one batch, retrying timeouts, refused connections, 429 and 5xx with the configured
/// back-off (Graph retries for hours; the emulator a few times [inf]).
async fn deliver(state: AppState, url: String, kind: DeliveryKind, items: Vec<Pending>) {
    let settings = state.webhooks().clone();
    let mut attempt: u32 = 0;
    loop {
        let live: Vec<&Pending> = {
            let now = state.now();
            let tenant = state.tenant();
            items
                .iter()
                .filter(|p| {
                    !p.needs_live
                        || tenant
                            .subscriptions
                            .get(&p.subscription_id)
                            .is_some_and(|s| s.is_live(now))
                })
                .collect()
        };
        if live.is_empty() {
            return;
        }
        attempt += 1;
        let body = json!({ "value": live.iter().map(|p| p.item.clone()).collect::<Vec<_>>() });
        let mut ids: Vec<String> = Vec::new();
        for p in &live {
            if !ids.contains(&p.subscription_id) {
                ids.push(p.subscription_id.clone());
            }
        }
        let at = graph_date_time(state.now());
        let started = Instant::now();
        let request = state
            .http()
            .post(&url)
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string())
            .timeout(settings.delivery_timeout)
            .send();
        let (status, error, response) = match request.await {
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.ok().map(|t| t.chars().take(1000).collect());
                (Some(status), None, text)
            }
            Err(e) => (None, Some(describe(&e)), None),
        };
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        state.outbox().record(Delivery {
            id: 0,
            kind,
            subscription_ids: ids,
            url: url.clone(),
            attempt,
            status,
            error,
            latency_ms,
            slow: latency_ms > SLOW_MS,
            at,
            body,
            response,
        });
        let retry = status.is_none_or(|s| s == 429 || s >= 500);
        let Some(delay) = settings.retry_delays.get(attempt as usize - 1) else {
            return;
        };
        if !retry {
            return;
        }
        tokio::time::sleep(*delay).await;
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".to_owned()
    } else if e.is_connect() {
        format!("connect: {e}")
    } else {
        format!("request: {e}")
    }
}

/// Why an endpoint failed the validation handshake (§5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// No answer, or not 200.
    NotOk,
    /// 200 with a body other than the token.
    Mismatch,
    TimedOut,
}

/// `POST {url}?validationToken=…` (query parameters already in `url` kept), text/plain, empty
/// body; the endpoint has `handshake_timeout` to answer 200 with the decoded token.
pub async fn validate_endpoint(
    state: &AppState,
    url: &url::Url,
    subscription_id: &str,
) -> Result<(), HandshakeFailure> {
    // Graph's tokens read like this one [obs]: spaces and colons, so a client that echoes the
    // still-encoded query value fails as it would against the service.
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        Uuid::new_v4()
    );
    let mut target = url.clone();
    target
        .query_pairs_mut()
        .append_pair("validationToken", &token);
    let timeout = state.webhooks().handshake_timeout;
    let at = graph_date_time(state.now());
    let started = Instant::now();
    let sent = state
        .http()
        .post(target.as_str())
        .header("content-type", "text/plain; charset=utf-8")
        .body("")
        .timeout(timeout)
        .send()
        .await;
    let (status, error, response, outcome) = match sent {
        Ok(r) => {
            let status = r.status().as_u16();
            match r.text().await {
                Ok(text) => {
                    let outcome = if status != 200 {
                        Err(HandshakeFailure::NotOk)
                    } else if text != token {
                        Err(HandshakeFailure::Mismatch)
                    } else {
                        Ok(())
                    };
                    (Some(status), None, Some(text), outcome)
                }
                Err(e) => {
                    let failure = if e.is_timeout() {
                        HandshakeFailure::TimedOut
                    } else {
                        HandshakeFailure::NotOk
                    };
                    (Some(status), Some(describe(&e)), None, Err(failure))
                }
            }
        }
        Err(e) => {
            let failure = if e.is_timeout() {
                HandshakeFailure::TimedOut
            } else {
                HandshakeFailure::NotOk
            };
            (None, Some(describe(&e)), None, Err(failure))
        }
    };
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    state.outbox().record(Delivery {
        id: 0,
        kind: DeliveryKind::Validation,
        subscription_ids: vec![subscription_id.to_owned()],
        url: target.to_string(),
        attempt: 1,
        status,
        error,
        latency_ms,
        slow: latency_ms > SLOW_MS,
        at,
        body: Value::Null,
        response: response.map(|t| t.chars().take(1000).collect()),
    });
    outcome
}
