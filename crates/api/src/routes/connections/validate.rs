//! Checks on connection input, collected so one response names every field at fault.

use auth0::{ClientCredentials, Domain};
use crypto::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::dto::{CredentialsIn, METHOD_CLIENT_CREDENTIALS};
use crate::problem::FieldError;

pub const NAME_MAX: usize = 64;
pub const DESCRIPTION_MAX: usize = 256;
const CLIENT_ID_MAX: usize = 128;
const SECRET_MAX: usize = 512;
const AUDIENCE_MAX: usize = 600;

/// Lowercase slug: `a-z`, `0-9` and single hyphens between them (what Infisical accepts).
pub fn name(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let name = raw.trim();
    let slug = !name.is_empty()
        && name.len() <= NAME_MAX
        && name.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if slug {
        Some(name.to_owned())
    } else {
        errors.push(FieldError::new(
            "name",
            format!("must be a lowercase slug of 1 to {NAME_MAX} characters (a-z, 0-9, single hyphens), e.g. \"billing-auth0\""),
        ));
        None
    }
}

pub fn description(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let description = raw?.trim();
    if description.chars().count() > DESCRIPTION_MAX {
        errors.push(FieldError::new(
            "description",
            format!("must be at most {DESCRIPTION_MAX} characters"),
        ));
        return None;
    }
    if !crate::text::plain_text("description", description, errors) {
        return None;
    }
    Some(description.to_owned())
}

pub fn method(raw: &str, errors: &mut Vec<FieldError>) {
    if raw != METHOD_CLIENT_CREDENTIALS {
        errors.push(FieldError::new(
            "method",
            format!("must be \"{METHOD_CLIENT_CREDENTIALS}\""),
        ));
    }
}

pub fn uuid(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<Uuid> {
    match Uuid::parse_str(raw.trim()) {
        Ok(id) => Some(id),
        Err(_) => {
            errors.push(FieldError::new(field, "must be a UUID"));
            None
        }
    }
}

/// Syntax checks on credentials; `None` when any field is at fault (the errors say which).
pub fn credentials(
    input: CredentialsIn,
    errors: &mut Vec<FieldError>,
) -> Option<ClientCredentials> {
    let before = errors.len();
    let domain = match Domain::parse(input.domain.trim()) {
        Ok(domain) => Some(domain),
        Err(err) => {
            errors.push(FieldError::new("credentials.domain", err.to_string()));
            None
        }
    };
    let client_id = input.client_id.trim();
    if client_id.is_empty()
        || client_id.len() > CLIENT_ID_MAX
        || !client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
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
