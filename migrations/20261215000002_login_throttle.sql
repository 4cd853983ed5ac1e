-- Login throttling shared by every API process (it was per process, so N replicas allowed N times
-- the limit). Unlogged: the state is a minute deep and worth nothing after a crash, so it skips
-- the write-ahead log (and is not on a standby; after a failover the window simply starts anew).

-- One row per failed login and per key it counts against (the account, the address, the pair).
create unlogged table login_failures (
    key       text not null,
    failed_at timestamptz not null default clock_timestamp()
);
create index login_failures_key_idx on login_failures (key, failed_at);
create index login_failures_age_idx on login_failures (failed_at);

-- Attempts admitted and not finished, counted against their address like failures. A process
-- that dies leaves its rows to age out of the window.
create unlogged table login_attempts (
    id         uuid primary key,
    address    text not null,
    started_at timestamptz not null default clock_timestamp()
);
create index login_attempts_address_idx on login_attempts (address, started_at);

-- Whose turn it is to check a secret for one (account, address) pair, across processes. A lease:
-- a holder that dies gives the turn up when `until` passes.
create unlogged table login_turns (
    pair   text primary key,
    holder uuid not null,
    until  timestamptz not null
);

-- Admits an attempt from `p_address` unless its failures and attempts in flight within the window
-- already reach `p_limit`: null when admitted, else the seconds until the oldest failure leaves
-- the window (at least 1). The advisory lock makes the count and the insert one step for all
-- processes, so a burst spread over replicas is cut at the limit too.
create function keyhold_login_enter(p_address text, p_id uuid, p_limit int, p_window interval)
returns double precision
language plpgsql as $$
declare
    failures bigint;
    oldest timestamptz;
    in_flight bigint;
begin
    perform pg_advisory_xact_lock(hashtextextended('keyhold-login:' || p_address, 0));
    -- One statement, so one snapshot: a login finishing in between (its attempt deleted and its
    -- failure inserted in one commit) would otherwise be missed by both counts.
    select f.failures, f.oldest, a.in_flight into failures, oldest, in_flight
      from (select count(*) as failures, min(failed_at) as oldest from login_failures
             where key = p_address and failed_at > clock_timestamp() - p_window) f,
           (select count(*) as in_flight from login_attempts
             where address = p_address and started_at > clock_timestamp() - p_window) a;
    if failures + in_flight >= p_limit then
        return greatest(1, coalesce(extract(epoch from oldest + p_window - clock_timestamp()), 1));
    end if;
    insert into login_attempts (id, address) values (p_id, p_address);
    return null;
end
$$;
