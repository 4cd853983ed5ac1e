//! Management API calls for Private Key JWT credentials: register a public key
//! (`POST /clients/{id}/credentials`), list, read, re-date and delete them, and choose which (at
//! most two) are enabled (`PATCH /clients/{id}` with `client_authentication_methods`).
//!
//! Scopes: `create|read|update|delete:client_credentials`, and `update:clients` for enabling. Errors
//! map like the other client calls (missing scope, unknown client), plus
//! [`Auth0Error::CredentialNotFound`]. Only public keys travel here; private keys never do.

use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::assertion::SigningAlg;
use crate::connection_calls::path_segment;
use crate::domain::Domain;
use crate::error::{Auth0Error, UpstreamBody};
use crate::http::{Auth0Client, Auth0Response, RequestBody};
use crate::rotation_calls::map_error;

/// A public key to register for an application.
#[derive(Clone, Debug)]
pub struct NewCredential {
    /// Friendly name shown in the Auth0 Dashboard.
    pub name: String,
    /// SPKI (`BEGIN PUBLIC KEY`) or PKCS#1 PEM.
    pub public_key_pem: String,
    pub alg: SigningAlg,
    /// Auth0 derives one when absent; send the one the application signs with.
    pub kid: Option<String>,
    /// ISO 8601; after it Auth0 refuses assertions signed with this key.
    pub expires_at: Option<String>,
}

/// A registered credential as Auth0 shows it (never the key material).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct CredentialInfo {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kid: String,
    #[serde(default)]
    pub alg: String,
    #[serde(default)]
    pub credential_type: String,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
}

fn credentials_path(client_id: &str, credential_id: Option<&str>) -> Result<String, Auth0Error> {
    let client = path_segment(client_id)?;
    Ok(match credential_id {
        None => format!("/api/v2/clients/{client}/credentials"),
        Some(id) => format!("/api/v2/clients/{client}/credentials/{}", path_segment(id)?),
    })
}

fn check(
    response: Auth0Response,
    client_id: &str,
    credential_id: Option<&str>,
) -> Result<Auth0Response, Auth0Error> {
    if response.status.is_success() {
        return Ok(response);
    }
    let parsed = UpstreamBody::parse(&response.body);
    if response.status == StatusCode::NOT_FOUND && parsed.error == "inexistent_client_credential" {
        return Err(Auth0Error::CredentialNotFound {
            credential_id: crate::error::truncate(credential_id.unwrap_or_default().to_owned()),
        });
    }
    Err(map_error(response.status, &response.body, client_id))
}

impl Auth0Client {
    /// `POST /api/v2/clients/{id}/credentials` (needs `create:client_credentials`). The new
    /// credential is not enabled yet: see [`Auth0Client::enable_private_key_jwt`].
    #[tracing::instrument(name = "auth0.create_credential", skip_all, fields(domain = %domain))]
    pub async fn create_credential(
        &self,
        domain: &Domain,
        token: &SecretString,
        client_id: &str,
        credential: &NewCredential,
    ) -> Result<CredentialInfo, Auth0Error> {
        let path = credentials_path(client_id, None)?;
        let mut body = serde_json::json!({
            "credential_type": "public_key",
            "name": credential.name,
            "pem": credential.public_key_pem,
            "alg": credential.alg.as_str(),
        });
        if let Some(kid) = &credential.kid {
            body["kid"] = kid.as_str().into();
        }
        if let Some(expires_at) = &credential.expires_at {
            body["expires_at"] = expires_at.as_str().into();
        }
        let response = self
            .send(
                domain,
                Method::POST,
                &path,
                Some(token),
                Some(RequestBody::Json(&body)),
            )
            .await?;
        check(response, client_id, None)?.json()
    }

    /// `GET /api/v2/clients/{id}/credentials` (needs `read:client_credentials`).
    #[tracing::instrument(name = "auth0.list_credentials", skip_all, fields(domain = %domain))]
    pub async fn list_credentials(
        &self,
        domain: &Domain,
        token: &SecretString,
        client_id: &str,
    ) -> Result<Vec<CredentialInfo>, Auth0Error> {
        let path = credentials_path(client_id, None)?;
        let response = self
            .send(domain, Method::GET, &path, Some(token), None)
            .await?;
        check(response, client_id, None)?.json()
    }

