#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! Properties of the presence machine over random days: entries (overlapping, back to back,
//! cancelled, of every showAs), mappings, user actions, entry edits while the day runs, and
//! restarts at arbitrary instants.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::sample::select;
use switchboard_core::presence::*;

use Status::{Available, Away, BusinessTrip, DoNotDisturb, Lunch};

/// The day runs for twelve hours; every entry ends by 11:30 even after edits.
const END_SECS: i64 = 720 * 60;
const LAST_START_MIN: i64 = 600;
const LAST_END_MIN: i64 = 690;

fn base() -> Timestamp {
    "2025-06-02T08:00:00Z".parse().unwrap()
}

fn at(secs: i64) -> Timestamp {
    base() + SignedDuration::from_secs(secs)
}

fn minutes_of(t: Timestamp) -> i64 {
    t.duration_since(base()).as_mins()
}

fn make_entry(id: String, start_min: i64, len_min: i64, show_as: ShowAs) -> CalendarEntry {
    let start = start_min.clamp(0, LAST_START_MIN);
    let end = (start + len_min).clamp(start, LAST_END_MIN);
    CalendarEntry {
        id,
        start: at(start * 60),
        end: at(end * 60),
        show_as,
        is_all_day: false,
        is_cancelled: false,
    }
}

/// An edit the sync might bring in: applied to whatever the list is when it arrives.
#[derive(Debug, Clone)]
struct Mutation {
    /// (which entry, what to do, by how many 5-minute steps)
    ops: Vec<(usize, u8, i64)>,
    add: Option<(i64, i64, ShowAs)>,
}

impl Mutation {
    fn apply(&self, list: &mut Vec<CalendarEntry>) {
        for &(index, op, steps) in &self.ops {
            if list.is_empty() {
                break;
            }
            let i = index % list.len();
            let (start, end) = (minutes_of(list[i].start), minutes_of(list[i].end));
            let id = list[i].id.clone();
            let show_as = list[i].show_as;
            let cancelled = list[i].is_cancelled;
            match op {
                // moved earlier or later
                0 => {
                    list[i] = make_entry(id, start + steps * 5, end - start, show_as);
                    list[i].is_cancelled = cancelled;
                }
                // shortened or extended
                1 => {
                    list[i] = make_entry(id, start, (end - start + steps * 5).max(0), show_as);
                    list[i].is_cancelled = cancelled;
                }
                2 => list[i].is_cancelled = !cancelled,
                3 => {
                    list.remove(i);
                }
                _ => list[i].show_as = ShowAs::ALL[steps.unsigned_abs() as usize % 6],
            }
        }
        if let Some((start, len, show_as)) = self.add {
            let id = format!("added-{}", list.len());
            list.push(make_entry(id, start * 5, len * 5, show_as));
        }
    }
}

#[derive(Debug, Clone)]
enum Event {
    User(Status),
    Edit(Mutation),
}

#[derive(Debug, Clone)]
struct Scenario {
    initial: PresenceState,
    mapping: ShowAsMapping,
    entries: Vec<CalendarEntry>,
    /// Sorted by time.
    events: Vec<(i64, Event)>,
}

fn status() -> impl Strategy<Value = Status> {
    select(Status::ALL.to_vec())
}

fn show_as() -> impl Strategy<Value = ShowAs> {
    select(ShowAs::ALL.to_vec())
}

fn mapping() -> impl Strategy<Value = ShowAsMapping> {
    let custom = proptest::collection::vec(
        proptest::option::of(select(vec![Available, Away, DoNotDisturb, Lunch])),
        6,
    )
    .prop_map(|targets| {
        let mut mapping = ShowAsMapping::no_changes();
        for (show_as, target) in ShowAs::ALL.into_iter().zip(targets) {
            mapping.set(show_as, target).unwrap();
        }
        mapping
    });
    prop_oneof![2 => Just(ShowAsMapping::default()), 1 => custom]
}

/// Starts and lengths on a 5-minute grid, so overlaps, nesting and back-to-back entries are
/// common.
fn entries() -> impl Strategy<Value = Vec<CalendarEntry>> {
    proptest::collection::vec(
        (
            0..=(LAST_START_MIN / 5),
            prop_oneof![1 => Just(0i64), 8 => 1..30i64],
            show_as(),
            prop_oneof![5 => Just(false), 1 => Just(true)],
        ),
        0..8,
    )
    .prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (start, len, show_as, cancelled))| {
                let mut entry = make_entry(format!("e{i}"), start * 5, len * 5, show_as);
                entry.is_cancelled = cancelled;
                entry
            })
            .collect()
    })
}

