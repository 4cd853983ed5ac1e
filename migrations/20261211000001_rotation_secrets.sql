-- Rotations write secrets (issue 16): which project secrets a rotation owns and writes its new
-- credentials into when an attempt finishes (Infisical's `secretsMapping`). One row per role.
--
-- The mapping names a folder and a key, not a `secrets` row: the secret is made by the first
-- rotation that finishes, and a secret deleted with the rotation (`deleteSecrets`) leaves nothing
-- dangling. `(folder_id, key)` is unique, so two rotations can never own one secret.
--
-- Folders and environments are referenced without a cascade: one that holds a rotation's secrets
-- cannot be deleted while the rotation maps them (the API answers 409 naming the rotation; the
-- constraint is the backstop), so a finishing rotation always has somewhere to write. The foreign
-- keys are NO ACTION (checked at the end of the statement), so deleting a whole project, which
-- removes the rotation in the same cascade, still works.

create table rotation_secrets (
    rotation_id    uuid not null references secret_rotations (id) on delete cascade,
    environment_id uuid not null,
    folder_id      uuid not null,
    -- Which credential this secret holds: Infisical's secretsMapping member names.
    role           text not null,
    key            text not null,
    constraint rotation_secrets_pkey primary key (rotation_id, role),
    constraint rotation_secrets_environment_id_fkey foreign key (environment_id)
        references environments (id),
    constraint rotation_secrets_folder_id_fkey foreign key (folder_id)
        references secret_folders (id),
    constraint rotation_secrets_role_check check (role in ('clientId', 'clientSecret')),
    -- As secrets_key_check: a mapping can only name a secret that could exist.
    constraint rotation_secrets_key_check check (key ~ '^[A-Za-z0-9_.-]+$' and length(key) <= 256),
    constraint rotation_secrets_folder_key_key unique (folder_id, key)
);
-- "Does this environment hold managed secrets" (environment delete) is one index range.
create index rotation_secrets_environment_idx on rotation_secrets (environment_id);
