//! Auth0 records as the emulator keeps them (clients, grants, APIs, connections, users) and
//! their JSON wire shapes, written from Auth0's Management API documentation.
//!
//! Field visibility for clients follows Auth0's scope rules: `read:client_summary` shows only
//! `client_id, app_type, name, description`; `read:clients` adds the settings; `client_secret`
//! (and other credential fields) needs `read:client_keys` or `read:client_credentials`.
//! This module does no locking and no HTTP.

use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::credentials::Credential;
use crate::secrets;

/// The grant types Auth0 accepts in a client's `grant_types` (Management API `post_clients`).
pub(crate) const KNOWN_GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "implicit",
    "refresh_token",
    "client_credentials",
    "password",
    "http://auth0.com/oauth/grant-type/password-realm",
    "http://auth0.com/oauth/grant-type/mfa-oob",
    "http://auth0.com/oauth/grant-type/mfa-otp",
    "http://auth0.com/oauth/grant-type/mfa-recovery-code",
    "http://auth0.com/oauth/grant-type/passwordless/otp",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:openid:params:grant-type:ciba",
    "urn:auth0:params:oauth:grant-type:token-exchange",
    // Token Vault (Auth0 Authentication API, "Token Vault token exchange").
    "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token",
];

pub(crate) const APP_TYPES: &[&str] = &[
    "native",
    "spa",
    "regular_web",
    "non_interactive",
    "resource_server",
    "express_configuration",
    "rms",
    "box",
    "cloudbees",
    "concur",
    "dropbox",
    "mscrm",
    "echosign",
    "egnyte",
    "newrelic",
    "office365",
    "salesforce",
    "sentry",
    "sharepoint",
    "slack",
    "springcm",
    "zendesk",
    "zoom",
    "sso_integration",
    "oag",
];

pub(crate) const AUTH_METHODS: &[&str] = &["none", "client_secret_post", "client_secret_basic"];

/// Auth0's defaults when a client is created without `grant_types`.
pub(crate) fn default_grant_types(app_type: Option<&str>, auth_method: &str) -> Vec<String> {
    let list: &[&str] = match app_type {
        Some("non_interactive") | Some("resource_server") => &["client_credentials"],
        Some("spa") => &["authorization_code", "implicit", "refresh_token"],
        _ if auth_method == "none" => &["authorization_code", "implicit", "refresh_token"],
        _ => &[
            "authorization_code",
            "implicit",
            "refresh_token",
            "client_credentials",
        ],
    };
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Auth0's default `token_endpoint_auth_method` for an app type.
pub(crate) fn default_auth_method(app_type: Option<&str>) -> &'static str {
    match app_type {
        Some("spa") | Some("native") => "none",
        _ => "client_secret_post",
    }
}

/// Auth0's cross-field check of grant types; the message is Auth0's ("Invalid grant types: x").
pub(crate) fn validate_grant_types(
    grant_types: &[String],
    auth_method: &str,
) -> Result<(), String> {
    let invalid: Vec<&str> = grant_types
        .iter()
        .map(String::as_str)
        .filter(|g| {
            !KNOWN_GRANT_TYPES.contains(g)
                // Public clients cannot authenticate, so they cannot use client credentials.
                || (*g == "client_credentials" && auth_method == "none")
        })
        .collect();
    if invalid.is_empty() {
        Ok(())
    } else {
        Err(format!("Invalid grant types: {}", invalid.join(", ")))
    }
}

/// Which parts of a client a caller may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClientView {
    pub settings: bool,
    pub credentials: bool,
}

impl ClientView {
    pub(crate) const ALL: ClientView = ClientView {
        settings: true,
        credentials: true,
    };

    pub(crate) fn for_read_scopes(has: impl Fn(&str) -> bool) -> ClientView {
        ClientView {
            settings: has("read:clients") || has("read:client_keys"),
            credentials: has("read:client_keys") || has("read:client_credentials"),
        }
    }
}

