//! What every handler shares: the ports, the connection workflow, the user sync service, the
//! settings and the login rate limiter.

use crate::auth::ratelimit::LoginLimiter;
use jiff::SignedDuration;
use std::fmt;
use std::sync::Arc;
use switchboard_core::Clock;
use switchboard_core::notifications::SubscriptionKeeper;
use switchboard_core::office365::ConnectionService;
use switchboard_core::ports::{ExtensionStore, Store, SubscriptionStore, SyncEvent};
use switchboard_core::users::UserSync;
use tokio::sync::mpsc::UnboundedSender;

/// Bootstrap settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The public address of the console (the one Microsoft redirects to), when configured.
    pub public_url: Option<url::Url>,
    /// Marks the session cookie `Secure`; true when `public_url` is https.
    pub secure_cookies: bool,
    /// How long a console session lasts after login (default 12 h).
    pub session_lifetime: SignedDuration,
}

impl HttpConfig {
    /// The defaults, with `secure_cookies` derived from the scheme of `public_url`.
    pub fn from_public_url(public_url: Option<url::Url>) -> Self {
        let secure_cookies = public_url.as_ref().is_some_and(|u| u.scheme() == "https");
        Self {
            public_url,
            secure_cookies,
            ..Self::default()
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            secure_cookies: false,
            session_lifetime: SignedDuration::from_hours(12),
        }
    }
}

/// Renders the Prometheus text exposition of the process' metrics.
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

/// What [`AppState::new`] is built from: the ports and services the binary wires together.
/// One struct, so that a new feature adds a field here instead of an argument everywhere.
pub struct AppDeps {
    /// Admins, sessions, API tokens and the Office 365 connection.
    pub store: Arc<dyn Store>,
    /// Extensions, their audit log, sync runs and runtime settings.
    pub extensions: Arc<dyn ExtensionStore>,
    pub connection: ConnectionService,
    /// Runs user syncs ("Sync now", previews) and reports their progress.
    pub user_sync: Arc<UserSync>,
    pub clock: Arc<dyn Clock>,
    pub config: HttpConfig,
    pub metrics: MetricsRenderer,
    /// Graph change-notification subscriptions; the webhooks verify and record notifications.
    pub subscriptions: Arc<dyn SubscriptionStore>,
    /// Where the webhooks tell the sync side that something changed (the receiver coalesces).
    pub events: UnboundedSender<SyncEvent>,
    /// Keeps the Graph subscription alive; present only when `public_url` is set (change
    /// notifications). The reachability self-test runs through it.
    pub keeper: Option<Arc<SubscriptionKeeper>>,
}

impl fmt::Debug for AppDeps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppDeps")
            .field("store", &self.store)
            .field("extensions", &self.extensions)
            .field("connection", &self.connection)
            .field("user_sync", &self.user_sync)
            .field("clock", &self.clock)
            .field("config", &self.config)
            .field("subscriptions", &self.subscriptions)
            .field("keeper", &self.keeper)
            .finish_non_exhaustive()
    }
}

/// Shared state of the router. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    extensions: Arc<dyn ExtensionStore>,
    user_sync: Arc<UserSync>,
    connection: ConnectionService,
    clock: Arc<dyn Clock>,
    config: HttpConfig,
    metrics: MetricsRenderer,
    subscriptions: Arc<dyn SubscriptionStore>,
    events: UnboundedSender<SyncEvent>,
    keeper: Option<Arc<SubscriptionKeeper>>,
    login_limiter: LoginLimiter,
}

impl AppState {
    pub fn new(deps: AppDeps) -> Self {
        let AppDeps {
            store,
            extensions,
            connection,
            user_sync,
            clock,
            config,
            metrics,
            subscriptions,
            events,
            keeper,
        } = deps;
        Self {
            inner: Arc::new(Inner {
                store,
                extensions,
                user_sync,
                connection,
                clock,
                config,
                metrics,
                subscriptions,
                events,
                keeper,
                login_limiter: LoginLimiter::new(),
            }),
        }
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }
    pub(crate) fn extensions(&self) -> &dyn ExtensionStore {
        self.inner.extensions.as_ref()
    }
    pub(crate) fn user_sync(&self) -> &Arc<UserSync> {
        &self.inner.user_sync
    }
    pub(crate) fn connection(&self) -> &ConnectionService {
        &self.inner.connection
    }
    pub(crate) fn now(&self) -> jiff::Timestamp {
        self.inner.clock.now()
    }
    pub(crate) fn config(&self) -> &HttpConfig {
        &self.inner.config
    }
    pub(crate) fn render_metrics(&self) -> String {
        (self.inner.metrics)()
    }
    pub(crate) fn login_limiter(&self) -> &LoginLimiter {
        &self.inner.login_limiter
    }
    pub(crate) fn subscriptions(&self) -> &dyn SubscriptionStore {
        self.inner.subscriptions.as_ref()
    }
    pub(crate) fn events(&self) -> &UnboundedSender<SyncEvent> {
        &self.inner.events
    }
    pub(crate) fn keeper(&self) -> Option<&SubscriptionKeeper> {
        self.inner.keeper.as_deref()
    }
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.inner.store)
            .field("extensions", &self.inner.extensions)
            .field("user_sync", &self.inner.user_sync)
            .field("connection", &self.inner.connection)
            .field("clock", &self.inner.clock)
            .field("config", &self.inner.config)
            .field("subscriptions", &self.inner.subscriptions)
            .field("keeper", &self.inner.keeper)
            .finish_non_exhaustive()
    }
}
