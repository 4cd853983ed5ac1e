-- Secret rotations (issue 5): schedules, generated credentials, attempt history, and the per-tenant
-- Auth0 request budget that every worker process shares.

create table secret_rotations (
    id                          uuid primary key,
    org_id                      uuid not null references orgs (id),
    project_id                  uuid not null references projects (id),
    -- A connection that rotations depend on cannot be deleted; the API maps this constraint to 409.
    connection_id               uuid not null,
    type                        text not null default 'auth0-client-secret',
    name                        text not null,
    description                 text,
    -- The Auth0 application whose secret is rotated (Infisical's `parameters.clientId`).
    client_id                   text not null,
    rotation_interval_days      integer not null,
    rotate_at_hours             smallint not null default 0,
    rotate_at_minutes           smallint not null default 0,
    is_auto_rotation_enabled    boolean not null default true,
    -- What users see; null while auto rotation is off.
    next_rotation_at            timestamptz,
    -- Outcome of the last finished attempt: 'pending' until the first one ends.
    status                      text not null default 'pending',
    last_rotation_message       text,
    last_rotated_at             timestamptz,
    last_rotation_attempted_at  timestamptz,
    is_last_rotation_manual     boolean not null default false,
    -- Slot (0 or 1) of the current generation, as Infisical's activeIndex.
    active_index                smallint not null default 0,
    -- The work queue in one column: when a worker should next look at this row. It is the
    -- schedule while idle, now() for "rotate now", the retry time while backing off, and the
    -- lease expiry while a worker holds the row, so "due or lease expired" is one index range.
    -- Null: nothing to do (auto rotation off and nothing requested).
    due_at                      timestamptz,
    -- A "rotate now" that no attempt has picked up yet; the attempt it starts is manual.
    rotate_requested_at         timestamptz,
    -- The open attempt (running or waiting to retry); resumed, never restarted, after a crash.
    current_attempt_id          uuid,
    lease_owner                 text,
    lease_expires_at            timestamptz,
    -- Fencing token: +1 on every claim. Every worker write names the epoch it claimed, so a worker
    -- whose lease expired fails to write instead of overwriting the new owner's work.
    lease_epoch                 bigint not null default 0,
    -- +1 on every configuration change (API ETag / If-Match); worker bookkeeping leaves it alone.
    version                     bigint not null default 1,
    created_at                  timestamptz not null default now(),
    updated_at                  timestamptz not null default now(),
    constraint secret_rotations_connection_id_fkey foreign key (connection_id)
        references app_connections (id) on delete restrict,
    constraint secret_rotations_type_check check (type = 'auth0-client-secret'),
    constraint secret_rotations_name_check check (name ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(name) <= 64),
    constraint secret_rotations_description_check check (description is null or length(description) <= 256),
    constraint secret_rotations_client_id_check check (length(client_id) between 1 and 128),
    constraint secret_rotations_interval_check check (rotation_interval_days between 1 and 3650),
    constraint secret_rotations_rotate_at_check check (
        rotate_at_hours between 0 and 23 and rotate_at_minutes between 0 and 59),
    constraint secret_rotations_status_check check (status in ('pending', 'success', 'failed')),
    constraint secret_rotations_active_index_check check (active_index in (0, 1)),
    constraint secret_rotations_lease_check check ((lease_owner is null) = (lease_expires_at is null)),
    constraint secret_rotations_version_check check (version >= 1),
    constraint secret_rotations_project_name_key unique (project_id, name)
);
-- Finding due work: `where due_at <= now() order by due_at limit n for update skip locked` walks
-- this index from its start, however many rotations exist. Rows with nothing to do are not in it.
create index secret_rotations_due_idx on secret_rotations (due_at) where due_at is not null;
-- Keyset pages across projects walk (org_id, name, id); per project the unique key serves.
create index secret_rotations_org_page_idx on secret_rotations (org_id, name, id);
-- The restrict check on connection delete, and "which rotations use this connection".
create index secret_rotations_connection_idx on secret_rotations (connection_id);

-- One row per attempt, written (with its pending secret) before Auth0 is called.
create table rotation_attempts (
    id            uuid primary key,
    rotation_id   uuid not null references secret_rotations (id) on delete cascade,
    attempt_no    integer not null,
    is_manual     boolean not null,
    -- Last step known to be done: 'created' (pending secret stored), 'set' (Auth0 accepted it),
    -- 'tested' (Auth0 answers to it), 'finished' (promoted to current).
    step          text not null default 'created',
    outcome       text not null default 'running',
    -- Claims that worked on this attempt, and failures counted towards the retry budget
    -- (rate limiting is not a failure and is not counted).
    tries         integer not null default 0,
    failures      integer not null default 0,
    message       text,
    worker        text,
    started_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    finished_at   timestamptz,
    constraint rotation_attempts_step_check check (step in ('created', 'set', 'tested', 'finished')),
    constraint rotation_attempts_outcome_check check (
        outcome in ('running', 'retrying', 'succeeded', 'failed')),
    constraint rotation_attempts_rotation_no_key unique (rotation_id, attempt_no)
);

alter table secret_rotations add constraint secret_rotations_current_attempt_fkey
    foreign key (current_attempt_id) references rotation_attempts (id) on delete set null
    deferrable initially deferred;

-- Generations of the generated secret, each sealed with associated data naming its own row.
-- 'pending' is written before Auth0 hears of it; 'current' is what Auth0 holds; 'previous' is
-- the one before (already dead in Auth0, kept as Infisical keeps two); 'abandoned' is a pending
-- secret of a failed attempt that Auth0 may have accepted, kept so it can still be recovered.
create table rotation_credentials (
    id                   uuid primary key,
    rotation_id          uuid not null references secret_rotations (id) on delete cascade,
    attempt_id           uuid not null references rotation_attempts (id) on delete cascade,
    state                text not null,
    -- 0 or 1 for current/previous (activeIndex points at current); null otherwise.
    slot                 smallint,
    client_secret_sealed bytea not null,
    created_at           timestamptz not null default now(),
    activated_at         timestamptz,
    constraint rotation_credentials_state_check check (
        state in ('pending', 'current', 'previous', 'abandoned')),
    constraint rotation_credentials_slot_check check (
        (state in ('current', 'previous')) = (slot is not null) and (slot is null or slot in (0, 1))),
    -- At most one current and one previous per rotation. Checked at commit, so the finish step
    -- can shift pending -> current -> previous in one statement.
    constraint rotation_credentials_one_current exclude using btree (rotation_id with =)
        where (state = 'current') deferrable initially deferred,
    constraint rotation_credentials_one_previous exclude using btree (rotation_id with =)
        where (state = 'previous') deferrable initially deferred
);
create unique index rotation_credentials_pending_key on rotation_credentials (rotation_id)
    where state = 'pending';
create index rotation_credentials_rotation_idx on rotation_credentials (rotation_id);
create index rotation_credentials_attempt_idx on rotation_credentials (attempt_id);

-- Auth0 limits each tenant as a whole, so N worker processes must share one budget per tenant
-- (and per limited API) instead of each spending the full limit. A GCRA bucket: `tat` is the
-- theoretical arrival time of the next request; `blocked_until` honours a 429's reset time.
create table auth0_request_budgets (
    bucket        text primary key,
    tat           timestamptz not null,
    blocked_until timestamptz,
    updated_at    timestamptz not null default now()
);

-- Reserves `slots` consecutive request slots on `bucket` at `period_secs` apart with a burst of
-- `burst`, and returns how many seconds from now the first may be sent (0 = at once). One row
-- lock per call; the database clock is the only clock, so worker hosts' clocks never matter.
create function keyhold_reserve_auth0_budget(
    p_bucket text, p_slots integer, p_period_secs double precision, p_burst integer
) returns double precision language plpgsql as $$
declare
    v_now     timestamptz := clock_timestamp();
    v_span    interval := make_interval(secs => p_slots * p_period_secs);
    v_tau     interval := make_interval(secs => greatest(p_burst - 1, 0) * p_period_secs);
    v_eff     timestamptz;
    v_tat     timestamptz;
    v_blocked timestamptz;
    v_send    timestamptz;
begin
    insert into auth0_request_budgets (bucket, tat) values (p_bucket, v_now)
        on conflict (bucket) do nothing;
    select tat, blocked_until into v_tat, v_blocked
        from auth0_request_budgets where bucket = p_bucket for update;
    v_eff := greatest(v_now, coalesce(v_blocked, v_now));
    v_send := greatest(v_eff, v_tat - v_tau);
    update auth0_request_budgets
        set tat = greatest(v_tat, v_eff) + v_span, updated_at = v_now
        where bucket = p_bucket;
    return greatest(extract(epoch from (v_send - v_now))::double precision, 0);
end;
$$;
