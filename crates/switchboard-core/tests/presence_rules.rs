#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! The presence rules (DESIGN §5), one scenario at a time.

use jiff::Timestamp;
use switchboard_core::presence::*;

use Status::{Available, Away, BusinessTrip, DoNotDisturb, Lunch};
use TransitionReason::{BlockChanged, BlockEnded, BlockStarted, UserSet};

/// `HH:MM` or `HH:MM:SS` on 2 June 2025, UTC.
fn t(time: &str) -> Timestamp {
    let time = if time.len() == 5 {
        format!("{time}:00")
    } else {
        time.to_owned()
    };
    format!("2025-06-02T{time}Z").parse().unwrap()
}

fn entry(id: &str, start: &str, end: &str, show_as: ShowAs) -> CalendarEntry {
    CalendarEntry {
        id: id.into(),
        start: t(start),
        end: t(end),
        show_as,
        is_all_day: false,
        is_cancelled: false,
    }
}

fn busy(id: &str, start: &str, end: &str) -> CalendarEntry {
    entry(id, start, end, ShowAs::Busy)
}

fn oof(id: &str, start: &str, end: &str) -> CalendarEntry {
    entry(id, start, end, ShowAs::Oof)
}

/// A user over one day: entries and mapping can be edited between steps, as a sync would.
struct Day {
    entries: Vec<CalendarEntry>,
    mapping: ShowAsMapping,
    state: PresenceState,
    log: Vec<Transition>,
}

impl Day {
    fn new(entries: Vec<CalendarEntry>) -> Self {
        Self {
            entries,
            mapping: ShowAsMapping::default(),
            state: PresenceState::initial(t("00:00")),
            log: Vec::new(),
        }
    }

    fn at(&mut self, time: &str) -> Status {
        self.at_instant(t(time))
    }

    fn at_instant(&mut self, at: Timestamp) -> Status {
        let step = advance(&self.state, &self.entries, &self.mapping, at);
        self.log.extend(step.transitions);
        self.state = step.state;
        self.state.status
    }

    fn user(&mut self, status: Status, time: &str) {
        let step = user_sets(&self.state, &self.entries, &self.mapping, status, t(time));
        self.log.extend(step.transitions);
        self.state = step.state;
    }

    /// Status after advancing to each instant in turn.
    fn timeline(&mut self, times: &[&str]) -> Vec<Status> {
        times.iter().map(|time| self.at(time)).collect()
    }

    fn next(&self, now: &str) -> Option<Timestamp> {
        next_transition(&self.state, &self.entries, &self.mapping, t(now))
    }

    fn reasons(&self) -> Vec<(Timestamp, Status, Status, TransitionReason)> {
        self.log
            .iter()
            .map(|tr| (tr.at, tr.from, tr.to, tr.reason))
            .collect()
    }

    fn entry_mut(&mut self, id: &str) -> &mut CalendarEntry {
        self.entries.iter_mut().find(|e| e.id == id).unwrap()
    }
}

// Rule 1 and 2: an entry sets the status, the previous one returns.

#[test]
fn busy_entry_sets_away_and_the_previous_status_returns_at_its_end() {
    let mut day = Day::new(vec![busy("m", "09:00", "10:00")]);
    assert_eq!(day.at("08:00"), Available);
    assert_eq!(day.state.until, Some(t("09:00")));
    assert_eq!(day.at("08:59:59"), Available);
    assert_eq!(day.at("09:00"), Away);
    assert_eq!(day.state.source, StatusSource::Calendar);
    let block = day.state.block.clone().unwrap();
    assert_eq!(block.entry_id, "m");
    assert_eq!((block.started_at, block.ends_at), (t("09:00"), t("10:00")));
    assert_eq!(
        block.restore,
        Remembered {
            status: Available,
            source: StatusSource::Default
        }
    );
    assert_eq!(day.state.until, Some(t("10:00")));
    assert_eq!(day.at("09:59:59"), Away);
    assert_eq!(day.at("10:00"), Available);
    assert_eq!(day.state.source, StatusSource::Default);
    assert_eq!(day.state.block, None);
    assert_eq!(day.state.until, None);
    assert_eq!(
        day.reasons(),
        vec![
            (t("09:00"), Available, Away, BlockStarted),
            (t("10:00"), Away, Available, BlockEnded)
        ]
    );
    assert_eq!(day.log[0].entry_id.as_deref(), Some("m"));
    assert_eq!(day.log[1].entry_id, None);
}

