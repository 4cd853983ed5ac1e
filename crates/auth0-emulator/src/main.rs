//! `auth0-emulator`: serve a local Auth0 from a seed file. Thin: parse flags, set up logging,
//! start the library's server, print the bound address, wait for Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use auth0_emulator::{Emulator, Seed};
use clap::Parser;

/// A faithful local Auth0 (token endpoint, JWKS, Management API subset) for tests and demos.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, env = "AUTH0_EMULATOR_LISTEN", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seed file (.json or .toml) with tenants, clients, grants and users.
    #[arg(long, env = "AUTH0_EMULATOR_SEED")]
    seed: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let seed = match &args.seed {
        Some(path) => Seed::from_file(path)?,
        None => Seed::default(),
    };
    let emulator = Emulator::start_on(args.listen, seed).await?;
    // Scripts wait for this exact line to learn the port.
    println!("listening on {}", emulator.base_url());
    tokio::signal::ctrl_c().await?;
    emulator.shutdown().await;
    Ok(())
}
