//! What each thing Keyhold can do through a connection needs from Auth0's Management API — the
//! one capability → scopes table — and the scope diagnostics built from it: which capabilities a
//! token's scopes make usable, which scopes each one is missing, and which granted scopes no
//! enabled capability needs (least privilege).
//!
//! Auth0 accepts a Management API request when the token holds *any one* of the endpoint's
//! scopes, so a capability is a list of needs, each satisfied by any of its scopes. Alternatives
//! are listed narrowest first: the first is what we recommend granting, and when several are
//! granted the narrowest is the one counted as used. Scope names follow Auth0's Management API
//! reference (reference/auth0-and-peers.md, section 2). Pure data and functions; no IO.

use serde::Serialize;

/// One Management API endpoint's requirement: any of these scopes.
pub struct Need(pub &'static [&'static str]);

pub struct Capability {
    /// Stable identifier used in requests and responses.
    pub key: &'static str,
    pub description: &'static str,
    pub needs: &'static [Need],
}

const READ_CLIENTS_ANY: Need = Need(&[
    "read:client_summary",
    "read:clients",
    "read:client_credentials",
    "read:client_keys",
]);
/// Client settings (grant types, first-party, OIDC) are hidden from `read:client_summary`.
const READ_CLIENT_SETTINGS: Need = Need(&["read:clients", "read:client_keys"]);
const UPDATE_CLIENTS: Need = Need(&["update:clients", "update:client_keys"]);

/// The table. Keep every scope Keyhold relies on here, nowhere else.
pub const CAPABILITIES: &[Capability] = &[
    Capability {
        key: "validate",
        description: "check the credentials with a client-credentials token request",
        needs: &[],
    },
    Capability {
        key: "listClients",
        description: "list the tenant's applications (GET /api/v2/clients)",
        needs: &[READ_CLIENTS_ANY],
    },
    Capability {
        key: "rotateClientSecrets",
        description: "rotate applications' client secrets (GET and PATCH /api/v2/clients/{id})",
        needs: &[READ_CLIENTS_ANY, Need(&["update:client_keys"])],
    },
    Capability {
        key: "readUsers",
        description: "read users (GET /api/v2/users/{id})",
        needs: &[Need(&["read:users", "read:user_idp_tokens"])],
    },
    Capability {
        key: "createUsers",
        description: "create users (POST /api/v2/users)",
        needs: &[Need(&["create:users"])],
    },
    Capability {
        key: "updateUsers",
        description: "update users (PATCH /api/v2/users/{id})",
        needs: &[Need(&["update:users"])],
    },
    Capability {
        key: "tokenVault",
        description: "set up Token Vault's refresh and access token exchanges (client grant types, resource servers, Custom API Clients)",
        needs: &[
            READ_CLIENT_SETTINGS,
            UPDATE_CLIENTS,
            Need(&["create:resource_servers"]),
            Need(&["create:clients"]),
        ],
    },
];

pub fn find(key: &str) -> Option<&'static Capability> {
    CAPABILITIES.iter().find(|c| c.key == key)
}

impl Capability {
    /// The scope we recommend for each of its needs (the narrowest of each).
    pub fn recommended_scopes(&self) -> Vec<&'static str> {
        self.needs
            .iter()
            .filter_map(|Need(any_of)| any_of.first().copied())
            .collect()
    }
}

/// The table as the API offers it before any connection exists (what to grant for what):
/// `[{ capability, description, requiredScopes }]`.
pub fn catalogue() -> serde_json::Value {
    CAPABILITIES
        .iter()
        .map(|c| {
            serde_json::json!({
                "capability": c.key,
                "description": c.description,
                "requiredScopes": c.recommended_scopes(),
            })
        })
        .collect::<Vec<_>>()
        .into()
}