#[test]
fn free_tentative_and_unknown_entries_change_nothing_by_default() {
    let mut day = Day::new(vec![
        entry("f", "09:00", "12:00", ShowAs::Free),
        entry("t", "09:30", "11:00", ShowAs::Tentative),
        entry("u", "10:00", "10:30", ShowAs::Unknown),
    ]);
    assert_eq!(
        day.timeline(&["09:00", "09:45", "10:15", "12:00"]),
        [Available; 4]
    );
    assert_eq!(day.state.block, None);
    assert!(day.log.is_empty());
    assert_eq!(day.next("08:00"), None);
}

#[test]
fn the_default_mapping_is_the_one_in_the_design() {
    let mapping = ShowAsMapping::default();
    let rows: Vec<_> = mapping.rows().collect();
    assert_eq!(
        rows,
        vec![
            (ShowAs::Free, None),
            (ShowAs::Tentative, None),
            (ShowAs::Busy, Some(Away)),
            (ShowAs::Oof, Some(DoNotDisturb)),
            (ShowAs::WorkingElsewhere, Some(Away)),
            (ShowAs::Unknown, None),
        ]
    );
}

#[test]
fn overlapping_entries_follow_the_highest_priority_and_return_once_at_the_end() {
    let mut day = Day::new(vec![
        busy("b", "09:00", "11:00"),
        oof("o", "10:00", "10:30"),
    ]);
    assert_eq!(
        day.timeline(&["08:00", "09:00", "10:00", "10:30", "11:00"]),
        [Available, Away, DoNotDisturb, Away, Available]
    );
    assert_eq!(
        day.reasons(),
        vec![
            (t("09:00"), Available, Away, BlockStarted),
            (t("10:00"), Away, DoNotDisturb, BlockChanged),
            (t("10:30"), DoNotDisturb, Away, BlockChanged),
            (t("11:00"), Away, Available, BlockEnded),
        ]
    );
}

#[test]
fn a_lower_priority_entry_nested_in_a_higher_one_changes_nothing() {
    let mut day = Day::new(vec![
        oof("o", "09:00", "12:00"),
        busy("b", "10:00", "11:00"),
    ]);
    assert_eq!(
        day.timeline(&["09:00", "10:00", "11:00", "12:00"]),
        [DoNotDisturb, DoNotDisturb, DoNotDisturb, Available]
    );
    assert_eq!(day.log.len(), 2);
}

#[test]
fn back_to_back_entries_are_one_block_without_flicker() {
    let mut day = Day::new(vec![
        busy("a", "09:00", "10:00"),
        busy("b", "10:00", "11:00"),
    ]);
    assert_eq!(day.at("09:00"), Away);
    assert_eq!(day.state.block.as_ref().unwrap().ends_at, t("11:00"));
    assert_eq!(day.state.until, Some(t("11:00")));
    assert_eq!(day.at("10:00"), Away);
    let block = day.state.block.clone().unwrap();
    assert_eq!(
        (block.started_at, block.entry_id.as_str()),
        (t("09:00"), "b")
    );
    assert_eq!(day.at("11:00"), Available);
    assert_eq!(
        day.reasons(),
        vec![
            (t("09:00"), Available, Away, BlockStarted),
            (t("11:00"), Away, Available, BlockEnded)
        ]
    );
}

#[test]
fn back_to_back_entries_of_different_show_as_hand_over_directly() {
    let mut day = Day::new(vec![
        busy("a", "09:00", "10:00"),
        oof("b", "10:00", "11:00"),
    ]);
    assert_eq!(
        day.timeline(&["09:00", "10:00", "11:00"]),
        [Away, DoNotDisturb, Available]
    );
    assert_eq!(
        day.reasons()[1],
        (t("10:00"), Away, DoNotDisturb, BlockChanged)
    );
}

