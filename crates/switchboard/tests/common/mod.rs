//! `spawn_app()`: the real server on an ephemeral port, wired to an in-process Microsoft 365
//! emulator, on SQLite — or on PostgreSQL when `SWITCHBOARD_TEST_POSTGRES` is set.
#![allow(dead_code)]

pub mod browser;

use graph_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use switchboard::app::{self, Services};
use switchboard::commands::admin;
use switchboard::config::BootstrapConfig;
use switchboard_core::office365::REQUIRED_PERMISSIONS;
use switchboard_store::testing::{TestDatabase, fresh_database};

pub const ADMIN: &str = "admin";
pub const PASSWORD: &str = "correct horse battery staple";

/// Everything the server logged, to prove secrets never reach the logs.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().expect("log buffer")).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,sqlx=warn,hyper=info,h2=info,rustls=info")
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .try_init();
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);
impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct TestApp {
    pub url: String,
    pub emulator: RunningEmulator,
    pub services: Services,
    pub config: BootstrapConfig,
    /// No redirects followed, so tests see every hop.
    pub http: reqwest::Client,
    pub token: String,
    pub data_dir: PathBuf,
    _db: TestDatabase,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    events: std::sync::Mutex<
        Option<tokio::sync::mpsc::UnboundedReceiver<switchboard_core::ports::SyncEvent>>,
    >,
    background: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Ok(tasks) = self.background.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut BootstrapConfig)) -> TestApp {
    spawn_app_full(0, adjust).await
}

/// With a generated tenant of `users` users.
pub async fn spawn_app_with_users(users: usize) -> TestApp {
    spawn_app_full(users, |_| {}).await
}

