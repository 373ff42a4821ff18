use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use switchboard::config::{BootstrapConfig, Overrides};
use switchboard::demo::{Demo, DemoOptions};
use switchboard::{app, commands, telemetry};
use switchboard_core::Timestamp;

/// Keeps a PBX directory, phonebooks and presence in step with Microsoft 365.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version)]
struct Cli {
    /// TOML configuration file (keys as in the README; SWITCHBOARD_* variables override it).
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://FILE or postgres://USER@HOST/DB.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Directory for private keys and the default SQLite file.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Emulated Microsoft 365 tenant + console on embedded SQLite, connected and ready.
    Demo {
        #[arg(long, default_value = "127.0.0.1:5001")]
        listen: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:5002")]
        emulator_listen: SocketAddr,
        #[arg(long)]
        admin_password: Option<String>,
        #[arg(long)]
        api_token: Option<String>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Users in the emulated tenant.
        #[arg(long, default_value_t = 50)]
        users: usize,
    },
    /// The production server.
    Serve {
        #[arg(long)]
        listen: Option<SocketAddr>,
        #[arg(long)]
        public_url: Option<String>,
    },
    /// The Microsoft 365 emulator alone.
    Emulator {
        #[arg(long, default_value = "127.0.0.1:5002")]
        listen: SocketAddr,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 50)]
        users: usize,
    },
    /// Key pair + self-signed certificate (public_key.pem, private_key.pem with mode 0600).
    Keygen {
        #[arg(long, default_value = ".")]
        out: PathBuf,
        #[arg(long, default_value = "Switchboard")]
        subject: String,
        #[arg(long, default_value_t = 730)]
        days: u32,
    },
    /// One sync run now, with a summary (`--dry-run` prints the plan and changes nothing).
    Sync {
        #[arg(value_enum)]
        kind: SyncKind,
        /// Read the whole tenant instead of the changes since the last run.
        #[arg(long)]
        full: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// Console users and API tokens.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SyncKind {
    Users,
    Contacts,
    Calendar,
    /// Users first (phonebooks and calendars belong to extensions), then contacts and calendar.
    All,
}

