-- Root keyring bookkeeping (issue 7): check values that pin each root key id to one key, and the
-- root key id of every sealed column in a column of its own so `keyhold keys status`, the start-up
-- check and `keyhold keys rewrap` find records by key id through an index at any table size.

-- A keyed check value per root key id (HMAC of a fixed message under the key, truncated; see
-- crypto's `RootKeyring::check_value`), recorded the first time a process starts with that id.
-- It proves nothing about the key to a reader of the database, but lets start-up refuse a key that
-- differs from the one first used under the same id, before anything is sealed with it.
create table keyring_check_values (
    key_id      text primary key,
    check_value text not null,
    recorded_at timestamptz not null default now(),
    constraint keyring_check_values_key_id_check check (key_id ~ '^[A-Za-z0-9_-]{1,32}$'),
    constraint keyring_check_values_check_value_check check (check_value ~ '^[0-9a-f]{32}$')
);

-- The root key id an envelope names, read from its header: version byte 1, id length byte, id.
-- A generated column rather than one every writer sets: the API and the worker need not know it
-- exists, and it can never disagree with the bytes. Null for anything that is not a whole
-- version-1 header (a new envelope format must extend this expression). `case` keeps get_byte
-- away from values too short to have a header, so a damaged value is stored, not refused.
alter table app_connections add column client_secret_key_id text generated always as (
    case
        when length(client_secret_sealed) < 2 then null
        when get_byte(client_secret_sealed, 0) <> 1 then null
        when get_byte(client_secret_sealed, 1) not between 1 and 32 then null
        when length(client_secret_sealed) < 2 + get_byte(client_secret_sealed, 1) then null
        else encode(substring(client_secret_sealed from 3 for get_byte(client_secret_sealed, 1)), 'escape')
    end
) stored;
-- Counts per key id (index-only), distinct key ids at start-up (a skip scan in a few probes), and
-- rewrap's keyset walk `key_id = $old and id > $cursor order by id`.
create index app_connections_secret_key_idx on app_connections (client_secret_key_id, id);

alter table rotation_credentials add column client_secret_key_id text generated always as (
    case
        when length(client_secret_sealed) < 2 then null
        when get_byte(client_secret_sealed, 0) <> 1 then null
        when get_byte(client_secret_sealed, 1) not between 1 and 32 then null
        when length(client_secret_sealed) < 2 + get_byte(client_secret_sealed, 1) then null
        else encode(substring(client_secret_sealed from 3 for get_byte(client_secret_sealed, 1)), 'escape')
    end
) stored;
create index rotation_credentials_secret_key_idx on rotation_credentials (client_secret_key_id, id);
