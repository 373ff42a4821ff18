//! End-to-end tests of the HTTP layer: a real server on an ephemeral port, reqwest as the browser
//! (cookie store, no automatic redirects), in-memory fakes of core's ports.
#![allow(clippy::unwrap_used)]

mod api;
mod consent;
mod console;
mod console_contacts;
mod console_sync;
mod directory;
mod extensions;
mod fakes;
mod lookup;
mod phonebooks;
mod presence;
mod sync;
mod webhooks;

use fakes::{FakeCalendars, MemPresence};
use fakes::{
    FakeDirectory, FakeFactory, FakeGateway, FakeMailboxes, FakeSubscriptionApi, FakeVault,
    FixedClock, MemPhonebooks, MemStore, MemSubscriptions, SteppingClock,
};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use switchboard_core::auth::{AdminUser, ApiTokenRecord};
use switchboard_core::calendar::{CalendarSync, PresenceService};
use switchboard_core::contacts::{ContactSync, PhonebookIndex};
use switchboard_core::notifications::SubscriptionKeeper;
use switchboard_core::office365::{ConnectionService, ServiceOptions};
use switchboard_core::ports::{Store, SyncEvent};
use switchboard_core::users::{FreshnessMode, UserSync};
use switchboard_http::{AppDeps, AppState, HttpConfig, auth};
use switchboard_store::SqlStore;

pub const USER: &str = "admin";
pub const PASSWORD: &str = "correct horse battery";
pub const LOGIN_URL: &str = "https://login.example.test/";
pub const CLIENT_ID: &str = "1b3c5d7e-0000-4000-8000-1234567890ab";
pub const PUBLIC_URL: &str = "https://pbx.example.com/";

