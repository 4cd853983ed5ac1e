//! The in-memory state of all tenants and how a seed becomes a live tenant.
//!
//! Locking: the tenant map is read-mostly behind an `RwLock`; each tenant keeps its records
//! behind its own `RwLock`, counters in atomics, limiters and faults behind short mutexes. No
//! guard is ever held across an `.await` (handlers copy what they need out, then sign or
//! answer), so many clients can hammer one tenant without a global lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use anyhow::Context as _;

use crate::counters::CounterSet;
use crate::faults::FaultSet;
use crate::keys::{self, SigningKey};
use crate::model::{Client, Connection, Grant, ResourceServer, User};
use crate::ratelimit::Limiter;
use crate::secrets;
use crate::seed::{ClientSeed, GrantSeed, ResourceServerSeed, TenantSeed, UserSeed};

/// Auth0's default database connection, present when a seed lists none.
pub(crate) const DEFAULT_CONNECTION: &str = "Username-Password-Authentication";

/// Every tenant of one emulator.
#[derive(Default)]
pub(crate) struct EmulatorState {
    tenants: RwLock<HashMap<String, Arc<Tenant>>>,
    /// Which pool key the next tenant gets (the N-th tenant of every emulator shares key N).
    next_key: AtomicUsize,
}

impl EmulatorState {
    pub(crate) fn tenant(&self, domain: &str) -> Option<Arc<Tenant>> {
        let tenants = self
            .tenants
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tenants.get(domain).cloned()
    }

    pub(crate) fn domains(&self) -> Vec<String> {
        let tenants = self
            .tenants
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut domains: Vec<String> = tenants.keys().cloned().collect();
        domains.sort();
        domains
    }

    pub(crate) fn add_tenant(&self, seed: TenantSeed) -> anyhow::Result<()> {
        let domain = normalize_domain(&seed.domain)?;
        if self.tenant(&domain).is_some() {
            anyhow::bail!("tenant {domain} already exists");
        }
        let key = match &seed.signing_key_pem {
            Some(pem) => Arc::new(SigningKey::from_pem(pem)?),
            None => keys::pooled_key(self.next_key.fetch_add(1, Ordering::Relaxed))?,
        };
        let tenant = Arc::new(Tenant::from_seed(domain.clone(), key, seed)?);
        let mut tenants = self
            .tenants
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Checked again under the write lock: two concurrent adds of one domain must not both win.
        if tenants.contains_key(&domain) {
            anyhow::bail!("tenant {domain} already exists");
        }
        tenants.insert(domain, tenant);
        Ok(())
    }
}

/// Lower-cases and checks a tenant domain (a host name, no scheme, port or path).
pub(crate) fn normalize_domain(domain: &str) -> anyhow::Result<String> {
    let domain = domain.trim().to_ascii_lowercase();
    let valid = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    anyhow::ensure!(valid, "tenant domain {domain:?} is not a host name");
    Ok(domain)
}

/// One Auth0 tenant.
pub(crate) struct Tenant {
    /// The first label of the domain, which Auth0 reports as a client's `tenant`.
    pub name: String,
    pub issuer: String,
    pub management_audience: String,
    pub key: Arc<SigningKey>,
    pub propagation_delay: Duration,
    pub counters: CounterSet,
    pub management_limiter: Limiter,
    pub token_limiter: Limiter,
    pub faults: FaultSet,
    pub verified_tokens: crate::mgmt::auth::VerifiedTokens,
    /// Client assertion `jti`s already used (Auth0 refuses a replay).
    pub seen_assertions: crate::assertion::SeenAssertions,
    data: RwLock<TenantData>,
}

