//! `audit_events`: the append-only record of mutations, logins, reveals and rotations. A trigger
//! refuses updates and deletes; metadata must never hold a secret (callers pass only ids and names).

use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::page::PageRequest;
use crate::{OrgId, ProjectId, Result};

/// One event to record.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub org_id: Option<OrgId>,
    pub project_id: Option<ProjectId>,
    pub actor_id: Option<Uuid>,
    pub actor_kind: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub metadata: serde_json::Value,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Event {
    pub id: Uuid,
    pub org_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub actor_kind: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub metadata: serde_json::Value,
    pub created_at: OffsetDateTime,
}

pub async fn record(conn: &mut PgConnection, event: &NewEvent) -> Result<()> {
    sqlx::query(
        "insert into audit_events (id, org_id, project_id, actor_id, actor_kind, action, resource_type, \
         resource_id, outcome, request_id, source_ip, metadata) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(Uuid::now_v7())
    .bind(event.org_id)
    .bind(event.project_id)
    .bind(event.actor_id)
    .bind(&event.actor_kind)
    .bind(&event.action)
    .bind(&event.resource_type)
    .bind(&event.resource_id)
    .bind(&event.outcome)
    .bind(&event.request_id)
    .bind(&event.source_ip)
    .bind(&event.metadata)
    .execute(conn)
    .await?;
    Ok(())
}

/// Which events a list covers.
#[derive(Clone, Copy, Debug)]
pub enum Scope {
    Project(ProjectId),
    /// Everything of the organisation, including events with no project (logins).
    Org(OrgId),
}

/// Exact-match narrowing of a list; `None` matches everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filter<'a> {
    pub action: Option<&'a str>,
    /// E.g. a connection's id: its history.
    pub resource_id: Option<&'a str>,
}

/// Newest first, keyset on the time-ordered id. The cursor's `id` is the last event seen.
pub async fn list(
    pool: &PgPool,
    scope: Scope,
    filter: &Filter<'_>,
    page: &PageRequest,
) -> Result<(Vec<Event>, Option<Uuid>)> {
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
        "select id, org_id, project_id, actor_id, actor_kind, action, resource_type, resource_id, outcome, \
         request_id, source_ip, metadata, created_at from audit_events where ",
    );
    match scope {
        Scope::Project(project_id) => q.push("project_id = ").push_bind(project_id),
        // Failed logins for unknown accounts have no organisation; instance admins see them too.
        Scope::Org(org_id) => q
            .push("(org_id = ")
            .push_bind(org_id)
            .push(" or org_id is null)"),
    };
    if let Some(after) = &page.after {
        q.push(" and id < ").push_bind(after.id);
    }
    if let Some(action) = filter.action {
        q.push(" and action = ").push_bind(action.to_owned());
    }
    if let Some(resource_id) = filter.resource_id {
        q.push(" and resource_id = ")
            .push_bind(resource_id.to_owned());
    }
    q.push(" order by id desc limit ")
        .push_bind(i64::from(page.limit) + 1);
    let mut rows: Vec<Event> = q.build_query_as().fetch_all(pool).await?;
    let next = if rows.len() > page.limit as usize {
        rows.truncate(page.limit as usize);
        rows.last().map(|e| e.id)
    } else {
        None
    };
    Ok((rows, next))
}
