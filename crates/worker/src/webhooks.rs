//! The webhook dispatcher: claims due deliveries from the outbox under a lease (so any number of
//! workers share them, and a crashed worker's deliveries are retried elsewhere), POSTs each
//! event to its endpoint signed the Standard Webhooks way, and records the outcome fenced by the
//! lease. Runs beside the rotation loop in [`crate::Worker::run`], woken by
//! `NOTIFY keyhold_webhooks` (through the rotation loop's LISTEN connection) and a poll.
//!
//! - Headers `webhook-id` (the event id: the same on every retry), `webhook-timestamp` (this
//!   attempt, Unix seconds) and `webhook-signature`: `v1,<base64 HMAC-SHA256>` over
//!   `id.timestamp.body` under each secret that signs now (the current one, and for 24 h after a
//!   rotation the previous one too), space-separated.
//! - 2xx is delivered. Anything else (redirects included: they are not followed), a timeout or a
//!   refused connection is retried with exponential backoff and jitter; a 429 or 503 with
//!   `Retry-After` waits that long instead. After 24 h (`give_up_at`) the delivery fails.
//! - Every URL goes through `auth0::outbound`'s SSRF guard on every attempt.
//! - Every `upkeep_interval` the dispatcher also runs the outbox's upkeep
//!   (`store::webhooks::upkeep`): endpoints failing for `disable_after` are disabled, events older
//!   than `retention` deleted; and it samples `keyhold_webhook_oldest_undelivered_seconds`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth0::outbound::{Answer, GuardedHttp, SendError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use broker::Broker;
use crypto::ExposeSecret;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use store::webhooks::{self as db, Attempted, Claim, Next, upkeep};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// How webhooks are delivered. Production defaults; tests shorten the waits.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Operator opt-in: `http`, IP literals, internal names and private addresses allowed
    /// (`KEYHOLD_WEBHOOK_ALLOW_PRIVATE_NETWORKS`); off, the SSRF guard refuses them.
    pub allow_private_networks: bool,
    /// Limit on one whole delivery attempt.
    pub timeout: Duration,
    /// First retry delay; doubles per failed attempt up to `retry_max`, with jitter.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Fallback poll for due deliveries (retries fall due without a `NOTIFY`).
    pub poll_interval: Duration,
    /// Lease on a claimed delivery; longer than `timeout`, so a live attempt is never taken over.
    pub lease: Duration,
    /// Deliveries claimed (and sent concurrently) at once.
    pub batch_size: usize,
    /// An endpoint with no delivered attempt for this long since its first failure is disabled
    /// (`KEYHOLD_WEBHOOK_DISABLE_AFTER_HOURS`).
    pub disable_after: Duration,
    /// Events older than this, delivered (or failed for good) everywhere, are deleted
    /// (`KEYHOLD_WEBHOOK_RETENTION_DAYS`).
    pub retention: Duration,
    /// How often upkeep runs (and the oldest-undelivered gauge is sampled).
    pub upkeep_interval: Duration,
    /// Most audit events in one audit log stream batch.
    pub stream_batch_size: usize,
    /// How often an idle stream dispatcher looks for new audit events: an event waits about
    /// this long before it is sent.
    pub stream_interval: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            allow_private_networks: false,
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(3600),
            poll_interval: Duration::from_secs(5),
            lease: Duration::from_secs(60),
            batch_size: 32,
            disable_after: Duration::from_secs(72 * 3600),
            retention: Duration::from_secs(30 * 24 * 3600),
            upkeep_interval: Duration::from_secs(30),
            stream_batch_size: 100,
            stream_interval: Duration::from_secs(1),
        }
    }
}

