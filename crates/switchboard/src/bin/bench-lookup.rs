//! Caller-ID lookup benchmark: a million phonebook entries in the in-memory index, then
//! lookups in-process (time per lookup) and over HTTP on loopback through the real server and
//! its bearer-token auth (lookups per second, latency percentiles). The load generator runs in
//! this process, so on a 2-core machine it shares the CPU with the server it measures.
//!
//!     cargo run --release -p switchboard --bin bench-lookup -- --entries 1000000

use anyhow::Context;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard::app;
use switchboard::commands::admin;
use switchboard::config::BootstrapConfig;
use switchboard_core::contacts::phone::normalise;
use switchboard_core::contacts::{
    Book, EntryOrigin, PhoneKind, PhoneNumber, PhonebookEntry, PhonebookIndex,
};

#[derive(Debug, Parser)]
struct Args {
    /// Phonebook entries in the index.
    #[arg(long, default_value_t = 1_000_000)]
    entries: usize,
    /// Entries per personal phonebook (the number of books follows).
    #[arg(long, default_value_t = 100)]
    per_book: usize,
    /// Concurrent keep-alive connections of the HTTP load.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// How long the HTTP load runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
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

/// A small deterministic generator (no need for cryptographic randomness here).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// The i-th contact number, as a person would type it in the owner's region (GB), and the
/// region-independent form a trunk would present.
fn number(i: usize) -> (String, String) {
    let n = i as u64;
    match i % 3 {
        // London landlines: 020 7946 xxxx … spread over 020 3xxx / 7xxx / 8xxx.
        0 => {
            let local = 30_000_000 + (n * 7) % 59_999_999;
            (
                format!("020 {} {:04}", local / 10_000, local % 10_000),
                format!("+4420{local}"),
            )
        }
        // UK mobiles.
        1 => {
            let sub = 100_000_000 + (n * 13) % 899_999_999;
            (
                format!("07{} {:06}", sub / 1_000_000, sub % 1_000_000),
                format!("+447{sub}"),
            )
        }
        // Berlin numbers written internationally.
        _ => {
            let sub = 10_000_000 + (n * 11) % 89_999_999;
            (format!("+49 30 {sub}"), format!("+4930{sub}"))
        }
    }
}

fn entry(book: usize, i: usize, at: jiff::Timestamp) -> PhonebookEntry {
    let (raw, _) = number(i);
    let e164 = normalise(&raw, "GB");
    PhonebookEntry {
        book: Book::Extension(format!("{}", 10_000 + book)),
        mailbox_id: format!("mailbox-{book}"),
        contact_id: format!("contact-{i}"),
        folder_id: String::new(),
        display_name: format!("Contact {i}"),
        first_name: "Contact".into(),
        last_name: format!("{i}"),
        company: String::new(),
        department: String::new(),
        job_title: String::new(),
        emails: Vec::new(),
        phones: vec![PhoneNumber {
            kind: PhoneKind::Business,
            raw,
            e164,
        }],
        origin: EntryOrigin::Outlook,
        updated_at: at,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn fill(index: &PhonebookIndex, args: &Args) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now();
    let books = args.entries.div_ceil(args.per_book.max(1));
    let rss_before = proc_status_kib("VmRSS:");
    let started = Instant::now();
    for i in 0..args.entries {
        index.upsert(&entry(i / args.per_book.max(1), i, now));
    }
    let took = started.elapsed();
    let rss_after = proc_status_kib("VmRSS:");
    anyhow::ensure!(index.len() >= args.entries / 2, "the index did not fill");
    println!(
        "index: {} entries in {books} books built in {:.2} s; resident memory +{} MiB (now {} MiB)",
        args.entries,
        took.as_secs_f64(),
        rss_after.saturating_sub(rss_before) / 1024,
        rss_after / 1024
    );
    Ok(())
}

fn in_process(index: &PhonebookIndex, args: &Args) {
    let mut rng = Lcg(42);
    let samples = 200_000;
    let mut latencies = Vec::with_capacity(samples);
    let mut hits = 0u64;
    let started = Instant::now();
    for _ in 0..samples {
        let i = (rng.next() as usize) % args.entries;
        let (_, presented) = number(i);
        let callee = format!("{}", 10_000 + i / args.per_book.max(1));
        let t = Instant::now();
        let hit = index.lookup(&presented, Some(&callee));
        latencies.push(t.elapsed());
        hits += u64::from(hit.is_some());
    }
    let total = started.elapsed();
    latencies.sort_unstable();
    println!(
        "in-process: {samples} lookups, {hits} found; mean {:.2} µs, p50 {:.2} µs, p99 {:.2} µs ({:.0} lookups/s on one core incl. request building)",
        latencies.iter().sum::<Duration>().as_secs_f64() * 1e6 / samples as f64,
        percentile(&latencies, 0.50).as_secs_f64() * 1e6,
        percentile(&latencies, 0.99).as_secs_f64() * 1e6,
        samples as f64 / total.as_secs_f64()
    );
}

async fn connection_load(
    addr: std::net::SocketAddr,
    token: Arc<str>,
    entries: usize,
    per_book: usize,
    seed: u64,
    until: Instant,
) -> anyhow::Result<(Vec<Duration>, u64)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    let mut rng = Lcg(seed);
    let mut latencies = Vec::with_capacity(200_000);
    let mut not_ok = 0u64;
    let auth = format!("Bearer {token}");
    while Instant::now() < until {
        let i = (rng.next() as usize) % entries;
        let (raw, _) = number(i);
        let callee = 10_000 + i / per_book.max(1);
        // The number as a person typed it; the callee's region reads it.
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("number", &raw)
            .append_pair("extension", &callee.to_string())
            .finish();
        let request = hyper::Request::get(format!("/api/v1/lookup?{query}"))
            .header("host", addr.to_string())
            .header("authorization", auth.as_str())
            .body(Empty::<Bytes>::new())?;
        let t = Instant::now();
        let response = sender.send_request(request).await?;
        let status = response.status();
        let _ = response.into_body().collect().await?;
        latencies.push(t.elapsed());
        if status != hyper::StatusCode::OK {
            not_ok += 1;
        }
    }
    Ok((latencies, not_ok))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir =
        std::env::temp_dir().join(format!("sb-bench-lookup-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let listener = app::bind("127.0.0.1:0".parse()?).await?;
    let addr = listener.local_addr()?;
    let unreachable: url::Url = "http://127.0.0.1:9".parse()?;
    let cfg = BootstrapConfig {
        listen: addr,
        database_url: format!("sqlite://{}", dir.join("bench.db").display()),
        data_dir: dir.clone(),
        public_url: None,
        graph_url: unreachable.clone(),
        login_url: unreachable,
        graph_scope: "https://graph.microsoft.com/.default".into(),
        certificate_subject: "Switchboard Bench".into(),
        certificate_validity_days: 30,
        log_format: "text".into(),
    };
    let built = app::build(&cfg).await?;
    let services = built.services;
    let now = jiff::Timestamp::now();
    admin::create(services.store.as_ref(), "bench", "bench password 123", now).await?;
    let token: Arc<str> = admin::create_token(services.store.as_ref(), "bench", "bench", None, now)
        .await?
        .into();
    services.phonebook_index.set_default_region("GB");

    fill(&services.phonebook_index, &args)?;
    in_process(&services.phonebook_index, &args);

    let server = tokio::spawn(app::serve(listener, built.router, std::future::pending()));
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        tasks.push(tokio::spawn(connection_load(
            addr,
            token.clone(),
            args.entries,
            args.per_book,
            1000 + c as u64,
            until,
        )));
    }
    let mut latencies = Vec::new();
    let mut not_ok = 0;
    for t in tasks {
        let (l, n) = t.await.context("load task")??;
        latencies.extend(l);
        not_ok += n;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    println!(
        "HTTP: {} lookups over {} connections in {:.1} s = {:.0} lookups/s; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} answers not 200",
        latencies.len(),
        args.connections,
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        not_ok
    );
    println!(
        "peak resident memory: {} MiB",
        proc_status_kib("VmHWM:") / 1024
    );
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
