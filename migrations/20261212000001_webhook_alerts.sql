-- Webhook events about app connections (issue 17, second slice): Auth0 refusing a connection's
-- own secret, or a scope check finding a capability that lost its scopes, is reported at most
-- once per connection version per hour. One row per connection, kind and version remembers when
-- it was last reported; a storm of failing calls finds it recent and enqueues nothing.
create table app_connection_alerts (
    connection_id      uuid not null references app_connections (id) on delete cascade,
    kind               text not null,
    connection_version bigint not null,
    last_sent_at       timestamptz not null default now(),
    constraint app_connection_alerts_pkey primary key (connection_id, kind, connection_version)
);
-- The worker's upkeep forgets rows no longer needed for deduplication.
create index app_connection_alerts_sent_idx on app_connection_alerts (last_sent_at);
