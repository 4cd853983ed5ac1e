-- Signed outbound webhooks (issue 17, first slice): endpoints per project, their signing secrets
-- (sealed), an outbox of events written in the same transaction as the change they report, and one
-- delivery per event and endpoint, claimed by workers under a lease like rotations are.

create table webhook_endpoints (
    id          uuid primary key,
    org_id      uuid not null references orgs (id),
    project_id  uuid not null references projects (id) on delete cascade,
    url         text not null,
    description text,
    -- Event types this endpoint receives; `*` is every type except `secret-rotation.retrying`,
    -- which is only sent to endpoints that name it.
    event_types text[] not null,
    enabled     boolean not null default true,
    version     bigint not null default 1,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint webhook_endpoints_url_check check (length(url) between 1 and 2048),
    constraint webhook_endpoints_event_types_check check (cardinality(event_types) between 1 and 32)
);
create index webhook_endpoints_project_idx on webhook_endpoints (project_id, id);

-- Signing secrets, one row each: the current one (`expires_at` null) and, for 24 h after a
-- rotation, the previous one (`expires_at` = end of the overlap), so deliveries carry both
-- signatures meanwhile. A row per secret rather than a nullable "previous" column keeps every
-- sealed value non-null, as `keyhold keys status` and rewrap expect of a sealed column.
create table webhook_signing_secrets (
    id            uuid primary key,
    endpoint_id   uuid not null references webhook_endpoints (id) on delete cascade,
    project_id    uuid not null references projects (id) on delete cascade,
    secret_sealed bytea not null,
    expires_at    timestamptz,
    created_at    timestamptz not null default now()
);
create index webhook_signing_secrets_endpoint_idx on webhook_signing_secrets (endpoint_id);
create unique index webhook_signing_secrets_one_current on webhook_signing_secrets (endpoint_id)
    where expires_at is null;
-- The envelope header's root key id, as for every sealed column (see 20261123000004_keyring.sql).
alter table webhook_signing_secrets add column secret_key_id text generated always as (
    case
        when length(secret_sealed) < 2 then null
        when get_byte(secret_sealed, 0) <> 1 then null
        when get_byte(secret_sealed, 1) not between 1 and 32 then null
        when length(secret_sealed) < 2 + get_byte(secret_sealed, 1) then null
        else encode(substring(secret_sealed from 3 for get_byte(secret_sealed, 1)), 'escape')
    end
) stored;
create index webhook_signing_secrets_key_idx on webhook_signing_secrets (secret_key_id, id);

-- The outbox. `id` is the `webhook-id` header of every delivery of the event, retries included;
-- `payload` is the whole Standard Webhooks envelope `{type, timestamp, data}` as sent. An event is
-- only written when at least one endpoint subscribes to it.
create table webhook_events (
    id         uuid primary key,
    project_id uuid not null references projects (id) on delete cascade,
    type       text not null,
    payload    jsonb not null,
    created_at timestamptz not null default now()
);
create index webhook_events_project_idx on webhook_events (project_id, id);

create table webhook_deliveries (
    id               uuid primary key,
    event_id         uuid not null references webhook_events (id) on delete cascade,
    endpoint_id      uuid not null references webhook_endpoints (id) on delete cascade,
    project_id       uuid not null references projects (id) on delete cascade,
    status           text not null default 'pending',
    attempts         integer not null default 0,
    -- When a worker may claim it next: its retry time, or its lease's expiry while leased.
    next_attempt_at  timestamptz not null default now(),
    -- Retries stop after this (24 h after the event, or after a redelivery).
    give_up_at       timestamptz not null default now() + interval '24 hours',
    lease_owner      text,
    lease_expires_at timestamptz,
    lease_epoch      bigint not null default 0,
    last_status_code integer,
    last_error       text,
    last_latency_ms  integer,
    last_attempt_at  timestamptz,
    delivered_at     timestamptz,
    created_at       timestamptz not null default now(),
    constraint webhook_deliveries_status_check check (status in ('pending', 'delivered', 'failed')),
    constraint webhook_deliveries_once unique (event_id, endpoint_id)
);
create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at)
    where status = 'pending';
create index webhook_deliveries_endpoint_idx on webhook_deliveries (endpoint_id, id);

-- The delivery log: one row per HTTP attempt.
create table webhook_delivery_attempts (
    delivery_id uuid not null references webhook_deliveries (id) on delete cascade,
    attempt_no  integer not null,
    started_at  timestamptz not null,
    status_code integer,
    latency_ms  integer not null,
    error       text,
    primary key (delivery_id, attempt_no)
);
