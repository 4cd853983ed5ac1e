"""Drive the emulator with Auth0's official Python SDK (auth0-python) and fail on any surprise.

The SDK talks to `http://acme.auth0.test/...` through the emulator used as an HTTP proxy, so the
tenant domain reaches it in the Host header exactly as with real Auth0 (only the scheme differs).
Usage: EMULATOR=http://127.0.0.1:PORT python check_python.py
"""

import os
import sys

import httpx
from auth0.authentication import GetToken
from auth0.authentication.exceptions import Auth0Error
from auth0.management.client import Auth0
from auth0.management.errors import ForbiddenError, NotFoundError, ConflictError, BadRequestError, UnauthorizedError

EMULATOR = os.environ["EMULATOR"]
DOMAIN = "acme.auth0.test"
CLIENT_ID = "sdk-m2m"
SECRET = "sdk-initial-secret"
AUDIENCE = f"https://{DOMAIN}/api/v2/"

os.environ["HTTP_PROXY"] = EMULATOR  # requests (authentication API) honours it
os.environ["NO_PROXY"] = ""
checks = 0


def check(cond, what):
    global checks
    if not cond:
        print(f"FAIL: {what}")
        sys.exit(1)
    checks += 1


def token(secret=SECRET, client_id=CLIENT_ID):
    return GetToken(DOMAIN, client_id, client_secret=secret, protocol="http").client_credentials(AUDIENCE)


def mgmt(access_token):
    client = httpx.Client(proxy=EMULATOR, timeout=10)
    return Auth0(base_url=f"http://{DOMAIN}/api/v2", token=access_token, httpx_client=client, max_retries=0)


# Authentication API: success and Auth0's error shape as the SDK parses it.
tok = token()
check(tok["token_type"] == "Bearer" and tok["expires_in"] == 86400, "token response shape")
try:
    token(secret="wrong")
    check(False, "wrong secret must fail")
except Auth0Error as e:
    check(e.status_code == 401 and e.error_code == "access_denied" and e.message == "Unauthorized", f"401 parsed: {e}")

api = mgmt(tok["access_token"])

# Clients: paged listing through the SDK's pager (include_totals=true), get, update, rotate.
listed = list(api.clients.list(per_page=2))
ids = [c.client_id for c in listed]
check(CLIENT_ID in ids and len(ids) >= 3, f"pager walked all pages: {ids}")
check(any(c.name == "All Applications" for c in listed), "global client present")
client = api.clients.get(CLIENT_ID)
check(client.client_secret == SECRET and client.app_type == "non_interactive", "get client")
updated = api.clients.update(CLIENT_ID, client_secret="S" * 48)
check(updated.client_secret == "S" * 48, "PATCH client_secret")
rotated = api.clients.rotate_secret(CLIENT_ID)
check(len(rotated.client_secret) == 64, "rotate-secret returns the new secret")
try:
    token(secret="S" * 48)
    check(False, "old secret must die")
except Auth0Error as e:
    check(e.status_code == 401, "old secret refused")
api = mgmt(token(secret=rotated.client_secret)["access_token"])
try:
    api.clients.get("ghost")
    check(False, "unknown client must 404")
except NotFoundError as e:
    check(e.status_code == 404 and e.body["errorCode"] == "inexistent_client", f"404 body {e.body}")

# Resource servers and users.
rs = api.resource_servers.create(identifier="https://orders.example", name="Orders",
                                 scopes=[{"value": "read:orders", "description": "Read"}])
check(rs.identifier == "https://orders.example", "resource server created")
try:
    api.resource_servers.create(identifier="https://orders.example")
    check(False, "duplicate identifier must 409")
except ConflictError:
    check(True, "409")
user = api.users.create(connection="Username-Password-Authentication", email="sdk@example.com",
                        password="Sdk-Passw0rd!", app_metadata={"plan": "free"})
check(user.user_id.startswith("auth0|") and user.email == "sdk@example.com", "user created")
got = api.users.get(user.user_id)
check(got.app_metadata == {"plan": "free"}, "user read back")
patched = api.users.update(user.user_id, app_metadata={"plan": "pro"}, name="SDK User")
check(patched.name == "SDK User" and patched.app_metadata["plan"] == "pro", "user patched")
try:
    api.users.create(connection="Username-Password-Authentication", email="sdk@example.com", password="Sdk-Passw0rd!")
    check(False, "duplicate user must 409")
except ConflictError as e:
    check(e.body["message"] == "The user already exists.", "409 message")
try:
    api.users.create(connection="Username-Password-Authentication", email="weak@example.com", password="weak")
    check(False, "weak password must 400")
except BadRequestError as e:
    check("PasswordStrengthError" in e.body["message"], "weak password message")

# Scope and token errors as the SDK raises them.
reader = mgmt(GetToken(DOMAIN, "sdk-reader", client_secret="reader-secret", protocol="http")
              .client_credentials(AUDIENCE)["access_token"])
try:
    reader.clients.rotate_secret(CLIENT_ID)
    check(False, "missing scope must 403")
except ForbiddenError as e:
    check(e.body["errorCode"] == "insufficient_scope", f"403 body {e.body}")
try:
    mgmt("not-a-token").clients.get(CLIENT_ID)
    check(False, "bad token must 401")
except UnauthorizedError as e:
    check(e.body["message"] == "Invalid token", f"401 body {e.body}")
summary = reader.clients.get(CLIENT_ID)
check(summary.client_secret is None and summary.name, "read:client_summary hides the secret")

print(f"python SDK: {checks} checks passed")