#[test]
fn a_gap_of_one_second_makes_two_blocks() {
    let mut day = Day::new(vec![
        busy("a", "09:00", "10:00"),
        busy("b", "10:00:01", "11:00"),
    ]);
    assert_eq!(
        day.timeline(&["09:00", "10:00", "10:00:01", "11:00"]),
        [Away, Available, Away, Available]
    );
}

#[test]
fn priority_is_oof_then_busy_then_working_elsewhere_then_tentative() {
    let mut day = Day::new(vec![
        entry("t", "09:00", "17:00", ShowAs::Tentative),
        entry("w", "10:00", "16:00", ShowAs::WorkingElsewhere),
        entry("b", "11:00", "15:00", ShowAs::Busy),
        entry("o", "12:00", "14:00", ShowAs::Oof),
    ]);
    // Distinct statuses so each step is visible.
    day.mapping = ShowAsMapping::default()
        .with(ShowAs::Tentative, Some(Lunch))
        .unwrap()
        .with(ShowAs::Busy, Some(DoNotDisturb))
        .unwrap()
        .with(ShowAs::Oof, Some(Away))
        .unwrap();
    let times = [
        "09:00", "10:00", "11:00", "12:00", "14:00", "15:00", "16:00", "17:00",
    ];
    let mut in_charge = Vec::new();
    for time in times {
        day.at(time);
        in_charge.push(day.state.block.as_ref().map(|b| b.entry_id.clone()));
    }
    let expected = ["t", "w", "b", "o", "b", "w", "t"];
    assert_eq!(
        in_charge,
        expected
            .iter()
            .map(|id| Some(id.to_string()))
            .chain([None])
            .collect::<Vec<_>>()
    );
    let statuses: Vec<Status> = day.log.iter().map(|tr| tr.to).collect();
    assert_eq!(
        statuses,
        [
            Lunch,
            Away,
            DoNotDisturb,
            Away,
            DoNotDisturb,
            Away,
            Lunch,
            Available
        ]
    );
}

#[test]
fn ties_are_decided_by_earlier_start_then_smaller_id_whatever_the_input_order() {
    let entries = vec![
        busy("late", "09:30", "10:30"),
        busy("b", "09:00", "11:00"),
        busy("a", "09:00", "09:15"),
    ];
    let mut reversed = entries.clone();
    reversed.reverse();
    for list in [entries, reversed] {
        let mut day = Day::new(list);
        day.at("09:00");
        assert_eq!(day.state.block.as_ref().unwrap().entry_id, "a");
        day.at("09:45");
        assert_eq!(day.state.block.as_ref().unwrap().entry_id, "b");
    }
}

#[test]
fn the_remembered_status_returns_with_its_source() {
    let mut day = Day::new(vec![busy("m", "09:00", "10:00")]);
    day.user(Lunch, "08:00");
    assert_eq!(day.at("09:00"), Away);
    assert_eq!(day.at("10:00"), Lunch);
    assert_eq!(day.state.source, StatusSource::Manual);
}

// Rule 3: Business Trip.

#[test]
fn business_trip_set_before_a_block_is_kept_during_and_after_it() {
    let mut day = Day::new(vec![
        busy("b", "09:00", "10:00"),
        oof("o", "09:30", "09:45"),
    ]);
    day.user(BusinessTrip, "08:00");
    assert_eq!(day.at("09:15"), BusinessTrip);
    let block = day.state.block.clone().unwrap();
    assert_eq!(block.restore.status, BusinessTrip);
    assert_eq!(day.state.will_restore(), None);
    assert_eq!(day.state.until, None);
    assert_eq!(
        day.timeline(&["09:30", "09:45", "10:00", "12:00"]),
        [BusinessTrip; 4]
    );
    assert_eq!(day.state.block, None);
    assert_eq!(day.reasons().len(), 1);
    assert_eq!(day.log[0].reason, UserSet);
}

