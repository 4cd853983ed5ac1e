//! Typed ids so a project id can never be passed where a connection id is meant.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($name:ident) => {
        #[derive(
            Clone,
            Copy,
            Debug,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            Serialize,
            Deserialize,
            sqlx::Type,
        )]
        #[sqlx(transparent)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Time-ordered (v7) so new rows land at the end of btree indexes.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(OrgId);
id_type!(ProjectId);
id_type!(ConnectionId);
id_type!(IdentityId);
id_type!(RotationId);
id_type!(AttemptId);
id_type!(CredentialId);
id_type!(EnvironmentId);
id_type!(FolderId);
id_type!(PrivateKeyId);
id_type!(SecretId);
id_type!(SecretVersionId);
