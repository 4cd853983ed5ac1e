//! The four steps of an attempt, and picking an open attempt up again. Each returns why it
//! stopped ([`Cause`]); the engine's loop names the step ([`crate::attempt::StopAt`]).

use std::sync::atomic::Ordering;
use std::time::Instant;

use auth0::{Auth0Error, ClientCredentials, Domain};
use broker::Destination;
use broker::rotation_secrets;
use crypto::{ExposeSecret, SecretString};
use store::connections::Connection;
use store::rotations::lease::{self, Finish, Lease, NewAttempt, OwnConnection, Success};
use store::rotations::mapping::{ROLE_CLIENT_ID, ROLE_CLIENT_SECRET};
use store::rotations::schedule::{self, LastRotation, Schedule};
use store::rotations::{AttemptStep, Rotation};
use store::{AttemptId, CredentialId};
use time::OffsetDateTime;

use super::Engine;
use crate::JobOutcome;
use crate::attempt::{AttemptCtx, Cause, audit_event, secret_written_event};

/// Where a rotation's new secret goes: the connection's tenant, the rotated client.
fn destination<'a>(rotation: &'a Rotation, connection: &'a Connection) -> Destination<'a> {
    Destination {
        domain: &connection.domain,
        client_id: &rotation.client_id,
    }
}

/// The final failure of an attempt whose destination was re-pointed while it ran.
pub(super) const MOVED: &str = "the connection's tenant or the rotation's client changed during this attempt, so its new secret was not sent there; the secret stays stored (abandoned) for recovery. Start a new rotation to rotate the client the rotation names now";

/// The `secret-rotation.succeeded` event's own data: the active slot and, for a rotation with a
/// mapping, which secrets now hold the new credentials (names and versions, never a value), so a
/// receiver knows what to read again.
fn event_data(active_index: i16, written: &[rotation_secrets::WrittenSecret]) -> serde_json::Value {
    let mut data = serde_json::json!({ "activeIndex": active_index });
    if !written.is_empty() {
        data["secretsWritten"] = written
            .iter()
            .map(|s| serde_json::json!({ "key": s.key, "role": s.role, "version": s.version }))
            .collect();
    }
    data
}

impl Engine {
    /// Step 1: generate the secret and store it sealed, with the attempt row, in one commit.
    pub(super) async fn create(
        &self,
        lease: &Lease,
        rotation: &Rotation,
        connection: &Connection,
    ) -> Result<AttemptCtx, Cause> {
        let secret = crypto::random_secret(self.config.secret_length);
        let attempt_id = AttemptId::new();
        let credential_id = CredentialId::new();
        let to = destination(rotation, connection);
        let sealed = self
            .broker
            .seal_generated_secret(credential_id, rotation, to, &secret)?;
        let mut conn = self.broker.pool.acquire().await?;
        let new = NewAttempt {
            attempt_id,
            credential_id,
            sealed: &sealed,
            domain: to.domain,
            client_id: to.client_id,
            is_manual: rotation.rotate_requested_at.is_some(),
        };
        // One statement, committed on its own: durable before Auth0 hears of the secret.
        let attempt = lease::begin_attempt(&mut conn, lease, &new)
            .await?
            .ok_or(Cause::LeaseLost)?;
        tracing::info!(rotation.id = %rotation.id, attempt = attempt.attempt_no, "rotation started; new secret stored as pending");
        Ok(AttemptCtx {
            attempt,
            secret: Some(secret),
            maybe_applied: false,
        })
    }

    /// Picks the open attempt up again (a retry, or a takeover after a crash) with its pending
    /// secret: never a second secret for the same attempt.
    pub(super) async fn resume(
        &self,
        lease: &Lease,
        attempt_id: AttemptId,
        previous_owner: Option<&str>,
        rotation: &Rotation,
        connection: &Connection,
    ) -> Result<AttemptCtx, Cause> {
        let note = previous_owner
            .filter(|owner| *owner != lease.owner)
            .map(|owner| format!("resumed after the lease of worker {owner} expired"));
        let mut conn = self.broker.pool.acquire().await?;
        let attempt = lease::resume_attempt(&mut conn, lease, attempt_id, note.as_deref())
            .await?
            .ok_or(Cause::LeaseLost)?;
        let pending = store::rotations::pending_credential(&mut conn, attempt_id)
            .await?
            .ok_or_else(|| {
                Cause::Invalid(
                    "the attempt's pending secret is missing; a new attempt will start".into(),
                )
            })?;
        // Opened for where it would be sent now: if the connection or the rotation was
        // re-pointed since the attempt began, the secret stays sealed and the attempt fails.
        let secret = match self.broker.open_generated_secret_for(
            &pending,
            rotation.project_id,
            destination(rotation, connection),
        ) {
            Ok(secret) => Some(secret),
            Err(broker::Error::IssuedElsewhere) => None,
            Err(err) => return Err(err.into()),
        };
        if let Some(note) = &note {
            tracing::warn!(rotation.id = %lease.rotation_id, attempt = attempt.attempt_no, "{note}");
        }
        let maybe_applied = attempt.tries > 1 || attempt.step != AttemptStep::Created;
        Ok(AttemptCtx {
            attempt,
            secret,
            maybe_applied,
        })
    }

