//! Alerts about an app connection (`app-connection.credentials-rejected`,
//! `app-connection.scopes-missing`), deduplicated in `app_connection_alerts`: each kind is
//! reported at most once per connection version per [`ALERT_INTERVAL`], so a storm of calls with
//! a revoked secret tells receivers once, not once per call.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgConnection;

use super::NewEvent;
use crate::connections::Connection;
use crate::{ConnectionId, Result};

/// Auth0 refused the connection's own client secret on a token request.
pub const CREDENTIALS_REJECTED: &str = "app-connection.credentials-rejected";
/// A scope check found a capability that was usable at the previous check and no longer is.
pub const SCOPES_MISSING: &str = "app-connection.scopes-missing";
/// The least time between two alerts of one kind about one connection version.
pub const ALERT_INTERVAL: Duration = Duration::from_secs(3600);

/// Enqueues `event` (an alert about `connection_id` at `connection_version`) unless one of the
/// same type was enqueued for that version within [`ALERT_INTERVAL`]; `true` when this call's
/// alert is the one reported. Call inside a transaction, so the dedup slot and the event commit
/// (or roll back) together.
pub async fn alert_once(
    conn: &mut PgConnection,
    connection_id: ConnectionId,
    connection_version: i64,
    event: &NewEvent<'_>,
) -> Result<bool> {
    // Two callers at once: the second waits on the first's row, then finds it recent and
    // updates nothing, so exactly one of them reports.
    let claimed: Option<i32> = sqlx::query_scalar(
        "insert into app_connection_alerts (connection_id, connection_version, kind) \
         values ($1, $2, $3) \
         on conflict (connection_id, kind, connection_version) do update set last_sent_at = now() \
           where app_connection_alerts.last_sent_at <= now() - make_interval(secs => $4) \
         returning 1",
    )
    .bind(connection_id)
    .bind(connection_version)
    .bind(event.event_type)
    .bind(ALERT_INTERVAL.as_secs_f64())
    .fetch_optional(&mut *conn)
    .await?;
    if claimed.is_none() {
        return Ok(false);
    }
    super::enqueue(conn, event).await?;
    Ok(true)
}

/// Reports `event_type` about `connection` (see [`alert_once`]): `data` names the connection
/// (id, name, project, tenant domain, client id, version) with `details`' fields added — never
/// its secret.
pub async fn alert_connection(
    conn: &mut PgConnection,
    connection: &Connection,
    event_type: &str,
    details: Value,
) -> Result<bool> {
    let mut data = json!({
        "connectionId": connection.id,
        "connectionName": connection.name,
        "projectId": connection.project_id,
        "domain": connection.domain,
        "clientId": connection.client_id,
        "connectionVersion": connection.version,
    });
    if let (Some(data), Value::Object(details)) = (data.as_object_mut(), details) {
        data.extend(details);
    }
    let event = NewEvent {
        project_id: connection.project_id,
        event_type,
        data,
    };
    alert_once(conn, connection.id, connection.version, &event).await
}
