"""Schemathesis hooks for contract/run.sh (loaded through SCHEMATHESIS_HOOKS=hooks).

* `no_secret_in_response`, a check: no response body or header value may contain a canary secret,
  raw or JSON-escaped. The secrets come through the environment (never a command line):
    KEYHOLD_CANARY_SECRETS  newline-separated: the demo Auth0 M2M client secret and the instance
                            admin's client secret
* `before_call`: keeps the fuzzing identity alive (see below), with
    KEYHOLD_CONTRACT_PROTECTED_IDENTITY  the instance admin's identity id (whose token the run uses)
    KEYHOLD_CONTRACT_DECOY_IDENTITY      a sacrificial machine identity's id
"""

import json
import os

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
# aimed at the admin's identity is aimed at a sacrificial identity instead (see run.sh).
_PROTECTED = os.environ.get("KEYHOLD_CONTRACT_PROTECTED_IDENTITY", "")
_DECOY = os.environ.get("KEYHOLD_CONTRACT_DECOY_IDENTITY", "")


@schemathesis.hook
def before_call(context, case, kwargs):
    params = case.path_parameters
    if _PROTECTED and params and params.get("identityId") == _PROTECTED:
        params["identityId"] = _DECOY
