//! `/api/v2/clients/{id}/credentials[/{credential_id}]`: register, list, read, change the expiry
//! of, and delete the public keys a client may sign Private Key JWT assertions with.
//!
//! Creating a credential does not enable it (that is `PATCH /clients/{id}` with
//! `client_authentication_methods`, in `clients`). Each route needs its own scope
//! (`create|read|update|delete:client_credentials`), checked before anything else as Auth0 does.
//! Where Auth0 documents no message, the text names the rule and never quotes a submitted PEM.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use time::OffsetDateTime;

use super::auth::Caller;
use super::input::Payload;
use crate::credentials::{self, ALGORITHMS, Credential};
use crate::errors::{MgmtError, MgmtResult};
use crate::model::{self, Client};
use crate::server::TenantExt;

/// Auth0's `credential_type` enum; only `public_key` (Private Key JWT) is emulated.
const CREDENTIAL_TYPES: &[&str] = &["public_key", "cert_subject_dn", "x509_cert"];
const CREATE_FIELDS: &[&str] = &[
    "credential_type",
    "name",
    "pem",
    "alg",
    "kid",
    "expires_at",
    "parse_expiry_from_cert",
    "subject_dn",
];
/// Auth0 caps a credential's friendly name at 128 characters.
const MAX_NAME: usize = 128;

fn client_not_found() -> MgmtError {
    MgmtError::not_found("The client does not exist", "inexistent_client")
}

/// Chosen text: Auth0 documents the 404 but not its body.
fn credential_not_found() -> MgmtError {
    MgmtError::not_found(
        "The client credential does not exist",
        "inexistent_client_credential",
    )
}

fn payload_error(message: &str, property: &str) -> MgmtError {
    MgmtError::invalid_body(format!(
        "Payload validation error: '{message}' on property {property}."
    ))
}

/// `expires_at` as ISO 8601 date-time, in the future (a credential born expired is a mistake).
fn parse_expiry(raw: &str) -> MgmtResult<OffsetDateTime> {
    let at = credentials::parse_timestamp(raw).ok_or_else(|| {
        payload_error(
            "Object didn't pass validation for format date-time",
            "expires_at",
        )
    })?;
    if at <= OffsetDateTime::now_utc() {
        return Err(MgmtError::invalid_body(
            "The expires_at property must be a date in the future.",
        ));
    }
    Ok(at)
}

/// Everything a create body says, checked before the tenant is locked.
struct NewCredential {
    name: String,
    alg: String,
    kid: Option<String>,
    public_der: Vec<u8>,
    thumbprint: String,
    expires_at: Option<OffsetDateTime>,
}

impl NewCredential {
    fn parse(payload: &Payload) -> MgmtResult<NewCredential> {
        payload.reject_unknown(CREATE_FIELDS)?;
        let credential_type = payload.required_string("credential_type")?;
        if !CREDENTIAL_TYPES.contains(&credential_type.as_str()) {
            return Err(payload_error(
                &format!("No enum match for: \"{credential_type}\""),
                "credential_type",
            ));
        }
        if credential_type != "public_key" {
            return Err(MgmtError::invalid_body(format!(
                "credential_type {credential_type} (mTLS) is not emulated; use public_key."
            )));
        }
        let name = payload.string("name")?.unwrap_or_default();
        if name.chars().count() > MAX_NAME {
            return Err(payload_error(
                &format!(
                    "String is too long ({} chars), maximum {MAX_NAME}",
                    name.chars().count()
                ),
                "name",
            ));
        }
        let alg = payload.string("alg")?.unwrap_or_else(|| "RS256".to_owned());
        if !ALGORITHMS.contains(&alg.as_str()) {
            return Err(payload_error(
                &format!("No enum match for: \"{alg}\""),
                "alg",
            ));
        }
        let kid = payload.string("kid")?;
        if kid.as_deref().is_some_and(|k| !credentials::valid_kid(k)) {
            return Err(payload_error(
                "String does not match pattern ^[0-9a-zA-Z-_]{10,64}$",
                "kid",
            ));
        }
        if payload.bool("parse_expiry_from_cert")? == Some(true) {
            return Err(MgmtError::invalid_body(
                "parse_expiry_from_cert is not emulated; send expires_at instead.",
            ));
        }
        let expires_at = payload
            .string("expires_at")?
            .map(|raw| parse_expiry(&raw))
            .transpose()?;
        let pem = payload.required_string("pem")?;
        let key = credentials::parse_public_pem(&pem)
            .map_err(|e| MgmtError::invalid_body(e.message()))?;
        Ok(NewCredential {
            name,
            alg,
            kid,
            public_der: key.der,
            thumbprint: key.thumbprint,
            expires_at,
        })
    }
}

