//! A faithful offline emulator of Microsoft Entra ID (client-credentials tokens with a
//! certificate, admin consent) and Microsoft Graph v1.0 (organization, users, users delta,
//! groups and their members, Outlook contact folders and contacts with delta, calendars with
//! calendarView, recurrence and calendarView delta, JSON batching, user, contact and event
//! change notifications), following
//! `shared/graph-protocol.md`. It shares no code with the project's Graph client on purpose: a
//! serde mistake cannot hide on both sides.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let emulator = graph_emulator::RunningEmulator::start(Default::default()).await?;
//! println!("{} {}", emulator.base_url(), emulator.tenant_id());
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```

mod certificate;
mod clock;
mod control;
mod directory;
mod entra;
mod faults;
mod graph;
mod outlook;
mod state;
mod stats;
mod subscriptions;
mod tokens;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::middleware;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

pub use state::{AppState, DirectoryStats, MailboxStats};

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to listen on; port 0 picks an ephemeral port.
    pub listen: SocketAddr,
    /// Seed for every generated id and random choice (tenant id, app ids, token lifetimes,
    /// the generated users and groups).
    pub seed: u64,
    /// Tenant GUID; generated from `seed` when `None`.
    pub tenant_id: Option<String>,
    /// The tenant's initial verified domain.
    pub tenant_domain: String,
    pub organization_name: String,
    /// Users to generate at start (with department and nested groups); 0 = an empty
    /// directory. The tenant follows from `seed`: same seed, same users.
    pub users: usize,
    /// How long a notification endpoint has to answer the validation request (§5.2: 10 s).
    pub handshake_timeout: Duration,
    /// Client timeout of a notification POST (§5.3: 3 s).
    pub delivery_timeout: Duration,
    /// Waits before each retry of a notification POST that timed out, was refused, or was
    /// answered 429/5xx; one retry per entry (default 0.5 s, 2 s, 8 s).
    pub delivery_retry_delays: Vec<Duration>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            seed: 0,
            tenant_id: None,
            tenant_domain: "contoso.onmicrosoft.com".to_owned(),
            organization_name: "Contoso".to_owned(),
            users: 0,
            handshake_timeout: Duration::from_secs(10),
            delivery_timeout: Duration::from_secs(3),
            delivery_retry_delays: vec![
                Duration::from_millis(500),
                Duration::from_secs(2),
                Duration::from_secs(8),
            ],
        }
    }
}

/// The whole emulator: Entra paths, Graph paths and `/_emulator` control paths.
pub fn router(state: AppState) -> Router {
    let public =
        entra::router()
            .merge(graph::router(state.clone()))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                faults::faults_and_stats,
            ));
    let routes = public.merge(control::router()).with_state(state);
    // Path canonicalisation has to happen before routing, hence a service around the router.
    Router::new().fallback_service(routes.map_request(graph::canonicalize_request))
}

/// A running emulator; dropping it (or [`RunningEmulator::shutdown`]) stops the server.
#[derive(Debug)]
pub struct RunningEmulator {
    base_url: String,
    tenant_id: String,
    tenant_domain: String,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningEmulator {
    /// Binds `config.listen` and serves in the background on the current Tokio runtime.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<RunningEmulator> {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        // A wildcard bind is reached through loopback; print an address a client can use.
        let host = match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let base_url = format!("http://{}", SocketAddr::new(host, addr.port()));
        // Generating a large tenant takes a moment: keep it off the async worker.
        let state = {
            let base_url = base_url.clone();
            tokio::task::spawn_blocking(move || AppState::new(&config, base_url))
                .await
                .map_err(std::io::Error::other)??
        };
        let (tenant_id, tenant_domain) = {
            let tenant = state.tenant();
            (tenant.id.clone(), tenant.domain.clone())
        };
        let app = router(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            // Nobody awaits this task's result; a dead server shows as refused connections.
            let _ = server.await;
        });
        Ok(RunningEmulator {
            base_url,
            tenant_id,
            tenant_domain,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// e.g. `http://127.0.0.1:41234`, no trailing slash; serves login and Graph paths.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    pub fn tenant_domain(&self) -> &str {
        &self.tenant_domain
    }

    /// The live state, for in-process callers that want to inspect it.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting, lets in-flight requests finish (up to 5 s), then returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Idle keep-alive connections would hold a graceful shutdown open forever.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
