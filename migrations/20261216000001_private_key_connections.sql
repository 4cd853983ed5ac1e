-- Connections that hold a private key (issue 18): `method = 'private-key-jwt'`. Keyhold generates
-- the RSA key pair; the private key is sealed like a client secret (bound to its row, the tenant, the
-- client, the project and the connection) and never leaves Keyhold; only the public half is shown,
-- to be registered in Auth0 as a credential of the client. Such a connection has no client secret.
alter table app_connections drop constraint app_connections_method_check;
alter table app_connections add constraint app_connections_method_check
    check (method in ('client-credentials', 'private-key-jwt'));

alter table app_connections alter column client_secret_sealed drop not null;
alter table app_connections
    -- The key's RFC 7638 thumbprint: the `kid` registered in Auth0 and sent in every assertion header.
    add column key_kid text,
    add column key_alg text,
    -- The public half as SPKI PEM and JWK, shown so the user can register it; not secret.
    add column public_key_pem text,
    add column public_key_jwk jsonb,
    -- Null until Keyhold first obtained a token with the key (validate, or the registerWith flow):
    -- until then the connection is `pending-registration` and calls through it are refused.
    add column key_registered_at timestamptz;

-- Exactly one kind of credential per method, so no code path has to guess which one to use.
alter table app_connections add constraint app_connections_credential_check check (
    (method = 'client-credentials' and client_secret_sealed is not null and key_kid is null)
    or (method = 'private-key-jwt' and client_secret_sealed is null and key_kid is not null
        and key_alg in ('RS256', 'RS384', 'PS256')
        and public_key_pem is not null and public_key_jwk is not null)
);

-- The private key in a table of its own: read only when a token must be signed for (a token cache
-- miss), never with the connection rows every list and call loads; and one table per sealed column
-- is what `keyhold keys status|rewrap` walk. One key per connection for now (the unique constraint);
-- a self-rotation that overlaps two keys will relax it.
create table connection_private_keys (
    id                 uuid primary key,
    connection_id      uuid not null references app_connections (id) on delete cascade,
    -- Envelope bound to (connection_private_keys, id, private_key) and to tenant, client, project
    -- and connection: never plaintext.
    private_key_sealed bytea not null,
    created_at         timestamptz not null default now(),
    constraint connection_private_keys_connection_key unique (connection_id)
);

-- The root key id in the envelope's header, as for every sealed column (see 20261123000004_keyring.sql).
alter table connection_private_keys add column private_key_key_id text generated always as (
    case
        when length(private_key_sealed) < 2 then null
        when get_byte(private_key_sealed, 0) <> 1 then null
        when get_byte(private_key_sealed, 1) not between 1 and 32 then null
        when length(private_key_sealed) < 2 + get_byte(private_key_sealed, 1) then null
        else encode(substring(private_key_sealed from 3 for get_byte(private_key_sealed, 1)), 'escape')
    end
) stored;
create index connection_private_keys_key_idx on connection_private_keys (private_key_key_id, id);
