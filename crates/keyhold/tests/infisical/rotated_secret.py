"""An app that reads its rotated Auth0 credentials from Keyhold with Infisical's official Python SDK
(`infisicalsdk`, unmodified, from PyPI) and gets an Auth0 token with them. README.md's "Give your
apps the rotated secret" shows this code; `tests/infisical_sdk.rs` runs it against `keyhold dev`,
whose embedded emulator plays Auth0 (AUTH0_TOKEN_URL points at it; `Host` names the tenant).

Configuration from the environment: VAULT_URL, CLIENT_ID, CLIENT_SECRET, PROJECT_ID,
AUTH0_DOMAIN, AUTH0_AUDIENCE, optionally AUTH0_TOKEN_URL and OLD_SECRET (a secret from before a
rotation, to show Auth0 refuses it). Prints one JSON object with what it saw.
"""

import json
import os

import requests
from infisical_sdk import InfisicalSDKClient

# --- as in README.md -------------------------------------------------------------------------
keyhold = InfisicalSDKClient(host=os.environ["VAULT_URL"], cache_ttl=None)
keyhold.auth.universal_auth.login(os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"])


def secret(name):
    return keyhold.secrets.get_secret_by_name(
        secret_name=name,
        project_id=os.environ["PROJECT_ID"],
        environment_slug="prod",
        secret_path="/orders",
    )


def auth0_token(client_id, client_secret):
    domain = os.environ["AUTH0_DOMAIN"]
    url = os.environ.get("AUTH0_TOKEN_URL", f"https://{domain}/oauth/token")
    return requests.post(
        url,
        headers={"Host": domain},
        json={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "audience": os.environ["AUTH0_AUDIENCE"],
        },
        timeout=10,
    )


client_id = secret("ORDERS_AUTH0_CLIENT_ID").secretValue
client_secret = secret("ORDERS_AUTH0_CLIENT_SECRET")  # read it again after every rotation
answer = auth0_token(client_id, client_secret.secretValue)
# --- end of the README example ---------------------------------------------------------------

seen = {
    "clientId": client_id,
    "version": client_secret.version,
    "secret": client_secret.secretValue,
    "tokenStatus": answer.status_code,
    "gotToken": bool(answer.ok and answer.json().get("access_token")),
}
if os.environ.get("OLD_SECRET"):
    seen["oldSecretStatus"] = auth0_token(client_id, os.environ["OLD_SECRET"]).status_code
print(json.dumps(seen))
