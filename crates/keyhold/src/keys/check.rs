//! The keyring check every process runs before it seals or opens anything: each configured key
//! must be the key first used under its id (compared through the check values recorded in
//! `keyring_check_values`), and every root key id that sealed records name must be configured.
//! A key id seen for the first time must open a few of the records already sealed under it (a
//! database from before check values existed) before its check value is recorded.
//!
//! Everything is checked before anything is recorded, and the refusal names each key id and what
//! to do, because the operator reading it is in the middle of a restart.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::bail;
use crypto::{Aad, RootKeyring};
use store::PgPool;
use store::keyring::{self as db, CheckValue, KeyUse, SEALED_COLUMNS};

/// Records a key id seen for the first time must be able to open (any one of them) per table:
/// more than one so a single damaged record cannot stop a start.
const PROBES: i64 = 3;

/// Checks the configured keyring against the database and records check values for key ids seen
/// for the first time. Call after migrations and before serving or working: an error means this
/// process must not start, and its message says which key id is wrong or missing.
pub async fn check_keyring(pool: &PgPool, keyring: &RootKeyring) -> anyhow::Result<()> {
    let recorded: HashMap<String, CheckValue> = db::check_values(pool)
        .await?
        .into_iter()
        .map(|c| (c.key_id.clone(), c))
        .collect();
    let in_use = db::key_ids_in_use(pool).await?;
    let users = tables_by_key_id(&in_use);
    let configured = keyring.key_ids();
    let mut problems = Vec::new();

    let mut first_seen = Vec::new();
    for id in &configured {
        let Some(ours) = keyring.check_value(id) else {
            continue;
        };
        match recorded.get(id) {
            Some(stored) if stored.check_value != ours => {
                problems.push(changed(id, stored, users.get(id.as_str())));
            }
            Some(_) => {}
            None => first_seen.push((id.as_str(), ours)),
        }
    }

    for (id, tables) in &users {
        if !configured.iter().any(|c| c == id) {
            problems.push(missing(id, tables, &configured));
        }
    }

    for (id, _) in &first_seen {
        if users.contains_key(id)
            && let Some(problem) = probe(pool, keyring, id).await?
        {
            problems.push(problem);
        }
    }

    if !problems.is_empty() {
        bail!(
            "the root keyring does not match the database:\n  - {}",
            problems.join("\n  - ")
        );
    }

    let unreadable: BTreeSet<&str> = in_use
        .iter()
        .filter(|u| u.key_id.is_none())
        .map(|u| u.table)
        .collect();
    if !unreadable.is_empty() {
        tracing::warn!(
            tables = ?unreadable,
            "some sealed values have no readable envelope header; they cannot be opened \
             (see `keyhold keys status`)"
        );
    }

    for (id, ours) in first_seen {
        let stored = db::record_check_value(pool, id, &ours).await?;
        // Another process recorded this id a moment ago with a different key.
        if stored.check_value != ours {
            bail!(
                "the root keyring does not match the database:\n  - {}",
                changed(id, &stored, users.get(id))
            );
        }
        tracing::info!(key_id = id, "recorded the check value of a new root key");
    }
    tracing::info!(
        active = keyring.active_key_id(),
        keys = ?configured,
        "root keyring matches the database"
    );
    Ok(())
}

/// Key id → tables with records sealed under it (unreadable headers left out).
fn tables_by_key_id(in_use: &[KeyUse]) -> BTreeMap<&str, Vec<&'static str>> {
    let mut out: BTreeMap<&str, Vec<&'static str>> = BTreeMap::new();
    for used in in_use {
        if let Some(id) = used.key_id.as_deref() {
            out.entry(id).or_default().push(used.table);
        }
    }
    out
}

fn changed(id: &str, stored: &CheckValue, tables: Option<&Vec<&'static str>>) -> String {
    let since = stored
        .recorded_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| stored.recorded_at.to_string());
    let data = match tables {
        Some(tables) => format!(
            "; records in {} are sealed under `{id}` and cannot be opened with this key",
            tables.join(", ")
        ),
        None => String::new(),
    };
    format!(
        "root key `{id}` is not the key first used under that id (recorded {since}; the check \
         values differ){data}. Restore the original `{id}` entry in KEYHOLD_ROOT_KEYS or \
         KEYHOLD_ROOT_KEY_FILE; a new key needs a new id (`keyhold keys generate --id <new-id>`)"
    )
}

fn missing(id: &str, tables: &[&str], configured: &[String]) -> String {
    format!(
        "records in {} are sealed under root key id `{id}`, which the configured keyring ({}) \
         lacks: add the `{id}` entry back, and keep it until `keyhold keys rewrap` has moved \
         every record off it (`keyhold keys status` shows none left)",
        tables.join(", "),
        configured.join(", ")
    )
}

/// `Some(problem)` when `id` opens none of the sampled records sealed under it in some table.
/// Unwrapping the data key is the proof: it is what the root key protects, and it leaves the
/// secret itself encrypted.
async fn probe(pool: &PgPool, keyring: &RootKeyring, id: &str) -> anyhow::Result<Option<String>> {
    for column in SEALED_COLUMNS {
        let sample = db::batch(pool, column, id, None, PROBES).await?;
        if sample.is_empty() {
            continue;
        }
        let opens = sample.iter().any(|record| {
            let record_id = record.id.to_string();
            let aad = Aad::new(column.table, &record_id, column.aad_field);
            keyring.rewrap(&record.sealed.0, &aad).is_ok()
        });
        if !opens {
            let ids: Vec<String> = sample.iter().map(|r| r.id.to_string()).collect();
            return Ok(Some(format!(
                "root key `{id}` does not open the records sealed under `{id}` in {} (tried {}): \
                 it is not the key that sealed them. Restore the original `{id}` entry",
                column.table,
                ids.join(", ")
            )));
        }
    }
    Ok(None)
}
