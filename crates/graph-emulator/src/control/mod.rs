//! The emulator's own control API under `/_emulator` (DESIGN.md §6 "Emulator"). Not part of
//! Graph: no faults, no stats, plain JSON errors `{"error": kind, "message": text}`.

mod apps;
mod contacts;
mod events;
mod groups;
mod ops;
mod subscriptions;
mod users;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/_emulator/apps", get(apps::list).post(apps::create))
        .route(
            "/_emulator/apps/{app_id}",
            get(apps::show).patch(apps::update).delete(apps::remove),
        )
        .route("/_emulator/users", get(users::list).post(users::create))
        .route(
            "/_emulator/users/{id}",
            get(users::show).patch(users::update).delete(users::remove),
        )
        .route("/_emulator/users/{id}/restore", post(users::restore))
        .route(
            "/_emulator/users/{id}/contacts",
            get(contacts::list_contacts).post(contacts::create_contact),
        )
        .route(
            "/_emulator/users/{id}/contacts/{cid}",
            get(contacts::show_contact)
                .patch(contacts::update_contact)
                .delete(contacts::delete_contact),
        )
        .route(
            "/_emulator/users/{id}/events",
            get(events::list_events).post(events::create_event),
        )
        .route(
            "/_emulator/users/{id}/events/{eid}",
            get(events::show_event)
                .patch(events::update_event)
                .delete(events::delete_event),
        )
        .route(
            "/_emulator/users/{id}/contactFolders",
            get(contacts::list_folders).post(contacts::create_folder),
        )
        .route(
            "/_emulator/users/{id}/contactFolders/{fid}",
            get(contacts::show_folder)
                .patch(contacts::update_folder)
                .delete(contacts::delete_folder),
        )
        .route(
            "/_emulator/outlook",
            get(contacts::outlook_get).post(contacts::outlook_set),
        )
        .route("/_emulator/groups", get(groups::list).post(groups::create))
        .route(
            "/_emulator/groups/{id}",
            get(groups::show).delete(groups::remove),
        )
        .route(
            "/_emulator/groups/{id}/members/{member_id}",
            post(groups::add_member).delete(groups::remove_member),
        )
        .route("/_emulator/subscriptions", get(subscriptions::list))
        .route(
            "/_emulator/subscriptions/config",
            get(subscriptions::config_get).post(subscriptions::config_set),
        )
        .route(
            "/_emulator/subscriptions/{id}/lifecycle",
            post(subscriptions::lifecycle),
        )
        .route(
            "/_emulator/notifications",
            get(subscriptions::notifications).delete(subscriptions::notifications_clear),
        )
        .route("/_emulator/delta/expire", post(ops::delta_expire))
        .route(
            "/_emulator/quirks",
            get(ops::quirks_get).post(ops::quirks_set),
        )
        .route("/_emulator/tenant", get(ops::tenant))
        .route("/_emulator/clock", get(ops::clock_get).post(ops::clock_set))
        .route(
            "/_emulator/faults",
            get(ops::faults_list)
                .post(ops::faults_add)
                .delete(ops::faults_clear),
        )
        .route(
            "/_emulator/stats",
            get(ops::stats_get).delete(ops::stats_reset),
        )
        .route("/_emulator", any(not_found))
        .route("/_emulator/{*rest}", any(not_found))
}

/// A control-API failure, rendered as `{"error": kind, "message": text}`.
#[derive(Debug)]
pub(crate) struct Problem {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({ "error": self.kind, "message": self.message })),
        )
            .into_response()
    }
}

pub(crate) fn problem(
    status: StatusCode,
    kind: &'static str,
    message: impl Into<String>,
) -> Problem {
    Problem {
        status,
        kind,
        message: message.into(),
    }
}

pub(crate) fn bad_request(message: impl Into<String>) -> Problem {
    problem(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// Parses a JSON body with a message that names the offending field.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(bad_request(
            "request body is empty; a JSON object is expected",
        ));
    }
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
}

async fn not_found() -> Problem {
    problem(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such control endpoint; see /_emulator/apps, /users (…/contacts, …/contactFolders, …/events), /groups, /tenant, /clock, /faults, /stats, /delta/expire, /quirks, /outlook, /subscriptions, /notifications",
    )
}
