//! Creating a `private-key-jwt` connection: Keyhold generates the RSA key pair, seals the private
//! key (bound to the row, tenant, client, project and connection) and answers with the public key
//! only. Then either the user registers that key in Auth0 and calls `validate`, or, with
//! `registerWith`, Keyhold registers it through another connection of the same project and tenant
//! (create the credential, enable Private Key JWT on the client) and validates at once.
//!
//! The connection is stored (pending registration) *before* Auth0 is changed, so a crash never
//! leaves a key registered in Auth0 whose private half Keyhold lost. If registration fails the
//! connection is deleted again (audited), so a refused request leaves nothing behind.

use auth0::{Auth0Error, Domain, GeneratedKey, NewCredential};
use axum::http::StatusCode;
use broker::Destination;
use serde_json::{Value, json};
use store::connections as db;
use store::{ConnectionId, PrivateKeyId, ProjectId};

use super::credentials::KeyTarget;
use super::dto::ConnectionOut;
use crate::AppState;
use crate::auth::Caller;
use crate::problem::{ApiError, ApiResult};
use crate::routes::auth0_problems::{self, CallError, Subject};
use crate::routes::connection_calls::capabilities;
use crate::routes::connection_calls::session::pace;

/// What the create request asked for, checked for syntax.
pub(super) struct KeyRequest<'a> {
    pub project_id: ProjectId,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub target: KeyTarget,
    pub register_with: Option<ConnectionId>,
}

fn registrar_not_found() -> ApiError {
    ApiError::NotFound {
        what: "app connection",
        field: Some("registerWith"),
    }
}

/// The connection named by `registerWith`: in the same project (another project's is as unknown
/// as a missing one) and to the same tenant, and usable itself.
pub(super) async fn registrar(
    state: &AppState,
    caller: &Caller,
    id: ConnectionId,
    project_id: ProjectId,
    target: &KeyTarget,
) -> ApiResult<db::Connection> {
    let registrar = match db::get(&state.db, caller.org_id, id).await {
        Ok(c) if c.project_id == project_id => c,
        Ok(_) | Err(store::Error::NotFound) => return Err(registrar_not_found()),
        Err(other) => return Err(other.into()),
    };
    if registrar.domain != target.domain.as_str() {
        return Err(ApiError::field(
            "registerWith",
            "must be a connection to the same Auth0 tenant as credentials.domain",
        ));
    }
    if registrar.awaits_registration() {
        return Err(ApiError::field(
            "registerWith",
            "that connection is itself pending registration; validate it first",
        ));
    }
    Ok(registrar)
}

/// Generates the key, stores the connection, registers the key when asked; the 201 body.
pub(super) async fn create(
    state: &AppState,
    caller: &Caller,
    request: KeyRequest<'_>,
    registrar: Option<db::Connection>,
) -> ApiResult<(StatusCode, Value)> {
    let target = &request.target;
    let alg = target.alg;
    // RSA key generation takes up to a second of CPU: off the async workers.
    let key = tokio::task::spawn_blocking(move || auth0::generate_key(alg))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let id = ConnectionId::new();
    let mut connection = store_pending(state, caller, &request, id, &key).await?;

    let mut body = json!({});
    if let Some(registrar) = &registrar {
        let credential_id = match register(state, registrar, &connection, target, &key).await {
            Ok(credential_id) => credential_id,
            Err(problem) => {
                undo(state, caller, &connection).await?;
                return Err(problem);
            }
        };
        body["registration"] = json!({
            "registeredWith": registrar.id,
            "credentialId": credential_id,
        });
        // Auth0 now holds the key: validate as the connection itself would.
        match state.broker.management_token(&connection).await {
            Ok(token) => {
                let diagnostics = capabilities::diagnose(&token.scopes, None);
                let mut tx = state.db.begin().await?;
                connection.key.key_registered_at =
                    db::mark_key_registered(&mut tx, connection.org_id, connection.id).await?;
                super::keep_scope_check(&mut tx, &mut connection, &diagnostics).await?;
                tx.commit().await?;
                body["diagnostics"] = json!(diagnostics);
            }
            Err(err) => {
                // Registered but not (yet) usable, e.g. the client has no grant for the audience:
                // the connection stays, pending, with the reason; validate once it is fixed.
                let detail = match &err {
                    broker::Error::Auth0(err) => err.reason(),
                    other => {
                        tracing::error!(connection.id = %connection.id, error = %other, "validating a newly registered key failed");
                        "Keyhold could not use the connection's key; see the server log".to_owned()
                    }
                };
                body["registration"]["validationError"] = json!(detail);
            }
        }
    }
    tracing::info!(connection.id = %connection.id, project.id = %connection.project_id, method = "private-key-jwt", "app connection created");
    body["appConnection"] = json!(ConnectionOut::from(connection));
    Ok((StatusCode::CREATED, body))
}

