//! Checks on a connection's credentials, collected so one response names every field at fault.
//! Checked here for syntax only; Auth0 itself is asked before they are stored.

use auth0::{ClientCredentials, Domain, SigningAlg};
use crypto::{ExposeSecret, SecretString};

use super::dto::CredentialsIn;
use crate::problem::FieldError;
use crate::routes::fields::{self, CLIENT_ID_MAX};

const SECRET_MAX: usize = 512;
const AUDIENCE_MAX: usize = 600;

/// Syntax checks on `client-credentials` credentials; `None` when any field is at fault (the
/// errors say which).
pub fn check(input: CredentialsIn, errors: &mut Vec<FieldError>) -> Option<ClientCredentials> {
    let before = errors.len();
    let (domain, client_id, audience) = check_target(&input, errors);
    if input.alg.is_some() {
        errors.push(FieldError::new(
            "credentials.alg",
            "only a private-key-jwt connection has a signing algorithm; omit it",
        ));
    }
    // Trimmed like the other fields: a pasted trailing newline is the usual mistake.
    let secret = input
        .client_secret
        .as_ref()
        .map_or("", |s| s.expose_secret())
        .trim();
    if secret.is_empty()
        || secret.chars().count() > SECRET_MAX
        || secret.chars().any(|c| c.is_control())
    {
        errors.push(FieldError::new(
            "credentials.clientSecret",
            format!("must be 1 to {SECRET_MAX} printable characters"),
        ));
    }
    if errors.len() > before {
        return None;
    }
    Some(ClientCredentials {
        domain: domain?,
        client_id,
        client_secret: SecretString::from(secret.to_owned()),
        audience,
    })
}

/// Where a `private-key-jwt` connection authenticates, and with which algorithm; Keyhold
/// generates the key, so there is no secret to check.
#[derive(Debug)]
pub struct KeyTarget {
    pub domain: Domain,
    pub client_id: String,
    pub audience: String,
    pub alg: SigningAlg,
}

/// Syntax checks on `private-key-jwt` credentials; `None` when any field is at fault.
pub fn check_key(input: CredentialsIn, errors: &mut Vec<FieldError>) -> Option<KeyTarget> {
    let before = errors.len();
    let (domain, client_id, audience) = check_target(&input, errors);
    if input.client_secret.is_some() {
        // Refused rather than ignored: whoever sent it believes Keyhold will keep it.
        errors.push(FieldError::new(
            "credentials.clientSecret",
            "a private-key-jwt connection has no client secret: Keyhold generates its key pair; omit clientSecret",
        ));
    }
    let alg = match input.alg.as_deref().map(str::trim) {
        None => Some(SigningAlg::default()),
        Some(raw) => SigningAlg::parse(raw).or_else(|| {
            errors.push(FieldError::new(
                "credentials.alg",
                "must be one of RS256, RS384, PS256 (the algorithms Auth0 accepts for a public key)",
            ));
            None
        }),
    };
    if errors.len() > before {
        return None;
    }
    Some(KeyTarget {
        domain: domain?,
        client_id,
        audience,
        alg: alg?,
    })
}

/// Domain, client ID and audience (defaulting to the Management API), as both methods share them.
fn check_target(
    input: &CredentialsIn,
    errors: &mut Vec<FieldError>,
) -> (Option<Domain>, String, String) {
    let domain = match Domain::parse(input.domain.trim()) {
        Ok(domain) => Some(domain),
        Err(err) => {
            errors.push(FieldError::new("credentials.domain", err.to_string()));
            None
        }
    };
    let client_id = input.client_id.trim();
    if !fields::is_client_id(client_id) {
        errors.push(FieldError::new(
            "credentials.clientId",
            format!("must be 1 to {CLIENT_ID_MAX} characters of A-Z, a-z, 0-9, '-', '_' or '.'"),
        ));
    }
    let audience = match (input.audience.as_deref().map(str::trim), &domain) {
        (Some(a), _) if !a.is_empty() => {
            if a.chars().count() > AUDIENCE_MAX
                || a.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                errors.push(FieldError::new(
                    "credentials.audience",
                    format!("must be an API identifier of at most {AUDIENCE_MAX} characters without spaces"),
                ));
            }
            a.to_owned()
        }
        (_, Some(domain)) => domain.management_audience(),
        (_, None) => String::new(),
    };
    (domain, client_id.to_owned(), audience)
}
