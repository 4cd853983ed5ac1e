//! Webhook delivery settings shared by `serve`, `worker` and `dev` (the API checks URLs with the
//! same rule the dispatcher enforces at delivery).

use std::time::Duration;

use clap::Args;

pub const ALLOW_PRIVATE_NETWORKS_VAR: &str = "KEYHOLD_WEBHOOK_ALLOW_PRIVATE_NETWORKS";
pub const DISABLE_AFTER_HOURS_VAR: &str = "KEYHOLD_WEBHOOK_DISABLE_AFTER_HOURS";
pub const RETENTION_DAYS_VAR: &str = "KEYHOLD_WEBHOOK_RETENTION_DAYS";

#[derive(Args, Clone)]
pub struct WebhookArgs {
    /// Allow webhook URLs with http, IP literals or internal names, resolving to private or
    /// loopback addresses (the SSRF guard refuses them otherwise).
    #[arg(long, env = ALLOW_PRIVATE_NETWORKS_VAR, default_value_t = false)]
    pub webhook_allow_private_networks: bool,
    /// Disable a webhook endpoint when no delivery to it has succeeded for this many hours since
    /// its first failure (an audit row and a `webhook.disabled` event say so).
    #[arg(long, env = DISABLE_AFTER_HOURS_VAR, default_value_t = 72,
          value_parser = clap::value_parser!(u64).range(1..=8760))]
    pub webhook_disable_after_hours: u64,
    /// Delete webhook events (with their delivery log) this many days old, once no delivery of
    /// them is pending.
    #[arg(long, env = RETENTION_DAYS_VAR, default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub webhook_retention_days: u64,
}

impl WebhookArgs {
    pub fn config(&self) -> worker::webhooks::WebhookConfig {
        worker::webhooks::WebhookConfig {
            allow_private_networks: self.webhook_allow_private_networks,
            disable_after: Duration::from_secs(self.webhook_disable_after_hours * 3600),
            retention: Duration::from_secs(self.webhook_retention_days * 24 * 3600),
            ..worker::webhooks::WebhookConfig::default()
        }
    }
}
