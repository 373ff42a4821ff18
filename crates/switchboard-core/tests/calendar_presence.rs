#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! The presence service over in-memory stores: transitions at their instants, user changes,
//! edits while active, restarts, the plan for one timer, and what subscribers hear.

mod calendar_fakes;

use calendar_fakes::*;
use std::sync::Arc;
use switchboard_core::calendar::*;
use switchboard_core::presence::*;

use Status::{Available, Away, BusinessTrip, DoNotDisturb, Lunch};
use StatusSource::{Calendar, Default as ByDefault, Manual};

struct World {
    store: Arc<FakePresence>,
    extensions: Arc<FakeExtensions>,
    clock: Arc<TestClock>,
    sink: Arc<RecordingSink>,
    svc: PresenceService,
}

impl World {
    async fn at(time: &str) -> Self {
        let store = Arc::new(FakePresence::default());
        let extensions = FakeExtensions::with(&["100", "101", "102"]);
        let clock = TestClock::at(time);
        let sink = Arc::new(RecordingSink::default());
        let svc = service(&store, &extensions, &clock, Some(sink.clone())).await;
        Self {
            store,
            extensions,
            clock,
            sink,
            svc,
        }
    }

    /// A new service over the same store, as after a restart at `time`.
    async fn restart(&mut self, time: &str) {
        self.clock.set(time);
        self.svc = service(
            &self.store,
            &self.extensions,
            &self.clock,
            Some(self.sink.clone()),
        )
        .await;
    }

    /// Moves the clock to `time` and fires what is due, as the timer would.
    async fn tick(&self, time: &str) -> Vec<PresenceChange> {
        self.clock.set(time);
        self.svc.fire_due(t(time)).await
    }

    async fn status(&self, number: &str) -> (Status, StatusSource) {
        let view = self.svc.presence(number).await.unwrap();
        (view.status, view.source)
    }

    fn told(&self) -> Vec<(String, Status)> {
        self.sink.0.lock().unwrap().clone()
    }
}

fn summary(changes: &[PresenceChange]) -> Vec<(&str, Status, StatusSource, String)> {
    changes
        .iter()
        .map(|c| (c.number.as_str(), c.status, c.source, c.at.to_string()))
        .collect()
}

#[tokio::test]
async fn entries_change_the_status_at_their_instants() {
    let w = World::at("08:00").await;
    w.svc
        .apply_entries(
            "100",
            vec![
                busy("a", "09:00", "10:00"),
                entry("b", "09:30", "09:45", ShowAs::Oof),
            ],
        )
        .await
        .unwrap();
    assert_eq!(w.svc.next_due(), Some(t("09:00")));
    assert!(w.tick("08:59:59").await.is_empty());

    let changes = w.tick("09:00").await;
    assert_eq!(
        summary(&changes),
        [("100", Away, Calendar, t("09:00").to_string())]
    );
    assert_eq!(changes[0].until, Some(t("09:30")));
    assert_eq!(w.svc.next_due(), Some(t("09:30")));

    assert_eq!(
        summary(&w.tick("09:30").await),
        [("100", DoNotDisturb, Calendar, t("09:30").to_string())]
    );
    assert_eq!(
        summary(&w.tick("09:45").await),
        [("100", Away, Calendar, t("09:45").to_string())]
    );
    assert!(w.tick("09:59:59").await.is_empty());
    assert_eq!(
        summary(&w.tick("10:00").await),
        [("100", Available, ByDefault, t("10:00").to_string())]
    );
    assert_eq!(w.svc.next_due(), None);
    assert_eq!(
        w.told(),
        [
            ("100".into(), Away),
            ("100".into(), DoNotDisturb),
            ("100".into(), Away),
            ("100".into(), Available)
        ]
    );
}

#[tokio::test]
async fn the_remembered_status_returns_at_the_end() {
    let w = World::at("08:00").await;
    w.svc.user_sets("100", Lunch).await.unwrap();
    w.svc
        .apply_entries("100", vec![busy("a", "09:00", "10:00")])
        .await
        .unwrap();
    w.tick("09:00").await;
    assert_eq!(w.status("100").await, (Away, Calendar));
    let view = w.svc.presence("100").await.unwrap();
    assert_eq!(view.restores, Some(Lunch));
    assert_eq!(view.entry_id.as_deref(), Some("a"));
    w.tick("10:00").await;
    assert_eq!(w.status("100").await, (Lunch, Manual));
}

