//! `POST /oauth/token` (client-credentials grant) and the key discovery documents.
//!
//! Accepts what Auth0 accepts: a form-encoded or JSON body, and the client secret either in the
//! body (`client_secret_post`) or as HTTP Basic (`client_secret_basic`), or a Private Key JWT
//! client assertion (checked in `assertion`). The checks run in
//! Auth0's order — grant type, client authentication, the client's allowed grant types,
//! audience, client grant, requested scopes — and each failure answers with Auth0's status and
//! `{error, error_description}`. The tenant lock is released before signing.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use crate::assertion::{ASSERTION_TYPE, Assertion};
use crate::counters::CounterSet;
use crate::errors::OAuthError;
use crate::keys::{Audience, Claims};
use crate::server::TenantExt;
use crate::state::Tenant;

#[derive(Default, Deserialize)]
pub(crate) struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    audience: Option<String>,
    scope: Option<String>,
    client_assertion: Option<String>,
    client_assertion_type: Option<String>,
}

/// How the client authenticates: its secret (body or HTTP Basic) or a signed assertion.
enum ClientAuth {
    Secret(Option<String>),
    Assertion(String),
}

pub(crate) async fn issue(
    axum::Extension(tenant): TenantExt,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match issue_token(&tenant, &headers, &body) {
        Ok(response) => {
            CounterSet::bump(&tenant.counters.tokens_issued);
            response
        }
        Err(error) => {
            CounterSet::bump(&tenant.counters.token_failures);
            error.into_response()
        }
    }
}

fn issue_token(tenant: &Tenant, headers: &HeaderMap, body: &[u8]) -> Result<Response, OAuthError> {
    let mut request = parse_body(headers, body)?;
    let grant_type = request
        .grant_type
        .take()
        .filter(|g| !g.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: grant_type"))?;
    if grant_type != "client_credentials" {
        return Err(OAuthError::unsupported_grant_type(&grant_type));
    }
    let (client_id, auth) = client_authentication(&mut request, headers)?;
    let now = Instant::now();

    let (claims, expires_in) = {
        let data = tenant.read();
        let client = data
            .client(&client_id)
            .ok_or_else(OAuthError::unauthorized)?;
        match auth {
            ClientAuth::Secret(secret) => {
                let secret = secret.ok_or_else(OAuthError::unauthorized)?;
                if !client.accepts_secret(&secret, now) {
                    return Err(OAuthError::unauthorized());
                }
                // Only a caller who knows the secret learns that it no longer counts.
                if client.uses_private_key_jwt() {
                    return Err(OAuthError::invalid_client(
                        "The client authenticates with private_key_jwt; a client secret is not accepted",
                    ));
                }
            }
            ClientAuth::Assertion(token) => {
                let assertion = Assertion::decode(&token)?;
                let wall = time::OffsetDateTime::now_utc();
                let (jti, exp) = assertion.verify(client, &tenant.issuer, wall)?;
                if !tenant
                    .seen_assertions
                    .first_use(&client_id, jti, exp, wall.unix_timestamp())
                {
                    return Err(OAuthError::invalid_client(
                        "'jti' claim has already been used; a client assertion is good for one request",
                    ));
                }
            }
        }
        if !client.grant_types.iter().any(|g| g == "client_credentials") {
            return Err(OAuthError::grant_type_not_allowed(&grant_type));
        }
        // Without an audience Auth0 falls back to the tenant's default audience, which a fresh
        // tenant does not have, and answers with this historical message.
        let audience = request.audience.filter(|a| !a.is_empty()).ok_or_else(|| {
            OAuthError::forbidden_access_denied(
                "Non-global clients are not allowed access to APIv1",
            )
        })?;
        let api = data
            .resource_server(&audience)
            .ok_or_else(|| OAuthError::unknown_audience(&audience))?;
        let grant = data
            .grant(&client_id, &audience)
            .ok_or_else(|| OAuthError::no_grant(&audience))?;
        let scope = match request
            .scope
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => grant.scope.join(" "),
            Some(requested) => {
                let missing: Vec<&str> = requested
                    .split_whitespace()
                    .filter(|s| !grant.scope.iter().any(|g| g == s))
                    .collect();
                if !missing.is_empty() {
                    return Err(OAuthError::scopes_not_granted(&missing));
                }
                requested.split_whitespace().collect::<Vec<_>>().join(" ")
            }
        };
        let iat = unix_now();
        let expires_in = api.token_lifetime;
        let claims = Claims {
            iss: tenant.issuer.clone(),
            sub: format!("{client_id}@clients"),
            aud: Audience::One(audience),
            iat,
            exp: iat + expires_in,
            scope,
            gty: "client-credentials".to_owned(),
            azp: client_id,
        };
        (claims, expires_in)
    };

    let access_token = tenant.key.sign(&claims).map_err(|e| {
        tracing::error!(error = %e, "signing failed");
        OAuthError::status(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
    })?;
    let body = json!({
        "access_token": access_token,
        "scope": claims.scope,
        "expires_in": expires_in,
        "token_type": "Bearer",
    });
    let mut response = Json(body).into_response();
    // RFC 6749 §5.1: token responses must not be cached.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

pub(crate) fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        serde_json::from_slice(body)
            .map_err(|_| OAuthError::invalid_request("The request body is not valid JSON"))
    } else if content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.is_empty()
    {
        serde_urlencoded::from_bytes(body)
            .map_err(|_| OAuthError::invalid_request("The request body is not valid form data"))
    } else {
        // Auth0's body parsers ignore other media types, so the request has no parameters.
        Ok(TokenRequest::default())
    }
}

