//! Secret references, as Infisical writes them: `${KEY}` names a secret in the same environment and
//! folder as the secret holding it, `${env.folder.sub.KEY}` one elsewhere in the project
//! (`${prod.orders.api.DB_URL}`: environment `prod`, folder `/orders/api`, key `DB_URL`;
//! `${prod.DB_URL}`: the root of `prod`). Only text matching Infisical's pattern
//! (`${` then `[A-Za-z0-9_.-]` then `}`) is a reference; anything else stays as written.
//!
//! Expansion is breadth-first: each level of references is fetched with one query
//! (`store::secrets::at_places`) and only those secrets are opened, then values are resolved
//! depth-first in memory. Where Infisical leaves a missing reference as literal text and silently
//! stops at cycles, Keyhold refuses the read with a problem that names the reference (never a
//! value, and not the reference's own text, which is part of one: the secrets it joins by key,
//! environment and path): a reference outside what the caller may read (403), to no secret, in a
//! cycle, nested deeper than [`MAX_DEPTH`] or malformed (422) — a half-expanded value handed to an
//! app is worse than an error.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;

use crypto::{ExposeSecret, SecretString, Zeroizing};
use store::ProjectId;
use store::secrets::{Secret, SecretAddress};

use crate::AppState;
use crate::problem::{ApiError, ApiResult};

use super::validate;

/// How many references deep a value may reach (a secret referencing one that references another
/// is two deep).
pub const MAX_DEPTH: usize = 5;

/// The query field problems about references are reported under.
const FIELD: &str = "expandSecretReferences";

/// One `${...}` in a value: where it is and what it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub span: Range<usize>,
    pub target: Target,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `${KEY}`: the same environment and folder as the secret holding it.
    Here { key: String },
    /// `${env.folder.KEY}`.
    Elsewhere(SecretAddress),
}

impl Target {
    /// Where the reference points, seen from the secret at `from`.
    fn address(&self, from: &SecretAddress) -> SecretAddress {
        match self {
            Target::Here { key } => SecretAddress {
                environment: from.environment.clone(),
                path: from.path.clone(),
                key: key.clone(),
            },
            Target::Elsewhere(address) => address.clone(),
        }
    }
}

fn reference_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')
}

/// Every reference in `value`, in order; `Err` says why text of the pattern is not a reference.
pub fn parse(value: &str) -> Result<Vec<Reference>, &'static str> {
    let bytes = value.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(offset) = value[at..].find("${") {
        let start = at + offset;
        let inner_start = start + 2;
        let inner_len = bytes[inner_start..]
            .iter()
            .take_while(|c| reference_char(**c))
            .count();
        let inner_end = inner_start + inner_len;
        if inner_len == 0 || bytes.get(inner_end) != Some(&b'}') {
            // Not Infisical's pattern (`${ KEY }`, `${a/b}`, an unclosed `${`): literal text.
            at = inner_start;
            continue;
        }
        let span = start..inner_end + 1;
        let target = target(&value[inner_start..inner_end])?;
        found.push(Reference { span, target });
        at = inner_end + 1;
    }
    Ok(found)
}

fn target(inner: &str) -> Result<Target, &'static str> {
    let parts: Vec<&str> = inner.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err("has an empty part between dots");
    }
    let mut errors = Vec::new();
    match parts.as_slice() {
        [key] => {
            if !validate::secret_name("", key, &mut errors) {
                return Err("names a key longer than 256 characters");
            }
            Ok(Target::Here {
                key: (*key).to_owned(),
            })
        }
        [environment, folders @ .., key] => {
            if !validate::slug("", environment, &mut errors) {
                return Err("starts with something that is not an environment slug");
            }
            if folders.len() > validate::PATH_DEPTH_MAX {
                return Err("names a folder more than 16 levels deep");
            }
            if folders
                .iter()
                .chain([key])
                .any(|p| p.len() > validate::NAME_MAX)
            {
                return Err("names a folder or key longer than 256 characters");
            }
            Ok(Target::Elsewhere(SecretAddress {
                environment: (*environment).to_owned(),
                path: format!("/{}", folders.join("/")),
                key: (*key).to_owned(),
            }))
        }
        [] => Err("is empty"),
    }
}

/// A secret's address, as its references see it.
pub fn address_of(secret: &Secret) -> SecretAddress {
    SecretAddress {
        environment: secret.environment_slug.clone(),
        path: secret.folder_path.clone(),
        key: secret.key.clone(),
    }
}

fn describe(address: &SecretAddress) -> String {
    format!(
        "secret {} (environment {}, path {})",
        address.key, address.environment, address.path
    )
}

/// A secret read for an expansion: its row, opened value and the references in it.
struct Node {
    secret: Secret,
    value: SecretString,
    references: Vec<Reference>,
}

/// What expanding a set of secrets gave.
pub struct Expanded {
    /// The expanded values, in the order the secrets were given.
    pub values: Vec<SecretString>,
    /// The secrets read only because a reference named them (for the audit row).
    pub referenced: Vec<Secret>,
}

