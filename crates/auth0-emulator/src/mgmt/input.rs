//! Parsing Management API bodies and query strings with Auth0's validation messages
//! (`Payload validation error: '...' on property x.` / `Query validation error: ...`), so a
//! client sees the same 400s it would get from Auth0.

use serde_json::{Map, Value};

use crate::errors::{MgmtError, MgmtResult};

/// A JSON object body.
pub(crate) struct Payload(pub Map<String, Value>);

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn wrong_type(expected: &str, found: &Value, key: &str) -> MgmtError {
    MgmtError::invalid_body(format!(
        "Payload validation error: 'Expected type {expected} but found type {}' on property {key}.",
        type_name(found)
    ))
}

impl Payload {
    pub(crate) fn parse(body: &[u8]) -> MgmtResult<Payload> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|_| MgmtError::invalid_body("Invalid request payload JSON format"))?;
        match value {
            Value::Object(map) => Ok(Payload(map)),
            other => Err(MgmtError::invalid_body(format!(
                "Payload validation error: 'Expected type object but found type {}'.",
                type_name(&other)
            ))),
        }
    }

    pub(crate) fn reject_unknown(&self, allowed: &[&str]) -> MgmtResult<()> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            None => Ok(()),
            Some(key) => Err(MgmtError::invalid_body(format!(
                "Payload validation error: 'Additional properties not allowed: {key}'."
            ))),
        }
    }

    pub(crate) fn string(&self, key: &str) -> MgmtResult<Option<String>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(wrong_type("string", other, key)),
        }
    }

    /// A string that must not be empty (Auth0's `minLength: 1`).
    pub(crate) fn non_empty_string(&self, key: &str) -> MgmtResult<Option<String>> {
        match self.string(key)? {
            Some(s) if s.is_empty() => Err(MgmtError::invalid_body(format!(
                "Payload validation error: 'String is too short (0 chars), minimum 1' on property {key}."
            ))),
            other => Ok(other),
        }
    }

    pub(crate) fn required_string(&self, key: &str) -> MgmtResult<String> {
        self.non_empty_string(key)?.ok_or_else(|| {
            MgmtError::invalid_body(format!(
                "Payload validation error: 'Missing required property: {key}'."
            ))
        })
    }

    /// A string or `null` (null clears the attribute).
    pub(crate) fn nullable_string(&self, key: &str) -> MgmtResult<Option<Option<String>>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
            Some(other) => Err(wrong_type("string", other, key)),
        }
    }

    pub(crate) fn bool(&self, key: &str) -> MgmtResult<Option<bool>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type("boolean", other, key)),
        }
    }

    pub(crate) fn u64(&self, key: &str) -> MgmtResult<Option<u64>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
                MgmtError::invalid_body(format!(
                    "Payload validation error: 'Expected a non-negative integer' on property {key}."
                ))
            }),
            Some(other) => Err(wrong_type("integer", other, key)),
        }
    }

    pub(crate) fn string_list(&self, key: &str) -> MgmtResult<Option<Vec<String>>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(wrong_type("string", other, &format!("{key}[{i}]"))),
                })
                .collect::<MgmtResult<Vec<_>>>()
                .map(Some),
            Some(other) => Err(wrong_type("array", other, key)),
        }
    }

    pub(crate) fn object(&self, key: &str) -> MgmtResult<Option<Map<String, Value>>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map.clone())),
            Some(other) => Err(wrong_type("object", other, key)),
        }
    }

    pub(crate) fn array(&self, key: &str) -> MgmtResult<Option<Vec<Value>>> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items.clone())),
            Some(other) => Err(wrong_type("array", other, key)),
        }
    }
}

/// A query string as ordered pairs; Auth0 rejects what it cannot parse with 400.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> MgmtResult<Query> {
        serde_urlencoded::from_str(raw.unwrap_or(""))
            .map(Query)
            .map_err(|_| MgmtError::invalid_query("Query validation error: malformed query string"))
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn bool(&self, key: &str) -> MgmtResult<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(MgmtError::invalid_query(format!(
                "Query validation error: 'Expected type boolean but found type string' on property {key}."
            ))),
        }
    }

    /// An integer within `min..=max`.
    pub(crate) fn int(&self, key: &str, min: u64, max: u64) -> MgmtResult<Option<u64>> {
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        let n: u64 = raw.parse().map_err(|_| {
            MgmtError::invalid_query(format!(
                "Query validation error: 'Expected type integer but found type string' on property {key}."
            ))
        })?;
        if n < min {
            return Err(MgmtError::invalid_query(format!(
                "Query validation error: 'Too small: must be at least {min}' on property {key}."
            )));
        }
        if n > max {
            return Err(MgmtError::invalid_query(format!(
                "Query validation error: 'Too big: must be at most {max}' on property {key}."
            )));
        }
        Ok(Some(n))
    }

    /// A comma-separated list, empty entries dropped.
    pub(crate) fn csv(&self, key: &str) -> Option<Vec<String>> {
        self.get(key).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }
}

/// Applies Auth0's `fields` / `include_fields` selection to one object.
pub(crate) fn select_fields(
    mut object: Map<String, Value>,
    fields: Option<&[String]>,
    include: bool,
) -> Map<String, Value> {
    if let Some(fields) = fields.filter(|f| !f.is_empty()) {
        object.retain(|key, _| fields.iter().any(|f| f == key) == include);
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_type_errors_name_the_property() {
        let p = Payload::parse(br#"{"name": 5, "list": ["a", 1]}"#).unwrap();
        assert!(p.string("name").is_err());
        assert!(p.string_list("list").is_err());
        assert!(p.reject_unknown(&["name"]).is_err());
        assert!(Payload::parse(b"[1]").is_err());
        assert!(Payload::parse(b"{").is_err());
        let p = Payload::parse(br#"{"name": ""}"#).unwrap();
        assert!(p.required_string("name").is_err());
        assert!(p.required_string("other").is_err());
    }

    #[test]
    fn query_validation() {
        let q = Query::parse(Some(
            "per_page=101&page=x&include_totals=yes&fields=a,%20b,",
        ))
        .unwrap();
        assert!(q.int("per_page", 1, 100).is_err());
        assert!(q.int("page", 0, 1000).is_err());
        assert!(q.bool("include_totals").is_err());
        assert_eq!(q.csv("fields").unwrap(), ["a", "b"]);
        assert_eq!(q.int("absent", 0, 1).unwrap(), None);
    }

    #[test]
    fn fields_include_and_exclude() {
        let mut m = Map::new();
        m.insert("a".into(), Value::from(1));
        m.insert("b".into(), Value::from(2));
        let fields = vec!["a".to_owned()];
        assert_eq!(select_fields(m.clone(), Some(&fields), true).len(), 1);
        assert!(select_fields(m.clone(), Some(&fields), false).contains_key("b"));
        assert_eq!(select_fields(m, None, true).len(), 2);
    }
}
