//! When user sync runs by itself: a delta run every `poll_interval_secs`, and a full run daily
//! at `daily_full_sync_at` in `time_zone` (the safety net). One timer, re-planned each round.

use jiff::{Timestamp, ToSpan, Zoned, civil, tz::TimeZone};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::ports::Leadership;
use switchboard_core::users::{RunRequest, SyncError, UserSync, UserSyncConfig, parse_hh_mm};

/// The next daily full-sync instant strictly after `now`.
pub fn next_daily(now: Timestamp, config: &UserSyncConfig) -> Timestamp {
    let tz = TimeZone::get(config.time_zone.trim()).unwrap_or_else(|e| {
        tracing::warn!(time_zone = %config.time_zone, error = %e, "unknown time zone, using UTC");
        TimeZone::UTC
    });
    let (h, m) = parse_hh_mm(&config.daily_full_sync_at).unwrap_or((2, 0));
    let local: Zoned = now.to_zoned(tz.clone());
    let mut day = local.date();
    for _ in 0..3 {
        // `to_zoned` resolves a time skipped by a DST change to the instant after the gap.
        if let Ok(candidate) = day
            .to_datetime(civil::time(h, m, 0, 0))
            .to_zoned(tz.clone())
            && candidate.timestamp() > now
        {
            return candidate.timestamp();
        }
        day = day.tomorrow().unwrap_or(day);
    }
    now + 24.hours()
}

fn until(now: Timestamp, at: Timestamp) -> Duration {
    Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
}

/// Runs until the task is aborted. Only the leader instance runs syncs; the others keep asking.
pub async fn run_user_sync_schedule(
    sync: Arc<UserSync>,
    clock: Arc<dyn switchboard_core::Clock>,
    leadership: Arc<dyn Leadership>,
) {
    let mut next_delta = clock.now();
    let mut next_full: Option<Timestamp> = None;
    loop {
        let config = match sync.config().await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the user sync settings");
                tokio::time::sleep(Duration::from_secs(30)).await;
                continue;
            }
        };
        let now = clock.now();
        if !config.enabled {
            sync.set_next_run(None);
            tokio::time::sleep(Duration::from_secs(15)).await;
            continue;
        }
        let full_at = *next_full.get_or_insert_with(|| next_daily(now, &config));
        let due = next_delta.min(full_at);
        sync.set_next_run(Some(due));
        tokio::time::sleep(until(now, due)).await;

        match leadership.try_lead().await {
            Ok(true) => {}
            Ok(false) => {
                sync.set_next_run(None);
                next_delta = clock.now() + i64::from(config.poll_interval_secs).seconds();
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell whether this instance leads the syncs");
                next_delta = clock.now() + i64::from(config.poll_interval_secs).seconds();
                continue;
            }
        }
        let full = clock.now() >= full_at;
        let request = RunRequest {
            full,
            dry_run: false,
            actor: "sync:users".into(),
        };
        match sync.run(request).await {
            Ok(outcome) => {
                let c = &outcome.run.counts;
                if c.created + c.updated + c.disabled + c.enabled + c.removed > 0 || full {
                    tracing::info!(mode = ?outcome.run.mode, created = c.created, updated = c.updated,
                        disabled = c.disabled, enabled = c.enabled, removed = c.removed, skipped = c.skipped,
                        "user sync finished");
                }
            }
            Err(SyncError::AlreadyRunning) => {}
            Err(e) => tracing::warn!(error = %e, "user sync failed; it will be retried"),
        }
        let after = clock.now();
        next_delta = after + i64::from(config.poll_interval_secs).seconds();
        if full {
            next_full = Some(next_daily(after, &config));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(at: &str, tz: &str) -> UserSyncConfig {
        UserSyncConfig {
            daily_full_sync_at: at.into(),
            time_zone: tz.into(),
            ..Default::default()
        }
    }

    #[test]
    fn next_daily_is_today_or_tomorrow() {
        let now: Timestamp = "2026-11-28T01:00:00Z".parse().unwrap();
        assert_eq!(
            next_daily(now, &cfg("02:00", "UTC")).to_string(),
            "2026-11-28T02:00:00Z"
        );
        let now: Timestamp = "2026-11-28T02:00:00Z".parse().unwrap();
        assert_eq!(
            next_daily(now, &cfg("02:00", "UTC")).to_string(),
            "2026-11-29T02:00:00Z"
        );
    }

    #[test]
    fn follows_the_time_zone_across_dst() {
        // Berlin: 02:00 local is 01:00Z in winter and 00:00Z in summer.
        let now: Timestamp = "2026-03-28T12:00:00Z".parse().unwrap();
        assert_eq!(
            next_daily(now, &cfg("02:00", "Europe/Berlin")).to_string(),
            "2026-03-29T01:00:00Z",
            "02:00 does not exist on the spring-forward night: the instant after the gap"
        );
        let now: Timestamp = "2026-07-01T12:00:00Z".parse().unwrap();
        assert_eq!(
            next_daily(now, &cfg("02:00", "Europe/Berlin")).to_string(),
            "2026-07-02T00:00:00Z"
        );
    }
}
