// An app that reads its rotated Auth0 credentials from Keyhold with Infisical's official Node SDK
// (`@infisical/sdk`, unmodified, from npm) and gets an Auth0 token with them: the Node twin of
// rotated_secret.py. README.md's "Give your apps the rotated secret" shows this code;
// `tests/infisical_sdk.rs` runs it against `keyhold dev`, whose embedded emulator plays Auth0
// (AUTH0_TOKEN_URL points at it; the `Host` header names the tenant, which is why the token request
// uses node:http(s) rather than fetch, which does not send a Host of its own choosing).
//
// Configuration from the environment: VAULT_URL, CLIENT_ID, CLIENT_SECRET, PROJECT_ID,
// AUTH0_DOMAIN, AUTH0_AUDIENCE, optionally AUTH0_TOKEN_URL and OLD_SECRET (a secret from before a
// rotation, to show Auth0 refuses it), and NODE_PATH pointing at the SDK's node_modules. Prints
// one JSON object with what it saw.

"use strict";

// --- as in README.md -------------------------------------------------------------------------
const { InfisicalSDK } = require("@infisical/sdk");

async function main() {
  const keyhold = new InfisicalSDK({ siteUrl: process.env.VAULT_URL });
  await keyhold.auth().universalAuth.login({
    clientId: process.env.CLIENT_ID,
    clientSecret: process.env.CLIENT_SECRET,
  });
  const secret = (name) =>
    keyhold.secrets().getSecret({
      secretName: name,
      projectId: process.env.PROJECT_ID,
      environment: "prod",
      secretPath: "/orders",
    });
  const auth0Token = (clientId, clientSecret) =>
    new Promise((resolve, reject) => {
      const domain = process.env.AUTH0_DOMAIN;
      const url = new URL(process.env.AUTH0_TOKEN_URL ?? `https://${domain}/oauth/token`);
      const body = JSON.stringify({
        grant_type: "client_credentials",
        client_id: clientId,
        client_secret: clientSecret,
        audience: process.env.AUTH0_AUDIENCE,
      });
      const { request } = require(url.protocol === "https:" ? "node:https" : "node:http");
      const req = request(
        url,
        { method: "POST", headers: { Host: domain, "Content-Type": "application/json" } },
        (res) => {
          let text = "";
          res.on("data", (chunk) => (text += chunk));
          res.on("end", () => resolve({ status: res.statusCode, text }));
        },
      );
      req.on("error", reject);
      req.end(body);
    });

  const clientId = (await secret("ORDERS_AUTH0_CLIENT_ID")).secretValue;
  const clientSecret = await secret("ORDERS_AUTH0_CLIENT_SECRET"); // read it again after every rotation
  const answer = await auth0Token(clientId, clientSecret.secretValue);
  // --- end of the README example -------------------------------------------------------------

  let token = {};
  try {
    token = JSON.parse(answer.text);
  } catch {}
  const seen = {
    clientId,
    version: clientSecret.version,
    secret: clientSecret.secretValue,
    tokenStatus: answer.status,
    gotToken: answer.status === 200 && Boolean(token.access_token),
  };
  if (process.env.OLD_SECRET) {
    seen.oldSecretStatus = (await auth0Token(clientId, process.env.OLD_SECRET)).status;
  }
  console.log(JSON.stringify(seen));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
