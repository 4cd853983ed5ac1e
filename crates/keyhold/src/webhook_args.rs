//! Webhook delivery settings shared by `serve`, `worker` and `dev` (the API checks URLs with the
//! same rule the dispatcher enforces at delivery).

use clap::Args;

pub const ALLOW_PRIVATE_NETWORKS_VAR: &str = "KEYHOLD_WEBHOOK_ALLOW_PRIVATE_NETWORKS";

#[derive(Args, Clone)]
pub struct WebhookArgs {
    /// Allow webhook URLs with http, IP literals or internal names, resolving to private or
    /// loopback addresses (the SSRF guard refuses them otherwise).
    #[arg(long, env = ALLOW_PRIVATE_NETWORKS_VAR, default_value_t = false)]
    pub webhook_allow_private_networks: bool,
}

impl WebhookArgs {
    pub fn config(&self) -> worker::webhooks::WebhookConfig {
        worker::webhooks::WebhookConfig {
            allow_private_networks: self.webhook_allow_private_networks,
            ..worker::webhooks::WebhookConfig::default()
        }
    }
}
