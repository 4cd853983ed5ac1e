//! What the API calls to steer workers: queue a rotation now and wake the workers through
//! `NOTIFY keyhold_rotations`. Both take the caller's connection, so they can share its
//! transaction (with the audit row); Postgres delivers a `NOTIFY` only when that commits.

use sqlx::PgConnection;
use store::rotations::RotateNow;
use store::{OrgId, RotationId};

use crate::error::Result;

/// The `LISTEN`/`NOTIFY` channel workers wake on. The payload is the rotation id (informative).
pub const CHANNEL: &str = "keyhold_rotations";

/// Wakes every worker (at commit, when called inside a transaction).
pub async fn notify(conn: &mut PgConnection, rotation_id: RotationId) -> Result<()> {
    sqlx::query("select pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(rotation_id.to_string())
        .execute(conn)
        .await
        .map_err(store::Error::from)?;
    Ok(())
}

/// "Rotate now": queues a manual rotation and wakes the workers, or reports that one is already
/// under way (`RotateNow::InProgress`, which the API answers with 409 "A rotation is already in
/// progress"). `store::Error::NotFound` for an unknown id.
pub async fn request_rotation(
    conn: &mut PgConnection,
    org_id: OrgId,
    rotation_id: RotationId,
) -> Result<RotateNow> {
    let outcome = store::rotations::request_rotation(conn, org_id, rotation_id).await?;
    if let RotateNow::Queued(_) = &outcome {
        notify(conn, rotation_id).await?;
    }
    Ok(outcome)
}
