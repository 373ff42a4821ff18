//! What every handler shares: the ports, the connection workflow, the settings and the login
//! rate limiter.

use crate::auth::ratelimit::LoginLimiter;
use jiff::SignedDuration;
use std::fmt;
use std::sync::Arc;
use switchboard_core::Clock;
use switchboard_core::office365::ConnectionService;
use switchboard_core::ports::Store;

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

/// Shared state of the router. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    connection: ConnectionService,
    clock: Arc<dyn Clock>,
    config: HttpConfig,
    metrics: MetricsRenderer,
    login_limiter: LoginLimiter,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        connection: ConnectionService,
        clock: Arc<dyn Clock>,
        config: HttpConfig,
        metrics: MetricsRenderer,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                connection,
                clock,
                config,
                metrics,
                login_limiter: LoginLimiter::new(),
            }),
        }
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
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
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.inner.store)
            .field("connection", &self.inner.connection)
            .field("clock", &self.inner.clock)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
