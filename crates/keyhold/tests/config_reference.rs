//! The README's configuration reference checked against the binary itself. `keyhold <command>
//! --help` is the source of truth: every `[env: NAME]` it prints must have one row in README.md's
//! table with the same flag, the same commands and the same defaults, and the table may list
//! nothing else. The start-up warning about unknown `KEYHOLD_*` variables must know every one of
//! them, and the deploy files may only name variables that exist. When a flag is added, the failure
//! message prints the rows to paste.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The header line of the table in README.md that this test owns.
const TABLE_HEADER: &str = "| variable | flag | commands | default | meaning |";

/// What one command's `--help` says about one environment variable.
#[derive(Clone, Debug, PartialEq)]
struct HelpEntry {
    flag: String,
    /// `[default: ...]`, or `false` for a switch (clap prints no default for those).
    default: Option<String>,
    /// Named in the usage line outside `[OPTIONS]`: the command refuses to run without it.
    required: bool,
    possible_values: Vec<String>,
}

/// Every environment variable, with what each command that reads it says about it.
type HelpIndex = BTreeMap<String, BTreeMap<String, HelpEntry>>;

/// One row of README's table.
#[derive(Debug)]
struct Row {
    variable: String,
    flags: BTreeSet<String>,
    commands: BTreeSet<String>,
    defaults: BTreeSet<String>,
    default_cell: String,
    whole_row: String,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_repo_file(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

/// The binary with an empty environment, so help shows no values from the caller's shell and
/// defaults are clap's own.
fn keyhold() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyhold"));
    cmd.env_clear();
    cmd
}

fn help(command: &[String]) -> String {
    let output = keyhold()
        .args(command)
        .arg("--help")
        .output()
        .expect("running keyhold --help");
    assert!(
        output.status.success(),
        "keyhold {} --help failed: {}",
        command.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

/// Subcommand names listed under `Commands:`, without clap's own `help`.
fn subcommands(help_text: &str) -> Vec<String> {
    help_text
        .lines()
        .skip_while(|line| line.trim() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// Every command that does something (`serve`, `keys generate`, ...), with its help text.
fn leaf_commands() -> Vec<(Vec<String>, String)> {
    let mut leaves = Vec::new();
    let mut pending = vec![Vec::<String>::new()];
    while let Some(path) = pending.pop() {
        let text = help(&path);
        let children = subcommands(&text);
        if children.is_empty() {
            leaves.push((path, text));
        } else {
            for child in children {
                let mut next = path.clone();
                next.push(child);
                pending.push(next);
            }
        }
    }
    leaves.sort();
    assert!(
        leaves.len() >= 3,
        "found too few commands in keyhold --help: {leaves:?}"
    );
    leaves
}

/// The text inside `[label: ...]`, if the block has one.
fn bracketed<'a>(block: &'a str, label: &str) -> Option<&'a str> {
    let open = format!("[{label}: ");
    let start = block.find(&open)? + open.len();
    let len = block.get(start..)?.find(']')?;
    block.get(start..start + len)
}

/// The options of one command's help that read an environment variable.
fn env_entries(help_text: &str) -> Vec<(String, HelpEntry)> {
    let usage = help_text
        .lines()
        .find(|line| line.starts_with("Usage:"))
        .unwrap_or_default()
        .replace("[OPTIONS]", "");
    // An option starts on a line indented less than the description column; descriptions that
    // wrap, and long help paragraphs, are indented further and belong to the option above.
    // Each block is (the option's first line, all of its text).
    let mut blocks: Vec<(String, String)> = Vec::new();
    for line in help_text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            // Paragraphs of one option's long help are separated by blank lines.
            continue;
        }
        if indent < 8 && (trimmed.starts_with('-') || trimmed.starts_with('<')) {
            blocks.push((trimmed.to_owned(), trimmed.to_owned()));
        } else if indent >= 8
            && let Some((_, text)) = blocks.last_mut()
        {
            text.push(' ');
            text.push_str(trimmed);
        } else if indent < 8 {
            // A heading or the usage line: whatever follows is not this option's.
            blocks.push((String::new(), String::new()));
        }
    }
    blocks
        .iter()
        .filter_map(|(first_line, block)| {
            let env = bracketed(block, "env")?;
            let name = env.split('=').next().unwrap_or(env).trim().to_owned();
            // `--name <VALUE>  description` on one line (short help) or alone (long help).
            let header = first_line.split("  ").next().unwrap_or(first_line);
            let flag = header
                .split([' ', ','])
                .find(|word| word.starts_with("--"))
                .unwrap_or(header)
                .to_owned();
            let takes_value = header.contains('<');
            let default = bracketed(block, "default")
                .map(str::to_owned)
                .or_else(|| (!takes_value).then(|| "false".to_owned()));
            let possible_values = bracketed(block, "possible values")
                .map(|list| list.split(',').map(|v| v.trim().to_owned()).collect())
                .unwrap_or_default();
            let required = usage.split_whitespace().any(|word| word == flag);
            Some((
                name,
                HelpEntry {
                    flag,
                    default,
                    required,
                    possible_values,
                },
            ))
        })
        .collect()
}

fn help_index() -> HelpIndex {
    let mut index = HelpIndex::new();
    for (path, text) in leaf_commands() {
        let command = path.join(" ");
        for (name, entry) in env_entries(&text) {
            index
                .entry(name)
                .or_default()
                .insert(command.clone(), entry);
        }
    }
    assert!(
        index.contains_key("DATABASE_URL") && index.contains_key("KEYHOLD_LISTEN"),
        "help parsing found too little: {:?}",
        index.keys().collect::<Vec<_>>()
    );
    index
}

fn all_commands() -> BTreeSet<String> {
    leaf_commands()
        .into_iter()
        .map(|(path, _)| path.join(" "))
        .collect()
}

/// Splits a markdown table row on `|`, honouring `\|` inside a cell.
fn cells(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
    let mut out = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                if let Some(cell) = out.last_mut() {
                    cell.push('|');
                }
            }
            '|' => out.push(String::new()),
            _ => {
                if let Some(cell) = out.last_mut() {
                    cell.push(c);
                }
            }
        }
    }
    out.into_iter().map(|cell| cell.trim().to_owned()).collect()
}

