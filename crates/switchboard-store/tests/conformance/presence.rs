//! Calendar entries and presence states: what calendar sync and the presence scheduler write and
//! read back after a restart.

use crate::extensions::fields;
use crate::{Ctx, ts};
use jiff::{SignedDuration, Timestamp};
use switchboard_core::ports::StoreError;
use switchboard_core::presence::{
    Block, CalendarEntry, PresenceState, Remembered, ShowAs, Status, StatusSource,
};
use switchboard_store::Engine;

const T0: &str = "2026-06-01T08:00:00.123Z";

/// A Graph-like event id (Graph's are about 150 characters of base64).
fn event_id(n: usize) -> String {
    format!("AAMkAGI2TG93AAABEgAQA{n:0>130}=")
}

fn at(minutes: i64) -> Timestamp {
    ts(T0) + SignedDuration::from_mins(minutes)
}

/// A busy, timed, not cancelled entry from `start` to `end` minutes after T0.
fn entry(id: &str, start: i64, end: i64) -> CalendarEntry {
    CalendarEntry {
        id: id.into(),
        start: at(start),
        end: at(end),
        show_as: ShowAs::Busy,
        is_all_day: false,
        is_cancelled: false,
    }
}

/// Inside a block that made the user Away, restoring Available (default), not overridden.
fn in_block(entry_id: &str, as_of: i64) -> PresenceState {
    PresenceState {
        status: Status::Away,
        source: StatusSource::Calendar,
        block: Some(Block {
            started_at: at(0),
            ends_at: at(60),
            restore: Remembered {
                status: Status::Available,
                source: StatusSource::Default,
            },
            entry_id: entry_id.into(),
            overridden_at: None,
        }),
        until: Some(at(60)),
        as_of: at(as_of),
    }
}

async fn extension(ctx: &Ctx<'_>, number: &str) {
    ctx.ext
        .create_local_extension(number, &fields("Ada"), "admin:alice", ts(T0))
        .await
        .unwrap();
}

async fn entries(ctx: &Ctx<'_>, number: &str) -> Vec<CalendarEntry> {
    ctx.presence.calendar_entries(number).await.unwrap()
}

async fn load(ctx: &Ctx<'_>, number: &str) -> Option<PresenceState> {
    ctx.presence.load_presence(number).await.unwrap()
}

/// Entries sorted as the store returns them: by start, then id (bytewise).
fn sorted(mut list: Vec<CalendarEntry>) -> Vec<CalendarEntry> {
    list.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
    list
}

/// Conformance case: every field of entries and states comes back as saved, including a block
/// with an override, every showAs, all-day and cancelled entries, empty and inverted spans,
/// and the `None`s.
pub async fn calendar_and_presence_round_trip(ctx: &Ctx<'_>) {
    extension(ctx, "100").await;
    extension(ctx, "101").await;
    assert_eq!(load(ctx, "100").await, None);
    assert!(entries(ctx, "100").await.is_empty());

    let mut list: Vec<CalendarEntry> = ShowAs::ALL
        .into_iter()
        .enumerate()
        .map(|(i, show_as)| {
            let minutes = i64::try_from(i).unwrap() * 30;
            CalendarEntry {
                show_as,
                ..entry(&event_id(i), minutes, minutes + 45)
            }
        })
        .collect();
    list.push(CalendarEntry {
        id: "all-day".into(),
        start: ts("2026-06-02T22:00:00Z"),
        end: ts("2026-06-03T22:00:00Z"),
        show_as: ShowAs::Oof,
        is_all_day: true,
        is_cancelled: false,
    });
    list.push(CalendarEntry {
        is_cancelled: true,
        ..entry("cancelled", 10, 20)
    });
    // Never active, but still an entry the calendar holds.
    list.push(entry("inverted", 500, 400));
    list.push(entry("empty", 600, 600));
    // Far from now, with milliseconds, and an id in other scripts.
    list.push(CalendarEntry {
        start: ts("1999-12-31T23:59:59.999Z"),
        end: ts("2099-01-01T00:00:00.001Z"),
        ..entry("ünïcødé-事件", 0, 0)
    });

    let overridden = PresenceState {
        status: Status::Lunch,
        source: StatusSource::Manual,
        block: Some(Block {
            started_at: ts("2026-06-01T08:00:00.001Z"),
            ends_at: ts("2026-06-01T09:15:00.999Z"),
            restore: Remembered {
                status: Status::BusinessTrip,
                source: StatusSource::Manual,
            },
            entry_id: event_id(3),
            overridden_at: Some(ts("2026-06-01T08:20:00.555Z")),
        }),
        until: None,
        as_of: ts("2026-06-01T08:20:00.555Z"),
    };
    ctx.presence
        .save_calendar("100", &list, &overridden)
        .await
        .unwrap();
    assert_eq!(entries(ctx, "100").await, sorted(list.clone()));
    assert_eq!(load(ctx, "100").await, Some(overridden.clone()));

    // Every status and source, with and without a block, `until` set and not.
    for (i, status) in Status::ALL.into_iter().enumerate() {
        let source = [
            StatusSource::Manual,
            StatusSource::Calendar,
            StatusSource::Default,
        ][i % 3];
        let plain = PresenceState {
            until: (i % 2 == 0).then(|| at(90)),
            ..PresenceState::new(status, source, at(i64::try_from(i).unwrap()))
        };
        ctx.presence.save_presence("101", &plain).await.unwrap();
        assert_eq!(load(ctx, "101").await, Some(plain));
        let mut blocked = in_block("e", 5);
        blocked.status = status;
        blocked.source = source;
        if let Some(block) = blocked.block.as_mut() {
            block.restore = Remembered { status, source };
        }
        ctx.presence.save_presence("101", &blocked).await.unwrap();
        assert_eq!(load(ctx, "101").await, Some(blocked));
    }
    // The other extension was not touched.
    assert_eq!(load(ctx, "100").await, Some(overridden));
    assert!(entries(ctx, "101").await.is_empty());
}

