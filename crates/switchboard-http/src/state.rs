//! What every handler shares: the ports, the connection workflow, the user sync service, the
//! settings and the login rate limiter.

use crate::auth::ratelimit::LoginLimiter;
use crate::auth::token_cache::TokenCache;
use jiff::SignedDuration;
use std::fmt;
use std::sync::Arc;
use switchboard_core::Clock;
use switchboard_core::calendar::{CalendarSync, PresenceService};
use switchboard_core::contacts::{ContactSync, PhonebookIndex};
use switchboard_core::notifications::SubscriptionKeeper;
use switchboard_core::office365::ConnectionService;
use switchboard_core::ports::{
    ExtensionStore, PhonebookStore, Store, SubscriptionStore, SyncEvent,
};
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
    /// How long a verified API token is trusted without asking the store again (default 60 s):
    /// a revoked or changed token takes effect within this time.
    pub api_token_cache_ttl: std::time::Duration,
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
            api_token_cache_ttl: std::time::Duration::from_secs(60),
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
    /// Phonebook entries and the per-extension phonebook passwords (Yealink XML, vCard and
    /// CardDAV downloads).
    pub phonebooks: Arc<dyn PhonebookStore>,
    /// The in-memory caller-ID index (`GET /api/v1/lookup` never asks the database): the one
    /// `contact_sync` keeps in step with the store (`contact_sync.index()`).
    pub phonebook_index: Arc<PhonebookIndex>,
    /// Runs contact syncs ("Sync now"), keeps its settings and reports status and skipped
    /// mailboxes.
    pub contact_sync: Arc<ContactSync>,
    /// Every extension's status: the board, `GET|PUT` presence over the API and the live
    /// stream. The same service `calendar_sync` applies calendar entries through
    /// (`calendar_sync.presence()`), so changes from either side reach every subscriber.
    pub presence: Arc<PresenceService>,
    /// Runs calendar syncs ("Sync now"), keeps the Calendar Sync settings (the showAs mapping
    /// among them) and reports status and skipped mailboxes.
    pub calendar_sync: Arc<CalendarSync>,
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
            .field("phonebooks", &self.phonebooks)
            .field("phonebook_index", &self.phonebook_index)
            .field("contact_sync", &self.contact_sync)
            .field("presence", &self.presence)
            .field("calendar_sync", &self.calendar_sync)
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
    phonebooks: Arc<dyn PhonebookStore>,
    phonebook_index: Arc<PhonebookIndex>,
    contact_sync: Arc<ContactSync>,
    presence: Arc<PresenceService>,
    calendar_sync: Arc<CalendarSync>,
    login_limiter: LoginLimiter,
    /// Turns true when the server shuts down: long-lived responses (the presence stream) end.
    closing: tokio::sync::watch::Sender<bool>,
    api_tokens: TokenCache,
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
            phonebooks,
            phonebook_index,
            contact_sync,
            presence,
            calendar_sync,
        } = deps;
        if !Arc::ptr_eq(&phonebook_index, contact_sync.index()) {
            // Lookups would answer from an index no sync updates.
            tracing::error!(
                "the caller-ID index given to the HTTP layer is not the one contact sync keeps up to date; lookups will miss new contacts"
            );
        }
        if !Arc::ptr_eq(&presence, calendar_sync.presence()) {
            // The board and the stream would not see what the calendar changes.
            tracing::error!(
                "the presence service given to the HTTP layer is not the one calendar sync applies entries through; boards will miss calendar changes"
            );
        }
        let api_tokens = TokenCache::new(config.api_token_cache_ttl);
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
                phonebooks,
                phonebook_index,
                contact_sync,
                presence,
                calendar_sync,
                login_limiter: LoginLimiter::new(),
                closing: tokio::sync::watch::Sender::new(false),
                api_tokens,
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
    pub(crate) fn api_tokens(&self) -> &TokenCache {
        &self.inner.api_tokens
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
    pub(crate) fn phonebooks(&self) -> &dyn PhonebookStore {
        self.inner.phonebooks.as_ref()
    }
    pub(crate) fn phonebook_index(&self) -> &PhonebookIndex {
        &self.inner.phonebook_index
    }
    pub(crate) fn contact_sync(&self) -> &Arc<ContactSync> {
        &self.inner.contact_sync
    }
    pub(crate) fn presence(&self) -> &Arc<PresenceService> {
        &self.inner.presence
    }
    pub(crate) fn calendar_sync(&self) -> &Arc<CalendarSync> {
        &self.inner.calendar_sync
    }

    /// Ends the open presence streams. Call it when shutting down: graceful shutdown waits for
    /// every response to finish, and a stream would otherwise run for up to 30 minutes.
    /// Browsers reconnect by themselves to whichever server answers next.
    pub fn close_streams(&self) {
        self.inner.closing.send_replace(true);
    }
    pub(crate) fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.closing.subscribe()
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
            .field("phonebooks", &self.inner.phonebooks)
            .field("phonebook_index", &self.inner.phonebook_index)
            .field("contact_sync", &self.inner.contact_sync)
            .field("presence", &self.inner.presence)
            .field("calendar_sync", &self.inner.calendar_sync)
            .finish_non_exhaustive()
    }
}
