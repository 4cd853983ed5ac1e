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

impl Event {
    /// The event as the audit log API and audit log streams show it: who (`actor`), did what
    /// (`action`) to what (`resource`), with what `outcome`.
    pub fn to_json(&self) -> serde_json::Value {
        let created_at = self
            .created_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        serde_json::json!({
            "id": self.id,
            "projectId": self.project_id,
            "actor": { "id": self.actor_id, "type": self.actor_kind },
            "action": self.action,
            "resource": { "type": self.resource_type, "id": self.resource_id },
            "outcome": self.outcome,
            "requestId": self.request_id,
            "sourceIp": self.source_ip,
            "metadata": self.metadata,
            "createdAt": created_at,
        })
    }
}

/// The insert of one event with its parameters numbered from `$first`, so another statement can
/// carry it (one round trip inside a transaction); bind with [`bind`].
pub(crate) fn insert_statement(first: usize) -> String {
    let params: Vec<String> = (first..first + 12).map(|n| format!("${n}")).collect();
    format!(
        "insert into audit_events (id, org_id, project_id, actor_id, actor_kind, action, \
         resource_type, resource_id, outcome, request_id, source_ip, metadata) values ({})",
        params.join(", ")
    )
}

/// Binds an event's twelve parameters, in [`insert_statement`]'s order, onto a query or
/// `query_as` (a macro because the two have no common trait for `bind`).
macro_rules! bind_event {
    ($query:expr, $event:expr) => {{
        let event: &$crate::audit::NewEvent = $event;
        $query
            .bind(::uuid::Uuid::now_v7())
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
    }};
}
pub(crate) use bind_event;

// Built once from constants: no caller input reaches the text.
static INSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| insert_statement(1));

pub async fn record(conn: &mut PgConnection, event: &NewEvent) -> Result<()> {
    bind_event!(sqlx::query(sqlx::AssertSqlSafe(INSERT.as_str())), event)
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
    /// E.g. `app_connection`, `membership`.
    pub resource_type: Option<&'a str>,
    /// Events at or after this instant.
    pub since: Option<OffsetDateTime>,
    /// Events before this instant.
    pub until: Option<OffsetDateTime>,
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
    if let Some(resource_type) = filter.resource_type {
        q.push(" and resource_type = ")
            .push_bind(resource_type.to_owned());
    }
    if let Some(since) = filter.since {
        q.push(" and created_at >= ").push_bind(since);
    }
    if let Some(until) = filter.until {
        q.push(" and created_at < ").push_bind(until);
    }
    q.push(" order by id desc");
    page.push_limit(&mut q);
    let mut rows: Vec<Event> = q.build_query_as().fetch_all(pool).await?;
    let next = if rows.len() > page.limit as usize {
        rows.truncate(page.limit as usize);
        rows.last().map(|e| e.id)
    } else {
        None
    };
    Ok((rows, next))
}
