-- Clones one real connection (:'src_id', created through the API) into :n copies named
-- c-000001, c-000002, ... in the same project, with predictable ids
-- 50a50000-0000-4000-8000-000000000001, ... so the pgbench scripts can pick a random row by primary
-- key (`:r` -> id) exactly as the API's GET does. Every other column is copied. A copy's sealed
-- secret is bound to the source row's id and would not open: GET, list and a PATCH of the name or
-- description never open it, so copies serve the soak's reads and description PATCHes, never a
-- rotation or a credentials change.
\set ON_ERROR_STOP on
insert into app_connections (id, org_id, project_id, app, method, name, description, domain,
                             client_id, audience, client_secret_sealed, version, created_at, updated_at,
                             scope_check, scope_checked_at)
select ('50a50000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, src.org_id, src.project_id,
       src.app, src.method, 'c-' || lpad(g::text, 6, '0'), src.description, src.domain,
       src.client_id, src.audience, src.client_secret_sealed, 1, src.created_at, src.updated_at,
       src.scope_check, src.scope_checked_at
from app_connections as src
cross join generate_series(1, :n) as g
where src.id = :'src_id';
vacuum (analyze) app_connections;
