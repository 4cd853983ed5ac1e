-- Every API process caches verified tokens (with their owner's memberships) for a few seconds.
-- These triggers tell all of them, on commit, when a cached answer may have become wrong, whoever
-- made the change (an API process, a worker, an operator in psql): `token:<sha256 hex>` for one
-- token, `all` when roles or identities changed. NOTIFY is transactional, so a rolled-back change
-- says nothing, and identical payloads in one transaction are sent once.

create function keyhold_tokens_changed() returns trigger
language plpgsql as $$
begin
    -- A mass expiry clean-up would otherwise send one notification per row.
    if (select count(*) from gone) > 100 then
        perform pg_notify('keyhold_access', 'all');
    else
        perform pg_notify('keyhold_access', 'token:' || encode(token_hash, 'hex')) from gone;
    end if;
    return null;
end
$$;

create trigger access_tokens_revoked
    after update on access_tokens
    referencing old table as gone
    for each statement execute function keyhold_tokens_changed();

create trigger access_tokens_deleted
    after delete on access_tokens
    referencing old table as gone
    for each statement execute function keyhold_tokens_changed();

create function keyhold_access_changed() returns trigger
language plpgsql as $$
begin
    perform pg_notify('keyhold_access', 'all');
    return null;
end
$$;

create trigger project_memberships_changed
    after insert or update or delete on project_memberships
    for each statement execute function keyhold_access_changed();

create trigger identities_changed
    after update or delete on identities
    for each statement execute function keyhold_access_changed();

create trigger projects_deleted
    after delete on projects
    for each statement execute function keyhold_access_changed();
