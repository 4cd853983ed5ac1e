//! `keyhold keys status`: sealed records per root key id and table, each key's state (active,
//! configured, missing, retired) and whether it matches its recorded check value, then what to
//! do next. Read-only: unlike the start-up check it records nothing.

use std::collections::BTreeMap;

use crypto::RootKeyring;
use serde_json::json;
use store::PgPool;
use store::keyring::{self as db, SEALED_COLUMNS};

/// One line of the table.
struct Row {
    key_id: String,
    state: &'static str,
    check: &'static str,
    /// Per sealed column, in `SEALED_COLUMNS` order.
    records: Vec<i64>,
}

impl Row {
    fn total(&self) -> i64 {
        self.records.iter().sum()
    }
}

pub async fn run(
    pool: &PgPool,
    keyring: Option<&RootKeyring>,
    as_json: bool,
) -> anyhow::Result<()> {
    let counts = db::counts(pool).await?;
    let recorded: BTreeMap<String, String> = db::check_values(pool)
        .await?
        .into_iter()
        .map(|c| (c.key_id, c.check_value))
        .collect();
    let column_index = |table: &str| SEALED_COLUMNS.iter().position(|c| c.table == table);

    let mut per_key: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut unreadable = vec![0i64; SEALED_COLUMNS.len()];
    for count in &counts {
        let Some(i) = column_index(count.table) else {
            continue;
        };
        let slot = match &count.key_id {
            Some(id) => per_key
                .entry(id.clone())
                .or_insert_with(|| vec![0; SEALED_COLUMNS.len()]),
            None => &mut unreadable,
        };
        if let Some(n) = slot.get_mut(i) {
            *n += count.records;
        }
    }

    let configured = keyring.map(RootKeyring::key_ids).unwrap_or_default();
    let mut rows: Vec<Row> = Vec::new();
    for id in &configured {
        let check = match (keyring.and_then(|k| k.check_value(id)), recorded.get(id)) {
            (Some(ours), Some(stored)) if &ours == stored => "ok",
            (_, Some(_)) => "CHANGED",
            (_, None) => "new",
        };
        let state = if keyring.is_some_and(|k| k.active_key_id() == id) {
            "active"
        } else {
            "configured"
        };
        rows.push(Row {
            key_id: id.clone(),
            state,
            check,
            records: per_key
                .remove(id)
                .unwrap_or_else(|| vec![0; SEALED_COLUMNS.len()]),
        });
    }
    for (id, records) in per_key {
        let state = if keyring.is_some() {
            "missing"
        } else {
            "in use"
        };
        rows.push(Row {
            key_id: id,
            state,
            check: "-",
            records,
        });
    }
    for id in recorded.keys() {
        if !rows.iter().any(|r| &r.key_id == id) {
            rows.push(Row {
                key_id: id.clone(),
                state: "retired",
                check: "-",
                records: vec![0; SEALED_COLUMNS.len()],
            });
        }
    }

    if as_json {
        print_json(keyring, &rows, &unreadable)
    } else {
        print_table(&rows, &unreadable);
        print_advice(keyring, &rows, &unreadable);
        Ok(())
    }
}

fn print_json(
    keyring: Option<&RootKeyring>,
    rows: &[Row],
    unreadable: &[i64],
) -> anyhow::Result<()> {
    let by_table = |records: &[i64]| -> serde_json::Map<String, serde_json::Value> {
        SEALED_COLUMNS
            .iter()
            .zip(records)
            .map(|(c, n)| (c.table.to_owned(), json!(n)))
            .collect()
    };
    let keys: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            json!({
                "keyId": r.key_id,
                "state": r.state,
                "check": r.check,
                "records": by_table(&r.records),
                "total": r.total(),
            })
        })
        .collect();
    let body = json!({
        "activeKeyId": keyring.map(RootKeyring::active_key_id),
        "keys": keys,
        "unreadable": by_table(unreadable),
        "notOnActiveKey": keyring.map(|k| not_on_active(k, rows)),
    });
    println!("{}", serde_json::to_string_pretty(&body)?);
    Ok(())
}

fn print_table(rows: &[Row], unreadable: &[i64]) {
    let mut header = vec!["KEY ID".to_owned(), "STATE".to_owned(), "CHECK".to_owned()];
    header.extend(SEALED_COLUMNS.iter().map(|c| c.table.to_owned()));
    header.push("total".to_owned());
    let mut lines = vec![header];
    for r in rows {
        let mut line = vec![r.key_id.clone(), r.state.to_owned(), r.check.to_owned()];
        line.extend(r.records.iter().map(i64::to_string));
        line.push(r.total().to_string());
        lines.push(line);
    }
    if unreadable.iter().any(|n| *n > 0) {
        let mut line = vec!["(unreadable)".to_owned(), "-".to_owned(), "-".to_owned()];
        line.extend(unreadable.iter().map(i64::to_string));
        line.push(unreadable.iter().sum::<i64>().to_string());
        lines.push(line);
    }
    let widths: Vec<usize> = (0..lines.first().map_or(0, Vec::len))
        .map(|i| {
            lines
                .iter()
                .map(|l| l.get(i).map_or(0, String::len))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            // Names left, numbers right.
            .map(|(i, (cell, w))| {
                if i < 3 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}

fn not_on_active(keyring: &RootKeyring, rows: &[Row]) -> i64 {
    rows.iter()
        .filter(|r| r.key_id != keyring.active_key_id())
        .map(Row::total)
        .sum()
}

fn print_advice(keyring: Option<&RootKeyring>, rows: &[Row], unreadable: &[i64]) {
    let Some(keyring) = keyring else {
        println!(
            "\nno keyring configured: set KEYHOLD_ROOT_KEYS or KEYHOLD_ROOT_KEY_FILE to see each key's state"
        );
        return;
    };
    let active = keyring.active_key_id();
    println!();
    for r in rows.iter().filter(|r| r.check == "CHANGED") {
        println!(
            "`{}` is not the key first used under that id: processes with this keyring refuse to start",
            r.key_id
        );
    }
    let missing: Vec<&str> = rows
        .iter()
        .filter(|r| r.state == "missing")
        .map(|r| r.key_id.as_str())
        .collect();
    if !missing.is_empty() {
        println!(
            "records use key ids this keyring lacks ({}): add them back before starting keyhold",
            missing.join(", ")
        );
    }
    let behind = not_on_active(keyring, rows);
    if behind > 0 {
        println!(
            "{behind} records are not under the active key {active}: run `keyhold keys rewrap`"
        );
    } else {
        let retire: Vec<&str> = rows
            .iter()
            .filter(|r| r.state == "configured")
            .map(|r| r.key_id.as_str())
            .collect();
        if retire.is_empty() {
            println!("every record is under the active key {active}");
        } else {
            println!(
                "every record is under the active key {active}; {} can be retired (remove from the keyring, restart every process)",
                retire.join(", ")
            );
        }
    }
    let damaged: i64 = unreadable.iter().sum();
    if damaged > 0 {
        println!("{damaged} records have no readable envelope header: no key can open them");
    }
}
