//! When the syncs run by themselves: an incremental run every `poll_interval_secs`, and a full
//! run daily at `daily_full_sync_at` in `time_zone` (the safety net). One timer per sync kind,
//! re-planned each round; only the leader instance runs them.

use async_trait::async_trait;
use jiff::{Timestamp, ToSpan, Zoned, civil, tz::TimeZone};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::calendar::{CalendarSync, CalendarSyncError};
use switchboard_core::contacts::{ContactSync, ContactSyncError};
use switchboard_core::ports::Leadership;
use switchboard_core::users::{RunRequest, SyncError, SyncRunRecord, UserSync, parse_hh_mm};

/// What a schedule needs of a sync's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cadence {
    pub poll_interval_secs: u32,
    pub daily_full_sync_at: String,
    pub time_zone: String,
}

/// A sync the scheduler can drive (users, contacts, calendar).
#[async_trait]
pub trait ScheduledSync: Send + Sync {
    fn kind(&self) -> &'static str;
    /// `None` while the sync is turned off.
    async fn cadence(&self) -> Result<Option<Cadence>, String>;
    fn set_next_run(&self, at: Option<Timestamp>);
    /// `Ok(None)` when another run was in progress.
    async fn run(&self, full: bool) -> Result<Option<SyncRunRecord>, String>;
}

fn request(kind: &str, full: bool) -> RunRequest {
    RunRequest {
        full,
        dry_run: false,
        actor: format!("sync:{kind}"),
    }
}

/// The three syncs expose the same settings fields and run outcome; only their types differ.
macro_rules! scheduled_sync {
    ($sync:ty, $kind:literal, $busy:pat) => {
        #[async_trait]
        impl ScheduledSync for $sync {
            fn kind(&self) -> &'static str {
                $kind
            }
            async fn cadence(&self) -> Result<Option<Cadence>, String> {
                let c = self.config().await.map_err(|e| e.to_string())?;
                Ok(c.enabled.then_some(Cadence {
                    poll_interval_secs: c.poll_interval_secs,
                    daily_full_sync_at: c.daily_full_sync_at,
                    time_zone: c.time_zone,
                }))
            }
            fn set_next_run(&self, at: Option<Timestamp>) {
                <$sync>::set_next_run(self, at)
            }
            async fn run(&self, full: bool) -> Result<Option<SyncRunRecord>, String> {
                match <$sync>::run(self, request($kind, full)).await {
                    Ok(o) => Ok(Some(o.run)),
                    Err($busy) => Ok(None),
                    Err(e) => Err(e.to_string()),
                }
            }
        }
    };
}

scheduled_sync!(UserSync, "users", SyncError::AlreadyRunning);
scheduled_sync!(ContactSync, "contacts", ContactSyncError::AlreadyRunning);
scheduled_sync!(CalendarSync, "calendar", CalendarSyncError::AlreadyRunning);

/// The next daily full-sync instant strictly after `now`.
pub fn next_daily(now: Timestamp, cadence: &Cadence) -> Timestamp {
    let tz = TimeZone::get(cadence.time_zone.trim()).unwrap_or_else(|e| {
        tracing::warn!(time_zone = %cadence.time_zone, error = %e, "unknown time zone, using UTC");
        TimeZone::UTC
    });
    let (h, m) = parse_hh_mm(&cadence.daily_full_sync_at).unwrap_or((2, 0));
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
pub async fn run_schedule(
    sync: Arc<dyn ScheduledSync>,
    clock: Arc<dyn switchboard_core::Clock>,
    leadership: Arc<dyn Leadership>,
) {
    let kind = sync.kind();
    let mut next_delta = clock.now();
    let mut next_full: Option<Timestamp> = None;
    loop {
        let cadence = match sync.cadence().await {
            Ok(Some(c)) => c,
            Ok(None) => {
                sync.set_next_run(None);
                tokio::time::sleep(Duration::from_secs(15)).await;
                continue;
            }
            Err(e) => {
                tracing::error!(kind, error = %e, "cannot read the sync settings");
                tokio::time::sleep(Duration::from_secs(30)).await;
                continue;
            }
        };
        let now = clock.now();
        let full_at = *next_full.get_or_insert_with(|| next_daily(now, &cadence));
        let due = next_delta.min(full_at);
        sync.set_next_run(Some(due));
        tokio::time::sleep(until(now, due)).await;

        let poll = i64::from(cadence.poll_interval_secs).seconds();
        match leadership.try_lead().await {
            Ok(true) => {}
            Ok(false) => {
                sync.set_next_run(None);
                next_delta = clock.now() + poll;
                continue;
            }
            Err(e) => {
                tracing::warn!(kind, error = %e, "cannot tell whether this instance leads the syncs");
                next_delta = clock.now() + poll;
                continue;
            }
        }
        let full = clock.now() >= full_at;
        match sync.run(full).await {
            Ok(Some(run)) => {
                let c = &run.counts;
                if c.created + c.updated + c.disabled + c.enabled + c.removed > 0 || full {
                    tracing::info!(kind, mode = ?run.mode, created = c.created, updated = c.updated,
                        disabled = c.disabled, enabled = c.enabled, removed = c.removed, skipped = c.skipped,
                        "sync finished");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(kind, error = %e, "sync failed; it will be retried"),
        }
        let after = clock.now();
        next_delta = after + poll;
        if full {
            next_full = Some(next_daily(after, &cadence));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(at: &str, tz: &str) -> Cadence {
        Cadence {
            poll_interval_secs: 60,
            daily_full_sync_at: at.into(),
            time_zone: tz.into(),
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
