//! `/api/v2/resource-servers` (APIs: list, create) and `/api/v2/client-grants` (list), the two
//! resources that decide which audiences and scopes a client-credentials token may carry.

use axum::Json;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::Caller;
use super::input::{Payload, Query};
use crate::errors::{MgmtError, MgmtResult};
use crate::model::ResourceServer;
use crate::secrets;
use crate::server::TenantExt;

/// `GET /api/v2/resource-servers`
pub(crate) async fn list(
    axum::Extension(tenant): TenantExt,
    caller: Caller,
) -> MgmtResult<Response> {
    caller.require_any(&["read:resource_servers"])?;
    let list: Vec<Value> = tenant
        .read()
        .resource_servers
        .iter()
        .map(ResourceServer::to_json)
        .collect();
    Ok(Json(list).into_response())
}

/// `POST /api/v2/resource-servers`: identifier unique per tenant, scopes `[{value, description}]`.
pub(crate) async fn create(
    axum::Extension(tenant): TenantExt,
    caller: Caller,
    body: Bytes,
) -> MgmtResult<Response> {
    caller.require_any(&["create:resource_servers"])?;
    let payload = Payload::parse(&body)?;
    payload.reject_unknown(&[
        "identifier",
        "name",
        "scopes",
        "signing_alg",
        "token_lifetime",
        "allow_offline_access",
        "skip_consent_for_verifiable_first_party_clients",
        "token_lifetime_for_web",
        "signing_secret",
        "token_dialect",
        "enforce_policies",
    ])?;
    let identifier = payload.required_string("identifier")?;
    let name = payload
        .non_empty_string("name")?
        .unwrap_or_else(|| identifier.clone());
    let signing_alg = payload
        .string("signing_alg")?
        .unwrap_or_else(|| "RS256".to_owned());
    if signing_alg != "RS256" && signing_alg != "HS256" && signing_alg != "PS256" {
        return Err(MgmtError::invalid_body(format!(
            "Payload validation error: 'No enum match for: \"{signing_alg}\"' on property signing_alg."
        )));
    }
    let token_lifetime = payload.u64("token_lifetime")?.unwrap_or(86_400);
    if token_lifetime == 0 || token_lifetime > 2_592_000 {
        return Err(MgmtError::invalid_body(
            "Payload validation error: 'token_lifetime must be between 1 and 2592000' on property token_lifetime.",
        ));
    }
    let scopes = parse_scopes(&payload)?;
    let rs = ResourceServer {
        id: secrets::new_hex_id(),
        name,
        identifier,
        scopes,
        token_lifetime,
        is_system: false,
        signing_alg,
        allow_offline_access: payload.bool("allow_offline_access")?.unwrap_or(false),
        skip_consent_for_verifiable_first_party_clients: payload
            .bool("skip_consent_for_verifiable_first_party_clients")?
            .unwrap_or(true),
    };
    let body = rs.to_json();
    tenant.write().insert_resource_server(rs).map_err(|_| {
        MgmtError::conflict(
            "A resource server with the same identifier already exists",
            "resource_server_conflict",
        )
    })?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn parse_scopes(payload: &Payload) -> MgmtResult<Vec<(String, String)>> {
    let Some(items) = payload.array("scopes")? else {
        return Ok(Vec::new());
    };
    let mut scopes: Vec<(String, String)> = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(MgmtError::invalid_body(format!(
                "Payload validation error: 'Expected type object' on property scopes[{i}]."
            )));
        };
        let scope = Payload(map);
        let value = scope.required_string("value")?;
        let description = scope.string("description")?.unwrap_or_default();
        if scopes.iter().any(|(v, _)| *v == value) {
            return Err(MgmtError::invalid_body(format!(
                "Duplicate scope value: {value}"
            )));
        }
        scopes.push((value, description));
    }
    Ok(scopes)
}

/// `GET /api/v2/client-grants` with optional `audience` and `client_id` filters.
pub(crate) async fn list_grants(
    axum::Extension(tenant): TenantExt,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> MgmtResult<Response> {
    caller.require_any(&["read:client_grants"])?;
    let query = Query::parse(raw.as_deref())?;
    let audience = query.get("audience");
    let client_id = query.get("client_id");
    let list: Vec<Value> = tenant
        .read()
        .grants
        .iter()
        .filter(|g| audience.is_none_or(|a| g.audience == a))
        .filter(|g| client_id.is_none_or(|c| g.client_id == c))
        .map(|g| json!({ "id": g.id, "client_id": g.client_id, "audience": g.audience, "scope": g.scope }))
        .collect();
    Ok(Json(list).into_response())
}
