-- Deliveries go out in event order per endpoint (issue 17): a worker finds an endpoint's oldest
-- pending delivery and the ones after it. Event ids are UUIDv7, so their order is creation order.
create index webhook_deliveries_endpoint_queue_idx on webhook_deliveries (endpoint_id, event_id)
    where status = 'pending';
