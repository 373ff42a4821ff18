#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! The calendar sync run against in-memory ports: waves and paging, conversion (all-day entries
//! in the mailbox's zone or the configured one, cancelled ones dropped), skipped and failing mailboxes, the scope,
//! and the settings.

mod calendar_fakes;

use calendar_fakes::*;
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeSet;
use std::sync::Arc;
use switchboard_core::calendar::*;
use switchboard_core::ports::{DirectoryError, MailboxError, SourceEvent};
use switchboard_core::presence::*;
use switchboard_core::users::{FreshnessMode, RunMode, RunRequest, Scope};

use Status::{Available, Away, DoNotDisturb, Lunch};

struct World {
    store: Arc<FakePresence>,
    extensions: Arc<FakeExtensions>,
    calendars: Arc<FakeCalendars>,
    directory: Arc<FakeDirectory>,
    clock: Arc<TestClock>,
    sync: CalendarSync,
}

impl World {
    async fn new(numbers: &[&str], time: &str) -> Self {
        let store = Arc::new(FakePresence::default());
        let extensions = FakeExtensions::with(numbers);
        let calendars = FakeCalendars::new(2);
        let directory = Arc::new(FakeDirectory::default());
        let clock = TestClock::at(time);
        let presence = Arc::new(service(&store, &extensions, &clock, None).await);
        let sync = CalendarSync::new(
            calendars.clone(),
            directory.clone(),
            extensions.clone(),
            presence,
            clock.clone(),
            zones,
            FreshnessMode::Polling,
        );
        Self {
            store,
            extensions,
            calendars,
            directory,
            clock,
            sync,
        }
    }

    fn presence(&self) -> &PresenceService {
        self.sync.presence()
    }

    async fn run(&self) -> CalendarRunOutcome {
        self.sync.run(request(false)).await.unwrap()
    }

    async fn status(&self, number: &str) -> (Status, StatusSource) {
        let view = self.presence().presence(number).await.unwrap();
        (view.status, view.source)
    }

    async fn configure(&self, edit: impl FnOnce(&mut CalendarSyncConfig)) {
        let mut config = self.sync.config().await.unwrap();
        edit(&mut config);
        self.sync.save_config(&config).await.unwrap();
    }
}

fn request(full: bool) -> RunRequest {
    RunRequest {
        full,
        dry_run: false,
        actor: "sync:calendar".into(),
    }
}

#[tokio::test]
async fn a_run_reads_the_window_in_waves_and_applies_it() {
    let numbers: Vec<String> = (100..350).map(|n| n.to_string()).collect();
    let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
    let w = World::new(&refs, "08:00").await;
    // Five events: three pages of two.
    w.calendars.set(
        "100",
        vec![
            event("a", "09:00:00", "10:00:00", ShowAs::Busy),
            event("b", "11:00:00", "12:00:00", ShowAs::Free),
            event("c", "13:00:00", "14:00:00", ShowAs::Oof),
            event("d", "15:00:00", "16:00:00", ShowAs::WorkingElsewhere),
            event("e", "17:00:00", "18:00:00.0000001", ShowAs::Tentative),
        ],
    );
    w.calendars.set(
        "349",
        vec![event("z", "07:30:00", "08:30:00", ShowAs::Busy)],
    );
    let outcome = w.run().await;

    let calls = w.calendars.calls.lock().unwrap().clone();
    assert!(calls.iter().all(|reads| reads.len() <= CALENDAR_WAVE));
    assert_eq!(
        calls
            .iter()
            .filter(|reads| reads.iter().all(|r| r.link.is_none()))
            .count(),
        3,
        "250 mailboxes: three waves"
    );
    assert_eq!(
        calls.len(),
        5,
        "and two more rounds for the nextLinks of 100"
    );
    let first = &calls[0][0];
    assert_eq!(
        (first.start, first.end),
        (t("08:00"), t("08:00") + SignedDuration::from_hours(48))
    );
    assert_eq!(
        calls[1][0].link.as_deref(),
        Some(
            "https://graph.example/v1.0/users/00000000-0000-4000-8000-000000000100/calendarView?$skip=2"
        )
    );

    let stored = w.store.stored_entries("100");
    assert_eq!(
        stored.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        stored[4].end,
        "2025-06-02T18:00:00.0000001Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!(
        w.status("349").await,
        (Away, StatusSource::Calendar),
        "an entry already running applies at once"
    );
    assert_eq!(w.presence().next_due(), Some(t("08:30")));

    let run = outcome.run;
    assert_eq!((run.kind.as_str(), run.mode), ("calendar", RunMode::Full));
    assert_eq!(
        (run.processed, run.counts.updated, run.counts.skipped),
        (250, 2, 0)
    );
    assert!(run.finished_at.is_some() && run.error.is_none());
    assert_eq!(w.extensions.last_run(), run);
    assert!(!w.sync.is_running());

    // Nothing changed in Outlook: nothing is written.
    let writes = w.store.write_count();
    w.clock.set("08:05");
    let again = w.run().await;
    assert_eq!(again.run.counts.updated, 0);
    assert_eq!(w.store.write_count(), writes);
}

