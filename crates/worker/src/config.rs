//! The worker's settings and their defaults. Safe for production by default; tests shorten the
//! intervals instead of sleeping. No IO here: `keyhold worker` and the test binary fill it in.

use std::time::Duration;

use broker::TenantRate;

/// How a worker process claims, paces and retries rotations.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Lease owner name, unique per process (default: host, pid and a random suffix).
    pub worker_id: String,
    /// How long a claim lasts without a heartbeat; a crashed worker's rotations are resumed
    /// by others this long after its last heartbeat.
    pub lease: Duration,
    /// How often a running rotation extends its lease (well under `lease`).
    pub heartbeat: Duration,
    /// Rotations worked on at once by this process.
    pub concurrency: usize,
    /// Most rotations claimed by one claiming statement.
    pub batch_size: usize,
    /// Fallback poll for due work when no `NOTIFY` arrives (schedules fall due without one).
    pub poll_interval: Duration,
    /// On shutdown, how long in-flight rotations may take to finish before their leases are
    /// handed back (they are resumed elsewhere from their last durable step).
    pub drain_timeout: Duration,
    /// Failures (not counting rate limiting) after which an attempt stops and is reported.
    pub max_failures: u32,
    /// First retry delay; doubles per failure up to `retry_max`, with jitter.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long the test step waits for Auth0 to accept a new secret (Auth0 documents up to
    /// ~30 s of propagation), and how often it asks meanwhile.
    pub propagation_timeout: Duration,
    pub propagation_poll: Duration,
    /// The tenant's Management API limit, shared by every worker process through Postgres;
    /// workers pace themselves at 90 % of it and keep one request of the burst in reserve, as
    /// slack for network jitter. `None`: unpaced (only 429 answers slow us down). Auth0's
    /// smallest published limit (free plan) is 2/s with a burst of 2.
    pub tenant_rate: Option<TenantRate>,
    /// Length of generated secrets (alphanumeric; Auth0's own are 64).
    pub secret_length: usize,
    /// How the webhook dispatcher running beside the rotation loop delivers events.
    pub webhooks: crate::webhooks::WebhookConfig,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            worker_id: default_worker_id(),
            lease: Duration::from_secs(60),
            heartbeat: Duration::from_secs(15),
            concurrency: 16,
            batch_size: 16,
            poll_interval: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(20),
            max_failures: 8,
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(300),
            propagation_timeout: Duration::from_secs(40),
            propagation_poll: Duration::from_secs(1),
            tenant_rate: Some(TenantRate {
                per_second: 2.0,
                burst: 2,
            }),
            secret_length: 64,
            webhooks: crate::webhooks::WebhookConfig::default(),
        }
    }
}

impl WorkerConfig {
    /// Refuses settings that cannot work, and returns warnings for ones that work badly.
    pub fn validate(&self) -> Result<Vec<String>, String> {
        if self.worker_id.is_empty() || self.worker_id.len() > 200 {
            return Err("worker id must be 1-200 characters".into());
        }
        if self.lease.is_zero() || self.heartbeat.is_zero() || self.poll_interval.is_zero() {
            return Err("lease, heartbeat and poll interval must be greater than zero".into());
        }
        if self.concurrency == 0 || self.batch_size == 0 {
            return Err("concurrency and batch size must be at least 1".into());
        }
        if self.max_failures == 0 {
            return Err("max failures must be at least 1".into());
        }
        if self.retry_base.is_zero() || self.retry_max < self.retry_base {
            return Err("retry base must be > 0 and no larger than the retry maximum".into());
        }
        if self.propagation_poll.is_zero() {
            return Err("propagation poll interval must be greater than zero".into());
        }
        if !(48..=256).contains(&self.secret_length) {
            return Err("generated secrets must be 48-256 characters".into());
        }
        if let Some(rate) = self.tenant_rate
            && !(rate.per_second.is_finite() && rate.per_second > 0.0 && rate.burst >= 1)
        {
            return Err("tenant rate must be a positive number with a burst of at least 1".into());
        }
        let mut warnings = Vec::new();
        if self.heartbeat.saturating_mul(2) > self.lease {
            warnings.push(format!(
                "heartbeat every {:?} with a {:?} lease: one late heartbeat loses the lease; \
                 keep the heartbeat under a third of the lease",
                self.heartbeat, self.lease
            ));
        }
        if self.lease < Duration::from_secs(15) {
            warnings.push(format!(
                "a {:?} lease is shorter than one Auth0 request may take with its retries; \
                 rotations may be taken over while still running (safe, but wasteful)",
                self.lease
            ));
        }
        Ok(warnings)
    }
}

fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{host}-{}-{}",
        std::process::id(),
        suffix.get(..8).unwrap_or("0")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_without_warnings() {
        let config = WorkerConfig::default();
        assert_eq!(config.validate(), Ok(vec![]));
        assert_ne!(config.worker_id, WorkerConfig::default().worker_id);
    }

    #[test]
    fn refuses_unworkable_settings_and_warns_about_risky_ones() {
        let bad = [
            WorkerConfig {
                lease: Duration::ZERO,
                ..WorkerConfig::default()
            },
            WorkerConfig {
                concurrency: 0,
                ..WorkerConfig::default()
            },
            WorkerConfig {
                secret_length: 20,
                ..WorkerConfig::default()
            },
            WorkerConfig {
                tenant_rate: Some(TenantRate {
                    per_second: f64::NAN,
                    burst: 1,
                }),
                ..WorkerConfig::default()
            },
            WorkerConfig {
                retry_max: Duration::from_millis(1),
                ..WorkerConfig::default()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
        let risky = WorkerConfig {
            lease: Duration::from_secs(5),
            heartbeat: Duration::from_secs(4),
            ..WorkerConfig::default()
        };
        assert_eq!(risky.validate().map(|w| w.len()), Ok(2));
    }
}
