//! Seed types: the tenants, clients, grants, APIs, connections and users an emulator starts with.
//!
//! These are the input format (JSON or TOML files, the `/__emulator/tenants` admin endpoint and
//! the Rust API share them); the live state built from them lives in `state`/`model`. Everything
//! but a tenant's `domain` and a client's `client_id` has a default, so small seeds stay small.
//! Types that carry a secret have a hand-written `Debug` that redacts it.

use std::fmt;
use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;

/// Everything an emulator starts with.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub tenants: Vec<TenantSeed>,
}

impl Seed {
    /// Reads a seed file, JSON or TOML by its extension (`.json`, `.toml`).
    pub fn from_file(path: &Path) -> anyhow::Result<Seed> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading seed file {}", path.display()))?;
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => serde_json::from_str(&text)
                .with_context(|| format!("parsing JSON seed {}", path.display())),
            Some(ext) if ext.eq_ignore_ascii_case("toml") => toml::from_str(&text)
                .with_context(|| format!("parsing TOML seed {}", path.display())),
            _ => anyhow::bail!("seed file {} must end in .json or .toml", path.display()),
        }
    }
}

/// Token-bucket settings: `burst` requests at once, refilled at `per_second`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSeed {
    pub burst: u32,
    pub per_second: f64,
}

impl RateLimitSeed {
    /// Auth0's free plan Management API limit (2 burst, 2/s), for tests that study limits.
    pub fn free_plan_management() -> RateLimitSeed {
        RateLimitSeed {
            burst: 2,
            per_second: 2.0,
        }
    }
}

/// One Auth0 tenant, reached by its `domain` in the `Host` header.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSeed {
    pub domain: String,
    /// `expires_in` of issued tokens; Auth0's Management API default is 24 h.
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_secs: u64,
    /// How long a new secret (rotate-secret or PATCH) is refused after the change; the old one
    /// is refused at once. Auth0 documents up to ~30 s.
    #[serde(default)]
    pub secret_propagation_delay_ms: u64,
    /// Management API bucket; `None` = unlimited (headers are still sent).
    #[serde(default)]
    pub rate_limit: Option<RateLimitSeed>,
    /// `/oauth/token` bucket, separate from the Management API's as in Auth0.
    #[serde(default)]
    pub token_rate_limit: Option<RateLimitSeed>,
    #[serde(default)]
    pub clients: Vec<ClientSeed>,
    #[serde(default)]
    pub grants: Vec<GrantSeed>,
    #[serde(default)]
    pub resource_servers: Vec<ResourceServerSeed>,
    /// Database and other connections; empty = Auth0's default `Username-Password-Authentication`.
    #[serde(default)]
    pub connections: Vec<ConnectionSeed>,
    #[serde(default)]
    pub users: Vec<UserSeed>,
    /// PKCS#8 PEM RSA private key for signing; `None` = one from the process-wide key pool.
    #[serde(default)]
    pub signing_key_pem: Option<String>,
}

fn default_token_lifetime() -> u64 {
    86_400
}

impl TenantSeed {
    /// An empty tenant with Auth0's defaults.
    pub fn new(domain: &str) -> TenantSeed {
        TenantSeed {
            domain: domain.to_owned(),
            token_lifetime_secs: default_token_lifetime(),
            secret_propagation_delay_ms: 0,
            rate_limit: None,
            token_rate_limit: None,
            clients: Vec::new(),
            grants: Vec::new(),
            resource_servers: Vec::new(),
            connections: Vec::new(),
            users: Vec::new(),
            signing_key_pem: None,
        }
    }

    /// One M2M (non_interactive, first-party, confidential) client with a client grant for the
    /// tenant's Management API audience `https://{domain}/api/v2/` carrying `scopes`.
    pub fn with_m2m(
        domain: &str,
        client_id: &str,
        client_secret: &str,
        scopes: &[&str],
    ) -> TenantSeed {
        let mut tenant = TenantSeed::new(domain);
        tenant
            .clients
            .push(ClientSeed::m2m(client_id, client_secret));
        tenant.grants.push(GrantSeed {
            client_id: client_id.to_owned(),
            audience: tenant.management_audience(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        });
        tenant
    }

    /// `https://{domain}/api/v2/`, the identifier of the tenant's Management API.
    pub fn management_audience(&self) -> String {
        format!("https://{}/api/v2/", self.domain)
    }
}

/// An application (Auth0 "client").
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSeed {
    pub client_id: String,
    /// Empty = generate one like Auth0 does.
    #[serde(default)]
    pub client_secret: String,
    #[serde(default)]
    pub name: String,
    /// `non_interactive` (M2M), `regular_web`, `spa`, `native`, `resource_server`, ...
    #[serde(default = "default_app_type")]
    pub app_type: String,
    #[serde(default = "default_true")]
    pub is_first_party: bool,
    /// Empty = Auth0's default for the `app_type`.
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub description: String,
    /// `client_secret_post` (Auth0's default for M2M), `client_secret_basic` or `none`.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// Only for `app_type: resource_server`: the API the client represents.
    #[serde(default)]
    pub resource_server_identifier: Option<String>,
}

fn default_app_type() -> String {
    "non_interactive".to_owned()
}

fn default_true() -> bool {
    true
}

impl Default for ClientSeed {
    fn default() -> Self {
        ClientSeed {
            client_id: String::new(),
            client_secret: String::new(),
            name: String::new(),
            app_type: default_app_type(),
            is_first_party: true,
            grant_types: Vec::new(),
            description: String::new(),
            token_endpoint_auth_method: None,
            resource_server_identifier: None,
        }
    }
}

impl ClientSeed {
    /// A first-party, confidential machine-to-machine application.
    pub fn m2m(client_id: &str, client_secret: &str) -> ClientSeed {
        ClientSeed {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            name: format!("M2M {client_id}"),
            grant_types: vec!["client_credentials".to_owned()],
            ..ClientSeed::default()
        }
    }
}

impl fmt::Debug for ClientSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSeed")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("name", &self.name)
            .field("app_type", &self.app_type)
            .field("is_first_party", &self.is_first_party)
            .field("grant_types", &self.grant_types)
            .finish_non_exhaustive()
    }
}

