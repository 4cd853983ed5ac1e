//! `openapi.yaml`, loaded once per test process as JSON, and the questions the contract checks ask
//! of it: which operations exist, which one a concrete request hits, what a `$ref` points to.

use std::sync::LazyLock;

use axum::http::Method;
use serde_json::Value;

use super::schema::resolve_ref;

/// The HTTP methods an OpenAPI path item can hold, as they appear in it.
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

pub struct Spec {
    pub doc: Value,
}

/// One operation: `paths[template][method]`.
pub struct Operation<'a> {
    pub method: Method,
    pub template: &'a str,
    pub path_item: &'a Value,
    pub op: &'a Value,
}

/// What a concrete request hits.
pub enum Hit<'a> {
    Operation(Operation<'a>),
    /// A route with this path exists, but not with this method.
    OtherMethod(&'a str),
    NoRoute,
}

static SPEC: LazyLock<Result<Spec, String>> = LazyLock::new(|| {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml");
    let text = std::fs::read_to_string(file).map_err(|e| format!("reading {file}: {e}"))?;
    let doc: Value = serde_norway::from_str(&text).map_err(|e| format!("parsing {file}: {e}"))?;
    Ok(Spec { doc })
});

/// The repository's `openapi.yaml`; a test that cannot read it fails with the reason.
pub fn spec() -> &'static Spec {
    match &*SPEC {
        Ok(spec) => spec,
        Err(reason) => panic!("openapi.yaml: {reason}"),
    }
}

impl Spec {
    /// `value`, or what its `$ref` points to (followed through chains). Dangling references
    /// resolve to `Null`, which every check then reports as missing.
    pub fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        let mut current = value;
        for _ in 0..16 {
            match current.get("$ref").and_then(Value::as_str) {
                Some(reference) => {
                    current = resolve_ref(&self.doc, reference).unwrap_or(&Value::Null);
                }
                None => return current,
            }
        }
        &Value::Null
    }

    pub fn operations(&self) -> Vec<Operation<'_>> {
        let mut all = Vec::new();
        for (template, path_item) in self.doc["paths"].as_object().into_iter().flatten() {
            for (key, op) in path_item.as_object().into_iter().flatten() {
                if !METHODS.contains(&key.as_str()) {
                    continue;
                }
                if let Ok(method) = Method::from_bytes(key.to_ascii_uppercase().as_bytes()) {
                    all.push(Operation {
                        method,
                        template,
                        path_item,
                        op,
                    });
                }
            }
        }
        all
    }

    /// The operation a request to `path` (query string allowed) hits. Literal segments beat
    /// parameters, as in the router, so `/x/options` is not taken for `/x/{id}`.
    pub fn hit(&self, method: &Method, path: &str) -> Hit<'_> {
        let path = path.split('?').next().unwrap_or_default();
        let Some(paths) = self.doc["paths"].as_object() else {
            return Hit::NoRoute;
        };
        let best = paths
            .iter()
            .filter_map(|(template, item)| {
                literal_segments(template, path).map(|score| (score, template, item))
            })
            .max_by_key(|(score, _, _)| *score);
        let Some((_, template, path_item)) = best else {
            return Hit::NoRoute;
        };
        let key = method.as_str().to_ascii_lowercase();
        match path_item.get(&key) {
            Some(op) if METHODS.contains(&key.as_str()) => Hit::Operation(Operation {
                method: method.clone(),
                template,
                path_item,
                op,
            }),
            _ => Hit::OtherMethod(template),
        }
    }

    /// The parameters that apply to an operation: its own, then its path item's.
    pub fn parameters<'a>(&'a self, operation: &Operation<'a>) -> Vec<&'a Value> {
        [operation.op, operation.path_item]
            .into_iter()
            .flat_map(|holder| holder["parameters"].as_array().into_iter().flatten())
            .map(|p| self.resolve(p))
            .collect()
    }
}

/// How many literal segments `template` shares with `path`, or `None` when it does not match.
fn literal_segments(template: &str, path: &str) -> Option<usize> {
    let wanted: Vec<&str> = template.split('/').collect();
    let got: Vec<&str> = path.split('/').collect();
    if wanted.len() != got.len() {
        return None;
    }
    let mut literal = 0;
    for (w, g) in wanted.iter().zip(&got) {
        if is_parameter(w) {
            if g.is_empty() {
                return None;
            }
        } else if w == g {
            literal += 1;
        } else {
            return None;
        }
    }
    Some(literal)
}

pub fn is_parameter(segment: &str) -> bool {
    segment.len() > 2 && segment.starts_with('{') && segment.ends_with('}')
}

#[cfg(test)]
mod tests {
    use super::literal_segments;

    #[test]
    fn templates_match_concrete_paths_literals_first() {
        let id = "/api/v1/app-connections/auth0/{connectionId}";
        let by_name = "/api/v1/app-connections/auth0/connection-name/{connectionName}";
        assert_eq!(
            literal_segments(id, "/api/v1/app-connections/auth0/0192f6a0"),
            Some(5)
        );
        assert_eq!(
            literal_segments(by_name, "/api/v1/app-connections/auth0/connection-name/x"),
            Some(6)
        );
        assert_eq!(
            literal_segments(id, "/api/v1/app-connections/auth0/connection-name/x"),
            None
        );
        assert_eq!(literal_segments(id, "/api/v1/app-connections/auth0/"), None);
        assert_eq!(
            literal_segments("/api/v1/projects/{projectId}", "/api/v1/projects"),
            None
        );
    }
}
