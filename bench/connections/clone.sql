-- Clones one real connection (:'src_id', created through the API) into :n copies named
-- c-000001, c-000002, ... in the same project, so the table holds 100,000 rows without 100,000
-- Auth0 validations. Every column is copied except id and name. The sealed secret's associated
-- data names the source row's id, so a copy's secret would not open: GET and list never open it,
-- which is why the copies are valid for this benchmark and for nothing that reveals or rotates.
\set ON_ERROR_STOP on
insert into app_connections (id, org_id, project_id, app, method, name, description, domain,
                             client_id, audience, client_secret_sealed, version, created_at, updated_at,
                             scope_check, scope_checked_at)
select gen_random_uuid(), src.org_id, src.project_id, src.app, src.method,
       'c-' || lpad(g::text, 6, '0'), src.description, src.domain, src.client_id, src.audience,
       src.client_secret_sealed, 1, src.created_at, src.updated_at, src.scope_check, src.scope_checked_at
from app_connections as src
cross join generate_series(1, :n) as g
where src.id = :'src_id';
-- Fresh statistics and a visibility map, as a long-lived table would have.
vacuum (analyze) app_connections;
