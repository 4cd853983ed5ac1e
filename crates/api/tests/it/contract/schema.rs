//! A JSON Schema (2020-12) validator for exactly the subset `openapi.yaml` uses. It refuses any
//! keyword it does not implement, so the spec cannot state a rule that silently goes unchecked; a
//! new keyword in the spec means a new arm here. `$ref`s are local (`#/...`) into the spec.

use serde_json::{Map, Value};

/// Keywords that constrain an instance; each is implemented in `check`.
const VALIDATING: &[&str] = &[
    "$ref",
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "propertyNames",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "format",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
];

/// Keywords that only describe (plus any `x-` extension).
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "default",
    "example",
    "examples",
    "readOnly",
    "writeOnly",
    "deprecated",
    "$comment",
    // OpenAPI's hint for which `oneOf` branch applies; the branches themselves say it (a `const`).
    "discriminator",
];

/// A pattern the server also accepts when its operator opted in (webhook and audit log stream URLs
/// with `KEYHOLD_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true`: http, IP literals, internal names). The
/// document's `pattern` states the default; tests run both ways, so either passes here.
const OPT_IN_PATTERN: &str = "x-keyhold-private-networks-pattern";

/// Formats checked for real; the others are documentation for clients.
const CHECKED_FORMATS: &[&str] = &["uuid", "date-time"];
const ANNOTATION_FORMATS: &[&str] = &["password", "email", "uri"];

/// Where in the spec a `$ref` points, or `None` for a reference outside this document.
pub fn resolve_ref<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    root.pointer(reference.strip_prefix('#')?)
}

/// Every way `instance` breaks `schema`, as "`/json/pointer`: what is wrong".
pub fn validate(root: &Value, schema: &Value, instance: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(root, schema, instance, "", &mut errors);
    // The root's JSON Pointer is empty; say so instead of printing nothing.
    errors
        .into_iter()
        .map(|e| match e.strip_prefix(": ") {
            Some(rest) => format!("(root): {rest}"),
            None => e,
        })
        .collect()
}

/// Every problem with `schema` itself: unknown keywords or formats, dangling `$ref`s, patterns
/// that do not compile. Walks subschemas (not through `$ref`s: their targets are walked on their own).
pub fn lint(root: &Value, schema: &Value, at: &str, problems: &mut Vec<String>) {
    let Some(object) = schema.as_object() else {
        if !schema.is_boolean() {
            problems.push(format!("{at}: a schema must be an object or a boolean"));
        }
        return;
    };
    for (keyword, value) in object {
        let here = format!("{at}/{keyword}");
        match keyword.as_str() {
            "$ref" => {
                if value.as_str().and_then(|r| resolve_ref(root, r)).is_none() {
                    problems.push(format!("{here}: does not resolve"));
                }
            }
            "properties" => {
                for (name, sub) in value.as_object().into_iter().flatten() {
                    lint(root, sub, &format!("{here}/{name}"), problems);
                }
            }
            "items" | "additionalProperties" | "not" | "propertyNames" => {
                lint(root, value, &here, problems);
            }
            "allOf" | "anyOf" | "oneOf" => {
                for (i, sub) in value.as_array().into_iter().flatten().enumerate() {
                    lint(root, sub, &format!("{here}/{i}"), problems);
                }
            }
            "pattern" | OPT_IN_PATTERN => {
                if let Err(err) = regex_lite::Regex::new(value.as_str().unwrap_or("(")) {
                    problems.push(format!("{here}: {err}"));
                }
            }
            "format" => {
                let format = value.as_str().unwrap_or_default();
                if !CHECKED_FORMATS.contains(&format) && !ANNOTATION_FORMATS.contains(&format) {
                    problems.push(format!("{here}: unknown format {format:?}"));
                }
            }
            other if VALIDATING.contains(&other) || is_annotation(other) => {}
            other => problems.push(format!("{at}: keyword {other:?} is not supported")),
        }
    }
}

fn is_annotation(keyword: &str) -> bool {
    ANNOTATIONS.contains(&keyword) || keyword.starts_with("x-")
}

