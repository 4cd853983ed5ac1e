//! `openapi.yaml` is the code's truth, and these checks keep it so. Its (method, path) pairs must equal
//! `api::route_table()`; `check` (called by `TestApp::send` for every request any test makes)
//! validates each answer against the operation's listed statuses, headers and closed response
//! schemas; requests no operation covers must get the spec's `x-keyhold-unmatched` 404/405 problem.
//! The rest checks the document itself: references, parameters, examples, security and secrets.

#[path = "contract/exchange.rs"]
mod exchange;
#[path = "contract/schema.rs"]
mod schema;
#[path = "contract/spec.rs"]
mod spec;

use std::collections::BTreeSet;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{Reply, TestApp};
use exchange::Answer;
use spec::{Spec, spec};

/// Fails the calling test when an exchange departs from `openapi.yaml`.
pub fn check(method: &Method, path: &str, request_body: Option<&[u8]>, reply: &Reply) {
    let answer = Answer {
        status: reply.status,
        headers: &reply.headers,
        text: &reply.text,
    };
    let errors = exchange::check(spec(), method, path, request_body, &answer);
    assert!(
        errors.is_empty(),
        "the answer departs from openapi.yaml:\n  {}\nbody: {}",
        errors.join("\n  "),
        reply.text
    );
}

#[test]
fn the_spec_lists_exactly_the_routes_the_server_serves() {
    let served: BTreeSet<(String, String)> = api::route_table()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_owned()))
        .collect();
    let documented: BTreeSet<(String, String)> = spec()
        .operations()
        .into_iter()
        .map(|o| (o.method.to_string(), o.template.to_owned()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "openapi.yaml and the router disagree.\nserved but not in openapi.yaml: {undocumented:?}\nin openapi.yaml but not served: {stale:?}"
    );
}

#[test]
fn the_spec_is_self_consistent() {
    let spec = spec();
    let mut problems = Vec::new();
    dangling_refs(&spec.doc, &spec.doc, "#", &mut problems);
    lint_schemas(spec, &spec.doc, "#", &mut problems);
    let mut ids = BTreeSet::new();
    for operation in spec.operations() {
        let at = format!("{} {}", operation.method, operation.template);
        let op = operation.op;
        match op["operationId"].as_str() {
            Some(id) if ids.insert(id.to_owned()) => {}
            other => problems.push(format!(
                "{at}: operationId {other:?} is missing or repeated"
            )),
        }
        if op["summary"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{at}: no summary"));
        }
        if op["tags"].as_array().is_none_or(Vec::is_empty) {
            problems.push(format!("{at}: no tag"));
        }
        let in_template: BTreeSet<&str> = operation
            .template
            .split('/')
            .filter(|s| spec::is_parameter(s))
            .map(|s| &s[1..s.len() - 1])
            .collect();
        let declared: BTreeSet<&str> = spec
            .parameters(&operation)
            .into_iter()
            .filter(|p| p["in"] == "path")
            .inspect(|p| {
                if p["required"] != true {
                    problems.push(format!(
                        "{at}: path parameter {} is not required",
                        p["name"]
                    ));
                }
            })
            .filter_map(|p| p["name"].as_str())
            .collect();
        if in_template != declared {
            problems.push(format!(
                "{at}: path parameters {declared:?} differ from the template's {in_template:?}"
            ));
        }
        let responses = op["responses"].as_object().cloned().unwrap_or_default();
        if !responses.keys().any(|code| code.starts_with('2')) {
            problems.push(format!("{at}: no success response"));
        }
        let public = op["security"] == json!([]);
        if !public && !responses.contains_key("401") {
            problems.push(format!("{at}: needs a token but does not list 401"));
        }
        for (code, response) in &responses {
            let response = spec.resolve(response);
            let valid_code =
                code.len() == 3 && code.parse::<u16>().is_ok_and(|c| (200..600).contains(&c));
            if !valid_code {
                problems.push(format!("{at}: response key {code} is not a status code"));
            }
            if response["description"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{at} {code}: no description"));
            }
            let is_problem = response["content"]
                .get("application/problem+json")
                .is_some();
            if is_problem
                && response["x-problem-types"]
                    .as_array()
                    .is_none_or(Vec::is_empty)
            {
                problems.push(format!(
                    "{at} {code}: a problem response without x-problem-types"
                ));
            }
            if response["headers"].get("x-request-id").is_none() {
                problems.push(format!("{at} {code}: does not declare x-request-id"));
            }
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                check_link(
                    spec,
                    &format!("{at} {code} link {name}"),
                    link,
                    &mut problems,
                );
            }
        }
    }
    for code in ["404", "405"] {
        if spec
            .resolve(&spec.doc["x-keyhold-unmatched"]["responses"][code])
            .is_null()
        {
            problems.push(format!("x-keyhold-unmatched has no {code} response"));
        }
    }
    assert!(
        problems.is_empty(),
        "openapi.yaml:\n{}",
        problems.join("\n")
    );
}

