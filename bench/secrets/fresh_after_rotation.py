"""No stale read after a rotation (issue 16, `bench/secrets`): an app reads the client secret that a
rotation maps into project secrets with Infisical's official Python SDK (`infisicalsdk` from PyPI,
unmodified, no cache), right after each rotation finishes. `bench/secrets/run.sh` runs it.

For ROTATIONS rounds: read the mapped client secret through the SDK (its version and value before),
press "rotate now" through Keyhold's API as a project member, poll the rotation until that attempt
has succeeded (bounded), then at once read the secret again through the SDK. The read is stale
unless it has the next version and another value than before. The value read then gets a token from
Auth0 (the emulator's /oauth/token, the tenant named by `Host`), and the value from before is tried
too (Auth0 should refuse it: the rotation replaced it).

Configuration from the environment: VAULT_URL, PROJECT_ID, ROTATION_ID, READER_CREDENTIALS (a
JSON file with the SDK identity's clientId and clientSecret; a viewer is enough),
ROTATOR_CREDENTIALS (the same for a member, who may rotate), ENVIRONMENT, SECRET_PATH,
CLIENT_ID_SECRET and CLIENT_SECRET_SECRET (the mapped names), AUTH0_CLIENT_ID (what the client id
secret must hold), AUTH0_DOMAIN, AUTH0_AUDIENCE, AUTH0_TOKEN_URL; ROTATIONS (20), WAIT_S (60, per
rotation), POLL_MS (20). Progress goes to stderr; stdout is one JSON line. Exits non-zero when a
rotation fails or does not finish in time, or a request fails; stale reads and refused tokens are
counted, not fatal, so that the report can show them.
"""

import importlib.metadata
import json
import os
import sys
import time

import requests
from infisical_sdk import InfisicalSDKClient

VAULT_URL = os.environ["VAULT_URL"].rstrip("/")
PROJECT_ID = os.environ["PROJECT_ID"]
ROTATION_ID = os.environ["ROTATION_ID"]
ENVIRONMENT = os.environ["ENVIRONMENT"]
SECRET_PATH = os.environ["SECRET_PATH"]
CLIENT_ID_SECRET = os.environ["CLIENT_ID_SECRET"]
CLIENT_SECRET_SECRET = os.environ["CLIENT_SECRET_SECRET"]
ROTATIONS = int(os.environ.get("ROTATIONS", "20"))
WAIT_S = float(os.environ.get("WAIT_S", "60"))
POLL_S = float(os.environ.get("POLL_MS", "20")) / 1000
if ROTATIONS < 1:
    sys.exit("ROTATIONS must be at least 1")
ROTATION_URL = f"{VAULT_URL}/api/v2/secret-rotations/auth0-client-secret/{ROTATION_ID}"


def log(message):
    print(
        f"[fresh-after-rotation {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True
    )


def credentials(path):
    with open(path, encoding="utf-8") as f:
        c = json.load(f)
    return c["clientId"], c["clientSecret"]


def percentile(values, p):
    """Nearest rank, as bench/measure.sh computes pgbench's."""
    ordered = sorted(values)
    return ordered[int((len(ordered) - 1) * p)]


# The app: Infisical's SDK as README.md shows it, without its cache.
sdk = InfisicalSDKClient(host=VAULT_URL, cache_ttl=None)
sdk.auth.universal_auth.login(*credentials(os.environ["READER_CREDENTIALS"]))


def read(name):
    return sdk.secrets.get_secret_by_name(
        secret_name=name,
        project_id=PROJECT_ID,
        environment_slug=ENVIRONMENT,
        secret_path=SECRET_PATH,
    )


def auth0_token(client_id, client_secret):
    """True when Auth0 issues a token for this client id and secret."""
    domain = os.environ["AUTH0_DOMAIN"]
    answer = requests.post(
        os.environ["AUTH0_TOKEN_URL"],
        headers={"Host": domain},
        json={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "audience": os.environ["AUTH0_AUDIENCE"],
        },
        timeout=10,
    )
    return answer.status_code == 200 and bool(answer.json().get("access_token"))


