//! User sync benchmark: a full sync of an emulated tenant into an empty store, then an
//! incremental run after 1% of the users changed. Reports Graph requests (and the protocol's
//! minimum), wall time and peak memory of this process. The emulator runs in a child process so
//! its memory is not counted.
//!
//!     cargo run --release -p switchboard --bin bench-user-sync -- --users 100000

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;
use switchboard::app;
use switchboard::config::BootstrapConfig;
use switchboard::demo::connect_like_an_admin;
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

struct ChildGuard(Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn stats(http: &reqwest::Client, emulator: &str) -> anyhow::Result<Value> {
    Ok(http
        .get(format!("{emulator}/_emulator/stats"))
        .send()
        .await?
        .json()
        .await?)
}

fn graph_requests(stats: &Value) -> u64 {
    stats["routes"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(route, _)| route.contains("/v1.0/"))
        .flat_map(|(_, by_status)| by_status.as_object().into_iter().flatten())
        .filter_map(|(_, n)| n.as_u64())
        .sum()
}

async fn emulator_child(users: usize, seed: u64) -> anyhow::Result<()> {
    let emulator = graph_emulator::RunningEmulator::start(graph_emulator::EmulatorConfig {
        listen: "127.0.0.1:0".parse()?,
        users,
        seed,
        ..Default::default()
    })
    .await?;
    println!("{} {}", emulator.base_url(), emulator.tenant_domain());
    // Until the parent closes our stdin.
    let _ =
        tokio::task::spawn_blocking(|| std::io::stdin().lock().read_line(&mut String::new())).await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.emulator_child {
        return emulator_child(args.users, args.seed).await;
    }
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "--emulator-child",
            "--users",
            &args.users.to_string(),
            "--seed",
            &args.seed.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the emulator child")?;
    let stdout = child.stdout.take().context("child stdout")?;
    let _guard = ChildGuard(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(emulator), Some(domain)) = (parts.next(), parts.next()) else {
        bail!("the emulator child did not report its URL");
    };
    let (emulator, domain) = (emulator.to_owned(), domain.to_owned());

    let dir = std::env::temp_dir().join(format!("sb-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let listener = app::bind("127.0.0.1:0".parse()?).await?;
    let emulator_url: url::Url = emulator.parse()?;
    let cfg = BootstrapConfig {
        listen: listener.local_addr()?,
        database_url: args
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display())),
        data_dir: dir.clone(),
        public_url: None,
        graph_url: emulator_url.clone(),
        login_url: emulator_url,
        graph_scope: "https://graph.microsoft.com/.default".into(),
        certificate_subject: "Switchboard Bench".into(),
        certificate_validity_days: 30,
        log_format: "text".into(),
    };
    let built = app::build(&cfg).await?;
    let console = format!("http://{}", cfg.listen);
    tokio::spawn(app::serve(listener, built.router, std::future::pending()));
    let services = built.services;
    connect_like_an_admin(&services, &emulator, &domain, &console).await?;

    let http = reqwest::Client::new();
    let tenant: Value = http
        .get(format!("{emulator}/_emulator/tenant"))
        .send()
        .await?
        .json()
        .await?;
    http.delete(format!("{emulator}/_emulator/stats"))
        .send()
        .await?;
    let rss_before = proc_status_kib("VmRSS:");

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
    let peak_full = proc_status_kib("VmHWM:");
    let full_stats = stats(&http, &emulator).await?;
    let full_requests = graph_requests(&full_stats);
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
    http.delete(format!("{emulator}/_emulator/stats"))
        .send()
        .await?;
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
    let delta_requests = graph_requests(&stats(&http, &emulator).await?);
    let peak = proc_status_kib("VmHWM:");

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
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