/// Every `$ref` in the document points at something.
fn dangling_refs(root: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if let Some(reference) = object.get("$ref").and_then(Value::as_str)
                && schema::resolve_ref(root, reference).is_none()
            {
                problems.push(format!("{at}: $ref {reference} does not resolve"));
            }
            for (key, child) in object {
                dangling_refs(root, child, &format!("{at}/{key}"), problems);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                dangling_refs(root, child, &format!("{at}/{i}"), problems);
            }
        }
        _ => {}
    }
}

/// Every schema in the document (named ones and those inline under a `schema` key) uses only
/// what the validator implements.
fn lint_schemas(spec: &Spec, value: &Value, at: &str, problems: &mut Vec<String>) {
    let Some(object) = value.as_object() else {
        return;
    };
    for (key, child) in object {
        let here = format!("{at}/{key}");
        match key.as_str() {
            "schema" => schema::lint(&spec.doc, child, &here, problems),
            "schemas" if at == "#/components" => {
                for (name, named) in child.as_object().into_iter().flatten() {
                    schema::lint(&spec.doc, named, &format!("{here}/{name}"), problems);
                }
            }
            // Literal example data is not part of the document's structure.
            "example" | "examples" | "value" => {}
            _ => lint_schemas(spec, child, &here, problems),
        }
    }
}

/// (where, schema, example) for every example given for a body, response or parameter.
fn examples(spec: &'static Spec) -> Vec<(String, &'static Value, &'static Value)> {
    let mut found = Vec::new();
    for operation in spec.operations() {
        let at = format!("{} {}", operation.method, operation.template);
        let body = spec.resolve(&operation.op["requestBody"]);
        for (kind, media) in body["content"].as_object().into_iter().flatten() {
            media_examples(spec, format!("{at} request {kind}"), media, &mut found);
        }
        for (code, response) in operation.op["responses"].as_object().into_iter().flatten() {
            let content = &spec.resolve(response)["content"];
            for (kind, media) in content.as_object().into_iter().flatten() {
                media_examples(spec, format!("{at} {code} {kind}"), media, &mut found);
            }
        }
        for parameter in spec.parameters(&operation) {
            if let Some(example) = parameter.get("example") {
                let at = format!("{at} parameter {}", parameter["name"]);
                found.push((at, &parameter["schema"], example));
            }
        }
    }
    found
}

/// A media type's `example` and `examples` (resolving `$ref`s to component examples).
fn media_examples(
    spec: &'static Spec,
    at: String,
    media: &'static Value,
    found: &mut Vec<(String, &'static Value, &'static Value)>,
) {
    let schema = &media["schema"];
    if let Some(example) = media.get("example") {
        found.push((at.clone(), schema, example));
    }
    for (name, example) in media["examples"].as_object().into_iter().flatten() {
        found.push((
            format!("{at} ({name})"),
            schema,
            &spec.resolve(example)["value"],
        ));
    }
}