#[tokio::test]
async fn status_follows_the_synced_calendar() {
    let w = World::new(&["100"], "08:00").await;
    w.calendars.set(
        "100",
        vec![event("a", "09:00:00", "10:00:00", ShowAs::Busy)],
    );
    w.run().await;
    w.clock.set("09:00");
    w.presence().fire_due(t("09:00")).await;
    assert_eq!(w.status("100").await, (Away, StatusSource::Calendar));

    // Moved while active (a notification brings it): re-planned at once.
    w.clock.set("09:10");
    w.calendars.set(
        "100",
        vec![event("a", "11:00:00", "12:00:00", ShowAs::Busy)],
    );
    let outcome = w.sync.run_for_mailboxes(&[user_id("100")]).await.unwrap();
    assert_eq!(
        (outcome.run.mode, outcome.run.counts.updated),
        (RunMode::Delta, 1)
    );
    assert_eq!(w.status("100").await, (Available, StatusSource::Default));
    assert_eq!(w.presence().next_due(), Some(t("11:00")));
}

#[tokio::test]
async fn cancelled_events_are_dropped() {
    let w = World::new(&["100"], "08:00").await;
    let mut cancelled = event("a", "08:00:00", "10:00:00", ShowAs::Busy);
    cancelled.is_cancelled = true;
    w.calendars.set(
        "100",
        vec![cancelled, event("b", "11:00:00", "12:00:00", ShowAs::Busy)],
    );
    w.run().await;
    let ids: Vec<String> = w
        .store
        .stored_entries("100")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["b"]);
    assert_eq!(w.status("100").await, (Available, StatusSource::Default));
}

#[tokio::test]
async fn all_day_entries_cover_the_day_in_the_configured_zone() {
    let w = World::new(&["100"], "08:00").await;
    w.configure(|c| c.time_zone = "Europe/Berlin".into()).await;
    let all_day = |id: &str, from: &str, to: &str| SourceEvent {
        id: id.into(),
        start: civil(&format!("{from}T00:00:00")),
        end: civil(&format!("{to}T00:00:00")),
        show_as: ShowAs::Oof,
        is_all_day: true,
        is_cancelled: false,
    };
    w.calendars
        .set("100", vec![all_day("holiday", "2025-06-03", "2025-06-04")]);
    w.run().await;
    let stored = w.store.stored_entries("100");
    // Midnight to midnight in Berlin (CEST, UTC+2).
    assert_eq!(
        (stored[0].start, stored[0].end),
        (t("22:00"), "2025-06-03T22:00:00Z".parse().unwrap())
    );
    assert!(stored[0].is_all_day);
    assert_eq!(w.presence().next_due(), Some(t("22:00")));
    w.clock.set("22:00");
    let changes = w.presence().fire_due(t("22:00")).await;
    assert_eq!(changes[0].status, DoNotDisturb);

    // Across the spring change the day is 23 hours long.
    let dst = World::new(&["100"], "08:00").await;
    dst.configure(|c| c.time_zone = "Europe/Berlin".into())
        .await;
    dst.calendars
        .set("100", vec![all_day("spring", "2025-03-30", "2025-03-31")]);
    dst.run().await;
    let entries = dst.store.stored_entries("100");
    assert_eq!(
        entries[0].start,
        "2025-03-29T23:00:00Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!(
        entries[0].end,
        "2025-03-30T22:00:00Z".parse::<Timestamp>().unwrap()
    );

    // An all-day entry that is not midnight to midnight cannot be placed: left out, run goes on.
    let mut odd = all_day("odd", "2025-06-03", "2025-06-04");
    odd.start = civil("2025-06-02T22:00:00");
    w.calendars.set(
        "100",
        vec![odd, event("b", "11:00:00", "12:00:00", ShowAs::Busy)],
    );
    let outcome = w.run().await;
    assert!(outcome.failed.is_empty());
    let ids: Vec<String> = w
        .store
        .stored_entries("100")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["b"]);
}

