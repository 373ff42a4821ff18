//! The retry budget and `Retry-After` parsing shared by token and Graph requests.

use crate::config::RetryPolicy;
use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};
use jiff::Timestamp;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::Duration;

/// Statuses worth another try: throttling (429) and overload (503, 504) per §6.1/§6.2.
pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 503 | 504)
}

/// `Retry-After` as delta-seconds (possibly fractional, e.g. `2.128` or `0.249` per §6.2, rounded
/// up to the millisecond) or as an HTTP-date (relative to `now`). Unparseable values are ignored
/// and the caller falls back to exponential backoff.
pub(crate) fn parse_retry_after(headers: &HeaderMap, now: Timestamp) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    parse_delta_seconds(value).or_else(|| parse_http_date(value, now))
}

fn parse_delta_seconds(value: &str) -> Option<Duration> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Decimal arithmetic on the digits, not f64: 0.249 must be 249 ms, not 250.
    let secs: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut millis: u64 = 0;
    for (i, digit) in fraction.bytes().enumerate() {
        let d = u64::from(digit - b'0');
        if i < 3 {
            millis += d * 10u64.pow(2 - i as u32);
        } else if d != 0 {
            // Any non-zero digit past the millisecond rounds up.
            millis += 1;
            break;
        }
    }
    Some(Duration::from_secs(secs).saturating_add(Duration::from_millis(millis)))
}

fn parse_http_date(value: &str, now: Timestamp) -> Option<Duration> {
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    let delta = at.duration_since(now);
    Some(Duration::try_from(delta).unwrap_or(Duration::ZERO))
}

/// Why a retry budget said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exhausted {
    Attempts,
    TotalWait,
    ConnectRetries,
}

/// Counts attempts and time spent waiting for one logical request.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    policy: RetryPolicy,
    backoff: ExponentialBackoff,
    pub(crate) attempts: u32,
    connect_retries: u32,
    pub(crate) waited: Duration,
}

impl RetryBudget {
    pub(crate) fn new(policy: &RetryPolicy) -> Self {
        let backoff = ExponentialBuilder::new()
            .with_min_delay(policy.initial_backoff)
            .with_max_delay(policy.max_backoff.max(policy.initial_backoff))
            .with_factor(2.0)
            .with_jitter()
            // The budget below bounds the attempts; the iterator only supplies delays.
            .without_max_times()
            .build();
        Self {
            policy: policy.clone(),
            backoff,
            attempts: 0,
            connect_retries: 0,
            waited: Duration::ZERO,
        }
    }

    /// Call before each attempt.
    pub(crate) fn start_attempt(&mut self) {
        self.attempts += 1;
    }

    /// The wait before the next attempt after a retryable answer, or why there is none.
    /// `retry_after` is the server's wish; otherwise jittered exponential backoff.
    pub(crate) fn next_delay(
        &mut self,
        retry_after: Option<Duration>,
    ) -> Result<Duration, Exhausted> {
        if self.attempts >= self.policy.max_attempts {
            return Err(Exhausted::Attempts);
        }
        let delay = retry_after
            .or_else(|| self.backoff.next())
            .unwrap_or(self.policy.max_backoff)
            .min(self.policy.max_wait);
        if self.waited.saturating_add(delay) > self.policy.max_total_wait {
            return Err(Exhausted::TotalWait);
        }
        self.waited = self.waited.saturating_add(delay);
        Ok(delay)
    }

    /// Like [`Self::next_delay`] after a connection failure, which has its own smaller allowance.
    pub(crate) fn next_connect_delay(&mut self) -> Result<Duration, Exhausted> {
        if self.connect_retries >= self.policy.max_connect_retries {
            return Err(Exhausted::ConnectRetries);
        }
        let delay = self.next_delay(None)?;
        self.connect_retries += 1;
        Ok(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn ra(v: &str) -> Option<Duration> {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(v).ok()?);
        parse_retry_after(&h, Timestamp::from_second(784_111_770).ok()?)
    }

    #[test]
    fn fractional_retry_after_rounds_up_to_the_millisecond() {
        assert_eq!(ra("2.128"), Some(Duration::from_millis(2128)));
        assert_eq!(ra("0.249"), Some(Duration::from_millis(249)));
        assert_eq!(ra("0.124"), Some(Duration::from_millis(124)));
        assert_eq!(ra("0.2491"), Some(Duration::from_millis(250)));
        assert_eq!(ra("0.0001"), Some(Duration::from_millis(1)));
        assert_eq!(ra("10"), Some(Duration::from_secs(10)));
        assert_eq!(ra(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(ra(".5"), Some(Duration::from_millis(500)));
        assert_eq!(ra("1.5"), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn http_date_is_relative_to_now() {
        // now = 1994-11-06T08:49:30Z
        assert_eq!(
            ra("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::from_secs(7))
        );
        assert_eq!(ra("Sun, 06 Nov 1994 08:49:00 GMT"), Some(Duration::ZERO));
    }

    #[test]
    fn garbage_is_ignored() {
        assert_eq!(ra("-1"), None);
        assert_eq!(ra("soon"), None);
        assert_eq!(ra("."), None);
        assert_eq!(ra("1e3"), None);
    }

    #[test]
    fn budget_bounds_attempts_waits_and_connect_retries() {
        let policy = RetryPolicy {
            max_attempts: 3,
            max_wait: Duration::from_secs(5),
            max_total_wait: Duration::from_secs(8),
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
            max_connect_retries: 1,
        };
        let mut b = RetryBudget::new(&policy);
        b.start_attempt();
        // A huge Retry-After is capped at max_wait.
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(99))),
            Ok(Duration::from_secs(5))
        );
        b.start_attempt();
        // 5 + 5 > 8: the total budget says no.
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(5))),
            Err(Exhausted::TotalWait)
        );
        let d = b.next_delay(None).unwrap_or_default();
        assert!(
            d >= Duration::from_millis(10) && d <= Duration::from_millis(20),
            "{d:?}"
        );
        b.start_attempt();
        assert_eq!(b.next_delay(None), Err(Exhausted::Attempts));

        let mut c = RetryBudget::new(&policy);
        c.start_attempt();
        assert!(c.next_connect_delay().is_ok());
        c.start_attempt();
        assert_eq!(c.next_connect_delay(), Err(Exhausted::ConnectRetries));
    }
}