    /// Step 2: `PATCH` the client with the pending secret (paced per tenant).
    pub(super) async fn set(
        &self,
        ctx: &mut AttemptCtx,
        rotation: &Rotation,
        connection: &Connection,
        domain: &Domain,
    ) -> Result<(), Cause> {
        let mut retried_token = false;
        loop {
            let token = self.broker.management_token(connection).await?;
            self.broker.pacer.acquire(domain.as_str()).await?;
            let before = ctx.maybe_applied;
            ctx.maybe_applied = true;
            match self
                .broker
                .auth0
                .patch_client_secret(domain, &token.token, &rotation.client_id, ctx.secret()?)
                .await
            {
                Ok(()) => return Ok(()),
                Err(Auth0Error::TokenRejected) if !retried_token => {
                    ctx.maybe_applied = before;
                    retried_token = true;
                    self.broker.drop_token(connection, &token).await;
                }
                Err(err) => {
                    // A definite refusal (4xx) means this PATCH changed nothing.
                    if !err.is_retryable() {
                        ctx.maybe_applied = before;
                    }
                    if matches!(err, Auth0Error::TokenRejected) {
                        self.broker.drop_token(connection, &token).await;
                    }
                    return Err(Cause::Auth0 { err, mgmt: true });
                }
            }
        }
    }

    /// Step 3: wait until Auth0 accepts the new secret (propagation can take up to ~30 s).
    pub(super) async fn test(
        &self,
        ctx: &AttemptCtx,
        rotation: &Rotation,
        connection: &Connection,
        domain: &Domain,
    ) -> Result<(), Cause> {
        let started = Instant::now();
        loop {
            match self.probe(ctx, rotation, connection, domain).await {
                Ok(true) => return Ok(()),
                Ok(false) if started.elapsed() >= self.config.propagation_timeout => {
                    // Auth0 answered the PATCH with 200, so it has the secret: propagation is
                    // slower than we waited. Test again later; setting it again would restart
                    // the propagation. (If someone replaced it meanwhile, the attempt fails after
                    // its retries and says so; the next rotation sets a fresh one.)
                    return Err(Cause::NotAccepted(started.elapsed()));
                }
                Ok(false) => tokio::time::sleep(self.config.propagation_poll).await,
                Err(cause) => return Err(cause),
            }
        }
    }

    /// Does Auth0 accept the pending secret now? A client-credentials request with it proves it
    /// (a 403 for the missing grant comes after Auth0 authenticated the client, so it proves it
    /// too). A client without the client-credentials grant cannot be checked that way: read its
    /// secret back if the connection may (`read:client_keys`), else trust the `PATCH` answer.
    async fn probe(
        &self,
        ctx: &AttemptCtx,
        rotation: &Rotation,
        connection: &Connection,
        domain: &Domain,
    ) -> Result<bool, Cause> {
        let creds = ClientCredentials {
            domain: domain.clone(),
            client_id: rotation.client_id.clone(),
            client_secret: ctx.secret()?.clone(),
            audience: domain.management_audience(),
        };
        match self.broker.auth0.client_credentials_token(&creds).await {
            Ok(_) | Err(Auth0Error::NoGrantForAudience { .. }) => Ok(true),
            Err(Auth0Error::WrongCredentials) => Ok(false),
            Err(Auth0Error::GrantTypeNotAllowed) => {
                let token = self.broker.management_token(connection).await?;
                if !token.scopes.iter().any(|s| s == "read:client_keys") {
                    tracing::debug!(rotation.id = %rotation.id, "client cannot use client credentials and the connection cannot read secrets; trusting Auth0's PATCH answer");
                    return Ok(true);
                }
                self.broker.pacer.acquire(domain.as_str()).await?;
                let client = self
                    .broker
                    .auth0
                    .get_client(domain, &token.token, &rotation.client_id)
                    .await
                    .map_err(|err| Cause::Auth0 { err, mgmt: true })?;
                let pending = ctx.secret()?;
                Ok(client
                    .client_secret
                    .is_some_and(|s| s.expose_secret() == pending.expose_secret()))
            }
            Err(err) => Err(Cause::Auth0 { err, mgmt: false }),
        }
    }

