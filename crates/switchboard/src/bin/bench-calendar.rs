//! Calendar sync benchmark: every in-scope user's calendar (a generated, realistic week) of an
//! emulated tenant into an empty store, then a polling run, then targeted single-mailbox reads
//! (what a change notification costs), then transitions fired by the real presence timer while
//! polling runs keep the store busy. Reports Graph requests (per run and extrapolated per hour),
//! wall time, peak memory of this process (the emulator runs in a child process so its memory
//! is not counted) and transition lateness (when a change reached a subscriber − when it was
//! due). Users are synced first and not measured.
//!
//!     cargo run --release -p switchboard --bin bench-calendar -- --users 10000
//!
//! Lateness: extra short entries (Show as oof) are added through the emulator control API to
//! `--spread` users, starting at instants spread over `--spread-secs` and ending 15–60 s later,
//! plus `--burst` users whose entries all start at the same whole second and end together 30 s
//! later (meetings start on the hour). A polling run picks them up before the first is due;
//! further polling runs go on back to back while they fall due.

use anyhow::bail;
use clap::Parser;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use switchboard::bench;
use switchboard_core::calendar::PresenceChange;
use switchboard_core::users::RunRequest;
use tokio::sync::broadcast::error::RecvError;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Database URL; default a fresh SQLite file.
    #[arg(long)]
    database_url: Option<String>,
    /// Internal: run as the emulator child.
    #[arg(long, hide = true)]
    emulator_child: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Users given an extra entry at spread-out instants.
    #[arg(long, default_value_t = 2_000)]
    spread: usize,
    /// Over how many seconds the spread entries start.
    #[arg(long, default_value_t = 60)]
    spread_secs: u64,
    /// Users given an extra entry that starts at one and the same instant.
    #[arg(long, default_value_t = 1_000)]
    burst: usize,
    /// Single-mailbox reads measured for the notification path.
    #[arg(long, default_value_t = 200)]
    notification_samples: usize,
    /// Assumed calendar changes per user per working day, for the notification estimate.
    #[arg(long, default_value_t = 5.0)]
    changes_per_user_day: f64,
    /// Length of the working day those changes fall in, hours.
    #[arg(long, default_value_t = 10.0)]
    working_hours: f64,
}

/// Graph requests in the stats: (all `/v1.0/` requests, of which `$batch` posts, items inside
/// the batches).
fn graph_requests(stats: &Value) -> (u64, u64, u64) {
    let mut all = 0;
    let mut batches = 0;
    for (route, by_status) in stats["routes"].as_object().into_iter().flatten() {
        if !route.contains("/v1.0/") {
            continue;
        }
        let n: u64 = by_status
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, n)| n.as_u64())
            .sum();
        all += n;
        if route.contains("$batch") {
            batches += n;
        }
    }
    (all, batches, stats["batch_total"].as_u64().unwrap_or(0))
}

/// Graph's dateTime: UTC wall clock with 7 fractional digits.
fn graph_date_time(at: Timestamp) -> Value {
    let dt = at.to_zoned(TimeZone::UTC).datetime();
    json!({
        "dateTime": format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.subsec_nanosecond() / 100
        ),
        "timeZone": "UTC",
    })
}

/// One added entry.
#[derive(Debug, Clone)]
struct Planned {
    user: String,
    number: String,
    start: Timestamp,
    end: Timestamp,
    burst: bool,
}

/// Adds the entry; `false` when the user has no mailbox (409).
async fn add_entry(http: &reqwest::Client, emulator: &str, p: &Planned) -> anyhow::Result<bool> {
    let response = http
        .post(format!("{emulator}/_emulator/users/{}/events", p.user))
        .json(&json!({
            "subject": "Benchmark block",
            "showAs": "oof",
            "start": graph_date_time(p.start),
            "end": graph_date_time(p.end),
        }))
        .send()
        .await?;
    match response.status() {
        s if s.is_success() => Ok(true),
        reqwest::StatusCode::CONFLICT => Ok(false),
        s => bail!(
            "the emulator refused an event for {}: {s} {}",
            p.user,
            response.text().await.unwrap_or_default()
        ),
    }
}

/// p50/p99/max and count of millisecond samples.
fn summary(samples: &mut [f64]) -> String {
    if samples.is_empty() {
        return "no samples".into();
    }
    samples.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        let i = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i]
    };
    format!(
        "p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms  (n = {})",
        pick(0.50),
        pick(0.99),
        samples[samples.len() - 1],
        samples.len()
    )
}