#[tokio::test]
async fn all_day_entries_cover_the_day_in_the_mailbox_zone() {
    let w = World::new(&["100", "101", "102", "103"], "08:00").await;
    // Winter: Berlin is UTC+1. The configured zone stays UTC.
    w.clock
        .set_instant("2025-01-14T08:00:00Z".parse::<Timestamp>().unwrap());
    let all_day = |id: &str| SourceEvent {
        id: id.into(),
        start: civil("2025-01-15T00:00:00"),
        end: civil("2025-01-16T00:00:00"),
        show_as: ShowAs::Oof,
        is_all_day: true,
        is_cancelled: false,
    };
    let at = |s: &str| s.parse::<Timestamp>().unwrap();
    for number in ["100", "101", "102"] {
        w.calendars.set(number, vec![all_day("holiday")]);
    }
    // Timed events only: its zone is never asked for.
    w.calendars.set(
        "103",
        vec![event("b", "11:00:00", "12:00:00", ShowAs::Busy)],
    );
    w.calendars
        .set_zone("100", Ok(Some("W. Europe Standard Time".into())));
    w.calendars
        .set_zone("101", Ok(Some("Nowhere Standard Time".into())));
    w.calendars.set_zone(
        "102",
        Err(MailboxError::Graph(DirectoryError::Protocol("x".into()))),
    );
    let outcome = w.run().await;
    assert!(outcome.failed.is_empty());
    let stored = w.store.stored_entries("100");
    assert_eq!(
        (stored[0].start, stored[0].end),
        (at("2025-01-14T23:00:00Z"), at("2025-01-15T23:00:00Z"))
    );
    // Unknown or unreadable: the configured zone (UTC).
    for number in ["101", "102"] {
        let stored = w.store.stored_entries(number);
        assert_eq!(
            (stored[0].start, stored[0].end),
            (at("2025-01-15T00:00:00Z"), at("2025-01-16T00:00:00Z"))
        );
    }
    // One call for the wave, only for mailboxes with all-day events.
    let calls = w.calendars.zone_calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [vec![user_id("100"), user_id("101"), user_id("102")]]
    );
    // An IANA name is used as is.
    w.calendars
        .set_zone("101", Ok(Some("Europe/Berlin".into())));
    w.run().await;
    assert_eq!(
        w.store.stored_entries("101")[0].start,
        at("2025-01-14T23:00:00Z")
    );
}

#[tokio::test]
async fn users_without_a_mailbox_are_skipped_with_the_reason() {
    let w = World::new(&["100", "101", "102"], "08:00").await;
    w.calendars.fail("101", MailboxError::NoMailbox);
    w.calendars.set(
        "102",
        vec![event("a", "08:00:00", "09:00:00", ShowAs::Busy)],
    );
    let outcome = w.run().await;
    let expected = SkippedMailbox {
        number: "101".into(),
        mailbox: user_id("101"),
        reason: "no mailbox (plan without Exchange)".into(),
    };
    assert_eq!(w.sync.skipped(), std::slice::from_ref(&expected));
    assert_eq!(outcome.skipped, [expected]);
    assert_eq!((outcome.run.counts.skipped, outcome.run.processed), (1, 2));
    assert!(outcome.run.error.is_none());
    assert_eq!(w.status("102").await.0, Away, "the others are synced");
    assert_eq!(w.sync.status().await.unwrap().skipped, 1);

    // The licence comes back: no longer skipped.
    w.calendars.set("101", Vec::new());
    w.run().await;
    assert!(w.sync.skipped().is_empty());
}

#[tokio::test]
async fn a_mailbox_that_loses_exchange_loses_its_entries() {
    let w = World::new(&["100"], "08:00").await;
    w.calendars.set(
        "100",
        vec![event("a", "08:00:00", "09:00:00", ShowAs::Busy)],
    );
    w.run().await;
    assert_eq!(w.status("100").await.0, Away);
    w.calendars.fail("100", MailboxError::NoMailbox);
    w.clock.set("08:10");
    w.run().await;
    assert!(w.store.stored_entries("100").is_empty());
    assert_eq!(w.status("100").await.0, Available);
}