#[derive(Debug, Subcommand)]
enum AdminAction {
    /// Create a console admin (password from --password or one line on standard input).
    Create {
        username: String,
        #[arg(long, env = "SWITCHBOARD_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Change an admin's password and end their sessions.
    Password {
        username: String,
        #[arg(long, env = "SWITCHBOARD_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Create an API token acting for an admin; printed once, only its hash is stored.
    Token {
        username: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let overrides = Overrides {
        database_url: cli.database_url.clone(),
        data_dir: cli.data_dir.clone(),
        ..Overrides::default()
    };
    match cli.command {
        Command::Demo {
            listen,
            emulator_listen,
            admin_password,
            api_token,
            seed,
            users,
        } => {
            telemetry::init_logging("text");
            let demo = Demo::start(DemoOptions {
                listen,
                emulator_listen,
                data_dir: cli.data_dir,
                admin_password,
                api_token,
                seed,
                users,
            })
            .await?;
            println!("Switchboard demo is running (Ctrl-C to stop).");
            println!("  Console:      {}", demo.console_url);
            println!(
                "  Admin login:  {} / {}",
                demo.admin_username, demo.admin_password
            );
            println!("  API token:    {}", demo.api_token);
            println!(
                "  Emulator:     {} (tenant {}, {})",
                demo.emulator.base_url(),
                demo.emulator.tenant_domain(),
                demo.emulator.tenant_id()
            );
            println!("  Office 365:   connected, app {}", demo.client_id);
            println!(
                "  User sync:    {}",
                commands::sync::summary(&demo.first_sync)
            );
            println!("  Data:         {}", demo.config.data_dir.display());
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")?;
            demo.shutdown().await
        }
        Command::Serve { listen, public_url } => {
            let cfg = BootstrapConfig::load(
                cli.config.as_deref(),
                &Overrides {
                    listen,
                    public_url,
                    ..overrides
                },
            )?;
            telemetry::init_logging(&cfg.log_format);
            tracing::info!(config = ?cfg, "starting");
            let built = app::build(&cfg).await?;
            let listener = app::bind(cfg.listen).await?;
            tracing::info!("console on {}", cfg.base_url());
            let background = app::spawn_background(&built.services, built.events);
            let state = built.state.clone();
            let served = app::serve(listener, built.router, async move {
                let _ = tokio::signal::ctrl_c().await;
                state.close_streams();
            })
            .await;
            for task in background {
                task.abort();
            }
            served
        }
        Command::Emulator {
            listen,
            seed,
            users,
        } => {
            telemetry::init_logging("text");
            let emulator = graph_emulator::RunningEmulator::start(graph_emulator::EmulatorConfig {
                listen,
                seed,
                users,
                ..Default::default()
            })
            .await?;
            println!(
                "Microsoft 365 emulator on {} (tenant {}, {})",
                emulator.base_url(),
                emulator.tenant_domain(),
                emulator.tenant_id()
            );
            tokio::signal::ctrl_c().await?;
            emulator.shutdown().await;
            Ok(())
        }
        Command::Keygen { out, subject, days } => {
            let info = commands::keygen::run(&out, &subject, days).await?;
            println!(
                "Wrote {}/public_key.pem (upload it to the app registration) and private_key.pem (mode 0600, keep it secret).",
                out.display()
            );
            println!("SHA-1 thumbprint:   {}", info.thumbprint_sha1);
            println!("SHA-256 thumbprint: {}", info.thumbprint_sha256);
            println!("Valid until:        {}", info.not_after);
            Ok(())
        }
        Command::Sync {
            kind,
            full,
            dry_run,
        } => {
            let cfg = BootstrapConfig::load(cli.config.as_deref(), &overrides)?;
            telemetry::init_logging(&cfg.log_format);
            let built = app::build(&cfg).await?;
            let services = &built.services;
            if matches!(kind, SyncKind::Users | SyncKind::All) {
                let outcome = commands::sync::users(services, full, dry_run).await?;
                println!("{}", commands::sync::summary(&outcome));
            }
            if matches!(kind, SyncKind::All) {
                // The phonebook index follows the extensions the user sync just wrote.
                services.contact_sync.refresh_extensions().await?;
            }
            if matches!(kind, SyncKind::Contacts | SyncKind::All) {
                let run = commands::sync::contacts(services, full, dry_run).await?;
                println!("{}", commands::sync::run_summary("contact", &run, dry_run));
            }
            if matches!(kind, SyncKind::Calendar | SyncKind::All) {
                let run = commands::sync::calendar(services, full, dry_run).await?;
                println!("{}", commands::sync::run_summary("calendar", &run, dry_run));
            }
            Ok(())
        }
        Command::Admin { action } => {
            let cfg = BootstrapConfig::load(cli.config.as_deref(), &overrides)?;
            let store = app::open_store(&cfg).await?;
            let now = Timestamp::now();
            match action {
                AdminAction::Create { username, password } => {
                    let password = commands::admin::read_password(password)?;
                    commands::admin::create(store.as_ref(), &username, &password, now).await?;
                    println!("Admin \"{username}\" created.");
                }
                AdminAction::Password { username, password } => {
                    let password = commands::admin::read_password(password)?;
                    commands::admin::set_password(store.as_ref(), &username, &password).await?;
                    println!("Password of \"{username}\" changed; their sessions were ended.");
                }
                AdminAction::Token { username, name } => {
                    let token =
                        commands::admin::create_token(store.as_ref(), &username, &name, None, now)
                            .await?;
                    println!("{token}");
                    eprintln!(
                        "API token \"{name}\" for \"{username}\" created. It is shown only now."
                    );
                }
            }
            Ok(())
        }
    }
}