/// An application. The secret is private to this module's accessors.
pub(crate) struct Client {
    pub client_id: String,
    secret: String,
    /// A new secret is refused until this instant (Auth0's propagation delay).
    secret_usable_from: Option<Instant>,
    pub name: String,
    pub description: String,
    /// `None` only for the global "All Applications" client.
    pub app_type: Option<String>,
    pub is_first_party: bool,
    pub global: bool,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub resource_server_identifier: Option<String>,
    pub callbacks: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub web_origins: Vec<String>,
    pub allowed_logout_urls: Vec<String>,
    pub client_aliases: Vec<String>,
    pub allowed_clients: Vec<String>,
    pub oidc_conformant: bool,
    pub sso_disabled: bool,
    pub cross_origin_auth: bool,
    pub is_token_endpoint_ip_header_trusted: bool,
    pub jwt_lifetime_in_seconds: u64,
    pub client_metadata: Map<String, Value>,
    pub logo_uri: Option<String>,
    /// Registered public keys (`/clients/{id}/credentials`), enabled or not.
    pub credentials: Vec<Credential>,
    /// Ids of the credentials enabled for Private Key JWT. `Some` switches the client from its
    /// secret to signed assertions (Auth0 then reports `token_endpoint_auth_method: null`).
    pub private_key_jwt: Option<Vec<String>>,
}

impl Client {
    pub(crate) fn new(
        client_id: String,
        secret: String,
        name: String,
        app_type: Option<String>,
    ) -> Client {
        let auth_method = default_auth_method(app_type.as_deref()).to_owned();
        Client {
            grant_types: default_grant_types(app_type.as_deref(), &auth_method),
            client_id,
            secret,
            secret_usable_from: None,
            name,
            description: String::new(),
            app_type,
            is_first_party: true,
            global: false,
            token_endpoint_auth_method: auth_method,
            resource_server_identifier: None,
            callbacks: Vec::new(),
            allowed_origins: Vec::new(),
            web_origins: Vec::new(),
            allowed_logout_urls: Vec::new(),
            client_aliases: Vec::new(),
            allowed_clients: Vec::new(),
            oidc_conformant: true,
            sso_disabled: false,
            cross_origin_auth: false,
            is_token_endpoint_ip_header_trusted: false,
            jwt_lifetime_in_seconds: 36_000,
            client_metadata: Map::new(),
            logo_uri: None,
            credentials: Vec::new(),
            private_key_jwt: None,
        }
    }