#[derive(Debug)]
pub struct TestApp {
    pub base: String,
    pub store: Arc<MemStore>,
    pub gateway: Arc<FakeGateway>,
    /// Extensions, audit log, sync runs and settings: the real SQLite store, in memory.
    pub extensions: Arc<SqlStore>,
    pub directory: Arc<FakeDirectory>,
    pub user_sync: Arc<UserSync>,
    pub token: String,
    /// Graph subscriptions and the notifications the webhooks recorded.
    pub subscriptions: Arc<MemSubscriptions>,
    /// What the webhooks told the sync side.
    pub events: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<SyncEvent>>,
    /// Graph's `/subscriptions`, used by the subscription keeper (present when the config has
    /// a `public_url`, as in the binary).
    pub graph_subscriptions: Arc<FakeSubscriptionApi>,
    /// Phonebook entries, book versions and phonebook passwords.
    pub phonebooks: Arc<MemPhonebooks>,
    /// The caller-ID index the lookup answers from (default region GB).
    pub phonebook_index: Arc<PhonebookIndex>,
    /// Outlook mailboxes, read by contact sync.
    pub mailboxes: Arc<FakeMailboxes>,
    pub contact_sync: Arc<ContactSync>,
    /// Calendar entries and presence states.
    pub presence_store: Arc<MemPresence>,
    /// Outlook calendars, read by calendar sync.
    pub calendars: Arc<FakeCalendars>,
    pub presence: Arc<PresenceService>,
    pub calendar_sync: Arc<CalendarSync>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(HttpConfig::default()).await
    }

    /// With `public_url` (`https://pbx.example.com`) and so a subscription keeper; cookies stay
    /// non-`Secure` so that the test browser keeps its session over plain http.
    pub async fn spawn_with_public_url() -> Self {
        Self::spawn_with(HttpConfig {
            public_url: Some(PUBLIC_URL.parse().unwrap()),
            ..HttpConfig::default()
        })
        .await
    }

    pub async fn spawn_with(config: HttpConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let store = Arc::new(MemStore::default());
        let gateway = Arc::new(FakeGateway::default());
        let clock = Arc::new(FixedClock("2026-11-01T08:00:00Z".parse().unwrap()));
        let connection = ConnectionService::new(
            store.clone(),
            Arc::new(FakeVault::default()),
            Arc::new(FakeFactory::default()),
            gateway.clone(),
            clock.clone(),
            ServiceOptions {
                login_url: LOGIN_URL.parse().unwrap(),
                redirect_url: format!("{base}/oauth2office2"),
                certificate_subject: "CN=Switchboard".into(),
                certificate_validity_days: 730,
            },
        );
        let now = clock.0;
        store
            .create_admin(&AdminUser {
                username: USER.into(),
                password_hash: auth::hash_password(PASSWORD).await.unwrap(),
                created_at: now,
            })
            .await
            .unwrap();
        let token = auth::new_api_token();
        store
            .create_api_token(&ApiTokenRecord {
                token_hash: auth::hash_token(&token),
                name: "tests".into(),
                username: USER.into(),
                created_at: now,
            })
            .await
            .unwrap();
        let extensions = Arc::new(switchboard_store::open("sqlite::memory:").await.unwrap());
        let directory = Arc::new(FakeDirectory::default());
        let user_sync = Arc::new(UserSync::new(
            directory.clone(),
            extensions.clone(),
            Arc::new(SteppingClock::new(clock.0)),
            // As in the binary: notifications when Microsoft has an address to call.
            if config.public_url.is_some() {
                FreshnessMode::Notifications
            } else {
                FreshnessMode::Polling
            },
        ));
        let subscriptions = Arc::new(MemSubscriptions::default());
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let graph_subscriptions = Arc::new(FakeSubscriptionApi::default());
        let keeper = config.public_url.as_ref().map(|public| {
            Arc::new(SubscriptionKeeper::new(
                graph_subscriptions.clone(),
                subscriptions.clone(),
                clock.clone(),
                public.as_str(),
            ))
        });
        let phonebooks = Arc::new(MemPhonebooks::default());
        let phonebook_index = Arc::new(PhonebookIndex::new("GB"));
        let mailboxes = Arc::new(FakeMailboxes::default());
        let contact_sync = Arc::new(ContactSync::new(
            extensions.clone(),
            phonebooks.clone(),
            mailboxes.clone(),
            directory.clone(),
            phonebook_index.clone(),
            Arc::new(SteppingClock::new(clock.0)),
            FreshnessMode::Polling,
        ));
        let presence_store = Arc::new(MemPresence::default());
        let calendars = Arc::new(FakeCalendars::default());
        // The fixed clock: presence and timelines are computed at a known instant.
        let presence = Arc::new(PresenceService::new(
            presence_store.clone(),
            extensions.clone(),
            clock.clone(),
            Default::default(),
        ));
        let calendar_sync = Arc::new(CalendarSync::new(
            calendars.clone(),
            directory.clone(),
            extensions.clone(),
            presence.clone(),
            clock.clone(),
            |name| jiff::tz::TimeZone::get(name).ok(),
            FreshnessMode::Polling,
        ));
        let state = AppState::new(AppDeps {
            store: store.clone(),
            extensions: extensions.clone(),
            connection,
            user_sync: user_sync.clone(),
            clock,
            config,
            metrics: Arc::new(|| "# HELP process_up test\nprocess_up 1\n".to_owned()),
            subscriptions: subscriptions.clone(),
            events: events_tx,
            keeper,
            phonebooks: phonebooks.clone(),
            phonebook_index: phonebook_index.clone(),
            contact_sync: contact_sync.clone(),
            presence: presence.clone(),
            calendar_sync: calendar_sync.clone(),
        });
        let app = switchboard_http::router(state);
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Self {
            base,
            store,
            gateway,
            extensions,
            directory,
            user_sync,
            token,
            subscriptions,
            events: tokio::sync::Mutex::new(events_rx),
            graph_subscriptions,
            phonebooks,
            phonebook_index,
            mailboxes,
            contact_sync,
            presence_store,
            calendars,
            presence,
            calendar_sync,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A browser: keeps cookies, does not follow redirects.
    pub fn browser(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .unwrap()
    }

    /// Logs `browser` in and returns the session's CSRF token.
    pub async fn login(&self, browser: &Client) -> String {
        let response = self.submit_login(browser, USER, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let page = browser
            .get(self.url("/settings/office365"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        meta_csrf(&page.text().await.unwrap())
    }

    /// Opens the login page and submits the form.
    pub async fn submit_login(&self, browser: &Client, user: &str, password: &str) -> Response {
        let page = browser.get(self.url("/login")).send().await.unwrap();
        let csrf = hidden_csrf(&page.text().await.unwrap());
        browser
            .post(self.url("/login"))
            .form(&[
                ("username", user),
                ("password", password),
                ("csrf_token", &csrf),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap()
    }

    /// An API call with the bearer token.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        Client::new()
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }
}

/// The value of `attr="…"` following `marker` in `html`.
pub fn attr_after(html: &str, marker: &str, attr: &str) -> String {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in page"));
    let rest = &html[start..];
    let key = format!("{attr}=\"");
    let from = rest.find(&key).unwrap() + key.len();
    let len = rest[from..].find('"').unwrap();
    rest[from..from + len].to_owned()
}

pub fn hidden_csrf(html: &str) -> String {
    attr_after(html, "name=\"csrf_token\"", "value")
}

pub fn meta_csrf(html: &str) -> String {
    attr_after(html, "<meta name=\"csrf-token\"", "content")
}

/// The text of the element with `id`.
pub fn text_of(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("#{id} not in page"));
    let rest = &html[start..];
    let from = rest.find('>').unwrap() + 1;
    let len = rest[from..].find('<').unwrap();
    rest[from..from + len].trim().to_owned()
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// Saves valid ids and generates a key pair over the API.
pub async fn configure(app: &TestApp) {
    let put = app
        .api(reqwest::Method::PUT, "/api/v1/settings/office365")
        .json(&serde_json::json!({"client_id": CLIENT_ID, "tenant": "contoso.onmicrosoft.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let keypair = app
        .api(reqwest::Method::POST, "/api/v1/settings/office365/keypair")
        .send()
        .await
        .unwrap();
    assert_eq!(keypair.status(), StatusCode::OK);
}

/// `GET path` with the token; must answer 200 with JSON.
pub async fn get_json(app: &TestApp, path: &str) -> serde_json::Value {
    let r = app.api(reqwest::Method::GET, path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    r.json().await.unwrap()
}

/// `POST /api/v1/sync/users{query}` with the token; must answer 200 (the outcome).
pub async fn sync_users(app: &TestApp, query: &str) -> serde_json::Value {
    let r = app
        .api(reqwest::Method::POST, &format!("/api/v1/sync/users{query}"))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "sync {query}: {body}");
    body
}
