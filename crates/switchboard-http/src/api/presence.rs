//! `/api/v1/presence`: every extension's status, the user's own change, and the live stream
//! (Server-Sent Events) that boards follow.

use super::{ApiJson, Principal};
use crate::error::{ApiError, ErrorBody};
use crate::presence::{PresenceItem, board, error_status, parse_status};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use jiff::Timestamp;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::time::Duration;
use switchboard_core::calendar::{PresenceChange, PresenceError};
use switchboard_core::presence::{Status, StatusSource};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

/// A comment line this often keeps proxies and browsers from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// What a browser waits before reconnecting after the stream ends.
const RECONNECT: Duration = Duration::from_secs(3);
/// A stream ends after this long and the client reconnects: the reconnect is authenticated
/// again, so a session that was logged out or expired stops receiving changes.
const STREAM_LIFETIME: Duration = Duration::from_secs(30 * 60);

fn presence_error(e: &PresenceError) -> ApiError {
    let (status, message) = error_status(e);
    ApiError::new(status, message)
}

/// Every extension's status, who set it (`manual`, `calendar` or `default`), until when the
/// calendar keeps it, and what returns when the calendar block ends.
#[utoipa::path(
    get,
    path = "/api/v1/presence",
    tag = "presence",
    responses(
        (status = 200, description = "One entry per extension, in the extension list's order", body = Vec<schema::PresenceItem>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
) -> Result<Json<Vec<PresenceItem>>, ApiError> {
    Ok(Json(board(&state).await.map_err(|e| presence_error(&e))?))
}

/// The user's own change of status, as from their phone: it wins over the calendar for the rest
/// of the current calendar block and is not undone when the block ends.
#[utoipa::path(
    put,
    path = "/api/v1/extensions/{number}/status",
    tag = "presence",
    params(("number" = String, Path, description = "The extension number")),
    request_body = schema::StatusUpdate,
    responses(
        (status = 200, description = "Set; the extension's presence now", body = schema::PresenceItem),
        (status = 400, description = "Not a status; the message lists the statuses", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Console session without X-CSRF-Token", body = ErrorBody),
        (status = 404, description = "No such extension", body = ErrorBody),
    )
)]
pub(crate) async fn set_status(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<PresenceItem>, ApiError> {
    let status = status_from_body(&body).map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, m))?;
    let view = state
        .presence()
        .user_sets(&number, status)
        .await
        .map_err(|e| presence_error(&e))?;
    tracing::info!(user = %who.username, via = who.via, extension = %number, status = %status, "status set");
    let name = match state.extensions().get_extension(&number).await {
        Ok(Some(e)) => crate::presence::display_name(&e),
        Ok(None) => String::new(),
        Err(e) => return Err(ApiError::internal(&e)),
    };
    Ok(Json(PresenceItem::new(view, name)))
}

/// `{"status": "away"}` and nothing else.
fn status_from_body(body: &serde_json::Value) -> Result<Status, String> {
    let usage = "Send {\"status\": \"away\"}";
    let Some(fields) = body.as_object() else {
        return Err(format!("The body must be a JSON object: {usage}."));
    };
    if let Some(other) = fields.keys().find(|k| k.as_str() != "status") {
        return Err(format!(
            "Unknown field \"{}\": {usage}.",
            other.chars().take(40).collect::<String>()
        ));
    }
    match fields.get("status") {
        Some(serde_json::Value::String(s)) => parse_status(s),
        Some(_) | None => Err(format!(
            "The body needs \"status\" as a string, one of {}: {usage}.",
            crate::calendar_sync::status_list()
        )),
    }
}

