//! What the settings checks of the contact and calendar syncs share: one refused setting, the
//! words for what was typed, the schedule every sync kind has, and the one-line message for the
//! API.

use jiff::tz::TimeZone;
use switchboard_core::users::parse_hh_mm;

/// One refused setting: its key (the API's name for it) and what is wrong, in words that say
/// what to enter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub(crate) field: &'static str,
    pub(crate) message: String,
}

/// What was typed, quoted and shortened for a message.
pub(crate) fn entered(s: &str) -> String {
    let s = s.trim();
    if s.is_empty() {
        "it is empty".to_owned()
    } else {
        format!("got \"{}\"", s.chars().take(40).collect::<String>())
    }
}

/// The system time zone database (UTC is known without it).
pub(crate) fn zone(name: &str) -> Option<TimeZone> {
    if name.eq_ignore_ascii_case("UTC") {
        return Some(TimeZone::UTC);
    }
    TimeZone::get(name).ok()
}

/// Checks the poll interval, the daily full-sync time and the time zone, trimming the last two;
/// `example_at` is a time to suggest in the message.
pub(crate) fn check_schedule(
    poll_interval_secs: u32,
    daily_full_sync_at: &mut String,
    time_zone: &mut String,
    example_at: &str,
    problems: &mut Vec<Invalid>,
) {
    if !(10..=86_400).contains(&poll_interval_secs) {
        problems.push(Invalid {
            field: "poll_interval_secs",
            message: format!(
                "the poll interval must be between 10 and 86400 seconds, got {poll_interval_secs}"
            ),
        });
    }
    let at = daily_full_sync_at.trim().to_owned();
    if parse_hh_mm(&at).is_some() {
        *daily_full_sync_at = at;
    } else {
        problems.push(Invalid {
            field: "daily_full_sync_at",
            message: format!(
                "the daily full sync time must be a 24-hour time such as {example_at} or 23:30 ({})",
                entered(daily_full_sync_at)
            ),
        });
    }
    let tz = time_zone.trim().to_owned();
    if !tz.is_empty() && zone(&tz).is_some() {
        *time_zone = tz;
    } else {
        problems.push(Invalid {
            field: "time_zone",
            message: format!(
                "the time zone must be an IANA name such as Europe/Berlin, America/New_York or UTC ({})",
                entered(time_zone)
            ),
        });
    }
}

/// The problems as one message for the API, e.g. "The contact sync settings are not valid: …".
pub(crate) fn describe(what: &str, problems: &[Invalid]) -> String {
    let parts: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect();
    format!("The {what} settings are not valid: {}.", parts.join("; "))
}