/// A client grant: `client_id` may request tokens for `audience` with up to `scopes`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GrantSeed {
    pub client_id: String,
    pub audience: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// An API (Auth0 "resource server") other than the built-in Management API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceServerSeed {
    pub identifier: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<ScopeSeed>,
    /// Lifetime of tokens for this API; `None` = the tenant's `token_lifetime_secs`.
    #[serde(default)]
    pub token_lifetime: Option<u64>,
}

/// A scope of an API: `"read:things"` or `{ value = "read:things", description = "..." }`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ScopeSeed {
    Value(String),
    Full {
        value: String,
        #[serde(default)]
        description: String,
    },
}

impl ScopeSeed {
    pub fn value(&self) -> &str {
        match self {
            ScopeSeed::Value(value) | ScopeSeed::Full { value, .. } => value,
        }
    }

    pub fn description(&self) -> &str {
        match self {
            ScopeSeed::Value(_) => "",
            ScopeSeed::Full { description, .. } => description,
        }
    }
}

/// A connection (identity provider). Only `strategy = "auth0"` (database) accepts new users.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSeed {
    pub name: String,
    #[serde(default = "default_strategy")]
    pub strategy: String,
}

fn default_strategy() -> String {
    "auth0".to_owned()
}

/// A user in a database connection.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSeed {
    /// Full id (`auth0|...`); empty = generated.
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    /// Empty = `Username-Password-Authentication`.
    #[serde(default)]
    pub connection: String,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub blocked: bool,
    #[serde(default)]
    pub app_metadata: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub user_metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl fmt::Debug for UserSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSeed")
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let mut tenant =
            TenantSeed::with_m2m("a.test", "cid", "canary-secret-123", &["read:clients"]);
        tenant.users.push(UserSeed {
            email: "u@a.test".into(),
            password: "canary-password-456".into(),
            ..UserSeed::default()
        });
        let printed = format!(
            "{:?}",
            Seed {
                tenants: vec![tenant]
            }
        );
        assert!(!printed.contains("canary-secret-123"), "{printed}");
        assert!(!printed.contains("canary-password-456"), "{printed}");
        assert!(printed.contains("cid"));
    }

    #[test]
    fn json_and_toml_seeds_parse_with_defaults() {
        let json = r#"{"tenants":[{"domain":"a.test","clients":[{"client_id":"c1","client_secret":"s"}],
            "grants":[{"client_id":"c1","audience":"https://a.test/api/v2/","scopes":["read:clients"]}],
            "resource_servers":[{"identifier":"https://api","scopes":["read:x",{"value":"write:x","description":"w"}]}]}]}"#;
        let seed: Seed = serde_json::from_str(json).unwrap();
        let t = &seed.tenants[0];
        assert_eq!(t.token_lifetime_secs, 86_400);
        assert_eq!(t.clients[0].app_type, "non_interactive");
        assert!(t.clients[0].is_first_party);
        assert_eq!(t.resource_servers[0].scopes[1].value(), "write:x");

        let toml_text = r#"
            [[tenants]]
            domain = "b.test"
            token_lifetime_secs = 60
            rate_limit = { burst = 5, per_second = 1.5 }
            [[tenants.clients]]
            client_id = "c2"
            client_secret = "s2"
        "#;
        let seed: Seed = toml::from_str(toml_text).unwrap();
        assert_eq!(seed.tenants[0].token_lifetime_secs, 60);
        assert_eq!(
            seed.tenants[0].rate_limit,
            Some(RateLimitSeed {
                burst: 5,
                per_second: 1.5
            })
        );
    }

    #[test]
    fn from_file_rejects_unknown_extension() {
        let dir = std::env::temp_dir().join(format!("emu-seed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("seed.yaml");
        std::fs::write(&path, "tenants: []").unwrap();
        assert!(Seed::from_file(&path).is_err());
        let path = dir.join("seed.json");
        std::fs::write(&path, r#"{"tenants":[{"domain":"x.test"}]}"#).unwrap();
        assert_eq!(Seed::from_file(&path).unwrap().tenants[0].domain, "x.test");
    }
}