    /// Auth0's tenant-wide "All Applications" client that every tenant has.
    pub(crate) fn global() -> Client {
        let mut client = Client::new(
            secrets::new_client_id(),
            secrets::new_client_secret(),
            "All Applications".to_owned(),
            None,
        );
        client.global = true;
        client.grant_types = Vec::new();
        client.oidc_conformant = false;
        client
    }

    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }

    /// Replaces the one secret (Auth0 keeps exactly one); the old one stops working at once and
    /// the new one only after `delay`.
    pub(crate) fn set_secret(&mut self, secret: String, delay: std::time::Duration) {
        self.secret = secret;
        self.secret_usable_from = if delay.is_zero() {
            None
        } else {
            Some(Instant::now() + delay)
        };
    }

    /// Whether `presented` is the current secret and already propagated. Constant time.
    pub(crate) fn accepts_secret(&self, presented: &str, now: Instant) -> bool {
        let matches = secrets::secrets_equal(presented, &self.secret);
        let propagated = self.secret_usable_from.is_none_or(|from| now >= from);
        matches && propagated
    }

    pub(crate) fn to_json(&self, tenant: &str, view: ClientView) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("client_id".into(), json!(self.client_id));
        out.insert("name".into(), json!(self.name));
        if let Some(app_type) = &self.app_type {
            out.insert("app_type".into(), json!(app_type));
        }
        if !self.description.is_empty() || view.settings {
            out.insert("description".into(), json!(self.description));
        }
        if view.settings {
            self.insert_settings(tenant, &mut out);
        }
        if view.credentials {
            out.insert("client_secret".into(), json!(self.secret));
            // Auth0 shows `client_authentication_methods` only once one is set up.
            if let Some(enabled) = &self.private_key_jwt {
                let ids: Vec<Value> = enabled.iter().map(|id| json!({ "id": id })).collect();
                out.insert(
                    "client_authentication_methods".into(),
                    json!({ "private_key_jwt": { "credentials": ids } }),
                );
            }
        }
        out
    }

    pub(crate) fn uses_private_key_jwt(&self) -> bool {
        self.private_key_jwt.is_some()
    }

    pub(crate) fn credential(&self, id: &str) -> Option<&Credential> {
        self.credentials.iter().find(|c| c.id == id)
    }

    /// The credentials an assertion may be signed with: enabled ones only.
    pub(crate) fn enabled_credentials(&self) -> impl Iterator<Item = &Credential> {
        let enabled = self.private_key_jwt.as_deref().unwrap_or_default();
        self.credentials
            .iter()
            .filter(move |c| enabled.contains(&c.id))
    }

    fn insert_settings(&self, tenant: &str, out: &mut Map<String, Value>) {
        let fields = [
            ("tenant", json!(tenant)),
            ("global", json!(self.global)),
            ("is_first_party", json!(self.is_first_party)),
            (
                "is_token_endpoint_ip_header_trusted",
                json!(self.is_token_endpoint_ip_header_trusted),
            ),
            ("oidc_conformant", json!(self.oidc_conformant)),
            ("sso_disabled", json!(self.sso_disabled)),
            ("cross_origin_auth", json!(self.cross_origin_auth)),
            ("callbacks", json!(self.callbacks)),
            ("allowed_origins", json!(self.allowed_origins)),
            ("web_origins", json!(self.web_origins)),
            ("allowed_logout_urls", json!(self.allowed_logout_urls)),
            ("client_aliases", json!(self.client_aliases)),
            ("allowed_clients", json!(self.allowed_clients)),
            ("callback_url_template", json!(false)),
            ("custom_login_page_on", json!(true)),
            ("grant_types", json!(self.grant_types)),
            (
                "token_endpoint_auth_method",
                // Auth0 reports null once client_authentication_methods is in charge.
                if self.uses_private_key_jwt() {
                    Value::Null
                } else {
                    json!(self.token_endpoint_auth_method)
                },
            ),
            (
                "jwt_configuration",
                json!({ "alg": "RS256", "lifetime_in_seconds": self.jwt_lifetime_in_seconds, "secret_encoded": false }),
            ),
            (
                "refresh_token",
                json!({
                    "expiration_type": "non-expiring",
                    "leeway": 0,
                    "infinite_token_lifetime": true,
                    "infinite_idle_token_lifetime": true,
                    "token_lifetime": 31_557_600,
                    "idle_token_lifetime": 2_592_000,
                    "rotation_type": "non-rotating"
                }),
            ),
            (
                "client_metadata",
                Value::Object(self.client_metadata.clone()),
            ),
        ];
        for (key, value) in fields {
            out.insert(key.to_owned(), value);
        }
        if let Some(identifier) = &self.resource_server_identifier {
            out.insert("resource_server_identifier".into(), json!(identifier));
        }
        if let Some(logo) = &self.logo_uri {
            out.insert("logo_uri".into(), json!(logo));
        }
    }
}

/// A client grant: which scopes a client may request for one API.
pub(crate) struct Grant {
    pub id: String,
    pub client_id: String,
    pub audience: String,
    pub scope: Vec<String>,
}

/// An API. The Management API is one with `is_system`.
pub(crate) struct ResourceServer {
    pub id: String,
    pub name: String,
    pub identifier: String,
    pub scopes: Vec<(String, String)>,
    pub token_lifetime: u64,
    pub is_system: bool,
    pub signing_alg: String,
    pub allow_offline_access: bool,
    pub skip_consent_for_verifiable_first_party_clients: bool,
}

impl ResourceServer {
    pub(crate) fn to_json(&self) -> Value {
        let scopes: Vec<Value> = self
            .scopes
            .iter()
            .map(|(value, description)| json!({ "value": value, "description": description }))
            .collect();
        json!({
            "id": self.id,
            "name": self.name,
            "identifier": self.identifier,
            "is_system": self.is_system,
            "scopes": scopes,
            "signing_alg": self.signing_alg,
            "allow_offline_access": self.allow_offline_access,
            "skip_consent_for_verifiable_first_party_clients": self.skip_consent_for_verifiable_first_party_clients,
            "token_lifetime": self.token_lifetime,
            "token_lifetime_for_web": 7200,
        })
    }
}

pub(crate) struct Connection {
    pub name: String,
    pub strategy: String,
}

/// A database user. The password is kept only to detect that one was set; it is never returned.
pub(crate) struct User {
    pub user_id: String,
    pub connection: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub username: Option<String>,
    pub phone_number: Option<String>,
    pub password: Option<String>,
    pub name: String,
    pub nickname: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub picture: String,
    pub blocked: bool,
    pub app_metadata: Map<String, Value>,
    pub user_metadata: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
}