/// Conformance case: saving a calendar replaces the extension's entries (none of the old ones
/// survive, changed ones take their new values) and overwrites its state; other extensions
/// keep theirs.
pub async fn save_calendar_replaces_the_entries(ctx: &Ctx<'_>) {
    extension(ctx, "100").await;
    extension(ctx, "200").await;
    let first = vec![entry("a", 0, 30), entry("b", 60, 90), entry("c", 120, 150)];
    ctx.presence
        .save_calendar("100", &first, &in_block("a", 1))
        .await
        .unwrap();
    let theirs = vec![entry("a", 0, 10), entry("z", 5, 15)];
    ctx.presence
        .save_calendar("200", &theirs, &in_block("a", 2))
        .await
        .unwrap();

    // b moved and became oof, c is gone, d is new.
    let second = vec![
        CalendarEntry {
            show_as: ShowAs::Oof,
            is_all_day: true,
            ..entry("b", 30, 300)
        },
        entry("d", 200, 230),
        entry("a", 0, 30),
    ];
    let state = PresenceState::new(Status::DoNotDisturb, StatusSource::Calendar, at(31));
    ctx.presence
        .save_calendar("100", &second, &state)
        .await
        .unwrap();
    assert_eq!(entries(ctx, "100").await, sorted(second));
    assert_eq!(load(ctx, "100").await, Some(state.clone()));
    assert_eq!(entries(ctx, "200").await, theirs);
    assert_eq!(load(ctx, "200").await, Some(in_block("a", 2)));

    // An empty calendar clears the entries and still saves the state.
    let later = PresenceState::new(Status::Available, StatusSource::Calendar, at(400));
    ctx.presence
        .save_calendar("100", &[], &later)
        .await
        .unwrap();
    assert!(entries(ctx, "100").await.is_empty());
    assert_eq!(load(ctx, "100").await, Some(later));
    assert_eq!(entries(ctx, "200").await.len(), 2);
}

/// Conformance case: entries come back by start, then id in byte order (upper case before
/// lower case, digits before letters) on both engines, across several insert statements.
pub async fn entries_are_ordered_by_start_then_id(ctx: &Ctx<'_>) {
    extension(ctx, "100").await;
    let ids = ["b", "B", "a", "A", "_x", "-y", "9", "10", "ä", "aa"];
    // 50 entries: 10 ids at each of 5 starts, saved in scrambled order.
    let list: Vec<CalendarEntry> = (0..50)
        .map(|i| {
            let k = (i * 7) % 50;
            let start = i64::try_from(k / 10).unwrap() * 15;
            entry(&format!("{}{}", ids[k % 10], k / 10), start, start + 30)
        })
        .collect();
    ctx.presence
        .save_calendar("100", &list, &in_block("b0", 0))
        .await
        .unwrap();
    let got = entries(ctx, "100").await;
    assert_eq!(got, sorted(list));
    let first: Vec<&str> = got[..10].iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        first,
        [
            "-y0", "100", "90", "A0", "B0", "_x0", "a0", "aa0", "b0", "ä0"
        ]
    );
}