    /// Step 4: one transaction promotes pending to current, finishes the attempt, reschedules,
    /// releases the lease and, for a self-rotation, replaces the connection's secret.
    pub(super) async fn finish(
        &self,
        lease: &Lease,
        rotation: &Rotation,
        connection: &Connection,
        ctx: &AttemptCtx,
    ) -> Result<JobOutcome, Cause> {
        let own = rotation.client_id == connection.client_id;
        let own_sealed = if own {
            let to = destination(rotation, connection);
            Some(self.broker.seal_connection_secret(
                connection.id,
                connection.project_id,
                to,
                ctx.secret()?,
            )?)
        } else {
            None
        };
        let mut tx = self.broker.pool.begin().await?;
        // Schedule from the claimed row; if the definition was edited during the attempt, the
        // write is refused and repeated with the row as it is now (locked).
        let mut basis = rotation.clone();
        let mut refreshed = false;
        let (active_index, connection_version, has_mapping) = loop {
            let now = OffsetDateTime::now_utc();
            let next_rotation_at = match Schedule::of(&basis) {
                Ok(schedule) if basis.is_auto_rotation_enabled => Some(schedule::next_rotation_at(
                    &schedule,
                    Some(LastRotation {
                        at: now,
                        manual: ctx.attempt.is_manual,
                    }),
                    now,
                )),
                _ => None,
            };
            let done = Success {
                attempt_id: ctx.attempt.id,
                is_manual: ctx.attempt.is_manual,
                next_rotation_at,
                schedule_version: basis.version,
                own_connection: own_sealed.as_ref().map(|sealed| OwnConnection {
                    connection_id: connection.id,
                    domain: &connection.domain,
                    client_id: &connection.client_id,
                    sealed,
                }),
            };
            match lease::finish_success(&mut tx, lease, &done).await? {
                Finish::Done {
                    active_index,
                    connection_version,
                    has_mapping,
                } => break (active_index, connection_version, has_mapping),
                // The finishing statement refuses a pending secret whose tenant or client the
                // connection or rotation no longer names; asked only then, to say so clearly.
                Finish::Stale if !lease::destination_unchanged(&mut tx, ctx.attempt.id).await? => {
                    return Err(Cause::Invalid(MOVED.into()));
                }
                Finish::Stale if !refreshed => {
                    basis = lease::lock_leased(&mut tx, lease)
                        .await?
                        .ok_or(Cause::LeaseLost)?;
                    refreshed = true;
                }
                Finish::Stale => return Err(Cause::LeaseLost),
            }
        };
        // In the transaction that records the success: a reader never sees a secret Auth0 has
        // not accepted, and the success is never recorded without the secrets written. A refusal
        // drops the transaction (rolling the finish back) and the attempt is tried again.
        // The mapping cannot change under an open attempt: the API refuses to edit it while one
        // is open (it checks under the rotation's row lock).
        let mapping = if has_mapping {
            store::rotations::mapping::get(&mut tx, rotation.id).await?
        } else {
            None
        };
        let written = match &mapping {
            Some(mapping) => {
                let client_id = SecretString::from(rotation.client_id.clone());
                let values = [
                    (ROLE_CLIENT_ID, &client_id),
                    (ROLE_CLIENT_SECRET, ctx.secret()?),
                ];
                let written = rotation_secrets::write_rotation_secrets(
                    &self.broker,
                    &mut tx,
                    rotation,
                    mapping,
                    &values,
                )
                .await
                .map_err(Cause::SecretsNotWritten)?;
                for secret in &written {
                    store::audit::record(
                        &mut tx,
                        &secret_written_event(&self.config.worker_id, rotation, mapping, secret),
                    )
                    .await
                    .map_err(|err| Cause::SecretsNotWritten(err.into()))?;
                }
                written
            }
            None => Vec::new(),
        };
        let audit = audit_event(
            &self.config.worker_id,
            rotation,
            &ctx.attempt,
            "success",
            serde_json::json!({
                "attemptNo": ctx.attempt.attempt_no,
                "isManual": ctx.attempt.is_manual,
                "activeIndex": active_index,
                "connectionUpdated": connection_version.is_some(),
                "secretsWritten": written.iter().map(|s| serde_json::json!({
                    "key": s.key, "role": s.role, "version": s.version,
                })).collect::<Vec<_>>(),
            }),
        );
        crate::webhooks::enqueue_rotation_event(
            &mut tx,
            "secret-rotation.succeeded",
            rotation,
            &ctx.attempt,
            event_data(active_index, &written),
            Some(&audit),
        )
        .await?;
        tx.commit().await?;
        if own {
            // The old secret is dead in Auth0 and the version moved on: drop the cached token
            // now rather than on the next 401.
            self.broker.forget_connection(connection);
        }
        self.stats.rotated.fetch_add(1, Ordering::Relaxed);
        tracing::info!(rotation.id = %rotation.id, attempt = ctx.attempt.attempt_no, self_rotation = own, "rotation finished");
        Ok(JobOutcome::Rotated {
            attempt_no: ctx.attempt.attempt_no,
            active_index,
        })
    }
}
