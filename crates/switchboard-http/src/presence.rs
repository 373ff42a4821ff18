//! What the API and the console share about presence: the board's rows (the service's views
//! with the extensions' names), reading a status someone typed, and errors in words.

use crate::calendar_sync::status_list;
use crate::state::AppState;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::Serialize;
use std::collections::HashMap;
use switchboard_core::calendar::{PresenceError, PresenceView};
use switchboard_core::ports::StoreError;
use switchboard_core::presence::{Status, StatusSource};
use switchboard_core::users::{ExtensionQuery, ExtensionRecord};

/// Extensions read per query when naming them all.
const NAME_PAGE: u32 = 1000;

/// One extension's presence as the API and the stream give it (DESIGN §6, plus `name` and
/// `restores`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct PresenceItem {
    pub(crate) extension: String,
    /// The extension's display name (first and last name when it has none); may be empty.
    pub(crate) name: String,
    pub(crate) status: Status,
    pub(crate) source: StatusSource,
    /// When the calendar will change the status next; absent when nothing is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) until: Option<Timestamp>,
    /// The status that returns when the current calendar block ends; absent outside a block,
    /// after the user's own change, and on Business Trip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) restores: Option<Status>,
}

impl PresenceItem {
    pub(crate) fn new(view: PresenceView, name: String) -> Self {
        Self {
            extension: view.number,
            name,
            status: view.status,
            source: view.source,
            until: view.until,
            restores: view.restores,
        }
    }
}

/// The name shown for an extension.
pub(crate) fn display_name(e: &ExtensionRecord) -> String {
    if e.fields.display_name.is_empty() {
        format!("{} {}", e.fields.first_name, e.fields.last_name)
            .trim()
            .to_owned()
    } else {
        e.fields.display_name.clone()
    }
}

/// Every extension's name by number, a page at a time.
pub(crate) async fn all_names(state: &AppState) -> Result<HashMap<String, String>, StoreError> {
    let mut names = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let query = ExtensionQuery {
            after: after.clone(),
            limit: NAME_PAGE,
            ..ExtensionQuery::default()
        };
        let page = state.extensions().list_extensions(&query).await?;
        let done = page.len() < NAME_PAGE as usize;
        let last = page.last().map(|e| e.number.clone());
        for e in &page {
            names.insert(e.number.clone(), display_name(e));
        }
        // A store that repeats its last page must not keep us here.
        if done || last.is_none() || last == after {
            return Ok(names);
        }
        after = last;
    }
}

/// Every extension's presence, in the extension list's order, with names.
pub(crate) async fn board(state: &AppState) -> Result<Vec<PresenceItem>, PresenceError> {
    let views = state.presence().list().await?;
    let mut names = all_names(state).await?;
    Ok(views
        .into_iter()
        .map(|view| {
            let name = names.remove(&view.number).unwrap_or_default();
            PresenceItem::new(view, name)
        })
        .collect())
}

/// A status as typed (`away`, `do_not_disturb`…), or what to send instead.
pub(crate) fn parse_status(s: &str) -> Result<Status, String> {
    s.trim().parse::<Status>().map_err(|_| {
        format!(
            "\"{}\" is not a status: use one of {}.",
            s.chars().take(40).collect::<String>(),
            status_list()
        )
    })
}

/// The status and message of a failed presence call; store failures are logged and not
/// described.
pub(crate) fn error_status(e: &PresenceError) -> (StatusCode, String) {
    match e {
        PresenceError::UnknownExtension(number) => (
            StatusCode::NOT_FOUND,
            format!(
                "There is no extension {}: GET /api/v1/extensions lists them.",
                number.chars().take(40).collect::<String>()
            ),
        ),
        PresenceError::Store(_) => {
            tracing::error!(error = %e, "presence failed in the store");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error: the server log has the details. Try again, and report it if it persists.".to_owned(),
            )
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_read_in_their_json_spelling_and_refusals_list_them() {
        assert_eq!(parse_status(" away ").unwrap(), Status::Away);
        assert_eq!(
            parse_status("do_not_disturb").unwrap(),
            Status::DoNotDisturb
        );
        let refused = parse_status("napping").unwrap_err();
        assert_eq!(
            refused,
            "\"napping\" is not a status: use one of available, away, do_not_disturb, lunch, business_trip."
        );
    }

    #[test]
    fn absent_until_and_restores_are_left_out() {
        let item = PresenceItem {
            extension: "101".into(),
            name: "Ada".into(),
            status: Status::Available,
            source: StatusSource::Default,
            until: None,
            restores: None,
        };
        assert_eq!(
            serde_json::to_value(&item).unwrap(),
            serde_json::json!({"extension": "101", "name": "Ada", "status": "available", "source": "default"})
        );
    }
}