# The operator: Keyhold's API as a project member.
operator = requests.Session()
rotator_id, rotator_secret = credentials(os.environ["ROTATOR_CREDENTIALS"])
login = operator.post(
    f"{VAULT_URL}/api/v1/auth/universal-auth/login",
    json={"clientId": rotator_id, "clientSecret": rotator_secret},
    timeout=10,
)
login.raise_for_status()
operator.headers["Authorization"] = f"Bearer {login.json()['accessToken']}"


def rotation():
    answer = operator.get(ROTATION_URL, timeout=10)
    answer.raise_for_status()
    return answer.json()["secretRotation"]


def wait_finished(before):
    """Polls the rotation until an attempt newer than `before` (the rotation as it was) has
    succeeded; exits if it failed or took longer than WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while True:
        now = rotation()
        if not now["isRotating"]:
            if (
                now["rotationStatus"] == "success"
                and now["lastRotatedAt"] != before["lastRotatedAt"]
            ):
                return now
            if (
                now["rotationStatus"] == "failed"
                and now["lastRotationAttemptedAt"] != before["lastRotationAttemptedAt"]
            ):
                sys.exit(f"the rotation failed: {now['lastRotationMessage']}")
        if time.monotonic() > deadline:
            sys.exit(f"no rotation finished within {WAIT_S:.0f} s: {json.dumps(now)}")
        time.sleep(POLL_S)


# The rotation made with the mapping ran once at creation: the secrets exist from then on.
wait_finished({"lastRotatedAt": None, "lastRotationAttemptedAt": None})
client_id = read(CLIENT_ID_SECRET).secretValue
if client_id != os.environ["AUTH0_CLIENT_ID"]:
    sys.exit(f"{CLIENT_ID_SECRET} holds {client_id!r}, not the rotated application's client id")

stale, refused, old_accepted = 0, 0, 0
finish_to_answer_ms, rotate_to_finish_ms, problems = [], [], []
for n in range(1, ROTATIONS + 1):
    before_secret = read(CLIENT_SECRET_SECRET)
    before = rotation()
    if before["isRotating"]:
        sys.exit(f"round {n}: the rotation is busy before rotate-now: {json.dumps(before)}")
    pressed = time.perf_counter()
    queued = operator.post(f"{ROTATION_URL}/rotate-secrets", timeout=10)
    if queued.status_code != 200:
        sys.exit(f"round {n}: rotate-secrets answered {queued.status_code}: {queued.text[:300]}")
    wait_finished(before)
    seen_finished = time.perf_counter()
    after = read(CLIENT_SECRET_SECRET)  # the app's read, right after the rotation finished
    answered = time.perf_counter()
    rotate_to_finish_ms.append((seen_finished - pressed) * 1000)
    finish_to_answer_ms.append((answered - seen_finished) * 1000)

    if after.version != before_secret.version + 1 or after.secretValue == before_secret.secretValue:
        stale += 1
        problems.append(
            f"round {n}: read version {after.version} (before: {before_secret.version}), "
            f"value {'unchanged' if after.secretValue == before_secret.secretValue else 'changed'}"
        )
    if not auth0_token(client_id, after.secretValue):
        refused += 1
        problems.append(f"round {n}: Auth0 refused the secret read at version {after.version}")
    if auth0_token(client_id, before_secret.secretValue):
        old_accepted += 1
    log(
        f"round {n}/{ROTATIONS}: version {before_secret.version} -> {after.version}, "
        f"finished {rotate_to_finish_ms[-1]:.0f} ms after rotate-now, "
        f"read {finish_to_answer_ms[-1]:.1f} ms later"
    )

for problem in problems:
    log(problem)
print(
    json.dumps(
        {
            "rounds": ROTATIONS,
            "staleReads": stale,
            "tokenFailures": refused,
            "oldSecretAccepted": old_accepted,
            "finishToAnswerMs": {
                "p50": round(percentile(finish_to_answer_ms, 0.5), 1),
                "max": round(max(finish_to_answer_ms), 1),
            },
            "rotateToFinishMs": {
                "p50": round(percentile(rotate_to_finish_ms, 0.5)),
                "max": round(max(rotate_to_finish_ms)),
            },
            "sdk": f"infisicalsdk {importlib.metadata.version('infisicalsdk')}",
            "problems": problems,
        }
    )
)