/// The live stream of status changes (`text/event-stream`). Events:
///
/// - `snapshot`: first, the whole list (as `GET /api/v1/presence`); replace what you have.
/// - `presence`: one extension changed: a list entry plus `at`, when the change was due.
/// - `resync`: the client fell behind and missed changes; a fresh `snapshot` follows.
///
/// Comment lines keep the connection alive. The stream ends after 30 minutes (browsers
/// reconnect by themselves, after `retry`), so a session that ended stops receiving changes.
#[utoipa::path(
    get,
    path = "/api/v1/presence/stream",
    tag = "presence",
    responses(
        (status = 200, description = "Server-Sent Events: `snapshot` (data: the list), then `presence` (data: a list entry with `at`) per change; `resync` (data: {\"missed\": n, \"message\": …}) before a fresh snapshot when the client fell behind", content_type = "text/event-stream", body = String),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
pub(crate) async fn stream(State(state): State<AppState>) -> Result<Response, ApiError> {
    // Subscribe before reading the list, so no change falls between the two.
    let changes = state.presence().subscribe();
    let items = board(&state).await.map_err(|e| presence_error(&e))?;
    let closing = state.closing();
    let feed = Feed::new(state, changes, &items).until_closed(closing);
    let events = futures_util::stream::unfold(feed, Feed::step);
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // Reverse proxies such as nginx would otherwise hold events back in their buffer.
    response.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(response)
}

/// A `presence` event's data.
#[derive(Debug, Serialize)]
struct Update<'a> {
    #[serde(flatten)]
    item: &'a PresenceItem,
    at: Timestamp,
}

#[derive(Debug, Serialize)]
struct Resync {
    missed: u64,
    message: &'static str,
}

/// Where a stream's snapshots come from: the board (a stand-in in unit tests).
trait Snapshots: Send + 'static {
    fn snapshot(&self) -> impl Future<Output = Result<Vec<PresenceItem>, PresenceError>> + Send;
}

impl Snapshots for AppState {
    fn snapshot(&self) -> impl Future<Output = Result<Vec<PresenceItem>, PresenceError>> + Send {
        board(self)
    }
}

/// One stream: the changes still to send and what the client was last told per extension
/// (a change carries no `restores`; it follows from what came before, see [`Feed::apply`]).
struct Feed<S> {
    source: S,
    changes: broadcast::Receiver<PresenceChange>,
    known: HashMap<String, PresenceItem>,
    pending: VecDeque<Event>,
    ends_at: tokio::time::Instant,
    /// The server is shutting down (see `AppState::close_streams`).
    shutdown: Option<tokio::sync::watch::Receiver<bool>>,
    closing: bool,
}

impl<S: Snapshots> Feed<S> {
    fn new(
        source: S,
        changes: broadcast::Receiver<PresenceChange>,
        items: &[PresenceItem],
    ) -> Self {
        let mut feed = Self {
            source,
            changes,
            known: HashMap::new(),
            pending: VecDeque::new(),
            ends_at: tokio::time::Instant::now() + STREAM_LIFETIME,
            shutdown: None,
            closing: false,
        };
        feed.snapshot(items);
        feed
    }

    fn until_closed(mut self, shutdown: tokio::sync::watch::Receiver<bool>) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    fn snapshot(&mut self, items: &[PresenceItem]) {
        self.known = items
            .iter()
            .map(|item| (item.extension.clone(), item.clone()))
            .collect();
        self.pending
            .push_back(json_event("snapshot", &items).retry(RECONNECT));
    }

    /// The next event, or `None` when the stream ends.
    async fn step(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((Ok(event), self));
            }
            if self.closing {
                return None;
            }
            let shutdown = async {
                match self.shutdown.as_mut() {
                    // Also ends when the state (and its sender) is gone.
                    Some(rx) => {
                        let _ = rx.wait_for(|closing| *closing).await;
                    }
                    None => std::future::pending().await,
                }
            };
            let received = tokio::select! {
                received = self.changes.recv() => received,
                () = tokio::time::sleep_until(self.ends_at) => return None,
                () = shutdown => return None,
            };
            match received {
                Ok(change) => {
                    let item = self.apply(&change);
                    self.pending.push_back(json_event(
                        "presence",
                        &Update {
                            item: &item,
                            at: change.at,
                        },
                    ));
                }
                Err(RecvError::Lagged(missed)) => self.resync(missed).await,
                Err(RecvError::Closed) => self.closing = true,
            }
        }
    }

    /// The client missed changes: say so, then send the whole list again.
    async fn resync(&mut self, missed: u64) {
        tracing::info!(
            missed,
            "a presence stream fell behind; sending a fresh snapshot"
        );
        self.pending.push_back(json_event(
            "resync",
            &Resync {
                missed,
                message: "Some presence changes were missed; a fresh snapshot follows.",
            },
        ));
        // The backlog is covered by the snapshot; start again from the newest change.
        self.changes = self.changes.resubscribe();
        match self.source.snapshot().await {
            Ok(items) => self.snapshot(&items),
            Err(e) => {
                // The client reconnects and gets a snapshot then.
                tracing::warn!(error = %e, "could not read presence for a stream's snapshot; ending the stream");
                self.closing = true;
            }
        }
    }

    /// The list entry after `change` (an extension the snapshot did not have starts as a new
    /// one: Available by default).
    fn apply(&mut self, change: &PresenceChange) -> PresenceItem {
        let item = self
            .known
            .entry(change.number.clone())
            .or_insert_with(|| PresenceItem {
                extension: change.number.clone(),
                name: String::new(),
                status: Status::Available,
                source: StatusSource::Default,
                until: None,
                restores: None,
            });
        follow(item, change);
        item.clone()
    }
}