#[test]
fn every_example_fits_its_schema() {
    let spec = spec();
    let found = examples(spec);
    let mut problems: Vec<String> = found
        .iter()
        .flat_map(|(at, schema, example)| {
            schema::validate(&spec.doc, schema, example)
                .into_iter()
                .map(move |e| format!("{at}: {e}"))
        })
        .collect();
    // Problem examples also say the status they stand under and a type their response allows.
    for operation in spec.operations() {
        for (code, response) in operation.op["responses"].as_object().into_iter().flatten() {
            let response = spec.resolve(response);
            let Some(example) = response["content"]["application/problem+json"].get("example")
            else {
                continue;
            };
            let status = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok());
            let mut errors = Vec::new();
            match status {
                Some(status) => exchange::check_problem(response, example, status, &mut errors),
                None => errors.push("not a status code".to_owned()),
            }
            problems.extend(
                errors
                    .into_iter()
                    .map(|e| format!("{} {} {code}: {e}", operation.method, operation.template)),
            );
        }
        // The brief for this file: an example for each request body and each success body.
        let at = format!("{} {}", operation.method, operation.template);
        let has_example = |prefix: &str| found.iter().any(|(w, _, _)| w.starts_with(prefix));
        if !spec.resolve(&operation.op["requestBody"]).is_null()
            && !has_example(&format!("{at} request"))
        {
            problems.push(format!("{at}: the request body has no example"));
        }
        for code in operation.op["responses"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(c, _)| c)
        {
            if code.starts_with('2') && !has_example(&format!("{at} {code} ")) {
                problems.push(format!("{at} {code}: no example"));
            }
        }
    }
    assert!(
        found.len() >= 40,
        "only {} examples were found",
        found.len()
    );
    assert!(
        problems.is_empty(),
        "examples that break their schemas:\n{}",
        problems.join("\n")
    );
}

/// The names of the `x-keyhold-secret` properties a schema can contain.
fn secret_properties(spec: &Spec, schema: &Value, depth: usize, out: &mut BTreeSet<String>) {
    if depth > 12 {
        return;
    }
    let schema = spec.resolve(schema);
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        if spec.resolve(property)["x-keyhold-secret"] == true {
            out.insert(name.clone());
        }
        secret_properties(spec, property, depth + 1, out);
    }
    for key in ["items", "additionalProperties"] {
        if schema[key].is_object() {
            secret_properties(spec, &schema[key], depth + 1, out);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for sub in schema[key].as_array().into_iter().flatten() {
            secret_properties(spec, sub, depth + 1, out);
        }
    }
}

/// Property names that hold a secret wherever they appear.
fn names_a_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("secret") || lower.contains("password") || lower == "accesstoken"
}

#[test]
fn only_the_stated_responses_carry_secrets() {
    let spec = spec();
    let mut carrying = BTreeSet::new();
    for operation in spec.operations() {
        let id = operation.op["operationId"].as_str().unwrap_or("?");
        for (code, response) in operation.op["responses"].as_object().into_iter().flatten() {
            for media in spec.resolve(response)["content"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(_, m)| m)
            {
                let mut secrets = BTreeSet::new();
                secret_properties(spec, &media["schema"], 0, &mut secrets);
                if !secrets.is_empty() {
                    carrying.insert(format!("{id} {code}: {secrets:?}"));
                }
            }
        }
    }
    let expected: BTreeSet<String> = [
        "createIdentity 201: {\"clientSecret\"}",
        "createAuditLogStream 201: {\"signingSecret\"}",
        "createWebhook 201: {\"signingSecret\"}",
        "rotateWebhookSecret 200: {\"signingSecret\"}",
        "getAuth0ClientSecretRotationGeneratedCredentials 200: {\"clientSecret\"}",
        "machineLogin 200: {\"accessToken\"}",
        "rotateIdentityClientSecret 200: {\"clientSecret\"}",
        // Project secrets: every property named `secret...` is marked, values among them.
        "createSecretRaw 200: {\"secret\", \"secretComment\", \"secretKey\", \"secretMetadata\", \"secretPath\", \"secretReminderNote\", \"secretReminderRepeatDays\", \"secretValue\", \"secretValueHidden\"}",
        "deleteSecretRaw 200: {\"secret\", \"secretComment\", \"secretKey\", \"secretMetadata\", \"secretPath\", \"secretReminderNote\", \"secretReminderRepeatDays\", \"secretValue\", \"secretValueHidden\"}",
        "getSecretRaw 200: {\"secret\", \"secretComment\", \"secretKey\", \"secretMetadata\", \"secretPath\", \"secretReminderNote\", \"secretReminderRepeatDays\", \"secretValue\", \"secretValueHidden\"}",
        "listSecretsRaw 200: {\"secretComment\", \"secretKey\", \"secretMetadata\", \"secretPath\", \"secretReminderNote\", \"secretReminderRepeatDays\", \"secretValue\", \"secretValueHidden\", \"secrets\"}",
        "updateSecretRaw 200: {\"secret\", \"secretComment\", \"secretKey\", \"secretMetadata\", \"secretPath\", \"secretReminderNote\", \"secretReminderRepeatDays\", \"secretValue\", \"secretValueHidden\"}",
        "userLogin 200: {\"accessToken\"}",
        // A narrowed membership's folder (`secretPath`): a path, marked by its name only.
        "addMembership 201: {\"secretPath\"}",
        "listMemberships 200: {\"secretPath\"}",
        "removeMembership 200: {\"secretPath\"}",
        "updateMembership 200: {\"secretPath\"}",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(carrying, expected);

    // A property named like a secret is marked as one wherever it is declared, so the check above
    // cannot miss it.
    let mut unmarked = Vec::new();
    for (name, schema) in spec.doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        for (property, declared) in schema["properties"].as_object().into_iter().flatten() {
            // `x-keyhold-secret-name`: the property holds the *name* of a project secret (a
            // rotation's `secretsMapping`, `secretPath`), never a value.
            if names_a_secret(property)
                && declared["x-keyhold-secret"] != true
                && declared["x-keyhold-secret-name"] != true
            {
                unmarked.push(format!("{name}.{property}"));
            }
        }
    }
    assert!(
        unmarked.is_empty(),
        "secret-looking properties without x-keyhold-secret: {unmarked:?}"
    );
}