/// The `code` spans of a cell.
fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn readme_rows(readme: &str, all: &BTreeSet<String>) -> Vec<Row> {
    let mut lines = readme
        .lines()
        .skip_while(|line| line.trim() != TABLE_HEADER);
    assert!(
        lines.next().is_some(),
        "README.md has no configuration table starting with `{TABLE_HEADER}`"
    );
    lines
        .skip(1) // the |---| line
        .take_while(|line| line.trim_start().starts_with('|'))
        .map(|line| {
            let c = cells(line);
            assert_eq!(c.len(), 5, "README table row needs 5 cells: {line}");
            let variable = code_spans(&c[0]);
            assert_eq!(variable.len(), 1, "first cell must be one `NAME`: {line}");
            assert!(!c[4].is_empty(), "README row without a meaning: {line}");
            let commands = if c[2] == "all" {
                all.clone()
            } else {
                c[2].split(',')
                    .map(|s| s.trim().trim_matches('`').to_owned())
                    .collect()
            };
            Row {
                variable: variable[0].clone(),
                flags: code_spans(&c[1]).into_iter().collect(),
                commands,
                defaults: code_spans(&c[3]).into_iter().collect(),
                default_cell: c[3].clone(),
                whole_row: line.to_owned(),
            }
        })
        .collect()
}

