//! The steps of an `auth0-private-key-jwt` attempt, the rotation with no downtime: generate a key
//! pair and store it sealed as pending (committed before Auth0 hears of it) → register its public
//! half as a credential of the application and enable it *beside* the current one → prove it with
//! a token request → publish: write the private key and `kid` into the mapped secrets, queue
//! `secret-rotation.succeeded`, and rest until the overlap ends (no lease held) → when claimed
//! again after the overlap, disable and delete the old credential → record success.
//!
//! Each step is idempotent on resume and decided from the key pair's row, not from memory: a
//! credential is found again by its `kid` before one is created (never a third credential), and a
//! published key (its `overlap_until` set) is never published again. An earlier attempt that
//! failed for good while removing the old credential is completed by the next one first; one that
//! failed before publishing has its credential (whose key nobody received) removed by the next
//! one. A second enabled credential
//! Keyhold did not put there beside the current one is refused as a final failure, never removed.

use std::sync::atomic::Ordering;
use std::time::Instant;

use auth0::{
    AssertionCredentials, Auth0Error, ClientAssertion, Domain, NewCredential, SecretString,
    SigningAlg,
};
use broker::{Broker, Destination, rotation_secrets};
use store::connections::Connection;
use store::rotations::key_pairs::{self, KeyPair, KeySuccess, NewKeyAttempt, Registered};
use store::rotations::lease::{self, Lease};
use store::rotations::mapping::{ROLE_CLIENT_ID, ROLE_KEY_ID, ROLE_PRIVATE_KEY};
use store::rotations::schedule::{self, LastRotation, Schedule};
use store::rotations::{Attempt, AttemptStep, Rotation};
use store::{AttemptId, PrivateKeyId};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Engine;
use crate::JobOutcome;
use crate::attempt::{AttemptCtx, Cause, Stop, StopAt, audit_event, secret_written_event};
use crate::planner::Step;

/// The algorithm of the keys Keyhold generates (Auth0's default for credentials).
const ALG: SigningAlg = SigningAlg::RS256;

/// The final failure when a rotation of a connection's own key has a secrets mapping (the API
/// refuses one; a hand-edited row is not obeyed).
const OWN_KEY_MAPPED: &str = "this rotation renews its connection's own key, which never leaves Keyhold: remove its secrets mapping";

/// The final failure when the connection's key changed while its rotation ran.
const OWN_KEY_MOVED: &str = "the connection no longer signs with the key this rotation replaces (it changed meanwhile): the new key was not switched to; rotate again";

/// Auth0 enables at most two credentials per application.
const MAX_ENABLED: usize = 2;

/// The final failure when the application has no room for the new key.
pub(crate) const TWO_ENABLED: &str = "the application already has two Private Key JWT credentials enabled besides the new key (Auth0's maximum), and Keyhold does not remove a credential it did not put there: disable one in Auth0, then rotate again";

/// Whether the rotation renews the key of the connection it runs through: that connection then
/// signs with the new key once Auth0 has accepted it (the switch is part of the publish step),
/// and its private key is never written to a project secret.
fn renews_own_key(rotation: &Rotation, connection: &Connection) -> bool {
    connection.uses_private_key() && rotation.client_id == connection.client_id
}

/// The algorithm of a new key: a connection's own keeps the algorithm it was made with.
fn alg_for(rotation: &Rotation, connection: &Connection) -> SigningAlg {
    connection
        .key
        .key_alg
        .as_deref()
        .and_then(SigningAlg::parse)
        .filter(|_| renews_own_key(rotation, connection))
        .unwrap_or(ALG)
}

fn destination<'a>(rotation: &'a Rotation, connection: &'a Connection) -> Destination<'a> {
    Destination {
        domain: &connection.domain,
        client_id: &rotation.client_id,
    }
}

fn mgmt(err: Auth0Error) -> Cause {
    Cause::Auth0 { err, mgmt: true }
}

