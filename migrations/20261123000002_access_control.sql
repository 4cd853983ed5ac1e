-- Access control (issue 4): identities, project memberships, access tokens and the audit log.

-- Users (email + argon2id password hash) and machine identities (client id + argon2id secret hash).
create table identities (
    id                 uuid primary key,
    org_id             uuid not null references orgs (id),
    kind               text not null,
    name               text not null,
    email              text,
    password_hash      text,
    client_id          text,
    client_secret_hash text,
    is_instance_admin  boolean not null default false,
    -- Disabled identities keep their history but cannot log in, and their tokens stop working.
    disabled_at        timestamptz,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    constraint identities_kind_check check (
        (kind = 'user' and email is not null and password_hash is not null and client_id is null)
        or (kind = 'machine' and client_id is not null and client_secret_hash is not null and email is null)
    ),
    constraint identities_name_check check (length(name) between 1 and 128)
);
create unique index identities_email_key on identities (lower(email)) where email is not null;
create unique index identities_client_id_key on identities (client_id) where client_id is not null;
create index identities_org_page_idx on identities (org_id, name, id);

create table project_memberships (
    project_id  uuid not null references projects (id) on delete cascade,
    identity_id uuid not null references identities (id) on delete cascade,
    role        text not null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint project_memberships_pkey primary key (project_id, identity_id),
    constraint project_memberships_role_check check (role in ('admin', 'member', 'viewer'))
);
-- A token check loads every membership of the caller in one go.
create index project_memberships_identity_idx on project_memberships (identity_id);

-- Opaque bearer tokens, stored only as SHA-256: they carry 256 random bits, so a fast hash is enough
-- and checking one is a single index lookup, never argon2.
create table access_tokens (
    id          uuid primary key,
    identity_id uuid not null references identities (id) on delete cascade,
    token_hash  bytea not null,
    expires_at  timestamptz not null,
    revoked_at  timestamptz,
    created_at  timestamptz not null default now(),
    constraint access_tokens_token_hash_key unique (token_hash)
);
create index access_tokens_identity_idx on access_tokens (identity_id);

-- Append-only record of who did what. No foreign keys: history outlives the rows it names.
create table audit_events (
    id            uuid primary key,
    org_id        uuid,
    project_id    uuid,
    actor_id      uuid,
    actor_kind    text not null,
    action        text not null,
    resource_type text not null,
    resource_id   text,
    outcome       text not null default 'success',
    request_id    text,
    source_ip     text,
    metadata      jsonb not null default '{}'::jsonb,
    created_at    timestamptz not null default now()
);
-- Ids are time-ordered (UUIDv7), so keyset pages walk (project_id, id) newest first.
create index audit_events_project_page_idx on audit_events (project_id, id desc);
create index audit_events_org_page_idx on audit_events (org_id, id desc);

create function audit_events_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'audit_events is append-only';
end;
$$;
create trigger audit_events_no_update before update or delete on audit_events
    for each row execute function audit_events_append_only();