#[test]
fn business_trip_set_during_a_block_stays_after_it() {
    let mut day = Day::new(vec![
        busy("b", "09:00", "11:00"),
        oof("o", "10:00", "10:30"),
    ]);
    assert_eq!(day.at("09:00"), Away);
    day.user(BusinessTrip, "09:30");
    assert_eq!(
        day.timeline(&["10:00", "10:30", "11:00"]),
        [BusinessTrip; 3]
    );
    assert_eq!(day.log.last().unwrap().reason, UserSet);
}

#[test]
fn a_user_who_leaves_business_trip_during_a_block_keeps_control_of_it() {
    let mut day = Day::new(vec![
        busy("b", "09:00", "11:00"),
        busy("c", "13:00", "14:00"),
    ]);
    day.user(BusinessTrip, "08:00");
    day.at("09:00");
    day.user(Available, "10:00");
    assert_eq!(day.timeline(&["10:30", "11:00"]), [Available, Available]);
    // The next block applies again and gives back what the user chose.
    assert_eq!(day.timeline(&["13:00", "14:00"]), [Away, Available]);
}

// Rule 4: the user's own change wins for the rest of the block.

#[test]
fn a_user_override_wins_for_the_rest_of_the_block_and_is_not_undone_at_its_end() {
    let mut day = Day::new(vec![
        busy("b", "09:00", "10:00"),
        busy("c", "10:00", "12:00"),
        oof("o", "10:30", "11:00"),
    ]);
    assert_eq!(day.at("09:00"), Away);
    day.user(Available, "09:30");
    assert!(day.state.is_overridden());
    assert_eq!(
        day.state.block.as_ref().unwrap().overridden_at,
        Some(t("09:30"))
    );
    assert_eq!(day.state.will_restore(), None);
    assert_eq!(
        day.timeline(&["10:00", "10:30", "11:00", "12:00"]),
        [Available; 4]
    );
    assert_eq!(day.state.source, StatusSource::Manual);
    assert_eq!(
        day.reasons(),
        vec![
            (t("09:00"), Available, Away, BlockStarted),
            (t("09:30"), Away, Available, UserSet),
        ]
    );
}

#[test]
fn after_an_override_the_next_block_applies_again() {
    let mut day = Day::new(vec![
        busy("b", "09:00", "10:00"),
        busy("c", "11:00", "12:00"),
    ]);
    day.at("09:00");
    day.user(Lunch, "09:30");
    assert_eq!(day.at("10:00"), Lunch);
    assert_eq!(day.state.until, Some(t("11:00")));
    assert_eq!(day.at("11:00"), Away);
    assert!(!day.state.is_overridden());
    assert_eq!(day.at("12:00"), Lunch);
    assert_eq!(day.state.source, StatusSource::Manual);
}

#[test]
fn a_user_change_at_the_instant_a_block_starts_comes_after_the_calendar() {
    let mut day = Day::new(vec![busy("b", "09:00", "10:00")]);
    day.user(Lunch, "09:00");
    assert_eq!(
        day.reasons(),
        vec![
            (t("09:00"), Available, Away, BlockStarted),
            (t("09:00"), Away, Lunch, UserSet)
        ]
    );
    assert_eq!(day.at("10:00"), Lunch);
}

#[test]
fn a_user_change_at_the_instant_a_block_ends_is_outside_the_block() {
    let mut day = Day::new(vec![
        busy("b", "09:00", "10:00"),
        busy("c", "11:00", "12:00"),
    ]);
    day.at("09:00");
    day.user(Lunch, "10:00");
    assert_eq!(day.state.block, None);
    assert_eq!(day.timeline(&["11:00", "12:00"]), [Away, Lunch]);
}

#[test]
fn a_user_change_outside_blocks_just_sets_the_status() {
    let mut day = Day::new(vec![]);
    day.user(DoNotDisturb, "08:00");
    assert_eq!(day.state.status, DoNotDisturb);
    assert_eq!(day.state.source, StatusSource::Manual);
    assert_eq!(day.state.block, None);
    // The same choice again is no change.
    day.user(DoNotDisturb, "08:05");
    assert_eq!(day.log.len(), 1);
}

// Rule 5: edited entries.

