"""Schemathesis hooks for contract/run.sh (loaded through SCHEMATHESIS_HOOKS=hooks).

* `no_secret_in_response`, a check: no response body or header value may contain a canary secret,
  raw or JSON-escaped. The secrets come through the environment (never a command line):
    KEYHOLD_CANARY_SECRETS  newline-separated: the demo Auth0 M2M client secret, the instance
                            admin's and the caller's client secrets, the login fixtures' secret
                            and password
* `before_call`: keeps the fuzzing identity alive (see below), and fills in, for positive cases,
  what openapi.yaml cannot state (see "positive data acceptance" below), with
    KEYHOLD_CONTRACT_PROTECTED_IDENTITY  identity ids no request may change: the instance admin's
                                         (whose token the run uses) and the login fixtures'
    KEYHOLD_CONTRACT_DECOY_IDENTITY      a sacrificial machine identity's id (a project member)
    KEYHOLD_CONTRACT_DOOMED_IDENTITY     the identity deleted in the sacrificial one's place
    KEYHOLD_CONTRACT_PROJECT             the demo project's id
    KEYHOLD_CONTRACT_FIXTURES            `param=fixture:decoy` pairs (below)
    KEYHOLD_CONTRACT_DELETABLE_SECRET    the project secret a deletion of the fixture secret takes
  and makes the logins and the token revocation answer 2xx now and then (see "logins and
  revocation" below), with
    KEYHOLD_CONTRACT_API                 keyhold's base URL (for a fresh token per revocation)
    KEYHOLD_CONTRACT_TOKEN               the fuzzing token, which no revocation may carry
    KEYHOLD_CONTRACT_LOGIN_ID, KEYHOLD_CONTRACT_LOGIN_SECRET      the machine login fixture
    KEYHOLD_CONTRACT_USER_EMAIL, KEYHOLD_CONTRACT_USER_PASSWORD   the user login fixture
* `after_call`: appends "METHOD PATH" of every 2xx answer to KEYHOLD_CONTRACT_COVERAGE.
* `filter_failure`: drops `positive_data_acceptance` failures that are Auth0's answer, not ours.
"""

import itertools
import json
import os
import re
import time
import uuid

import requests
import schemathesis

_SECRETS = [s.strip() for s in os.environ.get("KEYHOLD_CANARY_SECRETS", "").splitlines() if s.strip()]
if not _SECRETS:
    raise RuntimeError("KEYHOLD_CANARY_SECRETS is empty: the no_secret_in_response canary would check nothing")
# A secret is compared as bytes, both as sent and as it would look inside a JSON string.
_NEEDLES = [
    (number, form.encode())
    for number, secret in enumerate(_SECRETS, start=1)
    for form in {secret, json.dumps(secret)[1:-1]}
]


@schemathesis.check
def no_secret_in_response(ctx, response, case):
    """Fail when a response body or header carries one of the canary secrets."""
    body = response.content or b""
    headers = b"\n".join(
        f"{name}: {value}".encode("utf-8", "replace")
        for name, values in response.headers.items()
        for value in (values if isinstance(values, list) else [values])
    )
    for number, needle in _NEEDLES:
        if needle in body or needle in headers:
            # Never print the secret itself: name which canary matched.
            raise AssertionError(
                f"response to {case.method} {case.formatted_path} contains canary secret #{number}"
            )
    return None


# The fuzzing token belongs to the instance admin. Rotating that identity's secret revokes its
# tokens, and disabling or deleting it (possible once the fuzzer has promoted another identity to
# admin) ends the run's access: every later request would answer 401 and test nothing. So a request
# aimed at the admin's identity is aimed at a sacrificial identity instead (see run.sh); so is one
# aimed at the login fixtures, whose credentials must keep working for the whole run.
_PROTECTED = set(os.environ.get("KEYHOLD_CONTRACT_PROTECTED_IDENTITY", "").split())
_DECOY = os.environ.get("KEYHOLD_CONTRACT_DECOY_IDENTITY", "")
_DOOMED = os.environ.get("KEYHOLD_CONTRACT_DOOMED_IDENTITY", "")


