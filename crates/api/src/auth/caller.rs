//! The `Caller` extractor: a bearer token checked by one indexed lookup (or a short-lived cache
//! hit), never argon2, carrying the caller's memberships so authorisation needs no more queries.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use store::{IdentityId, OrgId, ProjectId};

use super::Role;
use super::client_ip::TrustedProxies;
use super::scope::{ProjectAccess, SecretScope};
use super::tokens::Access;
use crate::AppState;
use crate::problem::ApiError;

/// Where a request came from, for audit rows and login throttling.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    /// The client's address: the peer's, or a trusted proxy's forwarded one (see `client_ip`).
    pub source_ip: Option<String>,
    pub client_ip: Option<IpAddr>,
}

impl<S> FromRequestParts<S> for RequestMeta
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestMeta::from_parts(
            parts,
            &AppState::from_ref(state).trusted_proxies,
        ))
    }
}

impl RequestMeta {
    fn from_parts(parts: &Parts, proxies: &TrustedProxies) -> RequestMeta {
        let client_ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| proxies.client(addr.ip(), &parts.headers));
        RequestMeta {
            request_id: parts
                .headers
                .get(crate::REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            source_ip: client_ip.map(|ip| ip.to_string()),
            client_ip,
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub identity_id: IdentityId,
    pub org_id: OrgId,
    pub is_instance_admin: bool,
    pub token_hash: [u8; 32],
    /// The token's owner, roles and narrowings, shared with the token cache. A membership narrowed
    /// to some environments and a folder reaches only the secrets and folders there (see
    /// `require_secrets`), and nothing else of the project.
    pub access: Arc<Access>,
    pub meta: RequestMeta,
}

impl<S> FromRequestParts<S> for Caller
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = bearer(parts).ok_or(ApiError::Unauthenticated)?;
        let verified = state
            .tokens
            .verify(&state.db, token)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        let owner = &verified.access.owner;
        Ok(Caller {
            identity_id: owner.identity_id,
            org_id: owner.org_id,
            is_instance_admin: owner.is_instance_admin,
            token_hash: verified.hash,
            meta: RequestMeta::from_parts(parts, &state.trusted_proxies),
            access: verified.access,
        })
    }
}

/// The token of the one `Authorization: Bearer` header. Authorization is a singleton field (RFC 9110
/// 11.6.2): with two, a proxy in front may have checked the other one, so neither is trusted.
fn bearer(parts: &Parts) -> Option<&str> {
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl Caller {
    /// The caller's role in a project; instance admins act as admins everywhere.
    pub fn role_in(&self, project: ProjectId) -> Option<Role> {
        if self.is_instance_admin {
            return Some(Role::Admin);
        }
        self.access.memberships.get(&project).copied()
    }

    /// The scope the caller's membership of a project is narrowed to; instance admins are never
    /// narrowed.
    pub fn scope_in(&self, project: ProjectId) -> Option<&SecretScope> {
        if self.is_instance_admin {
            return None;
        }
        self.access.scopes.get(&project)
    }

    /// 404 when the caller cannot see the project (as if it did not exist), 403 when the role is
    /// too low — or when the membership is narrowed to secrets, which reach nothing else.
    pub fn require(
        &self,
        project: ProjectId,
        min: Role,
        not_found: ApiError,
    ) -> Result<Role, ApiError> {
        let access = self.require_secrets(project, min, not_found)?;
        match access.scope {
            Some(scope) => Err(ApiError::Forbidden {
                detail: format!(
                    "your membership of this project is narrowed to secrets in {}; it reaches only secrets and folders there",
                    scope.describe()
                ),
            }),
            None => Ok(access.role),
        }
    }

    /// `require` for the secrets and folders routes, which narrowed memberships may use: the role
    /// and the scope, which the route checks against the environment and folder it acts on.
    pub fn require_secrets(
        &self,
        project: ProjectId,
        min: Role,
        not_found: ApiError,
    ) -> Result<ProjectAccess, ApiError> {
        match self.role_in(project) {
            None => Err(not_found),
            Some(role) if role < min => Err(ApiError::Forbidden {
                detail: format!(
                    "this needs the {} role in the project; you have {}",
                    min.as_str(),
                    role.as_str()
                ),
            }),
            Some(role) => Ok(ProjectAccess {
                role,
                scope: self.scope_in(project).cloned(),
            }),
        }
    }

    /// `require` for a project id that came from the client: an instance admin's project must also
    /// belong to the caller's organisation (members only ever hold memberships inside it).
    pub async fn require_project(
        &self,
        db: &store::PgPool,
        project: ProjectId,
        min: Role,
        not_found: ApiError,
    ) -> Result<Role, ApiError> {
        if !self.org_project(db, project).await? {
            return Err(not_found);
        }
        self.require(project, min, not_found)
    }

    /// `require_secrets` for a project id that came from the client.
    pub async fn require_project_secrets(
        &self,
        db: &store::PgPool,
        project: ProjectId,
        min: Role,
        not_found: ApiError,
    ) -> Result<ProjectAccess, ApiError> {
        if !self.org_project(db, project).await? {
            return Err(not_found);
        }
        self.require_secrets(project, min, not_found)
    }

    /// False for an instance admin naming a project outside its organisation.
    async fn org_project(&self, db: &store::PgPool, project: ProjectId) -> Result<bool, ApiError> {
        if self.is_instance_admin {
            match store::projects::get(db, self.org_id, project).await {
                Ok(_) => {}
                Err(store::Error::NotFound) => return Ok(false),
                Err(other) => return Err(other.into()),
            }
        }
        Ok(true)
    }

    pub fn require_instance_admin(&self) -> Result<(), ApiError> {
        if self.is_instance_admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                detail: "this needs an instance admin".to_owned(),
            })
        }
    }

    /// Projects a list may show: `None` means all of the organisation (instance admins). Narrowed
    /// memberships reach only secrets, so their projects are not among them.
    pub fn visible_projects(&self) -> Option<Vec<ProjectId>> {
        if self.is_instance_admin {
            None
        } else {
            let mut ids: Vec<ProjectId> = self
                .access
                .memberships
                .keys()
                .filter(|p| !self.access.scopes.contains_key(p))
                .copied()
                .collect();
            ids.sort();
            Some(ids)
        }
    }

    /// An audit row for something this caller did.
    pub fn event(
        &self,
        action: &str,
        resource_type: &str,
        resource_id: impl ToString,
        project_id: Option<ProjectId>,
        metadata: serde_json::Value,
    ) -> store::audit::NewEvent {
        store::audit::NewEvent {
            org_id: Some(self.org_id),
            project_id,
            actor_id: Some(self.identity_id.0),
            actor_kind: self.access.owner.kind.clone(),
            action: action.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: Some(resource_id.to_string()),
            outcome: "success".to_owned(),
            request_id: self.meta.request_id.clone(),
            source_ip: self.meta.source_ip.clone(),
            metadata,
        }
    }
}