/// Conformance case: `list_presence` returns every saved state in the extension list's order
/// (shorter numbers first); extensions without a saved state are not listed.
pub async fn list_is_ordered_by_number(ctx: &Ctx<'_>) {
    assert!(ctx.presence.list_presence().await.unwrap().is_empty());
    let numbers = ["100", "99", "1000", "200", "101", "300"];
    for number in numbers {
        extension(ctx, number).await;
    }
    for (i, number) in numbers.into_iter().enumerate() {
        if number == "300" {
            continue;
        }
        let state = PresenceState::initial(at(i64::try_from(i).unwrap()));
        if i % 2 == 0 {
            ctx.presence.save_presence(number, &state).await.unwrap();
        } else {
            ctx.presence
                .save_calendar(number, &[entry("e", 0, 1)], &state)
                .await
                .unwrap();
        }
    }
    let listed = ctx.presence.list_presence().await.unwrap();
    let order: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(order, ["99", "100", "101", "200", "1000"]);
    for (number, state) in &listed {
        assert_eq!(load(ctx, number).await.as_ref(), Some(state));
    }
    assert_eq!(listed[0].1, PresenceState::initial(at(1)));
}

/// Conformance case: removing a calendar forgets the entries but keeps the status; it is
/// idempotent and leaves other extensions alone. Deleting the extension forgets both.
pub async fn remove_calendar_keeps_the_presence(ctx: &Ctx<'_>) {
    extension(ctx, "100").await;
    extension(ctx, "200").await;
    let state = in_block("a", 10);
    ctx.presence
        .save_calendar("100", &[entry("a", 0, 60), entry("b", 30, 60)], &state)
        .await
        .unwrap();
    ctx.presence
        .save_calendar("200", &[entry("a", 0, 60)], &state)
        .await
        .unwrap();

    ctx.presence.remove_calendar("100").await.unwrap();
    assert!(entries(ctx, "100").await.is_empty());
    assert_eq!(load(ctx, "100").await, Some(state.clone()));
    ctx.presence.remove_calendar("100").await.unwrap();
    ctx.presence.remove_calendar("404").await.unwrap();
    assert_eq!(entries(ctx, "200").await, [entry("a", 0, 60)]);
    assert_eq!(ctx.presence.list_presence().await.unwrap().len(), 2);

    assert!(
        ctx.ext
            .delete_extension("200", "admin:alice", at(100))
            .await
            .unwrap()
    );
    assert!(entries(ctx, "200").await.is_empty());
    assert_eq!(load(ctx, "200").await, None);
    let listed = ctx.presence.list_presence().await.unwrap();
    assert_eq!(listed, [("100".to_owned(), state)]);
}

/// Makes the database refuse the calendar entry `boom` and any presence saved as Lunch, like a
/// disk or constraint error in the middle of a save would.
async fn fail_on_boom_and_lunch(ctx: &Ctx<'_>) {
    let mut conn = ctx.raw().await;
    let sql = match ctx.engine() {
        Engine::Sqlite => {
            "CREATE TRIGGER calendar_boom BEFORE INSERT ON calendar_entries \
             WHEN NEW.event_id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END; \
             CREATE TRIGGER presence_lunch BEFORE INSERT ON presence \
             WHEN NEW.status = 'lunch' BEGIN SELECT RAISE(ABORT, 'lunch'); END;"
        }
        // A BEFORE INSERT trigger also fires for the insert of an upsert that then updates.
        Engine::Postgres => {
            "CREATE FUNCTION calendar_boom() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.event_id = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER calendar_boom BEFORE INSERT ON calendar_entries \
             FOR EACH ROW EXECUTE FUNCTION calendar_boom(); \
             CREATE FUNCTION presence_lunch() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.status = 'lunch' THEN RAISE EXCEPTION 'lunch'; END IF; \
             RETURN NEW; END $$; \
             CREATE TRIGGER presence_lunch BEFORE INSERT ON presence \
             FOR EACH ROW EXECUTE FUNCTION presence_lunch();"
        }
    };
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
}

