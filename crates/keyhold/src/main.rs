//! The `keyhold` binary: parse flags, set up logging, run the command asked for. Everything else lives
//! in the library crates so tests reuse it.

mod bootstrap;
mod config;
mod db;
mod dev;
mod serve;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;
use config::{Cli, Command, KeysCommand};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    config::warn_unknown_vars();
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the context chain on one line; none of our errors carry secrets.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
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
        Command::Keys(KeysCommand::Generate { id }) => {
            let id = id.unwrap_or_else(default_key_id);
            let key = crypto::generate_root_key(&id).map_err(|err| anyhow::anyhow!("{err}"))?;
            println!("{}", crypto::ExposeSecret::expose_secret(&key));
            eprintln!(
                "Keep this key secret and backed up: without it the stored secrets cannot be read.\n\
                 Use it as KEYHOLD_ROOT_KEYS=<the line above>, or put it in a file (mode 0600) named by KEYHOLD_ROOT_KEY_FILE."
            );
            Ok(())
        }
        Command::Dev(args) => dev::run(args).await,
        Command::Bootstrap { db, json } => bootstrap::run(db, json).await,
    }
}

fn default_key_id() -> String {
    let today = time::OffsetDateTime::now_utc().date();
    format!(
        "k{}{:02}{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    )
}
