//! `/api/v2/clients`: list, get, create, update (including `client_secret`) and rotate-secret,
//! with Auth0's scopes, field visibility, paging and validation.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::auth_methods;
use super::input::{Payload, Query, select_fields};
use crate::counters::CounterSet;
use crate::errors::{MgmtError, MgmtResult};
use crate::model::{self, APP_TYPES, AUTH_METHODS, Client, ClientView};
use crate::secrets;
use crate::server::TenantExt;

const READ_SCOPES: &[&str] = &[
    "read:clients",
    "read:client_keys",
    "read:client_credentials",
    "read:client_summary",
];
const UPDATE_SCOPES: &[&str] = &["update:clients", "update:client_keys"];

fn not_found() -> MgmtError {
    MgmtError::not_found("The client does not exist", "inexistent_client")
}

fn read_view(caller: &Caller) -> ClientView {
    ClientView::for_read_scopes(|s| caller.has(s))
}

/// `GET /api/v2/clients`
pub(crate) async fn list(
    axum::Extension(tenant): TenantExt,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> MgmtResult<Response> {
    caller.require_any(READ_SCOPES)?;
    let query = Query::parse(raw.as_deref())?;
    let page = query.int("page", 0, 100_000)?.unwrap_or(0);
    let per_page = query.int("per_page", 0, 100)?.unwrap_or(50);
    let include_totals = query.bool("include_totals")?.unwrap_or(false);
    let include_fields = query.bool("include_fields")?.unwrap_or(true);
    let is_first_party = query.bool("is_first_party")?;
    let is_global = query.bool("is_global")?;
    let fields = query.csv("fields");
    let app_types = query.csv("app_type");
    let view = read_view(&caller);

    let data = tenant.read();
    let matching: Vec<&Client> = data
        .clients()
        .iter()
        .filter(|c| is_first_party.is_none_or(|want| c.is_first_party == want))
        .filter(|c| is_global.is_none_or(|want| c.global == want))
        .filter(|c| {
            app_types.as_ref().is_none_or(|types| {
                c.app_type
                    .as_ref()
                    .is_some_and(|t| types.iter().any(|w| w == t))
            })
        })
        .collect();
    let total = matching.len();
    let start = usize::try_from(page.saturating_mul(per_page)).unwrap_or(usize::MAX);
    let clients: Vec<Value> = matching
        .into_iter()
        .skip(start)
        .take(usize::try_from(per_page).unwrap_or(usize::MAX))
        .map(|c| {
            Value::Object(select_fields(
                c.to_json(&tenant.name, view),
                fields.as_deref(),
                include_fields,
            ))
        })
        .collect();
    drop(data);

    Ok(if include_totals {
        Json(json!({ "start": start, "limit": per_page, "total": total, "clients": clients }))
            .into_response()
    } else {
        Json(Value::Array(clients)).into_response()
    })
}

/// `GET /api/v2/clients/{id}`
pub(crate) async fn get_one(
    axum::Extension(tenant): TenantExt,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> MgmtResult<Response> {
    caller.require_any(READ_SCOPES)?;
    let query = Query::parse(raw.as_deref())?;
    let include_fields = query.bool("include_fields")?.unwrap_or(true);
    let fields = query.csv("fields");
    let body = {
        let data = tenant.read();
        let client = data.client(&id).ok_or_else(not_found)?;
        client.to_json(&tenant.name, read_view(&caller))
    };
    Ok(Json(select_fields(body, fields.as_deref(), include_fields)).into_response())
}

/// `POST /api/v2/clients/{id}/rotate-secret`: a new generated secret replaces the old one at
/// once; the answer is the whole client with the new secret.
pub(crate) async fn rotate_secret(
    axum::Extension(tenant): TenantExt,
    caller: Caller,
    Path(id): Path<String>,
) -> MgmtResult<Response> {
    caller.require_any(&["update:client_keys"])?;
    let body = {
        let mut data = tenant.write();
        let client = data.client_mut(&id).ok_or_else(not_found)?;
        if client.uses_private_key_jwt() {
            // Chosen text: Auth0 refuses, but documents no message for this case.
            return Err(MgmtError::bad_request(
                "The client authenticates with private_key_jwt; it has no secret to rotate. Rotate its credentials instead.",
                "operation_not_supported",
            ));
        }
        client.set_secret(secrets::new_client_secret(), tenant.propagation_delay);
        client.to_json(&tenant.name, ClientView::ALL)
    };
    CounterSet::bump(&tenant.counters.rotations);
    Ok(Json(body).into_response())
}

/// Fields a client body may carry, parsed and checked before anything changes.
#[derive(Default)]
struct ClientInput {
    name: Option<String>,
    description: Option<String>,
    app_type: Option<String>,
    is_first_party: Option<bool>,
    grant_types: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    client_secret: Option<String>,
    resource_server_identifier: Option<String>,
    callbacks: Option<Vec<String>>,
    allowed_origins: Option<Vec<String>>,
    web_origins: Option<Vec<String>>,
    allowed_logout_urls: Option<Vec<String>>,
    client_aliases: Option<Vec<String>>,
    allowed_clients: Option<Vec<String>>,
    oidc_conformant: Option<bool>,
    sso_disabled: Option<bool>,
    cross_origin_auth: Option<bool>,
    is_token_endpoint_ip_header_trusted: Option<bool>,
    jwt_lifetime: Option<u64>,
    client_metadata: Option<Map<String, Value>>,
    logo_uri: Option<String>,
}

const COMMON_FIELDS: &[&str] = &[
    "name",
    "description",
    "app_type",
    "is_first_party",
    "grant_types",
    "token_endpoint_auth_method",
    "callbacks",
    "allowed_origins",
    "web_origins",
    "allowed_logout_urls",
    "client_aliases",
    "allowed_clients",
    "oidc_conformant",
    "sso_disabled",
    "cross_origin_auth",
    "is_token_endpoint_ip_header_trusted",
    "jwt_configuration",
    "client_metadata",
    "logo_uri",
    "custom_login_page_on",
    "callback_url_template",
];

impl ClientInput {
    fn parse(payload: &Payload) -> MgmtResult<ClientInput> {
        let app_type = payload.string("app_type")?;
        if let Some(t) = &app_type
            && !APP_TYPES.contains(&t.as_str())
        {
            return Err(MgmtError::invalid_body(format!(
                "Payload validation error: 'No enum match for: \"{t}\"' on property app_type."
            )));
        }
        let method = payload.string("token_endpoint_auth_method")?;
        if let Some(m) = &method
            && !AUTH_METHODS.contains(&m.as_str())
        {
            return Err(MgmtError::invalid_body(format!(
                "Payload validation error: 'No enum match for: \"{m}\"' on property token_endpoint_auth_method."
            )));
        }
        let jwt_lifetime = match payload.object("jwt_configuration")? {
            Some(config) => Payload(config).u64("lifetime_in_seconds")?,
            None => None,
        };
        Ok(ClientInput {
            name: payload.non_empty_string("name")?,
            description: payload.string("description")?,
            app_type,
            is_first_party: payload.bool("is_first_party")?,
            grant_types: payload.string_list("grant_types")?,
            token_endpoint_auth_method: method,
            client_secret: payload.non_empty_string("client_secret")?,
            resource_server_identifier: payload.non_empty_string("resource_server_identifier")?,
            callbacks: payload.string_list("callbacks")?,
            allowed_origins: payload.string_list("allowed_origins")?,
            web_origins: payload.string_list("web_origins")?,
            allowed_logout_urls: payload.string_list("allowed_logout_urls")?,
            client_aliases: payload.string_list("client_aliases")?,
            allowed_clients: payload.string_list("allowed_clients")?,
            oidc_conformant: payload.bool("oidc_conformant")?,
            sso_disabled: payload.bool("sso_disabled")?,
            cross_origin_auth: payload.bool("cross_origin_auth")?,
            is_token_endpoint_ip_header_trusted: payload
                .bool("is_token_endpoint_ip_header_trusted")?,
            jwt_lifetime,
            client_metadata: payload.object("client_metadata")?,
            logo_uri: payload.string("logo_uri")?,
        })
    }

    /// Applies everything but the secret; the caller has validated the grant types.
    fn apply(self, client: &mut Client) {
        fn set<T>(slot: &mut T, value: Option<T>) {
            if let Some(value) = value {
                *slot = value;
            }
        }
        set(&mut client.name, self.name);
        set(&mut client.description, self.description);
        if self.app_type.is_some() {
            client.app_type = self.app_type;
        }
        set(&mut client.is_first_party, self.is_first_party);
        set(&mut client.grant_types, self.grant_types);
        set(
            &mut client.token_endpoint_auth_method,
            self.token_endpoint_auth_method,
        );
        set(&mut client.callbacks, self.callbacks);
        set(&mut client.allowed_origins, self.allowed_origins);
        set(&mut client.web_origins, self.web_origins);
        set(&mut client.allowed_logout_urls, self.allowed_logout_urls);
        set(&mut client.client_aliases, self.client_aliases);
        set(&mut client.allowed_clients, self.allowed_clients);
        set(&mut client.oidc_conformant, self.oidc_conformant);
        set(&mut client.sso_disabled, self.sso_disabled);
        set(&mut client.cross_origin_auth, self.cross_origin_auth);
        set(
            &mut client.is_token_endpoint_ip_header_trusted,
            self.is_token_endpoint_ip_header_trusted,
        );
        set(&mut client.jwt_lifetime_in_seconds, self.jwt_lifetime);
        set(&mut client.client_metadata, self.client_metadata);
        if self.logo_uri.is_some() {
            client.logo_uri = self.logo_uri;
        }
    }
}

/// `PATCH /api/v2/clients/{id}`. Changing `client_secret` needs `update:client_keys` and
/// replaces the one secret, like rotate-secret but with the caller's value.
pub(crate) async fn patch(
    axum::Extension(tenant): TenantExt,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> MgmtResult<Response> {
    caller.require_any(UPDATE_SCOPES)?;
    let payload = Payload::parse(&body)?;
    let mut allowed = COMMON_FIELDS.to_vec();
    allowed.push("client_secret");
    allowed.push("client_authentication_methods");
    payload.reject_unknown(&allowed)?;
    let mut input = ClientInput::parse(&payload)?;
    let methods = auth_methods::parse(&payload)?;
    if input.client_secret.is_some() {
        caller.require_any(&["update:client_keys"])?;
    }
    let new_secret = input.client_secret.take();
    let show_secret = caller.has("update:client_keys") || caller.has("read:client_keys");
    let body = {
        let mut data = tenant.write();
        let client = data.client_mut(&id).ok_or_else(not_found)?;
        let method = input
            .token_endpoint_auth_method
            .as_deref()
            .unwrap_or(&client.token_endpoint_auth_method);
        let grant_types = input.grant_types.as_ref().unwrap_or(&client.grant_types);
        model::validate_grant_types(grant_types, method).map_err(MgmtError::invalid_body)?;
        // Checked before anything changes, so a refused PATCH leaves the client as it was.
        auth_methods::apply(client, methods, input.token_endpoint_auth_method.is_some())?;
        input.apply(client);
        if let Some(secret) = &new_secret {
            client.set_secret(secret.clone(), tenant.propagation_delay);
        }
        client.to_json(
            &tenant.name,
            ClientView {
                settings: true,
                credentials: show_secret,
            },
        )
    };
    if new_secret.is_some() {
        CounterSet::bump(&tenant.counters.rotations);
    }
    Ok(Json(body).into_response())
}

/// `POST /api/v2/clients`: 201 with the new client, its generated id and secret.
pub(crate) async fn create(
    axum::Extension(tenant): TenantExt,
    caller: Caller,
    body: Bytes,
) -> MgmtResult<Response> {
    caller.require_any(&["create:clients"])?;
    let payload = Payload::parse(&body)?;
    let mut allowed = COMMON_FIELDS.to_vec();
    allowed.push("resource_server_identifier");
    payload.reject_unknown(&allowed)?;
    let name = payload.required_string("name")?;
    let mut input = ClientInput::parse(&payload)?;
    let app_type = input.app_type.take();
    let mut client = Client::new(
        secrets::new_client_id(),
        secrets::new_client_secret(),
        name,
        app_type.clone(),
    );
    let resource_server = input.resource_server_identifier.take();
    let body = {
        let mut data = tenant.write();
        match (app_type.as_deref(), &resource_server) {
            (Some("resource_server"), None) => {
                return Err(MgmtError::invalid_body(
                    "Payload validation error: 'Missing required property: resource_server_identifier'.",
                ));
            }
            (Some("resource_server"), Some(identifier))
                if data.resource_server(identifier).is_none() =>
            {
                return Err(MgmtError::not_found(
                    format!("Resource server not found: {identifier}"),
                    "inexistent_resource_server",
                ));
            }
            (Some("resource_server"), Some(_)) => {}
            (_, Some(_)) => {
                return Err(MgmtError::invalid_body(
                    "resource_server_identifier is only allowed for app_type resource_server",
                ));
            }
            _ => {}
        }
        client.resource_server_identifier = resource_server;
        let method = input
            .token_endpoint_auth_method
            .clone()
            .unwrap_or_else(|| client.token_endpoint_auth_method.clone());
        let grant_types = input
            .grant_types
            .clone()
            .unwrap_or_else(|| model::default_grant_types(client.app_type.as_deref(), &method));
        model::validate_grant_types(&grant_types, &method).map_err(MgmtError::invalid_body)?;
        input.grant_types = Some(grant_types);
        input.token_endpoint_auth_method = Some(method);
        input.apply(&mut client);
        let body = client.to_json(&tenant.name, ClientView::ALL);
        data.insert_client(client)
            .map_err(|e| MgmtError::conflict(e, "client_conflict"))?;
        body
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