/// Conformance case: a save that fails (an entry refused by the database after the state was
/// written, the old entries deleted and some new ones inserted; the state refused; an id
/// listed twice; an extension that does not exist) leaves the previous entries and state as
/// they were.
pub async fn a_failed_save_leaves_the_previous_calendar(ctx: &Ctx<'_>) {
    extension(ctx, "100").await;
    let old: Vec<CalendarEntry> = (0..5).map(|i| entry(&format!("old{i}"), i, 30)).collect();
    let old_state = in_block("old0", 3);
    ctx.presence
        .save_calendar("100", &old, &old_state)
        .await
        .unwrap();
    fail_on_boom_and_lunch(ctx).await;
    let intact = async || {
        assert_eq!(entries(ctx, "100").await, old);
        assert_eq!(load(ctx, "100").await, Some(old_state.clone()));
    };

    // 40 new entries: the first statement of 16 goes in, `boom` in the second one fails.
    let mut new: Vec<CalendarEntry> = (0..40_i64)
        .map(|i| entry(&event_id(usize::try_from(i).unwrap()), i, 90))
        .collect();
    new[20].id = "boom".into();
    let state = PresenceState::new(Status::Away, StatusSource::Calendar, at(40));
    let err = ctx
        .presence
        .save_calendar("100", &new, &state)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    assert!(err.to_string().contains("extension 100"), "{err}");
    intact().await;

    // The state is refused (it is written first).
    new[20].id = event_id(20);
    let lunch = PresenceState::new(Status::Lunch, StatusSource::Manual, at(40));
    assert!(
        ctx.presence
            .save_calendar("100", &new, &lunch)
            .await
            .is_err()
    );
    intact().await;

    // The same id twice.
    new[30].id = new[2].id.clone();
    let err = ctx
        .presence
        .save_calendar("100", &new, &state)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(err.to_string().contains(&new[2].id), "{err}");
    intact().await;

    // No such extension: nothing is written anywhere.
    let err = ctx
        .presence
        .save_calendar("404", &new[..3], &state)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no extension 404"), "{err}");
    let err = ctx.presence.save_presence("404", &state).await.unwrap_err();
    assert!(err.to_string().contains("no extension 404"), "{err}");
    assert!(entries(ctx, "404").await.is_empty());
    assert_eq!(load(ctx, "404").await, None);
    intact().await;
    // A failed state-only save keeps the old state too.
    assert!(ctx.presence.save_presence("100", &lunch).await.is_err());
    intact().await;

    // The good save then goes through.
    new[30].id = event_id(30);
    ctx.presence
        .save_calendar("100", &new, &state)
        .await
        .unwrap();
    assert_eq!(entries(ctx, "100").await, new);
    assert_eq!(load(ctx, "100").await, Some(state));
}

/// Conformance case: saves of the same extension racing each other all succeed, and what is
/// left is one whole save: its entries with its state, never a mix.
pub async fn concurrent_saves_do_not_mix(ctx: &Ctx<'_>) {
    extension(ctx, "100").await;
    let calendar = |k: i64| -> Vec<CalendarEntry> {
        (0..20)
            .map(|i| entry(&format!("k{k}-{i:02}"), i, 60))
            .collect()
    };
    let save = async |k: i64| {
        let state = PresenceState::new(Status::Away, StatusSource::Calendar, at(k));
        ctx.presence
            .save_calendar("100", &calendar(k), &state)
            .await
    };
    for round in 0..5 {
        let k = round * 4;
        let (a, b, c, d) = tokio::join!(save(k), save(k + 1), save(k + 2), save(k + 3));
        for result in [a, b, c, d] {
            result.unwrap();
        }
        let state = load(ctx, "100").await.unwrap();
        let winner = state.as_of.duration_since(at(0)).as_mins();
        assert!((k..k + 4).contains(&winner), "{state:?}");
        assert_eq!(entries(ctx, "100").await, calendar(winner));
    }
}

