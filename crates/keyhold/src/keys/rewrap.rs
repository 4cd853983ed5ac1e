//! `keyhold keys rewrap`: moves every sealed record to the active root key by re-wrapping its
//! data key (the secret's ciphertext is kept byte for byte), walking each sealed column listed in
//! `store::keyring::SEALED_COLUMNS` one old key id at a time in id-ordered batches.
//!
//! Resumable by construction: a record's own key id is its progress marker, so a run that is
//! interrupted (killed, `--limit`, a lost connection) leaves committed batches done, and the
//! next run only finds what is still under an old key. Each batch is written with one
//! compare-and-swap statement, so a record a concurrent writer changed meanwhile keeps that
//! write; another pass picks it up if it is still under an old key.

use std::collections::{BTreeMap, HashSet};
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use anyhow::bail;
use crypto::{Aad, RootKeyring};
use indicatif::{ProgressBar, ProgressStyle};
use store::PgPool;
use store::connections::Sealed;
use store::keyring::{self as db, SEALED_COLUMNS, SealedColumn, Swap};
use uuid::Uuid;

/// Passes over the tables when concurrent writes got in the way; more would chase a writer that
/// still seals under an old key, which only restarting it fixes.
const MAX_PASSES: usize = 3;
/// Without a terminal, a progress line at most this often.
const LINE_EVERY: Duration = Duration::from_secs(5);
/// Failed records listed by id in the summary; the rest are counted.
const FAILURES_SHOWN: usize = 20;

pub struct Options {
    pub batch_size: u32,
    /// Stop after this many records were re-wrapped.
    pub limit: Option<u64>,
}

/// What a run did, for the summary.
#[derive(Debug, Default)]
pub struct Outcome {
    pub rewrapped: BTreeMap<&'static str, u64>,
    /// Records a concurrent writer changed between our read and our write (left as written).
    pub conflicts: u64,
    pub failures: Vec<Failure>,
    /// Records still under another key id afterwards (failures included).
    pub remaining: i64,
    /// Records whose envelope header cannot be read at all.
    pub unreadable: i64,
    pub stopped_at_limit: bool,
    pub elapsed: Duration,
}

impl Outcome {
    fn total(&self) -> u64 {
        self.rewrapped.values().sum()
    }
}

/// A record that could not be re-wrapped; the reason names no secret.
#[derive(Debug)]
pub struct Failure {
    pub table: &'static str,
    pub id: Uuid,
    pub reason: String,
}

pub async fn rewrap(
    pool: &PgPool,
    keyring: &RootKeyring,
    options: &Options,
) -> anyhow::Result<Outcome> {
    let Some(lock) = db::try_lock_rewrap(pool).await? else {
        bail!("another `keyhold keys rewrap` is running on this database; let it finish");
    };
    let started = Instant::now();
    let active = keyring.active_key_id();
    let mut outcome = Outcome::default();
    let mut failed: HashSet<Uuid> = HashSet::new();
    let mut budget = options.limit.unwrap_or(u64::MAX);

    let (todo, _) = pending(pool, active).await?;
    let progress = Progress::new(todo.min(budget));

    'passes: for _ in 0..MAX_PASSES {
        let conflicts_before = outcome.conflicts;
        let (_, by_column) = pending(pool, active).await?;
        for (column, key_id) in by_column {
            if !keyring.key_ids().contains(&key_id) {
                // The start-up check refuses unknown ids; one appearing since is a writer with
                // another keyring, and every record of it would fail here anyway.
                continue;
            }
            let mut after = None;
            loop {
                if budget == 0 {
                    outcome.stopped_at_limit = true;
                    break 'passes;
                }
                let take = budget.min(u64::from(options.batch_size));
                let records = db::batch(pool, column, &key_id, after, i64::try_from(take)?).await?;
                let Some(last) = records.last() else {
                    break;
                };
                after = Some(last.id);
                let read = records.len() as u64;
                let mut swaps = Vec::with_capacity(records.len());
                for record in records {
                    if failed.contains(&record.id) {
                        continue;
                    }
                    let record_id = record.id.to_string();
                    let aad = Aad::new(column.table, &record_id, column.aad_field);
                    match keyring.rewrap(&record.sealed.0, &aad) {
                        Ok(new) => swaps.push(Swap {
                            id: record.id,
                            old: record.sealed,
                            new: Sealed(new),
                        }),
                        Err(err) => {
                            failed.insert(record.id);
                            outcome.failures.push(Failure {
                                table: column.table,
                                id: record.id,
                                reason: err.to_string(),
                            });
                        }
                    }
                }
                let attempted = swaps.len() as u64;
                let written = db::swap(pool, column, &swaps).await?;
                *outcome.rewrapped.entry(column.table).or_default() += written;
                outcome.conflicts += attempted.saturating_sub(written);
                budget = budget.saturating_sub(written);
                progress.advance(read);
            }
        }
        if outcome.conflicts == conflicts_before {
            break;
        }
    }

    let counts = db::counts(pool).await?;
    outcome.remaining = counts
        .iter()
        .filter(|c| c.key_id.as_deref().is_some_and(|id| id != active))
        .map(|c| c.records)
        .sum();
    outcome.unreadable = counts
        .iter()
        .filter(|c| c.key_id.is_none())
        .map(|c| c.records)
        .sum();
    outcome.elapsed = started.elapsed();
    progress.finish();
    lock.release().await?;
    Ok(outcome)
}

