//! `/api/v1/auth/...`: log in with a machine identity or a user, and revoke tokens. Failures look the
//! same whether the id or the secret was wrong (same body, and argon2 runs against a decoy hash when
//! the id is unknown), are slowed, throttled (see `auth::throttle`), and audited. The argon2 check
//! outlives the request: see `Check`.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use crypto::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::auth::argon::Place;
use crate::auth::client_ip::throttle_key;
use crate::auth::throttle::{Attempt, Refused};
use crate::auth::tokens::{TokenService, hash_secret};
use crate::auth::{Caller, RequestMeta};
use crate::extract::ValidJson;
use crate::problem::{ApiError, ApiResult};
use crate::routes::table::Routes;

/// Every failed login takes at least this long, so guessing is slow and timing says nothing.
const FAILURE_FLOOR: Duration = Duration::from_millis(300);

pub fn routes() -> Routes {
    Routes::default()
        .post("/api/v1/auth/universal-auth/login", machine_login)
        .post("/api/v1/auth/login", user_login)
        .post("/api/v1/auth/token/revoke", revoke)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MachineLogin {
    client_id: String,
    client_secret: SecretString,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UserLogin {
    email: String,
    password: SecretString,
}

async fn machine_login(
    State(state): State<AppState>,
    meta: RequestMeta,
    body: ValidJson<MachineLogin>,
) -> ApiResult<Json<serde_json::Value>> {
    let input = body.value;
    let account = input.client_id.trim().to_owned();
    login(state, meta, "machine", account, input.client_secret).await
}

async fn user_login(
    State(state): State<AppState>,
    meta: RequestMeta,
    body: ValidJson<UserLogin>,
) -> ApiResult<Json<serde_json::Value>> {
    let input = body.value;
    let account = input.email.trim().to_lowercase();
    login(state, meta, "user", account, input.password).await
}

/// A hash of a random value with the real parameters, verified against when the account does not
/// exist, so a wrong id costs the same time as a wrong secret.
async fn decoy() -> ApiResult<String> {
    static DECOY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DECOY
        .get_or_try_init(|| crate::auth::argon::hash_unqueued(crypto::random_secret(32)))
        .await
        .cloned()
}

async fn login(
    state: AppState,
    meta: RequestMeta,
    kind: &'static str,
    account: String,
    secret: SecretString,
) -> ApiResult<Json<serde_json::Value>> {
    let started = Instant::now();
    // No client id or email holds a control character, and Postgres refuses NUL in text and jsonb
    // (an error, not "no such row"): replaced, such an account is simply one that does not exist,
    // and is audited and throttled like any other.
    let account: String = account
        .chars()
        .map(|c| {
            if c.is_control() {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .collect();
    let account_key = format!("{kind}:{account}");
    let address_key = throttle_key(meta.client_ip);
    // The address's budget in this process, then an argon2 place: a flood is refused at once,
    // before any query, and one address never holds more places than its budget.
    let busy = "too many logins are being checked right now; retry shortly";
    let guesses = "too many failed logins; wait before trying again";
    let hold_and_place = state
        .throttle
        .hold(&address_key)
        .map(|hold| (hold, state.argon.try_enter()));
    let admission = match hold_and_place {
        None => Err((guesses, Duration::from_secs(1))),
        Some((_, None)) => Err((busy, Duration::from_secs(1))),
        Some((hold, Some(place))) => match state
            .throttle
            .admit(&account_key, &address_key, hold, &state.argon, place)
            .await?
        {
            Ok(admitted) => Ok(admitted),
            Err(Refused::Busy) => Err((busy, Duration::from_secs(1))),
            Err(Refused::Wait(wait)) => Err((guesses, wait)),
        },
    };
    let (attempt, place) = match admission {
        Ok(admitted) => admitted,
        Err((detail, wait)) => {
            audit_login(&state, &meta, kind, &account, "throttled").await?;
            return Err(ApiError::TooManyRequests {
                detail: detail.to_owned(),
                retry_after_secs: wait.as_secs().max(1),
            });
        }
    };

    // The check runs as its own task, holding the attempt and the argon2 place: a client that
    // hangs up does not stop it, its attempt keeps counting against the account and the address
    // until the hash is done, and a failure is recorded and audited all the same.
    let check = Check {
        state: state.clone(),
        meta: meta.clone(),
        kind,
        account: account.clone(),
    };
    let record = tokio::spawn(check.run(attempt, place, secret))
        .await
        .map_err(ApiError::internal)??;

    let Some(record) = record else {
        tokio::time::sleep(FAILURE_FLOOR.saturating_sub(started.elapsed())).await;
        return Err(ApiError::Unauthenticated);
    };

    let (token, hash) = TokenService::mint();
    let expires_at = state.tokens.expires_at();
    let mut tx = state.db.begin().await?;
    store::tokens::insert(&mut tx, record.id, &hash, expires_at).await?;
    let mut event = login_event(&meta, kind, &account, "success");
    event.org_id = Some(record.org_id);
    event.actor_id = Some(record.id.0);
    event.resource_id = Some(record.id.to_string());
    store::audit::record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(Json(json!({
        "accessToken": token.expose_secret(),
        "expiresIn": state.tokens.ttl.as_secs(),
        "accessTokenMaxTTL": state.tokens.ttl.as_secs(),
        "tokenType": "Bearer",
    })))
}

/// One admitted login's lookup and argon2 check.
struct Check {
    state: AppState,
    meta: RequestMeta,
    kind: &'static str,
    account: String,
}

impl Check {
    /// The identity when the secret is right; `None` (recorded as a failure) otherwise.
    async fn run(
        self,
        attempt: Attempt,
        place: Place,
        secret: SecretString,
    ) -> ApiResult<Option<store::identities::LoginRecord>> {
        let Check {
            state,
            meta,
            kind,
            account,
        } = self;
        let record = if account.is_empty() || account.len() > 320 {
            None
        } else if kind == "machine" {
            store::identities::login_by_client_id(&state.db, &account).await?
        } else {
            store::identities::login_by_email(&state.db, &account).await?
        };
        let phc = match &record {
            Some(record) => record.secret_hash.clone(),
            None => decoy().await?,
        };
        let matches = crate::auth::argon::verify(place, secret, phc).await?;
        match record.filter(|_| matches) {
            Some(record) => {
                attempt.succeeded().await?;
                Ok(Some(record))
            }
            None => {
                attempt.failed().await?;
                audit_login(&state, &meta, kind, &account, "failure").await?;
                Ok(None)
            }
        }
    }
}

fn login_event(
    meta: &RequestMeta,
    kind: &str,
    account: &str,
    outcome: &str,
) -> store::audit::NewEvent {
    store::audit::NewEvent {
        org_id: None,
        project_id: None,
        actor_id: None,
        actor_kind: kind.to_owned(),
        action: "auth.login".to_owned(),
        resource_type: "identity".to_owned(),
        resource_id: None,
        outcome: outcome.to_owned(),
        request_id: meta.request_id.clone(),
        source_ip: meta.source_ip.clone(),
        // The account name (client id or email) is not a secret; the secret never reaches here.
        metadata: json!({ "account": account }),
    }
}

async fn audit_login(
    state: &AppState,
    meta: &RequestMeta,
    kind: &str,
    account: &str,
    outcome: &str,
) -> ApiResult<()> {
    let event = login_event(meta, kind, account, outcome);
    let mut conn = state.db.acquire().await?;
    store::audit::record(&mut conn, &event).await?;
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RevokeIn {
    #[serde(default)]
    access_token: Option<SecretString>,
}

/// Revokes the given token (one of the caller's own), or the one this request was made with.
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let body = body.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest {
                detail: "could not read the request body".to_owned(),
                field: None,
            }
        }
    })?;
    // The body is optional: none revokes the token this request was made with.
    let input: RevokeIn = if body.is_empty() {
        RevokeIn::default()
    } else if crate::extract::is_json(headers.get(axum::http::header::CONTENT_TYPE)) {
        crate::extract::parse_json(&body)?
    } else {
        return Err(ApiError::UnsupportedMediaType);
    };
    let hash = match input.access_token {
        Some(token) => hash_secret(&token),
        None => caller.token_hash,
    };
    let mut tx = state.db.begin().await?;
    let revoked = store::tokens::revoke(&mut tx, caller.identity_id, &hash).await?;
    if !revoked {
        return Err(ApiError::NotFound {
            what: "access token",
            field: Some("accessToken"),
        });
    }
    store::audit::record(
        &mut tx,
        &caller.event(
            "auth.token.revoke",
            "access_token",
            caller.identity_id,
            None,
            json!({}),
        ),
    )
    .await?;
    tx.commit().await?;
    state.tokens.forget(&hash);
    Ok(Json(json!({ "revoked": true })))
}