/// Conformance case: rows a port could not have written are reported as corrupt, naming the
/// column and the extension.
pub async fn corrupt_rows_are_reported(ctx: &Ctx<'_>) {
    extension(ctx, "100").await;
    ctx.presence
        .save_calendar("100", &[entry("a", 0, 30)], &in_block("a", 1))
        .await
        .unwrap();
    let mut conn = ctx.raw().await;
    let cases = [
        ("UPDATE presence SET status = 'sleeping'", "status"),
        (
            "UPDATE presence SET restore_status = 'dreaming'",
            "restore_status",
        ),
        ("UPDATE presence SET as_of = 9223372036854775807", "as_of"),
        (
            "UPDATE presence SET block_ends_at = -9223372036854775807",
            "block_ends_at",
        ),
    ];
    for (sql, name) in cases {
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        for err in [
            ctx.presence.load_presence("100").await.unwrap_err(),
            ctx.presence.list_presence().await.unwrap_err(),
        ] {
            let StoreError::Corrupt(message) = &err else {
                panic!("{sql}: expected Corrupt, got {err:?}");
            };
            assert!(message.contains(&format!("presence.{name}")), "{message}");
        }
        ctx.presence
            .save_presence("100", &in_block("a", 1))
            .await
            .unwrap();
    }
    sqlx::raw_sql("UPDATE calendar_entries SET start_at = 9223372036854775807")
        .execute(&mut conn)
        .await
        .unwrap();
    let err = ctx.presence.calendar_entries("100").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("calendar_entries.start_at")),
        "{err:?}"
    );
}

/// Conformance case: 10,000 extensions with 20 entries each, one `save_calendar` per extension
/// (200,000 entries), then the same again with every entry moved, then read back.
/// The times are printed, not asserted.
pub async fn ten_thousand_calendars_of_twenty_entries(ctx: &Ctx<'_>) {
    const USERS: usize = 10_000;
    const ENTRIES: usize = 20;
    let mut conn = ctx.raw().await;
    // Created in one statement: the extension writes are not what is timed here.
    sqlx::raw_sql(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999) \
         INSERT INTO extensions (number, origin, created_at, updated_at) \
         SELECT CAST(10000 + i AS TEXT), 'local', 0, 0 FROM n",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    let calendar = |user: usize, shift: i64| -> Vec<CalendarEntry> {
        (0..ENTRIES)
            .map(|e| {
                let start = i64::try_from(e).unwrap() * 120 + shift;
                CalendarEntry {
                    show_as: ShowAs::ALL[(user + e) % ShowAs::ALL.len()],
                    ..entry(&event_id(user * ENTRIES + e), start, start + 60)
                }
            })
            .collect()
    };
    let number = |user: usize| format!("{}", 10_000 + user);

    let mut timings = Vec::new();
    for (round, shift) in [("write", 0), ("replace", 15)] {
        let started = std::time::Instant::now();
        for user in 0..USERS {
            let list = calendar(user, shift);
            let state = in_block(&list[0].id, shift);
            ctx.presence
                .save_calendar(&number(user), &list, &state)
                .await
                .unwrap();
        }
        timings.push(format!("{round} {:?}", started.elapsed()));
    }
    let started = std::time::Instant::now();
    let listed = ctx.presence.list_presence().await.unwrap();
    timings.push(format!("list_presence {:?}", started.elapsed()));
    // A sample: reading all 10,000 back would double the case's time for little more proof.
    let started = std::time::Instant::now();
    for user in (0..USERS).step_by(10) {
        assert_eq!(entries(ctx, &number(user)).await, calendar(user, 15));
    }
    timings.push(format!(
        "{} × calendar_entries {:?}",
        USERS / 10,
        started.elapsed()
    ));
    eprintln!(
        "    {USERS} calendars of {ENTRIES} entries on {}: {}",
        ctx.engine(),
        timings.join(", ")
    );

    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calendar_entries")
        .fetch_one(&mut ctx.raw().await)
        .await
        .unwrap();
    assert_eq!(stored, i64::try_from(USERS * ENTRIES).unwrap());
    assert_eq!(listed.len(), USERS);
    for (user, (n, state)) in listed.iter().enumerate() {
        assert_eq!(n, &number(user));
        assert_eq!(state, &in_block(&event_id(user * ENTRIES), 15));
    }
}
