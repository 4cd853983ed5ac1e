//! `client_authentication_methods` in `PATCH /api/v2/clients/{id}`: which registered
//! credentials a client may sign Private Key JWT assertions with.
//!
//! Setting `{"private_key_jwt": {"credentials": [{"id": ...}]}}` switches the client from its
//! secret to assertions (at most two credentials, so an old and a new key can overlap); `null`
//! switches it back. Only `private_key_jwt` is emulated; the mTLS methods are refused clearly.

use serde_json::{Map, Value};

use super::input::Payload;
use crate::credentials::MAX_ENABLED;
use crate::errors::{MgmtError, MgmtResult};
use crate::model::Client;

const PROPERTY: &str = "client_authentication_methods";
const LIST: &str = "client_authentication_methods.private_key_jwt.credentials";

/// What a PATCH asks for: `None` leaves the methods alone, `Some(None)` clears them,
/// `Some(Some(ids))` enables exactly these credentials.
pub(crate) type MethodsChange = Option<Option<Vec<String>>>;

fn invalid(message: &str, property: &str) -> MgmtError {
    MgmtError::invalid_body(format!(
        "Payload validation error: '{message}' on property {property}."
    ))
}

pub(crate) fn parse(payload: &Payload) -> MgmtResult<MethodsChange> {
    let methods = match payload.0.get(PROPERTY) {
        None => return Ok(None),
        Some(Value::Null) => return Ok(Some(None)),
        Some(Value::Object(methods)) => methods,
        Some(_) => return Err(invalid("Expected type object", PROPERTY)),
    };
    for (key, value) in methods {
        match key.as_str() {
            "private_key_jwt" => {}
            // SDKs that serialize a whole typed model send the other methods as null.
            "tls_client_auth" | "self_signed_tls_client_auth" if value.is_null() => {}
            "tls_client_auth" | "self_signed_tls_client_auth" => {
                return Err(MgmtError::invalid_body(format!(
                    "{PROPERTY}.{key} (mTLS) is not emulated; use private_key_jwt."
                )));
            }
            other => {
                return Err(MgmtError::invalid_body(format!(
                    "Payload validation error: 'Additional properties not allowed: {other}' on property {PROPERTY}."
                )));
            }
        }
    }
    match methods.get("private_key_jwt") {
        // `{}` enables nothing: the same as clearing.
        None | Some(Value::Null) => Ok(Some(None)),
        Some(Value::Object(method)) => credential_ids(method).map(|ids| Some(Some(ids))),
        Some(_) => Err(invalid(
            "Expected type object",
            "client_authentication_methods.private_key_jwt",
        )),
    }
}

fn credential_ids(method: &Map<String, Value>) -> MgmtResult<Vec<String>> {
    let Some(Value::Array(items)) = method.get("credentials") else {
        return Err(invalid(
            "Missing required property: credentials",
            "client_authentication_methods.private_key_jwt",
        ));
    };
    if items.len() > MAX_ENABLED {
        return Err(invalid(
            &format!("Array is too long ({}), maximum {MAX_ENABLED}", items.len()),
            LIST,
        ));
    }
    if items.is_empty() {
        return Err(invalid("Array is too short (0), minimum 1", LIST));
    }
    let mut ids: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let id = item
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.get("id"))
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("Each credential must be an object {\"id\": string}", LIST))?;
        if ids.iter().any(|seen| seen == id) {
            return Err(invalid("Array items are not unique", LIST));
        }
        ids.push(id.to_owned());
    }
    Ok(ids)
}

/// Checks the change against the client (every id must be one of its credentials; a secret
/// method cannot be chosen while assertions stay in charge) and applies it.
pub(crate) fn apply(
    client: &mut Client,
    change: MethodsChange,
    sets_secret_method: bool,
) -> MgmtResult<()> {
    let enabling = match &change {
        Some(Some(_)) => true,
        Some(None) => false,
        None => client.uses_private_key_jwt(),
    };
    if enabling && sets_secret_method {
        return Err(MgmtError::invalid_body(
            "token_endpoint_auth_method cannot be set while client_authentication_methods is set; send client_authentication_methods: null to switch back to the client secret.",
        ));
    }
    if let Some(Some(ids)) = &change
        && let Some(missing) = ids.iter().find(|id| client.credential(id).is_none())
    {
        return Err(MgmtError::not_found(
            format!("The client credential {missing} does not exist"),
            "inexistent_client_credential",
        ));
    }
    if let Some(change) = change {
        client.private_key_jwt = change;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(body: &str) -> MgmtResult<MethodsChange> {
        parse(&Payload::parse(body.as_bytes()).unwrap())
    }

    #[test]
    fn shapes() {
        assert_eq!(parse_str("{}").unwrap(), None);
        assert_eq!(
            parse_str(r#"{"client_authentication_methods": null}"#).unwrap(),
            Some(None)
        );
        assert_eq!(
            parse_str(
                r#"{"client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": "cred_a"}, {"id": "cred_b"}]}}}"#
            )
            .unwrap(),
            Some(Some(vec!["cred_a".to_owned(), "cred_b".to_owned()]))
        );
        assert_eq!(
            parse_str(
                r#"{"client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": "cred_a"}]}, "tls_client_auth": null, "self_signed_tls_client_auth": null}}"#
            )
            .unwrap(),
            Some(Some(vec!["cred_a".to_owned()]))
        );
        for bad in [
            r#"{"client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}}}"#,
            r#"{"client_authentication_methods": {"private_key_jwt": {"credentials": []}}}"#,
            r#"{"client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": "a"}, {"id": "a"}]}}}"#,
            r#"{"client_authentication_methods": {"private_key_jwt": {"credentials": ["a"]}}}"#,
            r#"{"client_authentication_methods": {"tls_client_auth": {}}}"#,
            r#"{"client_authentication_methods": {"other": {}}}"#,
            r#"{"client_authentication_methods": 1}"#,
        ] {
            assert!(parse_str(bad).is_err(), "{bad}");
        }
    }
}
