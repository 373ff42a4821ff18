//! `patternedRecurrence` (graph-protocol.md §4.1; Graph `resources/patternedrecurrence.md`):
//! parsing, Graph JSON, and expansion into occurrence dates. Dates are civil dates in the
//! series' time zone; the caller puts the master's time of day on them there, so a 09:00
//! meeting stays at 09:00 local across DST changes.

use jiff::civil::Date;
use serde_json::{Map, Value, json};

/// Most candidate dates one expansion looks at (a daily series over 270 years).
const MAX_STEPS: u32 = 100_000;
/// Most months or years one monthly/yearly expansion steps through.
const MAX_PERIODS: i32 = 120_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternType {
    Daily,
    Weekly,
    AbsoluteMonthly,
    RelativeMonthly,
    AbsoluteYearly,
    RelativeYearly,
}

const PATTERN_NAMES: &[(PatternType, &str)] = &[
    (PatternType::Daily, "daily"),
    (PatternType::Weekly, "weekly"),
    (PatternType::AbsoluteMonthly, "absoluteMonthly"),
    (PatternType::RelativeMonthly, "relativeMonthly"),
    (PatternType::AbsoluteYearly, "absoluteYearly"),
    (PatternType::RelativeYearly, "relativeYearly"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeType {
    EndDate,
    NoEnd,
    Numbered,
}

const RANGE_NAMES: &[(RangeType, &str)] = &[
    (RangeType::EndDate, "endDate"),
    (RangeType::NoEnd, "noEnd"),
    (RangeType::Numbered, "numbered"),
];

/// `first` … `fourth`, `last`.
const INDEX_NAMES: &[&str] = &["first", "second", "third", "fourth", "last"];

/// Sunday first, as Graph's `dayOfWeek` enumeration.
pub const WEEKDAYS: &[&str] = &[
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// A series' rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurrence {
    pub kind: PatternType,
    pub interval: u32,
    /// Bit `i` = [`WEEKDAYS`]`[i]`.
    pub days: u8,
    pub day_of_month: u8,
    pub month: u8,
    /// 0..=3 = first..fourth, 4 = last.
    pub index: u8,
    pub first_day_of_week: u8,
    pub range: RangeType,
    pub start: Date,
    pub end: Option<Date>,
    pub count: u32,
    /// `recurrenceTimeZone` as given; the series' start zone when absent.
    pub zone: Option<String>,
}

/// Days since 1970-01-01 (negative before).
pub fn day_number(d: Date) -> i32 {
    let (y, m, day) = (
        i32::from(d.year()),
        i32::from(d.month()),
        i32::from(d.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number; `None` outside years -9999..=9999.
pub fn from_day_number(n: i32) -> Option<Date> {
    let z = n.checked_add(719_468)?;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i32::from(m <= 2);
    Date::new(
        i16::try_from(y).ok()?,
        i8::try_from(m).ok()?,
        i8::try_from(d).ok()?,
    )
    .ok()
}

/// 0 = Sunday … 6 = Saturday.
pub fn weekday(day: i32) -> u8 {
    // 1970-01-01 was a Thursday.
    u8::try_from((day + 4).rem_euclid(7)).unwrap_or(0)
}

fn days_in_month(year: i32, month: i32) -> i32 {
    from_ym(year, month, 1).map_or(28, |d| i32::from(d.days_in_month()))
}

fn from_ym(year: i32, month: i32, day: i32) -> Option<Date> {
    Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()
}

fn name_of<T: Copy + PartialEq>(table: &[(T, &'static str)], v: T) -> &'static str {
    table.iter().find(|(t, _)| *t == v).map_or("", |(_, n)| *n)
}

fn by_name<T: Copy>(table: &[(T, &'static str)], s: &str) -> Option<T> {
    table
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(s))
        .map(|(t, _)| *t)
}

fn weekday_index(s: &str) -> Option<u8> {
    WEEKDAYS
        .iter()
        .position(|d| d.eq_ignore_ascii_case(s))
        .and_then(|i| u8::try_from(i).ok())
}

fn int(v: Option<&Value>, name: &str) -> Result<Option<i64>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("{name}: expected an integer")),
        Some(other) => Err(format!("{name}: expected an integer, got {other}")),
    }
}

fn text<'a>(v: Option<&'a Value>, name: &str) -> Result<Option<&'a str>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(format!("{name}: expected a string, got {other}")),
    }
}

fn date(v: Option<&Value>, name: &str) -> Result<Option<Date>, String> {
    match text(v, name)? {
        // Graph writes an unset endDate as 0001-01-01.
        None | Some("0001-01-01") => Ok(None),
        Some(s) => s
            .parse::<Date>()
            .map(Some)
            .map_err(|_| format!("{name}: '{s}' is not a date (YYYY-MM-DD)")),
    }
}

fn object<'a>(v: Option<&'a Value>, name: &str) -> Result<&'a Map<String, Value>, String> {
    match v {
        Some(Value::Object(m)) => Ok(m),
        _ => Err(format!("{name}: an object is required")),
    }
}

fn check_keys(map: &Map<String, Value>, known: &[&str], name: &str) -> Result<(), String> {
    match map
        .keys()
        .find(|k| !k.starts_with('@') && !known.contains(&k.as_str()))
    {
        Some(k) => Err(format!(
            "{name}: unknown property '{k}' (known: {})",
            known.join(", ")
        )),
        None => Ok(()),
    }
}

impl Recurrence {
    /// Reads a Graph `patternedRecurrence`; `default_start` stands in for a missing
    /// `range.startDate` (the event's start date).
    pub fn parse(value: &Value, default_start: Date) -> Result<Recurrence, String> {
        let root = object(Some(value), "recurrence")?;
        check_keys(root, &["pattern", "range"], "recurrence")?;
        let pattern = object(root.get("pattern"), "recurrence.pattern")?;
        check_keys(
            pattern,
            &[
                "type",
                "interval",
                "month",
                "dayOfMonth",
                "daysOfWeek",
                "firstDayOfWeek",
                "index",
            ],
            "recurrence.pattern",
        )?;
        let range = object(root.get("range"), "recurrence.range")?;
        check_keys(
            range,
            &[
                "type",
                "startDate",
                "endDate",
                "numberOfOccurrences",
                "recurrenceTimeZone",
            ],
            "recurrence.range",
        )?;
        let kind_text = text(pattern.get("type"), "pattern.type")?
            .ok_or("recurrence.pattern.type is required")?;
        let kind = by_name(PATTERN_NAMES, kind_text).ok_or_else(|| {
            format!(
                "pattern.type '{kind_text}' is not one of daily, weekly, absoluteMonthly, relativeMonthly, absoluteYearly, relativeYearly"
            )
        })?;
        let interval = int(pattern.get("interval"), "pattern.interval")?.unwrap_or(1);
        let interval = u32::try_from(interval)
            .ok()
            .filter(|n| (1..=999).contains(n))
            .ok_or("pattern.interval must be 1..=999")?;
        let mut days = 0u8;
        match pattern.get("daysOfWeek") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for d in list {
                    let name = d.as_str().ok_or("pattern.daysOfWeek: strings expected")?;
                    let i = weekday_index(name)
                        .ok_or_else(|| format!("pattern.daysOfWeek: '{name}' is no weekday"))?;
                    days |= 1 << i;
                }
            }
            Some(_) => return Err("pattern.daysOfWeek: an array is expected".to_owned()),
        }
        let day_of_month = int(pattern.get("dayOfMonth"), "pattern.dayOfMonth")?.unwrap_or(0);
        let day_of_month = u8::try_from(day_of_month)
            .ok()
            .filter(|d| *d <= 31)
            .ok_or("pattern.dayOfMonth must be 1..=31")?;
        let month = int(pattern.get("month"), "pattern.month")?.unwrap_or(0);
        let month = u8::try_from(month)
            .ok()
            .filter(|m| *m <= 12)
            .ok_or("pattern.month must be 1..=12")?;
        let index = match text(pattern.get("index"), "pattern.index")? {
            None => 0,
            Some(s) => INDEX_NAMES
                .iter()
                .position(|n| n.eq_ignore_ascii_case(s))
                .and_then(|i| u8::try_from(i).ok())
                .ok_or_else(|| {
                    format!("pattern.index '{s}' is not one of first, second, third, fourth, last")
                })?,
        };
        let first_day_of_week = match text(pattern.get("firstDayOfWeek"), "firstDayOfWeek")? {
            None => 0,
            Some(s) => weekday_index(s)
                .ok_or_else(|| format!("pattern.firstDayOfWeek: '{s}' is no weekday"))?,
        };
        match kind {
            PatternType::Weekly | PatternType::RelativeMonthly | PatternType::RelativeYearly
                if days == 0 =>
            {
                return Err(format!("pattern.daysOfWeek is required for {kind_text}"));
            }
            PatternType::AbsoluteMonthly | PatternType::AbsoluteYearly if day_of_month == 0 => {
                return Err(format!("pattern.dayOfMonth is required for {kind_text}"));
            }
            _ => {}
        }
        if matches!(
            kind,
            PatternType::AbsoluteYearly | PatternType::RelativeYearly
        ) && month == 0
        {
            return Err(format!("pattern.month is required for {kind_text}"));
        }
        let range_text =
            text(range.get("type"), "range.type")?.ok_or("recurrence.range.type is required")?;
        let range_kind = by_name(RANGE_NAMES, range_text).ok_or_else(|| {
            format!("range.type '{range_text}' is not one of endDate, noEnd, numbered")
        })?;
        let start = date(range.get("startDate"), "range.startDate")?.unwrap_or(default_start);
        let end = date(range.get("endDate"), "range.endDate")?;
        let count = int(
            range.get("numberOfOccurrences"),
            "range.numberOfOccurrences",
        )?
        .unwrap_or(0);
        let count = u32::try_from(count).map_err(|_| "range.numberOfOccurrences must be ≥ 0")?;
        match range_kind {
            RangeType::EndDate => match end {
                None => return Err("range.endDate is required for an endDate range".to_owned()),
                Some(e) if e < start => {
                    return Err("range.endDate is before range.startDate".to_owned());
                }
                _ => {}
            },
            // Outlook caps a numbered series at 999 occurrences.
            RangeType::Numbered if !(1..=999).contains(&count) => {
                return Err("range.numberOfOccurrences must be 1..=999".to_owned());
            }
            _ => {}
        }
        let zone = text(range.get("recurrenceTimeZone"), "range.recurrenceTimeZone")?
            .filter(|z| !z.trim().is_empty())
            .map(str::to_owned);
        if let Some(z) = &zone
            && super::tz::Zone::parse(z).is_none()
        {
            return Err(format!(
                "range.recurrenceTimeZone '{z}' is not a known time zone"
            ));
        }
        Ok(Recurrence {
            kind,
            interval,
            days,
            day_of_month,
            month,
            index,
            first_day_of_week,
            range: range_kind,
            start,
            end: if range_kind == RangeType::EndDate {
                end
            } else {
                None
            },
            count: if range_kind == RangeType::Numbered {
                count
            } else {
                0
            },
            zone,
        })
    }

    /// Graph's JSON (unset values as Graph writes them: `0`, `0001-01-01`, `first`).
    pub fn to_json(&self, zone_name: &str) -> Value {
        let days: Vec<&str> = (0..7)
            .filter(|i| self.days & (1 << i) != 0)
            .map(|i| WEEKDAYS[i])
            .collect();
        json!({
            "pattern": {
                "type": name_of(PATTERN_NAMES, self.kind),
                "interval": self.interval,
                "month": self.month,
                "dayOfMonth": self.day_of_month,
                "daysOfWeek": days,
                "firstDayOfWeek": WEEKDAYS[usize::from(self.first_day_of_week % 7)],
                "index": INDEX_NAMES[usize::from(self.index.min(4))],
            },
            "range": {
                "type": name_of(RANGE_NAMES, self.range),
                "startDate": self.start.to_string(),
                "endDate": self.end.map_or_else(|| "0001-01-01".to_owned(), |d| d.to_string()),
                "recurrenceTimeZone": self.zone.as_deref().unwrap_or(zone_name),
                "numberOfOccurrences": self.count,
            },
        })
    }

    /// The occurrence dates (as day numbers) in `from..=to`, in order.
    pub fn dates(&self, from: i32, to: i32) -> Vec<i32> {
        let mut out = Vec::new();
        self.walk(
            |d| {
                if d > to {
                    return false;
                }
                if d >= from {
                    out.push(d);
                }
                true
            },
            from,
        );
        out
    }

    /// Whether `day` is an occurrence date of the series.
    pub fn has(&self, day: i32) -> bool {
        let mut found = false;
        self.walk(
            |d| {
                if d >= day {
                    found = d == day;
                    return false;
                }
                true
            },
            day,
        );
        found
    }

    /// Feeds the series' dates in order to `visit` until it returns false or the range ends.
    /// `hint` is the first date the caller cares about: open-ended series skip ahead to it,
    /// numbered ones have to count from the start.
    fn walk(&self, mut visit: impl FnMut(i32) -> bool, hint: i32) {
        let start = day_number(self.start);
        let end = self.end.map(day_number);
        let numbered = self.range == RangeType::Numbered;
        let mut produced = 0u32;
        let mut steps = 0u32;
        // One candidate date, in order; false = stop.
        let mut step = |d: i32| -> bool {
            steps += 1;
            if steps > MAX_STEPS {
                return false;
            }
            if d < start {
                return true;
            }
            if end.is_some_and(|e| d > e) || (numbered && produced >= self.count) {
                return false;
            }
            produced += 1;
            visit(d)
        };
        let interval = i32::try_from(self.interval).unwrap_or(1).max(1);
        // Periods to skip before `hint` (open-ended series only).
        let skip = |period_days: i32, first: i32| -> i32 {
            if numbered || hint <= first {
                0
            } else {
                ((hint - first) / period_days - 1).max(0)
            }
        };
        match self.kind {
            PatternType::Daily => {
                let mut k = skip(interval, start);
                loop {
                    let Some(d) = k.checked_mul(interval).and_then(|o| start.checked_add(o)) else {
                        return;
                    };
                    if !step(d) {
                        return;
                    }
                    k += 1;
                }
            }
            PatternType::Weekly => {
                let fdow = i32::from(self.first_day_of_week % 7);
                let week0 = start - (i32::from(weekday(start)) - fdow).rem_euclid(7);
                let mut k = skip(7 * interval, week0);
                loop {
                    let Some(week) = k
                        .checked_mul(7 * interval)
                        .and_then(|o| week0.checked_add(o))
                    else {
                        return;
                    };
                    for i in 0..7 {
                        let d = week + i;
                        if self.days & (1 << weekday(d)) != 0 && !step(d) {
                            return;
                        }
                    }
                    k += 1;
                }
            }
            PatternType::AbsoluteMonthly
            | PatternType::RelativeMonthly
            | PatternType::AbsoluteYearly
            | PatternType::RelativeYearly => {
                let yearly = matches!(
                    self.kind,
                    PatternType::AbsoluteYearly | PatternType::RelativeYearly
                );
                let months = if yearly { 12 * interval } else { interval };
                let first_month = if yearly {
                    i32::from(self.start.year()) * 12 + i32::from(self.month.max(1)) - 1
                } else {
                    i32::from(self.start.year()) * 12 + i32::from(self.start.month()) - 1
                };
                let hint_month = from_day_number(hint).map_or(first_month, |h| {
                    i32::from(h.year()) * 12 + i32::from(h.month()) - 1
                });
                let mut k = if numbered || hint_month <= first_month {
                    0
                } else {
                    ((hint_month - first_month) / months - 1).max(0)
                };
                loop {
                    let m = first_month + k * months;
                    let (year, month) = (m.div_euclid(12), m.rem_euclid(12) + 1);
                    if year > 9999 {
                        return;
                    }
                    let relative = matches!(
                        self.kind,
                        PatternType::RelativeMonthly | PatternType::RelativeYearly
                    );
                    let day = if relative {
                        self.relative_day(year, month)
                    } else {
                        // Outlook puts a 31st on the last day of shorter months.
                        let dim = days_in_month(year, month);
                        from_ym(year, month, i32::from(self.day_of_month).min(dim)).map(day_number)
                    };
                    if let Some(d) = day
                        && !step(d)
                    {
                        return;
                    }
                    k += 1;
                    if k > MAX_PERIODS {
                        return;
                    }
                }
            }
        }
    }

    /// The `index`-th day of `month` whose weekday is in `days`.
    fn relative_day(&self, year: i32, month: i32) -> Option<i32> {
        let first = day_number(from_ym(year, month, 1)?);
        let dim = days_in_month(year, month);
        let matching: Vec<i32> = (0..dim)
            .map(|i| first + i)
            .filter(|d| self.days & (1 << weekday(*d)) != 0)
            .collect();
        if self.index >= 4 {
            matching.last().copied()
        } else {
            matching.get(usize::from(self.index)).copied()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> i32 {
        day_number(s.parse().expect("date"))
    }

    fn show(days: &[i32]) -> Vec<String> {
        days.iter()
            .map(|n| from_day_number(*n).expect("date").to_string())
            .collect()
    }

    fn rec(v: Value) -> Recurrence {
        Recurrence::parse(&v, "2025-01-01".parse().expect("date")).expect("valid")
    }

    #[test]
    fn day_numbers_round_trip() {
        for n in [-800_000, -1, 0, 1, 19_000, 20_000, 2_900_000] {
            let date = from_day_number(n).expect("in range");
            assert_eq!(day_number(date), n);
        }
        assert_eq!(d("1970-01-01"), 0);
        assert_eq!(weekday(d("2025-06-02")), 1, "a Monday");
    }

    #[test]
    fn weekly_with_interval_and_end() {
        let r = rec(json!({
            "pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "thursday"]},
            "range": {"type": "endDate", "startDate": "2025-06-04", "endDate": "2025-07-03"},
        }));
        assert_eq!(
            show(&r.dates(d("2025-01-01"), d("2025-12-31"))),
            [
                "2025-06-05",
                "2025-06-16",
                "2025-06-19",
                "2025-06-30",
                "2025-07-03"
            ]
        );
        assert!(r.has(d("2025-06-16")));
        assert!(!r.has(d("2025-06-09")));
    }

    #[test]
    fn monthly_yearly_and_numbered() {
        let r = rec(json!({
            "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
            "range": {"type": "numbered", "startDate": "2025-01-01", "numberOfOccurrences": 4},
        }));
        assert_eq!(
            show(&r.dates(d("2025-01-01"), d("2026-01-01"))),
            ["2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30"]
        );
        let r = rec(json!({
            "pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["tuesday"], "index": "last"},
            "range": {"type": "noEnd", "startDate": "2025-01-01"},
        }));
        assert_eq!(
            show(&r.dates(d("2030-01-01"), d("2030-03-31"))),
            ["2030-01-29", "2030-02-26", "2030-03-26"]
        );
        let r = rec(json!({
            "pattern": {"type": "relativeYearly", "interval": 1, "daysOfWeek": ["thursday"], "index": "fourth", "month": 11},
            "range": {"type": "noEnd", "startDate": "2025-01-01"},
        }));
        assert_eq!(
            show(&r.dates(d("2025-01-01"), d("2026-12-31"))),
            ["2025-11-27", "2026-11-26"]
        );
        let r = rec(json!({
            "pattern": {"type": "daily", "interval": 3},
            "range": {"type": "noEnd", "startDate": "2025-01-01"},
        }));
        assert_eq!(
            show(&r.dates(d("2025-01-05"), d("2025-01-12"))),
            ["2025-01-07", "2025-01-10"]
        );
        assert_eq!(r.dates(d("2125-01-01"), d("2125-01-03")).len(), 1);
    }

    #[test]
    fn bad_rules_are_refused() {
        for bad in [
            json!({"pattern": {"type": "weekly"}, "range": {"type": "noEnd"}}),
            json!({"pattern": {"type": "hourly"}, "range": {"type": "noEnd"}}),
            json!({"pattern": {"type": "daily", "interval": 0}, "range": {"type": "noEnd"}}),
            json!({"pattern": {"type": "daily"}, "range": {"type": "numbered"}}),
            json!({"pattern": {"type": "daily"}, "range": {"type": "endDate"}}),
            json!({"pattern": {"type": "daily"}, "range": {"type": "noEnd", "recurrenceTimeZone": "Mars"}}),
            json!({"pattern": {"type": "daily", "every": 2}, "range": {"type": "noEnd"}}),
        ] {
            assert!(
                Recurrence::parse(&bad, "2025-01-01".parse().expect("date")).is_err(),
                "{bad}"
            );
        }
    }
}
