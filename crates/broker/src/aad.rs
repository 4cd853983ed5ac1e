//! The one rule for what a sealed Auth0 secret is bound to. Every seal and every open of a
//! connection's secret or a generated secret goes through here, so a secret sealed by the API
//! opens in the worker with the same rule, not a copy of it.
//!
//! The place (table, row id, field) binds the data key and the payload, as for every envelope.
//! The payload is also bound to where the secret was issued — tenant domain, client id, project
//! and, for generated secrets, the rotation — so that opening a secret in order to send it to a
//! tenant or client computes the binding from *that destination*: if a connection was re-pointed
//! at another host, or a row was moved to another project's rotation, the open fails before any
//! network call.

use crypto::Aad;
use store::connections::Connection;
use store::rotations::{Credential, Rotation};
use store::{
    ConnectionId, CredentialId, EnvironmentId, ProjectId, RotationId, SecretId, SecretVersionId,
};

/// Table and field of a connection's own secret (also listed in `store::keyring::SEALED_COLUMNS`).
pub const CONNECTION_PLACE: (&str, &str) = ("app_connections", "client_secret");
/// Table and field of a generated secret (also listed in `store::keyring::SEALED_COLUMNS`).
pub const GENERATED_PLACE: (&str, &str) = ("rotation_credentials", "client_secret");
/// Table and field of a project secret's value, one row per version (also listed in
/// `store::keyring::SEALED_COLUMNS`).
pub const SECRET_VALUE_PLACE: (&str, &str) = ("secret_versions", "value");

/// Where a secret may go: the Auth0 tenant and the client it authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination<'a> {
    pub domain: &'a str,
    pub client_id: &'a str,
}

/// Associated data with its strings owned; borrow an [`Aad`] from it with [`Binding::aad`].
#[derive(Debug)]
pub struct Binding {
    table: &'static str,
    record_id: String,
    field: &'static str,
    binding: String,
}

impl Binding {
    pub fn aad(&self) -> Aad<'_> {
        Aad::new(self.table, &self.record_id, self.field).bound(&self.binding)
    }

    /// The place alone, as envelopes were bound before bindings existed: only the one-time
    /// re-seal of such rows may open with it.
    pub fn legacy_aad(&self) -> Aad<'_> {
        Aad::new(self.table, &self.record_id, self.field)
    }
}

/// JSON of a list of strings: unambiguous whatever the parts contain.
fn encode(parts: &[&str]) -> String {
    serde_json::Value::from(parts).to_string()
}

/// A connection's secret, to be sent to `to` (normally the connection's own domain and client).
pub fn connection_secret(id: ConnectionId, project_id: ProjectId, to: Destination<'_>) -> Binding {
    let (table, field) = CONNECTION_PLACE;
    let project = project_id.to_string();
    Binding {
        table,
        record_id: id.to_string(),
        field,
        binding: encode(&[
            "tenant",
            to.domain,
            "client",
            to.client_id,
            "project",
            &project,
        ]),
    }
}

/// The connection's secret as its row says: domain and client id are the row's own, which is
/// exactly where a connection's secret is sent.
pub fn connection(connection: &Connection) -> Binding {
    connection_secret(
        connection.id,
        connection.project_id,
        Destination {
            domain: &connection.domain,
            client_id: &connection.client_id,
        },
    )
}

/// A generated secret of `rotation`, to be sent to `to`.
pub fn generated_secret(
    id: CredentialId,
    rotation_id: RotationId,
    project_id: ProjectId,
    to: Destination<'_>,
) -> Binding {
    let (table, field) = GENERATED_PLACE;
    let project = project_id.to_string();
    let rotation = rotation_id.to_string();
    Binding {
        table,
        record_id: id.to_string(),
        field,
        binding: encode(&[
            "tenant",
            to.domain,
            "client",
            to.client_id,
            "project",
            &project,
            "rotation",
            &rotation,
        ]),
    }
}