#[tokio::test]
async fn a_user_override_wins_and_is_not_undone() {
    let w = World::at("08:00").await;
    w.svc
        .apply_entries("100", vec![busy("a", "09:00", "10:00")])
        .await
        .unwrap();
    w.tick("09:00").await;
    w.clock.set("09:15");
    let view = w.svc.user_sets("100", Lunch).await.unwrap();
    assert_eq!(
        (view.status, view.source, view.until),
        (Lunch, Manual, None)
    );
    assert_eq!(
        w.svc.next_due(),
        None,
        "nothing left for the calendar to do"
    );
    assert!(w.tick("10:00").await.is_empty());
    assert_eq!(w.status("100").await, (Lunch, Manual));
    // The next entry applies again.
    w.svc
        .apply_entries(
            "100",
            vec![busy("a", "09:00", "10:00"), busy("c", "11:00", "12:00")],
        )
        .await
        .unwrap();
    assert_eq!(
        summary(&w.tick("11:00").await),
        [("100", Away, Calendar, t("11:00").to_string())]
    );
    assert_eq!(
        summary(&w.tick("12:00").await),
        [("100", Lunch, Manual, t("12:00").to_string())]
    );
}

#[tokio::test]
async fn business_trip_is_never_touched() {
    let w = World::at("08:00").await;
    w.svc.user_sets("100", BusinessTrip).await.unwrap();
    w.svc
        .apply_entries(
            "100",
            vec![
                busy("a", "09:00", "10:00"),
                entry("b", "09:30", "11:00", ShowAs::Oof),
            ],
        )
        .await
        .unwrap();
    assert_eq!(w.svc.next_due(), None);
    for time in ["09:00", "09:30", "10:00", "11:00"] {
        assert!(w.tick(time).await.is_empty(), "at {time}");
        assert_eq!(w.status("100").await, (BusinessTrip, Manual), "at {time}");
    }
    assert_eq!(w.told(), [("100".into(), BusinessTrip)]);
}