# The fixtures the dictionaries offer (a connection, a rotation, a project secret) are found by id
# and by name throughout the run only if nothing renames or deletes them: a PATCH or DELETE aimed
# at one goes to its decoy instead (`name=fixture:decoy` pairs), so those operations still run
# on a real resource and the reads keep theirs. With a third id (`name=fixture:decoy:doomed`) a
# DELETE goes to that one, so the decoy is still there for the changes after it.
_FIXTURES = {}
for _pair in os.environ.get("KEYHOLD_CONTRACT_FIXTURES", "").split():
    _param, _, _ids = _pair.partition("=")
    _fixture, _, _rest = _ids.partition(":")
    _decoy, _, _doomed = _rest.partition(":")
    _FIXTURES.setdefault(_param, {})[_fixture] = (_decoy, _doomed)


@schemathesis.hook
def before_call(context, case, kwargs):
    params = case.path_parameters
    if _PROTECTED and params and params.get("identityId") in _PROTECTED:
        params["identityId"] = _DECOY
    # Deleting the sacrificial identity would take its membership along; another goes instead.
    if (
        _DOOMED
        and params
        and case.method.upper() == "DELETE"
        and case.operation.path == "/api/v1/identities/{identityId}"
        and params.get("identityId") == _DECOY
    ):
        params["identityId"] = _DOOMED
    if params and case.method.upper() in ("PATCH", "DELETE"):
        for name, decoys in _FIXTURES.items():
            if params.get(name) in decoys:
                decoy, doomed = decoys[params[name]]
                params[name] = doomed if doomed and case.method.upper() == "DELETE" else decoy
    keep_the_fuzzing_token(case)
    fill_what_the_document_cannot_say(case)
    log_in_as_a_fixture_now_and_then(case)


# ------------------------------------------------------------------ logins and revocation
# Every operation should answer 2xx at least once (issue 22), the logins and the revocation too.
#   * A positive login case in three logs in with a login fixture's credentials (run.sh: a machine
#     identity and a user in no project), sent as from a client of its own (`X-Forwarded-For`
#     through the proxy keyhold trusts in this run): the generated failures from 127.0.0.1 fill
#     that address's throttle budget, and the fixture's logins must not depend on it.
#   * A revocation made with the fuzzing token is made with a fresh token of the login fixture
#     instead (and, when positive and naming a token, names that one), so the fuzzing token lives
#     through the run. A request without it, or with another token, is sent as generated. If no
#     fresh token can be had, the request carries one that answers 401: never the fuzzing token.
_API = os.environ.get("KEYHOLD_CONTRACT_API", "")
_FUZZING_TOKEN = os.environ.get("KEYHOLD_CONTRACT_TOKEN", "")
_MACHINE = {
    "clientId": os.environ.get("KEYHOLD_CONTRACT_LOGIN_ID", ""),
    "clientSecret": os.environ.get("KEYHOLD_CONTRACT_LOGIN_SECRET", ""),
}
_USER = {
    "email": os.environ.get("KEYHOLD_CONTRACT_USER_EMAIL", ""),
    "password": os.environ.get("KEYHOLD_CONTRACT_USER_PASSWORD", ""),
}
# A documentation address (RFC 5737): the fixtures' client, as the trusted proxy reports it.
_FIXTURE_CLIENT_ADDRESS = "192.0.2.10"
_LOGINS = {"/api/v1/auth/universal-auth/login": _MACHINE, "/api/v1/auth/login": _USER}
_login_cases = itertools.count()


def log_in_as_a_fixture_now_and_then(case):
    credentials = _LOGINS.get(case.operation.path)
    if not credentials or not all(credentials.values()) or not _positive(case):
        return
    if not isinstance(case.body, dict) or next(_login_cases) % 3:
        return
    case.body.clear()
    case.body.update(credentials)
    case.headers = {**(case.headers or {}), "X-Forwarded-For": _FIXTURE_CLIENT_ADDRESS}


def _fresh_token():
    """A new access token of the machine login fixture, or None."""
    for _ in range(3):
        try:
            answer = requests.post(
                f"{_API}/api/v1/auth/universal-auth/login",
                json=_MACHINE,
                headers={"X-Forwarded-For": _FIXTURE_CLIENT_ADDRESS},
                timeout=30,
            )
        except requests.RequestException:
            return None
        if answer.status_code == 429:
            time.sleep(1)
            continue
        if answer.status_code != 200:
            return None
        return answer.json().get("accessToken")
    return None


