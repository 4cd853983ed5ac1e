//! Steering workers from the API: queue a rotation now and wake every worker through
//! `NOTIFY keyhold_rotations`. Both take the caller's connection, so they share its transaction
//! (with the audit row); Postgres delivers a `NOTIFY` only when that commits.

use sqlx::PgConnection;

use super::{RotateNow, request_rotation};
use crate::{OrgId, Result, RotationId};

/// The `LISTEN`/`NOTIFY` channel workers wake on. The payload is the rotation id (informative).
pub const CHANNEL: &str = "keyhold_rotations";

/// Wakes every worker (at commit, when called inside a transaction).
pub async fn notify(conn: &mut PgConnection, rotation_id: RotationId) -> Result<()> {
    sqlx::query("select pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(rotation_id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// "Rotate now": queues a manual rotation and wakes the workers, or reports that one is already
/// under way (`RotateNow::InProgress`, which the API answers with 409 "A rotation is already in
/// progress"). `Error::NotFound` for an unknown id.
pub async fn rotate_now(
    conn: &mut PgConnection,
    org_id: OrgId,
    rotation_id: RotationId,
) -> Result<RotateNow> {
    let outcome = request_rotation(conn, org_id, rotation_id).await?;
    if let RotateNow::Queued(_) = &outcome {
        notify(conn, rotation_id).await?;
    }
    Ok(outcome)
}