/// Stores the connection (pending registration) and its sealed private key in one transaction.
async fn store_pending(
    state: &AppState,
    caller: &Caller,
    request: &KeyRequest<'_>,
    id: ConnectionId,
    key: &GeneratedKey,
) -> ApiResult<db::Connection> {
    let target = &request.target;
    let key_id = PrivateKeyId::new();
    let to = Destination {
        domain: target.domain.as_str(),
        client_id: &target.client_id,
    };
    let sealed = state
        .broker
        .seal_connection_private_key(key_id, id, request.project_id, to, &key.private_key_pem)
        .map_err(ApiError::internal)?;
    let new = db::NewKeyConnection {
        id,
        org_id: caller.org_id,
        project_id: request.project_id,
        name: request.name,
        description: request.description,
        domain: target.domain.as_str(),
        client_id: &target.client_id,
        audience: &target.audience,
        public_key: db::PublicKey {
            kid: &key.kid,
            alg: target.alg.as_str(),
            pem: &key.public_key_pem,
            jwk: &key.jwk,
        },
    };
    let mut tx = state.db.begin().await?;
    let connection = db::insert_with_key(&mut tx, &new)
        .await
        .map_err(super::store_error)?;
    let private_key = store::connection_keys::PrivateKey {
        id: key_id,
        connection_id: id,
        private_key_sealed: sealed,
    };
    store::connection_keys::insert(&mut tx, &private_key).await?;
    let mut metadata = super::summary(&connection);
    metadata["method"] = json!(db::METHOD_PRIVATE_KEY_JWT);
    metadata["kid"] = json!(key.kid);
    metadata["registerWith"] = json!(request.register_with.map(|r| r.0));
    store::audit::record(
        &mut tx,
        &caller.event(
            "app_connection.create",
            "app_connection",
            id,
            Some(request.project_id),
            metadata,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(connection)
}

/// Registers the public key as a credential of the client and enables Private Key JWT with it,
/// through `registrar`'s token. Returns Auth0's credential id. A credential created but not
/// enabled is deleted again (best effort) so a failed request leaves nothing in Auth0 either.
///
/// A credential already enabled stays enabled beside the new one; with two enabled already the
/// request is refused before anything is created.
async fn register(
    state: &AppState,
    registrar: &db::Connection,
    connection: &db::Connection,
    target: &KeyTarget,
    key: &GeneratedKey,
) -> ApiResult<String> {
    let domain = &target.domain;
    let token = state
        .broker
        .management_token(registrar)
        .await
        .map_err(|err| match err {
            broker::Error::Auth0(err) => registrar_problem(err),
            other => CallError::from(other).problem(CLIENT),
        })?;
    // Without one of these scopes Auth0 hides the enabled credentials, and "none shown" would
    // read as "none enabled": a key in use could be pushed out.
    if !token
        .scopes
        .iter()
        .any(|s| s == "read:client_credentials" || s == "read:client_keys")
    {
        return Err(ApiError::Auth0Rejected {
            detail: "the registerWith connection's application lacks read:client_credentials, which Keyhold needs to keep the credentials already enabled on the client; grant it in Auth0".to_owned(),
            field: "registerWith",
        });
    }
    // Auth0 replaces the enabled list as a whole: keep what is enabled, and refuse rather than
    // push out a key some application may still sign with.
    // Each Management API request takes a slot of the tenant's budget, as the workers' do.
    pace(state, domain).await?;
    let enabled = enabled_credentials(state, domain, &token.token, &target.client_id).await?;
    if enabled.len() >= MAX_ENABLED {
        return Err(ApiError::Conflict {
            detail: format!(
                "the application already has {MAX_ENABLED} Private Key JWT credentials enabled (Auth0's maximum); disable one in Auth0 first, or register the publicKey yourself and validate"
            ),
            field: Some("registerWith"),
        });
    }
    let credential = NewCredential {
        name: format!("keyhold-{}", connection.name),
        public_key_pem: key.public_key_pem.clone(),
        alg: target.alg,
        kid: Some(key.kid.clone()),
        expires_at: None,
    };
    pace(state, domain).await?;
    let created = state
        .auth0
        .create_credential(domain, &token.token, &target.client_id, &credential)
        .await
        .map_err(registrar_problem)?;
    let mut ids: Vec<&str> = enabled.iter().map(String::as_str).collect();
    ids.push(&created.id);
    let enabled = async {
        pace(state, domain).await?;
        state
            .auth0
            .enable_private_key_jwt(domain, &token.token, &target.client_id, &ids)
            .await
            .map_err(registrar_problem)
    };
    if let Err(problem) = enabled.await {
        // The credential just made must not stay behind unused: removed even past the budget.
        remove_credential(state, domain, &token.token, &target.client_id, &created.id).await;
        return Err(problem);
    }
    Ok(created.id)
}

/// Auth0 enables at most two credentials per application.
const MAX_ENABLED: usize = 2;

/// The credentials the application has enabled for Private Key JWT (`read:client_credentials`;
/// Auth0 omits `client_authentication_methods` while none is set).
async fn enabled_credentials(
    state: &AppState,
    domain: &Domain,
    token: &auth0::SecretString,
    client_id: &str,
) -> ApiResult<Vec<String>> {
    let path = format!(
        "/api/v2/clients/{}?fields=client_id,client_authentication_methods&include_fields=true",
        auth0::path_segment(client_id).map_err(registrar_problem)?
    );
    let answer = state
        .auth0
        .management_json(domain, token, auth0::Method::GET, &path, None)
        .await
        .map_err(registrar_problem)?;
    let ids = answer.body["client_authentication_methods"]["private_key_jwt"]["credentials"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(ids)
}

const CLIENT: Subject = Subject {
    what: "Auth0 application",
    field: Some("credentials.clientId"),
};

/// A failure of a call made with the `registerWith` connection, pointed at what to fix.
fn registrar_problem(err: Auth0Error) -> ApiError {
    match err {
        Auth0Error::MissingScope { .. } => ApiError::Auth0Rejected {
            detail: format!(
                "{}; the registerWith connection's application needs read:client_credentials, create:client_credentials and update:clients",
                err.reason()
            ),
            field: "registerWith",
        },
        Auth0Error::WrongCredentials | Auth0Error::AssertionRejected { .. } => {
            ApiError::Auth0Rejected {
                detail: format!(
                    "the registerWith connection's own credentials were refused: {}",
                    err.reason()
                ),
                field: "registerWith",
            }
        }
        Auth0Error::ClientNotFound { .. } => ApiError::Auth0Rejected {
            detail: "Auth0 has no application with this client ID in the tenant".to_owned(),
            field: "credentials.clientId",
        },
        other => auth0_problems::CallError::Auth0(other).problem(CLIENT),
    }
}

/// Best effort: a credential Keyhold created but could not enable is deleted again.
async fn remove_credential(
    state: &AppState,
    domain: &Domain,
    token: &auth0::SecretString,
    client_id: &str,
    credential_id: &str,
) {
    if let Err(err) = state
        .auth0
        .delete_credential(domain, token, client_id, credential_id)
        .await
    {
        tracing::warn!(%err, credential.id = credential_id, "could not delete the credential Keyhold registered before enabling it failed; delete it in the Auth0 Dashboard");
    }
}

/// Deletes a connection whose registration failed, audited like any delete.
async fn undo(state: &AppState, caller: &Caller, connection: &db::Connection) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    let removed = db::delete(&mut tx, caller.org_id, connection.id, None)
        .await
        .map_err(super::store_error)?;
    let mut metadata = super::summary(&removed);
    metadata["reason"] = json!("registration in Auth0 failed");
    store::audit::record(
        &mut tx,
        &caller.event(
            "app_connection.delete",
            "app_connection",
            removed.id,
            Some(removed.project_id),
            metadata,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
