-- Rotations of type `auth0-private-key-jwt` (issue 18): instead of replacing a client's one
-- secret, add a second public-key credential in Auth0, hand the new private key to the apps (the
-- mapped secrets), and remove the old credential only after an overlap, so no app is cut off.

alter table secret_rotations drop constraint secret_rotations_type_check;
alter table secret_rotations add constraint secret_rotations_type_check
    check (type in ('auth0-client-secret', 'auth0-private-key-jwt'));
-- How long the old and new credentials are both enabled (Infisical has no such parameter; the
-- API calls it `parameters.overlapSeconds`). Only a key rotation has one: a client secret has no
-- overlap to offer. 60 s to 30 days, so the old key is never left enabled for long by accident.
alter table secret_rotations add column overlap_seconds integer;
alter table secret_rotations add constraint secret_rotations_overlap_check check (
    (type = 'auth0-private-key-jwt') = (overlap_seconds is not null)
    and (overlap_seconds is null or overlap_seconds between 60 and 2592000));

-- A key rotation's attempt rests between publishing the new key and removing the old credential:
-- step 'published' (the new key is in Auth0 beside the old one and in the mapped secrets; the
-- rotation's `due_at` is the end of the overlap, and no lease is held while it waits).
alter table rotation_attempts drop constraint rotation_attempts_step_check;
alter table rotation_attempts add constraint rotation_attempts_step_check
    check (step in ('created', 'set', 'tested', 'published', 'finished'));

-- The key pairs a key rotation generated, one per attempt. The private key is sealed before
-- Auth0 hears of the public half (bound to this row, the tenant, the client, the project and the
-- rotation, as generated secrets are), so a worker that dies at any step resumes with the same
-- key: it never creates a second credential for one attempt, and never loses the key Auth0 holds.
--   pending   the open attempt's key (at most one per rotation)
--   current   the key Auth0 has enabled since the last successful attempt
--   abandoned a failed attempt's key that Auth0 may hold; kept so it can be found and removed
create table rotation_key_pairs (
    id                     uuid primary key,
    rotation_id            uuid not null references secret_rotations (id) on delete cascade,
    attempt_id             uuid not null references rotation_attempts (id) on delete cascade,
    state                  text not null,
    -- Where the key is issued: the connection's tenant and the rotated client at the time.
    domain                 text not null,
    client_id              text not null,
    private_key_sealed     bytea not null,
    -- RFC 7638 thumbprint of the public key: the `kid` registered in Auth0, found again by it on
    -- resume (a credential with this kid already on the client is ours, not a new one to create).
    kid                    text not null,
    alg                    text not null,
    -- The public half (SPKI PEM); not secret.
    public_key_pem         text not null,
    -- Auth0's id for the credential, recorded as soon as Auth0 answered the create.
    auth0_credential_id    text,
    -- The credential enabled before this key: removed (disabled, then deleted) when the overlap
    -- ends. Null when the client had none.
    replaces_credential_id text,
    -- The `expires_at` sent to Auth0: next rotation + overlap, so a forgotten key dies on its own.
    expires_at             timestamptz,
    -- Set, durably, when the new key was published: the old credential goes at this time.
    overlap_until          timestamptz,
    created_at             timestamptz not null default now(),
    activated_at           timestamptz,
    constraint rotation_key_pairs_state_check check (state in ('pending', 'current', 'abandoned')),
    constraint rotation_key_pairs_alg_check check (alg in ('RS256', 'RS384', 'PS256')),
    constraint rotation_key_pairs_kid_check check (kid ~ '^[0-9A-Za-z_-]{10,64}$'),
    -- One current key per rotation, checked at commit so the finish can swap in one statement.
    constraint rotation_key_pairs_one_current exclude using btree (rotation_id with =)
        where (state = 'current') deferrable initially deferred
);
create unique index rotation_key_pairs_pending_key on rotation_key_pairs (rotation_id)
    where state = 'pending';
create index rotation_key_pairs_attempt_idx on rotation_key_pairs (attempt_id);

-- The root key id in the envelope's header, as for every sealed column (see 20261123000004_keyring.sql).
alter table rotation_key_pairs add column private_key_key_id text generated always as (
    case
        when length(private_key_sealed) < 2 then null
        when get_byte(private_key_sealed, 0) <> 1 then null
        when get_byte(private_key_sealed, 1) not between 1 and 32 then null
        when length(private_key_sealed) < 2 + get_byte(private_key_sealed, 1) then null
        else encode(substring(private_key_sealed from 3 for get_byte(private_key_sealed, 1)), 'escape')
    end
) stored;
create index rotation_key_pairs_key_idx on rotation_key_pairs (private_key_key_id, id);

-- A key rotation writes the new private key (PEM) and its `kid` into the mapped secrets, beside
-- the client id; a client-secret rotation writes the client id and secret as before.
alter table rotation_secrets drop constraint rotation_secrets_role_check;
alter table rotation_secrets add constraint rotation_secrets_role_check
    check (role in ('clientId', 'clientSecret', 'privateKey', 'keyId'));