/// Who the client says it is and how it proves it: a client assertion (RFC 7523 §2.2) or a
/// secret. Sending an assertion and a secret together is refused (RFC 6749 §2.3).
fn client_authentication(
    request: &mut TokenRequest,
    headers: &HeaderMap,
) -> Result<(String, ClientAuth), OAuthError> {
    let assertion = request.client_assertion.take();
    let assertion_type = request.client_assertion_type.take();
    if assertion.is_none() && assertion_type.is_none() {
        let (id, secret) = client_credentials(request, headers)?;
        return Ok((id, ClientAuth::Secret(secret)));
    }
    if request.client_secret.is_some() || headers.contains_key(header::AUTHORIZATION) {
        return Err(OAuthError::invalid_request(
            "Client authentication must use only one method",
        ));
    }
    match assertion_type.as_deref() {
        Some(ASSERTION_TYPE) => {}
        None => {
            return Err(OAuthError::invalid_request(
                "Missing required parameter: client_assertion_type",
            ));
        }
        Some(_) => {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {ASSERTION_TYPE}"
            )));
        }
    }
    let assertion = assertion.filter(|a| !a.is_empty()).ok_or_else(|| {
        OAuthError::invalid_request("Missing required parameter: client_assertion")
    })?;
    // RFC 7523 §3: client_id is optional beside an assertion; `sub` names the client then.
    let id = match request.client_id.take().filter(|id| !id.is_empty()) {
        Some(id) => id,
        None => Assertion::decode(&assertion)?.subject()?,
    };
    Ok((id, ClientAuth::Assertion(assertion)))
}

/// The client id and secret from the body or from HTTP Basic (RFC 6749 §2.3.1: both parts
/// form-urlencoded). Using both mechanisms at once is refused, as the RFC requires.
fn client_credentials(
    request: &mut TokenRequest,
    headers: &HeaderMap,
) -> Result<(String, Option<String>), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .map(parse_basic)
        .transpose()?;
    match basic {
        Some((id, secret)) => {
            if request.client_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "Client authentication must use only one method",
                ));
            }
            if request
                .client_id
                .as_deref()
                .is_some_and(|body_id| body_id != id)
            {
                return Err(OAuthError::unauthorized());
            }
            Ok((id, Some(secret)))
        }
        None => {
            let id = request
                .client_id
                .take()
                .filter(|id| !id.is_empty())
                .ok_or_else(|| {
                    OAuthError::invalid_request("Missing required parameter: client_id")
                })?;
            Ok((id, request.client_secret.take()))
        }
    }
}

pub(crate) fn parse_basic(encoded: &str) -> Result<(String, String), OAuthError> {
    let malformed = || OAuthError::invalid_request("Malformed HTTP Basic authorization header");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |s: &str| form_urlencoded_component(s).ok_or_else(malformed);
    Ok((unescape(id)?, unescape(secret)?))
}

/// Decodes one `application/x-www-form-urlencoded` component.
fn form_urlencoded_component(s: &str) -> Option<String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&format!("v={}", s.replace('&', "%26").replace('=', "%3D")))
            .ok()?;
    pairs.into_iter().next().map(|(_, v)| v)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `GET /.well-known/jwks.json`: the tenant's public signing key.
pub(crate) async fn jwks(axum::Extension(tenant): TenantExt) -> Response {
    Json(json!({ "keys": [tenant.key.jwk()] })).into_response()
}

/// `GET /.well-known/openid-configuration`: the discovery fields clients use to find keys and
/// the token endpoint.
pub(crate) async fn openid_configuration(axum::Extension(tenant): TenantExt) -> Response {
    let issuer: &str = &tenant.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}authorize"),
        "token_endpoint": format!("{issuer}oauth/token"),
        "jwks_uri": format!("{issuer}.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "PS256"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = base64::engine::general_purpose::STANDARD.encode("my%20id:p%3Ass+w");
        assert_eq!(
            parse_basic(&header).unwrap(),
            ("my id".to_owned(), "p:ss w".to_owned())
        );
        assert!(parse_basic("***").is_err());
        let no_colon = base64::engine::general_purpose::STANDARD.encode("abc");
        assert!(parse_basic(&no_colon).is_err());
    }
}
