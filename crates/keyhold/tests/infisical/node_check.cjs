// Infisical's official Node SDK (`@infisical/sdk`, unmodified, from npm) against a running Keyhold:
// log in with universal auth, make and list folders, then create, read, list, update, read a past
// version of, expand references in and delete secrets, and read an error the way the SDK shows it.
// Prints one JSON object with what it saw; the Rust test that runs it makes the assertions.
//
// Configuration from the environment: VAULT_URL, CLIENT_ID, CLIENT_SECRET, PROJECT_ID,
// NARROWED_CLIENT_ID and NARROWED_CLIENT_SECRET (a viewer narrowed to dev at /orders), and
// NODE_PATH pointing at the node_modules holding the SDK (scripts/test installs it).

"use strict";

const { InfisicalSDK } = require("@infisical/sdk");

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

async function main() {
  const projectId = env("PROJECT_ID");
  const client = new InfisicalSDK({ siteUrl: env("VAULT_URL") });
  await client.auth().universalAuth.login({
    clientId: env("CLIENT_ID"),
    clientSecret: env("CLIENT_SECRET"),
  });
  const seen = {};
  const at = { projectId, environment: "dev", secretPath: "/orders" };

  const folder = await client.folders().create({
    projectId,
    environment: "dev",
    name: "orders",
    path: "/",
    description: "the orders service",
  });
  seen.folder = { name: folder.name, path: folder.path };
  const folders = await client.folders().listFolders({ projectId, environment: "dev", path: "/" });
  seen.folders = folders.map((f) => f.name);

  const created = await client.secrets().createSecret("ORDERS_DB_PASSWORD", {
    ...at,
    secretValue: "first-value",
    secretComment: "the orders database",
  });
  seen.created = {
    key: created.secret.secretKey,
    version: created.secret.version,
    comment: created.secret.secretComment,
  };

  const got = await client.secrets().getSecret({ ...at, secretName: "ORDERS_DB_PASSWORD" });
  seen.got = { value: got.secretValue, version: got.version, environment: got.environment };

  const updated = await client.secrets().updateSecret("ORDERS_DB_PASSWORD", {
    ...at,
    secretValue: "second-value",
  });
  seen.updated = { version: updated.secret.version };

  const latest = await client.secrets().getSecret({ ...at, secretName: "ORDERS_DB_PASSWORD" });
  const past = await client.secrets().getSecret({ ...at, secretName: "ORDERS_DB_PASSWORD", version: 1 });
  seen.latest = { value: latest.secretValue, version: latest.version };
  seen.past = { value: past.secretValue, version: past.version };

  // References: the SDK asks for expansion by default.
  await client.secrets().createSecret("DB_HOST", { ...at, secretPath: "/", secretValue: "db.internal" });
  await client.secrets().createSecret("ORDERS_DB_URL", {
    ...at,
    secretValue: "postgres://orders:${ORDERS_DB_PASSWORD}@${dev.DB_HOST}/orders",
  });
  const expanded = await client.secrets().getSecret({ ...at, secretName: "ORDERS_DB_URL" });
  const unexpanded = await client.secrets().getSecret({
    ...at,
    secretName: "ORDERS_DB_URL",
    expandSecretReferences: false,
  });
  seen.reference = { expanded: expanded.secretValue, raw: unexpanded.secretValue };

  const listed = await client.secrets().listSecrets(at);
  seen.listed = listed.secrets.map((s) => [s.secretKey, s.secretValue]).sort();

  // A machine identity narrowed to dev at /orders reads only its own secrets.
  const narrowed = new InfisicalSDK({ siteUrl: env("VAULT_URL") });
  await narrowed.auth().universalAuth.login({
    clientId: env("NARROWED_CLIENT_ID"),
    clientSecret: env("NARROWED_CLIENT_SECRET"),
  });
  const everything = await narrowed.secrets().listSecrets({
    projectId,
    environment: "dev",
    secretPath: "/",
    recursive: true,
    expandSecretReferences: false,
  });
  const refused = async (call) => {
    try {
      await call();
      return "allowed";
    } catch (err) {
      return String(err.message);
    }
  };
  seen.narrowed = {
    listed: everything.secrets.map((s) => s.secretKey).sort(),
    own: (await narrowed.secrets().getSecret({
      ...at,
      secretName: "ORDERS_DB_PASSWORD",
    })).secretValue,
    outside: await refused(() => narrowed.secrets().getSecret({ ...at, secretPath: "/", secretName: "DB_HOST" })),
    // Its own secret references one outside its folder: refused, not half expanded.
    reference: await refused(() => narrowed.secrets().getSecret({ ...at, secretName: "ORDERS_DB_URL" })),
  };

  try {
    await client.secrets().getSecret({ ...at, secretName: "NO_SUCH_SECRET" });
    seen.missing = { raised: false };
  } catch (err) {
    seen.missing = { raised: true, name: err.name, text: String(err.message) };
  }

  const deleted = await client.secrets().deleteSecret("ORDERS_DB_PASSWORD", at);
  seen.deleted = { key: deleted.secret.secretKey };
  await client.secrets().deleteSecret("ORDERS_DB_URL", at);
  const after = await client.secrets().listSecrets(at);
  seen.after_delete = after.secrets.map((s) => s.secretKey);

  process.stdout.write(JSON.stringify(seen));
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