#[tokio::test]
async fn a_cancelled_entry_ends_its_block_at_once() {
    let w = World::at("08:00").await;
    let mut rx = w.svc.subscribe();
    w.svc
        .apply_entries("100", vec![busy("a", "09:00", "10:00")])
        .await
        .unwrap();
    w.tick("09:00").await;
    w.clock.set("09:20");
    let mut cancelled = busy("a", "09:00", "10:00");
    cancelled.is_cancelled = true;
    let outcome = w.svc.apply_entries("100", vec![cancelled]).await.unwrap();
    assert!(outcome.entries_changed);
    let change = outcome.change.unwrap();
    assert_eq!(
        (change.status, change.source, change.at),
        (Available, ByDefault, t("09:20"))
    );
    assert!(
        w.store.stored_entries("100").is_empty(),
        "cancelled entries are not kept"
    );
    assert_eq!(w.svc.next_due(), None, "no stale restore left in the plan");
    assert!(w.tick("10:00").await.is_empty());
    assert_eq!(rx.try_recv().unwrap().status, Away);
    assert_eq!(rx.try_recv().unwrap().status, Available);
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn an_entry_moved_while_active_replans() {
    let w = World::at("08:00").await;
    w.svc
        .apply_entries("100", vec![busy("a", "09:00", "10:00")])
        .await
        .unwrap();
    w.tick("09:00").await;
    w.clock.set("09:20");
    // Moved later: the block ends now and the entry starts again at its new time.
    let outcome = w
        .svc
        .apply_entries("100", vec![busy("a", "11:00", "12:00")])
        .await
        .unwrap();
    assert_eq!(outcome.change.unwrap().status, Available);
    assert_eq!(w.svc.next_due(), Some(t("11:00")));
    assert!(w.tick("10:00").await.is_empty());
    assert_eq!(w.tick("11:00").await[0].status, Away);
    // Extended while active: the end moves, nothing fires at the old end.
    w.clock.set("11:30");
    let outcome = w
        .svc
        .apply_entries("100", vec![busy("a", "11:00", "13:00")])
        .await
        .unwrap();
    assert!(outcome.entries_changed);
    assert_eq!(outcome.change, None);
    assert_eq!(w.svc.next_due(), Some(t("13:00")));
    assert!(w.tick("12:00").await.is_empty());
    assert_eq!(w.tick("13:00").await[0].status, Available);
}

#[tokio::test]
async fn transitions_due_before_a_sync_are_not_lost() {
    let w = World::at("08:00").await;
    w.svc
        .apply_entries("100", vec![busy("a", "09:00", "10:00")])
        .await
        .unwrap();
    let mut rx = w.svc.subscribe();
    // The timer has not fired yet when the sync comes at 09:05 with the entry's start moved
    // to 09:02: what was due at 09:00 under the entries known then happened at 09:00.
    w.clock.set("09:05");
    let outcome = w
        .svc
        .apply_entries("100", vec![busy("a", "09:02", "10:00")])
        .await
        .unwrap();
    let change = outcome.change.unwrap();
    assert_eq!((change.status, change.at), (Away, t("09:00")));
    assert_eq!(rx.try_recv().unwrap().status, Away);
    assert_eq!(
        w.store.state("100").unwrap().block.unwrap().started_at,
        t("09:00")
    );
    assert_eq!(w.svc.next_due(), Some(t("10:00")));
}

#[tokio::test]
async fn a_restart_in_the_middle_loses_nothing_and_repeats_nothing() {
    // Uninterrupted.
    let plain = World::at("08:00").await;
    let entries = vec![
        busy("a", "09:00", "10:00"),
        entry("b", "09:30", "10:30", ShowAs::Oof),
    ];
    plain
        .svc
        .apply_entries("100", entries.clone())
        .await
        .unwrap();
    for time in ["09:00", "09:30", "10:00", "10:30"] {
        plain.tick(time).await;
    }

    // Restarted at 09:40 (inside the block), then down again from 10:05 to 10:45.
    let mut w = World::at("08:00").await;
    w.svc.apply_entries("100", entries).await.unwrap();
    w.tick("09:00").await;
    w.tick("09:30").await;
    w.restart("09:40").await;
    assert_eq!(w.status("100").await, (DoNotDisturb, Calendar));
    assert_eq!(w.svc.next_due(), Some(t("10:30")));
    assert!(
        w.tick("10:00").await.is_empty(),
        "nothing was due at 10:00: oof runs on"
    );
    w.restart("10:45").await;
    assert_eq!(
        w.svc.next_due(),
        Some(t("10:30")),
        "overdue after the restart"
    );
    let mut rx = w.svc.subscribe();
    let changes = w.tick("10:45").await;
    assert_eq!(
        summary(&changes),
        [("100", Available, ByDefault, t("10:30").to_string())]
    );
    assert_eq!(rx.try_recv().unwrap().status, Available);
    assert!(w.tick("10:46").await.is_empty(), "none twice");
    assert!(rx.try_recv().is_err());

    assert_eq!(w.told(), plain.told());
    let (a, b) = (
        w.store.state("100").unwrap(),
        plain.store.state("100").unwrap(),
    );
    assert_eq!(
        (a.status, a.source, a.block, a.until),
        (b.status, b.source, b.block, b.until)
    );
}

#[tokio::test]
async fn a_catch_up_publishes_only_the_net_change() {
    let mut w = World::at("08:00").await;
    w.svc
        .apply_entries("100", vec![busy("a", "09:00", "10:00")])
        .await
        .unwrap();
    w.restart("10:30").await;
    let mut rx = w.svc.subscribe();
    assert!(
        w.tick("10:30").await.is_empty(),
        "Away and back, both in the past: no change"
    );
    assert!(rx.try_recv().is_err());
    assert!(w.told().is_empty());
    assert_eq!(w.status("100").await, (Available, ByDefault));

    // Repeating the same entries or the same status publishes nothing either.
    w.svc
        .apply_entries("100", vec![busy("a", "09:00", "10:00")])
        .await
        .unwrap();
    w.svc.user_sets("100", Lunch).await.unwrap();
    w.svc.user_sets("100", Lunch).await.unwrap();
    assert_eq!(rx.try_recv().unwrap().status, Lunch);
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn unchanged_entries_are_not_written_again() {
    let w = World::at("08:00").await;
    w.svc
        .apply_entries("100", vec![busy("a", "09:00", "10:00")])
        .await
        .unwrap();
    let writes = w.store.write_count();
    w.clock.set("08:05");
    let outcome = w
        .svc
        .apply_entries("100", vec![busy("a", "09:00", "10:00")])
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ApplyOutcome {
            entries_changed: false,
            change: None
        }
    );
    // An extension without entries and untouched needs no row at all.
    w.svc.apply_entries("101", Vec::new()).await.unwrap();
    assert_eq!(w.store.write_count(), writes);
    assert_eq!(w.store.state("101"), None);
}

#[tokio::test]
async fn next_due_and_replanned_follow_the_earliest_transition() {
    let w = World::at("08:00").await;
    assert_eq!(w.svc.next_due(), None);
    w.svc
        .apply_entries("100", vec![busy("a", "11:00", "12:00")])
        .await
        .unwrap();
    assert!(notified(&w.svc).await, "the first due time is news");
    assert!(!notified(&w.svc).await, "one notice per re-plan");

    w.svc
        .apply_entries("101", vec![busy("b", "12:00", "13:00")])
        .await
        .unwrap();
    assert_eq!(w.svc.next_due(), Some(t("11:00")));
    assert!(
        !notified(&w.svc).await,
        "a later transition needs no new timer"
    );

    w.svc
        .apply_entries("102", vec![busy("c", "09:00", "09:30")])
        .await
        .unwrap();
    assert_eq!(w.svc.next_due(), Some(t("09:00")));
    assert!(
        notified(&w.svc).await,
        "an earlier entry re-plans the timer"
    );

    // After firing, the plan moves on to the next one.
    w.tick("09:00").await;
    assert_eq!(w.svc.next_due(), Some(t("09:30")));
    w.tick("09:30").await;
    assert_eq!(w.svc.next_due(), Some(t("11:00")));

    // A user's change can bring a transition earlier too (a block ending restores).
    let plain = World::at("08:00").await;
    plain
        .svc
        .apply_entries("100", vec![busy("a", "08:00", "12:00")])
        .await
        .unwrap();
    notified(&plain.svc).await;
    plain
        .svc
        .apply_entries("101", vec![busy("b", "08:00", "09:00")])
        .await
        .unwrap();
    assert!(notified(&plain.svc).await);
    assert_eq!(plain.svc.next_due(), Some(t("09:00")));
}

/// Whether a re-plan notice is waiting (without waiting for one).
async fn notified(svc: &PresenceService) -> bool {
    tokio::select! {
        biased;
        () = svc.replanned() => true,
        () = std::future::ready(()) => false,
    }
}

#[tokio::test]
async fn the_board_lists_every_extension() {
    let w = World::at("08:00").await;
    w.extensions.add("20", None, true);
    w.svc
        .apply_entries("101", vec![busy("a", "08:00", "09:00")])
        .await
        .unwrap();
    w.svc.user_sets("102", BusinessTrip).await.unwrap();
    let board: Vec<_> = w
        .svc
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.number, v.status, v.source, v.until))
        .collect();
    assert_eq!(
        board,
        [
            ("20".into(), Available, ByDefault, None),
            ("100".into(), Available, ByDefault, None),
            ("101".into(), Away, Calendar, Some(t("09:00"))),
            ("102".into(), BusinessTrip, Manual, None),
        ]
    );
    // A transition due this instant shows even before the timer fired.
    w.clock.set("09:00");
    let board = w.svc.list().await.unwrap();
    assert_eq!((board[2].status, board[2].source), (Available, ByDefault));
}

