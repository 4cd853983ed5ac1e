-- A project's connection count was one row, so concurrent creates in one project queued on it from
-- their insert to their commit (the commit waits for the WAL flush): under the soak mix, creates
-- spent more time waiting for that row lock than running. Each project now has up to 16 rows,
-- chosen by a byte of the connection's id (random in a v7 uuid), and a count is their sum (the
-- reader already sums). A connection's row is a function of its id alone, so its delete takes
-- back from the row its insert added to, and no row goes below zero.
alter table app_connection_counts add column shard smallint not null default 0;
alter table app_connection_counts drop constraint app_connection_counts_pkey;
delete from app_connection_counts;
insert into app_connection_counts (project_id, shard, connections)
select project_id, get_byte(uuid_send(id), 15) & 15, count(*)
  from app_connections group by 1, 2;
alter table app_connection_counts add primary key (project_id, shard);
alter table app_connection_counts alter column shard drop default;

create or replace function keyhold_count_connections_added() returns trigger
language plpgsql as $$
begin
    insert into app_connection_counts (project_id, shard, connections)
    select project_id, get_byte(uuid_send(id), 15) & 15, count(*) from added group by 1, 2
    on conflict (project_id, shard) do update
        set connections = app_connection_counts.connections + excluded.connections;
    return null;
end
$$;

create or replace function keyhold_count_connections_removed() returns trigger
language plpgsql as $$
begin
    update app_connection_counts c set connections = c.connections - r.n
      from (select project_id, get_byte(uuid_send(id), 15) & 15 as shard, count(*) as n
              from removed group by 1, 2) r
     where c.project_id = r.project_id and c.shard = r.shard;
    return null;
end
$$;
