//! The emulator clock: wall time plus an adjustable offset.
//!
//! Every validity check (client assertion `nbf`/`exp`, access-token expiry, certificate validity)
//! and every timestamp the emulator prints (`Date`, `innerError.date`, Entra `timestamp`) reads
//! this clock, so a test can move time forward instead of sleeping.

use jiff::{SignedDuration, Timestamp};

/// Wall clock shifted by an offset that the control API changes.
#[derive(Debug, Default, Clone)]
pub struct Clock {
    offset: SignedDuration,
}

impl Clock {
    /// Current emulator time.
    pub fn now(&self) -> Timestamp {
        Timestamp::now()
            .checked_add(self.offset)
            .unwrap_or(Timestamp::MAX)
    }

    /// Offset from the wall clock.
    pub fn offset(&self) -> SignedDuration {
        self.offset
    }

    /// Moves the emulator clock forward (or backward for a negative value).
    pub fn advance(&mut self, seconds: i64) -> Result<(), String> {
        let by = SignedDuration::from_secs(seconds);
        let offset = self
            .offset
            .checked_add(by)
            .ok_or_else(|| "advance_seconds overflows the clock".to_owned())?;
        Timestamp::now()
            .checked_add(offset)
            .map_err(|_| "advance_seconds moves the clock out of range".to_owned())?;
        self.offset = offset;
        Ok(())
    }

    /// Sets the emulator clock to `now`; time keeps flowing from there.
    pub fn set(&mut self, now: Timestamp) {
        self.offset = now.duration_since(Timestamp::now());
    }

    /// Back to wall time.
    pub fn reset(&mut self) {
        self.offset = SignedDuration::ZERO;
    }
}

/// `2016-01-09 02:02:12Z`: the Entra token-endpoint form (graph-protocol.md §1.4, §7).
pub fn entra_timestamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// `2021-05-18T19:03:10`: Graph `innerError.date`, no zone and no fractions (§6.1).
pub fn inner_error_date(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

/// RFC 9110 (RFC 1123) HTTP date for the `Date` header (§7).
pub fn http_date(t: Timestamp) -> String {
    jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&t)
        .unwrap_or_else(|_| t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

/// .NET round-trip form with 7 fractional digits (`2022-01-01T21:42:18.2257768Z`), as Entra
/// prints times inside AADSTS700024 messages [obs].
pub fn dotnet_round_trip(t: Timestamp) -> String {
    let ticks = t.subsec_nanosecond().unsigned_abs() / 100;
    format!("{}.{ticks:07}Z", t.strftime("%Y-%m-%dT%H:%M:%S"))
}

/// `2019-09-04T15:35:02Z`: Graph DateTimeOffset with no fractions (§7).
pub fn graph_date_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
