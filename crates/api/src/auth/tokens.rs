//! Access tokens: 256 random bits, handed out once, stored as SHA-256. Verification is one indexed
//! lookup, cached for a few seconds so a busy client costs no query per request. The cache is per
//! process: revoking evicts here at once, and every other API process on hearing the database's
//! `NOTIFY` ([`super::changes`]); `CACHE_TTL` bounds staleness only while that is not heard.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crypto::{ExposeSecret, SecretString};
use rand::Rng as _;
use sha2::{Digest, Sha256};
use store::tokens::TokenOwner;
use store::{PgPool, ProjectId};
use time::OffsetDateTime;

use super::Role;
use super::scope::SecretScope;
use crate::problem::ApiError;

/// How long a verified token is trusted without asking the database again.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
const PREFIX: &str = "kh_";

/// A token's owner and the hash it was found by.
#[derive(Clone, Debug)]
pub struct Verified {
    pub access: Arc<Access>,
    pub hash: [u8; 32],
}

/// A token's owner with its roles and narrowings parsed once, when the owner is looked up, rather
/// than on every request that presents the token.
#[derive(Debug)]
pub struct Access {
    pub owner: TokenOwner,
    pub memberships: HashMap<ProjectId, Role>,
    /// The memberships narrowed to some environments and a folder.
    pub scopes: HashMap<ProjectId, SecretScope>,
}

impl From<TokenOwner> for Access {
    fn from(owner: TokenOwner) -> Access {
        Access {
            memberships: owner
                .memberships
                .iter()
                .filter_map(|(project, role)| Role::parse(role).map(|r| (*project, r)))
                .collect(),
            scopes: owner
                .narrowed
                .iter()
                .map(|(project, narrowing)| (*project, SecretScope::from(narrowing)))
                .collect(),
            owner,
        }
    }
}

#[derive(Clone)]
pub struct TokenService {
    cache: moka::sync::Cache<[u8; 32], Arc<Access>>,
    pub ttl: Duration,
}

impl TokenService {
    pub fn new(ttl: Duration) -> TokenService {
        TokenService {
            cache: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(CACHE_TTL)
                .build(),
            ttl,
        }
    }

    /// A fresh token and its hash.
    pub fn mint() -> (SecretString, [u8; 32]) {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let hash = hash(&token);
        (SecretString::from(token), hash)
    }

    pub fn expires_at(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.ttl
    }

    pub async fn verify(&self, db: &PgPool, token: &str) -> Result<Option<Verified>, ApiError> {
        if !token.starts_with(PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        let hash = hash(token);
        let access = match self.cache.get(&hash) {
            Some(access) => access,
            None => match store::tokens::owner(db, &hash).await? {
                Some(owner) => {
                    let access = Arc::new(Access::from(owner));
                    self.cache.insert(hash, access.clone());
                    access
                }
                None => return Ok(None),
            },
        };
        if access.owner.expires_at <= OffsetDateTime::now_utc() {
            self.cache.invalidate(&hash);
            return Ok(None);
        }
        Ok(Some(Verified { access, hash }))
    }

    pub fn forget(&self, hash: &[u8; 32]) {
        self.cache.invalidate(hash);
    }

    /// After a change to identities or memberships: cached owners may carry stale roles.
    pub fn forget_all(&self) {
        self.cache.invalidate_all();
    }
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub fn hash_secret(token: &SecretString) -> [u8; 32] {
    hash(token.expose_secret())
}