/// An instant of the day: often on the 5-minute grid (where entries begin and end), otherwise
/// any second.
fn instant() -> impl Strategy<Value = i64> {
    prop_oneof![(0..=END_SECS / 300).prop_map(|k| k * 300), 0..=END_SECS,]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        proptest::collection::vec((0..8usize, 0..5u8, -18..18i64), 1..4),
        proptest::option::of((0..=(LAST_START_MIN / 5), 1..24i64, show_as())),
    )
        .prop_map(|(ops, add)| Mutation { ops, add })
}

fn events() -> impl Strategy<Value = Vec<(i64, Event)>> {
    proptest::collection::vec(
        (
            instant(),
            prop_oneof![
                3 => status().prop_map(Event::User),
                2 => mutation().prop_map(Event::Edit),
            ],
        ),
        0..6,
    )
    .prop_map(|mut events| {
        events.sort_by_key(|(secs, _)| *secs);
        events
    })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (status(), any::<bool>(), mapping(), entries(), events()).prop_map(
        |(status, manual, mapping, entries, events)| {
            let source = if manual || status == BusinessTrip {
                StatusSource::Manual
            } else {
                StatusSource::Default
            };
            Scenario {
                initial: PresenceState::new(status, source, base()),
                mapping,
                entries,
                events,
            }
        },
    )
}

fn restarts() -> impl Strategy<Value = Vec<i64>> {
    proptest::collection::vec(instant(), 0..12)
}

#[derive(Debug, Clone)]
enum Step {
    Event(Event),
    /// The process stops and starts again: the state goes through its stored form.
    Restart,
    /// Someone looks (an API read after an advance); kept for checks.
    Probe,
}

#[derive(Debug)]
struct Probe {
    state: PresenceState,
    entries: Vec<CalendarEntry>,
}

#[derive(Debug)]
struct Outcome {
    state: PresenceState,
    transitions: Vec<Transition>,
    probes: Vec<Probe>,
}

/// Runs the day: the scenario's events, plus `extra` steps, then a last step at the end of the
/// day. At an edit the steps due before it use the old entries, as a live scheduler would.
fn drive(scenario: &Scenario, extra: &[(i64, Step)]) -> Outcome {
    let mut steps: Vec<(i64, Step)> = scenario
        .events
        .iter()
        .map(|(secs, event)| (*secs, Step::Event(event.clone())))
        .chain(extra.iter().cloned())
        .collect();
    steps.sort_by_key(|(secs, _)| *secs);
    steps.push((END_SECS, Step::Probe));

    let mapping = &scenario.mapping;
    let mut list = scenario.entries.clone();
    let mut state = scenario.initial.clone();
    let mut transitions = Vec::new();
    let mut probes = Vec::new();
    for (secs, step) in steps {
        let t = at(secs);
        let outcome = match &step {
            Step::Event(Event::User(status)) => user_sets(&state, &list, mapping, *status, t),
            Step::Event(Event::Edit(mutation)) => {
                let before = advance(&state, &list, mapping, t);
                transitions.extend(before.transitions);
                state = before.state;
                mutation.apply(&mut list);
                advance(&state, &list, mapping, t)
            }
            Step::Restart | Step::Probe => advance(&state, &list, mapping, t),
        };
        transitions.extend(outcome.transitions);
        state = outcome.state;
        match step {
            Step::Restart => {
                let stored = serde_json::to_string(&state).unwrap();
                state = serde_json::from_str(&stored).unwrap();
            }
            Step::Probe => probes.push(Probe {
                state: state.clone(),
                entries: list.clone(),
            }),
            Step::Event(_) => {}
        }
    }
    Outcome {
        state,
        transitions,
        probes,
    }
}

fn every_minute() -> Vec<(i64, Step)> {
    (0..=END_SECS / 60).map(|m| (m * 60, Step::Probe)).collect()
}

/// Rule 1's order, written out again independently of the library.
fn rank(show_as: ShowAs) -> u8 {
    match show_as {
        ShowAs::Oof => 5,
        ShowAs::Busy => 4,
        ShowAs::WorkingElsewhere => 3,
        ShowAs::Tentative => 2,
        ShowAs::Free => 1,
        ShowAs::Unknown => 0,
    }
}