fn ms(d: SignedDuration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.emulator_child {
        return bench::emulator_child(args.users, args.seed).await;
    }
    let bench = bench::start(args.users, args.seed, args.database_url.clone()).await?;
    let services = &bench.services;
    let (_http, emulator) = (bench.http.clone(), bench.emulator.clone());
    let users = services
        .user_sync
        .run(RunRequest {
            full: true,
            dry_run: false,
            actor: "sync:users (started by bench)".into(),
        })
        .await?;
    let config = services.calendar_sync.config().await?;

    // Every status change from here on, stamped when it reached this subscriber.
    let mut changes_rx = services.presence.subscribe();
    let (stop_recording, mut recording_stopped) = tokio::sync::oneshot::channel::<()>();
    let recorder = tokio::spawn(async move {
        let mut seen: Vec<(Timestamp, PresenceChange)> = Vec::new();
        let mut lagged = 0u64;
        loop {
            tokio::select! {
                received = changes_rx.recv() => match received {
                    Ok(change) => seen.push((Timestamp::now(), change)),
                    Err(RecvError::Lagged(n)) => lagged += n,
                    Err(RecvError::Closed) => break,
                },
                _ = &mut recording_stopped => break,
            }
        }
        (seen, lagged)
    });
    // The real presence timer, as the binary runs it.
    let timer = tokio::spawn(switchboard::presence::fire_transitions(
        services.presence.clone(),
        services.clock.clone(),
        services.leadership.clone(),
    ));

    let http = reqwest::Client::new();
    let polling = || RunRequest {
        full: false,
        dry_run: false,
        actor: "sync:calendar (started by bench)".into(),
    };

    // 1. Full sync into an empty store.
    bench.clear_stats().await?;
    let rss_before = bench::proc_status_kib("VmRSS:");
    let started = Instant::now();
    let full = services
        .calendar_sync
        .run(RunRequest {
            full: true,
            dry_run: false,
            actor: "sync:calendar (started by bench)".into(),
        })
        .await?;
    let full_time = started.elapsed();
    let peak_full = bench::proc_status_kib("VmHWM:");
    let (full_requests, full_batches, full_items) = graph_requests(&bench.stats().await?);
    let with_entries = services.presence.numbers_with_entries().await?.len();

    // 2. A polling run (what the schedule does every poll interval without notifications).
    bench.clear_stats().await?;
    let started = Instant::now();
    let poll = services.calendar_sync.run(polling()).await?;
    let poll_time = started.elapsed();
    let (poll_requests, poll_batches, poll_items) = graph_requests(&bench.stats().await?);

    // The synced users and their numbers.
    let mut synced: Vec<(String, String)> = Vec::new();
    let mut after = String::new();
    loop {
        let page = services
            .extensions
            .synced_user_ids_page((!after.is_empty()).then_some(after.as_str()), 1000)
            .await?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        synced.extend(page);
    }

    // 3. The notification path: one changed mailbox read on its own, as a notification asks.
    let samples: Vec<String> = synced
        .iter()
        .step_by((synced.len() / args.notification_samples.max(1)).max(1))
        .take(args.notification_samples)
        .map(|(id, _)| id.clone())
        .collect();
    bench.clear_stats().await?;
    let started = Instant::now();
    for id in &samples {
        services
            .calendar_sync
            .run_for_mailboxes(std::slice::from_ref(id))
            .await?;
    }
    let notify_time = started.elapsed();
    let (notify_requests, _, notify_items) = graph_requests(&bench.stats().await?);

    // 4. Lateness: entries that fall due during the next minutes.
    let lead = SignedDuration::try_from(poll_time * 2)? + SignedDuration::from_secs(30);
    let base = Timestamp::now() + lead;
    let spread_ms = i64::try_from(args.spread_secs * 1000)?;
    let spread_n = i64::try_from(args.spread.max(1))?;
    let burst_at = Timestamp::from_second(
        (base + SignedDuration::from_millis(spread_ms / 2)).as_second() + 1,
    )?;
    let mut planned: Vec<Planned> = Vec::new();
    let mut candidates = synced.iter();
    let mut no_mailbox = 0usize;
    let mut added_spread = 0usize;
    let mut added_burst = 0usize;
    let adding = Instant::now();
    while added_spread + added_burst < args.spread + args.burst {
        let want = args.spread + args.burst - added_spread - added_burst;
        let chunk: Vec<Planned> = candidates
            .by_ref()
            .take(want.min(256))
            .enumerate()
            .map(|(k, (user, number))| {
                let i = added_spread + added_burst + k;
                let burst = i >= args.spread;
                let (start, end) = if !burst {
                    let i = i64::try_from(i).unwrap_or(0);
                    let start = base + SignedDuration::from_millis(i * spread_ms / spread_n);
                    (
                        start,
                        start + SignedDuration::from_secs(15 + (i * 7919) % 46),
                    )
                } else {
                    (burst_at, burst_at + SignedDuration::from_secs(30))
                };
                Planned {
                    user: user.clone(),
                    number: number.clone(),
                    start,
                    end,
                    burst,
                }
            })
            .collect();
        if chunk.is_empty() {
            break;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for p in chunk {
            let (http, emulator) = (http.clone(), emulator.clone());
            tasks.spawn(async move {
                let added = add_entry(&http, &emulator, &p).await;
                (p, added)
            });
        }
        while let Some(done) = tasks.join_next().await {
            let (p, added) = done?;
            if added? {
                if p.burst {
                    added_burst += 1;
                } else {
                    added_spread += 1;
                }
                planned.push(p);
            } else {
                no_mailbox += 1;
            }
        }
    }
    let adding_time = adding.elapsed();
    let started = Instant::now();
    let pickup = services.calendar_sync.run(polling()).await?;
    let pickup_time = started.elapsed();
    let picked_up_at = Timestamp::now();
    let first_due = planned.iter().map(|p| p.start).min();
    if first_due.is_some_and(|first| picked_up_at > first) {
        println!(
            "  warning: the run that read the added entries ended {:.1} s after the first was due",
            ms(picked_up_at.duration_since(first_due.unwrap_or(picked_up_at))) / 1000.0
        );
    }
    let last_due = planned.iter().map(|p| p.end).max().unwrap_or(picked_up_at);
    let window_start = first_due.unwrap_or(picked_up_at);
    let window_end = last_due + SignedDuration::from_secs(5);

    // Polling runs back to back while the transitions fall due: the timer shares the store
    // and the presence lock with them.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (sync, stop) = (services.calendar_sync.clone(), stop.clone());
        tokio::spawn(async move {
            let mut runs = 0u64;
            let mut failures = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match sync
                    .run(RunRequest {
                        full: false,
                        dry_run: false,
                        actor: "sync:calendar (started by bench)".into(),
                    })
                    .await
                {
                    Ok(_) => runs += 1,
                    Err(_) => {
                        failures += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            (runs, failures)
        })
    };
    let wait = Duration::try_from(window_end.duration_since(Timestamp::now())).unwrap_or_default();
    tokio::time::sleep(wait).await;
    stop.store(true, Ordering::Relaxed);
    let (load_runs, load_failures) = load.await?;
    let peak = bench::proc_status_kib("VmHWM:");
    timer.abort();
    let _ = stop_recording.send(());
    let (seen, lagged) = recorder.await?;

    // Match the changes with the planned instants.
    let mut due_by_number: HashMap<&str, Vec<(Timestamp, bool)>> = HashMap::new();
    for p in &planned {
        let burst = p.burst;
        let v = due_by_number.entry(p.number.as_str()).or_default();
        v.push((p.start, burst));
        v.push((p.end, burst));
    }
    let mut spread_late = Vec::new();
    let mut burst_late = Vec::new();
    let mut at_minus_due = Vec::new();
    let mut other_late = Vec::new();
    for (received, change) in &seen {
        if change.at < window_start - SignedDuration::from_secs(1) || change.at > window_end {
            continue;
        }
        let nearest = due_by_number.get(change.number.as_str()).and_then(|dues| {
            dues.iter()
                .min_by_key(|(due, _)| change.at.duration_since(*due).abs())
                .copied()
        });
        match nearest {
            Some((due, burst))
                if change.at.duration_since(due).abs() < SignedDuration::from_secs(1) =>
            {
                at_minus_due.push(ms(change.at.duration_since(due)));
                let late = ms(received.duration_since(due));
                if burst {
                    burst_late.push(late);
                } else {
                    spread_late.push(late);
                }
            }
            _ => other_late.push(ms(received.duration_since(change.at))),
        }
    }
    let mut all_late: Vec<f64> = spread_late
        .iter()
        .chain(&burst_late)
        .chain(&other_late)
        .copied()
        .collect();

    // Requests per hour.
    let interval = f64::from(config.poll_interval_secs);
    let runs_per_hour = 3600.0 / interval.max(poll_time.as_secs_f64());
    let daily_full_per_hour = full_requests as f64 / 24.0;
    let polling_per_hour = runs_per_hour * poll_requests as f64 + daily_full_per_hour;
    let per_change = notify_requests as f64 / samples.len().max(1) as f64;
    let mailboxes = poll.run.processed as f64;
    let changes_per_hour = mailboxes * args.changes_per_user_day / args.working_hours;
    // Outlook grants event subscriptions up to 10,080 minutes; renewed at half of that.
    let renewals_per_hour = mailboxes / (10_080.0 / 2.0 / 60.0);
    let notifications_per_hour =
        changes_per_hour * per_change + renewals_per_hour + daily_full_per_hour;

    println!(
        "Calendar sync benchmark ({} extensions synced from {} users; window {} h; poll interval {} s)",
        users.run.counts.created, args.users, config.window_hours, config.poll_interval_secs
    );
    println!(
        "  full sync:     {:>8.2} s  {:>6} Graph requests ({} $batch, {} batched reads)  mailboxes read {}  skipped {} (no mailbox)  failed {}  extensions with entries {}",
        full_time.as_secs_f64(),
        full_requests,
        full_batches,
        full_items,
        full.run.processed,
        full.run.counts.skipped,
        full.failed.len(),
        with_entries
    );
    println!(
        "  polling run:   {:>8.2} s  {:>6} Graph requests ({} $batch, {} batched reads)  updated {}",
        poll_time.as_secs_f64(),
        poll_requests,
        poll_batches,
        poll_items,
        poll.run.counts.updated
    );
    println!(
        "  notification:  {:>8.2} ms per changed mailbox, {:.2} Graph requests ({:.2} batched reads) per change ({} single-mailbox reads)",
        notify_time.as_secs_f64() * 1000.0 / samples.len().max(1) as f64,
        per_change,
        notify_items as f64 / samples.len().max(1) as f64,
        samples.len()
    );
    println!(
        "  requests/hour, polling:       {:>8.0}  = {:.1} runs/h x {} + daily full sync {} / 24",
        polling_per_hour, runs_per_hour, poll_requests, full_requests
    );
    println!(
        "  requests/hour, notifications: {:>8.0}  (estimate) = {:.0} changes/h x {:.2} + {:.0} subscription renewals/h + daily full sync {} / 24; assumes {} changes per user per {}-hour working day",
        notifications_per_hour,
        changes_per_hour,
        per_change,
        renewals_per_hour,
        full_requests,
        args.changes_per_user_day,
        args.working_hours
    );
    println!(
        "  lateness setup: {} spread entries over {} s, {} burst entries all at one instant ({} users without mailbox passed over); added in {:.2} s, read by a polling run of {:.2} s (updated {}), {:.1} s before the first was due",
        added_spread,
        args.spread_secs,
        added_burst,
        no_mailbox,
        adding_time.as_secs_f64(),
        pickup_time.as_secs_f64(),
        pickup.run.counts.updated,
        ms(first_due
            .unwrap_or(picked_up_at)
            .duration_since(picked_up_at))
            / 1000.0
    );
    println!(
        "  under load:    {} polling runs back to back during the {:.0} s window ({} refused); {} changes received in the window, {} lagged",
        load_runs,
        ms(window_end.duration_since(window_start)) / 1000.0,
        load_failures,
        all_late.len(),
        lagged
    );
    println!(
        "  lateness (received - due), spread entries: {}  of {} transitions planned",
        summary(&mut spread_late),
        added_spread * 2
    );
    println!(
        "  lateness (received - due), burst entries:  {}  of {} transitions planned",
        summary(&mut burst_late),
        added_burst * 2
    );
    println!(
        "  lateness (received - at), generated meetings in the window: {}",
        summary(&mut other_late)
    );
    println!(
        "  lateness, all changes in the window:        {}",
        summary(&mut all_late)
    );
    println!(
        "  at - due (the change's own due time vs the entry's): {}",
        summary(&mut at_minus_due)
    );
    println!(
        "  memory:        RSS before {} MiB, peak after the full sync {} MiB, peak overall {} MiB (this process; emulator excluded)",
        rss_before / 1024,
        peak_full / 1024,
        peak / 1024
    );
    Ok(())
}
