-- Tenancy and app connections (issue 3). Forward-only: later changes get their own file.

-- One organisation per instance; `keyhold bootstrap` (or the first start) creates it.
create table orgs (
    id          uuid primary key,
    name        text not null,
    created_at  timestamptz not null default now()
);

-- Projects are the tenancy boundary: every connection, rotation and audit event names one.
create table projects (
    id          uuid primary key,
    org_id      uuid not null references orgs (id),
    name        text not null,
    description text,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint projects_name_check check (length(name) between 1 and 64),
    constraint projects_description_check check (description is null or length(description) <= 256),
    constraint projects_org_name_key unique (org_id, name)
);
-- Keyset paging of the project list walks (org_id, name, id).
create index projects_org_page_idx on projects (org_id, name, id);

create table app_connections (
    id                   uuid primary key,
    org_id               uuid not null references orgs (id),
    project_id           uuid not null references projects (id),
    app                  text not null default 'auth0',
    method               text not null,
    name                 text not null,
    description          text,
    domain               text not null,
    client_id            text not null,
    audience             text not null,
    -- Envelope from crates/crypto bound to (app_connections, id, client_secret): never plaintext.
    client_secret_sealed bytea not null,
    -- +1 on every change; the API's ETag and If-Match, and the token cache's key.
    version              bigint not null default 1,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    constraint app_connections_app_check check (app = 'auth0'),
    constraint app_connections_method_check check (method = 'client-credentials'),
    constraint app_connections_name_check check (name ~ '^[a-z0-9]+(-[a-z0-9]+)*$' and length(name) <= 64),
    constraint app_connections_description_check check (description is null or length(description) <= 256),
    constraint app_connections_version_check check (version >= 1),
    -- Names are unique per project; this constraint's name is mapped to 409 by the API.
    constraint app_connections_project_name_key unique (project_id, name)
);
-- Keyset paging: per project the unique (project_id, name) index serves; across projects (dashboards)
-- pages walk (org_id, name, id).
create index app_connections_org_page_idx on app_connections (org_id, name, id);

-- Replays of a POST with the same Idempotency-Key return the first answer. The row is written before the
-- work starts (state 'pending') so two concurrent requests with one key cannot both do the work.
create table idempotency_keys (
    scope         text not null,
    key           text not null,
    -- SHA-256 of method, path and body: a reused key with another request is refused, not replayed.
    request_hash  bytea not null,
    status_code   smallint,
    response_body jsonb,
    created_at    timestamptz not null default now(),
    constraint idempotency_keys_pkey primary key (scope, key),
    constraint idempotency_keys_key_check check (length(key) between 1 and 255)
);
create index idempotency_keys_created_idx on idempotency_keys (created_at);