/// A README row for `name` as the help describes it: a starting point for the docs when a flag is
/// added (the meaning still needs writing).
fn suggested_row(name: &str, uses: &BTreeMap<String, HelpEntry>, all: &BTreeSet<String>) -> String {
    let flags: BTreeSet<&str> = uses.values().map(|e| e.flag.as_str()).collect();
    let commands: BTreeSet<&str> = uses.keys().map(String::as_str).collect();
    let commands = if commands.len() == all.len() {
        "all".to_owned()
    } else {
        commands.into_iter().collect::<Vec<_>>().join(", ")
    };
    let defaults: BTreeSet<String> = uses
        .values()
        .filter_map(|e| e.default.as_ref())
        .map(|d| format!("`{d}`"))
        .collect();
    let mut default = defaults.into_iter().collect::<Vec<_>>().join(", ");
    if uses.values().any(|e| e.required) {
        default = format!("required {default}");
    } else if uses.values().any(|e| e.default.is_none()) {
        default = format!("unset {default}");
    }
    let flags = flags
        .into_iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "| `{name}` | {flags} | {commands} | {} | ... |",
        default.trim()
    )
}

#[test]
fn readme_configuration_table_matches_every_env_var_in_help() {
    let index = help_index();
    let all = all_commands();
    let readme = read_repo_file("README.md");
    let rows = readme_rows(&readme, &all);
    let mut problems = Vec::new();

    let mut seen = BTreeSet::new();
    for row in &rows {
        if !seen.insert(row.variable.clone()) {
            problems.push(format!("{} has more than one row", row.variable));
        }
        let Some(uses) = index.get(&row.variable) else {
            problems.push(format!(
                "{} is in README but no command's --help reads it: {}",
                row.variable, row.whole_row
            ));
            continue;
        };
        let flags: BTreeSet<String> = uses.values().map(|e| e.flag.clone()).collect();
        if row.flags != flags {
            problems.push(format!(
                "{}: README says flag {:?}, help says {flags:?}",
                row.variable, row.flags
            ));
        }
        let commands: BTreeSet<String> = uses.keys().cloned().collect();
        if row.commands != commands {
            problems.push(format!(
                "{}: README says commands {:?}, help says {commands:?}",
                row.variable, row.commands
            ));
        }
        let defaults: BTreeSet<String> = uses.values().filter_map(|e| e.default.clone()).collect();
        if row.defaults != defaults {
            problems.push(format!(
                "{}: README says default {:?}, help says {defaults:?}",
                row.variable, row.defaults
            ));
        }
        if uses.values().any(|e| e.required) && !row.default_cell.contains("required") {
            problems.push(format!(
                "{}: some command requires it; say \"required\" in the default cell",
                row.variable
            ));
        }
        if uses.values().any(|e| !e.required && e.default.is_none())
            && !row.default_cell.contains("unset")
        {
            problems.push(format!(
                "{}: optional without a default somewhere; say \"unset\" in the default cell",
                row.variable
            ));
        }
        let possible: BTreeSet<&String> = uses.values().flat_map(|e| &e.possible_values).collect();
        for value in possible {
            if !row.whole_row.contains(&format!("`{value}`")) {
                problems.push(format!(
                    "{}: the possible value `{value}` is not named in its row",
                    row.variable
                ));
            }
        }
    }
    for (name, uses) in &index {
        if !seen.contains(name) {
            problems.push(format!(
                "{name} is read by keyhold but missing from README's table; a row to start from:\n{}",
                suggested_row(name, uses, &all)
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "README.md's configuration reference disagrees with `keyhold --help`:\n- {}",
        problems.join("\n- ")
    );
}

/// `KEYHOLD_…` names in `text`, without bare prefixes such as `KEYHOLD_WORKER_*`.
fn keyhold_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices("KEYHOLD_") {
        let before = text.get(..at).and_then(|s| s.chars().last());
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = text
            .get(at..)
            .unwrap_or_default()
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if !name.ends_with('_') {
            names.insert(name);
        }
    }
    names
}

#[test]
fn deploy_files_and_readme_name_only_real_variables() {
    let index = help_index();
    let mut files = vec![
        "README.md".to_owned(),
        "Dockerfile".to_owned(),
        "docker-compose.yml".to_owned(),
    ];
    let deploy = repo_root().join("deploy");
    if let Ok(entries) = std::fs::read_dir(&deploy) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file()
                && let Some(name) = path.file_name().and_then(|n| n.to_str())
            {
                files.push(format!("deploy/{name}"));
            }
        }
    }
    let mut unknown = Vec::new();
    for file in &files {
        for name in keyhold_names(&read_repo_file(file)) {
            if !index.contains_key(&name) {
                unknown.push(format!("{file}: {name}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "variables that no keyhold command reads (typo, or a flag that was renamed?):\n{}",
        unknown.join("\n")
    );
    // The scan itself works: the compose file configures the API through these.
    let compose = keyhold_names(&read_repo_file("docker-compose.yml"));
    for expected in [
        "KEYHOLD_LISTEN",
        "KEYHOLD_ROOT_KEY_FILE",
        "KEYHOLD_AUTH0_ENDPOINT_OVERRIDE",
    ] {
        assert!(
            compose.contains(expected),
            "{expected} not found in docker-compose.yml"
        );
    }
}

#[test]
fn unknown_variable_warning_knows_every_documented_variable() {
    let index = help_index();
    let canary = "KEYHOLD_NOT_A_REAL_SETTING";
    let mut cmd = keyhold();
    // `keys generate` needs no database and runs the start-up warning like every command. The
    // other commands' variables are not parsed by it, so any value will do.
    cmd.args(["keys", "generate"]).env(canary, "1");
    for name in index.keys().filter(|n| n.starts_with("KEYHOLD_")) {
        cmd.env(name, "x");
    }
    cmd.env("KEYHOLD_LOG_FORMAT", "json");
    let output = cmd.output().expect("running keyhold keys generate");
    assert!(
        output.status.success(),
        "keys generate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8(output.stderr).expect("logs are UTF-8");
    let warned: BTreeSet<String> = stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| {
            event["message"]
                .as_str()
                .or_else(|| event["fields"]["message"].as_str())
                .is_some_and(|m| m.contains("unknown KEYHOLD_ variable"))
        })
        .filter_map(|event| {
            event["variable"]
                .as_str()
                .or_else(|| event["fields"]["variable"].as_str())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        warned,
        BTreeSet::from([canary.to_owned()]),
        "only the canary should be called unknown; add the others to KNOWN_VARS in config.rs.\nstderr:\n{stderr}"
    );
}

#[test]
fn help_parser_reads_clap_layouts() {
    let long = "Usage: keyhold serve [OPTIONS] --database-url <DATABASE_URL>\n\nOptions:\n      \
                --listen <LISTEN>\n          Address\n\n          More <text> [env: KEYHOLD_LISTEN=] [default: 127.0.0.1:8080]\n      \
                --database-url <DATABASE_URL>\n          PostgreSQL URL\n          - more text\n          \
                [env: DATABASE_URL]\n      --flag\n          A switch for <x> [env: KEYHOLD_FLAG=]\n      \
                --mode <MODE>  Short form [env: KEYHOLD_MODE=] [default: a] [possible values: a, b]\n  \
                -h, --help\n          Print help\n";
    let entries: BTreeMap<String, HelpEntry> = env_entries(long).into_iter().collect();
    assert_eq!(entries.len(), 4, "{entries:?}");
    assert_eq!(
        entries["KEYHOLD_LISTEN"].default.as_deref(),
        Some("127.0.0.1:8080")
    );
    assert!(entries["DATABASE_URL"].required);
    assert_eq!(entries["DATABASE_URL"].default, None);
    assert!(!entries["KEYHOLD_LISTEN"].required);
    assert_eq!(entries["KEYHOLD_FLAG"].default.as_deref(), Some("false"));
    assert_eq!(entries["KEYHOLD_MODE"].flag, "--mode");
    assert_eq!(entries["KEYHOLD_MODE"].possible_values, ["a", "b"]);

    assert_eq!(
        cells(r"| `A` | `--a` | all | `x\|y` | m |"),
        ["`A`", "`--a`", "all", "`x|y`", "m"]
    );
    assert_eq!(
        keyhold_names("KEYHOLD_A, KEYHOLD_WORKER_*, XKEYHOLD_B, `KEYHOLD_C`"),
        BTreeSet::from(["KEYHOLD_A".to_owned(), "KEYHOLD_C".to_owned()])
    );
}
