"""Private Key JWT with Auth0's official Python SDK (auth0-python, unmodified) against the emulator.

A manager application registers the app's public key and enables it through the SDK's
Management client; the app then gets tokens with `GetToken(..., client_assertion_signing_key=...)`.
Another key, the app's old secret, a third credential and deleting an enabled key are refused.
The SDK talks to `http://acme.auth0.test/...` through the emulator used as an HTTP proxy.
Env: EMULATOR, APP_PRIVATE_PEM, APP_PUBLIC_PEM, OTHER_PRIVATE_PEM. Prints a JSON summary.
"""

import datetime
import json
import os
import sys

import httpx
from auth0.authentication import GetToken
from auth0.authentication.exceptions import Auth0Error
from auth0.management.client import Auth0
from auth0.management.errors import BadRequestError

EMULATOR = os.environ["EMULATOR"]
DOMAIN = "acme.auth0.test"
MANAGER, MANAGER_SECRET = "sdk-manager", "sdk-manager-secret"
APP, APP_SECRET = "sdk-pkjwt-app", "sdk-pkjwt-app-secret"
AUDIENCE = f"https://{DOMAIN}/api/v2/"

os.environ["HTTP_PROXY"] = EMULATOR  # requests (authentication API) honours it
os.environ["NO_PROXY"] = ""


def fail(what):
    print(f"FAIL: {what}", file=sys.stderr)
    sys.exit(1)


def mgmt(access_token):
    client = httpx.Client(proxy=EMULATOR, timeout=10)
    return Auth0(base_url=f"http://{DOMAIN}/api/v2", token=access_token, httpx_client=client, max_retries=0)


def app_token(key):
    return GetToken(
        DOMAIN, APP, client_assertion_signing_key=key, client_assertion_signing_alg="RS256", protocol="http"
    ).client_credentials(AUDIENCE)


def refused(call):
    try:
        call()
    except Auth0Error as e:
        return {"status": e.status_code, "error": e.error_code, "description": e.message}
    fail("expected the token request to be refused")


summary = {}
manager = mgmt(GetToken(DOMAIN, MANAGER, client_secret=MANAGER_SECRET, protocol="http").client_credentials(AUDIENCE)["access_token"])

expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)
cred = manager.clients.credentials.create(
    APP, credential_type="public_key", name="python sdk key", pem=os.environ["APP_PUBLIC_PEM"], alg="RS256", expires_at=expires
)
summary["created"] = {"id": cred.id, "kid": cred.kid, "alg": cred.alg, "type": cred.credential_type}
summary["listed"] = [c.id for c in manager.clients.credentials.list(APP)]
summary["got"] = manager.clients.credentials.get(APP, cred.id).kid

client = manager.clients.update(APP, client_authentication_methods={"private_key_jwt": {"credentials": [{"id": cred.id}]}})
summary["auth_method_after_enable"] = client.token_endpoint_auth_method

token = app_token(os.environ["APP_PRIVATE_PEM"])
summary["token"] = {"type": token["token_type"], "scope": token["scope"]}
summary["app_reads_itself"] = mgmt(token["access_token"]).clients.get(APP).client_id
# A second request signs a new assertion (new jti): not a replay.
summary["second_token"] = app_token(os.environ["APP_PRIVATE_PEM"])["token_type"]

summary["other_key"] = refused(lambda: app_token(os.environ["OTHER_PRIVATE_PEM"]))
summary["old_secret"] = refused(
    lambda: GetToken(DOMAIN, APP, client_secret=APP_SECRET, protocol="http").client_credentials(AUDIENCE)
)

try:
    manager.clients.credentials.delete(APP, cred.id)
    fail("deleting an enabled credential must be refused")
except BadRequestError as e:
    summary["delete_enabled"] = e.status_code

extra = [
    manager.clients.credentials.create(APP, credential_type="public_key", pem=os.environ["APP_PUBLIC_PEM"], kid=f"extra-key-{i:04}")
    for i in range(2)
]
try:
    manager.clients.update(
        APP,
        client_authentication_methods={"private_key_jwt": {"credentials": [{"id": cred.id}] + [{"id": c.id} for c in extra]}},
    )
    fail("a third enabled credential must be refused")
except BadRequestError as e:
    summary["third_credential"] = e.status_code

print(json.dumps(summary))
