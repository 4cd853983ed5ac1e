//! Telling a project's webhook receivers that Auth0 refused a connection's own secret
//! (`app-connection.credentials-rejected`), deduplicated per connection version and hour by
//! `store::webhooks::alerts`. Best effort: the caller's request fails with Auth0's answer either
//! way, and a failure to enqueue is logged, never turned into a different error.

use serde_json::json;
use store::connections::Connection;
use store::webhooks::alerts;

use crate::access::Broker;

impl Broker {
    /// Reports that Auth0 refused the connection's own credential on a token request: its
    /// client secret, or for a `private-key-jwt` connection the assertion signed with its key.
    pub(crate) async fn report_credentials_rejected(&self, connection: &Connection) {
        let details = if connection.uses_private_key() {
            json!({
                "reason": "Auth0 refused the client assertion signed with the connection's private key",
                "whatToFix": format!(
                    "the connection's public key (kid {}) is no longer an enabled, unexpired \
                     credential of the application in Auth0: enable it again, or create a new \
                     connection and register its key",
                    connection.key.key_kid.as_deref().unwrap_or("unknown")
                ),
            })
        } else {
            json!({
                "reason": auth0::Auth0Error::WrongCredentials.to_string(),
                "whatToFix": format!(
                    "the connection's client secret no longer works (rotated or revoked in Auth0, \
                     or the application was deleted): give the connection the application's \
                     current client secret (PATCH /api/v1/app-connections/auth0/{} with \
                     credentials)",
                    connection.id
                ),
            })
        };
        let reported = async {
            let mut tx = self.pool.begin().await?;
            let sent = alerts::alert_connection(
                &mut tx,
                connection,
                alerts::CREDENTIALS_REJECTED,
                details,
            )
            .await?;
            tx.commit().await?;
            Ok::<bool, store::Error>(sent)
        }
        .await;
        match reported {
            Ok(true) => {
                tracing::warn!(connection.id = %connection.id, "Auth0 refused the connection's secret; reported to the project's webhooks");
            }
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(connection.id = %connection.id, error = %err, "could not report refused connection credentials to webhooks; continuing");
            }
        }
    }
}