/// Headers of a well-formed JSON answer.
fn headers(content_type: &'static str, etag: Option<&'static str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-request-id", HeaderValue::from_static("req-1"));
    headers.insert("content-type", HeaderValue::from_static(content_type));
    if let Some(etag) = etag {
        headers.insert("etag", HeaderValue::from_static(etag));
    }
    headers
}

fn errors_for(
    method: Method,
    path: &str,
    request: Option<&Value>,
    status: u16,
    headers: &HeaderMap,
    body: &Value,
) -> String {
    let text = body.to_string();
    let status = StatusCode::from_u16(status).expect("status");
    let answer = Answer {
        status,
        headers,
        text: &text,
    };
    let request = request.map(|r| r.to_string().into_bytes());
    exchange::check(spec(), &method, path, request.as_deref(), &answer).join("\n")
}

#[test]
fn the_check_refuses_answers_the_spec_does_not_describe() {
    let spec = spec();
    let connection = spec.doc["components"]["examples"]["OneConnection"]["value"].clone();
    let get = "/api/v1/app-connections/auth0/0192f6a2-2222-7000-8000-0000000000c1";
    let json_with_etag = headers("application/json", Some("\"1\""));
    assert_eq!(
        errors_for(Method::GET, get, None, 200, &json_with_etag, &connection),
        ""
    );

    let mut leaky = connection.clone();
    leaky["appConnection"]["credentials"]["clientSecret"] = json!("s3cr3t");
    let errors = errors_for(Method::GET, get, None, 200, &json_with_etag, &leaky);
    assert!(
        errors.contains(
            "/appConnection/credentials/clientSecret: member `clientSecret` is not declared"
        ),
        "{errors}"
    );

    let mut partial = connection.clone();
    partial["appConnection"]
        .as_object_mut()
        .expect("object")
        .remove("version");
    let errors = errors_for(Method::GET, get, None, 200, &json_with_etag, &partial);
    assert!(
        errors.contains("required member `version` is missing"),
        "{errors}"
    );

    let errors = errors_for(Method::GET, get, None, 418, &json_with_etag, &connection);
    assert!(
        errors.contains("a status openapi.yaml does not list"),
        "{errors}"
    );

    let errors = errors_for(
        Method::GET,
        get,
        None,
        200,
        &headers("application/json", None),
        &connection,
    );
    assert!(
        errors.contains("required header ETag is missing"),
        "{errors}"
    );

    let errors = errors_for(
        Method::GET,
        get,
        None,
        200,
        &headers("text/plain", Some("\"1\"")),
        &connection,
    );
    assert!(
        errors.contains("content type \"text/plain\" is not one"),
        "{errors}"
    );

    let problem = |kind: &str, status: u16| json!({ "type": format!("urn:keyhold:problem:{kind}"), "title": "t", "status": status, "detail": "d", "requestId": "req-1", "message": "d", "statusCode": status, "error": "E" });
    let problem_headers = headers("application/problem+json", None);
    assert_eq!(
        errors_for(
            Method::GET,
            get,
            None,
            404,
            &problem_headers,
            &problem("not-found", 404)
        ),
        ""
    );
    let errors = errors_for(
        Method::GET,
        get,
        None,
        404,
        &problem_headers,
        &problem("conflict", 404),
    );
    assert!(
        errors.contains("is not one this response allows"),
        "{errors}"
    );
    let errors = errors_for(
        Method::GET,
        get,
        None,
        404,
        &problem_headers,
        &problem("not-found", 400),
    );
    assert!(errors.contains("is not the HTTP status"), "{errors}");
    let errors = errors_for(
        Method::GET,
        "/api/v1/projects",
        None,
        401,
        &problem_headers,
        &problem("unauthenticated", 401),
    );
    assert!(
        errors.contains("required header WWW-Authenticate is missing"),
        "{errors}"
    );

    // Requests no operation covers: only the catch-all problems are allowed.
    assert_eq!(
        errors_for(
            Method::GET,
            "/api/v1/nothing",
            None,
            404,
            &problem_headers,
            &problem("not-found", 404)
        ),
        ""
    );
    let errors = errors_for(
        Method::GET,
        "/api/v1/nothing",
        None,
        200,
        &json_with_etag,
        &connection,
    );
    assert!(errors.contains("no such path in openapi.yaml"), "{errors}");
    assert_eq!(
        errors_for(
            Method::PUT,
            get,
            None,
            405,
            &problem_headers,
            &problem("method-not-allowed", 405)
        ),
        ""
    );
    let errors = errors_for(Method::PUT, get, None, 200, &json_with_etag, &connection);
    assert!(
        errors.contains("no such operation in openapi.yaml"),
        "{errors}"
    );

    // A request the server accepted must fit the request schema: a field the code takes under
    // another name than the spec's is caught here.
    let create = "/api/v1/app-connections/auth0";
    let mut sent = json!({
        "name": "billing", "method": "client-credentials", "projectId": "0192f6a1-1111-7000-8000-00000000000a",
        "credentials": { "domain": "acme.auth0.test", "clientId": "c", "clientSecret": "s" }
    });
    assert_eq!(
        errors_for(
            Method::POST,
            create,
            Some(&sent),
            201,
            &json_with_etag,
            &connection
        ),
        ""
    );
    sent["credentials"]["client_secret"] = json!("s");
    let errors = errors_for(
        Method::POST,
        create,
        Some(&sent),
        201,
        &json_with_etag,
        &connection,
    );
    assert!(
        errors.contains("the request body does not fit its schema: /credentials/client_secret"),
        "{errors}"
    );
}

