//! Field rules shared by more than one resource, so a name, a description, a client ID or a search
//! term is judged the same wherever it is sent. Each check pushes a [`FieldError`] naming its field
//! instead of returning early, so one answer names every field at fault. Rules that only one
//! resource has (connection credentials, Auth0 user profiles, Token Vault input) stay with it.
//!
//! Text people read back also obeys `crate::text` (no control or invisible format characters).

use uuid::Uuid;

use crate::problem::FieldError;

/// Longest slug name (connections, rotations), and so the longest search term worth sending.
pub const NAME_MAX: usize = 64;
pub const DESCRIPTION_MAX: usize = 256;
/// Auth0 client IDs: 1 to this many of `A-Z a-z 0-9 - _ .`.
pub const CLIENT_ID_MAX: usize = 128;
/// The client-ID rule in the words an error shows.
pub const CLIENT_ID_RULE: &str = "must be an Auth0 client ID (1 to 128 of A-Z a-z 0-9 - _ .)";

/// `name` as a lowercase slug: `a-z`, `0-9` and single hyphens between them (what Infisical
/// accepts for connection and rotation names, which appear in paths).
pub fn slug_name(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
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

/// `name` as free one-line text of 1 to `max` characters (projects, identities): people choose
/// these names and read them back, so any script is welcome but nothing hidden.
pub fn display_name(raw: &str, max: usize, errors: &mut Vec<FieldError>) -> Option<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > max {
        errors.push(FieldError::new(
            "name",
            format!("must be 1 to {max} characters"),
        ));
        return None;
    }
    crate::text::one_line("name", name, errors).then(|| name.to_owned())
}

/// An optional `description`: trimmed, at most [`DESCRIPTION_MAX`] characters of plain text.
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

/// An id sent in a body or query string (path ids go through `extract::PathId`).
pub fn uuid(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<Uuid> {
    match Uuid::parse_str(raw.trim()) {
        Ok(id) => Some(id),
        Err(_) => {
            errors.push(FieldError::new(field, "must be a UUID"));
            None
        }
    }
}

/// An Auth0 client ID as Keyhold accepts one: 1-128 of `A-Z a-z 0-9 - _ .` (nothing that could
/// change the Management API path it is put in).
pub fn is_client_id(raw: &str) -> bool {
    (1..=CLIENT_ID_MAX).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// A client ID sent as `field`, trimmed; [`CLIENT_ID_RULE`] when it is not one.
pub fn client_id(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let id = raw.trim();
    if is_client_id(id) {
        Some(id.to_owned())
    } else {
        errors.push(FieldError::new(field, CLIENT_ID_RULE));
        None
    }
}

/// A list's `search` term, trimmed; `None` when absent or blank. It is matched against slug names,
/// so anything longer than [`NAME_MAX`] finds nothing, and Postgres errors on NUL instead of
/// matching nothing: both are refused.
pub fn search<'a>(raw: Option<&'a str>, errors: &mut Vec<FieldError>) -> Option<&'a str> {
    let search = raw.map(str::trim).filter(|s| !s.is_empty());
    if search.is_some_and(|s| s.chars().count() > NAME_MAX || s.chars().any(char::is_control)) {
        errors.push(FieldError::new(
            "search",
            format!("must be at most {NAME_MAX} characters without control characters"),
        ));
    }
    search
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_path_safe() {
        for good in ["abc", "A-b_c.9", &"x".repeat(CLIENT_ID_MAX)] {
            assert!(is_client_id(good), "{good}");
        }
        for bad in ["", "a/b", "a b", "..%2f", &"x".repeat(CLIENT_ID_MAX + 1)] {
            assert!(!is_client_id(bad), "{bad}");
        }
        let mut errors = Vec::new();
        assert_eq!(
            client_id("clientId", " abc\n", &mut errors).as_deref(),
            Some("abc")
        );
        assert_eq!(client_id("clientId", "a/b", &mut errors), None);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "clientId");
    }

    #[test]
    fn slug_names_and_search_terms() {
        let mut errors = Vec::new();
        assert_eq!(
            slug_name(" billing-auth0 ", &mut errors).as_deref(),
            Some("billing-auth0")
        );
        for bad in [
            "",
            "Billing",
            "a--b",
            "-a",
            "a_b",
            &"a".repeat(NAME_MAX + 1),
        ] {
            assert_eq!(slug_name(bad, &mut errors), None, "{bad}");
        }
        let mut errors = Vec::new();
        assert_eq!(search(Some("  "), &mut errors), None);
        assert_eq!(search(Some(" bil "), &mut errors), Some("bil"));
        assert!(errors.is_empty());
        search(Some("a\0b"), &mut errors);
        assert_eq!(errors.len(), 1);
    }
}