/// What the calendar asks for at `t`: the mapped status of the highest-ranked active entry.
fn calendar_at(list: &[CalendarEntry], mapping: &ShowAsMapping, t: Timestamp) -> Option<Status> {
    list.iter()
        .filter(|e| !e.is_cancelled && e.start <= t && t < e.end)
        .filter(|e| mapping.get(e.show_as).is_some())
        .max_by_key(|e| rank(e.show_as))
        .and_then(|e| mapping.get(e.show_as))
}

/// The rules restated as a plain loop that looks at the calendar every minute (and at every
/// event), with none of the machine's boundary arithmetic.
#[derive(Debug)]
struct Oracle {
    status: Status,
    source: StatusSource,
    /// (status to restore, its source, overridden)
    block: Option<(Status, StatusSource, bool)>,
}

impl Oracle {
    fn look(&mut self, list: &[CalendarEntry], mapping: &ShowAsMapping, t: Timestamp) {
        let calendar_may_write =
            |o: &Oracle, overridden: bool| !overridden && o.status != BusinessTrip;
        match (calendar_at(list, mapping, t), self.block) {
            (None, None) => {}
            (Some(wanted), None) => {
                self.block = Some((self.status, self.source, false));
                if calendar_may_write(self, false) {
                    (self.status, self.source) = (wanted, StatusSource::Calendar);
                }
            }
            (Some(wanted), Some((_, _, overridden))) => {
                if calendar_may_write(self, overridden) {
                    (self.status, self.source) = (wanted, StatusSource::Calendar);
                }
            }
            (None, Some((status, source, overridden))) => {
                if calendar_may_write(self, overridden) {
                    (self.status, self.source) = (status, source);
                }
                self.block = None;
            }
        }
    }

    /// (status, source) at every whole minute of the day.
    fn run(scenario: &Scenario) -> Vec<(Status, StatusSource)> {
        let mut oracle = Oracle {
            status: scenario.initial.status,
            source: scenario.initial.source,
            block: None,
        };
        let mapping = &scenario.mapping;
        let mut list = scenario.entries.clone();
        let mut instants: Vec<i64> = (0..=END_SECS / 60).map(|m| m * 60).collect();
        instants.extend(scenario.events.iter().map(|(secs, _)| *secs));
        instants.sort_unstable();
        instants.dedup();
        let mut seen = Vec::new();
        for secs in instants {
            let t = at(secs);
            oracle.look(&list, mapping, t);
            for (_, event) in scenario.events.iter().filter(|(s, _)| *s == secs) {
                match event {
                    Event::User(status) => {
                        (oracle.status, oracle.source) = (*status, StatusSource::Manual);
                        if let Some(block) = &mut oracle.block {
                            block.2 = true;
                        }
                    }
                    Event::Edit(mutation) => {
                        mutation.apply(&mut list);
                        oracle.look(&list, mapping, t);
                    }
                }
            }
            if secs % 60 == 0 {
                seen.push((oracle.status, oracle.source));
            }
        }
        seen
    }
}

fn presence(state: &PresenceState) -> (Status, StatusSource, Option<Block>) {
    (state.status, state.source, state.block.clone())
}

