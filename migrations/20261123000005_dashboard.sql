-- What the dashboard reads (issue 10). Forward-only.

-- The last scope check Keyhold made of a connection (at creation, on a credentials change and on
-- every validate): per capability, the Management API scopes it lacks (empty: usable). Lists show
-- it without asking Auth0 once per row. Null: never checked (e.g. rows from before this column).
alter table app_connections add column scope_check jsonb;
alter table app_connections add column scope_checked_at timestamptz;

-- One resource's history (a connection's detail view), newest first.
create index audit_events_resource_page_idx on audit_events (resource_id, id desc)
    where resource_id is not null;
