//! What the benchmark binaries (`src/bin/bench-*.rs`) share: the emulator in a child process,
//! so that only Switchboard's memory is counted, the app on a fresh database connected the way
//! an admin would, and readings of this process' memory.

use crate::app::{self, Services};
use crate::config::BootstrapConfig;
use crate::demo::connect_like_an_admin;
use anyhow::{Context, bail};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The hidden flag that makes a benchmark binary run as its own emulator child.
pub const EMULATOR_CHILD_FLAG: &str = "--emulator-child";

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running benchmark setup; the emulator child and the data directory go with it.
pub struct Bench {
    /// The emulator's base URL (control API under `/_emulator`).
    pub emulator: String,
    pub services: Services,
    pub http: reqwest::Client,
    dir: PathBuf,
    _child: ChildGuard,
}

impl std::fmt::Debug for Bench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bench")
            .field("emulator", &self.emulator)
            .finish_non_exhaustive()
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// In the child: serves an emulated tenant until the parent closes our stdin.
pub async fn emulator_child(users: usize, seed: u64) -> anyhow::Result<()> {
    let emulator = graph_emulator::RunningEmulator::start(graph_emulator::EmulatorConfig {
        listen: "127.0.0.1:0".parse()?,
        users,
        seed,
        ..Default::default()
    })
    .await?;
    println!("{} {}", emulator.base_url(), emulator.tenant_domain());
    let _ =
        tokio::task::spawn_blocking(|| std::io::stdin().lock().read_line(&mut String::new())).await;
    Ok(())
}

/// Starts this executable again as the emulator child (`--emulator-child --users N --seed S`),
/// then the app on `database_url` (default: a fresh SQLite file) with its server, and connects
/// it to the emulated tenant.
pub async fn start(users: usize, seed: u64, database_url: Option<String>) -> anyhow::Result<Bench> {
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            EMULATOR_CHILD_FLAG,
            "--users",
            &users.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the emulator child")?;
    let stdout = child.stdout.take().context("child stdout")?;
    let guard = ChildGuard(child);
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
        database_url: database_url
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
    Ok(Bench {
        emulator,
        services,
        http: reqwest::Client::new(),
        dir,
        _child: guard,
    })
}

/// A `/proc/self/status` field in KiB (`VmRSS:`, `VmHWM:`); 0 where there is none.
pub fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

impl Bench {
    /// The emulator's request counts.
    pub async fn stats(&self) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}/_emulator/stats", self.emulator))
            .send()
            .await?
            .json()
            .await?)
    }

    pub async fn clear_stats(&self) -> anyhow::Result<()> {
        self.http
            .delete(format!("{}/_emulator/stats", self.emulator))
            .send()
            .await?;
        Ok(())
    }
}

/// Graph requests on the wire (a `$batch` counts once) in emulator stats.
pub fn graph_requests(stats: &Value) -> u64 {
    stats["routes"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(route, _)| route.contains("/v1.0/"))
        .flat_map(|(_, by_status)| by_status.as_object().into_iter().flatten())
        .filter_map(|(_, n)| n.as_u64())
        .sum()
}
