-- Project secrets (issue 16, first slice): environments per project, folders within an
-- environment, and secrets with a sealed value per version, served through Infisical's secrets API.
--
-- Folders: every environment has one explicit root folder (path '/', no parent, name ''), made by
-- a trigger when the environment is made, so every secret has a folder and "the folder at this
-- path" is one indexed lookup on (environment_id, path). A folder's `path` is kept materialised
-- (its parent's path + '/' + name); renaming a folder rewrites the paths under it in the same
-- statement group (see store::secrets::folders).

create table environments (
    id          uuid primary key,
    project_id  uuid not null references projects (id) on delete cascade,
    slug        text not null,
    name        text not null,
    position    integer not null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint environments_slug_check check (slug ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    constraint environments_name_check check (length(name) between 1 and 64),
    constraint environments_position_check check (position >= 1),
    constraint environments_project_slug_key unique (project_id, slug)
);
create index environments_project_idx on environments (project_id, position, slug);

create table secret_folders (
    id             uuid primary key,
    environment_id uuid not null references environments (id) on delete cascade,
    parent_id      uuid references secret_folders (id) on delete cascade,
    name           text not null,
    path           text not null,
    description    text,
    version        bigint not null default 1,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    constraint secret_folders_shape_check check (
        (parent_id is null and name = '' and path = '/')
        or (parent_id is not null and name ~ '^[A-Za-z0-9_.-]+$' and length(name) <= 256
            and name not in ('.', '..')
            and path ~ '^(/[A-Za-z0-9_.-]+)+$')
    ),
    constraint secret_folders_description_check check (description is null or length(description) <= 256),
    constraint secret_folders_env_path_key unique (environment_id, path)
);
create index secret_folders_parent_idx on secret_folders (parent_id);

create table secrets (
    id             uuid primary key,
    project_id     uuid not null references projects (id) on delete cascade,
    environment_id uuid not null references environments (id) on delete cascade,
    folder_id      uuid not null references secret_folders (id) on delete cascade,
    key            text not null,
    -- The current version; every version's value is in secret_versions.
    version        bigint not null default 1,
    comment        text not null default '',
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    -- (PostgreSQL regular expressions repeat at most 255 times, hence the separate length.)
    constraint secrets_key_check check (key ~ '^[A-Za-z0-9_.-]+$' and length(key) <= 256),
    constraint secrets_comment_check check (length(comment) <= 1024),
    constraint secrets_folder_key_key unique (folder_id, key)
);
create index secrets_environment_idx on secrets (environment_id);

-- One row per version of a secret, its value sealed with the root keyring (associated data: this
-- row's id and field `value`, bound to the project, environment, secret and version; see
-- broker::aad::secret_value). The store keeps at least the last 10 versions of each secret.
create table secret_versions (
    id           uuid primary key,
    secret_id    uuid not null references secrets (id) on delete cascade,
    version      bigint not null,
    value_sealed bytea not null,
    comment      text not null default '',
    created_at   timestamptz not null default now(),
    constraint secret_versions_secret_version_key unique (secret_id, version)
);

-- The root key id of each sealed value, as in 20261123000004_keyring.sql, for `keyhold keys`.
alter table secret_versions add column value_key_id text generated always as (
    case
        when length(value_sealed) < 2 then null
        when get_byte(value_sealed, 0) <> 1 then null
        when get_byte(value_sealed, 1) not between 1 and 32 then null
        when length(value_sealed) < 2 + get_byte(value_sealed, 1) then null
        else encode(substring(value_sealed from 3 for get_byte(value_sealed, 1)), 'escape')
    end
) stored;
create index secret_versions_value_key_idx on secret_versions (value_key_id, id);

-- Every environment has its root folder from the start.
create function environments_make_root_folder() returns trigger language plpgsql as $$
begin
    insert into secret_folders (id, environment_id, parent_id, name, path)
        values (gen_random_uuid(), new.id, null, '', '/');
    return new;
end;
$$;
create trigger environments_root_folder after insert on environments
    for each row execute function environments_make_root_folder();

-- Every project has dev, staging and prod from the start, however it is made.
create function projects_make_default_environments() returns trigger language plpgsql as $$
begin
    insert into environments (id, project_id, slug, name, position) values
        (gen_random_uuid(), new.id, 'dev', 'Development', 1),
        (gen_random_uuid(), new.id, 'staging', 'Staging', 2),
        (gen_random_uuid(), new.id, 'prod', 'Production', 3);
    return new;
end;
$$;
create trigger projects_default_environments after insert on projects
    for each row execute function projects_make_default_environments();

-- Projects made before this migration get them too.
insert into environments (id, project_id, slug, name, position)
    select gen_random_uuid(), p.id, e.slug, e.name, e.position
    from projects p
    cross join (values ('dev', 'Development', 1), ('staging', 'Staging', 2), ('prod', 'Production', 3))
        as e (slug, name, position);