impl Engine {
    /// Runs one claimed key rotation to its next resting point: the overlap, or the end.
    pub(super) async fn drive_keys(
        &self,
        lease: &Lease,
        rotation: &Rotation,
        connection: &Connection,
        previous_owner: Option<&str>,
        ctx: &mut Option<AttemptCtx>,
    ) -> Result<JobOutcome, Stop> {
        let domain = Broker::domain(connection).stop_at(Step::Create)?;
        let (attempt, mut key) = match rotation.current_attempt_id {
            None => self
                .create_key(lease, rotation, connection)
                .await
                .stop_at(Step::Create)?,
            Some(id) => self
                .resume_key(lease, id, previous_owner)
                .await
                .stop_at(Step::Set)?,
        };
        let maybe_applied = key.auth0_credential_id.is_some()
            || attempt.tries > 1
            || attempt.step != AttemptStep::Created;
        let ctx = ctx.insert(AttemptCtx {
            attempt,
            secret: None,
            maybe_applied,
        });
        if key.overlap_until.is_some() {
            // Published: the rest of the attempt is removing the old credential.
            return self
                .remove_old(lease, rotation, connection, &domain, ctx, &key)
                .await
                .stop_at(Step::RemoveOld);
        }
        // Opened for where it is about to be registered: a rotation re-pointed since the key was
        // made fails here, before any network call.
        let pem = self
            .broker
            .open_rotation_private_key_for(
                &key,
                rotation.project_id,
                destination(rotation, connection),
            )
            .map_err(Cause::from)
            .stop_at(Step::Set)?;
        self.register(lease, rotation, connection, &domain, ctx, &mut key)
            .await
            .stop_at(Step::Set)?;
        self.test_key(rotation, &domain, &pem, &key)
            .await
            .stop_at(Step::Test)?;
        self.publish(lease, rotation, connection, ctx, &pem, &key)
            .await
            .stop_at(Step::Finish)
    }

    /// Generates the key pair and stores it sealed, with the attempt row, in one commit.
    async fn create_key(
        &self,
        lease: &Lease,
        rotation: &Rotation,
        connection: &Connection,
    ) -> Result<(Attempt, KeyPair), Cause> {
        // RSA key generation takes up to a second of CPU: off the async workers.
        let alg = alg_for(rotation, connection);
        let generated = tokio::task::spawn_blocking(move || auth0::generate_key(alg))
            .await
            .map_err(|err| Cause::Invalid(format!("key generation did not finish: {err}")))?
            .map_err(|err| Cause::Auth0 { err, mgmt: false })?;
        let attempt_id = AttemptId::new();
        let key_pair_id = PrivateKeyId::new();
        let to = destination(rotation, connection);
        let sealed = self.broker.seal_rotation_private_key(
            key_pair_id,
            rotation,
            to,
            &generated.private_key_pem,
        )?;
        let new = NewKeyAttempt {
            attempt_id,
            key_pair_id,
            private_key_sealed: &sealed,
            kid: &generated.kid,
            alg: alg.as_str(),
            public_key_pem: &generated.public_key_pem,
            domain: to.domain,
            client_id: to.client_id,
            is_manual: rotation.rotate_requested_at.is_some(),
        };
        let mut conn = self.broker.pool.acquire().await?;
        // One statement, committed on its own: durable before Auth0 hears of the key.
        let attempt = key_pairs::begin_attempt(&mut conn, lease, &new)
            .await?
            .ok_or(Cause::LeaseLost)?;
        let key = key_pairs::pending(&mut conn, attempt.id)
            .await?
            .ok_or(Cause::LeaseLost)?;
        tracing::info!(rotation.id = %rotation.id, attempt = attempt.attempt_no, kid = %key.kid, "key rotation started; new key stored as pending");
        Ok((attempt, key))
    }

