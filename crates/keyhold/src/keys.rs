//! `keyhold keys ...`: root key management from the command line — new keys (`generate`), the
//! rotation procedure (`rotate`), moving every record to the active key (`rewrap`), records per
//! key (`status`) — and the keyring check every process runs at start-up ([`check_keyring`],
//! also `keys check`). SQL lives in `store::keyring`, cryptography in `crypto`; this module owns
//! the order of operations and what the operator reads.
//!
//! Rotation is add, rewrap, retire. `rotate` prints those steps for the configured keyring
//! instead of performing them: the keyring lives in the operator's environment or secret store,
//! which Keyhold does not write, and each step needs every process restarted before the next.

mod check;
mod rewrap;
mod rotate;
mod status;

use anyhow::bail;
use crypto::ExposeSecret as _;
use store::PgPool;
use store::readiness::Readiness;

pub use check::check_keyring;

use crate::config::{DbArgs, KeysCommand};

pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Generate { id } => generate(id),
        KeysCommand::Rotate { keys, id } => rotate::run(&keys, id),
        KeysCommand::Rewrap {
            db,
            keys,
            batch_size,
            limit,
        } => {
            let keyring = keys.keyring()?;
            let pool = open(&db).await?;
            // Refuse before writing anything if a key is wrong or missing: rewrapping with the
            // wrong key would fail on every record, and one missing would be reported as damage.
            check_keyring(&pool, &keyring).await?;
            // Secrets from before bindings are sealed again (under the active key) first, so
            // the re-wrap below and every later open find them bound.
            broker::reseal::legacy_secrets(&pool, &keyring).await?;
            let options = rewrap::Options { batch_size, limit };
            let outcome = rewrap::rewrap(&pool, &keyring, &options).await;
            pool.close().await;
            rewrap::report(&outcome?, &keyring)
        }
        KeysCommand::Status { db, keys, json } => {
            let keyring = if keys.root_keys.is_none() && keys.root_key_file.is_none() {
                None
            } else {
                Some(keys.keyring()?)
            };
            let pool = open(&db).await?;
            let shown = status::run(&pool, keyring.as_ref(), json).await;
            pool.close().await;
            shown
        }
        KeysCommand::Check { db, keys } => {
            let keyring = keys.keyring()?;
            let pool = open(&db).await?;
            let checked = check_keyring(&pool, &keyring).await;
            pool.close().await;
            checked?;
            println!(
                "root keyring ok: {} (active {})",
                keyring.key_ids().join(", "),
                keyring.active_key_id()
            );
            Ok(())
        }
    }
}

fn generate(id: Option<String>) -> anyhow::Result<()> {
    let id = id.unwrap_or_else(default_key_id);
    let key = crypto::generate_root_key(&id).map_err(|err| anyhow::anyhow!("{err}"))?;
    println!("{}", key.expose_secret());
    eprintln!(
        "Keep this key secret and backed up: without it the stored secrets cannot be read.\n\
         Use it as KEYHOLD_ROOT_KEYS=<the line above>, or put it in a file (mode 0600) named by KEYHOLD_ROOT_KEY_FILE."
    );
    Ok(())
}

/// `k` + today's date: readable in `keys status`, and sorts by age.
fn default_key_id() -> String {
    let today = time::OffsetDateTime::now_utc().date();
    format!(
        "k{}{:02}{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    )
}

/// Opens the database for a keys command. These never migrate: an operator may well run them
/// with a newer binary than the servers, and a schema change is `keyhold migrate`'s decision.
async fn open(db: &DbArgs) -> anyhow::Result<PgPool> {
    let pool = crate::db::connect(db).await?;
    match store::readiness::check(&pool).await? {
        Readiness::Ready => Ok(pool),
        Readiness::MigrationsBehind { applied, expected } => {
            pool.close().await;
            bail!(
                "the database is at migration {applied} but this keyhold expects {expected}: \
                 run `keyhold migrate` first"
            )
        }
    }
}