/// Records not under `active` (a count, and the (column, key id) pairs to walk).
async fn pending(
    pool: &PgPool,
    active: &str,
) -> anyhow::Result<(u64, Vec<(&'static SealedColumn, String)>)> {
    let mut total = 0u64;
    let mut walks = Vec::new();
    for count in db::counts(pool).await? {
        let Some(key_id) = count.key_id else { continue };
        if key_id == active {
            continue;
        }
        total += u64::try_from(count.records).unwrap_or(0);
        if let Some(column) = SEALED_COLUMNS.iter().find(|c| c.table == count.table) {
            walks.push((column, key_id));
        }
    }
    Ok((total, walks))
}

/// Prints the summary (stdout) and fails the command when records were left behind for a reason
/// other than `--limit`.
pub fn report(outcome: &Outcome, keyring: &RootKeyring) -> anyhow::Result<()> {
    let active = keyring.active_key_id();
    let total = outcome.total();
    let secs = outcome.elapsed.as_secs_f64();
    let rate = if secs > 0.0 { total as f64 / secs } else { 0.0 };
    let per_table: Vec<String> = SEALED_COLUMNS
        .iter()
        .map(|c| {
            let n = outcome.rewrapped.get(c.table).copied().unwrap_or(0);
            format!("{} {n}", c.table)
        })
        .collect();
    println!(
        "rewrapped {total} records to root key {active} in {secs:.1} s ({rate:.0} records/s): {}",
        per_table.join(", ")
    );
    if outcome.conflicts > 0 {
        println!(
            "{} records were rewritten by someone else while this ran and kept that write",
            outcome.conflicts
        );
    }
    for failure in outcome.failures.iter().take(FAILURES_SHOWN) {
        println!(
            "cannot re-wrap {}/{}: {}",
            failure.table, failure.id, failure.reason
        );
    }
    if outcome.failures.len() > FAILURES_SHOWN {
        println!("... and {} more", outcome.failures.len() - FAILURES_SHOWN);
    }
    if outcome.unreadable > 0 {
        println!(
            "{} records have no readable envelope header and cannot be opened with any key",
            outcome.unreadable
        );
    }
    if outcome.stopped_at_limit {
        println!(
            "stopped at --limit; {} records remain under other keys: run `keyhold keys rewrap` again to continue",
            outcome.remaining
        );
        return Ok(());
    }
    if !outcome.failures.is_empty() {
        bail!(
            "{} records could not be re-wrapped (listed above); {} records remain under other keys",
            outcome.failures.len(),
            outcome.remaining
        );
    }
    if outcome.remaining > 0 {
        bail!(
            "{} records are still under other keys: a process whose active key is not {active} is \
             still sealing; restart every keyhold process with {active} first, then run \
             `keyhold keys rewrap` again",
            outcome.remaining
        );
    }
    let retired: Vec<String> = keyring
        .key_ids()
        .into_iter()
        .filter(|id| id != active)
        .collect();
    if retired.is_empty() {
        println!("every record is sealed under {active}");
    } else {
        println!(
            "every record is sealed under {active}; {} can be retired: remove it from the keyring \
             and restart every keyhold process",
            retired.join(", ")
        );
    }
    Ok(())
}

/// A bar on a terminal; otherwise a line now and then, so logs show a long run is alive.
enum Progress {
    Bar(ProgressBar),
    Lines {
        total: u64,
        done: std::cell::Cell<u64>,
        last: std::cell::Cell<Instant>,
    },
}

impl Progress {
    fn new(total: u64) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(
                "rewrap {bar:40} {pos}/{len} records, {per_sec}, eta {eta}",
            ) {
                bar.set_style(style);
            }
            Progress::Bar(bar)
        } else {
            Progress::Lines {
                total,
                done: std::cell::Cell::new(0),
                last: std::cell::Cell::new(Instant::now()),
            }
        }
    }

    fn advance(&self, records: u64) {
        match self {
            Progress::Bar(bar) => bar.inc(records),
            Progress::Lines { total, done, last } => {
                done.set(done.get() + records);
                if last.get().elapsed() >= LINE_EVERY {
                    last.set(Instant::now());
                    eprintln!("rewrap: {}/{total} records", done.get());
                }
            }
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
