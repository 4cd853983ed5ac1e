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
    ConnectionId, CredentialId, EnvironmentId, PrivateKeyId, ProjectId, RotationId, SecretId,
    SecretVersionId,
};

/// Table and field of a connection's own secret (also listed in `store::keyring::SEALED_COLUMNS`).
pub const CONNECTION_PLACE: (&str, &str) = ("app_connections", "client_secret");
/// Table and field of a `private-key-jwt` connection's private key (also listed in
/// `store::keyring::SEALED_COLUMNS`).
pub const PRIVATE_KEY_PLACE: (&str, &str) = ("connection_private_keys", "private_key");
/// Table and field of a generated secret (also listed in `store::keyring::SEALED_COLUMNS`).
pub const GENERATED_PLACE: (&str, &str) = ("rotation_credentials", "client_secret");
/// Table and field of the private key a key rotation generated (also listed in
/// `store::keyring::SEALED_COLUMNS`).
pub const ROTATION_KEY_PLACE: (&str, &str) = ("rotation_key_pairs", "private_key");
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

/// A connection's private key (row `id` of `connection_private_keys`), to sign assertions for `to`.
/// Bound like a client secret — tenant, client, project — and to its connection, so a key row
/// moved under another connection does not open.
pub fn connection_private_key(
    id: PrivateKeyId,
    connection_id: ConnectionId,
    project_id: ProjectId,
    to: Destination<'_>,
) -> Binding {
    let (table, field) = PRIVATE_KEY_PLACE;
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
            &project_id.to_string(),
            "connection",
            &connection_id.to_string(),
        ]),
    }
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

/// The private key of a key rotation's attempt (row `id` of `rotation_key_pairs`), issued for
/// `to`: bound like a generated secret — tenant, client, project and rotation — so a key row moved
/// under another rotation or project, or a rotation re-pointed at another tenant or client, does
/// not open, and the key is never written where its public half was not registered.
pub fn rotation_private_key(
    id: PrivateKeyId,
    rotation_id: RotationId,
    project_id: ProjectId,
    to: Destination<'_>,
) -> Binding {
    let (table, field) = ROTATION_KEY_PLACE;
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
            &project_id.to_string(),
            "rotation",
            &rotation_id.to_string(),
        ]),
    }
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

/// Table and fields of an audit log stream's signing secret and extra request headers (also in
/// `store::keyring::SEALED_COLUMNS`).
pub const AUDIT_STREAM_SECRET_PLACE: (&str, &str) =
    ("audit_streams", "audit_stream_signing_secret");
pub const AUDIT_STREAM_HEADERS_PLACE: (&str, &str) =
    ("audit_stream_headers", "audit_stream_headers");

/// An audit log stream's signing secret or headers (`place`): bound to the stream's row, its
/// organisation and its project (none for an organisation-wide stream), so a row moved to
/// another scope opens nothing.
pub fn audit_stream(
    place: (&'static str, &'static str),
    id: uuid::Uuid,
    org_id: store::OrgId,
    project_id: Option<ProjectId>,
) -> Binding {
    let (table, field) = place;
    let project = project_id.map_or_else(String::new, |p| p.to_string());
    Binding {
        table,
        record_id: id.to_string(),
        field,
        binding: encode(&["org", &org_id.to_string(), "project", &project]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_the_sealed_columns_rewrap_walks() {
        for (table, field) in [
            CONNECTION_PLACE,
            PRIVATE_KEY_PLACE,
            ROTATION_KEY_PLACE,
            GENERATED_PLACE,
            SECRET_VALUE_PLACE,
            WEBHOOK_SECRET_PLACE,
            AUDIT_STREAM_SECRET_PLACE,
            AUDIT_STREAM_HEADERS_PLACE,
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
    fn every_part_of_a_private_keys_destination_is_bound() {
        let id = PrivateKeyId::new();
        let connection = ConnectionId::new();
        let project = ProjectId::new();
        let to = |domain, client_id| Destination { domain, client_id };
        let base = connection_private_key(id, connection, project, to("a.auth0.com", "c1"));
        for other in [
            connection_private_key(id, connection, project, to("b.auth0.com", "c1")),
            connection_private_key(id, connection, project, to("a.auth0.com", "c2")),
            connection_private_key(id, connection, ProjectId::new(), to("a.auth0.com", "c1")),
            connection_private_key(id, ConnectionId::new(), project, to("a.auth0.com", "c1")),
        ] {
            assert_ne!(base.binding, other.binding);
        }
        // Never interchangeable with the same connection's client-secret binding.
        assert_ne!(
            base.table,
            connection_secret(connection, project, to("a.auth0.com", "c1")).table
        );
    }

    #[test]
    fn every_part_of_a_rotation_keys_destination_is_bound() {
        let id = PrivateKeyId::new();
        let rotation = RotationId::new();
        let project = ProjectId::new();
        let to = |domain, client_id| Destination { domain, client_id };
        let base = rotation_private_key(id, rotation, project, to("a.auth0.com", "c1"));
        for other in [
            rotation_private_key(id, rotation, project, to("b.auth0.com", "c1")),
            rotation_private_key(id, rotation, project, to("a.auth0.com", "c2")),
            rotation_private_key(id, rotation, ProjectId::new(), to("a.auth0.com", "c1")),
            rotation_private_key(id, RotationId::new(), project, to("a.auth0.com", "c1")),
        ] {
            assert_ne!(base.binding, other.binding);
        }
        // Never interchangeable with a connection's key or a generated secret of the same ids.
        assert_ne!(base.table, PRIVATE_KEY_PLACE.0);
        assert_ne!(base.table, GENERATED_PLACE.0);
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
