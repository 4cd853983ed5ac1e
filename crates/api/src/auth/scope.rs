//! Narrowed memberships: a membership may reach only some environments and one folder (with
//! everything below it), so an app's machine identity reads only its own secrets. The rules here
//! are pure string checks on environment slugs and normalised paths, made *before* anything is
//! looked up, so a refusal says nothing about what exists outside the scope.

use store::memberships::Narrowing;

use super::Role;
use crate::problem::ApiError;

/// Where a narrowed membership reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretScope {
    /// `None`: every environment.
    pub environments: Option<Vec<String>>,
    /// A normalised folder path; `/` is the whole environment.
    pub secret_path: String,
}

impl From<&Narrowing> for SecretScope {
    fn from(n: &Narrowing) -> Self {
        SecretScope {
            environments: n.environments.clone(),
            secret_path: n.secret_path.clone().unwrap_or_else(|| "/".to_owned()),
        }
    }
}

/// `path` is `folder` or below it.
fn within(path: &str, folder: &str) -> bool {
    folder == "/"
        || path == folder
        || path
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl SecretScope {
    pub fn environment(&self, environment: &str) -> bool {
        self.environments
            .as_ref()
            .is_none_or(|list| list.iter().any(|e| e == environment))
    }

    /// The folder at `path` of `environment` is inside the scope: its secrets may be read (and,
    /// with the role, written), and so may its folders.
    pub fn covers(&self, environment: &str, path: &str) -> bool {
        self.environment(environment) && within(path, &self.secret_path)
    }

    /// The folder at `path` is on the way to the scope's folder (`/orders` for a scope at
    /// `/orders/api`): a narrowed caller may list it to find its way, and sees only the folders
    /// that lead into the scope.
    pub fn leads_to(&self, environment: &str, path: &str) -> bool {
        self.environment(environment) && within(&self.secret_path, path)
    }

    /// "environments prod, staging at /orders", for problems.
    pub fn describe(&self) -> String {
        let environments = match &self.environments {
            None => "every environment".to_owned(),
            Some(list) if list.len() == 1 => format!("environment {}", list[0]),
            Some(list) => format!("environments {}", list.join(", ")),
        };
        format!("{environments} at {}", self.secret_path)
    }
}

/// What a caller holds in a project: a role, and the scope it is narrowed to (if any).
#[derive(Clone, Debug)]
pub struct ProjectAccess {
    pub role: Role,
    pub scope: Option<SecretScope>,
}

impl ProjectAccess {
    /// The folder at `path` of `environment` is one the caller reaches.
    pub fn covers(&self, environment: &str, path: &str) -> bool {
        self.scope
            .as_ref()
            .is_none_or(|s| s.covers(environment, path))
    }

    pub fn environment(&self, environment: &str) -> bool {
        self.scope
            .as_ref()
            .is_none_or(|s| s.environment(environment))
    }

    /// The folder at `path` may be listed (it is inside the scope or leads to it).
    pub fn may_list(&self, environment: &str, path: &str) -> bool {
        self.scope
            .as_ref()
            .is_none_or(|s| s.covers(environment, path) || s.leads_to(environment, path))
    }

    /// 403 for a folder outside the scope (checked before any lookup, so it leaks nothing).
    pub fn require_covers(&self, environment: &str, path: &str) -> Result<(), ApiError> {
        match &self.scope {
            Some(scope) if !scope.covers(environment, path) => Err(outside(scope)),
            _ => Ok(()),
        }
    }

    /// 403 for a folder that is neither inside the scope nor on the way to it.
    pub fn require_may_list(&self, environment: &str, path: &str) -> Result<(), ApiError> {
        match &self.scope {
            Some(scope) if !self.may_list(environment, path) => Err(outside(scope)),
            _ => Ok(()),
        }
    }
}

pub fn outside(scope: &SecretScope) -> ApiError {
    ApiError::Forbidden {
        detail: format!(
            "your membership of this project is narrowed to {}; this is outside it",
            scope.describe()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(environments: Option<&[&str]>, path: &str) -> SecretScope {
        SecretScope {
            environments: environments.map(|l| l.iter().map(|e| (*e).to_owned()).collect()),
            secret_path: path.to_owned(),
        }
    }

    #[test]
    fn a_scope_covers_its_folder_and_below_only() {
        let orders = scope(Some(&["prod"]), "/orders");
        assert!(orders.covers("prod", "/orders"));
        assert!(orders.covers("prod", "/orders/api"));
        assert!(!orders.covers("prod", "/"));
        assert!(!orders.covers("prod", "/orders-archive"));
        assert!(!orders.covers("prod", "/ordersx/api"));
        assert!(!orders.covers("dev", "/orders"));
        assert!(orders.leads_to("prod", "/"));
        assert!(orders.leads_to("prod", "/orders"));
        assert!(!orders.leads_to("prod", "/billing"));
        assert!(!orders.leads_to("dev", "/"));
        let everywhere = scope(None, "/");
        assert!(everywhere.covers("anything", "/a/b"));
        assert_eq!(orders.describe(), "environment prod at /orders");
        assert_eq!(
            scope(Some(&["dev", "prod"]), "/").describe(),
            "environments dev, prod at /"
        );
    }
}