async fn spawn_app_full(users: usize, adjust: impl FnOnce(&mut BootstrapConfig)) -> TestApp {
    log_buffer();
    let emulator = RunningEmulator::start(EmulatorConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        users,
        seed: 7,
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts");
    let data_dir = std::env::temp_dir().join(format!("sb-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data_dir).expect("data dir");
    let db = fresh_database(std::env::var("SWITCHBOARD_TEST_POSTGRES").ok().as_deref())
        .await
        .expect("test database");
    let listener = app::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let emulator_url: url::Url = emulator.base_url().parse().expect("url");
    let mut config = BootstrapConfig {
        listen: addr,
        database_url: db.url.clone(),
        data_dir: data_dir.clone(),
        public_url: None,
        graph_url: emulator_url.clone(),
        login_url: emulator_url,
        graph_scope: "https://graph.microsoft.com/.default".into(),
        certificate_subject: "Switchboard Test".into(),
        certificate_validity_days: 730,
        log_format: "text".into(),
    };
    adjust(&mut config);
    let built = app::build(&config).await.expect("app builds");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app::serve(listener, built.router, async {
        let _ = stopped.await;
    }));
    let services = built.services;
    let events = built.events;
    let now = services.clock.now();
    admin::create(services.store.as_ref(), ADMIN, PASSWORD, now)
        .await
        .expect("admin");
    let token = admin::create_token(services.store.as_ref(), ADMIN, "tests", None, now)
        .await
        .expect("token");
    TestApp {
        url: format!("http://{addr}"),
        emulator,
        services,
        config,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        token,
        data_dir,
        _db: db,
        stop: Some(stop),
        events: std::sync::Mutex::new(Some(events)),
        background: std::sync::Mutex::new(Vec::new()),
    }
}

pub fn all_roles() -> Vec<&'static str> {
    REQUIRED_PERMISSIONS.iter().map(|p| p.name).collect()
}

impl TestApp {
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    pub async fn settings(&self) -> Value {
        let r = self
            .api(reqwest::Method::GET, "/api/v1/settings/office365")
            .send()
            .await
            .expect("GET settings");
        assert_eq!(r.status(), 200);
        r.json().await.expect("json")
    }

    pub async fn put_ids(&self, client_id: &str, tenant: &str) -> reqwest::Response {
        self.api(reqwest::Method::PUT, "/api/v1/settings/office365")
            .json(&json!({"client_id": client_id, "tenant": tenant}))
            .send()
            .await
            .expect("PUT settings")
    }

    /// Returns the certificate PEM offered for upload.
    pub async fn generate_keypair(&self) -> String {
        let r = self
            .api(reqwest::Method::POST, "/api/v1/settings/office365/keypair")
            .send()
            .await
            .expect("keypair");
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.expect("json");
        body["certificate_pem"]
            .as_str()
            .expect("certificate_pem")
            .to_owned()
    }

    pub async fn emulator_post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.emulator.base_url()))
            .json(&body)
            .send()
            .await
            .expect("emulator");
        assert!(r.status().is_success(), "emulator {path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    pub async fn emulator_stats(&self) -> Value {
        self.http
            .get(format!("{}/_emulator/stats", self.emulator.base_url()))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json")
    }

    /// The Azure portal steps: register the app with this certificate and these permissions.
    pub async fn register_app(
        &self,
        client_id: &str,
        certificates: &[&str],
        roles: &[&str],
        extra: Value,
    ) {
        let mut body = json!({
            "appId": client_id,
            "displayName": "Switchboard",
            "redirectUris": [self.services.connection.redirect_url()],
            "certificates": certificates,
            "roles": roles,
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.emulator_post("/_emulator/apps", body).await;
    }

    /// "Sign in to Office 365": follow the browser's hops by hand and return the settings after.
    pub async fn sign_in(&self) -> Value {
        let r = self
            .api(reqwest::Method::POST, "/api/v1/settings/office365/consent")
            .send()
            .await
            .expect("consent");
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.expect("json");
        let url = body["url"].as_str().expect("url").to_owned();
        assert!(url.starts_with(&self.emulator.base_url()), "{url}");
        let consent = self.http.get(&url).send().await.expect("consent page");
        assert_eq!(consent.status(), 302, "consent page redirects back");
        let back = consent.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        assert!(
            back.starts_with(&format!("{}/oauth2office2?", self.url)),
            "{back}"
        );
        // Like the browser coming back from Microsoft: no session cookie, no token.
        let page = self.http.get(&back).send().await.expect("redirect page");
        assert!(
            page.status().is_success() || page.status() == 400,
            "{}",
            page.status()
        );
        self.settings().await
    }

    /// Starts the scheduler, the subscription keeper and the reaction to notifications.
    pub fn start_background(&self) {
        let events = self
            .events
            .lock()
            .expect("events")
            .take()
            .expect("started once");
        let tasks = switchboard::app::spawn_background(&self.services, events);
        self.background.lock().expect("tasks").extend(tasks);
    }

    /// Stops the background tasks (schedules, timers), as a stopped instance would.
    pub fn stop_background(&self) {
        if let Ok(mut tasks) = self.background.lock() {
            for t in tasks.drain(..) {
                t.abort();
            }
        }
    }

    pub fn emulator_url(&self, path: &str) -> String {
        format!("{}{path}", self.emulator.base_url())
    }

    /// Creates a user in the emulated tenant; returns its id.
    pub async fn add_user(&self, user: Value) -> String {
        let r = self
            .http
            .post(self.emulator_url("/_emulator/users"))
            .json(&user)
            .send()
            .await
            .expect("add user");
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
        let v: Value = r.json().await.expect("json");
        v["id"].as_str().expect("id").to_owned()
    }

    pub async fn patch_user(&self, id: &str, patch: Value) {
        let r = self
            .http
            .patch(self.emulator_url(&format!("/_emulator/users/{id}")))
            .json(&patch)
            .send()
            .await
            .expect("patch user");
        assert!(r.status().is_success(), "{}", r.status());
    }

    pub async fn delete_user(&self, id: &str, permanent: bool) {
        let r = self
            .http
            .delete(self.emulator_url(&format!("/_emulator/users/{id}?permanent={permanent}")))
            .send()
            .await
            .expect("delete user");
        assert!(r.status().is_success(), "{}", r.status());
    }

    pub async fn restore_user(&self, id: &str) {
        let r = self
            .http
            .post(self.emulator_url(&format!("/_emulator/users/{id}/restore")))
            .send()
            .await
            .expect("restore");
        assert!(r.status().is_success(), "{}", r.status());
    }

    /// `POST /api/v1/sync/users?{query}`; returns the outcome `{run, plan}`.
    pub async fn sync(&self, query: &str) -> Value {
        let r = self
            .api(
                reqwest::Method::POST,
                &format!("/api/v1/sync/users?{query}"),
            )
            .send()
            .await
            .expect("sync");
        let status = r.status();
        let body: Value = r.json().await.expect("json");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// `GET /api/v1/sync`.
    pub async fn sync_status(&self) -> Value {
        let r = self
            .api(reqwest::Method::GET, "/api/v1/sync")
            .send()
            .await
            .expect("sync status");
        assert_eq!(r.status(), 200);
        r.json().await.expect("json")
    }

    pub async fn extensions(&self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = String::new();
        loop {
            let r = self
                .api(
                    reqwest::Method::GET,
                    &format!("/api/v1/extensions?limit=1000&after={after}"),
                )
                .send()
                .await
                .expect("extensions");
            assert_eq!(r.status(), 200);
            let page: Vec<Value> = r.json().await.expect("json");
            let Some(last) = page.last() else { return all };
            after = last["number"].as_str().expect("number").to_owned();
            let done = page.len() < 1000;
            all.extend(page);
            if done {
                return all;
            }
        }
    }

    pub async fn extension(&self, number: &str) -> Option<Value> {
        let r = self
            .api(
                reqwest::Method::GET,
                &format!("/api/v1/extensions/{number}"),
            )
            .send()
            .await
            .expect("extension");
        if r.status() == 404 {
            return None;
        }
        assert_eq!(r.status(), 200);
        Some(r.json().await.expect("json"))
    }

    pub async fn put_user_sync(&self, settings: Value) {
        let r = self
            .api(reqwest::Method::PUT, "/api/v1/settings/user-sync")
            .json(&settings)
            .send()
            .await
            .expect("settings");
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
    }

    pub async fn verify(&self) -> Value {
        let r = self
            .api(reqwest::Method::POST, "/api/v1/settings/office365/verify")
            .send()
            .await
            .expect("verify");
        assert_eq!(r.status(), 200);
        r.json().await.expect("json")
    }

    /// Ids, key pair, app registered with that certificate and every permission, consent.
    pub async fn connect(&self) -> (String, Value) {
        let client_id = uuid::Uuid::new_v4().to_string();
        assert_eq!(
            self.put_ids(&client_id, self.emulator.tenant_domain())
                .await
                .status(),
            200
        );
        let pem = self.generate_keypair().await;
        self.register_app(&client_id, &[&pem], &all_roles(), json!({}))
            .await;
        let settings = self.sign_in().await;
        assert_eq!(settings["status"], "connected", "{settings}");
        (client_id, settings)
    }
}