impl Tenant {
    fn from_seed(domain: String, key: Arc<SigningKey>, seed: TenantSeed) -> anyhow::Result<Tenant> {
        let management_audience = format!("https://{domain}/api/v2/");
        let mut data = TenantData::default();
        data.resource_servers.push(ResourceServer {
            id: secrets::new_hex_id(),
            name: "Auth0 Management API".to_owned(),
            identifier: management_audience.clone(),
            scopes: Vec::new(),
            token_lifetime: seed.token_lifetime_secs,
            is_system: true,
            signing_alg: "RS256".to_owned(),
            allow_offline_access: false,
            skip_consent_for_verifiable_first_party_clients: false,
        });
        data.insert_client(Client::global())
            .map_err(|e| anyhow::anyhow!(e))?;
        if seed.connections.is_empty() {
            data.connections
                .push(new_connection(DEFAULT_CONNECTION, "auth0"));
        }
        for connection in &seed.connections {
            anyhow::ensure!(
                data.connection(&connection.name).is_none(),
                "duplicate connection {}",
                connection.name
            );
            data.connections
                .push(new_connection(&connection.name, &connection.strategy));
        }
        for rs in &seed.resource_servers {
            data.insert_resource_server(resource_server_from_seed(rs, seed.token_lifetime_secs))
                .map_err(|e| anyhow::anyhow!(e))?;
        }
        for client in &seed.clients {
            data.insert_client(client_from_seed(client)?)
                .map_err(|e| anyhow::anyhow!(e))?;
        }
        for grant in &seed.grants {
            let mut grant = grant.clone();
            // `with_m2m("Acme.Test", ..)` spells the audience as given; Auth0 domains are lower case.
            if grant.audience.eq_ignore_ascii_case(&management_audience) {
                grant.audience.clone_from(&management_audience);
            }
            let grant = &grant;
            data.insert_grant(grant)
                .with_context(|| format!("grant for {}", grant.client_id))?;
        }
        for user in &seed.users {
            data.insert_seed_user(user)?;
        }
        Ok(Tenant {
            name: domain.split('.').next().unwrap_or_default().to_owned(),
            issuer: format!("https://{domain}/"),
            management_audience,
            key,
            propagation_delay: Duration::from_millis(seed.secret_propagation_delay_ms),
            counters: CounterSet::default(),
            management_limiter: Limiter::new(seed.rate_limit)?,
            token_limiter: Limiter::new(seed.token_rate_limit)?,
            faults: FaultSet::default(),
            verified_tokens: crate::mgmt::auth::VerifiedTokens::default(),
            seen_assertions: crate::assertion::SeenAssertions::default(),
            data: RwLock::new(data),
        })
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, TenantData> {
        self.data
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, TenantData> {
        self.data
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn new_connection(name: &str, strategy: &str) -> Connection {
    Connection {
        name: name.to_owned(),
        strategy: strategy.to_owned(),
    }
}

pub(crate) fn client_from_seed(seed: &ClientSeed) -> anyhow::Result<Client> {
    anyhow::ensure!(!seed.client_id.is_empty(), "a client needs a client_id");
    let app_type = (!seed.app_type.is_empty()).then(|| seed.app_type.clone());
    let secret = if seed.client_secret.is_empty() {
        secrets::new_client_secret()
    } else {
        seed.client_secret.clone()
    };
    let name = if seed.name.is_empty() {
        seed.client_id.clone()
    } else {
        seed.name.clone()
    };
    let mut client = Client::new(seed.client_id.clone(), secret, name, app_type);
    client.description = seed.description.clone();
    client.is_first_party = seed.is_first_party;
    if let Some(method) = &seed.token_endpoint_auth_method {
        client.token_endpoint_auth_method = method.clone();
    }
    if !seed.grant_types.is_empty() {
        client.grant_types = seed.grant_types.clone();
    }
    client.resource_server_identifier = seed.resource_server_identifier.clone();
    Ok(client)
}

fn resource_server_from_seed(seed: &ResourceServerSeed, default_lifetime: u64) -> ResourceServer {
    ResourceServer {
        id: secrets::new_hex_id(),
        name: if seed.name.is_empty() {
            seed.identifier.clone()
        } else {
            seed.name.clone()
        },
        identifier: seed.identifier.clone(),
        scopes: seed
            .scopes
            .iter()
            .map(|s| (s.value().to_owned(), s.description().to_owned()))
            .collect(),
        token_lifetime: seed.token_lifetime.unwrap_or(default_lifetime),
        is_system: false,
        signing_alg: "RS256".to_owned(),
        allow_offline_access: false,
        skip_consent_for_verifiable_first_party_clients: true,
    }
}

/// A tenant's records. Clients and users keep insertion order (Auth0 lists in creation order).
#[derive(Default)]
pub(crate) struct TenantData {
    clients: Vec<Client>,
    client_index: HashMap<String, usize>,
    pub grants: Vec<Grant>,
    pub resource_servers: Vec<ResourceServer>,
    pub connections: Vec<Connection>,
    users: Vec<User>,
    user_index: HashMap<String, usize>,
}

impl TenantData {
    pub(crate) fn clients(&self) -> &[Client] {
        &self.clients
    }

    pub(crate) fn client(&self, client_id: &str) -> Option<&Client> {
        self.client_index
            .get(client_id)
            .and_then(|i| self.clients.get(*i))
    }

    pub(crate) fn client_mut(&mut self, client_id: &str) -> Option<&mut Client> {
        let index = *self.client_index.get(client_id)?;
        self.clients.get_mut(index)
    }

    pub(crate) fn insert_client(&mut self, client: Client) -> Result<(), String> {
        if self.client_index.contains_key(&client.client_id) {
            return Err(format!("client {} already exists", client.client_id));
        }
        self.client_index
            .insert(client.client_id.clone(), self.clients.len());
        self.clients.push(client);
        Ok(())
    }

    pub(crate) fn resource_server(&self, identifier: &str) -> Option<&ResourceServer> {
        self.resource_servers
            .iter()
            .find(|rs| rs.identifier == identifier)
    }

    pub(crate) fn insert_resource_server(&mut self, rs: ResourceServer) -> Result<(), String> {
        if self.resource_server(&rs.identifier).is_some() {
            return Err(format!("resource server {} already exists", rs.identifier));
        }
        self.resource_servers.push(rs);
        Ok(())
    }

    pub(crate) fn grant(&self, client_id: &str, audience: &str) -> Option<&Grant> {
        self.grants
            .iter()
            .find(|g| g.client_id == client_id && g.audience == audience)
    }

    pub(crate) fn insert_grant(&mut self, seed: &GrantSeed) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.client(&seed.client_id).is_some(),
            "unknown client {}",
            seed.client_id
        );
        anyhow::ensure!(
            self.resource_server(&seed.audience).is_some(),
            "unknown audience {} (add it to resource_servers)",
            seed.audience
        );
        anyhow::ensure!(
            self.grant(&seed.client_id, &seed.audience).is_none(),
            "duplicate grant for {} and {}",
            seed.client_id,
            seed.audience
        );
        self.grants.push(Grant {
            id: format!("cgr_{}", &secrets::new_client_id()[..16]),
            client_id: seed.client_id.clone(),
            audience: seed.audience.clone(),
            scope: seed.scopes.clone(),
        });
        Ok(())
    }

    pub(crate) fn connection(&self, name: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.name == name)
    }

    pub(crate) fn user(&self, user_id: &str) -> Option<&User> {
        self.user_index
            .get(user_id)
            .and_then(|i| self.users.get(*i))
    }

    pub(crate) fn user_mut(&mut self, user_id: &str) -> Option<&mut User> {
        let index = *self.user_index.get(user_id)?;
        self.users.get_mut(index)
    }

    /// Whether a user with this email (case-insensitive) exists in the connection.
    pub(crate) fn email_taken(&self, connection: &str, email: &str, except: Option<&str>) -> bool {
        self.users.iter().any(|u| {
            u.connection == connection
                && Some(u.user_id.as_str()) != except
                && u.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
        })
    }

    pub(crate) fn insert_user(&mut self, user: User) -> Result<(), String> {
        if self.user_index.contains_key(&user.user_id) {
            return Err(format!("user {} already exists", user.user_id));
        }
        self.user_index
            .insert(user.user_id.clone(), self.users.len());
        self.users.push(user);
        Ok(())
    }

    fn insert_seed_user(&mut self, seed: &UserSeed) -> anyhow::Result<()> {
        let connection = if seed.connection.is_empty() {
            DEFAULT_CONNECTION
        } else {
            &seed.connection
        };
        anyhow::ensure!(
            self.connection(connection).is_some(),
            "unknown connection {connection}"
        );
        anyhow::ensure!(
            seed.email.is_empty() || !self.email_taken(connection, &seed.email, None),
            "duplicate user {}",
            seed.email
        );
        let user_id = if seed.user_id.is_empty() {
            format!("auth0|{}", secrets::new_hex_id())
        } else {
            seed.user_id.clone()
        };
        let name = seed.name.clone().unwrap_or_else(|| seed.email.clone());
        let now = crate::model::now_timestamp();
        let user = User {
            user_id,
            connection: connection.to_owned(),
            email: (!seed.email.is_empty()).then(|| seed.email.clone()),
            email_verified: seed.email_verified,
            username: None,
            phone_number: None,
            password: (!seed.password.is_empty()).then(|| seed.password.clone()),
            nickname: seed.email.split('@').next().unwrap_or_default().to_owned(),
            picture: crate::model::default_picture(&name),
            name,
            given_name: None,
            family_name: None,
            blocked: seed.blocked,
            app_metadata: seed.app_metadata.clone().unwrap_or_default(),
            user_metadata: seed.user_metadata.clone().unwrap_or_default(),
            created_at: now.clone(),
            updated_at: now,
        };
        self.insert_user(user).map_err(|e| anyhow::anyhow!(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_builds_tenant_with_global_client_and_management_api() {
        let state = EmulatorState::default();
        state
            .add_tenant(TenantSeed::with_m2m(
                "Acme.Auth0.Test",
                "cid",
                "s",
                &["read:clients"],
            ))
            .unwrap();
        let tenant = state.tenant("acme.auth0.test").unwrap();
        assert_eq!(tenant.name, "acme");
        let data = tenant.read();
        assert_eq!(data.clients().len(), 2);
        assert!(data.clients()[0].global);
        assert_eq!(data.clients()[0].name, "All Applications");
        assert!(
            data.resource_server("https://acme.auth0.test/api/v2/")
                .is_some()
        );
        assert_eq!(
            data.grant("cid", &tenant.management_audience)
                .unwrap()
                .scope,
            ["read:clients"]
        );
        assert!(data.connection(DEFAULT_CONNECTION).is_some());
    }

    #[test]
    fn bad_seeds_are_refused() {
        let state = EmulatorState::default();
        state.add_tenant(TenantSeed::new("a.test")).unwrap();
        assert!(
            state.add_tenant(TenantSeed::new("a.test")).is_err(),
            "duplicate domain"
        );
        assert!(
            state.add_tenant(TenantSeed::new("http://b.test/")).is_err(),
            "not a host"
        );

        let mut seed = TenantSeed::new("c.test");
        seed.grants.push(GrantSeed {
            client_id: "nobody".into(),
            audience: seed.management_audience(),
            scopes: vec![],
        });
        assert!(state.add_tenant(seed).is_err(), "grant for unknown client");

        let mut seed = TenantSeed::with_m2m("d.test", "cid", "s", &[]);
        seed.grants[0].audience = "https://unknown-api".into();
        assert!(state.add_tenant(seed).is_err(), "grant for unknown API");
        assert_eq!(state.domains(), ["a.test"]);
    }
}
