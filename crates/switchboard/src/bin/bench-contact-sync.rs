//! Contact sync benchmark: every user's contacts (all folders) of an emulated tenant into an
//! empty store, then an incremental run with nothing new. Reports Graph requests against the
//! `$batch` minimum, wall time and peak memory of this process (the emulator runs in a child
//! process so its memory is not counted). Users are synced first and not measured.
//!
//!     cargo run --release -p switchboard --bin bench-contact-sync -- --users 10000

use clap::Parser;
use serde_json::Value;
use std::time::Instant;
use switchboard::bench;
use switchboard_core::users::RunRequest;
use switchboard_graph::mailboxes::{MAX_BATCH_ITEMS, PAGE_SIZE};

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
}

/// Contact reads a mailbox needs at the least: its folder tree, then one page per
/// `PAGE_SIZE` contacts of every folder (an empty folder still answers one page). A mailbox
/// without Exchange costs the one read that finds out.
async fn minimum_reads(http: &reqwest::Client, emulator: &str, user: &str) -> anyhow::Result<u64> {
    let mailbox: Value = http
        .get(format!("{emulator}/_emulator/users/{user}/contacts"))
        .send()
        .await?
        .json()
        .await?;
    let Some(folders) = mailbox["folders"].as_array() else {
        return Ok(1);
    };
    let mut per_folder: std::collections::HashMap<&str, u64> = folders
        .iter()
        .filter_map(|f| f["id"].as_str())
        .map(|id| (id, 0))
        .collect();
    for c in mailbox["value"].as_array().into_iter().flatten() {
        if let Some(n) = c["parentFolderId"]
            .as_str()
            .and_then(|f| per_folder.get_mut(f))
        {
            *n += 1;
        }
    }
    let page = PAGE_SIZE as u64;
    Ok(1 + per_folder
        .values()
        .map(|n| (*n).max(1).div_ceil(page))
        .sum::<u64>())
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
    services.contact_sync.refresh_extensions().await?;

    let http = reqwest::Client::new();
    bench.clear_stats().await?;
    let rss_before = bench::proc_status_kib("VmRSS:");
    let started = Instant::now();
    let full = services
        .contact_sync
        .run(RunRequest {
            full: true,
            dry_run: false,
            actor: "sync:contacts (started by bench)".into(),
        })
        .await?;
    let full_time = started.elapsed();
    let peak_full = bench::proc_status_kib("VmHWM:");
    let full_stats = bench.stats().await?;
    let full_requests = bench::graph_requests(&full_stats);
    let full_items = full_stats["batch_total"].as_u64().unwrap_or(0);

    bench.clear_stats().await?;
    let started = Instant::now();
    let idle = services
        .contact_sync
        .run(RunRequest {
            full: false,
            dry_run: false,
            actor: "sync:contacts (started by bench)".into(),
        })
        .await?;
    let idle_time = started.elapsed();
    let idle_stats = bench.stats().await?;
    let peak = bench::proc_status_kib("VmHWM:");

    // The protocol's minimum, from what the tenant holds (read after the runs, so these reads
    // are not counted above).
    let mut min_reads = 0u64;
    let mut mailboxes = 0u64;
    let mut after = String::new();
    loop {
        let page = services
            .extensions
            .synced_user_ids_page((!after.is_empty()).then_some(after.as_str()), 64)
            .await?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        let reads = page.iter().map(|(id, _)| {
            let (http, emulator, id) = (http.clone(), emulator.clone(), id.clone());
            async move { minimum_reads(&http, &emulator, &id).await }
        });
        for n in futures_join(reads).await {
            min_reads += n?;
            mailboxes += 1;
        }
    }
    let min_batches = min_reads.div_ceil(MAX_BATCH_ITEMS as u64);
    let entries = services.phonebook_index.len();

    println!(
        "Contact sync benchmark ({} extensions synced from {} users; {mailboxes} mailboxes)",
        users.run.counts.created, args.users
    );
    println!(
        "  full sync:   {:>8.2} s  {:>6} Graph requests ({} batched reads); $batch minimum {min_batches} ({min_reads} reads) = {:.2}x  created {} skipped {} (no mailbox)",
        full_time.as_secs_f64(),
        full_requests,
        full_items,
        full_requests as f64 / min_batches.max(1) as f64,
        full.run.counts.created,
        full.run.counts.skipped
    );
    println!(
        "  idle delta:  {:>8.2} s  {:>6} Graph requests  created {} updated {} removed {}",
        idle_time.as_secs_f64(),
        bench::graph_requests(&idle_stats),
        idle.run.counts.created,
        idle.run.counts.updated,
        idle.run.counts.removed
    );
    println!(
        "  memory:      RSS before {} MiB, peak after the full sync {} MiB, peak overall {} MiB (this process incl. the caller-ID index of {entries} entries; emulator excluded)",
        rss_before / 1024,
        peak_full / 1024,
        peak / 1024
    );
    Ok(())
}

/// Runs the futures concurrently and returns their results in order.
async fn futures_join<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}