#[test]
fn an_entry_moved_earlier_while_active_ends_at_its_new_end() {
    let mut day = Day::new(vec![busy("m", "09:00", "10:00")]);
    day.at("09:00");
    *day.entry_mut("m") = busy("m", "08:30", "09:45");
    assert_eq!(day.at("09:30"), Away);
    let block = day.state.block.clone().unwrap();
    assert_eq!((block.started_at, block.ends_at), (t("09:00"), t("09:45")));
    assert_eq!(day.at("09:45"), Available);
}

#[test]
fn an_entry_moved_later_while_active_gives_the_status_back_now_and_applies_again_later() {
    let mut day = Day::new(vec![busy("m", "09:00", "10:00")]);
    day.user(Lunch, "08:00");
    day.at("09:00");
    *day.entry_mut("m") = busy("m", "11:00", "12:00");
    assert_eq!(day.at("09:30"), Lunch);
    assert_eq!(
        day.log.last().unwrap().clone(),
        Transition {
            at: t("09:30"),
            from: Away,
            to: Lunch,
            source: StatusSource::Manual,
            reason: BlockEnded,
            entry_id: None,
        }
    );
    assert_eq!(
        day.timeline(&["10:00", "11:00", "12:00"]),
        [Lunch, Away, Lunch]
    );
}

#[test]
fn an_entry_moved_earlier_before_it_started_applies_from_its_new_start() {
    let mut day = Day::new(vec![busy("m", "11:00", "12:00")]);
    day.at("08:00");
    *day.entry_mut("m") = busy("m", "09:00", "10:00");
    assert_eq!(day.at("09:30"), Away);
    assert_eq!(day.state.block.as_ref().unwrap().started_at, t("09:00"));
    assert_eq!(day.timeline(&["10:00", "11:00", "12:00"]), [Available; 3]);
}

#[test]
fn an_entry_moved_later_before_it_started_waits_for_its_new_start() {
    let mut day = Day::new(vec![busy("m", "09:00", "10:00")]);
    day.at("08:00");
    *day.entry_mut("m") = busy("m", "13:00", "14:00");
    assert_eq!(day.next("08:00"), Some(t("13:00")));
    assert_eq!(
        day.timeline(&["09:00", "13:00", "14:00"]),
        [Available, Away, Available]
    );
}

#[test]
fn an_entry_shortened_so_that_it_already_ended_gives_the_status_back_now() {
    let mut day = Day::new(vec![busy("m", "09:00", "11:00")]);
    day.at("09:00");
    *day.entry_mut("m") = busy("m", "09:00", "10:00");
    assert!(day.next("10:30").unwrap() <= t("10:30"), "already due");
    assert_eq!(day.at("10:30"), Available);
    // Reported at the time it was due, by the step at 10:30.
    assert_eq!(day.reasons()[1], (t("10:00"), Away, Available, BlockEnded));
    assert_eq!(day.at("11:00"), Available);
    assert_eq!(day.log.len(), 2);
}

#[test]
fn an_entry_extended_while_active_keeps_the_status_until_its_new_end() {
    let mut day = Day::new(vec![busy("m", "09:00", "10:00")]);
    day.at("09:00");
    *day.entry_mut("m") = busy("m", "09:00", "11:00");
    day.at("09:30");
    assert_eq!(day.state.block.as_ref().unwrap().ends_at, t("11:00"));
    assert_eq!(day.state.until, Some(t("11:00")));
    assert_eq!(
        day.timeline(&["10:00", "10:59", "11:00"]),
        [Away, Away, Available]
    );
}

#[test]
fn an_entry_cancelled_or_removed_before_it_starts_does_nothing() {
    for remove in [false, true] {
        let mut day = Day::new(vec![busy("m", "09:00", "10:00")]);
        day.at("08:00");
        if remove {
            day.entries.clear();
        } else {
            day.entry_mut("m").is_cancelled = true;
        }
        assert_eq!(day.next("08:30"), None);
        assert_eq!(day.timeline(&["09:00", "10:00"]), [Available, Available]);
        assert!(day.log.is_empty());
    }
}

