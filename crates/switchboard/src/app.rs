//! Wires the concrete adapters (SQL store, key files, Graph, HTTP) around the core services.

use crate::config::BootstrapConfig;
use crate::telemetry;
use anyhow::Context;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use switchboard_core::calendar::{CalendarSync, CalendarSyncConfig, PresenceService};
use switchboard_core::contacts::{ContactSync, ContactSyncConfig, PhonebookIndex};
use switchboard_core::notifications::SubscriptionKeeper;
use switchboard_core::office365::{ConnectionService, ServiceOptions};
use switchboard_core::ports::{
    CalendarSource, ExtensionStore, Leadership, MailboxSource, PhonebookStore, PresenceStore,
    Store, SubscriptionStore, SyncEvent,
};
use switchboard_core::users::{FreshnessMode, UserSync};
use switchboard_core::{Clock, SystemClock};
use switchboard_graph::{
    EntraGateway, GraphConfig, GraphDirectory, GraphMailboxes, GraphSubscriptions,
    RcgenCertificateFactory,
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
    pub phonebooks: Arc<dyn PhonebookStore>,
    /// The in-memory caller-ID index, kept in step with the phonebooks and extensions.
    pub phonebook_index: Arc<PhonebookIndex>,
    pub contact_sync: Arc<ContactSync>,
    pub calendar_sync: Arc<CalendarSync>,
    /// Every status change goes through it (calendar transitions, the users' own changes).
    pub presence: Arc<PresenceService>,
}

pub struct App {
    pub router: Router,
    /// For ending the open presence streams at shutdown (see [`AppState::close_streams`]).
    pub state: AppState,
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
    let phonebooks: Arc<dyn PhonebookStore> = sql.clone();
    let presence_store: Arc<dyn PresenceStore> = sql.clone();
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
    // One adapter for contacts and calendars, so both share the per-mailbox request limit.
    let mailboxes = Arc::new(GraphMailboxes::new(tokens.clone(), credentials.clone()));
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
        UserSync::new(directory.clone(), extensions.clone(), clock.clone(), mode)
            .with_subscriptions(subscriptions.clone()),
    );
    // The region is set from the contact-sync settings once they are read.
    let phonebook_index = Arc::new(PhonebookIndex::new(
        &ContactSyncConfig::default().default_region,
    ));
    let contact_source: Arc<dyn MailboxSource> = mailboxes.clone();
    let contact_sync = Arc::new(ContactSync::new(
        extensions.clone(),
        phonebooks.clone(),
        contact_source,
        directory.clone(),
        phonebook_index.clone(),
        clock.clone(),
        FreshnessMode::Polling,
    ));
    // Reads the settings (default region) and fills the caller-ID index before serving, so
    // the first lookup already knows every stored entry.
    let contact_config = contact_sync
        .config()
        .await
        .context("reading the contact sync settings")?;
    phonebook_index.set_default_region(&contact_config.default_region);
    let indexed = contact_sync
        .rebuild_index()
        .await
        .context("loading the phonebooks into the caller-ID index")?;
    contact_sync
        .refresh_extensions()
        .await
        .context("loading the extensions into the caller-ID index")?;
    tracing::info!(entries = indexed, "caller-ID index ready");

    let calendar_config = CalendarSyncConfig::load(extensions.as_ref())
        .await
        .context("reading the calendar sync settings")?;
    let presence = Arc::new(PresenceService::new(
        presence_store,
        extensions.clone(),
        clock.clone(),
        calendar_config.mapping,
    ));
    let calendar_source: Arc<dyn CalendarSource> = mailboxes;
    let calendar_sync = Arc::new(CalendarSync::new(
        calendar_source,
        directory,
        extensions.clone(),
        presence.clone(),
        clock.clone(),
        |name| jiff::tz::TimeZone::get(name).ok(),
        FreshnessMode::Polling,
    ));
    presence
        .rebuild_plan()
        .await
        .context("loading the stored presence")?;
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
        phonebooks: phonebooks.clone(),
        phonebook_index: phonebook_index.clone(),
        contact_sync: contact_sync.clone(),
        calendar_sync: calendar_sync.clone(),
        presence: presence.clone(),
    });
    Ok(App {
        router: switchboard_http::router(state.clone()),
        state,
        services: Services {
            store,
            extensions,
            connection,
            user_sync,
            leadership,
            keeper,
            clock,
            phonebooks,
            phonebook_index,
            contact_sync,
            calendar_sync,
            presence,
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
    let syncs: [Arc<dyn crate::scheduler::ScheduledSync>; 3] = [
        services.user_sync.clone(),
        services.contact_sync.clone(),
        services.calendar_sync.clone(),
    ];
    let mut tasks: Vec<_> = syncs
        .into_iter()
        .map(|sync| {
            tokio::spawn(crate::scheduler::run_schedule(
                sync,
                services.clock.clone(),
                services.leadership.clone(),
            ))
        })
        .collect();
    tasks.push(tokio::spawn(crate::presence::fire_transitions(
        services.presence.clone(),
        services.clock.clone(),
        services.leadership.clone(),
    )));
    tasks.push(tokio::spawn(crate::presence::follow_extensions(
        services.user_sync.clone(),
        services.contact_sync.clone(),
    )));
    if let Some(keeper) = &services.keeper {
        tasks.push(tokio::spawn(crate::notifications::keep_subscriptions(
            keeper.clone(),
            services.clock.clone(),
            services.leadership.clone(),
            services.user_sync.clone(),
            services.contact_sync.clone(),
            services.calendar_sync.clone(),
        )));
    }
    tasks.push(tokio::spawn(crate::notifications::react_to_events(
        services.clone(),
        events,
    )));
    tasks
}