def keep_the_fuzzing_token(case):
    if case.operation.path != "/api/v1/auth/token/revoke" or not _FUZZING_TOKEN:
        return
    headers = case.headers or {}
    name = next((n for n in headers if n.lower() == "authorization"), None)
    if name is None or headers[name] != f"Bearer {_FUZZING_TOKEN}":
        return
    token = _fresh_token() if _API and all(_MACHINE.values()) else None
    headers[name] = f"Bearer {token or 'kh_contract-no-fresh-token'}"
    if token and _positive(case) and isinstance(case.body, dict) and "accessToken" in case.body:
        case.body["accessToken"] = token


# Which operations ever answered 2xx (issue 22: each should): one "METHOD PATH" line per 2xx
# answer, appended to the file named by KEYHOLD_CONTRACT_COVERAGE; run.sh lists those never seen.
_COVERAGE = os.environ.get("KEYHOLD_CONTRACT_COVERAGE", "")


@schemathesis.hook
def after_call(context, case, response):
    if _COVERAGE and 200 <= response.status_code < 300:
        with open(_COVERAGE, "a", encoding="utf-8") as out:
            out.write(f"{case.method.upper()} {case.operation.path}\n")


# ------------------------------------------------------------------ positive data acceptance
# `positive_data_acceptance` sends requests the document calls valid and fails on any refusal
# outside the accepted statuses. openapi.yaml states every rule of a request that OpenAPI can
# state. What it cannot is listed here, once, and applied to positive cases only (negative cases
# keep probing the server with whatever the generator made):
#   * `cursor` is an opaque value only the server issues: no schema says which strings are
#     cursors, so a positive case asks for the first page; an `Idempotency-Key` must be new (a
#     reused one with another body answers 400), so a positive case brings its own;
#   * Infisical's routes name the project by `workspaceId`, `projectId` or a slug: OpenAPI cannot
#     say "one of these query parameters", so a positive case that names none names the project;
#   * a folder is deleted by id, or by name together with its environment, and a secret's name
#     sent again in the query must be the path's: dependencies between a path parameter and
#     another field cannot be stated either.
# And one kind of refusal is not the document's to promise: Auth0's answer about its tenant (no
# such tenant, a client set up for another authentication method, its password policy), given as
# the problem types `auth0-rejected` and `auth0-refused` (see openapi.yaml's problem types).
_PROJECT = os.environ.get("KEYHOLD_CONTRACT_PROJECT", "")
_DELETABLE_SECRET = os.environ.get("KEYHOLD_CONTRACT_DELETABLE_SECRET", "")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NAMED_BY_PROJECT = ("/api/v1/folders", "/api/v2/folders", "/api/v3/secrets/raw")


def _positive(case):
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def _names_project(fields):
    return bool(fields) and any(
        fields.get(name) not in (None, "") for name in ("workspaceId", "projectId")
    )


def fill_what_the_document_cannot_say(case):
    """The before_call part for positive cases (see above)."""
    if not _positive(case):
        return
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)
    # An Idempotency-Key promises a request the client has not sent before; which keys this
    # server has seen is its state, so a positive case brings a key of its own.
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = f"contract-{uuid.uuid4()}"
    path = case.operation.path
    if _PROJECT and path.startswith(_NAMED_BY_PROJECT) and case.method.upper() in ("GET", "POST", "PATCH", "DELETE"):
        body = case.body if isinstance(case.body, dict) else None
        if not _names_project(case.query) and not _names_project(body):
            if case.method.upper() == "GET":
                case.query = {**(case.query or {}), "workspaceId": _PROJECT}
            elif body is not None:
                body["workspaceId"] = _PROJECT
    body = case.body if isinstance(case.body, dict) else None
    # Rules across two fields of one request, which a schema cannot relate: a time range's ends
    # in order, the secrets a rotation writes named apart, a stream's header names apart, a key's
