//! Delivers audit log streams: each pass leases one due stream that has events past its cursor,
//! POSTs the next batch (up to `stream_batch_size` events) signed the Standard Webhooks way with
//! the stream's secret and its extra headers, and on a 2xx moves the cursor past the batch. Any
//! other answer, a timeout or a refused connection leaves the cursor where it is and retries the
//! stream with backoff; nothing is skipped, so a receiver that was down gets everything, in
//! order, once it is back. Batches of one stream never overlap (one lease per stream); a worker
//! that dies after the receiver took a batch but before the cursor moved sends it again (with
//! the same `webhook-id` and event ids): at least once.
//!
//! The body: `{"type": "audit-log.events", "timestamp": ..., "data": {"streamId": ...,
//! "events": [...]}}`, each event as `GET /api/v1/audit-logs` shows it.

use std::sync::Arc;
use std::time::Duration;

use broker::audit_streams::StreamPlace;
use crypto::ExposeSecret;
use store::audit_streams::{self as db, Claim, Delivered};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::webhooks::{Dispatcher, describe, sign};

/// The event type of a stream's batches.
pub const BATCH_TYPE: &str = "audit-log.events";

/// What one attempt at a stream's batch came to.
#[derive(Debug, PartialEq)]
pub enum Sent {
    /// Delivered: this many events, the cursor moved past them.
    Delivered(usize),
    /// Not delivered; the stream retries after backoff.
    Failed,
    /// No stream had anything due.
    Idle,
}

impl Dispatcher {
    /// Attempts the next batch of one due stream.
    pub async fn stream_due(&self) -> Result<Sent> {
        let pool = &self.broker.pool;
        let Some(claim) = db::claim_due(pool, &self.owner, self.config.lease).await? else {
            return Ok(Sent::Idle);
        };
        let limit = i64::try_from(self.config.stream_batch_size).unwrap_or(100);
        let batch = db::next_batch(pool, &claim, limit).await?;
        let Some(((first, _), (last, last_xact))) = batch.first().zip(batch.last()) else {
            // Nothing after all (a race with the horizon): due again at once.
            db::record_failed(pool, &claim, None, "nothing to send", Duration::ZERO).await?;
            return Ok(Sent::Idle);
        };
        let id = format!(
            "audit_{}_{}_{}",
            claim.id.simple(),
            first.id.simple(),
            last.id.simple()
        );
        let events: Vec<serde_json::Value> = batch.iter().map(|(e, _)| e.to_json()).collect();
        let body = serde_json::json!({
            "type": BATCH_TYPE,
            "timestamp": OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            "data": { "streamId": claim.id, "events": events },
        });
        let outcome = self.post_batch(&claim, &id, &body).await;
        metrics::counter!("keyhold_audit_stream_batches_total",
            "outcome" => if outcome.is_ok() { "delivered" } else { "failed" })
        .increment(1);
        match outcome {
            Ok(status) => {
                let delivered = Delivered {
                    last_xact,
                    last_id: last.id,
                    events: i64::try_from(batch.len()).unwrap_or(i64::MAX),
                    status,
                };
                if !db::record_delivered(pool, &claim, &delivered).await? {
                    tracing::warn!(stream.id = %claim.id, "audit stream lease lost; the batch may be sent again");
                }
                metrics::counter!("keyhold_audit_stream_events_total")
                    .increment(batch.len() as u64);
                Ok(Sent::Delivered(batch.len()))
            }
            Err((status, error)) => {
                let failures = u32::try_from(claim.failures).unwrap_or(0) + 1;
                let wait = self.backoff(failures);
                tracing::warn!(stream.id = %claim.id, %error, retry_in_ms = wait.as_millis(), "audit stream batch not delivered");
                db::record_failed(pool, &claim, status, &error, wait).await?;
                Ok(Sent::Failed)
            }
        }
    }

    /// POSTs one batch; `Ok(status)` for a 2xx, else the status (if any) and what went wrong in
    /// words fit for the stream's `lastError`.
    async fn post_batch(
        &self,
        claim: &Claim,
        id: &str,
        body: &serde_json::Value,
    ) -> std::result::Result<i32, (Option<i32>, String)> {
        let place = StreamPlace {
            id: claim.id,
            org_id: claim.org_id,
            project_id: claim.project_id,
        };
        let unusable = |_| {
            (
                None,
                "the stream's sealed secret or headers cannot be opened (root key missing, or the \
                 row was moved); recreate the stream"
                    .to_owned(),
            )
        };
        let secret = self
            .broker
            .open_audit_stream_secret(place, &claim.secret_sealed)
            .map_err(unusable)?;
        let extra = self
            .broker
            .open_audit_stream_headers(place, &claim.headers_sealed)
            .map_err(unusable)?;
        let body = serde_json::to_vec(body).map_err(|err| (None, err.to_string()))?;
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let signature =
            sign(secret.expose_secret(), id, timestamp, &body).map_err(|why| (None, why))?;
        let mut headers: Vec<(&str, String)> = vec![
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ];
        for (name, value) in &extra {
            headers.push((name.as_str(), value.expose_secret().to_owned()));
        }
        match self.http.post_json(&claim.url, &headers, body).await {
            Ok(answer) if (200..300).contains(&answer.status) => Ok(i32::from(answer.status)),
            Ok(answer) => Err((Some(i32::from(answer.status)), describe(&answer))),
            Err(err) => Err((None, err.to_string())),
        }
    }

    /// Runs until `shutdown`: sends batches while any stream has some due, else looks again
    /// after `stream_interval` (so an event waits at most about that long).
    pub async fn run_streams(self: Arc<Self>, shutdown: CancellationToken) {
        let mut errors: u32 = 0;
        loop {
            let pause = match self.stream_due().await {
                Ok(Sent::Delivered(_) | Sent::Failed) => {
                    errors = 0;
                    Duration::ZERO
                }
                Ok(Sent::Idle) => {
                    errors = 0;
                    self.config.stream_interval
                }
                Err(err) => {
                    errors = errors.saturating_add(1);
                    tracing::warn!(error = %err, "audit stream pass failed");
                    Duration::from_millis(100)
                        .saturating_mul(1u32 << errors.min(9))
                        .min(self.config.poll_interval)
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}
