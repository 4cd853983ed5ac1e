//! A rotation with what its answers show beside it: its connection's name, its secrets mapping
//! and, for a key rotation in its overlap, when the overlap ends. Read for many rotations at once
//! (a list page, or single reads answered together) in three statements, whatever their number.

use std::collections::HashMap;

use sqlx::PgConnection;
use time::OffsetDateTime;

use super::mapping::{self, Mapping};
use super::{Rotation, key_pairs};
use crate::{ConnectionId, OrgId, Result, RotationId};

#[derive(Clone, Debug)]
pub struct Detailed {
    pub rotation: Rotation,
    /// Empty when the connection is gone (a rotation's connection cannot be deleted, so only
    /// in a race with a delete of both).
    pub connection_name: String,
    pub mapping: Option<Mapping>,
    pub overlap_until: Option<OffsetDateTime>,
}

/// The details of `rotations`, in their order.
pub async fn of(conn: &mut PgConnection, rotations: Vec<Rotation>) -> Result<Vec<Detailed>> {
    let ids: Vec<RotationId> = rotations.iter().map(|r| r.id).collect();
    let mappings = mapping::for_rotations(&mut *conn, &ids).await?;
    with_mappings(conn, rotations, mappings).await
}

/// [`of`] with the mappings already known: read by the caller, or kept from before a delete.
pub async fn with_mappings(
    conn: &mut PgConnection,
    rotations: Vec<Rotation>,
    mut mappings: HashMap<RotationId, Mapping>,
) -> Result<Vec<Detailed>> {
    let connection_ids: Vec<ConnectionId> = rotations.iter().map(|r| r.connection_id).collect();
    let key_ids: Vec<RotationId> = rotations
        .iter()
        .filter(|r| r.rotates_keys())
        .map(|r| r.id)
        .collect();
    let names = crate::connections::names(&mut *conn, &connection_ids).await?;
    let mut overlaps: HashMap<RotationId, OffsetDateTime> = if key_ids.is_empty() {
        HashMap::new()
    } else {
        key_pairs::overlaps(&mut *conn, &key_ids).await?
    };
    Ok(rotations
        .into_iter()
        .map(|rotation| Detailed {
            connection_name: names
                .get(&rotation.connection_id)
                .cloned()
                .unwrap_or_default(),
            mapping: mappings.remove(&rotation.id),
            overlap_until: overlaps.remove(&rotation.id),
            rotation,
        })
        .collect())
}

/// Many reads by id, each in its own organisation, with their details: one entry per read, in
/// order, `None` where the id is unknown or belongs to another organisation.
pub async fn get_in_orgs(
    conn: &mut PgConnection,
    reads: &[(OrgId, RotationId)],
) -> Result<Vec<Option<Detailed>>> {
    let ids: Vec<RotationId> = reads.iter().map(|(_, id)| *id).collect();
    let rotations = super::get_many(&mut *conn, &ids).await?;
    let found = of(conn, rotations).await?;
    Ok(crate::reads::hand_out(reads, found, |d, &(org_id, id)| {
        d.rotation.id == id && d.rotation.org_id == org_id
    }))
}
