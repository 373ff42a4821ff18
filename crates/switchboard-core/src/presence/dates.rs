//! Turning Graph's `dateTimeTimeZone` values into instants. The zone is resolved by the caller
//! (`TimeZone::get` reads the system database, which the pure core does not do).

use jiff::Timestamp;
use jiff::civil::{DateTime, Time};
use jiff::tz::TimeZone;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Graph always gives all-day entries as midnight to midnight; anything else means the value
    /// was converted somewhere on the way and its date can no longer be trusted.
    #[error("an all-day entry must run from midnight to midnight, got {0}")]
    NotMidnight(DateTime),
    #[error("an all-day entry must end after it starts ({start} .. {end})")]
    Empty { start: DateTime, end: DateTime },
    #[error("{0} cannot be placed in time zone {1}")]
    OutOfRange(DateTime, String),
}

/// The instants an all-day entry covers: from the start of its first day to the start of the day
/// after its last, both in the mailbox's zone `tz`.
///
/// Graph sends all-day dates "floating" (`2025-03-30T00:00:00.0000000`) and does not convert
/// them for `Prefer: outlook.timezone`, so they mean local days wherever the user is. A day is
/// 23 or 25 hours across a DST change, and where a change skips midnight itself the day starts
/// at the first instant that exists (jiff's "compatible" rule).
pub fn all_day_span(
    start: DateTime,
    end: DateTime,
    tz: &TimeZone,
) -> Result<(Timestamp, Timestamp), DateError> {
    for value in [start, end] {
        if value.time() != Time::midnight() {
            return Err(DateError::NotMidnight(value));
        }
    }
    if end <= start {
        return Err(DateError::Empty { start, end });
    }
    Ok((resolve_local(start, tz)?, resolve_local(end, tz)?))
}

/// A timed entry's wall-clock `dateTime` in `tz` (its `timeZone`, already mapped to an IANA
/// zone) as an instant. A reading a DST gap skips moves past the gap; one a fold repeats means
/// its first occurrence (jiff's "compatible" rule, as in RFC 5545).
pub fn resolve_local(local: DateTime, tz: &TimeZone) -> Result<Timestamp, DateError> {
    tz.to_timestamp(local)
        .map_err(|_| DateError::OutOfRange(local, tz.iana_name().unwrap_or("(unnamed)").to_owned()))
}