proptest! {

    #[test]
    fn replaying_the_same_inputs_gives_the_same_statuses(scenario in scenario()) {
        let first = drive(&scenario, &every_minute());
        let second = drive(&scenario, &every_minute());
        prop_assert_eq!(&first.state, &second.state);
        prop_assert_eq!(&first.transitions, &second.transitions);
        let statuses = |o: &Outcome| o.probes.iter().map(|p| p.state.status).collect::<Vec<_>>();
        prop_assert_eq!(statuses(&first), statuses(&second));

        // The order entries arrive in does not matter either (edits pick entries by position,
        // so they are left out here).
        let mut unedited = scenario.clone();
        unedited.events.retain(|(_, event)| matches!(event, Event::User(_)));
        let mut reversed = unedited.clone();
        reversed.entries.reverse();
        let (forwards, backwards) = (drive(&unedited, &[]), drive(&reversed, &[]));
        prop_assert_eq!(&backwards.state, &forwards.state);
        prop_assert_eq!(&backwards.transitions, &forwards.transitions);
    }

    #[test]
    fn restarts_at_any_instants_change_nothing(scenario in scenario(), restarts in restarts()) {
        let straight = drive(&scenario, &[]);
        let extra: Vec<(i64, Step)> = restarts.iter().map(|&s| (s, Step::Restart)).collect();
        let restarted = drive(&scenario, &extra);
        prop_assert_eq!(&restarted.state, &straight.state);
        // Same transitions, so none lost and none applied twice.
        prop_assert_eq!(&restarted.transitions, &straight.transitions);
        prop_assert!(straight.transitions.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn event_driven_steps_equal_looking_every_minute(scenario in scenario()) {
        let minutely = drive(&scenario, &every_minute());
        let expected = Oracle::run(&scenario);
        let seen: Vec<(Status, StatusSource)> = minutely
            .probes
            .iter()
            .take(expected.len())
            .map(|p| (p.state.status, p.state.source))
            .collect();
        prop_assert_eq!(seen, expected);
        let straight = drive(&scenario, &[]);
        prop_assert_eq!(&minutely.state, &straight.state);
        prop_assert_eq!(&minutely.transitions, &straight.transitions);
    }

    #[test]
    fn business_trip_is_never_changed_by_the_calendar(scenario in scenario()) {
        let outcome = drive(&scenario, &every_minute());
        for tr in &outcome.transitions {
            if tr.from == BusinessTrip || tr.to == BusinessTrip {
                prop_assert_eq!(tr.reason, TransitionReason::UserSet, "{:?}", tr);
            }
        }
        for pair in outcome.probes.windows(2) {
            let (before, after) = (&pair[0].state, &pair[1].state);
            if before.status == BusinessTrip && after.status != BusinessTrip {
                let user_acted = scenario.events.iter().any(|(secs, event)| {
                    matches!(event, Event::User(_))
                        && at(*secs) > before.as_of
                        && at(*secs) <= after.as_of
                });
                prop_assert!(user_acted, "{:?} -> {:?}", before, after);
            }
        }
    }

    #[test]
    fn without_user_actions_the_status_before_the_first_entry_returns(scenario in scenario()) {
        let mut scenario = scenario;
        scenario.events.retain(|(_, event)| matches!(event, Event::Edit(_)));
        let outcome = drive(&scenario, &[]);
        prop_assert_eq!(outcome.state.status, scenario.initial.status);
        prop_assert_eq!(outcome.state.source, scenario.initial.source);
        prop_assert_eq!(outcome.state.block, None);
    }

    #[test]
    fn an_active_mapped_entry_sets_the_status_unless_overridden_or_on_business_trip(
        scenario in scenario()
    ) {
        let outcome = drive(&scenario, &every_minute());
        for probe in &outcome.probes {
            let state = &probe.state;
            match calendar_at(&probe.entries, &scenario.mapping, state.as_of) {
                None => prop_assert_eq!(&state.block, &None, "at {}", state.as_of),
                Some(wanted) => {
                    prop_assert!(state.block.is_some(), "at {}", state.as_of);
                    if !state.is_overridden() && state.status != BusinessTrip {
                        prop_assert_eq!(state.status, wanted, "at {}", state.as_of);
                        prop_assert_eq!(state.source, StatusSource::Calendar);
                    }
                }
            }
        }
    }

    #[test]
    fn next_transition_and_until_are_exact(scenario in scenario()) {
        let every_five_minutes: Vec<(i64, Step)> =
            (0..=END_SECS / 300).map(|k| (k * 300, Step::Probe)).collect();
        let outcome = drive(&scenario, &every_five_minutes);
        let mapping = &scenario.mapping;
        for probe in &outcome.probes {
            let (state, list) = (&probe.state, &probe.entries);
            // Only starts and ends can change anything, so looking there is looking everywhere.
            let mut boundaries: Vec<Timestamp> = list
                .iter()
                .flat_map(|e| [e.start, e.end])
                .filter(|&b| b > state.as_of)
                .collect();
            boundaries.sort_unstable();
            boundaries.dedup();
            let later = |t: Timestamp| advance(state, list, mapping, t).state;
            let expected_next = boundaries
                .iter()
                .copied()
                .find(|&b| presence(&later(b)) != presence(state));
            prop_assert_eq!(
                next_transition(state, list, mapping, state.as_of),
                expected_next,
                "from {:?}", state
            );
            let expected_until = boundaries
                .iter()
                .copied()
                .find(|&b| later(b).status != state.status);
            prop_assert_eq!(state.until, expected_until, "from {:?}", state);
        }
    }
}
