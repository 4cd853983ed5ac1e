//! The `secret.created`, `secret.updated` and `secret.deleted` webhook events of a write to a
//! project secret, enqueued by the write itself on its connection, so they commit or roll back
//! with it. `data` names the secret and its version and who wrote it; it never holds the value
//! (this module never sees one: the store moves sealed bytes only).

use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{EnvironmentId, FolderId, ProjectId, Result, SecretId};

pub const CREATED: &str = "secret.created";
pub const UPDATED: &str = "secret.updated";
pub const DELETED: &str = "secret.deleted";

/// Who wrote a secret, as its `secret.*` event reports it (`data.writtenBy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writer {
    /// A project member through the API: the user's or machine identity's id, the audit row's
    /// `actor_id`.
    Member(Uuid),
    /// A secret rotation storing its new credential in a mapped secret: the rotation's id.
    Rotation(Uuid),
}

impl Writer {
    fn to_json(self) -> Value {
        match self {
            Writer::Member(id) => json!({ "type": "member", "id": id }),
            Writer::Rotation(id) => json!({ "type": "rotation", "id": id }),
        }
    }
}

/// The names and numbers of a secret an event reports.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct Written {
    pub id: SecretId,
    pub project_id: ProjectId,
    pub environment_slug: String,
    pub folder_path: String,
    pub key: String,
    pub version: i64,
}

impl From<&super::Secret> for Written {
    fn from(s: &super::Secret) -> Self {
        Written {
            id: s.id,
            project_id: s.project_id,
            environment_slug: s.environment_slug.clone(),
            folder_path: s.folder_path.clone(),
            key: s.key.clone(),
            version: s.latest_version,
        }
    }
}

/// The event's `data`; `previous_key` is set when an update renamed the secret.
pub(super) fn data(written: &Written, by: Writer, previous_key: Option<&str>) -> Value {
    let mut data = json!({
        "projectId": written.project_id,
        "secretId": written.id,
        "environment": written.environment_slug,
        "secretPath": written.folder_path,
        "secretKey": written.key,
        "version": written.version,
        "writtenBy": by.to_json(),
    });
    if let Some(previous) = previous_key {
        data["previousSecretKey"] = json!(previous);
    }
    data
}

/// Enqueues `event_type` for `written` on the writer's connection (so in its transaction).
pub(super) async fn report(
    conn: &mut PgConnection,
    event_type: &str,
    written: &Written,
    by: Writer,
    previous_key: Option<&str>,
) -> Result<()> {
    let event = crate::webhooks::NewEvent {
        project_id: written.project_id,
        event_type,
        data: data(written, by, previous_key),
    };
    crate::webhooks::enqueue(conn, &event).await?;
    Ok(())
}

/// What a secret was deleted with, when it was not deleted on its own.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Container {
    /// A folder and every folder under it.
    Folder(FolderId),
    Environment(EnvironmentId),
}

/// Enqueues `secret.deleted` for every secret `container` holds (with `deletedWith` saying why);
/// call it in the deleting transaction, before the delete. Nothing is read past the secrets'
/// names when no endpoint of the project subscribes, as a large folder means one event each.
pub(crate) async fn report_removed_with(
    conn: &mut PgConnection,
    container: Container,
    by: Writer,
) -> Result<()> {
    const COLUMNS: &str = "select s.id, s.project_id, e.slug as environment_slug, \
         f.path as folder_path, s.key, s.version from secrets s \
         join secret_folders f on f.id = s.folder_id \
         join environments e on e.id = s.environment_id";
    let (gone, with): (Vec<Written>, &str) = match container {
        Container::Folder(id) => (
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{COLUMNS} join secret_folders root on root.id = $1 \
                 where f.environment_id = root.environment_id \
                   and (f.id = root.id or starts_with(f.path, root.path || '/')) \
                 order by f.path, s.key"
            )))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?,
            "folder",
        ),
        Container::Environment(id) => (
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{COLUMNS} where s.environment_id = $1 order by f.path, s.key"
            )))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?,
            "environment",
        ),
    };
    let Some(first) = gone.first() else {
        return Ok(());
    };
    if !crate::webhooks::has_subscribers(conn, first.project_id, DELETED).await? {
        return Ok(());
    }
    for written in &gone {
        let mut data = data(written, by, None);
        data["deletedWith"] = json!(with);
        let event = crate::webhooks::NewEvent {
            project_id: written.project_id,
            event_type: DELETED,
            data,
        };
        crate::webhooks::enqueue(conn, &event).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_names_the_secret_and_its_writer() {
        let written = Written {
            id: SecretId(Uuid::nil()),
            project_id: ProjectId(Uuid::nil()),
            environment_slug: "prod".into(),
            folder_path: "/billing".into(),
            key: "API_KEY".into(),
            version: 3,
        };
        let rotation = Uuid::now_v7();
        let d = data(&written, Writer::Rotation(rotation), Some("OLD_KEY"));
        assert_eq!(d["environment"], "prod");
        assert_eq!(d["secretPath"], "/billing");
        assert_eq!(d["secretKey"], "API_KEY");
        assert_eq!(d["version"], 3);
        assert_eq!(d["writtenBy"]["type"], "rotation");
        assert_eq!(d["writtenBy"]["id"], rotation.to_string());
        assert_eq!(d["previousSecretKey"], "OLD_KEY");
        let d = data(&written, Writer::Member(rotation), None);
        assert_eq!(d["writtenBy"]["type"], "member");
        assert!(d.get("previousSecretKey").is_none());
    }
}
