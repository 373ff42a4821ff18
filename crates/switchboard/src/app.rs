//! Wires the concrete adapters (SQL store, key files, Graph, HTTP) around the core services.

use crate::config::BootstrapConfig;
use crate::telemetry;
use anyhow::Context;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use switchboard_core::notifications::SubscriptionKeeper;
use switchboard_core::office365::{ConnectionService, ServiceOptions};
use switchboard_core::ports::{ExtensionStore, Leadership, Store, SubscriptionStore, SyncEvent};
use switchboard_core::users::{FreshnessMode, UserSync};
use switchboard_core::{Clock, SystemClock};
use switchboard_graph::{
    EntraGateway, GraphConfig, GraphDirectory, GraphSubscriptions, RcgenCertificateFactory,
};
use switchboard_http::{AppDeps, AppState, HttpConfig};
use switchboard_store::{FileKeyVault, SqlLeadership, SqlStore};
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedReceiver;

/// The running parts other commands (demo, admin) need besides the router.
#[derive(Debug, Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub extensions: Arc<dyn ExtensionStore>,
    pub connection: ConnectionService,
    pub user_sync: Arc<UserSync>,
    pub leadership: Arc<dyn Leadership>,
    /// Present when `public_url` is set: Microsoft can call our webhook.
    pub keeper: Option<Arc<SubscriptionKeeper>>,
    pub clock: Arc<dyn Clock>,
}

pub struct App {
    pub router: Router,
    pub services: Services,
    /// What the webhook passes on; consumed by [`spawn_background`].
    pub events: UnboundedReceiver<SyncEvent>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

pub async fn open_store(cfg: &BootstrapConfig) -> anyhow::Result<Arc<SqlStore>> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating the data directory {}", cfg.data_dir.display()))?;
    let store = switchboard_store::open(&cfg.database_url)
        .await
        .with_context(|| {
            format!(
                "opening the database {}",
                crate::config::redact_url(&cfg.database_url)
            )
        })?;
    Ok(Arc::new(store))
}

pub async fn build(cfg: &BootstrapConfig) -> anyhow::Result<App> {
    build_with_clock(cfg, Arc::new(SystemClock)).await
}

pub async fn build_with_clock(cfg: &BootstrapConfig, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    let sql = open_store(cfg).await?;
    let store: Arc<dyn Store> = sql.clone();
    let subscriptions: Arc<dyn SubscriptionStore> = sql.clone();
    let leadership: Arc<dyn Leadership> = Arc::new(SqlLeadership::new((*sql).clone()));
    let extensions: Arc<dyn ExtensionStore> = sql;
    let vault = Arc::new(FileKeyVault::new(cfg.keys_dir()).context("preparing the key directory")?);
    let graph_config = GraphConfig {
        graph_url: cfg.graph_url.clone(),
        login_url: cfg.login_url.clone(),
        graph_scope: cfg.graph_scope.clone(),
        ..GraphConfig::default()
    };
    let gateway = Arc::new(
        EntraGateway::new(graph_config, clock.clone())
            .context("setting up the Microsoft Graph client")?,
    );
    let tokens = gateway.tokens().clone();
    let connection = ConnectionService::new(
        store.clone(),
        vault,
        Arc::new(RcgenCertificateFactory),
        gateway,
        clock.clone(),
        ServiceOptions {
            login_url: cfg.login_url.clone(),
            redirect_url: cfg.redirect_url(),
            certificate_subject: cfg.certificate_subject.clone(),
            certificate_validity_days: cfg.certificate_validity_days,
        },
    );
    // One token cache for the connection check and the sync jobs.
    let credentials = Arc::new(connection.clone());
    let directory = Arc::new(GraphDirectory::new(tokens.clone(), credentials.clone()));
    // Notifications need an address Microsoft can reach; without one, delta polling alone.
    let keeper = cfg.public_url.as_ref().map(|public| {
        Arc::new(SubscriptionKeeper::new(
            Arc::new(GraphSubscriptions::new(tokens, credentials)),
            subscriptions.clone(),
            clock.clone(),
            public.as_str(),
        ))
    });
    let mode = if keeper.is_some() {
        FreshnessMode::Notifications
    } else {
        FreshnessMode::Polling
    };
    let user_sync = Arc::new(
        UserSync::new(directory, extensions.clone(), clock.clone(), mode)
            .with_subscriptions(subscriptions.clone()),
    );
    let (events_tx, events) = tokio::sync::mpsc::unbounded_channel();
    let metrics = telemetry::metrics_handle();
    let state = AppState::new(AppDeps {
        store: store.clone(),
        extensions: extensions.clone(),
        connection: connection.clone(),
        user_sync: user_sync.clone(),
        subscriptions,
        events: events_tx,
        clock: clock.clone(),
        config: HttpConfig {
            secure_cookies: cfg
                .public_url
                .as_ref()
                .is_some_and(|u| u.scheme() == "https"),
            public_url: cfg.public_url.clone(),
            ..HttpConfig::default()
        },
        metrics: Arc::new(move || metrics.render()),
        keeper: keeper.clone(),
    });
    Ok(App {
        router: switchboard_http::router(state),
        services: Services {
            store,
            extensions,
            connection,
            user_sync,
            leadership,
            keeper,
            clock,
        },
        events,
    })
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("serving HTTP")
}

pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!(
            "cannot listen on {addr} (is another process using it? choose another with --listen)"
        )
    })
}

/// The scheduled syncs, and with a public URL the subscription keeper and the reaction to
/// notifications. Abort the handles to stop them.
pub fn spawn_background(
    services: &Services,
    events: UnboundedReceiver<SyncEvent>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = vec![tokio::spawn(crate::scheduler::run_user_sync_schedule(
        services.user_sync.clone(),
        services.clock.clone(),
        services.leadership.clone(),
    ))];
    if let Some(keeper) = &services.keeper {
        tasks.push(tokio::spawn(crate::notifications::keep_subscriptions(
            keeper.clone(),
            services.clock.clone(),
            services.leadership.clone(),
        )));
    }
    tasks.push(tokio::spawn(crate::notifications::react_to_events(
        services.clone(),
        events,
    )));
    tasks
}