/// Moves a list entry on by one change. `restores` follows the machine's rules (DESIGN §5): a
/// block that starts (calendar after any other source) remembers the status before it; while
/// the calendar goes on setting the status, the remembered one stays; any other source (the
/// user's change, or the remembered status returning) leaves nothing to restore.
fn follow(item: &mut PresenceItem, change: &PresenceChange) {
    item.restores = match (change.source, item.source) {
        (StatusSource::Calendar, StatusSource::Calendar) => item.restores,
        (StatusSource::Calendar, _) => Some(item.status),
        _ => None,
    };
    item.status = change.status;
    item.source = change.source;
    item.until = change.until;
}

fn json_event<T: Serialize>(name: &'static str, data: &T) -> Event {
    // Plain structs and lists always serialise; an empty object keeps the event well-formed.
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned());
    Event::default().event(name).data(json)
}

/// Schemas of the presence JSON (core's types cannot derive `ToSchema`).
#[allow(dead_code)]
pub(crate) mod schema {
    use utoipa::ToSchema;

    /// A status. `business_trip` is only ever set by a person: the calendar never sets or
    /// replaces it.
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub(crate) enum PresenceStatus {
        Available,
        Away,
        DoNotDisturb,
        Lunch,
        BusinessTrip,
    }

    /// Who set the status: the user (`manual`), a calendar entry (`calendar`), or nobody yet
    /// (`default`).
    #[derive(ToSchema)]
    #[schema(rename_all = "snake_case")]
    pub(crate) enum StatusSource {
        Manual,
        Calendar,
        Default,
    }

    /// One extension's presence.
    #[derive(ToSchema)]
    pub(crate) struct PresenceItem {
        #[schema(example = "101")]
        extension: String,
        /// The extension's display name (may be empty).
        #[schema(example = "Ada Lovelace")]
        name: String,
        status: PresenceStatus,
        source: StatusSource,
        /// When the calendar changes the status next; absent when nothing is due.
        #[schema(format = DateTime)]
        until: Option<String>,
        /// The status that returns when the current calendar block ends; absent outside a
        /// block, after the user's own change, and on Business Trip.
        restores: Option<PresenceStatus>,
    }

    /// `PUT /api/v1/extensions/{number}/status`.
    #[derive(ToSchema)]
    pub(crate) struct StatusUpdate {
        #[schema(example = "away")]
        status: PresenceStatus,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_body_is_a_status_and_nothing_else() {
        assert_eq!(
            status_from_body(&json!({"status": "lunch"})).unwrap(),
            Status::Lunch
        );
        for (body, expected) in [
            (
                json!({"status": "nap"}),
                "\"nap\" is not a status: use one of available, away",
            ),
            (json!({"status": 3}), "needs \"status\" as a string"),
            (json!({}), "needs \"status\" as a string"),
            (
                json!({"status": "away", "until": "10:00"}),
                "Unknown field \"until\"",
            ),
            (json!(["away"]), "must be a JSON object"),
        ] {
            let message = status_from_body(&body).unwrap_err();
            assert!(message.contains(expected), "{body}: {message}");
        }
    }

    /// The same list every time.
    struct Fixed(Vec<PresenceItem>);

    impl Snapshots for Fixed {
        fn snapshot(
            &self,
        ) -> impl Future<Output = Result<Vec<PresenceItem>, PresenceError>> + Send {
            let items = self.0.clone();
            async move { Ok(items) }
        }
    }

