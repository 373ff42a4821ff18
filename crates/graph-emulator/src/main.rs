//! `graph-emulator [--listen ADDR] [--seed S] [--users N]`: the emulator as a standalone server.

use std::net::SocketAddr;

use clap::Parser;
use graph_emulator::{EmulatorConfig, RunningEmulator};

/// Offline Microsoft Entra ID + Microsoft Graph emulator.
#[derive(Debug, Parser)]
#[command(name = "graph-emulator", version)]
struct Args {
    /// Address to listen on (port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:5002", env = "GRAPH_EMULATOR_LISTEN")]
    listen: SocketAddr,
    /// Seed for generated ids and random choices.
    #[arg(long, default_value_t = 0, env = "GRAPH_EMULATOR_SEED")]
    seed: u64,
    /// Users to generate (with department and nested groups); same seed, same tenant.
    #[arg(long, default_value_t = 0, env = "GRAPH_EMULATOR_USERS")]
    users: usize,
    /// Tenant GUID (generated from the seed when absent).
    #[arg(long)]
    tenant_id: Option<String>,
    /// The tenant's verified domain.
    #[arg(long, default_value = "contoso.onmicrosoft.com")]
    domain: String,
    /// The organization's display name.
    #[arg(long, default_value = "Contoso")]
    organization: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let config = EmulatorConfig {
        listen: args.listen,
        seed: args.seed,
        tenant_id: args.tenant_id,
        tenant_domain: args.domain,
        organization_name: args.organization,
        users: args.users,
        ..EmulatorConfig::default()
    };
    let emulator = match RunningEmulator::start(config).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("graph-emulator: cannot start on {}: {e}", args.listen);
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("graph-emulator listening on {}", emulator.base_url());
    println!(
        "tenant {} ({}), {} users",
        emulator.tenant_id(),
        emulator.tenant_domain(),
        args.users
    );
    println!(
        "token endpoint: {}/{}/oauth2/v2.0/token",
        emulator.base_url(),
        emulator.tenant_id()
    );
    println!("graph:          {}/v1.0/", emulator.base_url());
    println!("control:        {}/_emulator/", emulator.base_url());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("graph-emulator: cannot wait for Ctrl-C: {e}");
    }
    emulator.shutdown().await;
    std::process::ExitCode::SUCCESS
}