    /// Picks the open attempt up again with its pending key: never a second key for an attempt.
    async fn resume_key(
        &self,
        lease: &Lease,
        attempt_id: AttemptId,
        previous_owner: Option<&str>,
    ) -> Result<(Attempt, KeyPair), Cause> {
        let note = previous_owner
            .filter(|owner| *owner != lease.owner)
            .map(|owner| format!("resumed after the lease of worker {owner} expired"));
        let mut conn = self.broker.pool.acquire().await?;
        let attempt = lease::resume_attempt(&mut conn, lease, attempt_id, note.as_deref())
            .await?
            .ok_or(Cause::LeaseLost)?;
        let key = key_pairs::pending(&mut conn, attempt_id)
            .await?
            .ok_or_else(|| {
                Cause::Invalid(
                    "the attempt's pending key is missing; a new attempt will start".into(),
                )
            })?;
        if let Some(note) = &note {
            tracing::warn!(rotation.id = %lease.rotation_id, attempt = attempt.attempt_no, "{note}");
        }
        Ok((attempt, key))
    }

    /// Registers the public key as a credential (unless Auth0 already has it, found by `kid`),
    /// records it, then enables it beside the credential enabled now. Repeating it changes nothing.
    async fn register(
        &self,
        lease: &Lease,
        rotation: &Rotation,
        connection: &Connection,
        domain: &Domain,
        ctx: &mut AttemptCtx,
        key: &mut KeyPair,
    ) -> Result<(), Cause> {
        let token = self.broker.management_token(connection).await?;
        // Without one of these Auth0 hides the enabled credentials, and "none shown" would read as
        // "none enabled": enabling the new key alone would cut off the key in use.
        if !token
            .scopes
            .iter()
            .any(|s| s == "read:client_credentials" || s == "read:client_keys")
        {
            return Err(Cause::Invalid("the connection's application lacks read:client_credentials, which Keyhold needs to keep the credential in use enabled beside the new key; grant it (with create:client_credentials, delete:client_credentials and update:clients) in Auth0".into()));
        }
        let client_id = rotation.client_id.as_str();
        self.broker.pacer.acquire(domain.as_str()).await?;
        let mut enabled = self
            .enabled_credentials(domain, &token.token, client_id)
            .await?;
        self.complete_removal(lease, rotation, domain, &token.token, &mut enabled)
            .await?;
        self.remove_unpublished(lease, rotation, domain, &token.token, &mut enabled)
            .await?;
        self.broker.pacer.acquire(domain.as_str()).await?;
        let listed = self
            .broker
            .auth0
            .list_credentials(domain, &token.token, client_id)
            .await
            .map_err(mgmt)?;
        let mut ours = listed.into_iter().find(|c| c.kid == key.kid).map(|c| c.id);
        let others: Vec<String> = enabled
            .into_iter()
            .filter(|id| Some(id) != ours.as_ref())
            .collect();
        if others.len() >= MAX_ENABLED {
            return Err(Cause::Invalid(TWO_ENABLED.into()));
        }
        let replaces = others.into_iter().next();
        let expires_at = self.key_expiry(rotation, &ctx.attempt)?;
        let credential_id = match ours.take() {
            Some(id) => id,
            None => {
                let credential = NewCredential {
                    name: format!("keyhold-{}", rotation.name),
                    public_key_pem: key.public_key_pem.clone(),
                    alg: SigningAlg::parse(&key.alg).unwrap_or(ALG),
                    kid: Some(key.kid.clone()),
                    expires_at: Some(expires_at.format(&Rfc3339).map_err(|err| {
                        Cause::Invalid(format!("the key's expiry cannot be written: {err}"))
                    })?),
                };
                ctx.maybe_applied = true;
                self.broker.pacer.acquire(domain.as_str()).await?;
                self.broker
                    .auth0
                    .create_credential(domain, &token.token, client_id, &credential)
                    .await
                    .map_err(mgmt)?
                    .id
            }
        };
        // Recorded before it is enabled: from here on a resumed attempt knows which credential is
        // the new one and which the old one to remove after the overlap.
        let registered = Registered {
            attempt_id: ctx.attempt.id,
            auth0_credential_id: &credential_id,
            replaces_credential_id: replaces.as_deref(),
            expires_at: Some(expires_at),
        };
        {
            let mut conn = self.broker.pool.acquire().await?;
            if !key_pairs::record_registered(&mut conn, lease, &registered).await? {
                return Err(Cause::LeaseLost);
            }
        }
        let mut ids: Vec<&str> = replaces.iter().map(String::as_str).collect();
        ids.push(&credential_id);
        self.enable_only(domain, &token.token, client_id, &ids)
            .await?;
        tracing::info!(rotation.id = %rotation.id, credential.id = %credential_id, replaces = ?replaces, "new key enabled beside the current one");
        key.auth0_credential_id = Some(credential_id);
        key.replaces_credential_id = replaces;
        key.expires_at = Some(expires_at);
        Ok(())
    }