#[test]
fn an_entry_cancelled_or_removed_while_active_gives_the_remembered_status_back_now() {
    for remove in [false, true] {
        let mut day = Day::new(vec![busy("m", "09:00", "10:00")]);
        day.user(Lunch, "08:00");
        day.at("09:00");
        if remove {
            day.entries.clear();
        } else {
            day.entry_mut("m").is_cancelled = true;
        }
        assert_eq!(day.next("09:30"), Some(t("09:30")));
        assert_eq!(day.at("09:30"), Lunch);
        assert_eq!(day.state.source, StatusSource::Manual);
        assert_eq!(day.reasons().last().unwrap().0, t("09:30"));
        // Nothing stale is given back at the old end.
        assert_eq!(day.at("10:00"), Lunch);
        assert_eq!(day.log.len(), 3);
    }
}

#[test]
fn an_entry_cancelled_after_the_user_took_over_leaves_the_users_status() {
    let mut day = Day::new(vec![busy("m", "09:00", "10:00")]);
    day.at("09:00");
    day.user(Lunch, "09:15");
    day.entry_mut("m").is_cancelled = true;
    assert_eq!(day.at("09:30"), Lunch);
    assert_eq!(day.state.block, None);
}

#[test]
fn cancelling_one_of_two_overlapping_entries_follows_the_other() {
    let mut day = Day::new(vec![
        busy("b", "09:00", "11:00"),
        oof("o", "09:30", "10:30"),
    ]);
    assert_eq!(day.timeline(&["09:00", "09:30"]), [Away, DoNotDisturb]);
    day.entry_mut("o").is_cancelled = true;
    assert_eq!(day.at("10:00"), Away);
    assert_eq!(day.reasons().last().unwrap().3, BlockChanged);
    assert_eq!(day.timeline(&["10:30", "11:00"]), [Away, Available]);
}

#[test]
fn a_new_entry_added_during_a_block_extends_it() {
    let mut day = Day::new(vec![busy("b", "09:00", "10:00")]);
    day.at("09:00");
    day.entries.push(oof("o", "10:00", "11:00"));
    day.at("09:30");
    assert_eq!(day.state.block.as_ref().unwrap().ends_at, t("11:00"));
    assert_eq!(day.timeline(&["10:00", "11:00"]), [DoNotDisturb, Available]);
}

#[test]
fn occurrences_of_a_recurring_series_are_entries_like_any_other() {
    let day_at =
        |d: u8, time: &str| -> Timestamp { format!("2025-06-0{d}T{time}:00Z").parse().unwrap() };
    let occurrence = |d: u8, start: &str, end: &str| CalendarEntry {
        id: format!("AAMkSeries_2025060{d}"),
        start: day_at(d, start),
        end: day_at(d, end),
        show_as: ShowAs::Busy,
        is_all_day: false,
        is_cancelled: false,
    };
    let mut cancelled = occurrence(3, "09:00", "10:00");
    cancelled.is_cancelled = true;
    let mut day = Day::new(vec![
        occurrence(2, "09:00", "10:00"),
        cancelled,
        // An exception: this occurrence was moved to the afternoon.
        occurrence(4, "14:00", "15:00"),
        occurrence(5, "09:00", "10:00"),
    ]);
    let checks = [
        (2, "09:30", Away),
        (2, "10:00", Available),
        (3, "09:30", Available),
        (4, "09:30", Available),
        (4, "14:30", Away),
        (4, "15:00", Available),
        (5, "09:00", Away),
        (5, "10:00", Available),
    ];
    for (d, time, expected) in checks {
        assert_eq!(day.at_instant(day_at(d, time)), expected, "day {d} {time}");
    }
    assert_eq!(day.log.len(), 6);
}

// Mapping edits.

#[test]
fn a_mapping_edit_during_a_block_applies_at_the_next_step() {
    let mut day = Day::new(vec![busy("b", "09:00", "11:00")]);
    day.at("09:00");
    day.mapping.set(ShowAs::Busy, Some(Lunch)).unwrap();
    assert_eq!(day.at("09:30"), Lunch);
    assert_eq!(day.reasons().last().unwrap().3, BlockChanged);
    assert_eq!(day.at("11:00"), Available);
}

