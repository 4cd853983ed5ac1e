//! Management API authentication: the bearer token must be an RS256 JWT signed by this tenant's
//! key, issued by this tenant, for this tenant's Management API audience and not expired;
//! scopes are then checked per route with Auth0's 403 body.
//!
//! Verified tokens are cached per tenant (bounded), so a client that reuses its token — as every
//! Auth0 SDK does — costs one hash lookup per request instead of an RSA verification. Expiry is
//! still checked on every request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::errors::{MgmtError, MgmtResult};
use crate::keys::JwtError;
use crate::state::Tenant;

/// Entries kept before the cache is cleared; plenty for tests and benchmarks.
const CACHE_LIMIT: usize = 10_000;

pub(crate) struct VerifiedToken {
    pub scopes: Vec<String>,
    pub exp: u64,
}

#[derive(Default)]
pub(crate) struct VerifiedTokens {
    cache: RwLock<HashMap<String, Arc<VerifiedToken>>>,
}

impl VerifiedTokens {
    fn get(&self, token: &str) -> Option<Arc<VerifiedToken>> {
        let cache = self
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(token).cloned()
    }

    fn put(&self, token: &str, verified: Arc<VerifiedToken>) {
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(token.to_owned(), verified);
    }
}

/// The authenticated caller of a Management API route.
pub(crate) struct Caller {
    token: Arc<VerifiedToken>,
}

impl Caller {
    pub(crate) fn has(&self, scope: &str) -> bool {
        self.token.scopes.iter().any(|s| s == scope)
    }

    /// Auth0 accepts a route when the token holds any one of its scopes.
    pub(crate) fn require_any(&self, any_of: &[&str]) -> MgmtResult<()> {
        if any_of.iter().any(|s| self.has(s)) {
            Ok(())
        } else {
            Err(MgmtError::insufficient_scope(any_of))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = MgmtError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let tenant = parts
            .extensions
            .get::<Arc<Tenant>>()
            .cloned()
            .ok_or_else(|| MgmtError::unauthorized("Invalid token"))?;
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| MgmtError::unauthorized("Missing authentication"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                MgmtError::bad_request("Bad HTTP authentication header format", "Bearer")
            })?;
        authenticate(&tenant, token).map(|token| Caller { token })
    }
}

fn authenticate(tenant: &Tenant, token: &str) -> MgmtResult<Arc<VerifiedToken>> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let verified = match tenant.verified_tokens.get(token) {
        Some(verified) => verified,
        None => {
            let claims = tenant.key.verify(token).map_err(|e| match e {
                JwtError::Malformed | JwtError::BadSignature => {
                    MgmtError::unauthorized("Invalid token")
                }
            })?;
            if claims.iss != tenant.issuer {
                return Err(MgmtError::unauthorized("Invalid token"));
            }
            if !claims.aud.contains(&tenant.management_audience) {
                return Err(MgmtError::unauthorized(format!(
                    "Bad audience: {}",
                    match &claims.aud {
                        crate::keys::Audience::One(a) => a.clone(),
                        crate::keys::Audience::Many(list) => list.join(" "),
                    }
                )));
            }
            let verified = Arc::new(VerifiedToken {
                scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
                exp: claims.exp,
            });
            tenant.verified_tokens.put(token, Arc::clone(&verified));
            verified
        }
    };
    if verified.exp <= now {
        return Err(MgmtError::unauthorized(
            "Expired token received for JSON Web Token validation",
        ));
    }
    Ok(verified)
}
