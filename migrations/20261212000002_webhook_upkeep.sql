-- Webhook upkeep (issue 17): endpoints that keep failing are disabled, and old events deleted.
--
-- `failing_since` is the start of an endpoint's current run of failed attempts (set by the first
-- failed attempt after a delivered one, cleared by the next delivered one); the worker's upkeep
-- disables an endpoint whose run has lasted KEYHOLD_WEBHOOK_DISABLE_AFTER_HOURS, and says why
-- in `disabled_reason` (null when an admin disabled it, or it was never disabled).
alter table webhook_endpoints add column failing_since timestamptz;
alter table webhook_endpoints add column disabled_at timestamptz;
alter table webhook_endpoints add column disabled_reason text;
create index webhook_endpoints_failing_idx on webhook_endpoints (failing_since)
    where enabled and failing_since is not null;

-- Retention: events older than KEYHOLD_WEBHOOK_RETENTION_DAYS with no delivery still pending
-- are deleted (with their deliveries and delivery log) by the worker's upkeep, oldest first.
create index webhook_events_created_idx on webhook_events (created_at);

-- keyhold_webhook_oldest_undelivered_seconds: the pending delivery queued first (`give_up_at` is
-- 24 h after it was queued or re-queued by a redelivery), found without a scan.
create index webhook_deliveries_pending_age_idx on webhook_deliveries (give_up_at)
    where status = 'pending';
