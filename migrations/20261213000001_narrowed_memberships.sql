-- A project membership may be narrowed to some environments and a folder prefix, so an app's machine
-- identity reaches only its own secrets (issue 16). Null means "all": a membership with both null is
-- the project-wide membership every existing row stays.
alter table project_memberships
    add column environments text[],
    add column secret_path  text;

alter table project_memberships
    -- An empty list would be a membership that reaches nothing; null is "every environment".
    add constraint project_memberships_environments_check check (
        environments is null
        or (cardinality(environments) between 1 and 64
            and array_position(environments, null) is null)
    ),
    -- Normalised by the API: `/`, or `/a/b` without a trailing slash.
    add constraint project_memberships_secret_path_check check (
        secret_path is null
        or secret_path = '/'
        or (secret_path ~ '^(/[A-Za-z0-9_.-]+)+$' and length(secret_path) <= 4112)
    ),
    -- Admins manage the whole project (memberships, environments), so an admin cannot be narrowed:
    -- it could widen itself again.
    add constraint project_memberships_admin_unnarrowed_check check (
        role <> 'admin' or (environments is null and secret_path is null)
    );
