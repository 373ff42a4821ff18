//! Shared emulator state: one tenant behind one mutex, plus the clock, faults and stats.
//!
//! Graph resources (the directory's users and groups, mailboxes with their contacts,
//! subscriptions) live in [`Tenant`] too, so one lock keeps every request's view consistent.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use jiff::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};

use crate::EmulatorConfig;
use crate::certificate::Certificate;
use crate::clock::Clock;
use crate::directory::Directory;
use crate::directory::generate::{self, TenantSeed};
use crate::faults::Faults;
use crate::outlook::Mailboxes;
use crate::outlook::limits::Limits;
use crate::stats::Stats;
use crate::subscriptions::{Outbox, Subscriptions, WebhookSettings};

/// Handle on the emulator's state; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("base_url", &self.inner.base_url)
            .finish_non_exhaustive()
    }
}

struct Shared {
    base_url: String,
    /// HS256 key for the access tokens this emulator signs. Random per process, so a token
    /// from an earlier run is rejected like a token for another resource would be.
    token_secret: [u8; 32],
    tenant: Mutex<Tenant>,
    clock: Mutex<Clock>,
    faults: Mutex<Faults>,
    stats: Mutex<Stats>,
    /// Outlook requests in flight per (app, mailbox), and the limit's settings.
    limits: Mutex<Limits>,
    /// Change/lifecycle notifications waiting to go out, and the log of every attempt.
    outbox: Mutex<Outbox>,
    /// Outbound client for validation requests and notification POSTs.
    http: reqwest::Client,
    webhooks: WebhookSettings,
}

/// Locks a mutex; a poisoned lock still holds consistent data here (no partial writes panic).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AppState {
    /// Builds the state for an emulator reachable at `base_url` (no trailing slash).
    pub fn new(config: &EmulatorConfig, base_url: String) -> io::Result<AppState> {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let generated = new_guid(&mut rng);
        let id = match &config.tenant_id {
            Some(id) => uuid::Uuid::parse_str(id)
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("tenant_id '{id}' is not a GUID"),
                    )
                })?
                .to_string(),
            None => generated,
        };
        let domain = config.tenant_domain.trim().to_ascii_lowercase();
        if domain.is_empty() || domain.contains('/') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "tenant_domain '{}' is not a domain name",
                    config.tenant_domain
                ),
            ));
        }
        let mut directory = Directory::new();
        generate::populate(
            &mut directory,
            &TenantSeed {
                users: config.users,
                seed: config.seed,
                domain: &domain,
                company: &config.organization_name,
            },
        );
        let mailboxes = Mailboxes::new(config.seed, &directory);
        let tenant = Tenant {
            id,
            directory,
            mailboxes,
            domain,
            display_name: config.organization_name.clone(),
            created: Timestamp::from_second(
                1_609_459_200 + i64::from(rng.random_range(0..31_536_000u32)),
            )
            .unwrap_or(Timestamp::UNIX_EPOCH),
            apps: BTreeMap::new(),
            service_principals: BTreeMap::new(),
            used_assertions: HashMap::new(),
            rng,
            subscriptions: Subscriptions::default(),
        };
        // Notification URLs are the subscriber's own endpoints (often 127.0.0.1 with a
        // self-signed certificate in tests): no redirects, no proxy, any certificate [inf].
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .tls_danger_accept_invalid_certs(true)
            .build()
            .map_err(io::Error::other)?;
        Ok(AppState {
            inner: Arc::new(Shared {
                base_url: base_url.trim_end_matches('/').to_owned(),
                token_secret: rand::random(),
                tenant: Mutex::new(tenant),
                clock: Mutex::new(Clock::default()),
                faults: Mutex::new(Faults::default()),
                stats: Mutex::new(Stats::default()),
                limits: Mutex::new(Limits::default()),
                outbox: Mutex::new(Outbox::default()),
                http,
                webhooks: WebhookSettings {
                    handshake_timeout: config.handshake_timeout,
                    delivery_timeout: config.delivery_timeout,
                    retry_delays: config.delivery_retry_delays.clone(),
                },
            }),
        })
    }

    /// Configured base URL, e.g. `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    pub(crate) fn token_secret(&self) -> &[u8] {
        &self.inner.token_secret
    }

    pub(crate) fn tenant(&self) -> MutexGuard<'_, Tenant> {
        lock(&self.inner.tenant)
    }

    pub(crate) fn clock(&self) -> MutexGuard<'_, Clock> {
        lock(&self.inner.clock)
    }

    /// Current emulator time.
    pub fn now(&self) -> Timestamp {
        self.clock().now()
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.inner.faults)
    }

    pub(crate) fn stats(&self) -> MutexGuard<'_, Stats> {
        lock(&self.inner.stats)
    }

    pub(crate) fn limits(&self) -> MutexGuard<'_, Limits> {
        lock(&self.inner.limits)
    }

    pub(crate) fn outbox(&self) -> MutexGuard<'_, Outbox> {
        lock(&self.inner.outbox)
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn webhooks(&self) -> &WebhookSettings {
        &self.inner.webhooks
    }

    /// Size of the emulated directory, for checks and benchmarks.
    pub fn directory_stats(&self) -> DirectoryStats {
        let tenant = self.tenant();
        let (users, soft_deleted_users, groups) = tenant.directory.counts();
        DirectoryStats {
            users,
            soft_deleted_users,
            groups,
            approx_heap_bytes: tenant.directory.approx_heap_bytes(),
        }
    }

    /// Mailboxes held in memory (read or changed since start) and their rough heap use.
    pub fn mailbox_stats(&self) -> MailboxStats {
        let tenant = self.tenant();
        MailboxStats {
            materialised: tenant.mailboxes.materialised(),
            approx_heap_bytes: tenant.mailboxes.approx_heap_bytes(),
        }
    }

    /// Base URL as the client sees it: from the `Host` header when present, so absolute URLs
    /// and the expected assertion audience follow whatever name the client used (§7).
    pub(crate) fn request_base(&self, headers: &axum::http::HeaderMap) -> String {
        headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && !h.contains(['/', ' ', '@']))
            .map(|h| format!("http://{h}"))
            .unwrap_or_else(|| self.inner.base_url.clone())
    }
}