impl User {
    /// The part of `user_id` after the provider, as in `identities[0].user_id`.
    fn provider_id(&self) -> &str {
        self.user_id
            .split_once('|')
            .map_or(self.user_id.as_str(), |(_, id)| id)
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("created_at".into(), json!(self.created_at));
        if let Some(email) = &self.email {
            out.insert("email".into(), json!(email));
            out.insert("email_verified".into(), json!(self.email_verified));
        }
        if let Some(username) = &self.username {
            out.insert("username".into(), json!(username));
        }
        if let Some(phone) = &self.phone_number {
            out.insert("phone_number".into(), json!(phone));
        }
        out.insert(
            "identities".into(),
            json!([{
                "connection": self.connection,
                "user_id": self.provider_id(),
                "provider": "auth0",
                "isSocial": false
            }]),
        );
        out.insert("name".into(), json!(self.name));
        out.insert("nickname".into(), json!(self.nickname));
        if let Some(v) = &self.given_name {
            out.insert("given_name".into(), json!(v));
        }
        if let Some(v) = &self.family_name {
            out.insert("family_name".into(), json!(v));
        }
        out.insert("picture".into(), json!(self.picture));
        out.insert("updated_at".into(), json!(self.updated_at));
        out.insert("user_id".into(), json!(self.user_id));
        if self.blocked {
            out.insert("blocked".into(), json!(true));
        }
        if !self.app_metadata.is_empty() {
            out.insert(
                "app_metadata".into(),
                Value::Object(self.app_metadata.clone()),
            );
        }
        if !self.user_metadata.is_empty() {
            out.insert(
                "user_metadata".into(),
                Value::Object(self.user_metadata.clone()),
            );
        }
        out
    }
}

/// Auth0's timestamp format: RFC 3339 in UTC with milliseconds.
pub(crate) fn now_timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

/// Auth0's default avatar: a CDN image named after the first two letters of the name.
pub(crate) fn default_picture(name: &str) -> String {
    let initials: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(2)
        .collect::<String>()
        .to_lowercase();
    format!(
        "https://cdn.auth0.com/avatars/{}.png",
        if initials.is_empty() {
            "default"
        } else {
            &initials
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m2m() -> Client {
        Client::new(
            "cid".into(),
            "canary".into(),
            "App".into(),
            Some("non_interactive".into()),
        )
    }

    #[test]
    fn secret_only_with_credential_scopes() {
        let client = m2m();
        let summary = client.to_json(
            "acme",
            ClientView {
                settings: false,
                credentials: false,
            },
        );
        let mut keys: Vec<&str> = summary.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["app_type", "client_id", "name"]);
        let settings = client.to_json(
            "acme",
            ClientView {
                settings: true,
                credentials: false,
            },
        );
        assert!(settings.contains_key("grant_types"));
        assert!(!settings.contains_key("client_secret"));
        let full = client.to_json("acme", ClientView::ALL);
        assert_eq!(full["client_secret"], "canary");
        assert_eq!(full["tenant"], "acme");
    }

    #[test]
    fn grant_type_validation_matches_auth0() {
        let cc = vec!["client_credentials".to_owned()];
        assert!(validate_grant_types(&cc, "client_secret_post").is_ok());
        assert_eq!(
            validate_grant_types(&cc, "none"),
            Err("Invalid grant types: client_credentials".to_owned())
        );
        assert_eq!(
            validate_grant_types(&["passwordless".to_owned()], "client_secret_post"),
            Err("Invalid grant types: passwordless".to_owned())
        );
    }

    #[test]
    fn propagation_delay_refuses_new_secret_until_due() {
        let mut client = m2m();
        let now = Instant::now();
        assert!(client.accepts_secret("canary", now));
        client.set_secret("fresh".into(), std::time::Duration::from_secs(30));
        assert!(!client.accepts_secret("canary", now));
        assert!(!client.accepts_secret("fresh", Instant::now()));
        assert!(
            client.accepts_secret("fresh", Instant::now() + std::time::Duration::from_secs(31))
        );
    }

    #[test]
    fn timestamps_look_like_auth0s() {
        let ts = now_timestamp();
        assert_eq!(ts.len(), 24, "{ts}");
        assert!(ts.ends_with('Z'));
        assert!(
            time::OffsetDateTime::parse(&ts, &time::format_description::well_known::Rfc3339)
                .is_ok()
        );
    }
}