/// `POST /api/v2/clients/{id}/credentials`: 201 with the new (not yet enabled) credential.
pub(crate) async fn create(
    axum::Extension(tenant): TenantExt,
    caller: Caller,
    Path(client_id): Path<String>,
    body: Bytes,
) -> MgmtResult<Response> {
    caller.require_any(&["create:client_credentials"])?;
    let new = NewCredential::parse(&Payload::parse(&body)?)?;
    let mut data = tenant.write();
    let client = data.client_mut(&client_id).ok_or_else(client_not_found)?;
    let kid = new.kid.unwrap_or(new.thumbprint);
    if client.credentials.iter().any(|c| c.kid == kid) {
        return Err(MgmtError::conflict(
            "A credential with the same kid already exists for this client",
            "credential_conflict",
        ));
    }
    let now = model::now_timestamp();
    let credential = Credential {
        id: credentials::new_credential_id(),
        name: new.name,
        kid,
        alg: new.alg,
        public_der: new.public_der,
        created_at: now.clone(),
        updated_at: now,
        expires_at: new.expires_at,
    };
    let body = credential.to_json();
    client.credentials.push(credential);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/v2/clients/{id}/credentials`
pub(crate) async fn list(
    axum::Extension(tenant): TenantExt,
    caller: Caller,
    Path(client_id): Path<String>,
) -> MgmtResult<Response> {
    caller.require_any(&["read:client_credentials"])?;
    let data = tenant.read();
    let client = data.client(&client_id).ok_or_else(client_not_found)?;
    let list: Vec<Value> = client.credentials.iter().map(Credential::to_json).collect();
    Ok(Json(Value::Array(list)).into_response())
}

/// `GET /api/v2/clients/{id}/credentials/{credential_id}`
pub(crate) async fn get_one(
    axum::Extension(tenant): TenantExt,
    caller: Caller,
    Path((client_id, credential_id)): Path<(String, String)>,
) -> MgmtResult<Response> {
    caller.require_any(&["read:client_credentials"])?;
    let data = tenant.read();
    let client = data.client(&client_id).ok_or_else(client_not_found)?;
    let credential = client
        .credential(&credential_id)
        .ok_or_else(credential_not_found)?;
    Ok(Json(credential.to_json()).into_response())
}

/// `PATCH /api/v2/clients/{id}/credentials/{credential_id}`: only `expires_at` may change
/// (`null` removes the expiry).
pub(crate) async fn patch(
    axum::Extension(tenant): TenantExt,
    caller: Caller,
    Path((client_id, credential_id)): Path<(String, String)>,
    body: Bytes,
) -> MgmtResult<Response> {
    caller.require_any(&["update:client_credentials"])?;
    let payload = Payload::parse(&body)?;
    payload.reject_unknown(&["expires_at"])?;
    let expires_at = match payload.nullable_string("expires_at")? {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => Some(Some(parse_expiry(&raw)?)),
    };
    let mut data = tenant.write();
    let client = data.client_mut(&client_id).ok_or_else(client_not_found)?;
    let credential = client
        .credentials
        .iter_mut()
        .find(|c| c.id == credential_id)
        .ok_or_else(credential_not_found)?;
    if let Some(expires_at) = expires_at {
        credential.expires_at = expires_at;
        credential.updated_at = model::now_timestamp();
    }
    Ok(Json(credential.to_json()).into_response())
}

/// `DELETE /api/v2/clients/{id}/credentials/{credential_id}`: 204. A credential still enabled
/// in `client_authentication_methods` is refused, so a key cannot vanish from under a running
/// application by accident: disable it first.
pub(crate) async fn delete(
    axum::Extension(tenant): TenantExt,
    caller: Caller,
    Path((client_id, credential_id)): Path<(String, String)>,
) -> MgmtResult<Response> {
    caller.require_any(&["delete:client_credentials"])?;
    let mut data = tenant.write();
    let client: &mut Client = data.client_mut(&client_id).ok_or_else(client_not_found)?;
    let index = client
        .credentials
        .iter()
        .position(|c| c.id == credential_id)
        .ok_or_else(credential_not_found)?;
    if client.enabled_credentials().any(|c| c.id == credential_id) {
        return Err(MgmtError::bad_request(
            "The credential is enabled in client_authentication_methods; remove it there before deleting it.",
            "credential_in_use",
        ));
    }
    client.credentials.remove(index);
    Ok(StatusCode::NO_CONTENT.into_response())
}
