-- Audit log streams (issue 17): every audit event delivered, batched and signed, to an HTTP
-- endpoint (a SIEM's intake or any receiver).
--
-- The audit table is the stream's outbox: a stream keeps a cursor into it and nothing is copied.
-- Event ids are UUIDv7 taken before commit, so "id > cursor" could skip an event that commits
-- after a later one was delivered. Each row therefore records the id of the transaction that
-- wrote it (`xact`), and a stream reads only rows whose transaction is below the oldest one still
-- running (`pg_snapshot_xmin(pg_current_snapshot())`): below that horizon no row can appear any
-- more, so the cursor `(xact, id)` never passes an event that is yet to commit.
alter table audit_events add column xact xid8 not null default pg_current_xact_id();
create index audit_events_xact_idx on audit_events (xact, id);

create table audit_streams (
    id              uuid primary key,
    org_id          uuid not null references orgs (id) on delete cascade,
    -- null: every audit event of the organisation (instance admins only), logins included.
    project_id      uuid references projects (id) on delete cascade,
    url             text not null,
    description     text,
    enabled         boolean not null default true,
    -- The `whsec_` signing secret, sealed bound to this row, its organisation and its project.
    secret_sealed   bytea not null,
    -- Names of the extra request headers; their values are in `audit_stream_headers`.
    header_names    text[] not null default '{}',
    -- Everything up to and including this (transaction, event) has been delivered.
    cursor_xact     xid8 not null,
    cursor_id       uuid not null default '00000000-0000-0000-0000-000000000000',
    delivered_events bigint not null default 0,
    last_delivered_at timestamptz,
    -- Consecutive failed attempts of the batch at the cursor, and when the next one is due.
    failures        integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_error      text,
    last_status     integer,
    failing_since   timestamptz,
    lease_owner     text,
    lease_until     timestamptz,
    lease_epoch     bigint not null default 0,
    version         bigint not null default 1,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint audit_streams_url_check check (length(url) between 1 and 2048),
    constraint audit_streams_description_check check (length(description) <= 500)
);
create index audit_streams_project_idx on audit_streams (org_id, project_id, id);
create index audit_streams_due_idx on audit_streams (next_attempt_at) where enabled;

-- The envelope header's root key id, as for every sealed column (see 20261123000004_keyring.sql).
alter table audit_streams add column secret_key_id text generated always as (
    case
        when length(secret_sealed) < 2 then null
        when get_byte(secret_sealed, 0) <> 1 then null
        when get_byte(secret_sealed, 1) not between 1 and 32 then null
        when length(secret_sealed) < 2 + get_byte(secret_sealed, 1) then null
        else encode(substring(secret_sealed from 3 for get_byte(secret_sealed, 1)), 'escape')
    end
) stored;
create index audit_streams_secret_key_idx on audit_streams (secret_key_id, id);
-- The extra request headers (a JSON object, e.g. an intake's API key), sealed bound to the stream's
-- row, organisation and project. A table of their own because every sealed column is the one
-- sealed column of its table (`keyhold keys status` and `rewrap` count and walk them per table).
create table audit_stream_headers (
    stream_id      uuid primary key references audit_streams (id) on delete cascade,
    headers_sealed bytea not null
);
alter table audit_stream_headers add column headers_key_id text generated always as (
    case
        when length(headers_sealed) < 2 then null
        when get_byte(headers_sealed, 0) <> 1 then null
        when get_byte(headers_sealed, 1) not between 1 and 32 then null
        when length(headers_sealed) < 2 + get_byte(headers_sealed, 1) then null
        else encode(substring(headers_sealed from 3 for get_byte(headers_sealed, 1)), 'escape')
    end
) stored;
create index audit_stream_headers_key_idx on audit_stream_headers (headers_key_id, stream_id);
