//! Who is calling and what they may do. `Caller` is the extractor every protected handler takes:
//! 401 without a valid bearer token; then `require` answers 404 for a project the caller cannot see
//! (no existence leak) and 403 for a role that is too low.

pub mod argon;
mod caller;
pub mod changes;
pub mod client_ip;
pub mod scope;
pub mod throttle;
pub mod tokens;

pub use caller::{Caller, RequestMeta};
pub use scope::{ProjectAccess, SecretScope};

use serde::{Deserialize, Serialize};

/// Project roles, ordered by what they allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Member,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        match raw {
            "viewer" => Some(Role::Viewer),
            "member" => Some(Role::Member),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}