    /// An earlier attempt of this rotation published its key, waited the overlap out, then failed
    /// for good while removing the old credential (both may still be enabled). Its overlap is
    /// over and the apps hold its key, so the removal it began is finished first: otherwise the
    /// two credentials would leave no room for the new key.
    async fn complete_removal(
        &self,
        lease: &Lease,
        rotation: &Rotation,
        domain: &Domain,
        token: &SecretString,
        enabled: &mut Vec<String>,
    ) -> Result<(), Cause> {
        let stuck = {
            let mut conn = self.broker.pool.acquire().await?;
            key_pairs::unfinished_removal(&mut conn, rotation.id).await?
        };
        let Some(stuck) = stuck else {
            return Ok(());
        };
        let (Some(published), Some(old)) = (
            stuck.auth0_credential_id.as_deref(),
            stuck.replaces_credential_id.as_deref(),
        ) else {
            return Ok(());
        };
        // Only while the published key is the one in use: if someone changed the application's
        // credentials since, the ordinary rule below decides.
        if !enabled.iter().any(|id| id == published) {
            return Ok(());
        }
        let client_id = rotation.client_id.as_str();
        if enabled.iter().any(|id| id == old) {
            self.enable_only(domain, token, client_id, &[published])
                .await?;
            enabled.retain(|id| id != old);
        }
        self.delete_credential(domain, token, client_id, old)
            .await?;
        let mut conn = self.broker.pool.acquire().await?;
        if !key_pairs::removal_completed(&mut conn, lease, stuck.id).await? {
            return Err(Cause::LeaseLost);
        }
        tracing::info!(rotation.id = %rotation.id, credential.id = old, "finished removing the credential an earlier attempt replaced");
        Ok(())
    }

    /// Credentials earlier attempts of this rotation registered (and maybe enabled) but never
    /// published — they failed for good in between — are Keyhold's own and no app holds their
    /// keys: disabled and deleted, so they do not take the room the new key needs. One that is
    /// the application's only enabled credential stays (disabling it would leave none).
    async fn remove_unpublished(
        &self,
        lease: &Lease,
        rotation: &Rotation,
        domain: &Domain,
        token: &SecretString,
        enabled: &mut Vec<String>,
    ) -> Result<(), Cause> {
        let unpublished = {
            let mut conn = self.broker.pool.acquire().await?;
            key_pairs::unpublished_credentials(&mut conn, rotation.id).await?
        };
        let client_id = rotation.client_id.as_str();
        for (key_pair_id, credential) in unpublished {
            let is_enabled = enabled.contains(&credential);
            if is_enabled && enabled.len() < 2 {
                continue;
            }
            if is_enabled {
                let rest: Vec<&str> = enabled
                    .iter()
                    .filter(|id| **id != credential)
                    .map(String::as_str)
                    .collect();
                self.enable_only(domain, token, client_id, &rest).await?;
                enabled.retain(|id| *id != credential);
            }
            self.delete_credential(domain, token, client_id, &credential)
                .await?;
            let mut conn = self.broker.pool.acquire().await?;
            if !key_pairs::unpublished_credential_removed(&mut conn, lease, key_pair_id).await? {
                return Err(Cause::LeaseLost);
            }
            tracing::info!(rotation.id = %rotation.id, credential.id = %credential, "removed the credential of an earlier attempt that never published its key");
        }
        Ok(())
    }