    /// `GET /api/v2/clients/{id}/credentials/{credential_id}` (needs `read:client_credentials`).
    #[tracing::instrument(name = "auth0.get_credential", skip_all, fields(domain = %domain))]
    pub async fn get_credential(
        &self,
        domain: &Domain,
        token: &SecretString,
        client_id: &str,
        credential_id: &str,
    ) -> Result<CredentialInfo, Auth0Error> {
        let path = credentials_path(client_id, Some(credential_id))?;
        let response = self
            .send(domain, Method::GET, &path, Some(token), None)
            .await?;
        check(response, client_id, Some(credential_id))?.json()
    }

    /// `PATCH /api/v2/clients/{id}/credentials/{credential_id}` with `{"expires_at": ...}`
    /// (needs `update:client_credentials`): moves a credential's expiry (ISO 8601), or removes
    /// it with `None`. Auth0 lets nothing else of a credential change.
    #[tracing::instrument(name = "auth0.set_credential_expiry", skip_all, fields(domain = %domain))]
    pub async fn set_credential_expiry(
        &self,
        domain: &Domain,
        token: &SecretString,
        client_id: &str,
        credential_id: &str,
        expires_at: Option<&str>,
    ) -> Result<CredentialInfo, Auth0Error> {
        let path = credentials_path(client_id, Some(credential_id))?;
        let body = serde_json::json!({ "expires_at": expires_at });
        let response = self
            .send(
                domain,
                Method::PATCH,
                &path,
                Some(token),
                Some(RequestBody::Json(&body)),
            )
            .await?;
        check(response, client_id, Some(credential_id))?.json()
    }

    /// `DELETE /api/v2/clients/{id}/credentials/{credential_id}` (needs
    /// `delete:client_credentials`). Auth0 refuses to delete a credential that is still
    /// enabled: disable it first with [`Auth0Client::enable_private_key_jwt`]. A credential
    /// that is already gone is [`Auth0Error::CredentialNotFound`], which a caller resuming
    /// after a lost answer may treat as done.
    #[tracing::instrument(name = "auth0.delete_credential", skip_all, fields(domain = %domain))]
    pub async fn delete_credential(
        &self,
        domain: &Domain,
        token: &SecretString,
        client_id: &str,
        credential_id: &str,
    ) -> Result<(), Auth0Error> {
        let path = credentials_path(client_id, Some(credential_id))?;
        let response = self
            .send(domain, Method::DELETE, &path, Some(token), None)
            .await?;
        check(response, client_id, Some(credential_id)).map(drop)
    }

    /// `PATCH /api/v2/clients/{id}` with
    /// `{"client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": ..}]}}}`
    /// (needs `update:clients`): exactly these credentials (one or two) are enabled and the
    /// application authenticates with Private Key JWT from then on. Repeating the call with the
    /// same ids changes nothing.
    #[tracing::instrument(name = "auth0.enable_private_key_jwt", skip_all, fields(domain = %domain))]
    pub async fn enable_private_key_jwt(
        &self,
        domain: &Domain,
        token: &SecretString,
        client_id: &str,
        credential_ids: &[&str],
    ) -> Result<(), Auth0Error> {
        if credential_ids.is_empty() || credential_ids.len() > 2 {
            return Err(Auth0Error::Config {
                reason: "Auth0 enables one or two credentials for Private Key JWT".into(),
            });
        }
        let path = format!("/api/v2/clients/{}", path_segment(client_id)?);
        let ids: Vec<serde_json::Value> = credential_ids
            .iter()
            .map(|id| serde_json::json!({ "id": id }))
            .collect();
        let body = serde_json::json!({
            "client_authentication_methods": { "private_key_jwt": { "credentials": ids } }
        });
        let response = self
            .send(
                domain,
                Method::PATCH,
                &path,
                Some(token),
                Some(RequestBody::Json(&body)),
            )
            .await?;
        check(response, client_id, Some(&credential_ids.join(", "))).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_both_ids() {
        assert_eq!(
            credentials_path("cid", None).expect("test value"),
            "/api/v2/clients/cid/credentials"
        );
        assert_eq!(
            credentials_path("c/d", Some("cred_?x")).expect("test value"),
            "/api/v2/clients/c%2Fd/credentials/cred_%3Fx"
        );
        assert!(credentials_path("..", None).is_err());
    }
}
