-- How many connections each project holds, kept by triggers, so that a list's `totalCount` is one
-- index lookup instead of counting up to 10,001 index entries per page (which cost more than the
-- page itself: bench/connections/findings.md). Filtered lists (search, missing scope) still count.
--
-- Statement-level triggers with transition tables: a bulk insert or a cascade updates each
-- project's row once per statement, not once per connection. Creating connections in one project
-- concurrently serialises on its row until commit; creates wait for Auth0 far longer than that.
create table app_connection_counts (
    project_id uuid primary key references projects (id) on delete cascade,
    connections bigint not null check (connections >= 0)
);

insert into app_connection_counts (project_id, connections)
select project_id, count(*) from app_connections group by project_id;

create function keyhold_count_connections_added() returns trigger
language plpgsql as $$
begin
    insert into app_connection_counts (project_id, connections)
    select project_id, count(*) from added group by project_id
    on conflict (project_id) do update
        set connections = app_connection_counts.connections + excluded.connections;
    return null;
end
$$;

create function keyhold_count_connections_removed() returns trigger
language plpgsql as $$
begin
    update app_connection_counts c set connections = c.connections - r.n
      from (select project_id, count(*) as n from removed group by project_id) r
     where c.project_id = r.project_id;
    return null;
end
$$;

create trigger app_connections_count_added
    after insert on app_connections referencing new table as added
    for each statement execute function keyhold_count_connections_added();

create trigger app_connections_count_removed
    after delete on app_connections referencing old table as removed
    for each statement execute function keyhold_count_connections_removed();

-- A connection never moves between projects (no statement sets project_id); should one, the counts
-- would drift, so refuse it.
create function keyhold_connection_stays_in_project() returns trigger
language plpgsql as $$
begin
    raise exception 'app_connections.project_id cannot change';
end
$$;

create trigger app_connections_project_fixed
    before update of project_id on app_connections
    for each row when (old.project_id is distinct from new.project_id)
    execute function keyhold_connection_stays_in_project();