fn check(root: &Value, schema: &Value, instance: &Value, at: &str, errors: &mut Vec<String>) {
    let object = match schema {
        Value::Bool(true) => return,
        Value::Bool(false) => {
            errors.push(format!("{at}: nothing is allowed here"));
            return;
        }
        Value::Object(object) => object,
        _ => {
            errors.push(format!("{at}: the spec's schema here is not a schema"));
            return;
        }
    };
    for (keyword, value) in object {
        match keyword.as_str() {
            "$ref" => match value.as_str().and_then(|r| resolve_ref(root, r)) {
                Some(target) => check(root, target, instance, at, errors),
                None => errors.push(format!("{at}: $ref {value} does not resolve")),
            },
            "type" => check_type(value, instance, at, errors),
            "enum" => {
                let allowed = value.as_array().map(Vec::as_slice).unwrap_or_default();
                if !allowed.contains(instance) {
                    errors.push(format!("{at}: {instance} is not one of {value}"));
                }
            }
            "const" => {
                if instance != value {
                    errors.push(format!("{at}: {instance} is not {value}"));
                }
            }
            "properties" | "required" | "additionalProperties" => {
                // Checked together, once, below.
            }
            "items" => {
                for (i, item) in instance.as_array().into_iter().flatten().enumerate() {
                    check(root, value, item, &format!("{at}/{i}"), errors);
                }
            }
            "minItems" | "maxItems" => {
                if let Some(items) = instance.as_array() {
                    bound(keyword, value, items.len(), "items", at, errors);
                }
            }
            "uniqueItems" => {
                let items = instance.as_array().map(Vec::as_slice).unwrap_or_default();
                if value.as_bool() == Some(true)
                    && let Some(i) = (1..items.len()).find(|&i| items[..i].contains(&items[i]))
                {
                    errors.push(format!("{at}/{i}: repeats an earlier item"));
                }
            }
            "minProperties" => {
                if let Some(members) = instance.as_object() {
                    bound(keyword, value, members.len(), "properties", at, errors);
                }
            }
            "propertyNames" => {
                for name in instance.as_object().into_iter().flat_map(|m| m.keys()) {
                    check(
                        root,
                        value,
                        &Value::String(name.clone()),
                        &format!("{at}/{name}"),
                        errors,
                    );
                }
            }
            "not" => {
                if validate_at(root, value, instance, at).is_empty() {
                    errors.push(format!(
                        "{at}: {instance} matches what `not` {value} excludes"
                    ));
                }
            }
            "minLength" | "maxLength" => {
                if let Some(text) = instance.as_str() {
                    bound(
                        keyword,
                        value,
                        text.chars().count(),
                        "characters",
                        at,
                        errors,
                    );
                }
            }
            "pattern" => {
                if let (Some(text), Some(pattern)) = (instance.as_str(), value.as_str()) {
                    let opted_in = || {
                        object
                            .get(OPT_IN_PATTERN)
                            .and_then(Value::as_str)
                            .and_then(|p| regex_lite::Regex::new(p).ok())
                            .is_some_and(|regex| regex.is_match(text))
                    };
                    match regex_lite::Regex::new(pattern) {
                        Ok(regex) if regex.is_match(text) || opted_in() => {}
                        Ok(_) => errors.push(format!("{at}: {text:?} does not match {pattern}")),
                        Err(err) => errors.push(format!("{at}: bad pattern in the spec: {err}")),
                    }
                }
            }
            "minimum" | "maximum" => {
                if let (Some(n), Some(limit)) = (instance.as_f64(), value.as_f64()) {
                    let ok = if keyword == "minimum" {
                        n >= limit
                    } else {
                        n <= limit
                    };
                    if !ok {
                        errors.push(format!("{at}: {n} breaks {keyword} {limit}"));
                    }
                }
            }
            "format" => check_format(value.as_str().unwrap_or_default(), instance, at, errors),
            "allOf" => {
                for sub in value.as_array().into_iter().flatten() {
                    check(root, sub, instance, at, errors);
                }
            }
            "anyOf" | "oneOf" => {
                let branches = value.as_array().map(Vec::as_slice).unwrap_or_default();
                let passing = branches
                    .iter()
                    .filter(|sub| validate_at(root, sub, instance, at).is_empty())
                    .count();
                let ok = if keyword == "oneOf" {
                    passing == 1
                } else {
                    passing >= 1
                };
                if !ok {
                    errors.push(format!(
                        "{at}: {passing} of the {} {keyword} branches match",
                        branches.len()
                    ));
                }
            }
            other if is_annotation(other) => {}
            other => errors.push(format!("{at}: the spec uses unsupported keyword {other:?}")),
        }
    }
    if let Some(members) = instance.as_object() {
        check_object(root, object, members, at, errors);
    }
}