/// See [`AppState::directory_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryStats {
    /// Live users.
    pub users: usize,
    pub soft_deleted_users: usize,
    pub groups: usize,
    /// Rough heap use of users, indexes, change log and groups.
    pub approx_heap_bytes: usize,
}

/// See [`AppState::mailbox_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxStats {
    pub materialised: usize,
    pub approx_heap_bytes: usize,
}

/// A random (v4) GUID from the seeded RNG, so a seed reproduces the same tenant and ids.
pub(crate) fn new_guid(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

/// The emulated directory.
#[derive(Debug)]
pub struct Tenant {
    pub id: String,
    pub domain: String,
    pub display_name: String,
    pub created: Timestamp,
    /// App registrations keyed by lower-case appId.
    pub apps: BTreeMap<String, App>,
    /// Service principals keyed by lower-case appId: present = admin consent granted.
    pub service_principals: BTreeMap<String, ServicePrincipal>,
    /// `appId jti` → time after which the assertion could no longer be replayed anyway.
    pub used_assertions: HashMap<String, Timestamp>,
    pub rng: StdRng,
    /// Users and groups (graph-protocol.md §2).
    pub directory: Directory,
    /// Exchange mailboxes: contact folders and contacts (§3), by user arena index.
    pub mailboxes: Mailboxes,
    /// Change-notification subscriptions (§5).
    pub subscriptions: Subscriptions,
}

/// How `{tenant}` in a login path resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantRef {
    /// The emulated tenant, by GUID or verified domain.
    This,
    /// `common` or `consumers`.
    CommonOrConsumers,
    Organizations,
    Unknown,
}

impl Tenant {
    pub fn resolve(&self, segment: &str) -> TenantRef {
        if segment.eq_ignore_ascii_case(&self.id) || segment.eq_ignore_ascii_case(&self.domain) {
            TenantRef::This
        } else if segment.eq_ignore_ascii_case("common")
            || segment.eq_ignore_ascii_case("consumers")
        {
            TenantRef::CommonOrConsumers
        } else if segment.eq_ignore_ascii_case("organizations") {
            TenantRef::Organizations
        } else {
            TenantRef::Unknown
        }
    }

    pub fn new_guid(&mut self) -> String {
        new_guid(&mut self.rng)
    }

    pub fn app(&self, app_id: &str) -> Option<&App> {
        self.apps.get(&app_id.to_ascii_lowercase())
    }

    /// Grants the app's requested roles now (admin consent), creating the service principal.
    pub fn grant_consent(&mut self, app_id: &str) {
        let key = app_id.to_ascii_lowercase();
        let Some(roles) = self.apps.get(&key).map(|a| a.roles.clone()) else {
            return;
        };
        if let Some(sp) = self.service_principals.get_mut(&key) {
            sp.granted_roles = roles;
        } else {
            let id = self.new_guid();
            self.service_principals.insert(
                key,
                ServicePrincipal {
                    id,
                    granted_roles: roles,
                },
            );
        }
    }

    /// Forgets assertion ids whose lifetime is over; they cannot be replayed any more.
    pub fn purge_assertions(&mut self, now: Timestamp) {
        self.used_assertions.retain(|_, until| *until >= now);
    }
}

/// What the simulated admin answers on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsentResponse {
    #[default]
    Approve,
    Decline,
}

/// An app registration.
#[derive(Debug, Clone)]
pub struct App {
    pub app_id: String,
    pub display_name: String,
    pub redirect_uris: Vec<String>,
    pub certificates: Vec<Certificate>,
    /// Application permissions the app asks for (granted by consent).
    pub roles: Vec<String>,
    pub consent_response: ConsentResponse,
}

/// The enterprise-app object that admin consent creates in the tenant.
#[derive(Debug, Clone)]
pub struct ServicePrincipal {
    pub id: String,
    pub granted_roles: Vec<String>,
}
