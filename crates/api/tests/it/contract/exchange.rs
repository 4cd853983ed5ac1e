//! Checks one request/response exchange against the spec: the status is one the operation lists,
//! the required headers are there and well-formed, the content type is declared, the body fits the
//! schema (closed objects, so undeclared fields fail), a problem carries a type its response allows
//! and repeats the status, and a request the server accepted fits the request schema.

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

use super::schema::validate;
use super::spec::{Hit, Spec};

/// What the server answered.
pub struct Answer<'a> {
    pub status: StatusCode,
    pub headers: &'a HeaderMap,
    pub text: &'a str,
}

/// Every way the exchange departs from the spec; empty when it conforms.
pub fn check(
    spec: &Spec,
    method: &Method,
    path: &str,
    request_body: Option<&[u8]>,
    answer: &Answer<'_>,
) -> Vec<String> {
    let code = answer.status.as_u16().to_string();
    let (what, response) = match spec.hit(method, path) {
        Hit::Operation(operation) => {
            let id = operation.op["operationId"].as_str().unwrap_or("?");
            let what = format!("{method} {} ({id}) answered {code}", operation.template);
            let Some(response) = operation.op["responses"].get(&code) else {
                let listed: Vec<&String> = operation.op["responses"]
                    .as_object()
                    .map(|r| r.keys().collect())
                    .unwrap_or_default();
                return vec![format!(
                    "{what}, a status openapi.yaml does not list for it (it lists {listed:?})"
                )];
            };
            let mut errors = Vec::new();
            if answer.status.is_success() {
                check_request(spec, operation.op, request_body, &mut errors);
            }
            let mut errors: Vec<String> = errors
                .into_iter()
                .map(|e| format!("{what}, but {e}"))
                .collect();
            errors.extend(
                check_response(spec, spec.resolve(response), answer)
                    .into_iter()
                    .map(|e| format!("{what}: {e}")),
            );
            return errors;
        }
        Hit::OtherMethod(template) => (
            format!("{method} {template} (no such operation in openapi.yaml) answered {code}"),
            "405",
        ),
        Hit::NoRoute => (
            format!("{method} {path} (no such path in openapi.yaml) answered {code}"),
            "404",
        ),
    };
    // Requests no operation covers must get the spec's catch-all answer for their case.
    if code != response {
        return vec![format!(
            "{what}; only {response} is expected there (x-keyhold-unmatched): add the operation to openapi.yaml or fix the route"
        )];
    }
    let response = spec.resolve(&spec.doc["x-keyhold-unmatched"]["responses"][response]);
    check_response(spec, response, answer)
        .into_iter()
        .map(|e| format!("{what}: {e}"))
        .collect()
}

fn check_request(spec: &Spec, op: &Value, body: Option<&[u8]>, errors: &mut Vec<String>) {
    let declared = spec.resolve(&op["requestBody"]);
    if declared.is_null() {
        return;
    }
    let body = body.filter(|b| !b.is_empty());
    let Some(body) = body else {
        if declared["required"] == true {
            errors.push("the request had no body and openapi.yaml says one is required".to_owned());
        }
        return;
    };
    let Ok(sent) = serde_json::from_slice::<Value>(body) else {
        errors.push("the request body was not JSON".to_owned());
        return;
    };
    let schema = &declared["content"]["application/json"]["schema"];
    for error in validate(&spec.doc, schema, &sent) {
        errors.push(format!("the request body does not fit its schema: {error}"));
    }
}

fn check_response(spec: &Spec, response: &Value, answer: &Answer<'_>) -> Vec<String> {
    let mut errors = Vec::new();
    if response.is_null() {
        return vec!["its response in openapi.yaml does not resolve".to_owned()];
    }
    for (name, header) in response["headers"].as_object().into_iter().flatten() {
        let header = spec.resolve(header);
        match answer.headers.get(name.as_str()) {
            None if header["required"] == true => {
                errors.push(format!("required header {name} is missing"));
            }
            None => {}
            Some(value) => {
                let schema = &header["schema"];
                let text = value.to_str().unwrap_or_default();
                // Header values are text; a header declared as an integer must parse as one.
                let instance = match schema["type"].as_str() {
                    Some("integer") => text
                        .parse::<i64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::from(text)),
                    _ => Value::from(text),
                };
                for error in validate(&spec.doc, schema, &instance) {
                    errors.push(format!("header {name}: {error}"));
                }
            }
        }
    }
    let content_type = answer
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    let Some(content) = response["content"].as_object().filter(|c| !c.is_empty()) else {
        if !answer.text.is_empty() {
            errors.push("it has a body but openapi.yaml declares none".to_owned());
        }
        return errors;
    };
    let Some(media) = content.get(content_type) else {
        let declared: Vec<&String> = content.keys().collect();
        errors.push(format!(
            "content type {content_type:?} is not one openapi.yaml declares ({declared:?})"
        ));
        return errors;
    };
    // JSON media types are parsed; any other body is checked as one string (e.g. `text/plain`).
    let body = if content_type.ends_with("json") {
        match serde_json::from_str::<Value>(answer.text) {
            Ok(body) => body,
            Err(err) => {
                errors.push(format!("the body is not JSON ({err}): {:?}", answer.text));
                return errors;
            }
        }
    } else {
        Value::from(answer.text)
    };
    errors.extend(validate(&spec.doc, &media["schema"], &body));
    if content_type == "application/problem+json" {
        check_problem(response, &body, answer.status, &mut errors);
    }
    errors
}

/// A problem says the status it came with and a type its response allows.
pub fn check_problem(response: &Value, body: &Value, status: StatusCode, errors: &mut Vec<String>) {
    if body["status"] != status.as_u16() {
        errors.push(format!(
            "the problem's status {} is not the HTTP status",
            body["status"]
        ));
    }
    let allowed: Vec<String> = response["x-problem-types"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|slug| format!("urn:keyhold:problem:{slug}"))
        .collect();
    let kind = body["type"].as_str().unwrap_or_default();
    if !allowed.iter().any(|a| a == kind) {
        errors.push(format!(
            "problem type {kind:?} is not one this response allows (x-problem-types: {allowed:?})"
        ));
    }
}
