//! `switchboard demo`: the built-in Microsoft 365 emulator plus the server on embedded SQLite,
//! connected the way an admin would do it in the Azure portal and the console.

use crate::app::{self, App, Services};
use crate::commands::admin;
use crate::config::BootstrapConfig;
use anyhow::{Context, bail};
use graph_emulator::{EmulatorConfig, RunningEmulator};
use std::net::SocketAddr;
use std::path::PathBuf;
use switchboard_core::office365::{ConnectionStatus, ConnectionUpdate, REQUIRED_PERMISSIONS};
use switchboard_core::users::{RunOutcome, RunRequest};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub listen: SocketAddr,
    pub emulator_listen: SocketAddr,
    pub data_dir: Option<PathBuf>,
    pub admin_password: Option<String>,
    pub api_token: Option<String>,
    pub seed: u64,
    /// Users in the emulated tenant.
    pub users: usize,
}

pub struct Demo {
    /// The emulated tenant.
    pub emulator: RunningEmulator,
    pub config: BootstrapConfig,
    pub services: Services,
    pub console_url: String,
    pub admin_username: String,
    pub admin_password: String,
    pub api_token: String,
    pub client_id: String,
    /// Removed on drop when the demo made it.
    _temp_dir: Option<TempDir>,
    pub first_sync: RunOutcome,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
    stop: tokio::sync::oneshot::Sender<()>,
}

/// A directory removed when dropped.
#[derive(Debug)]
struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("console_url", &self.console_url)
            .field("emulator", &self.emulator.base_url())
            .field("admin_username", &self.admin_username)
            .finish_non_exhaustive()
    }
}

impl Demo {
    pub async fn start(opts: DemoOptions) -> anyhow::Result<Demo> {
        let emulator = RunningEmulator::start(EmulatorConfig {
            listen: opts.emulator_listen,
            seed: opts.seed,
            users: opts.users,
            ..EmulatorConfig::default()
        })
        .await
        .with_context(|| {
            format!(
                "starting the Microsoft 365 emulator on {}",
                opts.emulator_listen
            )
        })?;

        let (data_dir, temp) = match opts.data_dir {
            Some(d) => (d, None),
            None => {
                let d = std::env::temp_dir().join(format!(
                    "switchboard-demo-{}",
                    uuid::Uuid::new_v4().simple()
                ));
                (d.clone(), Some(TempDir(d)))
            }
        };
        let listener = app::bind(opts.listen).await?;
        let listen = listener.local_addr()?;
        let emulator_url: url::Url = emulator.base_url().parse().context("emulator URL")?;
        let config = BootstrapConfig {
            listen,
            database_url: format!("sqlite://{}", data_dir.join("switchboard.db").display()),
            data_dir,
            // The emulator accepts loopback http, so the demo gets change notifications too.
            public_url: Some(format!("http://{listen}").parse().context("public URL")?),
            graph_url: emulator_url.clone(),
            login_url: emulator_url,
            graph_scope: "https://graph.microsoft.com/.default".into(),
            certificate_subject: "Switchboard".into(),
            certificate_validity_days: 730,
            log_format: "text".into(),
        };
        let App {
            router,
            state,
            services,
            events,
        } = app::build(&config).await?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app::serve(listener, router, async move {
            let _ = stopped.await;
            state.close_streams();
        }));

        let now = services.clock.now();
        let admin_username = "admin".to_owned();
        let admin_password = opts.admin_password.unwrap_or_else(random_password);
        if services.store.find_admin(&admin_username).await?.is_none() {
            admin::create(
                services.store.as_ref(),
                &admin_username,
                &admin_password,
                now,
            )
            .await?;
        } else {
            admin::set_password(services.store.as_ref(), &admin_username, &admin_password).await?;
        }
        let api_token = admin::create_token(
            services.store.as_ref(),
            &admin_username,
            "demo",
            opts.api_token,
            now,
        )
        .await?;

        let console_url = format!("http://{listen}");
        let client_id = connect_like_an_admin(
            &services,
            &emulator.base_url(),
            emulator.tenant_domain(),
            &console_url,
        )
        .await?;
        // The first full sync before the console is announced, then the schedule takes over.
        let first_sync = services
            .user_sync
            .run(RunRequest {
                full: true,
                dry_run: false,
                actor: "sync:users (started by demo)".into(),
            })
            .await
            .context("the first user sync of the demo tenant")?;
        // Phonebooks and presence right away too (the generated tenant has contacts and a
        // week of meetings per user).
        services.contact_sync.refresh_extensions().await?;
        let first_run = |kind: &str| RunRequest {
            full: true,
            dry_run: false,
            actor: format!("sync:{kind} (started by demo)"),
        };
        services
            .contact_sync
            .run(first_run("contacts"))
            .await
            .context("the first contact sync of the demo tenant")?;
        services
            .calendar_sync
            .run(first_run("calendar"))
            .await
            .context("the first calendar sync of the demo tenant")?;
        let background = app::spawn_background(&services, events);
        Ok(Demo {
            emulator,
            config,
            services,
            console_url,
            admin_username,
            admin_password,
            api_token,
            client_id,
            _temp_dir: temp,
            first_sync,
            server,
            background,
            stop,
        })
    }

    pub async fn shutdown(self) -> anyhow::Result<()> {
        for task in &self.background {
            task.abort();
        }
        let _ = self.stop.send(());
        self.server.await.context("server task")??;
        self.emulator.shutdown().await;
        Ok(())
    }
}

fn random_password() -> String {
    // 128 bits, readable.
    uuid::Uuid::new_v4().simple().to_string()
}

/// The portal and console steps of the README, performed against the emulator: enter the ids,
/// generate the key pair, register the app with that certificate, sign in and consent.
pub async fn connect_like_an_admin(
    services: &Services,
    emulator_url: &str,
    tenant_domain: &str,
    console_url: &str,
) -> anyhow::Result<String> {
    let settings = services.connection.settings().await?;
    if settings.status == ConnectionStatus::Connected
        && let Some(id) = settings.client_id
    {
        return Ok(id);
    }
    let client_id = uuid::Uuid::new_v4().to_string();
    services
        .connection
        .update(ConnectionUpdate {
            client_id: Some(client_id.clone()),
            tenant: Some(tenant_domain.to_owned()),
            algorithm: None,
        })
        .await?;
    let (_, certificate_pem) = services.connection.generate_keypair().await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let roles: Vec<&str> = REQUIRED_PERMISSIONS.iter().map(|p| p.name).collect();
    let registered = http
        .post(format!("{emulator_url}/_emulator/apps"))
        .json(&serde_json::json!({
            "appId": client_id,
            "displayName": "Switchboard",
            "redirectUris": [services.connection.redirect_url()],
            "certificates": [certificate_pem],
            "roles": roles,
        }))
        .send()
        .await?;
    if !registered.status().is_success() {
        bail!(
            "the emulator refused the app registration: {}",
            registered.text().await?
        );
    }
    // The browser's round trip: consent page → redirect back to our /oauth2office2.
    let consent_url = services.connection.begin_consent().await?;
    let consent = http.get(consent_url).send().await?;
    let back = consent
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .context("the emulator's consent page did not redirect back")?
        .to_owned();
    if !back.starts_with(console_url) {
        bail!("consent redirected to {back}, not to this server");
    }
    http.get(&back).send().await?;
    let settings = services.connection.settings().await?;
    if settings.status != ConnectionStatus::Connected {
        bail!("the demo tenant did not connect: {}", settings.message);
    }
    Ok(client_id)
}