/// What one capability can do with the granted scopes.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityReport {
    pub capability: &'static str,
    pub description: &'static str,
    pub usable: bool,
    /// The scope we recommend for each of its needs.
    pub required_scopes: Vec<&'static str>,
    /// The recommended scope of each need no granted scope satisfies.
    pub missing_scopes: Vec<&'static str>,
}

/// The scope diagnostics of one token.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostics {
    pub granted_scopes: Vec<String>,
    pub capabilities: Vec<CapabilityReport>,
    /// Granted scopes no enabled capability uses: candidates to revoke.
    pub excess_scopes: Vec<String>,
}

impl Diagnostics {
    /// `{ capability: [missing scopes] }`, what a connection keeps of its last check.
    pub fn missing_by_capability(&self) -> serde_json::Value {
        self.capabilities
            .iter()
            .map(|c| (c.capability.to_owned(), serde_json::json!(c.missing_scopes)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// The capabilities `now` finds unusable that were usable at the `previous` check (a stored
/// [`Diagnostics::missing_by_capability`]): what `app-connection.scopes-missing` reports. One
/// never checked before, or never usable, has lost nothing.
pub fn lost_since<'a>(
    previous: Option<&serde_json::Value>,
    now: &'a Diagnostics,
) -> Vec<&'a CapabilityReport> {
    let was_usable = |key: &str| {
        previous
            .and_then(|p| p.get(key))
            .and_then(serde_json::Value::as_array)
            .is_some_and(Vec::is_empty)
    };
    now.capabilities
        .iter()
        .filter(|c| !c.usable && was_usable(c.capability))
        .collect()
}

/// Diagnoses `granted` for the `enabled` capabilities (all of them when `None`).
pub fn diagnose(granted: &[String], enabled: Option<&[&'static Capability]>) -> Diagnostics {
    let enabled: Vec<&Capability> = match enabled {
        Some(list) => list.to_vec(),
        None => CAPABILITIES.iter().collect(),
    };
    let has = |scope: &str| granted.iter().any(|g| g == scope);
    let mut used: Vec<&str> = Vec::new();
    let capabilities = enabled
        .iter()
        .map(|capability| {
            let mut missing = Vec::new();
            for Need(any_of) in capability.needs {
                match any_of.iter().find(|s| has(s)) {
                    Some(scope) => used.push(scope),
                    None => missing.extend(any_of.first()),
                }
            }
            CapabilityReport {
                capability: capability.key,
                description: capability.description,
                usable: missing.is_empty(),
                required_scopes: capability.recommended_scopes(),
                missing_scopes: missing,
            }
        })
        .collect();
    let mut granted_scopes = granted.to_vec();
    granted_scopes.sort();
    granted_scopes.dedup();
    let excess_scopes = granted_scopes
        .iter()
        .filter(|g| !used.contains(&g.as_str()))
        .cloned()
        .collect();
    Diagnostics {
        granted_scopes,
        capabilities,
        excess_scopes,
    }
}

/// Parses a comma-separated list of capability keys; `Err` says how many are unknown.
pub fn parse_list(raw: &str) -> Result<Vec<&'static Capability>, String> {
    let mut found = Vec::new();
    let mut unknown = 0;
    for key in raw.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        match find(key) {
            Some(capability) if !found.iter().any(|c: &&Capability| c.key == key) => {
                found.push(capability);
            }
            Some(_) => {}
            None => unknown += 1,
        }
    }
    if unknown > 0 {
        let known: Vec<&str> = CAPABILITIES.iter().map(|c| c.key).collect();
        // The unknown names are not repeated: an error body never echoes what was sent.
        return Err(format!(
            "{unknown} of the names is not a capability; known: {}",
            known.join(", ")
        ));
    }
    if found.is_empty() {
        return Err("name at least one capability".to_owned());
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn report<'a>(d: &'a Diagnostics, key: &str) -> &'a CapabilityReport {
        d.capabilities
            .iter()
            .find(|c| c.capability == key)
            .expect("capability reported")
    }

