//! `/users/{id}/mailboxSettings` and `/mailboxSettings/timeZone` (graph-protocol.md §4.1: the
//! zone all-day events are meant in). The zone is the one the generator uses for the owner's
//! usageLocation, unless the control API set `mailboxTimeZone`.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use serde_json::json;

use super::headers::GraphCtx;
use super::outlook::{self, BatchWave, item_not_found};
use crate::graph::calendar::Owner;
use crate::outlook::calgen::zone_for;
use crate::state::AppState;

/// Real Graph needs MailboxSettings.Read for app-only reads of mailbox settings; the emulator
/// also accepts the calendar roles, which is all Switchboard is granted by default.
pub const MAILBOX_SETTINGS_ROLES: &[&str] = &[
    "MailboxSettings.Read",
    "MailboxSettings.ReadWrite",
    "Calendars.Read",
    "Calendars.ReadWrite",
];

type Wave = Option<Extension<BatchWave>>;

#[derive(Debug, Clone, Copy)]
enum Target {
    Settings,
    TimeZone,
}

pub async fn settings(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    wave: Wave,
    Path(user): Path<String>,
) -> Response {
    serve(state, ctx, headers, wave, user, Target::Settings).await
}

pub async fn time_zone(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    wave: Wave,
    Path(user): Path<String>,
) -> Response {
    serve(state, ctx, headers, wave, user, Target::TimeZone).await
}

async fn serve(
    state: AppState,
    ctx: GraphCtx,
    headers: HeaderMap,
    wave: Wave,
    user: String,
    target: Target,
) -> Response {
    let wave = wave.map(|Extension(w)| w);
    // Read up front: the work below holds the mailbox, not the settings beside it.
    let set_zone = {
        let tenant = state.tenant();
        tenant
            .directory
            .find_live(&user)
            .and_then(|idx| tenant.mailboxes.time_zone(idx).map(str::to_owned))
    };
    let base = ctx.base.clone();
    outlook::serve_for(
        &state,
        &ctx,
        &headers,
        &user,
        wave.as_ref(),
        MAILBOX_SETTINGS_ROLES,
        |_mb, dir| {
            let owner = dir
                .find_live(&user)
                .and_then(|idx| Owner::of(dir, idx))
                .ok_or_else(item_not_found)?;
            let zone = set_zone.unwrap_or_else(|| zone_for(owner.country.as_deref()).name);
            let context = format!("{base}/v1.0/$metadata#users('{user}')/mailboxSettings");
            let body = match target {
                Target::TimeZone => json!({
                    "@odata.context": format!("{context}/timeZone"),
                    "value": zone,
                }),
                Target::Settings => json!({
                    "@odata.context": context,
                    "archiveFolder": null,
                    "timeZone": zone,
                    "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
                    "dateFormat": "yyyy-MM-dd",
                    "timeFormat": "HH:mm",
                    "userPurpose": "user",
                    "automaticRepliesSetting": {
                        "status": "disabled",
                        "externalAudience": "none",
                        "internalReplyMessage": "",
                        "externalReplyMessage": "",
                    },
                    "language": {"locale": "en-US", "displayName": "English (United States)"},
                    "workingHours": {
                        "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                        "startTime": "08:00:00.0000000",
                        "endTime": "17:00:00.0000000",
                        "timeZone": {"name": zone},
                    },
                }),
            };
            Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response())
        },
    )
    .await
}