    /// Makes exactly `ids` the application's enabled Private Key JWT credentials (Auth0 replaces
    /// the list whole), in a paced slot of the tenant's budget.
    async fn enable_only(
        &self,
        domain: &Domain,
        token: &SecretString,
        client_id: &str,
        ids: &[&str],
    ) -> Result<(), Cause> {
        self.broker.pacer.acquire(domain.as_str()).await?;
        self.broker
            .auth0
            .enable_private_key_jwt(domain, token, client_id, ids)
            .await
            .map_err(mgmt)
    }

    /// Deletes a credential, in a paced slot; one already gone counts as deleted (an earlier try
    /// deleted it and did not hear the answer).
    async fn delete_credential(
        &self,
        domain: &Domain,
        token: &SecretString,
        client_id: &str,
        id: &str,
    ) -> Result<(), Cause> {
        self.broker.pacer.acquire(domain.as_str()).await?;
        match self
            .broker
            .auth0
            .delete_credential(domain, token, client_id, id)
            .await
        {
            Ok(()) | Err(Auth0Error::CredentialNotFound { .. }) => Ok(()),
            Err(err) => Err(mgmt(err)),
        }
    }

    /// The credentials the application has enabled for Private Key JWT (Auth0 omits
    /// `client_authentication_methods` while none is set).
    async fn enabled_credentials(
        &self,
        domain: &Domain,
        token: &SecretString,
        client_id: &str,
    ) -> Result<Vec<String>, Cause> {
        let path = format!(
            "/api/v2/clients/{}?fields=client_id,client_authentication_methods&include_fields=true",
            auth0::path_segment(client_id).map_err(mgmt)?
        );
        let answer = self
            .broker
            .auth0
            .management_json(domain, token, auth0::Method::GET, &path, None)
            .await
            .map_err(mgmt)?;
        Ok(
            answer.body["client_authentication_methods"]["private_key_jwt"]["credentials"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|c| c["id"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    /// `expires_at` of the new credential: the rotation after this one plus the overlap, so a key
    /// nobody rotates any more stops working on its own.
    fn key_expiry(&self, rotation: &Rotation, attempt: &Attempt) -> Result<OffsetDateTime, Cause> {
        let schedule = Schedule::of(rotation).map_err(|err| {
            Cause::Invalid(format!("the rotation's schedule is invalid: {err:?}"))
        })?;
        let now = OffsetDateTime::now_utc();
        let next = schedule::next_rotation_at(
            &schedule,
            Some(LastRotation {
                at: now,
                manual: attempt.is_manual,
            }),
            now,
        );
        let overlap = i64::from(rotation.overlap_seconds.unwrap_or_default());
        Ok(next + time::Duration::seconds(overlap))
    }

    /// Waits until Auth0 issues a token for a client assertion signed with the new key. A refusal
    /// for the missing grant comes after Auth0 authenticated the client, so it proves it too.
    async fn test_key(
        &self,
        rotation: &Rotation,
        domain: &Domain,
        pem: &SecretString,
        key: &KeyPair,
    ) -> Result<(), Cause> {
        let alg = SigningAlg::parse(&key.alg).unwrap_or(ALG);
        let started = Instant::now();
        loop {
            let creds = AssertionCredentials {
                domain: domain.clone(),
                client_id: rotation.client_id.clone(),
                assertion: ClientAssertion::new(pem.clone(), key.kid.clone(), alg)
                    .map_err(|err| Cause::Auth0 { err, mgmt: false })?,
                audience: domain.management_audience(),
            };
            match self.broker.auth0.client_assertion_token(&creds).await {
                Ok(_) | Err(Auth0Error::NoGrantForAudience { .. }) => return Ok(()),
                Err(Auth0Error::AssertionRejected { .. })
                    if started.elapsed() >= self.config.propagation_timeout =>
                {
                    return Err(Cause::NotAccepted(started.elapsed()));
                }
                Err(Auth0Error::AssertionRejected { .. }) => {
                    tokio::time::sleep(self.config.propagation_poll).await;
                }
                Err(err) => return Err(Cause::Auth0 { err, mgmt: false }),
            }
        }
    }

    /// Writes the new private key and `kid` into the mapped secrets (or, for a connection's own
    /// key, switches the connection to it), queues the event that tells apps to read them, and
    /// rests the attempt until the overlap ends — one transaction, so apps never read a key Auth0
    /// does not accept, and the wait is recorded exactly once.
    async fn publish(
        &self,
        lease: &Lease,
        rotation: &Rotation,
        connection: &Connection,
        ctx: &AttemptCtx,
        pem: &SecretString,
        key: &KeyPair,
    ) -> Result<JobOutcome, Cause> {
        let mapping = {
            let mut conn = self.broker.pool.acquire().await?;
            store::rotations::mapping::get(&mut conn, rotation.id).await?
        };
        let own = renews_own_key(rotation, connection);
        if own && mapping.is_some() {
            return Err(Cause::Invalid(OWN_KEY_MAPPED.into()));
        }
        let overlap = i64::from(rotation.overlap_seconds.unwrap_or_default());
        let until = OffsetDateTime::now_utc() + time::Duration::seconds(overlap);
        let mut tx = self.broker.pool.begin().await?;
        let written = match &mapping {
            Some(mapping) => {
                let client_id = SecretString::from(rotation.client_id.clone());
                let kid = SecretString::from(key.kid.clone());
                let values = [
                    (ROLE_CLIENT_ID, &client_id),
                    (ROLE_PRIVATE_KEY, pem),
                    (ROLE_KEY_ID, &kid),
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
        if !key_pairs::start_overlap(&mut tx, lease, ctx.attempt.id, until).await? {
            return Err(Cause::LeaseLost);
        }
        if own {
            self.switch_connection_key(&mut tx, rotation, connection, pem, key)
                .await?;
        }
        let mut data = serde_json::json!({
            "activeIndex": rotation.active_index,
            "keyId": key.kid,
            "credentialId": key.auth0_credential_id,
            "overlapUntil": until.format(&Rfc3339).unwrap_or_default(),
        });
        if !written.is_empty() {
            data["secretsWritten"] = written
                .iter()
                .map(|s| serde_json::json!({ "key": s.key, "role": s.role, "version": s.version }))
                .collect();
        }
        crate::webhooks::enqueue_rotation_event(
            &mut tx,
            "secret-rotation.succeeded",
            rotation,
            &ctx.attempt,
            data,
            None,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(rotation.id = %rotation.id, attempt = ctx.attempt.attempt_no, kid = %key.kid, overlap_secs = overlap, "new key published; the old credential is removed when the overlap ends");
        Ok(JobOutcome::Overlapping {
            attempt_no: ctx.attempt.attempt_no,
            until,
        })
    }

    /// Makes the connection sign with the new key from now on (Auth0 has just accepted it; the old
    /// one stays enabled until the overlap ends, for tokens and callers still holding it).
    async fn switch_connection_key(
        &self,
        tx: &mut sqlx::PgConnection,
        rotation: &Rotation,
        connection: &Connection,
        pem: &SecretString,
        key: &KeyPair,
    ) -> Result<(), Cause> {
        let from_kid = connection.key.key_kid.as_deref().unwrap_or_default();
        let alg = SigningAlg::parse(&key.alg).unwrap_or(ALG);
        let jwk = auth0::public_jwk(&key.public_key_pem, alg)
            .map_err(|err| Cause::Auth0 { err, mgmt: false })?;
        let row_id = PrivateKeyId::new();
        let sealed = self.broker.seal_connection_private_key(
            row_id,
            connection.id,
            connection.project_id,
            destination(rotation, connection),
            pem,
        )?;
        let private_key = store::connection_keys::PrivateKey {
            id: row_id,
            connection_id: connection.id,
            private_key_sealed: sealed,
        };
        let switch = store::connection_keys::Switch {
            connection_id: connection.id,
            from_kid,
            key: &private_key,
            public_key: store::connections::PublicKey {
                kid: &key.kid,
                alg: &key.alg,
                pem: &key.public_key_pem,
                jwk: &jwk,
            },
        };
        if !store::connection_keys::switch(tx, &switch).await? {
            return Err(Cause::Invalid(OWN_KEY_MOVED.into()));
        }
        tracing::info!(rotation.id = %rotation.id, connection.id = %connection.id, kid = %key.kid, "the connection signs with its new key");
        Ok(())
    }

    /// After the overlap: disables the old credential (the new one stays enabled alone), deletes
    /// it, and records the success. Both calls are harmless to repeat.
    async fn remove_old(
        &self,
        lease: &Lease,
        rotation: &Rotation,
        connection: &Connection,
        domain: &Domain,
        ctx: &AttemptCtx,
        key: &KeyPair,
    ) -> Result<JobOutcome, Cause> {
        let now = OffsetDateTime::now_utc();
        if let Some(until) = key.overlap_until.filter(|until| *until > now) {
            // Claimed early (a clock step, a hand edit): give the row back until the overlap ends.
            let wait = std::time::Duration::try_from(until - now).unwrap_or_default();
            return if lease::release(&self.broker.pool, lease, wait).await? {
                Ok(JobOutcome::Overlapping {
                    attempt_no: ctx.attempt.attempt_no,
                    until,
                })
            } else {
                Err(Cause::LeaseLost)
            };
        }
        let new = key.auth0_credential_id.as_deref().ok_or_else(|| {
            Cause::Invalid("the published key has no credential id recorded".into())
        })?;
        if let Some(old) = key.replaces_credential_id.as_deref() {
            let token = self.broker.management_token(connection).await?;
            self.enable_only(domain, &token.token, &rotation.client_id, &[new])
                .await?;
            self.delete_credential(domain, &token.token, &rotation.client_id, old)
                .await?;
            tracing::info!(rotation.id = %rotation.id, credential.id = old, "old credential disabled and deleted");
        }
        let next_rotation_at = Schedule::of(rotation)
            .ok()
            .filter(|_| rotation.is_auto_rotation_enabled)
            .map(|schedule| {
                schedule::next_rotation_at(
                    &schedule,
                    Some(LastRotation {
                        at: now,
                        manual: ctx.attempt.is_manual,
                    }),
                    now,
                )
            });
        let done = KeySuccess {
            attempt_id: ctx.attempt.id,
            is_manual: ctx.attempt.is_manual,
            next_rotation_at,
        };
        let audit = audit_event(
            &self.config.worker_id,
            rotation,
            &ctx.attempt,
            "success",
            serde_json::json!({
                "attemptNo": ctx.attempt.attempt_no,
                "isManual": ctx.attempt.is_manual,
                "keyId": key.kid,
                "credentialId": new,
                "removedCredentialId": key.replaces_credential_id,
            }),
        );
        let mut tx = self.broker.pool.begin().await?;
        if !key_pairs::finish_success(&mut tx, lease, &done).await? {
            return Err(Cause::LeaseLost);
        }
        store::audit::record(&mut tx, &audit).await?;
        tx.commit().await?;
        self.stats.rotated.fetch_add(1, Ordering::Relaxed);
        tracing::info!(rotation.id = %rotation.id, attempt = ctx.attempt.attempt_no, kid = %key.kid, "key rotation finished");
        Ok(JobOutcome::Rotated {
            attempt_no: ctx.attempt.attempt_no,
            active_index: rotation.active_index,
        })
    }
}
