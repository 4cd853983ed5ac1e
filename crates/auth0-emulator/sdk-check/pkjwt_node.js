// Private Key JWT with Auth0's official Node SDK (`auth0` on npm, unmodified) against the emulator.
// A manager ManagementClient (client secret) registers and enables the app's public key; a second
// ManagementClient configured with `clientAssertionSigningKey` then gets its own token with a signed
// assertion and reads the app; another key is refused. Only the transport is swapped: a fetch that
// sends each https://TENANT/... request to the emulator over plain HTTP with Host: TENANT.
// Env: EMULATOR, APP_PRIVATE_PEM, APP_PUBLIC_PEM, OTHER_PRIVATE_PEM. Prints a JSON summary.
"use strict";
const http = require("node:http");
const { ManagementClient } = require("auth0");

const emulator = new URL(process.env.EMULATOR);
globalThis.fetch = (input, init = {}) =>
  new Promise((resolve, reject) => {
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    const headers = Object.fromEntries(new Headers(init.headers || {}).entries());
    headers.host = url.host;
    const req = http.request(
      { host: emulator.hostname, port: emulator.port, method: init.method || "GET", path: url.pathname + url.search, headers },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const body = res.statusCode === 204 ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status: res.statusCode, headers: res.headers }));
        });
      },
    );
    req.on("error", reject);
    if (init.body) req.write(typeof init.body === "string" ? init.body : Buffer.from(init.body.toString()));
    req.end();
  });

const domain = "acme.auth0.test";
const APP = "sdk-pkjwt-app";

(async () => {
  const summary = {};
  const manager = new ManagementClient({ domain, clientId: "sdk-manager", clientSecret: "sdk-manager-secret" });
  const cred = await manager.clients.credentials.create(APP, {
    credential_type: "public_key",
    name: "node sdk key",
    pem: process.env.APP_PUBLIC_PEM,
    alg: "RS256",
  });
  summary.created = { id: cred.id, kid: cred.kid, alg: cred.alg };
  const client = await manager.clients.update(APP, {
    client_authentication_methods: { private_key_jwt: { credentials: [{ id: cred.id }] } },
  });
  summary.auth_method_after_enable = client.token_endpoint_auth_method;

  // The app's own client: the SDK's token provider signs an assertion for each token.
  const app = new ManagementClient({
    domain,
    clientId: APP,
    clientAssertionSigningKey: process.env.APP_PRIVATE_PEM,
    clientAssertionSigningAlg: "RS256",
  });
  summary.app_reads_itself = (await app.clients.get(APP)).client_id;

  const impostor = new ManagementClient({
    domain,
    clientId: APP,
    clientAssertionSigningKey: process.env.OTHER_PRIVATE_PEM,
  });
  try {
    await impostor.clients.get(APP);
    summary.other_key = "accepted";
  } catch (e) {
    summary.other_key = String(e.message || e);
  }
  console.log(JSON.stringify(summary));
})().catch((e) => {
  console.error("FAIL", e);
  process.exit(1);
});
