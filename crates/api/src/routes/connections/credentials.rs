//! Checks on a connection's credentials, collected so one response names every field at fault.
//! Checked here for syntax only; Auth0 itself is asked before they are stored.

use auth0::{ClientCredentials, Domain};
use crypto::{ExposeSecret, SecretString};

use super::dto::CredentialsIn;
use crate::problem::FieldError;
use crate::routes::fields::{self, CLIENT_ID_MAX};

const SECRET_MAX: usize = 512;
const AUDIENCE_MAX: usize = 600;

/// Syntax checks on credentials; `None` when any field is at fault (the errors say which).
pub fn check(input: CredentialsIn, errors: &mut Vec<FieldError>) -> Option<ClientCredentials> {
    let before = errors.len();
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
    // Trimmed like the other fields: a pasted trailing newline is the usual mistake.
    let secret = input.client_secret.expose_secret().trim();
    if secret.is_empty() || secret.len() > SECRET_MAX || secret.chars().any(|c| c.is_control()) {
        errors.push(FieldError::new(
            "credentials.clientSecret",
            format!("must be 1 to {SECRET_MAX} printable characters"),
        ));
    }
    let audience = match (input.audience.as_deref().map(str::trim), &domain) {
        (Some(a), _) if !a.is_empty() => {
            if a.len() > AUDIENCE_MAX || a.chars().any(|c| c.is_whitespace() || c.is_control()) {
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
    if errors.len() > before {
        return None;
    }
    Some(ClientCredentials {
        domain: domain?,
        client_id: client_id.to_owned(),
        client_secret: SecretString::from(secret.to_owned()),
        audience,
    })
}