/// Signs `body` for `id` at `timestamp` with a `whsec_` secret: `v1,<base64 HMAC-SHA256>`.
pub fn sign(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> std::result::Result<String, String> {
    let encoded = secret
        .strip_prefix(broker::webhooks::SECRET_PREFIX)
        .unwrap_or(secret);
    let key = zeroize::Zeroizing::new(
        STANDARD
            .decode(encoded)
            .map_err(|_| "the signing secret is not base64".to_owned())?,
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|err| err.to_string())?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Events deleted per statement (short locks) and statements per upkeep pass (delivery is not
/// held up by a large backlog of old events; the next pass continues).
const RETENTION_BATCH: i64 = 1000;
const RETENTION_BATCHES_PER_PASS: usize = 20;

/// What one [`Dispatcher::upkeep`] pass did.
#[derive(Debug, Default)]
pub struct Upkept {
    /// Endpoints disabled for failing too long.
    pub disabled: Vec<uuid::Uuid>,
    pub events_deleted: u64,
    /// The age of the oldest pending delivery (`None`: nothing pending).
    pub oldest_undelivered: Option<Duration>,
}

/// Delivers due webhooks. Cheap to share (`Arc`).
pub struct Dispatcher {
    pub(crate) broker: Broker,
    pub(crate) http: GuardedHttp,
    pub(crate) config: WebhookConfig,
    pub(crate) owner: String,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("owner", &self.owner)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A number in `[0, 1)` for jitter; spread, not secrecy, is what matters.
fn jitter() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

/// The wait before retry number `failures + 1`: `base · 2^(failures-1)` capped at `max`, then
/// scaled by a jitter factor in `[0.5, 1)`.
pub fn backoff(failures: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    exp.min(max).mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

impl Dispatcher {
    pub fn new(broker: Broker, owner: String, config: WebhookConfig) -> Result<Dispatcher> {
        if config.lease <= config.timeout
            || config.batch_size == 0
            || config.stream_batch_size == 0
            || config.retry_base.is_zero()
        {
            return Err(Error::Config(
                "webhook lease must exceed the timeout, and batch sizes and retry base be > 0"
                    .into(),
            ));
        }
        let http = GuardedHttp::new(config.allow_private_networks, config.timeout)
            .map_err(Error::Config)?;
        Ok(Dispatcher {
            broker,
            http,
            config,
            owner,
        })
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// Claims one batch of due deliveries and attempts them, endpoints concurrently and each
    /// endpoint's in event order; returns how many were claimed.
    pub async fn deliver_due(self: &Arc<Self>) -> Result<usize> {
        let claimed_at = Instant::now();
        let claims = db::claim_due(
            &self.broker.pool,
            &self.owner,
            self.config.lease,
            i64::try_from(self.config.batch_size).unwrap_or(32),
        )
        .await?;
        let n = claims.len();
        let mut tasks = JoinSet::new();
        let mut claims = claims.into_iter().peekable();
        while let Some(first) = claims.next() {
            let endpoint = first.endpoint_id;
            let mut queue = vec![first];
            while let Some(next) = claims.next_if(|c| c.endpoint_id == endpoint) {
                queue.push(next);
            }
            let me = Arc::clone(self);
            tasks.spawn(async move { me.deliver_in_order(queue, claimed_at).await });
        }
        while let Some(done) = tasks.join_next().await {
            if let Err(err) = done {
                tracing::error!(error = %err, "webhook delivery task panicked");
            }
        }
        Ok(n)
    }

    /// One endpoint's claimed deliveries, oldest first, one after another. A delivery that is to
    /// be retried stops the run: the rest are handed back unchanged and wait behind it, so the
    /// receiver never sees a newer event before an older one it has not got. So does a lease too
    /// near its end for one more attempt, so no other worker can take the endpoint over mid-run.
    /// The run's attempts are recorded together at its end (one statement, not one transaction
    /// per event): a crash before that sends them again, under the same `webhook-id`s.
    async fn deliver_in_order(&self, queue: Vec<Claim>, claimed_at: Instant) {
        let mut queue = queue.into_iter().peekable();
        let mut done: Vec<(Claim, Outcome)> = Vec::new();
        // Read once for the run: every claim here is the same endpoint's.
        let secrets = match queue.peek() {
            Some(first) => db::signing_secrets(&self.broker.pool, first.endpoint_id)
                .await
                .map_err(|err| Failure::Retry(NOT_SENT, format!("database: {err}"))),
            None => return,
        };
        while let Some(claim) =
            queue.next_if(|_| claimed_at.elapsed() + self.config.timeout < self.config.lease)
        {
            let outcome = self.attempt(&claim, secrets.as_deref()).await;
            let stop = matches!(outcome.next, Next::RetryIn(_));
            done.push((claim, outcome));
            if stop {
                break;
            }
        }
        self.record(&done).await;
        self.hand_back(queue).await;
    }

    async fn record(&self, done: &[(Claim, Outcome)]) {
        let attempts: Vec<(&Claim, Attempted<'_>)> = done
            .iter()
            .map(|(claim, o)| {
                let attempted = Attempted {
                    started_at: o.started_at,
                    status_code: o.status_code,
                    latency_ms: o.latency_ms,
                    error: o.error.as_deref(),
                    next: o.next,
                };
                (claim, attempted)
            })
            .collect();
        let pairs: Vec<(&Claim, &Attempted<'_>)> = attempts.iter().map(|(c, a)| (*c, a)).collect();
        match db::record_attempts(&self.broker.pool, &pairs).await {
            Ok(n) if n == pairs.len() as u64 => {
                tracing::debug!(attempts = n, "webhook attempts recorded")
            }
            Ok(n) => {
                tracing::warn!(
                    recorded = n,
                    attempted = pairs.len(),
                    "webhook leases lost; another worker has those deliveries"
                )
            }
            // The leases expire and the deliveries are attempted again: at least once, not lost.
            Err(err) => {
                tracing::warn!(error = %err, attempts = pairs.len(), "could not record webhook attempts")
            }
        }
    }

    async fn hand_back(&self, claims: impl Iterator<Item = Claim>) {
        for claim in claims {
            if let Err(err) = db::release(&self.broker.pool, &claim, Duration::ZERO).await {
                // Its lease expires instead; the order holds (it is still behind the head).
                tracing::warn!(error = %err, delivery.id = %claim.id, "could not hand a webhook delivery back");
            }
        }
    }

    /// One attempt of one claimed delivery, and what follows it.
    async fn attempt(
        &self,
        claim: &Claim,
        secrets: std::result::Result<&[db::SigningSecret], &Failure>,
    ) -> Outcome {
        let started_at = OffsetDateTime::now_utc();
        let clock = Instant::now();
        let result = match (claim.enabled, secrets) {
            (false, _) => Err(Failure::Final(NOT_SENT, "the endpoint is disabled".into())),
            (true, Err(failure)) => Err(failure.clone()),
            (true, Ok(secrets)) => self.send(claim, secrets).await,
        };
        metrics::counter!("keyhold_webhook_attempts_total", "outcome" => attempt_outcome(&result))
            .increment(1);
        let latency_ms = i32::try_from(clock.elapsed().as_millis()).unwrap_or(i32::MAX);
        let failures = u32::try_from(claim.attempts).unwrap_or(0) + 1;
        let (status_code, error, next) = match result {
            Ok(answer) if (200..300).contains(&answer.status) => {
                (Some(i32::from(answer.status)), None, Next::Delivered)
            }
            Ok(answer) => {
                let wait = match (answer.status, answer.retry_after) {
                    (429 | 503, Some(asked)) => asked,
                    _ => self.backoff(failures),
                };
                (
                    Some(i32::from(answer.status)),
                    Some(describe(&answer)),
                    self.retry_or_give_up(claim, wait),
                )
            }
            Err(Failure::Retry(_, reason)) => (
                None,
                Some(reason),
                self.retry_or_give_up(claim, self.backoff(failures)),
            ),
            Err(Failure::Final(_, reason)) => (None, Some(reason), Next::Failed),
        };
        let outcome = match next {
            Next::Delivered => "delivered",
            Next::RetryIn(_) => "retrying",
            Next::Failed => "failed",
        };
        metrics::counter!("keyhold_webhook_deliveries_total", "outcome" => outcome).increment(1);
        tracing::debug!(delivery.id = %claim.id, event.id = %claim.event_id, outcome, "webhook attempt made");
        Outcome {
            started_at,
            status_code,
            latency_ms,
            error,
            next,
        }
    }

    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        backoff(
            failures,
            self.config.retry_base,
            self.config.retry_max,
            jitter(),
        )
    }

    fn retry_or_give_up(&self, claim: &Claim, wait: Duration) -> Next {
        let at = OffsetDateTime::now_utc() + wait;
        if at > claim.give_up_at {
            Next::Failed
        } else {
            Next::RetryIn(wait)
        }
    }

    async fn send(
        &self,
        claim: &Claim,
        secrets: &[db::SigningSecret],
    ) -> std::result::Result<Answer, Failure> {
        let body = serde_json::to_vec(&claim.payload)
            .map_err(|err| Failure::Final(NOT_SENT, format!("cannot encode the event: {err}")))?;
        let id = claim.event_id.to_string();
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let mut signatures = Vec::with_capacity(secrets.len());
        for secret in secrets {
            let opened = self
                .broker
                .open_webhook_secret(secret, claim.project_id, claim.endpoint_id)
                .map_err(|_| {
                    Failure::Final(
                        NOT_SENT,
                        "the signing secret cannot be opened (root key missing, or the row \
                         was moved); rotate the endpoint's secret"
                            .into(),
                    )
                })?;
            signatures.push(
                sign(opened.expose_secret(), &id, timestamp, &body)
                    .map_err(|why| Failure::Final(NOT_SENT, why))?,
            );
        }
        if signatures.is_empty() {
            return Err(Failure::Final(
                NOT_SENT,
                "the endpoint has no signing secret".into(),
            ));
        }
        let headers = [
            ("webhook-id", id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signatures.join(" ")),
        ];
        self.http
            .post_json(&claim.url, &headers, body)
            .await
            .map_err(|err| match err {
                // The URL or where it resolves is refused: retrying cannot help until someone
                // changes it, and then "redeliver" sends it again.
                SendError::Url(_) | SendError::Blocked => {
                    Failure::Final("refused", format!("refused by the outbound guard: {err}"))
                }
                SendError::Timeout(_) => Failure::Retry("timeout", err.to_string()),
                other => Failure::Retry("connect_error", other.to_string()),
            })
    }

    /// One upkeep pass (see `store::webhooks::upkeep`): disables endpoints that failed for
    /// `disable_after`, deletes events past `retention` (a bounded number of batches per pass),
    /// and samples the oldest undelivered delivery's age.
    pub async fn upkeep(&self) -> Result<Upkept> {
        let pool = &self.broker.pool;
        let disabled = upkeep::disable_failing(pool, self.config.disable_after).await?;
        for endpoint in &disabled {
            tracing::warn!(webhook.id = %endpoint.id, project.id = %endpoint.project_id, failing_since = %endpoint.failing_since, "webhook endpoint disabled: no delivery succeeded for too long");
        }
        metrics::counter!("keyhold_webhook_endpoints_disabled_total")
            .increment(disabled.len() as u64);
        let mut events_deleted = 0;
        for _ in 0..RETENTION_BATCHES_PER_PASS {
            let n = upkeep::delete_old_events(pool, self.config.retention, RETENTION_BATCH).await?;
            events_deleted += n;
            if n < RETENTION_BATCH.unsigned_abs() {
                break;
            }
        }
        metrics::counter!("keyhold_webhook_events_deleted_total").increment(events_deleted);
        let oldest = upkeep::oldest_undelivered(pool).await?;
        metrics::gauge!("keyhold_webhook_oldest_undelivered_seconds")
            .set(oldest.map_or(0.0, |age| age.as_secs_f64()));
        Ok(Upkept {
            disabled: disabled.into_iter().map(|d| d.id).collect(),
            events_deleted,
            oldest_undelivered: oldest,
        })
    }

    /// Runs until `shutdown`: delivers what is due, then sleeps until `wake` (the rotation
    /// loop's LISTEN connection forwards `NOTIFY keyhold_webhooks` there), the poll interval or,
    /// when a batch was full, not at all. Upkeep runs every `upkeep_interval`, busy or not.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken, wake: Arc<Notify>) {
        let mut errors: u32 = 0;
        let mut next_upkeep = Instant::now();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if Instant::now() >= next_upkeep {
                if let Err(err) = self.upkeep().await {
                    tracing::warn!(error = %err, "webhook upkeep failed; retrying at the next interval");
                }
                next_upkeep = Instant::now() + self.config.upkeep_interval;
            }
            let pause = match self.deliver_due().await {
                Ok(n) if n >= self.config.batch_size => {
                    errors = 0;
                    continue;
                }
                Ok(_) => {
                    errors = 0;
                    self.config.poll_interval
                }
                Err(err) => {
                    errors = errors.saturating_add(1);
                    tracing::warn!(error = %err, "claiming due webhook deliveries failed");
                    Duration::from_millis(100)
                        .saturating_mul(1u32 << errors.min(9))
                        .min(self.config.poll_interval)
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

/// What one attempt did, kept until its run is recorded.
struct Outcome {
    started_at: OffsetDateTime,
    status_code: Option<i32>,
    latency_ms: i32,
    error: Option<String>,
    next: Next,
}

/// An attempt that got no HTTP answer: retried or not, with its `outcome` label for
/// `keyhold_webhook_attempts_total` and its words for the delivery log.
#[derive(Clone)]
enum Failure {
    Retry(&'static str, String),
    Final(&'static str, String),
}

/// The `outcome` of an attempt that was never sent (endpoint disabled, secret unusable, database).
const NOT_SENT: &str = "not_sent";

/// `keyhold_webhook_attempts_total`'s `outcome`: the answer's status class, or why none came.
fn attempt_outcome(result: &std::result::Result<Answer, Failure>) -> &'static str {
    match result {
        Ok(answer) => match answer.status {
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        },
        Err(Failure::Retry(label, _) | Failure::Final(label, _)) => label,
    }
}

/// The delivery log's words for a non-2xx answer: the status and the start of the body, printable
/// characters only.
pub(crate) fn describe(answer: &Answer) -> String {
    let text: String = String::from_utf8_lossy(&answer.body)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    if text.is_empty() {
        format!("HTTP {}", answer.status)
    } else {
        format!("HTTP {}: {text}", answer.status)
    }
}

/// Enqueues a `secret-rotation.*` event for `rotation`'s project on the caller's transaction:
/// names, ids and numbers only (never a secret), plus `extra`'s fields.
pub(crate) async fn enqueue_rotation_event(
    conn: &mut sqlx::PgConnection,
    event_type: &str,
    rotation: &store::rotations::Rotation,
    attempt: &store::rotations::Attempt,
    extra: serde_json::Value,
    audit: Option<&store::audit::NewEvent>,
) -> store::Result<()> {
    let mut data = serde_json::json!({
        "rotationId": rotation.id,
        "rotationName": rotation.name,
        "rotationType": rotation.kind,
        "projectId": rotation.project_id,
        "connectionId": rotation.connection_id,
        "clientId": rotation.client_id,
        "attemptId": attempt.id,
        "attemptNumber": attempt.attempt_no,
        "isManual": attempt.is_manual,
    });
    if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    let event = store::webhooks::NewEvent {
        project_id: rotation.project_id,
        event_type,
        data,
    };
    match audit {
        Some(audit) => store::webhooks::enqueue_with_audit(conn, &event, audit).await,
        None => store::webhooks::enqueue(conn, &event).await,
    }
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_test_vector() {
        // From the Standard Webhooks specification's reference implementations.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        let got = sign(secret, id, 1614265330, body).expect("sign");
        assert_eq!(got, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn attempt_outcomes_are_a_closed_set_of_labels() {
        let answer = |status| {
            Ok(Answer {
                status,
                retry_after: None,
                body: Vec::new(),
            })
        };
        assert_eq!(attempt_outcome(&answer(204)), "2xx");
        assert_eq!(attempt_outcome(&answer(302)), "3xx");
        assert_eq!(attempt_outcome(&answer(429)), "4xx");
        assert_eq!(attempt_outcome(&answer(503)), "5xx");
        let refused = Err(Failure::Final("refused", "guard".into()));
        assert_eq!(attempt_outcome(&refused), "refused");
        let timeout = Err(Failure::Retry("timeout", "slow".into()));
        assert_eq!(attempt_outcome(&timeout), "timeout");
    }

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let base = Duration::from_secs(5);
        let max = Duration::from_secs(3600);
        assert_eq!(backoff(1, base, max, 1.0), Duration::from_secs(5));
        assert_eq!(backoff(2, base, max, 1.0), Duration::from_secs(10));
        assert_eq!(backoff(30, base, max, 1.0), max);
        assert_eq!(backoff(1, base, max, 0.0), Duration::from_millis(2500));
    }
}