fn validate_at(root: &Value, schema: &Value, instance: &Value, at: &str) -> Vec<String> {
    let mut errors = Vec::new();
    check(root, schema, instance, at, &mut errors);
    errors
}

fn check_object(
    root: &Value,
    schema: &Map<String, Value>,
    members: &Map<String, Value>,
    at: &str,
    errors: &mut Vec<String>,
) {
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !members.contains_key(name) {
            errors.push(format!("{at}: required member `{name}` is missing"));
        }
    }
    for (name, value) in members {
        let here = format!("{at}/{name}");
        match (properties.get(name), schema.get("additionalProperties")) {
            (Some(sub), _) => check(root, sub, value, &here, errors),
            (None, Some(Value::Bool(false))) => {
                errors.push(format!(
                    "{here}: member `{name}` is not declared in the spec"
                ));
            }
            (None, Some(extra)) => check(root, extra, value, &here, errors),
            (None, None) => {}
        }
    }
}

fn check_type(types: &Value, instance: &Value, at: &str, errors: &mut Vec<String>) {
    let names: Vec<&str> = match types {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let fits = |name: &str| match name {
        "null" => instance.is_null(),
        "boolean" => instance.is_boolean(),
        "string" => instance.is_string(),
        "number" => instance.is_number(),
        "integer" => instance.as_f64().is_some_and(|n| n.fract() == 0.0),
        "array" => instance.is_array(),
        "object" => instance.is_object(),
        _ => false,
    };
    if !names.iter().any(|name| fits(name)) {
        errors.push(format!("{at}: {instance} is not of type {types}"));
    }
}

fn check_format(format: &str, instance: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(text) = instance.as_str() else {
        return;
    };
    let ok = match format {
        "uuid" => uuid::Uuid::try_parse(text).is_ok_and(|_| text.len() == 36),
        "date-time" => {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .is_ok()
        }
        _ => true,
    };
    if !ok {
        errors.push(format!("{at}: {text:?} is not a {format}"));
    }
}

fn bound(
    keyword: &str,
    limit: &Value,
    actual: usize,
    unit: &str,
    at: &str,
    errors: &mut Vec<String>,
) {
    let Some(limit) = limit.as_u64().and_then(|l| usize::try_from(l).ok()) else {
        errors.push(format!("{at}: {keyword} in the spec is not a count"));
        return;
    };
    let ok = if keyword.starts_with("min") {
        actual >= limit
    } else {
        actual <= limit
    };
    if !ok {
        errors.push(format!("{at}: {actual} {unit} breaks {keyword} {limit}"));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{lint, validate};

    fn root() -> serde_json::Value {
        json!({ "components": { "schemas": {
            "Thing": {
                "type": "object",
                "additionalProperties": false,
                "required": ["id", "name"],
                "properties": {
                    "id": { "type": "string", "format": "uuid" },
                    "name": { "type": "string", "pattern": "^[a-z]+$", "maxLength": 5 },
                    "note": { "type": ["string", "null"] },
                    "at": { "type": "string", "format": "date-time" },
                    "n": { "type": "integer", "minimum": 1 },
                    "tags": { "type": "array", "items": { "enum": ["a", "b"] } },
                    "either": { "oneOf": [{ "type": "string" }, { "type": "integer" }] }
                }
            }
        } } })
    }

    fn thing() -> serde_json::Value {
        json!({ "$ref": "#/components/schemas/Thing" })
    }

    #[test]
    fn a_conforming_instance_passes() {
        let good = json!({
            "id": "0192f6a0-3c1e-7a2b-9d4e-5f6a7b8c9d0e", "name": "abc", "note": null,
            "at": "2026-11-23T10:15:30.123456Z", "n": 3, "tags": ["a", "b"], "either": 5
        });
        assert_eq!(validate(&root(), &thing(), &good), Vec::<String>::new());
    }

    #[test]
    fn each_broken_rule_is_reported_at_its_place() {
        let id = "0192f6a0-3c1e-7a2b-9d4e-5f6a7b8c9d0e";
        let cases = [
            (json!({ "id": id }), "required member `name`"),
            (
                json!({ "id": id, "name": "abc", "extra": 1 }),
                "/extra: member `extra` is not declared",
            ),
            (
                json!({ "id": "not-a-uuid", "name": "abc" }),
                "/id: \"not-a-uuid\" is not a uuid",
            ),
            (
                json!({ "id": id, "name": "ABC" }),
                "/name: \"ABC\" does not match",
            ),
            (
                json!({ "id": id, "name": "abcdef" }),
                "/name: 6 characters breaks maxLength 5",
            ),
            (
                json!({ "id": id, "name": 5 }),
                "/name: 5 is not of type \"string\"",
            ),
            (
                json!({ "id": id, "name": "a", "at": "yesterday" }),
                "/at: \"yesterday\" is not a date-time",
            ),
            (
                json!({ "id": id, "name": "a", "n": 0 }),
                "/n: 0 breaks minimum 1",
            ),
            (
                json!({ "id": id, "name": "a", "n": 1.5 }),
                "/n: 1.5 is not of type \"integer\"",
            ),
            (
                json!({ "id": id, "name": "a", "tags": ["c"] }),
                "/tags/0: \"c\" is not one of",
            ),
            (
                json!({ "id": id, "name": "a", "either": true }),
                "/either: 0 of the 2 oneOf branches match",
            ),
        ];
        for (instance, expected) in cases {
            let errors = validate(&root(), &thing(), &instance);
            assert!(
                errors.iter().any(|e| e.contains(expected)),
                "{instance}: wanted {expected:?}, got {errors:?}"
            );
        }
    }

    #[test]
    fn uniqueness_property_rules_not_and_opt_in_patterns() {
        let schema = json!({
            "type": "object",
            "minProperties": 1,
            "propertyNames": { "pattern": "^[a-z]+$" },
            "not": { "required": ["a", "b"] },
            "properties": {
                "tags": { "type": "array", "uniqueItems": true },
                "url": {
                    "type": "string",
                    "pattern": "^https://",
                    "x-keyhold-private-networks-pattern": "^http://127\\.0\\.0\\.1"
                }
            }
        });
        let mut problems = Vec::new();
        lint(&root(), &schema, "#", &mut problems);
        assert_eq!(problems, Vec::<String>::new());
        for good in [
            json!({ "tags": [1, 2, [1], { "a": 1 }] }),
            json!({ "a": 1 }),
            json!({ "url": "https://x.example" }),
            json!({ "url": "http://127.0.0.1:9/hook" }),
        ] {
            assert_eq!(
                validate(&root(), &schema, &good),
                Vec::<String>::new(),
                "{good}"
            );
        }
        for (bad, expected) in [
            (
                json!({ "tags": ["x", "y", "x"] }),
                "/tags/2: repeats an earlier item",
            ),
            (json!({}), "0 properties breaks minProperties 1"),
            (json!({ "B": 1 }), "/B: \"B\" does not match"),
            (json!({ "a": 1, "b": 2 }), "matches what `not`"),
            (
                json!({ "url": "http://x.example" }),
                "/url: \"http://x.example\" does not match",
            ),
        ] {
            let errors = validate(&root(), &schema, &bad);
            assert!(
                errors.iter().any(|e| e.contains(expected)),
                "{bad}: wanted {expected:?}, got {errors:?}"
            );
        }
    }

    #[test]
    fn unsupported_keywords_and_dangling_refs_are_refused() {
        let schema = json!({
            "type": "object",
            "patternProperties": { "^a": { "maxLength": 3 } },
            "properties": { "a": { "$ref": "#/components/schemas/Nope" }, "b": { "format": "ipv4" } }
        });
        let mut problems = Vec::new();
        lint(&root(), &schema, "#", &mut problems);
        let text = problems.join("\n");
        assert!(
            text.contains("\"patternProperties\" is not supported"),
            "{text}"
        );
        assert!(
            text.contains("#/properties/a/$ref: does not resolve"),
            "{text}"
        );
        assert!(text.contains("unknown format \"ipv4\""), "{text}");
        // Validation refuses them too, instead of passing anything.
        let errors = validate(&root(), &schema, &json!({}));
        assert!(
            errors.iter().any(|e| e.contains("unsupported keyword")),
            "{errors:?}"
        );
    }
}