/// A generated secret as it was issued (the credential row's own tenant and client), for the
/// audited reveal, which shows the secret beside the client id it belongs to. The rotation and
/// project come from the rotation the caller was authorised for, so a row moved under another
/// project's rotation does not open.
pub fn generated_as_issued(credential: &Credential, rotation: &Rotation) -> Binding {
    generated_secret(
        credential.id,
        rotation.id,
        rotation.project_id,
        Destination {
            domain: &credential.domain,
            client_id: &credential.client_id,
        },
    )
}

/// Where a project secret's value belongs: its project, environment, secret and version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecretPlace {
    pub project_id: ProjectId,
    pub environment_id: EnvironmentId,
    pub secret_id: SecretId,
    pub version: i64,
}

/// The value of one version of a project secret, stored in the `secret_versions` row `id`. A
/// value copied to another row, secret, version, environment or project does not open.
pub fn secret_value(id: SecretVersionId, place: SecretPlace) -> Binding {
    let (table, field) = SECRET_VALUE_PLACE;
    Binding {
        table,
        record_id: id.to_string(),
        field,
        binding: encode(&[
            "project",
            &place.project_id.to_string(),
            "environment",
            &place.environment_id.to_string(),
            "secret",
            &place.secret_id.to_string(),
            "version",
            &place.version.to_string(),
        ]),
    }
}

/// Table and field of a webhook endpoint's signing secret (also in `store::keyring::SEALED_COLUMNS`).
pub const WEBHOOK_SECRET_PLACE: (&str, &str) = ("webhook_signing_secrets", "signing_secret");

/// A webhook endpoint's signing secret: bound to its row, its project and its endpoint, so a row
/// moved under another endpoint or project does not open (and signs nothing).
pub fn webhook_secret(id: uuid::Uuid, project_id: ProjectId, endpoint_id: uuid::Uuid) -> Binding {
    let (table, field) = WEBHOOK_SECRET_PLACE;
    Binding {
        table,
        record_id: id.to_string(),
        field,
        binding: encode(&[
            "project",
            &project_id.to_string(),
            "webhook",
            &endpoint_id.to_string(),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_the_sealed_columns_rewrap_walks() {
        for (table, field) in [
            CONNECTION_PLACE,
            GENERATED_PLACE,
            SECRET_VALUE_PLACE,
            WEBHOOK_SECRET_PLACE,
        ] {
            assert!(
                store::keyring::SEALED_COLUMNS
                    .iter()
                    .any(|c| c.table == table && c.aad_field == field),
                "{table}.{field} missing from SEALED_COLUMNS"
            );
        }
    }

    #[test]
    fn every_part_of_the_destination_is_bound() {
        let id = ConnectionId::new();
        let project = ProjectId::new();
        let to = |domain, client_id| Destination { domain, client_id };
        let base = connection_secret(id, project, to("a.auth0.com", "c1")).binding;
        for other in [
            connection_secret(id, project, to("b.auth0.com", "c1")).binding,
            connection_secret(id, project, to("a.auth0.com", "c2")).binding,
            connection_secret(id, ProjectId::new(), to("a.auth0.com", "c1")).binding,
            // A separator inside a part cannot shift another part's boundary.
            connection_secret(id, project, to("a.auth0.com\",\"client", "c1")).binding,
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn every_part_of_a_secret_values_place_is_bound() {
        let id = SecretVersionId::new();
        let place = SecretPlace {
            project_id: ProjectId::new(),
            environment_id: EnvironmentId::new(),
            secret_id: SecretId::new(),
            version: 3,
        };
        let base = secret_value(id, place);
        let others = [
            secret_value(SecretVersionId::new(), place),
            secret_value(
                id,
                SecretPlace {
                    project_id: ProjectId::new(),
                    ..place
                },
            ),
            secret_value(
                id,
                SecretPlace {
                    environment_id: EnvironmentId::new(),
                    ..place
                },
            ),
            secret_value(
                id,
                SecretPlace {
                    secret_id: SecretId::new(),
                    ..place
                },
            ),
            secret_value(
                id,
                SecretPlace {
                    version: 4,
                    ..place
                },
            ),
        ];
        for other in others {
            assert!(other.record_id != base.record_id || other.binding != base.binding);
        }
    }
}