/// The secrets read while expanding, and the addresses found to be missing or out of reach.
struct Graph {
    nodes: HashMap<SecretAddress, Node>,
    missing: HashSet<SecretAddress>,
    out_of_reach: HashSet<SecretAddress>,
}

/// Expands the references in `roots` (secrets already read and opened). `may_read(environment,
/// path)` says what the caller may read; it is asked before anything is fetched, so a reference
/// outside it costs no query and says nothing about what exists there.
pub async fn expand(
    state: &AppState,
    project_id: ProjectId,
    roots: Vec<(Secret, SecretString)>,
    may_read: &(dyn Fn(&str, &str) -> bool + Sync),
) -> ApiResult<Expanded> {
    let order: Vec<SecretAddress> = roots.iter().map(|(s, _)| address_of(s)).collect();
    let mut graph = Graph {
        nodes: HashMap::new(),
        missing: HashSet::new(),
        out_of_reach: HashSet::new(),
    };
    for (secret, value) in roots {
        graph.insert(secret, value)?;
    }
    let mut frontier = order.clone();
    // Level n of the breadth-first walk is fetched in one query; anything deeper than MAX_DEPTH is
    // refused by `resolve` before it would be needed.
    for _ in 0..MAX_DEPTH {
        let wanted = graph.wanted(&frontier, may_read);
        if wanted.is_empty() {
            break;
        }
        let wanted: Vec<SecretAddress> = wanted.into_iter().collect();
        let found = store::secrets::at_places(&state.db, project_id, &wanted).await?;
        frontier = Vec::with_capacity(found.len());
        for secret in found {
            let value = super::raw::open(state, &secret)?;
            frontier.push(address_of(&secret));
            graph.insert(secret, value)?;
        }
        for address in wanted {
            if !graph.nodes.contains_key(&address) {
                graph.missing.insert(address);
            }
        }
    }
    let mut memo = HashMap::new();
    let mut values = Vec::with_capacity(order.len());
    for root in &order {
        let (value, _) = graph.resolve(root, 0, &mut Vec::new(), &mut memo)?;
        values.push(value);
    }
    let roots: HashSet<&SecretAddress> = order.iter().collect();
    let mut referenced: Vec<Secret> = graph
        .nodes
        .into_iter()
        .filter(|(address, _)| !roots.contains(address))
        .map(|(_, node)| node.secret)
        .collect();
    referenced.sort_by(|a, b| {
        (&a.environment_slug, &a.folder_path, &a.key).cmp(&(
            &b.environment_slug,
            &b.folder_path,
            &b.key,
        ))
    });
    Ok(Expanded { values, referenced })
}

impl Graph {
    fn insert(&mut self, secret: Secret, value: SecretString) -> ApiResult<()> {
        let address = address_of(&secret);
        let references = parse(value.expose_secret()).map_err(|reason| {
            ApiError::field(
                FIELD,
                format!(
                    "{} holds a reference (${{...}}) that {reason}",
                    describe(&address)
                ),
            )
        })?;
        self.nodes.insert(
            address,
            Node {
                secret,
                value,
                references,
            },
        );
        Ok(())
    }

    /// The addresses the references of `frontier` name that are neither read nor known missing;
    /// those the caller may not read are set aside instead.
    fn wanted(
        &mut self,
        frontier: &[SecretAddress],
        may_read: &(dyn Fn(&str, &str) -> bool + Sync),
    ) -> BTreeSet<SecretAddress> {
        let mut wanted = BTreeSet::new();
        for from in frontier {
            let Some(node) = self.nodes.get(from) else {
                continue;
            };
            for reference in &node.references {
                let to = reference.target.address(from);
                if self.nodes.contains_key(&to)
                    || self.missing.contains(&to)
                    || self.out_of_reach.contains(&to)
                {
                    continue;
                }
                if may_read(&to.environment, &to.path) {
                    wanted.insert(to);
                } else {
                    self.out_of_reach.insert(to);
                }
            }
        }
        wanted
    }

