//! `secret_folders`: folders within an environment. Every environment has an explicit root folder
//! (path `/`, made by a trigger with the environment); every other folder has a parent and a
//! materialised `path` (`/orders/api`), so resolving a path is one lookup on
//! `(environment_id, path)`. Paths reaching here are already checked by the API.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use crate::{EnvironmentId, FolderId, ProjectId, Result};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Folder {
    pub id: FolderId,
    pub project_id: ProjectId,
    pub environment_id: EnvironmentId,
    pub environment_slug: String,
    pub parent_id: Option<FolderId>,
    /// Empty for the root.
    pub name: String,
    pub path: String,
    pub description: Option<String>,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

const SELECT: &str = "select f.id, e.project_id, f.environment_id, e.slug as environment_slug, \
     f.parent_id, f.name, f.path, f.description, f.version, f.created_at, f.updated_at \
     from secret_folders f join environments e on e.id = f.environment_id";

/// The path of `name` inside the folder at `parent`.
pub fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// The folder at `path` (`/` is the root) of an environment.
pub async fn by_path(
    conn: &mut PgConnection,
    environment_id: EnvironmentId,
    path: &str,
) -> Result<Folder> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where f.environment_id = $1 and f.path = $2"
    )))
    .bind(environment_id)
    .bind(path)
    .fetch_one(conn)
    .await?)
}

/// The folder at `path` of a project's environment `slug`, in one statement. `NotFound` when
/// either is not there.
pub async fn at_slug(
    pool: &PgPool,
    project_id: ProjectId,
    slug: &str,
    path: &str,
) -> Result<Folder> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where e.project_id = $1 and e.slug = $2 and f.path = $3"
    )))
    .bind(project_id)
    .bind(slug)
    .bind(path)
    .fetch_one(pool)
    .await?)
}

/// A folder by id, with the project it belongs to (for the caller's check).
pub async fn get(pool: &PgPool, id: FolderId) -> Result<Folder> {
    Ok(
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where f.id = $1")))
            .bind(id)
            .fetch_one(pool)
            .await?,
    )
}

/// The folders directly inside `parent`, or with `recursive` every folder below it, by path.
pub async fn list(
    conn: &mut PgConnection,
    parent: &Folder,
    recursive: bool,
) -> Result<Vec<Folder>> {
    let rows = if recursive {
        let prefix = if parent.path == "/" {
            "/".to_owned()
        } else {
            format!("{}/", parent.path)
        };
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} where f.environment_id = $1 and f.parent_id is not null \
             and starts_with(f.path, $2) order by f.path"
        )))
        .bind(parent.environment_id)
        .bind(prefix)
        .fetch_all(conn)
        .await?
    } else {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} where f.parent_id = $1 order by f.name"
        )))
        .bind(parent.id)
        .fetch_all(conn)
        .await?
    };
    Ok(rows)
}

pub async fn create(
    conn: &mut PgConnection,
    parent: &Folder,
    name: &str,
    description: Option<&str>,
) -> Result<Folder> {
    let id = FolderId::new();
    sqlx::query(
        "insert into secret_folders (id, environment_id, parent_id, name, path, description) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(parent.environment_id)
    .bind(parent.id)
    .bind(name)
    .bind(child_path(&parent.path, name))
    .bind(description)
    .execute(&mut *conn)
    .await?;
    by_id(conn, id).await
}

async fn by_id(conn: &mut PgConnection, id: FolderId) -> Result<Folder> {
    Ok(
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where f.id = $1")))
            .bind(id)
            .fetch_one(conn)
            .await?,
    )
}

/// Renames a (non-root) folder and moves every path below it; `description`: `Some(None)` clears.
pub async fn update(
    conn: &mut PgConnection,
    folder: &Folder,
    name: Option<&str>,
    description: Option<Option<&str>>,
) -> Result<Folder> {
    if let Some(name) = name.filter(|n| *n != folder.name) {
        let parent_path = folder
            .path
            .rsplit_once('/')
            .map(|(p, _)| if p.is_empty() { "/" } else { p })
            .unwrap_or("/");
        let new_path = child_path(parent_path, name);
        // Descendants first would collide with nothing: their new prefix is new. One statement
        // moves the folder and everything below it.
        sqlx::query(
            "update secret_folders set \
               name = case when id = $2 then $3 else name end, \
               path = $4 || substr(path, length($5) + 1), \
               updated_at = now(), version = version + case when id = $2 then 1 else 0 end \
             where environment_id = $1 and (path = $5 or starts_with(path, $5 || '/'))",
        )
        .bind(folder.environment_id)
        .bind(folder.id)
        .bind(name)
        .bind(&new_path)
        .bind(&folder.path)
        .execute(&mut *conn)
        .await?;
    }
    if let Some(description) = description {
        sqlx::query(
            "update secret_folders set description = $2, updated_at = now(), \
             version = version + 1 where id = $1",
        )
        .bind(folder.id)
        .bind(description)
        .execute(&mut *conn)
        .await?;
    }
    by_id(conn, folder.id).await
}

/// How many folders and secrets a folder holds, at any depth.
pub async fn contents(conn: &mut PgConnection, folder: &Folder) -> Result<(i64, i64)> {
    let prefix = format!("{}/", folder.path);
    Ok(sqlx::query_as(
        "select \
           (select count(*) from secret_folders where environment_id = $1 and starts_with(path, $2)), \
           (select count(*) from secrets s join secret_folders f on f.id = s.folder_id \
             where f.environment_id = $1 and (f.path = $3 or starts_with(f.path, $2)))",
    )
    .bind(folder.environment_id)
    .bind(prefix)
    .bind(&folder.path)
    .fetch_one(conn)
    .await?)
}

/// Deletes a folder with everything in it; every secret in it is reported as `secret.deleted`
/// (`deletedWith: "folder"`), written by `by`.
pub async fn delete(
    conn: &mut PgConnection,
    id: FolderId,
    by: &crate::secrets::Writer,
) -> Result<()> {
    use crate::secrets::events::{Container, report_removed_with};
    report_removed_with(&mut *conn, Container::Folder(id), *by).await?;
    let done = sqlx::query("delete from secret_folders where id = $1 and parent_id is not null")
        .bind(id)
        .execute(conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(crate::Error::NotFound);
    }
    Ok(())
}
