-- A sealed Auth0 secret is bound (in its associated data) to the tenant, client and project it
-- was issued for, not only to its row, so it can only ever be opened to be sent where it belongs.
-- Rows sealed before this migration carry the old binding (`secret_bound = false`); the start-up
-- of `serve`, `worker` and `dev` (and `keyhold keys rewrap`) re-seals them, after which nothing
-- opens the old binding any more. New rows are bound from the start.
alter table app_connections add column secret_bound boolean not null default false;
alter table app_connections alter column secret_bound set default true;

-- Where a generated secret was issued: the tenant of the rotation's connection and the rotated
-- client at the time. Reveals pair the secret with this client id, and sending it anywhere else
-- fails to open it.
alter table rotation_credentials
    add column domain text,
    add column client_id text,
    add column secret_bound boolean not null default false;
update rotation_credentials c set domain = ac.domain, client_id = r.client_id
    from secret_rotations r join app_connections ac on ac.id = r.connection_id
    where r.id = c.rotation_id;
alter table rotation_credentials
    alter column domain set not null,
    alter column client_id set not null,
    alter column secret_bound set default true;

create index app_connections_unbound_idx on app_connections (id) where not secret_bound;
create index rotation_credentials_unbound_idx on rotation_credentials (id) where not secret_bound;
