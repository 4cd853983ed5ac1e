//! The `keyhold` binary: parse flags, set up logging, run the command asked for. Everything else lives
//! in the library crates so tests reuse it.

mod bootstrap;
mod config;
mod db;
mod dev;
mod http;
mod keys;
mod memory;
mod serve;
mod telemetry;
mod webhook_args;
mod worker_cmd;

use std::process::ExitCode;

/// Allocation-heavy request paths (rows decoded into strings, JSON written) spent a sixth of the
/// server's CPU in glibc's allocator; see bench/connections/findings.md for the measurement.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use config::{Cli, Command};

fn main() -> ExitCode {
    // Before the runtime's threads allocate anything: see `memory`.
    allocator::set_purge_delay_ms(memory::PURGE_DELAY_MS);
    let small_pages = memory::small_pages_only();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let cli = Cli::parse();
        telemetry::init(cli.log_format);
        if let Err(err) = small_pages {
            tracing::warn!(error = %err, "could not turn transparent huge pages off; memory use will be higher");
        }
        config::warn_unknown_vars();
        match run(cli.command).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                // `{:#}` prints the context chain on one line; none of our errors carry secrets.
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(args).await,
        Command::Migrate(args) => {
            let pool = db::connect_and_migrate(&args).await?;
            pool.close().await;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Keys(command) => keys::run(command).await,
        Command::Dev(args) => dev::run(args).await,
        Command::Worker(args) => worker_cmd::run(args).await,
        Command::Bootstrap { db, json } => bootstrap::run(db, json).await,
    }
}
