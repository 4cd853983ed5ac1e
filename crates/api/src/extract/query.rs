//! `ValidQuery<T>`: query strings with problem-format errors naming the parameter. A NUL is
//! refused in every parameter here, before any handler runs: PostgreSQL rejects it in text with
//! an error (a 500), and no name, id or cursor this server issues contains one.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::extract::json::{field_path, redact_serde};
use crate::problem::{ApiError, FieldError};

pub struct ValidQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ValidQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        if let Some(field) = nul_parameter(query) {
            return Err(ApiError::field(&field, "must not contain a NUL character"));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de)
            .map(ValidQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                let message = err.into_inner().to_string();
                ApiError::Validation(vec![FieldError::new(
                    field_path(&path, &message),
                    redact_serde(&message),
                )])
            })
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// The parameter holding a NUL, if any; named only when its name is itself a plain word, so a
/// hostile name is not repeated back.
fn nul_parameter(query: &str) -> Option<String> {
    form_urlencoded_parse(query)
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        .map(|(k, _)| {
            if !k.is_empty() && k.len() <= 32 && k.bytes().all(|b| b.is_ascii_alphanumeric()) {
                k.into_owned()
            } else {
                "query".to_owned()
            }
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn nul_is_found_in_names_and_values() {
        assert_eq!(
            super::nul_parameter("a=1&search=x%00y").as_deref(),
            Some("search")
        );
        assert_eq!(super::nul_parameter("x%00=1").as_deref(), Some("query"));
        assert_eq!(super::nul_parameter("a=%2500&b=\\0"), None);
    }
}