#[tokio::test]
async fn unknown_extensions_are_refused() {
    let w = World::at("08:00").await;
    assert!(matches!(
        w.svc.user_sets("999", Away).await,
        Err(PresenceError::UnknownExtension(n)) if n == "999"
    ));
    assert!(matches!(
        w.svc.presence("999").await,
        Err(PresenceError::UnknownExtension(_))
    ));
    assert!(
        "on_holiday".parse::<Status>().is_err(),
        "unknown statuses fail to parse"
    );
}

#[tokio::test]
async fn a_failed_save_is_retried_later_not_at_once() {
    let w = World::at("08:00").await;
    w.svc
        .apply_entries("100", vec![busy("a", "09:00", "10:00")])
        .await
        .unwrap();
    *w.store.fail_saves.lock().unwrap() = true;
    assert!(w.tick("09:00").await.is_empty());
    assert_eq!(w.svc.next_due(), Some(t("09:00:05")));
    *w.store.fail_saves.lock().unwrap() = false;
    assert_eq!(
        summary(&w.tick("09:00:05").await),
        [("100", Away, Calendar, t("09:00").to_string())]
    );
}

#[tokio::test]
async fn a_new_mapping_applies_at_once() {
    let w = World::at("08:00").await;
    w.svc
        .apply_entries("100", vec![busy("a", "08:00", "09:00")])
        .await
        .unwrap();
    w.svc
        .apply_entries("101", vec![entry("b", "08:00", "09:00", ShowAs::Tentative)])
        .await
        .unwrap();
    w.clock.set("08:10");
    let mapping = ShowAsMapping::default()
        .with(ShowAs::Busy, Some(Lunch))
        .unwrap()
        .with(ShowAs::Tentative, Some(Away))
        .unwrap();
    let changes = w.svc.set_mapping(mapping).await.unwrap();
    assert_eq!(
        summary(&changes),
        [
            ("100", Lunch, Calendar, t("08:10").to_string()),
            ("101", Away, Calendar, t("08:10").to_string())
        ]
    );
    assert_eq!(w.svc.next_due(), Some(t("09:00")));
    let changes = w.tick("09:00").await;
    assert!(changes.iter().all(|c| c.status == Available));
}
