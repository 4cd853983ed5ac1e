//! The one-time re-seal of Auth0 secrets stored before they were bound to their tenant and client:
//! each is opened with its old place-only binding and sealed again with the full one, taken from
//! its row as it stands at upgrade time. Runs at the start of `serve`, `worker` and `dev` (and in
//! `keyhold keys rewrap`); once a row is bound, nothing opens it the old way again.

use crypto::RootKeyring;
use sqlx::types::Uuid;
use store::PgPool;
use store::connections::Sealed;

use crate::aad::{self, Destination};
use crate::error::Result;

const BATCH: i64 = 500;

/// How many secrets one pass re-sealed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resealed {
    pub connections: u64,
    pub credentials: u64,
}

/// Re-seals every secret still under the old binding. Idempotent; safe beside running
/// processes (each row is swapped only if unchanged since it was read).
pub async fn legacy_secrets(pool: &PgPool, keyring: &RootKeyring) -> Result<Resealed> {
    let mut done = Resealed::default();
    let mut after = Uuid::nil();
    loop {
        let rows = store::unbound::connections(pool, after, BATCH).await?;
        let Some(last) = rows.last() else { break };
        after = last.id.0;
        for row in rows {
            let to = Destination {
                domain: &row.domain,
                client_id: &row.client_id,
            };
            let binding = aad::connection_secret(row.id, row.project_id, to);
            let sealed = reseal(keyring, &binding, &row.client_secret_sealed)?;
            if store::unbound::bind_connection(pool, row.id, &row.client_secret_sealed, &sealed)
                .await?
            {
                done.connections += 1;
            }
        }
    }
    let mut after = Uuid::nil();
    loop {
        let rows = store::unbound::credentials(pool, after, BATCH).await?;
        let Some(last) = rows.last() else { break };
        after = last.id.0;
        for row in rows {
            let to = Destination {
                domain: &row.domain,
                client_id: &row.client_id,
            };
            let binding = aad::generated_secret(row.id, row.rotation_id, row.project_id, to);
            let sealed = reseal(keyring, &binding, &row.client_secret_sealed)?;
            if store::unbound::bind_credential(pool, row.id, &row.client_secret_sealed, &sealed)
                .await?
            {
                done.credentials += 1;
            }
        }
    }
    if done != Resealed::default() {
        tracing::info!(
            connections = done.connections,
            credentials = done.credentials,
            "re-sealed stored secrets to bind them to their Auth0 tenant and client"
        );
    }
    Ok(done)
}

/// `sealed`, opened with its old place-only binding and sealed again with the full one.
fn reseal(keyring: &RootKeyring, binding: &aad::Binding, sealed: &Sealed) -> Result<Sealed> {
    let secret = keyring.open_str(&sealed.0, &binding.legacy_aad())?;
    Ok(Sealed(keyring.seal_str(&secret, &binding.aad())?))
}