/// A route the spec calls public answers without a token; every other one answers 401.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn security_in_the_spec_matches_the_server(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let mut wrong = Vec::new();
    for operation in spec().operations() {
        let path: String = operation
            .template
            .split('/')
            .map(|segment| {
                if spec::is_parameter(segment) {
                    uuid::Uuid::now_v7().to_string()
                } else {
                    segment.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let reply = app
            .call_as(None, operation.method.clone(), &path, None, &[])
            .await;
        let public = operation.op["security"] == json!([]);
        if public == (reply.status == StatusCode::UNAUTHORIZED) {
            wrong.push(format!(
                "{} {} is {} in openapi.yaml but answered {} without a token",
                operation.method,
                operation.template,
                if public { "public" } else { "protected" },
                reply.status
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A link names an operation that exists, only parameters that operation declares (all of its
/// required path parameters among them), and takes each from the response body or the request.
fn check_link(spec: &Spec, at: &str, link: &Value, problems: &mut Vec<String>) {
    let Some(target) = link["operationId"].as_str() else {
        problems.push(format!("{at}: no operationId"));
        return;
    };
    let Some(operation) = spec
        .operations()
        .into_iter()
        .find(|o| o.op["operationId"] == target)
    else {
        problems.push(format!("{at}: operation {target} does not exist"));
        return;
    };
    let declared: Vec<&Value> = spec.parameters(&operation);
    let given = link["parameters"].as_object().cloned().unwrap_or_default();
    for (name, expression) in &given {
        if !declared.iter().any(|p| p["name"] == name.as_str()) {
            problems.push(format!("{at}: {target} has no parameter {name}"));
        }
        let from_exchange = expression
            .as_str()
            .is_some_and(|e| e.starts_with("$response.body#/") || e.starts_with("$request."));
        if !from_exchange {
            problems.push(format!(
                "{at}: parameter {name} is not a runtime expression"
            ));
        }
    }
    for p in declared.iter().filter(|p| p["in"] == "path") {
        let name = p["name"].as_str().unwrap_or_default();
        if !given.contains_key(name) {
            problems.push(format!(
                "{at}: path parameter {name} of {target} is not given"
            ));
        }
    }
}