    #[test]
    fn every_scope_keyhold_relies_on_is_in_the_table() {
        let all: Vec<&str> = CAPABILITIES
            .iter()
            .flat_map(|c| c.needs.iter().flat_map(|Need(any)| any.iter().copied()))
            .collect();
        for scope in [
            "read:clients",
            "update:client_keys",
            "read:users",
            "create:users",
            "update:users",
            "update:clients",
            "create:resource_servers",
            "create:clients",
        ] {
            assert!(all.contains(&scope), "{scope}");
        }
        let mut keys: Vec<&str> = CAPABILITIES.iter().map(|c| c.key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), CAPABILITIES.len(), "keys are unique");
    }

    #[test]
    fn rotation_scopes_make_rotation_and_listing_usable_only() {
        let d = diagnose(&scopes(&["read:clients", "update:client_keys"]), None);
        assert!(report(&d, "validate").usable);
        assert!(report(&d, "listClients").usable);
        assert!(report(&d, "rotateClientSecrets").usable);
        let users = report(&d, "readUsers");
        assert!(!users.usable);
        assert_eq!(users.missing_scopes, vec!["read:users"]);
        let vault = report(&d, "tokenVault");
        assert!(!vault.usable);
        // Auth0 lets update:client_keys PATCH a client's grant types too.
        assert_eq!(
            vault.missing_scopes,
            vec!["create:resource_servers", "create:clients"]
        );
        assert!(d.excess_scopes.is_empty(), "{:?}", d.excess_scopes);
    }

    #[test]
    fn scopes_no_enabled_capability_uses_are_excess() {
        let granted = scopes(&[
            "read:users",
            "delete:users",
            "read:clients",
            "read:client_keys",
        ]);
        let enabled = parse_list("readUsers,listClients").expect("known");
        let d = diagnose(&granted, Some(&enabled));
        assert_eq!(d.capabilities.len(), 2);
        assert!(d.capabilities.iter().all(|c| c.usable));
        // read:clients serves the listing; read:client_keys (which reveals secrets) is not needed.
        assert_eq!(d.excess_scopes, vec!["delete:users", "read:client_keys"]);
        assert_eq!(
            d.granted_scopes,
            vec![
                "delete:users",
                "read:client_keys",
                "read:clients",
                "read:users"
            ]
        );
    }

    #[test]
    fn the_narrowest_granted_alternative_counts_as_used() {
        let granted = scopes(&["read:client_keys", "read:client_summary"]);
        let d = diagnose(&granted, Some(&[find("listClients").expect("known")]));
        assert_eq!(d.excess_scopes, vec!["read:client_keys"]);
        let d = diagnose(&granted, None);
        // Token Vault needs settings, which read:client_summary does not show.
        assert_eq!(d.excess_scopes, Vec::<String>::new());
    }

    #[test]
    fn only_capabilities_usable_before_and_not_now_are_lost() {
        let before = diagnose(&scopes(&["read:clients", "update:client_keys"]), None);
        let stored = before.missing_by_capability();
        let after = diagnose(&scopes(&["read:clients"]), None);
        let lost: Vec<&str> = lost_since(Some(&stored), &after)
            .iter()
            .map(|c| c.capability)
            .collect();
        // readUsers and tokenVault were never usable: not lost.
        assert_eq!(lost, vec!["rotateClientSecrets"]);
        assert!(lost_since(None, &after).is_empty(), "no previous check");
        assert!(lost_since(Some(&stored), &before).is_empty());
    }

    #[test]
    fn capability_lists_parse_strictly() {
        assert_eq!(
            parse_list(" readUsers , readUsers,tokenVault").map(|l| l.len()),
            Ok(2)
        );
        let err = parse_list("readUsers,deleteEverything")
            .err()
            .expect("unknown");
        assert!(
            !err.contains("deleteEverything")
                && err.contains("1 of the names")
                && err.contains("tokenVault"),
            "{err}"
        );
        assert!(parse_list(" , ").is_err());
    }
}
