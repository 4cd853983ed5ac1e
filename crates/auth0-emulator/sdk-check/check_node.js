// Drive the emulator with Auth0's official Node SDK (`auth0` on npm) and fail on any surprise.
// The SDK is used unmodified; only its transport is swapped: a fetch that sends each
// https://TENANT/... request to the emulator over plain HTTP with Host: TENANT.
// Usage: EMULATOR=http://127.0.0.1:PORT node check_node.js   (auth0 installed in node_modules)
"use strict";
const http = require("node:http");
const assert = require("node:assert/strict");
const { ManagementClient, ManagementError } = require("auth0");

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
let checks = 0;
const ok = (cond, what) => {
  assert.ok(cond, what);
  checks += 1;
};

(async () => {
  // A wrong secret fails at the token endpoint, inside the SDK's token provider.
  const wrong = new ManagementClient({ domain, clientId: "sdk-m2m", clientSecret: "wrong" });
  await assert.rejects(wrong.clients.get("sdk-m2m"), (e) => /Unauthorized|access_denied|401/.test(String(e.message || e)));
  checks += 1;

  // Client credentials inside the ManagementClient (its own token provider and cache).
  const mgmt = new ManagementClient({ domain, clientId: "sdk-m2m", clientSecret: "sdk-initial-secret" });
  const page = await mgmt.clients.list({ per_page: 2 });
  const ids = [];
  for await (const client of page) ids.push(client.client_id);
  ok(ids.includes("sdk-m2m") && ids.length >= 3, `pager walked all pages: ${ids}`);
  const client = await mgmt.clients.get("sdk-m2m");
  ok(client.client_secret === "sdk-initial-secret", "get client");
  const updated = await mgmt.clients.update("sdk-m2m", { client_secret: "N".repeat(48) });
  ok(updated.client_secret === "N".repeat(48), "PATCH client_secret");
  const rotated = await mgmt.clients.rotateSecret("sdk-m2m");
  ok(rotated.client_secret.length === 64, "rotate-secret");
  await assert.rejects(mgmt.clients.get("ghost"), (e) => e instanceof ManagementError && e.statusCode === 404);
  checks += 1;

  const user = await mgmt.users.create({
    connection: "Username-Password-Authentication",
    email: "node@example.com",
    password: "Node-Passw0rd!",
  });
  ok(user.user_id.startsWith("auth0|"), "user created");
  const patched = await mgmt.users.update(user.user_id, { app_metadata: { plan: "pro" } });
  ok(patched.app_metadata.plan === "pro", "user patched");
  await assert.rejects(
    mgmt.users.create({ connection: "Username-Password-Authentication", email: "node@example.com", password: "Node-Passw0rd!" }),
    (e) => e.statusCode === 409,
  );
  checks += 1;

  const reader = new ManagementClient({ domain, clientId: "sdk-reader", clientSecret: "reader-secret" });
  await assert.rejects(reader.clients.rotateSecret("sdk-m2m"), (e) => e.statusCode === 403 && e.body.errorCode === "insufficient_scope");
  checks += 1;
  console.log(`node SDK: ${checks} checks passed`);
})().catch((e) => {
  console.error("FAIL", e);
  process.exit(1);
});