    /// The expanded value of the secret at `at`, reached `depth` references from a root, and how
    /// many references deep its own expansion went. `stack` is the chain being expanded (cycles).
    fn resolve(
        &self,
        at: &SecretAddress,
        depth: usize,
        stack: &mut Vec<SecretAddress>,
        memo: &mut HashMap<SecretAddress, (SecretString, usize)>,
    ) -> ApiResult<(SecretString, usize)> {
        if let Some(done) = memo.get(at) {
            return Ok(done.clone());
        }
        let node = self
            .nodes
            .get(at)
            .ok_or_else(|| ApiError::internal("reference expansion reached an unread secret"))?;
        if node.references.is_empty() {
            return Ok((node.value.clone(), 0));
        }
        stack.push(at.clone());
        let mut parts = Vec::with_capacity(node.references.len());
        let mut height = 0;
        for reference in &node.references {
            let to = reference.target.address(at);
            let refused = |why: String| {
                ApiError::field(
                    FIELD,
                    format!("{} references {}, {why}", describe(at), describe(&to)),
                )
            };
            if let Some(start) = stack.iter().position(|s| *s == to) {
                let chain: Vec<&str> = stack[start..]
                    .iter()
                    .chain([&to])
                    .map(|s| s.key.as_str())
                    .collect();
                return Err(refused(format!(
                    "which leads back to it ({}); references must not form a cycle",
                    chain.join(" → ")
                )));
            }
            if self.out_of_reach.contains(&to) {
                return Err(ApiError::Forbidden {
                    detail: format!(
                        "{} references {}, which is outside what you may read",
                        describe(at),
                        describe(&to)
                    ),
                });
            }
            if depth + 1 > MAX_DEPTH {
                return Err(refused(format!(
                    "{} references deep; references nest at most {MAX_DEPTH} deep",
                    depth + 1
                )));
            }
            if self.missing.contains(&to) {
                return Err(refused("which does not exist".to_owned()));
            }
            let (value, below) = self.resolve(&to, depth + 1, stack, memo)?;
            if depth + 1 + below > MAX_DEPTH {
                return Err(refused(format!(
                    "which reaches {} references deep; references nest at most {MAX_DEPTH} deep",
                    depth + 1 + below
                )));
            }
            height = height.max(below + 1);
            parts.push(value);
        }
        stack.pop();
        let value =
            splice(node.value.expose_secret(), &node.references, &parts).ok_or_else(|| {
                ApiError::field(
                    FIELD,
                    format!(
                        "expanding {} would give a value over {} bytes",
                        describe(at),
                        validate::VALUE_MAX
                    ),
                )
            })?;
        memo.insert(at.clone(), (value.clone(), height));
        Ok((value, height))
    }
}

/// `value` with each reference replaced by its expansion; `None` past the value limit. The
/// buffer is sized once and zeroed on drop, so no copy of a value is left behind by a regrowth.
fn splice(value: &str, references: &[Reference], parts: &[SecretString]) -> Option<SecretString> {
    let removed: usize = references.iter().map(|r| r.span.len()).sum();
    let added: usize = parts.iter().map(|p| p.expose_secret().len()).sum();
    let len = value.len() - removed + added;
    if len > validate::VALUE_MAX {
        return None;
    }
    let mut out = Zeroizing::new(String::with_capacity(len));
    let mut at = 0;
    for (reference, part) in references.iter().zip(parts) {
        out.push_str(&value[at..reference.span.start]);
        out.push_str(part.expose_secret());
        at = reference.span.end;
    }
    out.push_str(&value[at..]);
    Some(SecretString::from(std::mem::take(&mut *out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here(key: &str) -> Target {
        Target::Here {
            key: key.to_owned(),
        }
    }

    fn elsewhere(environment: &str, path: &str, key: &str) -> Target {
        Target::Elsewhere(SecretAddress {
            environment: environment.to_owned(),
            path: path.to_owned(),
            key: key.to_owned(),
        })
    }

    fn targets(value: &str) -> Vec<Target> {
        parse(value)
            .expect("parses")
            .into_iter()
            .map(|r| r.target)
            .collect()
    }

    #[test]
    fn infisicals_two_forms_are_read() {
        assert_eq!(targets("${KEY}"), [here("KEY")]);
        assert_eq!(
            targets("postgres://${prod.orders.api.DB_USER}:${DB_PASS}@db/${prod.NAME}"),
            [
                elsewhere("prod", "/orders/api", "DB_USER"),
                here("DB_PASS"),
                elsewhere("prod", "/", "NAME"),
            ]
        );
        let spans: Vec<_> = parse("a${B}c").expect("parses")[0].span.clone().collect();
        assert_eq!(spans, (1..5).collect::<Vec<_>>());
    }

    #[test]
    fn text_outside_the_pattern_stays_literal() {
        for literal in [
            "plain",
            "${",
            "${}",
            "${ KEY }",
            "${a/b}",
            "$KEY",
            "{KEY}",
            "${KEY",
            "${é}",
            "${@proj.dev.KEY}",
        ] {
            assert_eq!(targets(literal), [], "{literal}");
        }
        // A `${` that is not a reference does not hide one after it.
        assert_eq!(targets("${ ${KEY}"), [here("KEY")]);
    }

    #[test]
    fn malformed_references_are_named() {
        for bad in [
            "${prod..KEY}",
            "${.KEY}",
            "${KEY.}",
            "${Prod.KEY}",
            "${-x.KEY}",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = format!("${{prod.{}KEY}}", "a.".repeat(17));
        assert!(parse(&deep).is_err());
        let fine = format!("${{prod.{}KEY}}", "a.".repeat(16));
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn splicing_replaces_each_reference() {
        let value = "x=${A};y=${prod.B}!";
        let refs = parse(value).expect("parses");
        let parts = [SecretString::from("1"), SecretString::from("two")];
        let out = splice(value, &refs, &parts).expect("fits");
        assert_eq!(out.expose_secret(), "x=1;y=two!");
        let big = [
            SecretString::from("a".repeat(validate::VALUE_MAX)),
            SecretString::from("b"),
        ];
        assert!(splice(value, &refs, &big).is_none());
    }
}
