//! Endpoints, timeouts and the retry budget shared by the token provider and the Graph client.

use std::time::Duration;
use url::Url;

/// Where Entra ID and Graph live, and how patiently to talk to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphConfig {
    /// `https://graph.microsoft.com`; requests go to `{graph_url}/v1.0/…`.
    pub graph_url: Url,
    /// `https://login.microsoftonline.com`; tokens come from `{login_url}/{tenant}/oauth2/v2.0/token`.
    pub login_url: Url,
    /// The `scope` of token requests. A separate value from `graph_url` because the resource is
    /// an identifier, not the host answering (an emulator on 127.0.0.1 still expects
    /// `https://graph.microsoft.com/.default`; national clouds use their own Graph host here).
    pub graph_scope: String,
    pub retry: RetryPolicy,
    /// Whole-request timeout (connect + send + receive the body).
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";
pub const DEFAULT_LOGIN_URL: &str = "https://login.microsoftonline.com";
pub const DEFAULT_GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            graph_url: parse_const(DEFAULT_GRAPH_URL),
            login_url: parse_const(DEFAULT_LOGIN_URL),
            graph_scope: DEFAULT_GRAPH_SCOPE.to_owned(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl GraphConfig {
    /// Defaults with other hosts (national clouds, an emulator); the scope stays Graph's.
    pub fn with_urls(graph_url: Url, login_url: Url) -> Self {
        Self {
            graph_url,
            login_url,
            ..Self::default()
        }
    }

    /// `{login_url}/{tenant}/oauth2/v2.0/token`, also the `aud` of the client assertion (§1.2).
    pub fn token_endpoint(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", trim_slash(&self.login_url))
    }

    /// `{graph_url}/v1.0{path}`; `path` starts with `/` (added if missing).
    pub fn graph_endpoint(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("{}/v1.0{slash}{path}", trim_slash(&self.graph_url))
    }
}

fn parse_const(s: &str) -> Url {
    // The constants above are valid URLs; a failure here is a typo caught by the unit tests.
    Url::parse(s).unwrap_or_else(|e| panic!("invalid built-in URL {s}: {e}"))
}

fn trim_slash(url: &Url) -> &str {
    url.as_str().trim_end_matches('/')
}

/// `host:port` of a URL, as shown in "cannot reach …" messages.
pub(crate) fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => url.as_str().to_owned(),
    }
}

/// How hard to try before giving up. Graph throttles with 429 (and 503/504 under load), usually
/// with a `Retry-After` that may be fractional (§6.2); without one we back off exponentially.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// Longest single wait; a larger `Retry-After` is cut to this.
    pub max_wait: Duration,
    /// Once waiting more would exceed this in total, the last error is returned instead.
    pub max_total_wait: Duration,
    /// First exponential-backoff delay (then doubled, with jitter) when there is no `Retry-After`.
    pub initial_backoff: Duration,
    /// Cap of the exponential backoff.
    pub max_backoff: Duration,
    /// Of those attempts, how many may follow a connection failure (refused, DNS, TLS, timeout).
    pub max_connect_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            max_wait: Duration::from_secs(300),
            max_total_wait: Duration::from_secs(600),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_connect_retries: 2,
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            max_connect_retries: 0,
            ..Self::default()
        }
    }
}