#[test]
fn unmapping_the_show_as_of_an_active_entry_ends_its_block() {
    let mut day = Day::new(vec![busy("b", "09:00", "11:00")]);
    day.at("09:00");
    day.mapping.set(ShowAs::Busy, None).unwrap();
    assert_eq!(day.at("09:30"), Available);
    assert_eq!(day.reasons().last().unwrap().3, BlockEnded);
}

#[test]
fn a_mapped_free_entry_counts() {
    let mut day = Day::new(vec![entry("f", "09:00", "10:00", ShowAs::Free)]);
    day.mapping.set(ShowAs::Free, Some(Lunch)).unwrap();
    assert_eq!(day.timeline(&["09:00", "10:00"]), [Lunch, Available]);
}

#[test]
fn a_mapping_to_business_trip_is_refused() {
    let mut mapping = ShowAsMapping::default();
    assert_eq!(
        mapping.set(ShowAs::Oof, Some(BusinessTrip)),
        Err(MappingError::BusinessTrip(ShowAs::Oof))
    );
    assert_eq!(mapping, ShowAsMapping::default());
    let err = serde_json::from_str::<ShowAsMapping>(r#"{"oof": "business_trip"}"#).unwrap_err();
    assert!(err.to_string().contains("business_trip"), "{err}");
}

#[test]
fn the_mapping_settings_document() {
    let json = serde_json::to_value(ShowAsMapping::default()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "free": null, "tentative": null, "busy": "away", "oof": "do_not_disturb",
            "workingElsewhere": "away", "unknown": null
        })
    );
    let back: ShowAsMapping = serde_json::from_value(json).unwrap();
    assert_eq!(back, ShowAsMapping::default());
    // Left-out keys keep their default; null means no change.
    let edited: ShowAsMapping =
        serde_json::from_str(r#"{"tentative": "away", "busy": null}"#).unwrap();
    assert_eq!(edited.get(ShowAs::Tentative), Some(Away));
    assert_eq!(edited.get(ShowAs::Busy), None);
    assert_eq!(edited.get(ShowAs::Oof), Some(DoNotDisturb));
    // A typo is an error, not a silent no-op.
    assert!(serde_json::from_str::<ShowAsMapping>(r#"{"Busy": "away"}"#).is_err());
    assert!(serde_json::from_str::<ShowAsMapping>(r#"{"busy": "gone"}"#).is_err());
    assert_eq!(
        ShowAsMapping::no_changes()
            .rows()
            .filter(|r| r.1.is_some())
            .count(),
        0
    );
}

// Steps, restarts, scheduling.

#[test]
fn one_late_step_catches_up_with_every_transition_at_its_due_time() {
    let mut day = Day::new(vec![
        busy("b", "09:00", "10:00"),
        oof("o", "11:00", "12:00"),
    ]);
    day.at("08:00");
    assert_eq!(day.next("13:00"), Some(t("09:00")), "overdue");
    assert_eq!(day.at("13:00"), Available);
    assert_eq!(
        day.reasons(),
        vec![
            (t("09:00"), Available, Away, BlockStarted),
            (t("10:00"), Away, Available, BlockEnded),
            (t("11:00"), Available, DoNotDisturb, BlockStarted),
            (t("12:00"), DoNotDisturb, Available, BlockEnded),
        ]
    );
    assert_eq!(day.state.as_of, t("13:00"));
}

#[test]
fn repeating_a_step_reports_nothing_twice_and_time_never_runs_backwards() {
    let mut day = Day::new(vec![busy("b", "09:00", "10:00")]);
    day.at("09:00");
    let stored = day.state.clone();
    day.at("09:00");
    assert_eq!(day.state, stored);
    day.at("08:00");
    assert_eq!(day.state, stored, "an earlier `to` is taken as `as_of`");
    assert_eq!(day.log.len(), 1);
}

#[test]
fn a_restart_mid_block_from_the_stored_json_continues_as_if_uninterrupted() {
    let entries = vec![busy("b", "09:00", "10:00"), oof("o", "09:30", "11:00")];
    let mut straight = Day::new(entries.clone());
    straight.user(Lunch, "08:00");
    straight.at("12:00");

    let mut restarted = Day::new(entries);
    restarted.user(Lunch, "08:00");
    restarted.at("09:10");
    let stored = serde_json::to_string(&restarted.state).unwrap();
    restarted.state = serde_json::from_str(&stored).unwrap();
    restarted.at("12:00");
    assert_eq!(restarted.state, straight.state);
    assert_eq!(restarted.log, straight.log);
}

#[test]
fn next_transition_points_at_the_next_change_of_state() {
    let mut day = Day::new(vec![
        busy("a", "09:00", "10:00"),
        busy("b", "10:00", "11:00"),
        oof("o", "13:00", "14:00"),
    ]);
    assert_eq!(day.next("08:00"), Some(t("09:00")));
    day.at("09:00");
    assert_eq!(
        day.next("09:00"),
        Some(t("10:00")),
        "b takes over the block"
    );
    day.at("10:00");
    assert_eq!(day.state.until, Some(t("11:00")));
    assert_eq!(day.next("10:00"), Some(t("11:00")));
    day.at("11:00");
    assert_eq!(day.next("11:00"), Some(t("13:00")));
    day.at("14:00");
    assert_eq!(day.next("14:00"), None);
}

#[test]
fn next_transition_while_the_user_has_taken_over_is_the_end_of_the_block() {
    let mut day = Day::new(vec![busy("a", "09:00", "12:00")]);
    day.at("09:00");
    day.user(Lunch, "09:30");
    assert_eq!(day.state.until, None, "the calendar will not change Lunch");
    assert_eq!(day.next("09:30"), Some(t("12:00")), "the block itself ends");
    day.at("12:00");
    assert_eq!(day.next("12:00"), None);
}

#[test]
fn next_transition_on_business_trip_is_only_the_block_bookkeeping() {
    let mut day = Day::new(vec![busy("a", "09:00", "10:00")]);
    day.user(BusinessTrip, "08:00");
    assert_eq!(day.state.until, None);
    assert_eq!(day.next("08:00"), Some(t("09:00")));
    day.at("09:00");
    assert_eq!(day.next("09:00"), Some(t("10:00")));
    day.at("10:00");
    assert_eq!(day.next("10:00"), None);
    assert_eq!(day.log.len(), 1);
}

#[test]
fn empty_and_inverted_entries_are_never_active() {
    let mut day = Day::new(vec![
        busy("zero", "09:00", "09:00"),
        busy("inv", "10:00", "09:30"),
    ]);
    assert_eq!(day.timeline(&["09:00", "09:45", "10:00"]), [Available; 3]);
    assert_eq!(day.next("08:00"), None);
    assert!(Schedule::new(&day.entries, &day.mapping).is_empty());
}

#[test]
fn status_and_show_as_spellings() {
    for (status, text) in [
        (Available, "available"),
        (Away, "away"),
        (DoNotDisturb, "do_not_disturb"),
        (Lunch, "lunch"),
        (BusinessTrip, "business_trip"),
    ] {
        assert_eq!(serde_json::to_value(status).unwrap(), text);
        assert_eq!(text.parse::<Status>().unwrap(), status);
        assert_eq!(status.to_string(), text);
    }
    assert!("Away".parse::<Status>().is_err());
    for (source, text) in [
        (StatusSource::Manual, "manual"),
        (StatusSource::Calendar, "calendar"),
        (StatusSource::Default, "default"),
    ] {
        assert_eq!(serde_json::to_value(source).unwrap(), text);
        assert_eq!(text.parse::<StatusSource>().unwrap(), source);
    }
    for show_as in ShowAs::ALL {
        let text = show_as.as_graph_str();
        assert_eq!(serde_json::to_value(show_as).unwrap(), text);
        assert_eq!(
            serde_json::from_value::<ShowAs>(text.into()).unwrap(),
            show_as
        );
        assert_eq!(ShowAs::from_graph(text), show_as);
    }
    assert_eq!(
        ShowAs::from_graph("WorkingElsewhere"),
        ShowAs::WorkingElsewhere
    );
    assert_eq!(ShowAs::from_graph("somethingNew"), ShowAs::Unknown);
    assert_eq!(
        serde_json::from_str::<ShowAs>(r#""somethingNew""#).unwrap(),
        ShowAs::Unknown
    );
}