# overlap shorter than the
    # rotation interval (both in the body; a PATCH naming only one is judged against the stored
    # other, which the generator cannot know).
    if path == "/api/v1/audit-logs" and isinstance(case.query, dict):
        since, until = case.query.get("since"), case.query.get("until")
        if isinstance(since, str) and isinstance(until, str) and until < since:
            case.query["since"], case.query["until"] = until, since
    if body is not None and path.startswith("/api/v2/secret-rotations/"):
        mapping = body.get("secretsMapping")
        if isinstance(mapping, dict):
            seen = set()
            for field, name in list(mapping.items()):
                if isinstance(name, str):
                    while name in seen:
                        name = f"{name}_{len(seen)}"[:256]
                    mapping[field] = name
                    seen.add(name)
        parameters = body.get("parameters")
        interval = body.get("rotationInterval")
        if (
            path.startswith("/api/v2/secret-rotations/auth0-private-key-jwt")
            and isinstance(parameters, dict)
            and isinstance(interval, (int, float))
            and interval >= 1
        ):
            # Absent, the overlap is a day (store::rotations::DEFAULT_OVERLAP_SECONDS).
            overlap = parameters.get("overlapSeconds")
            if overlap is None:
                overlap = 86400
            if isinstance(overlap, (int, float)) and overlap >= interval * 86400:
                parameters["overlapSeconds"] = max(60, int(interval) * 86400 - 1)
    # A membership narrowed to environments names ones the project has: every project has these
    # three; which others exist is the project's state, not the document's.
    if body is not None and "/memberships" in path and isinstance(body.get("environments"), list):
        known = ["dev", "staging", "prod"]
        body["environments"] = known[: min(len(body["environments"]), 3)]
    # A stream's extra headers are named once each, case-insensitively: `uniqueItems` compares
    # whole items (name and value), not one property of them.
    if body is not None and path.startswith("/api/v1/audit-log-streams") and isinstance(body.get("headers"), list):
        seen = set()
        for i, header in enumerate(body["headers"]):
            if isinstance(header, dict) and isinstance(header.get("key"), str):
                key = header["key"]
                if key.strip().lower() in seen:
                    key = f"x-{i}-{key.strip()}"[:64]
                    header["key"] = key
                seen.add(key.strip().lower())
    # A deletion aimed at the fixture secret (or its decoy) deletes a secret of its own, made
    # for that (run.sh), so the decoy stays for the changes; a secret is found only where it was
    # made: the project's `dev` root, shared.
    if (
        path == "/api/v3/secrets/raw/{secretName}"
        and case.method.upper() == "DELETE"
        and body is not None
        and _DELETABLE_SECRET
        and (case.path_parameters or {}).get("secretName")
        in {
            name
            for fixture, others in _FIXTURES.get("secretName", {}).items()
            for name in (fixture, *others)
            if name
        }
    ):
        case.path_parameters["secretName"] = _DELETABLE_SECRET
        for other in ("projectId", "projectSlug", "workspaceSlug"):
            body.pop(other, None)
        body.update(workspaceId=_PROJECT, environment="dev", secretPath="/", type="shared")
    # Infisical's SDKs also send the secret's name in the query; it must be the path's.
    if path == "/api/v3/secrets/raw/{secretName}" and isinstance(case.query, dict) and "secretName" in case.query:
        case.query["secretName"] = (case.path_parameters or {}).get("secretName", case.query["secretName"])
    if path == "/api/v2/folders/{folderId}" and case.method.upper() == "DELETE":
        folder = (case.path_parameters or {}).get("folderId", "")
        if not _UUID.match(str(folder)):
            # By name, the body says where: a project and an environment (every project has `dev`).
            if not isinstance(case.body, dict):
                case.body = {}
            if not _names_project(case.body) and _PROJECT:
                case.body["projectId"] = _PROJECT
            if not case.body.get("environment"):
                case.body["environment"] = "dev"


# Auth0 refused the credentials (no such tenant, a client set up for another method) or the
# request (the tenant's password policy): the tenant's state and settings, not the document's.
_AUTH0_ANSWERS = ("urn:keyhold:problem:auth0-rejected", "urn:keyhold:problem:auth0-refused")


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if getattr(failure, "code", None) != "ST202":
        return True
    try:
        problem = json.loads(response.content or b"{}")
    except ValueError:
        return True
    return not (isinstance(problem, dict) and problem.get("type") in _AUTH0_ANSWERS)