#[tokio::test]
async fn a_failing_mailbox_keeps_its_entries_and_the_run_goes_on() {
    let w = World::new(&["100", "101"], "08:00").await;
    w.calendars.set(
        "100",
        vec![event("a", "09:00:00", "10:00:00", ShowAs::Busy)],
    );
    w.run().await;
    w.calendars.fail(
        "100",
        MailboxError::Graph(DirectoryError::Unavailable("503 after 4 retries".into())),
    );
    w.calendars.set(
        "101",
        vec![event("b", "09:00:00", "10:00:00", ShowAs::Busy)],
    );
    let outcome = w.run().await;
    assert_eq!(outcome.failed.len(), 1);
    assert_eq!(outcome.failed[0].number, "100");
    assert_eq!(outcome.run.counts.updated, 1);
    assert!(
        outcome
            .run
            .error
            .as_deref()
            .unwrap()
            .contains("1 mailbox(es) could not be read")
    );
    assert_eq!(
        w.store.stored_entries("100").len(),
        1,
        "a failed read is no empty calendar"
    );
    assert_eq!(w.store.stored_entries("101").len(), 1);
}

#[tokio::test]
async fn leaving_the_scope_restores_the_remembered_status() {
    let w = World::new(&["100", "101"], "08:00").await;
    w.presence().user_sets("100", Lunch).await.unwrap();
    w.calendars.set(
        "100",
        vec![event("a", "08:00:00", "10:00:00", ShowAs::Busy)],
    );
    w.calendars.set(
        "101",
        vec![event("b", "08:00:00", "10:00:00", ShowAs::Busy)],
    );
    w.run().await;
    assert_eq!(w.status("100").await, (Away, StatusSource::Calendar));

    w.clock.set("08:30");
    w.configure(|c| c.scope = Scope::AllExcept(BTreeSet::from([user_id("100")])))
        .await;
    let outcome = w.run().await;
    assert_eq!(outcome.run.counts.removed, 1);
    assert_eq!(w.status("100").await, (Lunch, StatusSource::Manual));
    assert!(w.store.stored_entries("100").is_empty());
    assert_eq!(w.status("101").await.0, Away, "still in scope");
    assert!(
        !w.calendars
            .calls
            .lock()
            .unwrap()
            .last()
            .unwrap()
            .iter()
            .any(|r| r.mailbox == user_id("100"))
    );

    // A disabled extension leaves too.
    w.extensions.records.lock().unwrap()[1].enabled = false;
    w.run().await;
    assert_eq!(w.status("101").await, (Available, StatusSource::Default));
}

#[tokio::test]
async fn a_group_scope_reads_only_members() {
    let w = World::new(&["100", "101", "102"], "08:00").await;
    let group = "11111111-2222-4333-8444-555555555555".to_owned();
    w.directory
        .groups
        .lock()
        .unwrap()
        .insert(group.clone(), vec![user_id("101")]);
    w.configure(|c| c.scope = Scope::Groups(BTreeSet::from([group])))
        .await;
    w.run().await;
    assert_eq!(w.calendars.mailboxes_read(), [user_id("101")]);
}

#[tokio::test]
async fn local_extensions_have_no_calendar() {
    let w = World::new(&["100"], "08:00").await;
    w.extensions.add("20", None, true);
    w.run().await;
    assert_eq!(w.calendars.mailboxes_read(), [user_id("100")]);
}

#[tokio::test]
async fn a_notification_reads_only_its_mailboxes() {
    let w = World::new(&["100", "101"], "08:00").await;
    w.calendars.set(
        "101",
        vec![event("b", "08:00:00", "09:00:00", ShowAs::Busy)],
    );
    let outcome = w.sync.run_for_mailboxes(&[user_id("101")]).await.unwrap();
    assert_eq!(w.calendars.mailboxes_read(), [user_id("101")]);
    assert_eq!(outcome.run.processed, 1);
    assert_eq!(w.status("101").await.0, Away);
}

