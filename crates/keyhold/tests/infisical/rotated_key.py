"""An app that reads its Private Key JWT key from Keyhold with Infisical's official Python SDK
(`infisicalsdk`) and signs its Auth0 token requests with it through Auth0's official Python SDK
(`auth0-python`), both unmodified from PyPI. README.md's "Rotation with no downtime" shows this
code; `tests/infisical_sdk.rs` runs it against `keyhold dev`, whose embedded emulator plays Auth0
(auth0-python reaches it as an HTTP proxy, AUTH0_PROXY, with `protocol="http"`).

Configuration from the environment: VAULT_URL, CLIENT_ID, CLIENT_SECRET, PROJECT_ID,
AUTH0_DOMAIN, AUTH0_AUDIENCE, optionally AUTH0_PROXY and OLD_KEY (a key from before a rotation,
to show Auth0 refuses it once the overlap is over). Prints one JSON object with what it saw.
"""

import json
import os

if os.environ.get("AUTH0_PROXY"):
    # Auth0's SDK uses requests, which honours HTTP_PROXY; Keyhold itself is reached directly.
    os.environ["HTTP_PROXY"] = os.environ["AUTH0_PROXY"]
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"

# --- as in README.md -------------------------------------------------------------------------
from auth0.authentication import GetToken
from auth0.authentication.exceptions import Auth0Error
from infisical_sdk import InfisicalSDKClient

keyhold = InfisicalSDKClient(host=os.environ["VAULT_URL"], cache_ttl=None)
keyhold.auth.universal_auth.login(os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"])


def secret(name):
    return keyhold.secrets.get_secret_by_name(
        secret_name=name,
        project_id=os.environ["PROJECT_ID"],
        environment_slug="prod",
        secret_path="/orders",
    ).secretValue


def auth0_token(client_id, private_key):
    return GetToken(
        os.environ["AUTH0_DOMAIN"],
        client_id,
        client_assertion_signing_key=private_key,
        client_assertion_signing_alg="RS256",
        protocol="http" if os.environ.get("AUTH0_PROXY") else "https",
    ).client_credentials(os.environ["AUTH0_AUDIENCE"])


client_id = secret("ORDERS_AUTH0_CLIENT_ID")
private_key = secret("ORDERS_AUTH0_PRIVATE_KEY")  # read it again on the webhook, or every few minutes
token = auth0_token(client_id, private_key)
# --- end of the README example ---------------------------------------------------------------

seen = {
    "clientId": client_id,
    "keyId": secret("ORDERS_AUTH0_KEY_ID"),
    "key": private_key,
    "gotToken": bool(token.get("access_token")),
}
if os.environ.get("OLD_KEY"):
    try:
        auth0_token(client_id, os.environ["OLD_KEY"])
        seen["oldKey"] = "accepted"
    except Auth0Error as err:
        seen["oldKey"] = err.status_code
print(json.dumps(seen))