    fn ada(status: Status) -> PresenceItem {
        PresenceItem {
            extension: "100".into(),
            name: "Ada".into(),
            status,
            source: StatusSource::Manual,
            until: None,
            restores: None,
        }
    }

    fn change(status: Status) -> PresenceChange {
        PresenceChange {
            number: "100".into(),
            status,
            source: StatusSource::Manual,
            until: None,
            at: "2026-11-01T09:00:00Z".parse().unwrap(),
        }
    }

    /// The event's name, from its wire form (axum's `Event` has no getters).
    fn name_of(event: &Event) -> String {
        let text = format!("{event:?}");
        ["snapshot", "presence", "resync"]
            .into_iter()
            .find(|n| text.contains(&format!("event: {n}")))
            .unwrap_or("?")
            .to_owned()
    }

    async fn next(feed: Feed<Fixed>) -> (String, String, Feed<Fixed>) {
        let (event, feed) = feed.step().await.unwrap();
        let event = event.unwrap();
        (name_of(&event), format!("{event:?}"), feed)
    }

    #[tokio::test]
    async fn a_client_that_fell_behind_is_told_and_gets_a_fresh_snapshot() {
        let (tx, rx) = broadcast::channel(2);
        let fresh = vec![ada(Status::Lunch)];
        let feed = Feed::new(Fixed(fresh), rx, &[ada(Status::Available)]);
        for status in [
            Status::Away,
            Status::DoNotDisturb,
            Status::Away,
            Status::Lunch,
        ] {
            tx.send(change(status)).unwrap();
        }
        let (name, first, feed) = next(feed).await;
        assert_eq!(name, "snapshot");
        assert!(first.contains("retry: 3000"), "{first}");
        let (name, text, feed) = next(feed).await;
        assert_eq!(name, "resync");
        assert!(text.contains("\\\"missed\\\":2"), "{text}");
        let (name, text, feed) = next(feed).await;
        assert_eq!(name, "snapshot");
        assert!(text.contains("lunch"), "{text}");
        // From then on, changes as they come.
        tx.send(change(Status::Away)).unwrap();
        let (name, text, feed) = next(feed).await;
        assert_eq!(name, "presence");
        assert!(text.contains("\\\"status\\\":\\\"away\\\""), "{text}");
        // The service gone: the stream ends.
        drop(tx);
        assert!(feed.step().await.is_none());
    }

    #[tokio::test]
    async fn a_shutdown_ends_the_stream() {
        let (_tx, rx) = broadcast::channel(2);
        let (closing, shutdown) = tokio::sync::watch::channel(false);
        let feed = Feed::new(Fixed(Vec::new()), rx, &[]).until_closed(shutdown);
        let (name, _, feed) = next(feed).await;
        assert_eq!(name, "snapshot");
        closing.send_replace(true);
        let ended = tokio::time::timeout(std::time::Duration::from_secs(1), feed.step()).await;
        assert!(matches!(ended, Ok(None)));
    }

    #[test]
    fn restores_follows_blocks_and_the_users_change() {
        let at: Timestamp = "2026-11-01T09:00:00Z".parse().unwrap();
        let change = |status, source| PresenceChange {
            number: "101".into(),
            status,
            source,
            until: None,
            at,
        };
        let mut item = PresenceItem {
            extension: "101".into(),
            name: "Ada".into(),
            status: Status::Lunch,
            source: StatusSource::Manual,
            until: None,
            restores: None,
        };
        follow(&mut item, &change(Status::Away, StatusSource::Calendar));
        assert_eq!(
            (item.status, item.restores),
            (Status::Away, Some(Status::Lunch))
        );
        follow(
            &mut item,
            &change(Status::DoNotDisturb, StatusSource::Calendar),
        );
        assert_eq!(item.restores, Some(Status::Lunch), "the block goes on");
        follow(&mut item, &change(Status::Lunch, StatusSource::Manual));
        assert_eq!(
            (item.status, item.restores),
            (Status::Lunch, None),
            "block ended"
        );
        follow(&mut item, &change(Status::Away, StatusSource::Calendar));
        follow(&mut item, &change(Status::Available, StatusSource::Manual));
        assert_eq!(item.restores, None, "the user's change is not undone");
        assert_eq!(item.name, "Ada");
    }
}
