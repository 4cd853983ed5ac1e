//! Input rules of the secrets API. Every refusal names the field and the rule, never the value.

use serde_json::Value;
use store::ProjectId;

use crate::problem::FieldError;

/// Longest secret value, in bytes.
pub const VALUE_MAX: usize = 64 * 1024;
/// Longest secret or folder name.
pub const NAME_MAX: usize = 256;
/// Most folder levels in a path.
pub const PATH_DEPTH_MAX: usize = 16;
pub const COMMENT_MAX: usize = 1024;
pub const DESCRIPTION_MAX: usize = 256;

const NAME_RULE: &str = "must be 1 to 256 of the characters A-Z a-z 0-9 _ . -";

fn name_chars(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// A secret name (`[A-Za-z0-9_.-]{1,256}`).
pub fn secret_name(field: &str, name: &str, errors: &mut Vec<FieldError>) -> bool {
    let ok = !name.is_empty() && name.len() <= NAME_MAX && name_chars(name);
    if !ok {
        errors.push(FieldError::new(field, NAME_RULE));
    }
    ok
}

/// A folder name: a secret name that is not `.` or `..`.
pub fn folder_name(field: &str, name: &str, errors: &mut Vec<FieldError>) -> bool {
    if name == "." || name == ".." {
        errors.push(FieldError::new(field, "must not be `.` or `..`"));
        return false;
    }
    secret_name(field, name, errors)
}

/// A folder path (`/`, `/orders`, `/orders/api`; one trailing `/` is ignored), normalised.
pub fn path(field: &str, raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let raw = raw.unwrap_or("/");
    let refuse = |errors: &mut Vec<FieldError>, rule: &str| {
        errors.push(FieldError::new(field, rule));
        None
    };
    // The longest valid path: 16 names of 256, each after a `/`, and one trailing `/`.
    if raw.len() > PATH_DEPTH_MAX * (NAME_MAX + 1) + 1 {
        return refuse(errors, "is too long");
    }
    let Some(rest) = raw.strip_prefix('/') else {
        return refuse(errors, "must start with `/`");
    };
    if raw.contains("//") {
        return refuse(errors, "must not contain empty segments (`//`)");
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Some("/".to_owned());
    }
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.len() > PATH_DEPTH_MAX {
        return refuse(errors, "must have at most 16 folder levels");
    }
    for segment in &segments {
        if segment.is_empty() {
            return refuse(errors, "must not contain empty segments (`//`)");
        }
        if *segment == "." || *segment == ".." {
            return refuse(errors, "must not contain `.` or `..` segments");
        }
        if segment.len() > NAME_MAX || !name_chars(segment) {
            return refuse(
                errors,
                "each folder must be 1 to 256 of the characters A-Z a-z 0-9 _ . -",
            );
        }
    }
    Some(format!("/{rest}"))
}

/// An environment slug.
pub fn slug(field: &str, slug: &str, errors: &mut Vec<FieldError>) -> bool {
    let ok = (1..=64).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
        && slug
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !ok {
        errors.push(FieldError::new(
            field,
            "must be 1 to 64 of a-z 0-9 _ -, starting with a letter or digit",
        ));
    }
    ok
}

/// An environment's display name.
pub fn display_name(field: &str, name: &str, errors: &mut Vec<FieldError>) -> bool {
    let n = name.trim().chars().count();
    if n == 0 || n > 64 {
        errors.push(FieldError::new(field, "must be 1 to 64 characters"));
        return false;
    }
    crate::text::one_line(field, name, errors)
}

/// The project of a request: `workspaceId`/`projectId` (a UUID). Keyhold projects have no slug,
/// so a slug is refused rather than guessed at.
pub fn project_id(
    id_field: &str,
    id: Option<&str>,
    slugs: &[(&str, Option<&str>)],
    errors: &mut Vec<FieldError>,
) -> Option<ProjectId> {
    for (field, slug) in slugs {
        if slug.is_some_and(|s| !s.is_empty()) {
            errors.push(FieldError::new(
                *field,
                format!("Keyhold projects have no slug; send the project's id as `{id_field}`"),
            ));
        }
    }
    match id {
        None | Some("") => {
            if slugs.iter().all(|(_, s)| s.is_none_or(str::is_empty)) {
                errors.push(FieldError::new(id_field, "is required"));
            }
            None
        }
        Some(raw) => match uuid::Uuid::parse_str(raw) {
            Ok(id) => Some(ProjectId(id)),
            Err(_) => {
                errors.push(FieldError::new(id_field, "must be a UUID"));
                None
            }
        },
    }
}

pub fn value(field: &str, value: &str, errors: &mut Vec<FieldError>) -> bool {
    let ok = value.len() <= VALUE_MAX;
    if !ok {
        errors.push(FieldError::new(
            field,
            format!("must be at most {VALUE_MAX} bytes"),
        ));
    }
    ok
}

pub fn comment(field: &str, comment: &str, errors: &mut Vec<FieldError>) -> bool {
    if comment.chars().count() > COMMENT_MAX {
        errors.push(FieldError::new(
            field,
            format!("must be at most {COMMENT_MAX} characters"),
        ));
        return false;
    }
    crate::text::plain_text(field, comment, errors)
}

pub fn description(field: &str, description: &str, errors: &mut Vec<FieldError>) -> bool {
    if description.chars().count() > DESCRIPTION_MAX {
        errors.push(FieldError::new(
            field,
            format!("must be at most {DESCRIPTION_MAX} characters"),
        ));
        return false;
    }
    crate::text::plain_text(field, description, errors)
}

/// `type`: Keyhold has shared secrets only.
pub fn secret_type(field: &str, kind: Option<&str>, errors: &mut Vec<FieldError>) {
    if kind.is_some_and(|k| k != "shared") {
        errors.push(FieldError::new(
            field,
            "only \"shared\" secrets are supported; personal overrides are not",
        ));
    }
}

/// A field Infisical has and Keyhold does not: accepted when absent, null, false or empty,
/// refused otherwise (never silently dropped).
pub fn unsupported(field: &str, value: Option<&Value>, errors: &mut Vec<FieldError>) {
    let empty = match value {
        None | Some(Value::Null) | Some(Value::Bool(false)) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    };
    if !empty {
        errors.push(FieldError::new(
            field,
            "is not supported by this server; send null or leave it out",
        ));
    }
}

/// A boolean query parameter as Infisical's SDKs send them: `"true"`/`"false"`, and Python's
/// `str(bool)` (`"True"`/`"False"`, which the Python SDK sends for `recursive` on folders).
pub fn flag(field: &str, raw: Option<&str>, default: bool, errors: &mut Vec<FieldError>) -> bool {
    match raw {
        None | Some("") => default,
        Some("true" | "True") => true,
        Some("false" | "False") => false,
        Some(_) => {
            errors.push(FieldError::new(field, "must be \"true\" or \"false\""));
            default
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_or_refused_without_echoing() {
        let ok = |raw: &str| path("secretPath", Some(raw), &mut Vec::new());
        assert_eq!(ok("/").as_deref(), Some("/"));
        assert_eq!(ok("/orders").as_deref(), Some("/orders"));
        assert_eq!(ok("/orders/").as_deref(), Some("/orders"));
        assert_eq!(ok("/a/b.c/d-e_f").as_deref(), Some("/a/b.c/d-e_f"));
        let deep = "/a".repeat(16);
        assert_eq!(ok(&deep).as_deref(), Some(deep.as_str()));
        let long = format!("/{}", "a".repeat(4096));
        for bad in [
            "",
            "orders",
            "//",
            "/a//b",
            "/..",
            "/a/../b",
            "/./a",
            "/a\\b",
            "/a\0b",
            "/%2e%2e",
            "/a b",
            "/é",
            "/a=b",
            &"/a".repeat(17),
            &long,
        ] {
            let mut errors = Vec::new();
            assert_eq!(path("secretPath", Some(bad), &mut errors), None, "{bad:?}");
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].field, "secretPath");
            assert!(bad.len() < 3 || !errors[0].detail.contains(bad), "{bad:?}");
        }
    }

    #[test]
    fn names() {
        for good in ["A", "DB_PASSWORD", "a.b-c_d", &"x".repeat(256)] {
            assert!(secret_name("n", good, &mut Vec::new()), "{good}");
        }
        for bad in ["", "a b", "a=b", "é", "a/b", "a\0", &"x".repeat(257)] {
            assert!(!secret_name("n", bad, &mut Vec::new()), "{bad:?}");
        }
        assert!(!folder_name("n", "..", &mut Vec::new()));
    }
}