#[tokio::test]
async fn the_settings_are_checked_with_actionable_messages() {
    let w = World::new(&["100"], "08:00").await;
    let config = w.sync.config().await.unwrap();
    assert_eq!(config, CalendarSyncConfig::default());
    assert_eq!(
        (
            config.window_hours,
            config.poll_interval_secs,
            config.time_zone.as_str()
        ),
        (48, 300, "UTC")
    );
    assert_eq!(config.mapping, ShowAsMapping::default());

    let bad = |edit: fn(&mut CalendarSyncConfig)| {
        let mut c = CalendarSyncConfig::default();
        edit(&mut c);
        c.validate().unwrap_err()
    };
    assert!(bad(|c| c.window_hours = 0).contains("window_hours must be between 1 and 336"));
    assert!(bad(|c| c.window_hours = 337).contains("window_hours"));
    assert!(bad(|c| c.poll_interval_secs = 1).contains("poll_interval_secs"));
    assert!(bad(|c| c.daily_full_sync_at = "3am".into()).contains("like 03:00"));
    assert!(bad(|c| c.time_zone = " ".into()).contains("IANA"));
    assert!(bad(|c| c.scope = Scope::Only(BTreeSet::new())).contains("at least one"));
    assert!(
        bad(|c| c.scope = Scope::Only(BTreeSet::from(["bob".into()])))
            .contains("not an Entra object id")
    );

    let unknown = CalendarSyncConfig {
        time_zone: "Europe/Berln".into(),
        ..CalendarSyncConfig::default()
    };
    let error = w.sync.save_config(&unknown).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("unknown time zone \"Europe/Berln\""),
        "{error}"
    );

    // Stored as a settings document; a partial document keeps the defaults.
    w.extensions.settings.lock().unwrap().insert(
        CALENDAR_SYNC_SETTINGS_KEY.into(),
        serde_json::json!({"window_hours": 24, "mapping": {"tentative": "away"}}),
    );
    let config = w.sync.config().await.unwrap();
    assert_eq!(config.window_hours, 24);
    assert_eq!(config.mapping.get(ShowAs::Tentative), Some(Away));
    assert_eq!(config.mapping.get(ShowAs::Busy), Some(Away));
}

#[tokio::test]
async fn a_new_mapping_takes_effect_when_saved() {
    let w = World::new(&["100"], "08:00").await;
    w.calendars.set(
        "100",
        vec![event("a", "08:00:00", "09:00:00", ShowAs::Tentative)],
    );
    w.run().await;
    assert_eq!(
        w.status("100").await.0,
        Available,
        "tentative changes nothing by default"
    );
    w.configure(|c| c.mapping.set(ShowAs::Tentative, Some(Away)).unwrap())
        .await;
    assert_eq!(w.status("100").await.0, Away);
}

#[tokio::test]
async fn disabling_the_sync_forgets_every_calendar() {
    let w = World::new(&["100"], "08:00").await;
    w.calendars.set(
        "100",
        vec![event("a", "08:00:00", "10:00:00", ShowAs::Busy)],
    );
    w.run().await;
    w.configure(|c| c.enabled = false).await;
    assert_eq!(w.status("100").await.0, Available);
    assert_eq!(w.presence().next_due(), None);
    assert!(matches!(
        w.sync.run(request(true)).await,
        Err(CalendarSyncError::Disabled)
    ));
    assert!(!w.sync.status().await.unwrap().enabled);
}

#[tokio::test]
async fn a_full_run_records_the_daily_sync() {
    let w = World::new(&["100"], "08:00").await;
    w.run().await;
    assert_eq!(w.sync.status().await.unwrap().last_full_sync, None);
    w.sync.run(request(true)).await.unwrap();
    let status = w.sync.status().await.unwrap();
    assert_eq!(status.last_full_sync, Some(t("08:00")));
    assert_eq!(status.last_run.unwrap().kind, "calendar");
    w.sync.set_next_run(Some(t("08:05")));
    assert_eq!(w.sync.status().await.unwrap().next_run, Some(t("08:05")));
}

#[tokio::test]
async fn a_dry_run_changes_nothing() {
    let w = World::new(&["100"], "08:00").await;
    w.calendars.set(
        "100",
        vec![event("a", "08:00:00", "09:00:00", ShowAs::Busy)],
    );
    let outcome = w
        .sync
        .run(RunRequest {
            full: false,
            dry_run: true,
            actor: "admin:alice".into(),
        })
        .await
        .unwrap();
    assert_eq!(outcome.run.counts.updated, 1);
    assert_eq!(w.store.write_count(), 0);
    assert!(w.extensions.runs.lock().unwrap().is_empty());
}

/// The binary spawns these on a multi-threaded runtime.
#[allow(dead_code)]
fn futures_are_send(w: &World) {
    fn send<T: Send>(_: T) {}
    send(w.sync.run(request(false)));
    send(w.sync.run_for_mailboxes(&[]));
    send(w.sync.save_config(&CalendarSyncConfig::default()));
    send(w.presence().fire_due(t("08:00")));
    send(w.presence().user_sets("100", Away));
    send(w.presence().apply_entries("100", Vec::new()));
    send(w.presence().list());
    send(w.presence().replanned());
}
