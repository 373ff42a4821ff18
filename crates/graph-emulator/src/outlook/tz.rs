//! Time zones of events and of `Prefer: outlook.timezone` (graph-protocol.md §4.1): Windows
//! names (the documented form, e.g. "W. Europe Standard Time") mapped to IANA, IANA names, and
//! the `dateTimeTimeZone.dateTime` text form (no offset, 7 fractional digits).

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// Windows time-zone ids and the IANA zone of their "001" territory (CLDR windowsZones),
/// with current IANA spellings (`Asia/Kolkata`, `Europe/Kyiv`): distributions move the old
/// ones into optional "legacy" packages.
const WINDOWS: &[(&str, &str)] = &[
    ("Dateline Standard Time", "Etc/GMT+12"),
    ("UTC-11", "Etc/GMT+11"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Pacific Standard Time (Mexico)", "America/Tijuana"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Mountain Standard Time (Mexico)", "America/Mazatlan"),
    ("Mountain Standard Time", "America/Denver"),
    ("Central America Standard Time", "America/Guatemala"),
    ("Central Standard Time", "America/Chicago"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Canada Central Standard Time", "America/Regina"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("Eastern Standard Time", "America/New_York"),
    ("US Eastern Standard Time", "America/Indiana/Indianapolis"),
    ("Venezuela Standard Time", "America/Caracas"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Pacific SA Standard Time", "America/Santiago"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("Argentina Standard Time", "America/Argentina/Buenos_Aires"),
    ("SA Eastern Standard Time", "America/Cayenne"),
    ("Greenland Standard Time", "America/Nuuk"),
    ("UTC-02", "Etc/GMT+2"),
    ("Azores Standard Time", "Atlantic/Azores"),
    ("Cape Verde Standard Time", "Atlantic/Cape_Verde"),
    ("UTC", "UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("Morocco Standard Time", "Africa/Casablanca"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Middle East Standard Time", "Asia/Beirut"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("FLE Standard Time", "Europe/Kyiv"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Arabic Standard Time", "Asia/Baghdad"),
    ("Arab Standard Time", "Asia/Riyadh"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("E. Africa Standard Time", "Africa/Nairobi"),
    ("Iran Standard Time", "Asia/Tehran"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Nepal Standard Time", "Asia/Kathmandu"),
    ("Bangladesh Standard Time", "Asia/Dhaka"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("China Standard Time", "Asia/Shanghai"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("AUS Central Standard Time", "Australia/Darwin"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("Tasmania Standard Time", "Australia/Hobart"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("Tonga Standard Time", "Pacific/Tongatapu"),
];

/// A zone as a client named it, with the rules it stands for.
#[derive(Debug, Clone)]
pub struct Zone {
    /// As given ("Pacific Standard Time", "Europe/Berlin"): Graph echoes names verbatim.
    pub name: String,
    pub tz: TimeZone,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".to_owned(),
            tz: TimeZone::UTC,
        }
    }

    /// A Windows id (any case), an IANA name, `UTC`, or Outlook's `tzone://Microsoft/Utc`;
    /// `None` for anything else (Graph: `TimeZoneNotSupportedException`).
    pub fn parse(name: &str) -> Option<Zone> {
        let trimmed = name.trim();
        if trimmed.is_empty() {
            return None;
        }
        let iana = WINDOWS
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(trimmed))
            .map_or(trimmed, |(_, iana)| *iana);
        let tz = if iana.eq_ignore_ascii_case("UTC")
            || iana.eq_ignore_ascii_case("Etc/UTC")
            || iana.eq_ignore_ascii_case("tzone://Microsoft/Utc")
        {
            // Known without a time-zone database.
            TimeZone::UTC
        } else {
            TimeZone::get(iana).ok()?
        };
        Some(Zone {
            name: trimmed.to_owned(),
            tz,
        })
    }

    /// Wall-clock time here at `t`.
    pub fn civil(&self, t: Timestamp) -> DateTime {
        self.tz.to_datetime(t)
    }

    /// The instant of a wall-clock time here; a time in a DST gap moves forward, an
    /// ambiguous one takes the earlier instant (Exchange does the same).
    pub fn instant(&self, dt: DateTime) -> Timestamp {
        self.tz
            .to_ambiguous_timestamp(dt)
            .compatible()
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// Converts a wall-clock time from this zone to `other`.
    pub fn convert(&self, dt: DateTime, other: &Zone) -> DateTime {
        other.civil(self.instant(dt))
    }
}

/// `2025-06-02T09:00:00.0000000`: `dateTimeTimeZone.dateTime` (§4.1, §7).
pub fn format_date_time(dt: DateTime) -> String {
    let ticks = dt.subsec_nanosecond() / 100;
    format!("{}.{ticks:07}", dt.strftime("%Y-%m-%dT%H:%M:%S"))
}

/// A `dateTime` without offset (0–7 fractional digits, as clients send them); a trailing `Z`
/// is tolerated. `None` for an offset or garbage.
pub fn parse_date_time(text: &str) -> Option<DateTime> {
    let t = text.trim();
    let t = t.strip_suffix(['Z', 'z']).unwrap_or(t);
    let (_, time) = t.split_once(['T', 't'])?;
    if time.contains(['+', '-', '[']) {
        return None;
    }
    t.parse::<DateTime>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_windows_name_resolves() {
        for (w, iana) in WINDOWS {
            assert!(Zone::parse(w).is_some(), "{w} → {iana}");
        }
        assert!(Zone::parse("w. europe standard time").is_some());
        assert!(Zone::parse("Europe/Berlin").is_some());
        assert!(Zone::parse("Australia Eastern Standard Time").is_none());
        assert!(Zone::parse("").is_none());
    }

    #[test]
    fn berlin_is_dst_aware() {
        let berlin = Zone::parse("W. Europe Standard Time").expect("zone");
        let winter: DateTime = "2025-01-13T09:00".parse().expect("dt");
        let summer: DateTime = "2025-07-14T09:00".parse().expect("dt");
        assert_eq!(
            berlin.instant(winter).to_string(),
            "2025-01-13T08:00:00Z",
            "CET"
        );
        assert_eq!(
            berlin.instant(summer).to_string(),
            "2025-07-14T07:00:00Z",
            "CEST"
        );
    }

    #[test]
    fn date_time_text() {
        let dt = parse_date_time("2025-06-02T09:00:00.1234567").expect("parse");
        assert_eq!(format_date_time(dt), "2025-06-02T09:00:00.1234567");
        let dt = parse_date_time("2025-06-02T09:00:00").expect("parse");
        assert_eq!(format_date_time(dt), "2025-06-02T09:00:00.0000000");
        assert!(parse_date_time("2025-06-02T09:00:00+02:00").is_none());
        assert!(parse_date_time("2025-06-02").is_none());
        assert!(parse_date_time("soon").is_none());
    }
}
