//! User sync benchmark: a full sync of an emulated tenant into an empty store, then an
//! incremental run after 1% of the users changed. Reports Graph requests (and the protocol's
//! minimum), wall time and peak memory of this process. The emulator runs in a child process so
//! its memory is not counted.
//!
//!     cargo run --release -p switchboard --bin bench-user-sync -- --users 100000

use clap::Parser;
use serde_json::{Value, json};
use std::time::Instant;
use switchboard::bench;
use switchboard_core::users::RunRequest;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// Database URL; default a fresh SQLite file.
    #[arg(long)]
    database_url: Option<String>,
    /// Internal: run as the emulator child.
    #[arg(long, hide = true)]
    emulator_child: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
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

    let http = reqwest::Client::new();
    let tenant: Value = http
        .get(format!("{emulator}/_emulator/tenant"))
        .send()
        .await?
        .json()
        .await?;
    bench.clear_stats().await?;
    let rss_before = bench::proc_status_kib("VmRSS:");

    let started = Instant::now();
    let full = services
        .user_sync
        .run(RunRequest {
            full: true,
            dry_run: false,
            actor: "sync:users (started by bench)".into(),
        })
        .await?;
    let full_time = started.elapsed();
    let peak_full = bench::proc_status_kib("VmHWM:");
    let full_stats = bench.stats().await?;
    let full_requests = bench::graph_requests(&full_stats);
    let listed = full.run.processed;
    let minimum = listed.div_ceil(999) + 1;

    // 1% of the users change their job title.
    let changes = (args.users / 100).max(1);
    let page: Value = http
        .get(format!("{emulator}/_emulator/users?limit={changes}"))
        .send()
        .await?
        .json()
        .await?;
    for u in page["value"].as_array().into_iter().flatten() {
        if let Some(id) = u["id"].as_str() {
            http.patch(format!("{emulator}/_emulator/users/{id}"))
                .json(&json!({"jobTitle": "Benchmark Engineer"}))
                .send()
                .await?;
        }
    }
    bench.clear_stats().await?;
    let started = Instant::now();
    let delta = services
        .user_sync
        .run(RunRequest {
            full: false,
            dry_run: false,
            actor: "sync:users (started by bench)".into(),
        })
        .await?;
    let delta_time = started.elapsed();
    let delta_requests = bench::graph_requests(&bench.stats().await?);
    let peak = bench::proc_status_kib("VmHWM:");

    println!(
        "User sync benchmark ({} users in the tenant, {} listed: members incl. disabled)",
        tenant["users"], listed
    );
    println!(
        "  full sync:        {:>8.2} s  {:>6} Graph requests (minimum {minimum})  created {} skipped {}",
        full_time.as_secs_f64(),
        full_requests,
        full.run.counts.created,
        full.run.counts.skipped
    );
    println!(
        "  1% change delta:  {:>8.2} s  {:>6} Graph requests  {} users in the delta, {} updated",
        delta_time.as_secs_f64(),
        delta_requests,
        delta.run.processed,
        delta.run.counts.updated
    );
    println!(
        "  memory:           RSS before the sync {} MiB, peak after the full sync {} MiB, peak overall {} MiB (this process; emulator excluded)",
        rss_before / 1024,
        peak_full / 1024,
        peak / 1024
    );
    Ok(())
}
